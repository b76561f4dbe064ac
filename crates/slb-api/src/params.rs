//! The action parameters of one request, with typed accessors that fail with Alibaba's
//! `MissingParameter` / `InvalidParameter` errors.
//!
//! Parameters come from the URL query and an `application/x-www-form-urlencoded` body
//! (the body wins on a clash). For V1 requests the common signing parameters (`Action`,
//! `Version`, `AccessKeyId`, `Signature*`, `Timestamp`, `Format`, ...) are removed first.
//! Names are case-sensitive, as Alibaba's are. Beware one SDK quirk: both SDKs send
//! `healthCheckInterval` (lower-case h) for CreateLoadBalancerTCPListener but
//! `HealthCheckInterval` for SetLoadBalancerTCPListenerAttribute; see [`Params::first_of`].
//!
//! An empty value counts as absent, since the SDKs send unset optional values as `""`.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use slb_model::params::ParamSource;

use crate::error::ApiError;

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

    /// A non-empty value, or `None`.
    pub fn optional_str(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// The first non-empty value among `names`, for parameters the SDKs spell in two ways
    /// (`&["HealthCheckInterval", "healthCheckInterval"]`). Returns the name that matched.
    pub fn first_of<'a>(&'a self, names: &[&'a str]) -> Option<(&'a str, &'a str)> {
        names
            .iter()
            .find_map(|n| self.optional_str(n).map(|v| (*n, v)))
    }

    /// A non-empty value, or `MissingParameter`.
    pub fn required_str(&self, name: &str) -> Result<&str, ApiError> {
        self.optional_str(name)
            .ok_or_else(|| ApiError::missing_parameter(name))
    }

    /// An optional string of at most `max` characters.
    pub fn optional_text(&self, name: &str, max: usize) -> Result<Option<&str>, ApiError> {
        match self.optional_str(name) {
            Some(v) if v.chars().count() > max => Err(ApiError::invalid_parameter(
                name,
                format!("the value must be at most {max} characters long"),
            )),
            v => Ok(v),
        }
    }

    /// An optional integer within `range`.
    pub fn optional_int_in<T>(
        &self,
        name: &str,
        range: RangeInclusive<T>,
    ) -> Result<Option<T>, ApiError>
    where
        T: FromStr + PartialOrd + Display + Copy,
    {
        let Some(raw) = self.optional_str(name) else {
            return Ok(None);
        };
        let v: T = raw.trim().parse().map_err(|_| {
            ApiError::invalid_parameter(name, format!("\"{raw}\" is not an integer"))
        })?;
        if !range.contains(&v) {
            return Err(ApiError::invalid_parameter(
                name,
                format!(
                    "{v} is out of the range {} to {}",
                    range.start(),
                    range.end()
                ),
            ));
        }
        Ok(Some(v))
    }

    /// An optional `u32` within `range`, e.g. `optional_u32_in("HealthCheckInterval", 1..=50)`.
    pub fn optional_u32_in(
        &self,
        name: &str,
        range: RangeInclusive<u32>,
    ) -> Result<Option<u32>, ApiError> {
        self.optional_int_in(name, range)
    }

    /// A required `u32` within `range` (e.g. `ListenerPort`, 1 to 65535).
    pub fn required_u32_in(&self, name: &str, range: RangeInclusive<u32>) -> Result<u32, ApiError> {
        self.optional_u32_in(name, range)?
            .ok_or_else(|| ApiError::missing_parameter(name))
    }

    /// An optional `i64` within `range` (e.g. `Bandwidth`, where -1 means unlimited).
    pub fn optional_i64_in(
        &self,
        name: &str,
        range: RangeInclusive<i64>,
    ) -> Result<Option<i64>, ApiError> {
        self.optional_int_in(name, range)
    }

    /// An optional value that must be one of `allowed` (exact, case-sensitive).
    pub fn optional_enum<'a>(
        &'a self,
        name: &str,
        allowed: &[&str],
    ) -> Result<Option<&'a str>, ApiError> {
        match self.optional_str(name) {
            None => Ok(None),
            Some(v) if allowed.contains(&v) => Ok(Some(v)),
            Some(v) => Err(ApiError::invalid_parameter(
                name,
                format!("\"{v}\" is not one of {}", allowed.join(", ")),
            )),
        }
    }

    /// An optional `on`/`off` switch as a bool.
    pub fn on_off(&self, name: &str) -> Result<Option<bool>, ApiError> {
        Ok(self.optional_enum(name, &["on", "off"])?.map(|v| v == "on"))
    }

    /// An optional `true`/`false` (how the SDKs send Boolean parameters).
    pub fn optional_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.optional_str(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(ApiError::invalid_parameter(
                name,
                format!("\"{v}\" is not true or false"),
            )),
        }
    }

    /// A parameter carrying a JSON array as a string (`BackendServers`,
    /// `NewBackendServers`, `Tags`), parsed into `T` items.
    pub fn json_list<T: DeserializeOwned>(&self, name: &str) -> Result<Option<Vec<T>>, ApiError> {
        let Some(raw) = self.optional_str(name) else {
            return Ok(None);
        };
        serde_json::from_str(raw)
            .map(Some)
            .map_err(|e| ApiError::invalid_parameter(name, format!("not a valid JSON array: {e}")))
    }

    /// A required JSON array parameter.
    pub fn required_json_list<T: DeserializeOwned>(&self, name: &str) -> Result<Vec<T>, ApiError> {
        self.json_list(name)?
            .ok_or_else(|| ApiError::missing_parameter(name))
    }

    /// A repeated scalar `Name.1`, `Name.2`, ... in index order (e.g. `LoadBalancerId.N` of
    /// DescribeLoadBalancerListeners). Empty values are skipped.
    pub fn repeated(&self, name: &str) -> Result<Vec<&str>, ApiError> {
        let prefix = format!("{name}.");
        let mut items = Vec::new();
        for (k, v) in self.map.range(prefix.clone()..) {
            let Some(rest) = k.strip_prefix(&prefix) else {
                break;
            };
            if rest.contains('.') || v.is_empty() {
                continue;
            }
            items.push((index(name, k, rest)?, v.as_str()));
        }
        items.sort_by_key(|(i, _)| *i);
        Ok(items.into_iter().map(|(_, v)| v).collect())
    }

    /// A repeated object `Name.N.Field` (e.g. `Tag.1.Key`, `Tag.1.Value`), one map of
    /// fields per index, in index order.
    pub fn repeated_objects(&self, name: &str) -> Result<Vec<BTreeMap<String, String>>, ApiError> {
        let prefix = format!("{name}.");
        let mut items: BTreeMap<u32, BTreeMap<String, String>> = BTreeMap::new();
        for (k, v) in self.map.range(prefix.clone()..) {
            let Some(rest) = k.strip_prefix(&prefix) else {
                break;
            };
            let Some((n, field)) = rest.split_once('.') else {
                continue;
            };
            items
                .entry(index(name, k, n)?)
                .or_default()
                .insert(field.to_string(), v.clone());
        }
        Ok(items.into_values().collect())
    }
}

/// `N` of `Name.N...`: a positive integer.
fn index(name: &str, key: &str, n: &str) -> Result<u32, ApiError> {
    n.parse::<u32>().ok().filter(|i| *i >= 1).ok_or_else(|| {
        ApiError::invalid_parameter(
            key,
            format!("the index of repeated parameter \"{name}\" must be a positive integer"),
        )
    })
}

impl ParamSource for Params {
    fn get(&self, name: &str) -> Option<&str> {
        Params::get(self, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn scalars() {
        let m = p(&[
            ("A", "5"),
            ("B", "99"),
            ("C", "x"),
            ("E", ""),
            ("S", "on"),
            ("T", "true"),
            ("Bw", "-1"),
        ]);
        assert_eq!(m.optional_u32_in("A", 1..=50).unwrap(), Some(5));
        assert_eq!(
            m.optional_u32_in("B", 1..=50).unwrap_err().code,
            "InvalidParameter"
        );
        assert_eq!(
            m.optional_u32_in("C", 1..=50).unwrap_err().code,
            "InvalidParameter"
        );
        assert_eq!(m.optional_u32_in("D", 1..=50).unwrap(), None);
        assert_eq!(m.optional_i64_in("Bw", -1..=5120).unwrap(), Some(-1));
        assert_eq!(
            m.required_u32_in("D", 1..=65535).unwrap_err().code,
            "MissingParameter"
        );
        let e = m.required_str("E").unwrap_err();
        assert_eq!(e.code, "MissingParameter");
        assert!(e.message.contains("\"E\""));
        assert_eq!(m.on_off("S").unwrap(), Some(true));
        assert_eq!(m.on_off("A").unwrap_err().code, "InvalidParameter");
        assert_eq!(m.optional_bool("T").unwrap(), Some(true));
        assert_eq!(
            m.optional_enum("S", &["wrr", "wlc"]).unwrap_err().code,
            "InvalidParameter"
        );
        assert_eq!(
            m.optional_text("S", 1).unwrap_err().code,
            "InvalidParameter"
        );
        assert_eq!(m.first_of(&["X", "A"]), Some(("A", "5")));
    }

    #[test]
    fn lists() {
        let m = p(&[
            ("LoadBalancerId.2", "lb-b"),
            ("LoadBalancerId.1", "lb-a"),
            ("LoadBalancerId.10", "lb-j"),
            ("Tag.2.Key", "k2"),
            ("Tag.1.Key", "k1"),
            ("Tag.1.Value", "v1"),
            ("BackendServers", r#"[{"ServerId":"i-1","Weight":"100"}]"#),
            ("Bad", "[{"),
        ]);
        assert_eq!(
            m.repeated("LoadBalancerId").unwrap(),
            vec!["lb-a", "lb-b", "lb-j"]
        );
        let tags = m.repeated_objects("Tag").unwrap();
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[0]["Key"], "k1");
        assert_eq!(tags[0]["Value"], "v1");
        assert_eq!(tags[1]["Key"], "k2");
        let servers: Vec<serde_json::Value> = m.required_json_list("BackendServers").unwrap();
        assert_eq!(servers[0]["ServerId"], "i-1");
        assert_eq!(
            m.json_list::<serde_json::Value>("Bad").unwrap_err().code,
            "InvalidParameter"
        );
        assert_eq!(
            m.required_json_list::<serde_json::Value>("None")
                .unwrap_err()
                .code,
            "MissingParameter"
        );
        let bad = p(&[("Tag.x.Key", "k")]);
        assert_eq!(
            bad.repeated_objects("Tag").unwrap_err().code,
            "InvalidParameter"
        );
    }
}
