//! The redb-backed store: durable writes, a revision counter, a changelog and a watch channel.

use std::path::Path;
use std::sync::{Arc, Mutex};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use slb_model::{ModelError, State};
use tokio::sync::watch;

use crate::codec;

const RESOURCES: TableDefinition<&str, &[u8]> = TableDefinition::new("resources");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const CHANGELOG: TableDefinition<u64, &[u8]> = TableDefinition::new("changelog");
const REVISION: &str = "revision";
/// Changelog entries kept for watchers that fall behind; older ones are trimmed.
const CHANGELOG_KEEP: u64 = 10_000;

/// A consistent view: the state as of `revision`.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub revision: u64,
    pub state: Arc<State>,
}

/// One changelog entry: which action changed which resource keys at a revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub revision: u64,
    pub action: String,
    pub put: Vec<String>,
    pub deleted: Vec<String>,
}

/// Why a write did not happen. `Model` is the caller's fault; `Database` is ours.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("database error: {0}")]
    Database(String),
}

fn db_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(e.to_string())
}

/// The durable state of one node. Cheap to share behind an `Arc`.
pub struct Store {
    db: Database,
    /// Serialises writers so each change sees the previous one.
    writer: Mutex<()>,
    current: watch::Sender<Snapshot>,
}

impl Store {
    /// Opens (or creates) the database file and loads the state it holds.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(db_err)?;
        let (revision, state) = {
            let txn = db.begin_write().map_err(db_err)?;
            // Create the tables on first start so readers never see them missing.
            txn.open_table(RESOURCES).map_err(db_err)?;
            txn.open_table(CHANGELOG).map_err(db_err)?;
            txn.open_table(META).map_err(db_err)?;
            txn.commit().map_err(db_err)?;
            let read = db.begin_read().map_err(db_err)?;
            let meta = read.open_table(META).map_err(db_err)?;
            let revision = meta
                .get(REVISION)
                .map_err(db_err)?
                .map(|v| v.value())
                .unwrap_or(0);
            let table = read.open_table(RESOURCES).map_err(db_err)?;
            let mut rows = Vec::new();
            for item in table.iter().map_err(db_err)? {
                let (k, v) = item.map_err(db_err)?;
                rows.push((k.value().to_string(), v.value().to_vec()));
            }
            let state = codec::decode(rows.iter().map(|(k, v)| (k.clone(), v.as_slice())))
                .map_err(StoreError::Database)?;
            (revision, state)
        };
        let (current, _) = watch::channel(Snapshot {
            revision,
            state: Arc::new(state),
        });
        Ok(Self {
            db,
            writer: Mutex::new(()),
            current,
        })
    }

    /// The latest committed state.
    pub fn snapshot(&self) -> Snapshot {
        self.current.borrow().clone()
    }

    /// A receiver that sees every newly committed snapshot (latest wins).
    pub fn subscribe(&self) -> watch::Receiver<Snapshot> {
        self.current.subscribe()
    }

    /// Applies `change` to a copy of the state; if it succeeds and changed anything, writes the
    /// changed resources, the next revision and a changelog entry in one durable transaction,
    /// then publishes the new snapshot. Returns `change`'s value once the write is on disk.
    ///
    /// Blocking (a durable commit waits for fsync): call it from `spawn_blocking` in async code.
    pub fn update<T>(
        &self,
        action: &str,
        change: impl FnOnce(&mut State) -> Result<T, ModelError>,
    ) -> Result<T, StoreError> {
        let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let old = self.snapshot();
        let mut next = (*old.state).clone();
        let value = change(&mut next)?;
        let (puts, deletes) = codec::diff(&old.state, &next);
        if puts.is_empty() && deletes.is_empty() {
            return Ok(value);
        }
        let revision = old.revision + 1;
        let entry = Change {
            revision,
            action: action.to_string(),
            put: puts.iter().map(|(k, _)| k.clone()).collect(),
            deleted: deletes.clone(),
        };
        let txn = self.db.begin_write().map_err(db_err)?;
        {
            let mut resources = txn.open_table(RESOURCES).map_err(db_err)?;
            for (k, v) in &puts {
                resources.insert(k.as_str(), v.as_slice()).map_err(db_err)?;
            }
            for k in &deletes {
                resources.remove(k.as_str()).map_err(db_err)?;
            }
            let mut meta = txn.open_table(META).map_err(db_err)?;
            meta.insert(REVISION, revision).map_err(db_err)?;
            let mut log = txn.open_table(CHANGELOG).map_err(db_err)?;
            let bytes = serde_json::to_vec(&entry).map_err(db_err)?;
            log.insert(revision, bytes.as_slice()).map_err(db_err)?;
            if revision > CHANGELOG_KEEP {
                log.remove(revision - CHANGELOG_KEEP).map_err(db_err)?;
            }
        }
        txn.commit().map_err(db_err)?;
        self.current.send_replace(Snapshot {
            revision,
            state: Arc::new(next),
        });
        Ok(value)
    }

    /// Changelog entries after `revision`, oldest first, for watchers catching up.
    pub fn changes_since(&self, revision: u64) -> Result<Vec<Change>, StoreError> {
        let read = self.db.begin_read().map_err(db_err)?;
        let log = read.open_table(CHANGELOG).map_err(db_err)?;
        let mut out = Vec::new();
        for item in log.range(revision + 1..).map_err(db_err)? {
            let (_, v) = item.map_err(db_err)?;
            out.push(serde_json::from_slice(v.value()).map_err(db_err)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slb_model::LoadBalancer;

    fn lb(id: &str, addr: &str) -> LoadBalancer {
        LoadBalancer::new(id, addr.parse().unwrap())
    }

    #[test]
    fn changes_survive_reopen_and_refusals_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        {
            let store = Store::open(&path).unwrap();
            store
                .update("CreateLoadBalancer", |s| {
                    s.create_load_balancer(lb("lb-1", "127.1.0.1"))
                })
                .unwrap();
            store
                .update("CreateLoadBalancer", |s| {
                    s.create_load_balancer(lb("lb-2", "127.1.0.2"))
                })
                .unwrap();
            let err = store
                .update("CreateLoadBalancer", |s| {
                    s.create_load_balancer(lb("lb-3", "127.1.0.2"))
                })
                .unwrap_err();
            assert!(matches!(err, StoreError::Model(_)));
            store
                .update("DeleteLoadBalancer", |s| s.delete_load_balancer("lb-1"))
                .unwrap();
            assert_eq!(store.snapshot().revision, 3);
        }
        let store = Store::open(&path).unwrap();
        let snap = store.snapshot();
        assert_eq!(snap.revision, 3);
        assert_eq!(
            snap.state.load_balancers.keys().collect::<Vec<_>>(),
            ["lb-2"]
        );
        let log = store.changes_since(1).unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log[1].action, "DeleteLoadBalancer");
        assert_eq!(log[1].deleted, ["lb/lb-1"]);
    }

    #[tokio::test]
    async fn watchers_see_new_revisions() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let mut rx = store.subscribe();
        store
            .update("CreateLoadBalancer", |s| {
                s.create_load_balancer(lb("lb-1", "127.1.0.1"))
            })
            .unwrap();
        rx.changed().await.unwrap();
        assert_eq!(rx.borrow().revision, 1);
    }
}
