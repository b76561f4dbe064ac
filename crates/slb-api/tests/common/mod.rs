//! Test harness: the real actions over a real store, no HTTP transport or signatures.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use slb_api::actions::{Actions, BackendHealth, HealthSource, NodeInfo};
use slb_store::Store;

struct NoHealth;

impl HealthSource for NoHealth {
    fn backend_health(&self, _: &str) -> Vec<BackendHealth> {
        Vec::new()
    }
}

/// Actions over a real store in a temporary directory.
pub struct Env {
    pub actions: Actions,
    dir: std::path::PathBuf,
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh node: region `cn-local`, zone `cn-local-a`, pool 127.9.0.0/24.
pub fn env() -> Env {
    let dir = std::env::temp_dir().join(format!("slb-api-http-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Arc::new(Store::open(&dir.join("slb.redb")).unwrap());
    let node = NodeInfo {
        region: "cn-local".into(),
        zones: vec!["cn-local-a".into()],
        address_pool: "127.9.0.0/24".parse().unwrap(),
    };
    Env {
        actions: Actions::new(store, node, Arc::new(NoHealth)),
        dir,
    }
}

impl Env {
    pub async fn call(
        &self,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<Value, (u16, String)> {
        let p: BTreeMap<String, String> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.actions
            .run(action, &p)
            .await
            .expect("known action")
            .map_err(|e| (e.status, e.code))
    }

    pub async fn ok(&self, action: &str, params: &[(&str, &str)]) -> Value {
        self.call(action, params)
            .await
            .unwrap_or_else(|e| panic!("{action}: {e:?}"))
    }

    pub async fn code(&self, action: &str, params: &[(&str, &str)]) -> String {
        self.call(action, params).await.unwrap_err().1
    }
}

/// A JSON string value.
pub fn s(v: &Value) -> String {
    v.as_str().unwrap().to_string()
}
