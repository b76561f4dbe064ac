//! The node's access key: from the environment, or generated once and kept in
//! `DATA_DIR/credentials` (mode 0600) so `slb call` and `slb status` can sign requests.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{bail, Context, Result};

/// An Alibaba-style access key pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub access_key_secret: String,
}

const FILE: &str = "credentials";

impl Credentials {
    /// `SLB_ACCESS_KEY_ID`/`SLB_ACCESS_KEY_SECRET` when both are set; otherwise the key in
    /// `data_dir/credentials`, created with a fresh random key on first start.
    pub fn load_or_create(data_dir: &Path) -> Result<Self> {
        if let Some(c) = Self::from_env()? {
            return Ok(c);
        }
        let path = data_dir.join(FILE);
        if path.exists() {
            return Self::read(&path);
        }
        let c = Credentials {
            access_key_id: format!("LTAI{}", random_token(20)),
            access_key_secret: random_token(30),
        };
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        writeln!(
            f,
            "access_key_id = {}\naccess_key_secret = {}",
            c.access_key_id, c.access_key_secret
        )?;
        f.sync_all()?;
        Ok(c)
    }

    /// Both environment variables, or neither.
    pub fn from_env() -> Result<Option<Self>> {
        match (
            std::env::var("SLB_ACCESS_KEY_ID")
                .ok()
                .filter(|v| !v.is_empty()),
            std::env::var("SLB_ACCESS_KEY_SECRET")
                .ok()
                .filter(|v| !v.is_empty()),
        ) {
            (Some(id), Some(secret)) => Ok(Some(Credentials {
                access_key_id: id,
                access_key_secret: secret,
            })),
            (None, None) => Ok(None),
            _ => bail!("set both SLB_ACCESS_KEY_ID and SLB_ACCESS_KEY_SECRET, or neither"),
        }
    }

    /// Reads a credentials file written by [`Credentials::load_or_create`].
    pub fn read(path: &Path) -> Result<Self> {
        let mode = fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "credentials file is readable by others; chmod 600 it");
        }
        let text =
            fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        match slb_api::client::parse_credentials(&text) {
            Some((access_key_id, access_key_secret)) => Ok(Credentials {
                access_key_id,
                access_key_secret,
            }),
            None => bail!(
                "{} lacks access_key_id or access_key_secret",
                path.display()
            ),
        }
    }
}

pub(crate) fn random_token(len: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The node secret that signs insert-mode sticky cookies: 32 random bytes kept in
/// `data_dir/cookie.key` (0600), so cookies stay valid across restarts.
pub fn cookie_key(data_dir: &Path) -> Result<[u8; 32]> {
    let path = data_dir.join("cookie.key");
    if let Ok(bytes) = fs::read(&path) {
        if let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice()) {
            return Ok(key);
        }
        bail!(
            "{} is not 32 bytes; remove it to generate a new key",
            path.display()
        );
    }
    let key: [u8; 32] = rand::random();
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(&key)?;
    f.sync_all()?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        // The environment may carry a key in CI; this test exercises the file path only.
        let path = dir.path().join(FILE);
        assert!(!path.exists());
        if Credentials::from_env().unwrap().is_some() {
            return;
        }
        let a = Credentials::load_or_create(dir.path()).unwrap();
        let b = Credentials::load_or_create(dir.path()).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
