//! Loki's "detected" endpoints, which Grafana's Logs Drilldown calls to
//! build its labels and fields views:
//!
//! - `GET /loki/api/v1/detected_labels`: each stream label of the selected
//!   streams with its cardinality, leaving out the labels whose values
//!   are all IDs (numbers or UUIDs), as Loki does;
//! - `GET /loki/api/v1/detected_fields`: the fields found in the newest
//!   `line_limit` lines of a log query, from structured metadata and from
//!   the line parsed as JSON (nested keys joined by `_`, with `jsonPath`)
//!   or else logfmt, each with its type, parsers and cardinality;
//! - `GET /loki/api/v1/detected_field/<name>/values`: the values of one
//!   such field.
//!
//! Cost is bounded by `line_limit` (at most [`MAX_LINE_LIMIT`]) lines and
//! `field_limit` fields, each with at most [`MAX_VALUES`] distinct values.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::response::Response;
use common::logs::{Direction, LogEntry, LogSelect};
use common::tenant::TenantId;
use serde_json::json;

use super::LokiState;
use super::error::LokiError;
use super::params::{self, DEFAULT_SINCE_NS};
use crate::api::handlers::{decode, ok_json};
use crate::api::params::Params;
use crate::logql::ast::ValueKind;
use crate::logql::pipeline::{Pipeline, convert};
use crate::logql::{self, Expr, LogqlError, json as logql_json, logfmt};

/// Lines scanned without `line_limit` (Loki's default).
const DEFAULT_LINE_LIMIT: usize = 1000;
/// Most lines one request may scan.
pub(crate) const MAX_LINE_LIMIT: usize = 5000;
/// Fields reported without `field_limit`/`limit` (Loki's default).
const DEFAULT_FIELD_LIMIT: usize = 1000;
/// Distinct values kept per field (the cardinality saturates there).
pub(crate) const MAX_VALUES: usize = 10_000;

/// What was learnt about one field.
#[derive(Debug, Default)]
struct Field {
    /// Type of the first value seen (Loki types by sample, not by vote).
    kind: &'static str,
    /// `json` and/or `logfmt`; empty for structured metadata.
    parsers: BTreeSet<&'static str>,
    /// Keys down to the field in JSON lines.
    json_path: Vec<String>,
    /// Distinct values, at most [`MAX_VALUES`].
    values: BTreeSet<String>,
}

impl Field {
    fn insert(&mut self, value: &str) {
        if self.kind.is_empty() {
            self.kind = field_type(value);
        }
        if self.values.len() < MAX_VALUES && !self.values.contains(value) {
            self.values.insert(value.to_string());
        }
    }
}

/// Loki's field type of `value`: the first of int, float, boolean, Go
/// duration and byte size it parses as, else string.
fn field_type(value: &str) -> &'static str {
    if value.parse::<i64>().is_ok() {
        "int"
    } else if value.parse::<f64>().is_ok() {
        "float"
    } else if matches!(
        value,
        "1" | "t" | "T" | "TRUE" | "true" | "True" | "0" | "f" | "F" | "FALSE" | "false" | "False"
    ) {
        "boolean"
    } else if convert(ValueKind::Duration, value).is_ok() {
        "duration"
    } else if value.starts_with(|c: char| c.is_ascii_digit())
        && convert(ValueKind::Bytes, value).is_ok()
    {
        "bytes"
    } else {
        "string"
    }
}

/// Fields of `entries` (newest first), at most `field_limit` of them.
fn detect_fields<'a>(
    entries: impl Iterator<Item = &'a LogEntry>,
    field_limit: usize,
) -> BTreeMap<String, Field> {
    let mut fields: BTreeMap<String, Field> = BTreeMap::new();
    let mut add = |name: &str, value: &str, parser: Option<&'static str>, path: &[String]| {
        if !fields.contains_key(name) {
            if fields.len() >= field_limit {
                return;
            }
            fields.insert(name.to_string(), Field::default());
        }
        let Some(f) = fields.get_mut(name) else {
            return;
        };
        if let Some(p) = parser {
            f.parsers.insert(p);
        }
        if f.json_path.is_empty() && !path.is_empty() {
            f.json_path = path.to_vec();
        }
        f.insert(value);
    };
    for e in entries {
        for m in e.structured_metadata.iter() {
            add(&m.name, &m.value, None, &[]);
        }
        let parsed = logql_json::flatten(&e.line);
        if parsed.error.is_none() {
            for f in parsed.fields {
                add(&f.name, &f.value, Some("json"), &f.path);
            }
        } else {
            for (k, v) in logfmt::parse(&e.line, false).pairs {
                if !k.is_empty() && !v.is_empty() {
                    add(&logql_json::sanitize(&k), &v, Some("logfmt"), &[]);
                }
            }
        }
    }
    fields
}

/// A positive integer parameter, `default` when absent.
fn positive(p: &Params, name: &str, default: usize) -> Result<usize, LokiError> {
    match p.get(name) {
        None | Some("") => Ok(default),
        Some(v) => v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
            LokiError::BadRequest(format!(
                "invalid {name} {v:?}: must be a positive integer (err-cairn-detected-limit: \
                 pass a whole number above 0)"
            ))
        }),
    }
}

/// The newest `line_limit` lines of the log query in `p`'s `query`
/// between `start` and `end`, over all `tenants`, after its pipeline.
async fn newest_lines(
    st: &LokiState,
    tenants: &[TenantId],
    p: &Params,
) -> Result<Vec<LogEntry>, LokiError> {
    let (start, end) = params::range(p, DEFAULT_SINCE_NS)?;
    let line_limit = positive(p, "line_limit", DEFAULT_LINE_LIMIT)?.min(MAX_LINE_LIMIT);
    let Expr::Log(log) = logql::parse(p.require("query")?).map_err(LogqlError::from)? else {
        return Err(LokiError::BadRequest(
            "detected fields need a log query, not a metric query \
             (err-cairn-detected-query: pass a stream selector with optional filters)"
                .into(),
        ));
    };
    let pipeline = Pipeline::compile(&log).map_err(LokiError::BadRequest)?;
    let sel = LogSelect {
        matchers: log.matchers.clone(),
        start_ns: start,
        end_ns: end,
        line_filter: logql::pushed_line_filter(&log)?,
        // Per stream: bounds the read even when the pipeline then drops
        // lines (fewer than `line_limit` may be left, never more read).
        limit: Some(line_limit),
        direction: Direction::Backward,
    };
    let mut kept = Vec::new();
    for t in tenants {
        for s in st.store.select_logs(t, &sel).await? {
            for e in s.entries {
                if pipeline.process(&s.labels, &e).is_some() {
                    kept.push(e);
                }
            }
        }
    }
    kept.sort_by_key(|e| std::cmp::Reverse(e.ts_ns));
    kept.truncate(line_limit);
    Ok(kept)
}

/// The field limit: `field_limit`, else `limit`, else Loki's default.
fn field_limit(p: &Params) -> Result<usize, LokiError> {
    let alias = positive(p, "limit", DEFAULT_FIELD_LIMIT)?;
    positive(p, "field_limit", alias)
}

/// `GET /loki/api/v1/detected_fields`.
pub(crate) async fn detected_fields(
    State(st): State<Arc<LokiState>>,
    req: Request,
) -> Result<Response, LokiError> {
    let (tenants, p) = decode(&st.querier, req).await?;
    let limit = field_limit(&p)?;
    let lines = newest_lines(&st, &tenants, &p).await?;
    let fields: Vec<serde_json::Value> = detect_fields(lines.iter(), limit)
        .into_iter()
        .map(|(name, f)| {
            let parsers: Option<Vec<&str>> =
                (!f.parsers.is_empty()).then(|| f.parsers.into_iter().collect());
            let mut v = json!({
                "label": name,
                "type": f.kind,
                "cardinality": f.values.len(),
                "parsers": parsers,
            });
            if !f.json_path.is_empty() {
                v["jsonPath"] = json!(f.json_path);
            }
            v
        })
        .collect();
    Ok(ok_json(
        json!({"fields": fields, "limit": limit}).to_string(),
    ))
}

/// `GET /loki/api/v1/detected_field/<name>/values`.
pub(crate) async fn detected_field_values(
    State(st): State<Arc<LokiState>>,
    Path(name): Path<String>,
    req: Request,
) -> Result<Response, LokiError> {
    let (tenants, p) = decode(&st.querier, req).await?;
    let limit = field_limit(&p)?;
    let lines = newest_lines(&st, &tenants, &p).await?;
    let values: Vec<String> = detect_fields(lines.iter(), usize::MAX)
        .remove(&name)
        .map(|f| f.values.into_iter().take(limit).collect())
        .unwrap_or_default();
    Ok(ok_json(
        json!({"values": values, "limit": limit}).to_string(),
    ))
}

/// True for a UUID written as Go's `uuid.Parse` accepts it most often
/// (`8-4-4-4-12` hex digits, or 32 hex digits).
fn is_uuid(v: &str) -> bool {
    let b = v.as_bytes();
    match b.len() {
        32 => b.iter().all(u8::is_ascii_hexdigit),
        36 => b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        }),
        _ => false,
    }
}

/// Loki leaves out labels whose values are all IDs (numbers or UUIDs),
/// except a label with only the values `0`/`1`, which reads as a flag.
fn is_id_label(values: &BTreeSet<String>) -> bool {
    if values.is_empty() {
        return true;
    }
    if values.len() <= 2 && values.iter().all(|v| v == "0" || v == "1") {
        return false;
    }
    values
        .iter()
        .all(|v| v.parse::<f64>().is_ok() || is_uuid(v))
}

/// `GET /loki/api/v1/detected_labels`: `{"detectedLabels":[{"label",
/// "cardinality"}]}` for the streams of `query` (all when absent).
pub(crate) async fn detected_labels(
    State(st): State<Arc<LokiState>>,
    req: Request,
) -> Result<Response, LokiError> {
    let (tenants, p) = decode(&st.querier, req).await?;
    let (start, end) = params::range(&p, DEFAULT_SINCE_NS)?;
    let matchers = match p.get("query") {
        None | Some("") => Vec::new(),
        Some(q) => logql::parse_selector(q).map_err(LogqlError::from)?,
    };
    let mut labels: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for t in &tenants {
        for name in st.store.log_label_names(t, &matchers, start, end).await? {
            let values = st
                .store
                .log_label_values(t, &name, &matchers, start, end)
                .await?;
            labels.entry(name).or_default().extend(values);
        }
    }
    let detected: Vec<serde_json::Value> = labels
        .into_iter()
        .filter(|(name, values)| !name.starts_with("__") && !is_id_label(values))
        .map(|(label, values)| json!({"label": label, "cardinality": values.len()}))
        .collect();
    Ok(ok_json(json!({ "detectedLabels": detected }).to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::labels::Labels;

    #[test]
    fn field_types_follow_loki() {
        for (v, want) in [
            ("42", "int"),
            ("-7", "int"),
            ("0.25", "float"),
            ("true", "boolean"),
            ("1.5s", "duration"),
            ("250ms", "duration"),
            ("10MB", "bytes"),
            ("GET", "string"),
            ("", "string"),
        ] {
            assert_eq!(field_type(v), want, "{v:?}");
        }
    }

    fn entry(line: &str, metadata: &[(&str, &str)]) -> LogEntry {
        LogEntry {
            ts_ns: 0,
            line: line.into(),
            structured_metadata: Labels::from_pairs(metadata.iter().copied()),
        }
    }

    #[test]
    fn fields_from_json_logfmt_and_metadata() {
        let entries = [
            entry(
                r#"{"level":"info","req":{"status":200,"path":"/a"},"dur":"1s"}"#,
                &[("detected_level", "info")],
            ),
            entry(
                r#"{"level":"error","req":{"status":500,"path":"/b"}}"#,
                &[("detected_level", "error")],
            ),
            entry(r#"level=warn msg="slow query" took=2.5"#, &[]),
        ];
        let f = detect_fields(entries.iter(), 100);
        let status = &f["req_status"];
        assert_eq!((status.kind, status.values.len()), ("int", 2));
        assert_eq!(status.json_path, ["req", "status"]);
        assert_eq!(status.parsers.iter().copied().collect::<Vec<_>>(), ["json"]);
        assert_eq!(f["dur"].kind, "duration");
        let level = &f["level"];
        assert_eq!(level.values.len(), 3);
        assert_eq!(
            level.parsers.iter().copied().collect::<Vec<_>>(),
            ["json", "logfmt"]
        );
        assert_eq!(f["took"].kind, "float");
        assert!(f["detected_level"].parsers.is_empty());
        assert_eq!(detect_fields(entries.iter(), 2).len(), 2);
    }

    #[test]
    fn id_labels_are_left_out() {
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert!(is_id_label(&set(&["1", "2", "3"])));
        assert!(is_id_label(&set(&[
            "0b1c2d3e-0000-4000-8000-000000000001",
            "0b1c2d3e-0000-4000-8000-000000000002"
        ])));
        assert!(!is_id_label(&set(&["0", "1"])));
        assert!(!is_id_label(&set(&["api", "7"])));
    }
}
