//! Alibaba `HealthCheckHttpCode`: which HTTP status classes count as a passing check.
//!
//! The parameter is a comma-separated list of `http_2xx`, `http_3xx`, `http_4xx` and
//! `http_5xx` (default `http_2xx`). It is parsed once at configuration time into
//! [`HttpCodes`], a 4-bit set, so the prober's per-response check is a shift and a mask.

use std::fmt;
use std::str::FromStr;

/// Set of accepted status classes (2xx..5xx). The default is `http_2xx`, as in Alibaba.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HttpCodes(u8);

/// Token names in class order; bit `i` stands for class `i + 2`.
const TOKENS: [&str; 4] = ["http_2xx", "http_3xx", "http_4xx", "http_5xx"];

impl HttpCodes {
    /// Accepts 2xx only.
    pub const HTTP_2XX: Self = Self(1 << 0);
    /// Accepts 3xx only.
    pub const HTTP_3XX: Self = Self(1 << 1);
    /// Accepts 4xx only.
    pub const HTTP_4XX: Self = Self(1 << 2);
    /// Accepts 5xx only.
    pub const HTTP_5XX: Self = Self(1 << 3);

    /// Union of two sets.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether `status` (e.g. 204) falls in an accepted class. 1xx and values outside
    /// 200..=599 never match.
    pub fn matches(self, status: u16) -> bool {
        match status / 100 {
            class @ 2..=5 => self.0 & (1 << (class - 2)) != 0,
            _ => false,
        }
    }
}

impl Default for HttpCodes {
    fn default() -> Self {
        Self::HTTP_2XX
    }
}

impl fmt::Display for HttpCodes {
    /// Canonical form: accepted tokens in class order, comma-separated (`http_2xx,http_3xx`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (i, token) in TOKENS.iter().enumerate() {
            if self.0 & (1 << i) != 0 {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(token)?;
                first = false;
            }
        }
        Ok(())
    }
}

/// Why a `HealthCheckHttpCode` string was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseHttpCodesError {
    /// The string contained no tokens.
    Empty,
    /// A token other than `http_2xx`..`http_5xx` (names are lowercase, as in Alibaba).
    UnknownToken(String),
}

impl fmt::Display for ParseHttpCodesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("HealthCheckHttpCode is empty; expected e.g. \"http_2xx\""),
            Self::UnknownToken(t) => write!(
                f,
                "unknown HealthCheckHttpCode {t:?}; expected http_2xx, http_3xx, http_4xx or http_5xx"
            ),
        }
    }
}

impl std::error::Error for ParseHttpCodesError {}

impl FromStr for HttpCodes {
    type Err = ParseHttpCodesError;

    /// Parses e.g. `"http_2xx,http_3xx"`. Whitespace around tokens is ignored, duplicates
    /// are allowed, empty tokens (`"http_2xx,"`) and unknown names are errors.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().is_empty() {
            return Err(ParseHttpCodesError::Empty);
        }
        s.split(',').try_fold(Self(0), |acc, raw| {
            let token = raw.trim();
            TOKENS
                .iter()
                .position(|t| *t == token)
                .map(|i| Self(acc.0 | (1 << i)))
                .ok_or_else(|| ParseHttpCodesError::UnknownToken(token.to_owned()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches() {
        let c: HttpCodes = "http_2xx,http_3xx".parse().unwrap();
        assert_eq!(c, HttpCodes::HTTP_2XX.union(HttpCodes::HTTP_3XX));
        assert!(c.matches(200));
        assert!(c.matches(204));
        assert!(c.matches(302));
        assert!(c.matches(399));
        assert!(!c.matches(404));
        assert!(!c.matches(503));
        assert!(!c.matches(199));
    }

    #[test]
    fn each_class_alone() {
        for (i, token) in TOKENS.iter().enumerate() {
            let c: HttpCodes = token.parse().unwrap();
            for class in 1..=6u16 {
                assert_eq!(
                    c.matches(class * 100 + 1),
                    class == i as u16 + 2,
                    "{token} {class}"
                );
            }
        }
    }

    #[test]
    fn default_is_2xx_and_display_is_canonical() {
        assert_eq!(HttpCodes::default().to_string(), "http_2xx");
        let c: HttpCodes = " http_5xx , http_2xx,http_5xx".parse().unwrap();
        assert_eq!(c.to_string(), "http_2xx,http_5xx");
        assert_eq!(c.to_string().parse::<HttpCodes>(), Ok(c));
    }

    #[test]
    fn rejects_unknown_empty_and_wrong_case() {
        assert_eq!("".parse::<HttpCodes>(), Err(ParseHttpCodesError::Empty));
        assert_eq!(" ".parse::<HttpCodes>(), Err(ParseHttpCodesError::Empty));
        for bad in [
            "http_1xx",
            "HTTP_2XX",
            "2xx",
            "http_2xx,",
            "http_2xx;http_3xx",
        ] {
            let err = bad.parse::<HttpCodes>().unwrap_err();
            assert!(matches!(err, ParseHttpCodesError::UnknownToken(_)), "{bad}");
            assert!(err.to_string().contains("HealthCheckHttpCode"));
        }
    }

    #[test]
    fn out_of_range_status_never_matches() {
        let all: HttpCodes = "http_2xx,http_3xx,http_4xx,http_5xx".parse().unwrap();
        assert!(!all.matches(0));
        assert!(!all.matches(600));
        assert!(!all.matches(u16::MAX));
    }
}
