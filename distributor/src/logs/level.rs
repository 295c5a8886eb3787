//! `detected_level`: the level every pushed line gets as structured
//! metadata (Loki's `discover_log_levels`), so Logs Drilldown can group
//! lines by level and `| detected_level="error"` selects them.
//!
//! As Loki decides it: a `detected_level` the client sent is only
//! normalised; otherwise the first level-like stream label, then the first
//! level-like structured metadata key (OTLP's `severity_text` among them),
//! then the OTLP severity number; otherwise the line: a JSON object's
//! level-like string field (top level or one object down), else, in a
//! line with `=`, its level-like logfmt field, and where that names no
//! level, the earliest level keyword standing as a word in the line; else
//! `unknown`. Level names are normalised to `trace`, `debug`, `info`,
//! `warn`, `error`, `critical` or `fatal`; a label's value that names no
//! level is kept as it is, as Loki keeps it.
//! Everything is a byte scan: no regex, and JSON is walked without
//! building the document.

use std::borrow::Cow;

use common::labels::Labels;
use common::logs::LogEntry;

use super::otlp::SEVERITY_NUMBER;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

/// The structured metadata key the level is stored under.
pub(crate) const DETECTED_LEVEL: &str = "detected_level";

/// Label, metadata and field names that hold a level, in Loki's order of
/// preference.
const LEVEL_KEYS: &[&str] = &[
    "level",
    "LEVEL",
    "Level",
    "log.level",
    "severity",
    "SEVERITY",
    "Severity",
    "SeverityText",
    "lvl",
    "LVL",
    "Lvl",
    "severity_text",
    "Severity_Text",
    "SEVERITY_TEXT",
];

const UNKNOWN: &str = "unknown";

/// How deep in a JSON line a level field is looked for (Loki's
/// `log_level_from_json_max_depth` default: the top level and one below).
const JSON_LEVEL_DEPTH: usize = 2;

/// Adds `detected_level` to every entry of a stream, or normalises the one
/// a client sent (an OTLP exporter or a Loki client may set it). The
/// stream's labels are read once for all its entries.
pub(crate) fn add_detected_levels(stream: &Labels, entries: &mut [LogEntry]) {
    let from_stream = level_key(stream).map(label_level);
    for entry in entries {
        if let Some(sent) = entry.structured_metadata.get(DETECTED_LEVEL) {
            if let Some(level) = normalise(sent.as_bytes()).filter(|l| *l != sent) {
                entry.structured_metadata.set(DETECTED_LEVEL, level);
            }
            continue;
        }
        let level = match &from_stream {
            Some(level) => level.clone(),
            None => detect(&entry.structured_metadata, &entry.line),
        };
        entry.structured_metadata.set(DETECTED_LEVEL, &level);
    }
}

/// A level label's value as Loki keeps it: a level name normalised, any
/// other value as it is.
fn label_level(v: &str) -> Cow<'static, str> {
    normalise(v.as_bytes()).map_or_else(|| Cow::Owned(v.to_string()), Cow::Borrowed)
}

/// The level of a line whose stream has no level label, with structured
/// metadata `metadata`.
fn detect(metadata: &Labels, line: &str) -> Cow<'static, str> {
    if let Some(v) = level_key(metadata) {
        return label_level(v);
    }
    if let Some(n) = metadata.get(SEVERITY_NUMBER).filter(|n| !n.is_empty()) {
        return Cow::Borrowed(severity_number(n));
    }
    Cow::Borrowed(line_level(line))
}

/// The level a line names by itself.
fn line_level(line: &str) -> &'static str {
    let field = if is_json(line) {
        json_level(line)
    } else if line.contains('=') {
        logfmt_level(line)
    } else {
        return keyword_level(line);
    };
    field
        .and_then(|v| normalise(v.as_bytes()))
        .unwrap_or_else(|| keyword_level(line))
}

/// The value of the level-like name of `labels` that comes first in
/// [`LEVEL_KEYS`] (one pass over the labels).
fn level_key(labels: &Labels) -> Option<&str> {
    labels
        .iter()
        .filter_map(|l| {
            let rank = LEVEL_KEYS.iter().position(|k| *k == l.name)?;
            Some((rank, l.value.as_str()))
        })
        .min_by_key(|(rank, _)| *rank)
        .map(|(_, v)| v)
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
        ("warn", "warn"),
        ("wrn", "warn"),
        ("warning", "warn"),
        ("error", "error"),
        ("err", "error"),
        ("critical", "critical"),
        ("fatal", "fatal"),
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

/// The first level-like string field of a JSON line in document order,
/// looked for in nested objects down to [`JSON_LEVEL_DEPTH`]; a field
/// found before the document turns out malformed still counts.
fn json_level(line: &str) -> Option<String> {
    let mut found = None;
    let mut de = serde_json::Deserializer::from_str(line);
    let _ = LevelSearch {
        depth: 0,
        level_key: false,
        found: &mut found,
    }
    .deserialize(&mut de);
    found
}

/// Walks one JSON value looking for a level field: a string under a
/// level-like key is taken, an object is searched (down to
/// [`JSON_LEVEL_DEPTH`]), anything else is skipped. The walk ends (with an
/// error) as soon as a level is found.
struct LevelSearch<'a> {
    depth: usize,
    level_key: bool,
    found: &'a mut Option<String>,
}

/// The error that ends a walk once a level field is found.
const FOUND: &str = "level found";

impl<'de> DeserializeSeed<'de> for LevelSearch<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for LevelSearch<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        if self.level_key {
            *self.found = Some(v.to_string());
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if self.depth >= JSON_LEVEL_DEPTH {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        }
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            map.next_value_seed(LevelSearch {
                depth: self.depth + 1,
                level_key: LEVEL_KEYS.contains(&key.as_ref()),
                found: self.found,
            })?;
            if self.found.is_some() {
                return Err(de::Error::custom(FOUND));
            }
        }
        Ok(())
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut s: A) -> Result<(), A::Error> {
        while s.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// The value of the line's level-like logfmt key (`level=warn`,
/// `level="warn"`; keys compared ignoring case), the earliest name in
/// [`LEVEL_KEYS`] winning when several are present.
fn logfmt_level(line: &str) -> Option<String> {
    let b = line.as_bytes();
    let mut best: Option<(usize, &str)> = None;
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
        let rank = LEVEL_KEYS.iter().position(|k| k.eq_ignore_ascii_case(key));
        if let Some(rank) = rank.filter(|r| best.is_none_or(|(b, _)| *r < b)) {
            best = Some((rank, value));
            if rank == 0 {
                break;
            }
        }
    }
    best.map(|(_, v)| v.to_string())
}

/// The level of the earliest level keyword standing as a word in the line
/// (any case; `err` and `error` both mean error). A keyword glued to other
/// text, or after a `:` as in `misc:error`, is not one. One pass over the
/// line, stopping at the first keyword.
fn keyword_level(line: &str) -> &'static str {
    const KEYWORDS: &[(&str, &str)] = &[
        ("trace", "trace"),
        ("debug", "debug"),
        ("fatal", "fatal"),
        ("critical", "critical"),
        ("error", "error"),
        ("err", "error"),
        ("warning", "warn"),
        ("warn", "warn"),
        ("info", "info"),
    ];
    // Before a keyword: the start or one of these; after it: the end or
    // one of these (Loki's word boundaries).
    let left = |c: u8| b" \t\n[({\"'=|".contains(&c);
    let right = |c: u8| b" \t\n[]():,!{}\"'=|".contains(&c);
    let b = line.as_bytes();
    for at in 0..b.len() {
        if !matches!(
            b[at].to_ascii_lowercase(),
            b't' | b'd' | b'f' | b'c' | b'e' | b'w' | b'i'
        ) || (at > 0 && !left(b[at - 1]))
        {
            continue;
        }
        for (word, level) in KEYWORDS {
            let end = at + word.len();
            if b.get(at..end)
                .is_some_and(|w| w.eq_ignore_ascii_case(word.as_bytes()))
                && b.get(end).is_none_or(|c| right(*c))
            {
                return level;
            }
        }
    }
    UNKNOWN
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(stream: &[(&str, &str)], metadata: &[(&str, &str)], line: &str) -> String {
        let mut e = [LogEntry {
            ts_ns: 0,
            line: line.into(),
            structured_metadata: Labels::from_pairs(metadata.iter().copied()),
        }];
        add_detected_levels(&Labels::from_pairs(stream.iter().copied()), &mut e);
        e[0].structured_metadata
            .get(DETECTED_LEVEL)
            .unwrap()
            .to_string()
    }

    #[test]
    fn stream_label_wins_over_everything() {
        let meta = [("level", "debug")];
        assert_eq!(level(&[("level", "WARN")], &meta, "level=error"), "warn");
        assert_eq!(level(&[("Severity", "Err")], &[], "info"), "error");
        // A label naming no level is kept as it is, as Loki keeps it.
        assert_eq!(level(&[("level", "notice")], &[], "ERROR x"), "notice");
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
            ("x", "info"),
        ] {
            assert_eq!(
                level(&[], &[("severity_number", n)], "level=debug"),
                want,
                "{n}"
            );
        }
    }

    #[test]
    fn json_field_down_to_one_nested_object() {
        assert_eq!(
            level(&[], &[], r#" {"msg":"info here","level":"ERROR"} "#),
            "error"
        );
        // Document order decides, nested objects included.
        assert_eq!(
            level(&[], &[], r#"{"a":{"level":"debug"},"severity":"critical"}"#),
            "debug"
        );
        // Two objects down is too deep; the keyword scan decides.
        assert_eq!(
            level(&[], &[], r#"{"a":{"b":{"level":"dbg"}},"m":"x"}"#),
            "unknown"
        );
        // A level that is not a string is not one.
        assert_eq!(level(&[], &[], r#"{"level":3,"m":"warn"}"#), "warn");
        // Broken JSON falls back to keywords.
        assert_eq!(level(&[], &[], r#"{"x":1 WARNING}"#), "warn");
    }

    #[test]
    fn logfmt_field() {
        assert_eq!(level(&[], &[], r#"ts=1 msg="info: x" level=warn"#), "warn");
        assert_eq!(level(&[], &[], r#"msg="a \" b" lvl="TRACE""#), "trace");
        // Keys match in any case; `level` is preferred over `lvl`.
        assert_eq!(level(&[], &[], "LVL=debug Level=info"), "info");
        assert_eq!(
            level(&[], &[], "caller=x.go level=bogus msg=\"ERROR\""),
            "error"
        );
        // A colour code glues the keyword to other text: no level.
        assert_eq!(
            level(&[], &[], "\x1b[31mERROR\x1b[0m job done id=7"),
            "unknown"
        );
    }

    #[test]
    fn the_earliest_keyword_standing_as_a_word() {
        for (line, want) in [
            ("GET /info 200", "unknown"),
            ("info: then an error", "info"),
            ("request failed: ERROR timeout", "error"),
            ("err: boom", "error"),
            ("WARN slow query took 24ms: SELECT 1", "warn"),
            ("[Warning] disk 91%", "warn"),
            ("FATAL out of memory", "fatal"),
            ("CRITICAL: disk gone", "critical"),
            ("(debug) cache miss", "debug"),
            ("misc:error stays unknown", "unknown"),
            ("errors are not err", "error"),
            ("plain line", "unknown"),
            ("", "unknown"),
        ] {
            assert_eq!(level(&[], &[], line), want, "{line}");
        }
    }

    #[test]
    fn a_sent_detected_level_is_only_normalised() {
        assert_eq!(level(&[], &[("detected_level", "info")], "ERROR"), "info");
        assert_eq!(level(&[], &[("detected_level", "WRN")], "ERROR"), "warn");
        assert_eq!(level(&[], &[("detected_level", "odd")], "ERROR"), "odd");
    }
}
