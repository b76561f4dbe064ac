//! The action parameters of one request. Typed reading and validation live in
//! `slb_model::params`, which reads a [`Params`] through [`ParamSource`].
//!
//! Parameters come from the URL query and an `application/x-www-form-urlencoded` body
//! (the body wins on a clash). For V1 requests the common signing parameters (`Action`,
//! `Version`, `AccessKeyId`, `Signature*`, `Timestamp`, `Format`, ...) are removed first.
//! Names are case-sensitive, as Alibaba's are. Beware one SDK quirk: both SDKs send
//! `healthCheckInterval` (lower-case h) for CreateLoadBalancerTCPListener but
//! `HealthCheckInterval` for SetLoadBalancerTCPListenerAttribute; the model accepts both.
//!
//! An empty value counts as absent, since the SDKs send unset optional values as `""`.

use slb_model::params::ParamSource;
use std::collections::BTreeMap;

/// The V1 common parameters that are not action parameters.
pub const V1_COMMON: &[&str] = &[
    "Action",
    "Version",
    "Format",
    "AccessKeyId",
    "Signature",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "SignatureType",
    "Timestamp",
    "SecurityToken",
];

/// All action parameters of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    map: BTreeMap<String, String>,
}

impl Params {
    /// Parameters from a map.
    pub fn new(map: BTreeMap<String, String>) -> Self {
        Self { map }
    }

    /// Parameters from pairs; a later pair replaces an earlier one of the same name.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            map: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The raw value, `""` included.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// All parameters, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The underlying map.
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.map
    }

    /// Removes a parameter (the server strips the V1 common parameters this way).
    pub fn remove(&mut self, name: &str) -> Option<String> {
        self.map.remove(name)
    }
}

impl ParamSource for Params {
    fn get(&self, name: &str) -> Option<&str> {
        Params::get(self, name)
    }
}
