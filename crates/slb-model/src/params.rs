//! Reading typed values out of Alibaba-style string parameters, with Alibaba's errors.
//!
//! The API, and later a configuration file, hand the model a [`ParamSource`]; the model
//! alone decides what is valid, so every entry point rejects the same things the same way.

use std::ops::RangeInclusive;
use std::str::FromStr;

use crate::ModelError;

/// Anything that can look up a request parameter by its exact Alibaba name.
pub trait ParamSource: Sync {
    fn get(&self, name: &str) -> Option<&str>;
}

impl ParamSource for std::collections::BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<&str> {
        std::collections::BTreeMap::get(self, name).map(String::as_str)
    }
}

impl ParamSource for std::collections::HashMap<String, String> {
    fn get(&self, name: &str) -> Option<&str> {
        std::collections::HashMap::get(self, name).map(String::as_str)
    }
}

/// `MissingParameter` (400) with Alibaba's wording.
pub fn missing(name: &str) -> ModelError {
    ModelError::new(
        400,
        "MissingParameter",
        format!("The input parameter \"{name}\" that is mandatory for processing this request is not supplied."),
    )
}

/// A parameter that must be present and non-empty.
pub fn required<'a>(p: &'a dyn ParamSource, name: &str) -> Result<&'a str, ModelError> {
    match p.get(name) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(missing(name)),
    }
}

/// An optional parameter; an empty string counts as absent, as the SDKs send it for unset values.
pub fn optional<'a>(p: &'a dyn ParamSource, name: &str) -> Option<&'a str> {
    p.get(name).filter(|v| !v.is_empty())
}

/// An optional integer that must lie in `range`.
pub fn int_in<T>(
    p: &dyn ParamSource,
    name: &str,
    range: RangeInclusive<T>,
) -> Result<Option<T>, ModelError>
where
    T: FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let Some(raw) = optional(p, name) else {
        return Ok(None);
    };
    let v: T = raw
        .trim()
        .parse()
        .map_err(|_| ModelError::invalid_parameter(name, format!("\"{raw}\" is not an integer")))?;
    if !range.contains(&v) {
        return Err(ModelError::invalid_parameter(
            name,
            format!("{v} is out of range {}-{}", range.start(), range.end()),
        ));
    }
    Ok(Some(v))
}

/// An optional value that must be one of `allowed`.
pub fn one_of<'a>(
    p: &'a dyn ParamSource,
    name: &str,
    allowed: &[&str],
) -> Result<Option<&'a str>, ModelError> {
    match optional(p, name) {
        None => Ok(None),
        Some(v) if allowed.contains(&v) => Ok(Some(v)),
        Some(v) => Err(ModelError::invalid_parameter(
            name,
            format!("\"{v}\" is not one of {}", allowed.join(", ")),
        )),
    }
}

/// An optional `on`/`off` switch.
pub fn on_off(p: &dyn ParamSource, name: &str) -> Result<Option<bool>, ModelError> {
    Ok(one_of(p, name, &["on", "off"])?.map(|v| v == "on"))
}

/// A string of bounded length (Alibaba names and descriptions).
pub fn text(p: &dyn ParamSource, name: &str, max: usize) -> Result<Option<String>, ModelError> {
    match optional(p, name) {
        None => Ok(None),
        Some(v) if v.chars().count() <= max => Ok(Some(v.to_string())),
        Some(_) => Err(ModelError::invalid_parameter(
            name,
            format!("longer than {max} characters"),
        )),
    }
}

/// A repeat list `NAME.1`, `NAME.2`, … (numbered from 1 with no gaps), at most `max`.
pub fn repeated(p: &dyn ParamSource, name: &str, max: usize) -> Result<Vec<String>, ModelError> {
    let mut out = Vec::new();
    while let Some(v) = optional(p, &format!("{name}.{}", out.len() + 1)) {
        if out.len() == max {
            return Err(ModelError::invalid_parameter(
                name,
                format!("at most {max} values"),
            ));
        }
        out.push(v.to_string());
    }
    Ok(out)
}

/// A Boolean the SDKs send as `true`/`True` (anything else, or absent, is false).
pub fn is_true(p: &dyn ParamSource, name: &str) -> bool {
    optional(p, name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Where a paged listing goes on: the `NextToken` this node issued (an offset), or 0.
pub fn next_token(p: &dyn ParamSource) -> Result<usize, ModelError> {
    match optional(p, "NextToken") {
        None => Ok(0),
        Some(t) => t
            .parse()
            .map_err(|_| ModelError::invalid_parameter("NextToken", "not a token this API issued")),
    }
}

/// Renders a switch the way Alibaba does.
pub fn on_off_str(v: bool) -> &'static str {
    if v {
        "on"
    } else {
        "off"
    }
}

/// Parameters from pairs, for tests across the crate.
#[cfg(test)]
pub(crate) fn test_params(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::test_params as p;
    use super::*;

    #[test]
    fn ranges_and_missing() {
        let m = p(&[("A", "5"), ("B", "99"), ("C", "x"), ("E", "")]);
        assert_eq!(int_in(&m, "A", 1..=10u32).unwrap(), Some(5));
        assert_eq!(
            int_in(&m, "B", 1..=10u32).unwrap_err().code,
            "InvalidParameter"
        );
        assert_eq!(
            int_in(&m, "C", 1..=10u32).unwrap_err().code,
            "InvalidParameter"
        );
        assert_eq!(int_in(&m, "D", 1..=10u32).unwrap(), None);
        assert_eq!(required(&m, "E").unwrap_err().code, "MissingParameter");
        assert_eq!(on_off(&m, "A").unwrap_err().code, "InvalidParameter");
    }
}
