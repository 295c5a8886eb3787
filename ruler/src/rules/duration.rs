//! Durations written the Prometheus way (`30s`, `5m`, `1h30m`, `1d`), in
//! both directions, so a stored group reads back as it was uploaded.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration in Prometheus's notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PromDuration(pub Duration);

impl fmt::Display for PromDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_zero() {
            return f.write_str("0s");
        }
        f.write_str(&promql_parser::util::display_duration(&self.0))
    }
}

impl Serialize for PromDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let zero =
            text.starts_with('0') && text.chars().all(|c| c == '0' || c.is_ascii_alphabetic());
        if zero {
            return Ok(Self(Duration::ZERO));
        }
        promql_parser::util::parse_duration(&text)
            .map(Self)
            .map_err(|e| serde::de::Error::custom(format!("invalid duration {text:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_notation_both_ways() {
        for text in ["30s", "5m", "1h30m", "1d", "500ms"] {
            let d: PromDuration = serde_json::from_str(&format!("\"{text}\"")).unwrap();
            assert_eq!(d.to_string(), text);
        }
        assert!(serde_json::from_str::<PromDuration>("\"5 minutes\"").is_err());
    }
}
