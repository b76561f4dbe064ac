//! Access keys besides the node's own: admin or read-only, managed with `slb keys`, kept
//! in `DATA_DIR/access-keys` (mode 0600) and never in the database file. The signature
//! schemes (HMAC) need each secret itself, so the file holds it; keeping it out of
//! `slb.redb` means a copy of the database (a backup, a support bundle) reveals no key.
//! A running node rereads the file when it changes.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use arc_swap::ArcSwap;
use clap::{Args, Subcommand};

const FILE: &str = "access-keys";

/// How often a running node looks for a changed key file.
pub const RELOAD_EVERY: Duration = Duration::from_secs(1);

/// One key of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey {
    pub id: String,
    pub secret: String,
    pub read_only: bool,
}

fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// The file's keys (none when it does not exist). Lines: `ID SECRET admin|readonly`.
pub fn load(dir: &Path) -> Result<Vec<AccessKey>> {
    let p = path(dir);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", p.display())),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.as_slice() {
                [id, secret, role @ ("admin" | "readonly")] => Ok(AccessKey {
                    id: id.to_string(),
                    secret: secret.to_string(),
                    read_only: *role == "readonly",
                }),
                _ => bail!("{}: malformed line {l:?}", p.display()),
            }
        })
        .collect()
}

/// Replaces the file (written aside with mode 0600, synced, then renamed into place).
pub fn save(dir: &Path, keys: &[AccessKey]) -> Result<()> {
    let p = path(dir);
    let tmp = dir.join(format!("{FILE}.tmp"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    writeln!(f, "# OpenSLB access keys: ID SECRET admin|readonly")?;
    for k in keys {
        let role = if k.read_only { "readonly" } else { "admin" };
        writeln!(f, "{} {} {role}", k.id, k.secret)?;
    }
    f.sync_all()?;
    std::fs::rename(&tmp, &p).with_context(|| format!("replacing {}", p.display()))?;
    Ok(())
}

/// The node's credential source: its own key (admin) and the file's keys.
pub struct NodeKeys {
    own: (String, String),
    dir: PathBuf,
    keys: ArcSwap<HashMap<String, (String, bool)>>,
    seen: Mutex<Option<SystemTime>>,
}

impl NodeKeys {
    /// Loads the file next to the node's own key.
    pub fn new(own_id: &str, own_secret: &str, dir: &Path) -> Result<Arc<Self>> {
        let k = Arc::new(Self {
            own: (own_id.to_string(), own_secret.to_string()),
            dir: dir.to_path_buf(),
            keys: ArcSwap::from_pointee(HashMap::new()),
            seen: Mutex::new(None),
        });
        k.reload()?;
        Ok(k)
    }

    /// Rereads the file if its modification time changed; a malformed file keeps the
    /// previous keys (logged).
    pub fn reload(&self) -> Result<()> {
        let mtime = std::fs::metadata(path(&self.dir))
            .and_then(|m| m.modified())
            .ok();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if *seen == mtime && mtime.is_some() {
            return Ok(());
        }
        let keys = load(&self.dir)?;
        self.keys.store(Arc::new(
            keys.into_iter()
                .map(|k| (k.id, (k.secret, k.read_only)))
                .collect(),
        ));
        *seen = mtime;
        Ok(())
    }

    /// Rereads the file every [`RELOAD_EVERY`] for as long as the node runs.
    pub fn watch(self: &Arc<Self>) {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RELOAD_EVERY);
            loop {
                tick.tick().await;
                let Some(k) = me.upgrade() else { return };
                if let Err(e) = k.reload() {
                    tracing::error!(error = %e, "access keys not reloaded; the previous ones stay");
                }
            }
        });
    }
}

impl slb_api::CredentialSource for NodeKeys {
    fn secret_for(&self, access_key_id: &str) -> Option<String> {
        if access_key_id == self.own.0 {
            return Some(self.own.1.clone());
        }
        self.keys.load().get(access_key_id).map(|(s, _)| s.clone())
    }

    fn read_only(&self, access_key_id: &str) -> bool {
        self.keys
            .load()
            .get(access_key_id)
            .is_some_and(|(_, read_only)| *read_only)
    }
}

/// `slb keys`: manage the extra access keys of a node's data directory.
#[derive(Args, Debug, Clone)]
pub struct KeysArgs {
    /// The node's data directory.
    #[arg(long, global = true, default_value_os_t = crate::default_data_dir())]
    pub data_dir: PathBuf,
    #[command(subcommand)]
    pub action: KeysAction,
}

#[derive(Subcommand, Debug, Clone)]
pub enum KeysAction {
    /// Create a key and print its ID and secret (the only time the secret is shown).
    Add {
        /// The key may only call Describe* actions.
        #[arg(long)]
        read_only: bool,
    },
    /// List keys and their roles (never secrets).
    List,
    /// Delete a key; a running node refuses it within a second.
    Delete { id: String },
}

/// Runs `slb keys`.
pub fn run(args: KeysArgs) -> Result<()> {
    std::fs::create_dir_all(&args.data_dir)?;
    let mut keys = load(&args.data_dir)?;
    match args.action {
        KeysAction::Add { read_only } => {
            let k = AccessKey {
                id: format!("LTAI{}", crate::credentials::random_token(20)),
                secret: crate::credentials::random_token(30),
                read_only,
            };
            keys.push(k.clone());
            save(&args.data_dir, &keys)?;
            println!("access_key_id = {}\naccess_key_secret = {}", k.id, k.secret);
        }
        KeysAction::List => {
            for k in &keys {
                println!(
                    "{} {}",
                    k.id,
                    if k.read_only { "readonly" } else { "admin" }
                );
            }
        }
        KeysAction::Delete { id } => {
            let before = keys.len();
            keys.retain(|k| k.id != id);
            if keys.len() == before {
                bail!("no access key {id}");
            }
            save(&args.data_dir, &keys)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use slb_api::CredentialSource;

    #[test]
    fn keys_round_trip_and_roles_apply() {
        let dir = tempfile::tempdir().unwrap();
        let keys = vec![
            AccessKey {
                id: "LTAIa".into(),
                secret: "s1".into(),
                read_only: false,
            },
            AccessKey {
                id: "LTAIr".into(),
                secret: "s2".into(),
                read_only: true,
            },
        ];
        save(dir.path(), &keys).unwrap();
        assert_eq!(load(dir.path()).unwrap(), keys);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let node = NodeKeys::new("LTAInode", "own", dir.path()).unwrap();
        assert_eq!(node.secret_for("LTAInode").as_deref(), Some("own"));
        assert_eq!(node.secret_for("LTAIr").as_deref(), Some("s2"));
        assert!(node.read_only("LTAIr") && !node.read_only("LTAIa") && !node.read_only("LTAInode"));
        std::fs::write(dir.path().join(FILE), "garbage\n").unwrap();
        assert!(load(dir.path()).is_err());
    }
}
