//! The key server's private keys: a redb file (durable before a Put is answered) and the
//! parsed signing keys in memory.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivateKeyDer;
use rustls::sign::SigningKey;

const KEYS: TableDefinition<&str, &str> = TableDefinition::new("keys");

/// Why a key could not be stored or loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error("key store: {0}")]
    Db(String),
    #[error("key {id}: {reason}")]
    BadKey { id: String, reason: String },
}

fn db_err(e: impl std::fmt::Display) -> KeyStoreError {
    KeyStoreError::Db(e.to_string())
}

/// Keys by ID (the certificate ID the node uses).
pub struct KeyStore {
    db: Database,
    keys: RwLock<HashMap<String, Arc<dyn SigningKey>>>,
}

fn parse(id: &str, pem: &str) -> Result<Arc<dyn SigningKey>, KeyStoreError> {
    let bad = |reason: String| KeyStoreError::BadKey {
        id: id.to_string(),
        reason,
    };
    let der = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| bad(e.to_string()))?;
    any_supported_type(&der).map_err(|e| bad(e.to_string()))
}

impl KeyStore {
    /// Opens (or creates) the key file and loads every key.
    pub fn open(path: &Path) -> Result<KeyStore, KeyStoreError> {
        let db = Database::create(path).map_err(db_err)?;
        let txn = db.begin_write().map_err(db_err)?;
        txn.open_table(KEYS).map_err(db_err)?;
        txn.commit().map_err(db_err)?;
        let mut keys = HashMap::new();
        {
            let txn = db.begin_read().map_err(db_err)?;
            let table = txn.open_table(KEYS).map_err(db_err)?;
            for row in table.iter().map_err(db_err)? {
                let (id, pem) = row.map_err(db_err)?;
                keys.insert(id.value().to_string(), parse(id.value(), pem.value())?);
            }
        }
        Ok(KeyStore {
            db,
            keys: RwLock::new(keys),
        })
    }

    /// Stores `pem` as key `id`, durably, replacing any earlier key of that ID. Blocking
    /// (waits for fsync).
    pub fn put(&self, id: &str, pem: &str) -> Result<(), KeyStoreError> {
        let key = parse(id, pem)?;
        let txn = self.db.begin_write().map_err(db_err)?;
        txn.open_table(KEYS)
            .map_err(db_err)?
            .insert(id, pem)
            .map_err(db_err)?;
        txn.commit().map_err(db_err)?;
        self.keys
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string(), key);
        Ok(())
    }

    /// Forgets key `id`, durably; true if it existed. Blocking.
    pub fn delete(&self, id: &str) -> Result<bool, KeyStoreError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        let existed = txn
            .open_table(KEYS)
            .map_err(db_err)?
            .remove(id)
            .map_err(db_err)?
            .is_some();
        txn.commit().map_err(db_err)?;
        self.keys
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        Ok(existed)
    }

    /// The signing key `id`, if held.
    pub fn get(&self, id: &str) -> Option<Arc<dyn SigningKey>> {
        self.keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True when no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_survive_reopening_and_bad_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.redb");
        let pem = rcgen::KeyPair::generate().unwrap().serialize_pem();
        {
            let s = KeyStore::open(&path).unwrap();
            s.put("cert-a", &pem).unwrap();
            s.put("cert-b", &pem).unwrap();
            assert!(s.delete("cert-b").unwrap());
            assert!(!s.delete("cert-b").unwrap());
            assert!(matches!(
                s.put("cert-c", "not a key"),
                Err(KeyStoreError::BadKey { .. })
            ));
        }
        let s = KeyStore::open(&path).unwrap();
        assert_eq!(s.len(), 1);
        assert!(s.get("cert-a").is_some());
        assert!(s.get("cert-b").is_none());
    }
}
