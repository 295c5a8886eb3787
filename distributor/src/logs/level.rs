//! `detected_level`: the level every pushed line gets as structured
//! metadata (Loki's `discover_log_levels`), so Logs Drilldown can group
//! lines by level and `| detected_level="error"` selects them.
//!
//! The first of these that names a level wins: a level-like stream label,
//! a level-like structured metadata key (OTLP's `severity_text` among
//! them), the OTLP severity number, the line's level-like JSON or logfmt
//! field, keywords in the line; else `unknown`. Values are normalised to
//! Loki's `critical`, `fatal`, `error`, `warn`, `info`, `debug`, `trace`
//! or `unknown` (Logs Drilldown knows exactly these).
//! Everything is a byte scan: no regex, and JSON is only walked to its
//! top-level keys.

use common::labels::Labels;
use common::logs::LogEntry;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

/// The structured metadata key the level is stored under.
pub(crate) const DETECTED_LEVEL: &str = "detected_level";

/// Label, metadata and field names that hold a level (Loki's list).
const LEVEL_KEYS: &[&str] = &[
    "level", "LEVEL", "Level", "severity", "SEVERITY", "Severity", "lvl", "LVL", "Lvl",
];

/// OTLP's severity text, kept as structured metadata by the OTLP mapping.
const SEVERITY_TEXT: &str = "severity_text";
/// OTLP's severity number, kept as structured metadata by the OTLP mapping.
const SEVERITY_NUMBER: &str = "severity_number";

const UNKNOWN: &str = "unknown";

/// Adds `detected_level` to `entry`'s structured metadata unless it has
/// one already (an OTLP exporter or client may set it).
pub(crate) fn add_detected_level(stream: &Labels, entry: &mut LogEntry) {
    if entry.structured_metadata.get(DETECTED_LEVEL).is_some() {
        return;
    }
    let level = detect(stream, &entry.structured_metadata, &entry.line);
    entry.structured_metadata.set(DETECTED_LEVEL, level);
}

/// The normalised level of a line of stream `stream` with structured
/// metadata `metadata`.
fn detect(stream: &Labels, metadata: &Labels, line: &str) -> &'static str {
    if let Some(v) = level_key(stream) {
        return normalise(v.as_bytes()).unwrap_or(UNKNOWN);
    }
    if let Some(v) = level_key(metadata).or_else(|| non_empty(metadata.get(SEVERITY_TEXT))) {
        return normalise(v.as_bytes()).unwrap_or(UNKNOWN);
    }
    if let Some(n) = non_empty(metadata.get(SEVERITY_NUMBER)) {
        return severity_number(n);
    }
    let field = if is_json(line) {
        json_level(line)
    } else {
        logfmt_level(line)
    };
    field
        .and_then(|v| normalise(v.as_bytes()))
        .unwrap_or_else(|| keyword_level(line))
}

fn non_empty(v: Option<&str>) -> Option<&str> {
    v.filter(|v| !v.is_empty())
}

/// The value of the first level-like name in `labels`.
fn level_key(labels: &Labels) -> Option<&str> {
    LEVEL_KEYS.iter().find_map(|k| labels.get(k))
}

/// A level name or its usual abbreviation, in any case, as Loki's value.
fn normalise(v: &[u8]) -> Option<&'static str> {
    const NAMES: &[(&str, &str)] = &[
        ("trace", "trace"),
        ("trc", "trace"),
        ("debug", "debug"),
        ("dbg", "debug"),
        ("info", "info"),
        ("inf", "info"),
        ("information", "info"),
        ("notice", "info"),
        ("warn", "warn"),
        ("wrn", "warn"),
        ("warning", "warn"),
        ("error", "error"),
        ("err", "error"),
        ("eror", "error"),
        ("critical", "critical"),
        ("crit", "critical"),
        ("fatal", "fatal"),
        ("panic", "fatal"),
    ];
    NAMES
        .iter()
        .find(|(name, _)| name.as_bytes().eq_ignore_ascii_case(v))
        .map(|(_, level)| *level)
}

/// OTLP's severity number ranges (1–4 trace … 21–24 fatal), as Loki
/// reads them.
fn severity_number(n: &str) -> &'static str {
    match n.parse::<i32>() {
        Ok(1..=4) => "trace",
        Ok(5..=8) => "debug",
        Ok(9..=12) => "info",
        Ok(13..=16) => "warn",
        Ok(17..=20) => "error",
        Ok(21..=24) => "fatal",
        Ok(_) => UNKNOWN,
        // Loki's choice for a number it cannot read.
        Err(_) => "info",
    }
}

/// A line that is a JSON object (Loki's test: `{` … `}` around it).
fn is_json(line: &str) -> bool {
    let t = line.trim();
    t.starts_with('{') && t.ends_with('}')
}

/// The string value of the line's first top-level level-like key, read
/// without building the rest of the document.
fn json_level(line: &str) -> Option<String> {
    struct LevelVisitor;
    impl<'de> Visitor<'de> for LevelVisitor {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut found = None;
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if found.is_none() && LEVEL_KEYS.contains(&key.as_ref()) {
                    found = map.next_value::<LevelValue>()?.0;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(found)
        }
    }
    let mut de = serde_json::Deserializer::from_str(line);
    de.deserialize_map(LevelVisitor).ok().flatten()
}

/// A JSON value kept when it is a string, skipped otherwise.
struct LevelValue(Option<String>);

impl<'de> de::Deserialize<'de> for LevelValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LevelValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LevelValue, E> {
                Ok(LevelValue(Some(v.to_string())))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<LevelValue, E> {
                Ok(LevelValue(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<LevelValue, E> {
                Ok(LevelValue(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<LevelValue, E> {
                Ok(LevelValue(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<LevelValue, E> {
                Ok(LevelValue(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<LevelValue, E> {
                Ok(LevelValue(None))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut s: A) -> Result<LevelValue, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(LevelValue(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<LevelValue, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(LevelValue(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// The value of the line's first level-like logfmt key (`level=warn`,
/// `level="warn"`).
fn logfmt_level(line: &str) -> Option<String> {
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' {
            i += 1;
        }
        let key = &line[start..i];
        if i >= b.len() || b[i] != b'=' {
            continue;
        }
        i += 1;
        let value = if b.get(i) == Some(&b'"') {
            let from = i + 1;
            i = from;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            let v = line.get(from..i.min(b.len())).unwrap_or("");
            i += 1;
            v
        } else {
            let from = i;
            while i < b.len() && !b[i].is_ascii_whitespace() {
                i += 1;
            }
            &line[from..i]
        };
        if LEVEL_KEYS.contains(&key) {
            return Some(value.to_string());
        }
    }
    None
}

/// Keywords in the line, in Loki's order (so `info` wins over `error`
/// in a line that has both).
fn keyword_level(line: &str) -> &'static str {
    const KEYWORDS: &[(&[&str], &str)] = &[
        (&["info", "INFO"], "info"),
        (&["err:", "ERR:", "error", "ERROR"], "error"),
        (&["warn:", "WARN:", "warning", "WARNING"], "warn"),
        (&["critical:", "CRITICAL:"], "critical"),
        (&["fatal", "FATAL"], "fatal"),
        (&["debug:", "DEBUG:"], "debug"),
    ];
    KEYWORDS
        .iter()
        .find(|(words, _)| words.iter().any(|w| line.contains(w)))
        .map_or(UNKNOWN, |(_, level)| level)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(stream: &[(&str, &str)], metadata: &[(&str, &str)], line: &str) -> String {
        let mut e = LogEntry {
            ts_ns: 0,
            line: line.into(),
            structured_metadata: Labels::from_pairs(metadata.iter().copied()),
        };
        add_detected_level(&Labels::from_pairs(stream.iter().copied()), &mut e);
        e.structured_metadata
            .get(DETECTED_LEVEL)
            .unwrap()
            .to_string()
    }

    #[test]
    fn stream_label_wins_over_everything() {
        let meta = [("level", "debug")];
        assert_eq!(level(&[("level", "WARN")], &meta, "level=error"), "warn");
        assert_eq!(level(&[("Severity", "Err")], &[], "info"), "error");
    }

    #[test]
    fn structured_metadata_then_otlp_severity() {
        assert_eq!(level(&[], &[("lvl", "dbg")], "level=error"), "debug");
        assert_eq!(level(&[], &[("severity_text", "WARNING")], "error"), "warn");
        for (n, want) in [
            ("3", "trace"),
            ("9", "info"),
            ("17", "error"),
            ("22", "fatal"),
            ("0", "unknown"),
        ] {
            assert_eq!(
                level(&[], &[("severity_number", n)], "level=debug"),
                want,
                "{n}"
            );
        }
    }

    #[test]
    fn json_field_top_level_only() {
        assert_eq!(
            level(&[], &[], r#" {"msg":"info here","level":"ERROR"} "#),
            "error"
        );
        assert_eq!(
            level(&[], &[], r#"{"a":{"level":"debug"},"severity":"crit"}"#),
            "critical"
        );
        // A nested level is not the line's; the keyword scan decides.
        assert_eq!(
            level(&[], &[], r#"{"a":{"level":"debug"},"m":"x"}"#),
            "unknown"
        );
        // Broken JSON falls back to keywords.
        assert_eq!(level(&[], &[], r#"{"level":"warn" WARNING}"#), "warn");
    }

    #[test]
    fn logfmt_field() {
        assert_eq!(level(&[], &[], r#"ts=1 msg="info: x" level=warn"#), "warn");
        assert_eq!(level(&[], &[], r#"msg="a \" b" lvl="TRACE""#), "trace");
        assert_eq!(
            level(&[], &[], "caller=x.go level=bogus msg=\"ERROR\""),
            "error"
        );
    }

    #[test]
    fn keywords_in_loki_order() {
        for (line, want) in [
            ("GET /info 200", "info"),
            ("request failed: ERROR timeout", "error"),
            ("err: boom", "error"),
            ("WARN: disk 91%", "warn"),
            ("FATAL out of memory", "fatal"),
            ("CRITICAL: disk gone", "critical"),
            ("DEBUG: cache miss", "debug"),
            ("plain line", "unknown"),
            ("", "unknown"),
        ] {
            assert_eq!(level(&[], &[], line), want, "{line}");
        }
    }

    #[test]
    fn an_existing_detected_level_is_kept() {
        assert_eq!(level(&[], &[("detected_level", "info")], "ERROR"), "info");
    }
}
