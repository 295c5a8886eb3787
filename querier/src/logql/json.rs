//! The `json` and `unpack` parsers: nested keys flattened with `_`, names
//! sanitised to label names, and Loki's JSON expressions (`a.b[0]`,
//! `a["x y"]`) for `json label="expr"`.

use super::json_scan::{self, Kind, ScanError, Step, Value};
use std::borrow::Cow;

/// A label name from a JSON key: characters outside `[A-Za-z0-9_]` become
/// `_`, and a leading digit gets a `_` prefix.
pub(crate) fn sanitize(key: &str) -> String {
    let mut out = String::new();
    append_sanitized(&mut out, key);
    out
}

/// Appends `key` sanitised to `to` (a leading digit gets a `_` prefix only
/// at the start of the name, as Loki builds nested names).
fn append_sanitized(to: &mut String, key: &str) {
    let key = key.trim();
    if to.is_empty() && key.starts_with(|c: char| c.is_ascii_digit()) {
        to.push('_');
    }
    to.extend(key.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
}

/// A value's text as Loki's `json` parser sets it: strings unescaped (a
/// bad escape gives an empty value), numbers and booleans as written.
fn text(v: Value<'_>) -> String {
    match v.kind {
        Kind::String => json_scan::unescape(v.raw).unwrap_or_default(),
        Kind::Null => String::new(),
        Kind::Number | Kind::Bool | Kind::Object | Kind::Array => v.raw.to_string(),
    }
}

/// One scalar field of a JSON line.
pub(crate) struct JsonField {
    /// The label name: nested keys sanitised and joined by `_`.
    pub(crate) name: String,
    /// The keys from the top of the object down to the field, as written.
    pub(crate) path: Vec<String>,
    /// The value as text.
    pub(crate) value: String,
}

/// The fields of a JSON line, and the reason the walk stopped early (the
/// fields before the fault are kept, as in Loki).
pub(crate) struct Flattened {
    /// Every string, number and boolean field in document order, nested
    /// keys joined by `_` (arrays and nulls are skipped, as Loki does).
    pub(crate) fields: Vec<JsonField>,
    /// Loki's `__error_details__` text when the line is not a well-formed
    /// JSON object.
    pub(crate) error: Option<String>,
}

/// Every scalar field of the JSON object `line` with its key path (the
/// `jsonPath` of Loki's detected fields).
pub(crate) fn flatten(line: &str) -> Flattened {
    fn walk<'a>(
        obj: &'a str,
        path: &mut Vec<Cow<'a, str>>,
        out: &mut Vec<JsonField>,
    ) -> Result<(), ScanError> {
        json_scan::object_each(obj, |key, value| {
            path.push(key);
            let r = match value.kind {
                Kind::Object => walk(value.raw, path, out),
                Kind::String | Kind::Number | Kind::Bool => {
                    let mut name = String::new();
                    for part in path.iter() {
                        if part.trim().is_empty() {
                            continue;
                        }
                        if !name.is_empty() {
                            name.push('_');
                        }
                        append_sanitized(&mut name, part);
                    }
                    if !name.is_empty() {
                        out.push(JsonField {
                            name,
                            path: path.iter().map(|p| p.to_string()).collect(),
                            value: text(value),
                        });
                    }
                    Ok(())
                }
                Kind::Null | Kind::Array => Ok(()),
            };
            path.pop();
            r
        })
    }
    let mut fields = Vec::new();
    let error = walk(line, &mut Vec::new(), &mut fields)
        .err()
        .map(|e| e.to_string());
    Flattened { fields, error }
}

/// What `unpack` found: the new line (from `_entry`) and the labels.
type Unpacked = (Option<String>, Vec<(String, String)>);

/// `unpack`: for a packed line (one with `_entry`), its other string
/// fields as labels and `_entry` as the new line. A line with no
/// `_entry` gives nothing, as in Loki.
pub(crate) fn unpack(line: &str) -> Result<Unpacked, String> {
    if !line.starts_with('{') {
        // Loki's text, which names its JSON library's object type (6).
        return Err("expecting json object(6), but it is not".into());
    }
    let mut entry = None;
    let mut out = Vec::new();
    json_scan::object_each(line, |key, value| {
        if value.kind != Kind::String {
            return Ok(());
        }
        if key == "_entry" {
            entry = Some(json_scan::unescape(value.raw).ok_or(ScanError::MalformedStringEscape)?);
        } else {
            out.push((sanitize(&key), text(value)));
        }
        Ok(())
    })
    .map_err(|e: ScanError| e.to_string())?;
    if entry.is_none() {
        out.clear();
    }
    Ok((entry, out))
}

/// A JSON expression: object keys and array indices.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Path(Vec<Step>);

impl Path {
    /// Parses `a.b[0]["c d"]`.
    pub(crate) fn parse(expr: &str) -> Result<Self, String> {
        let bad = || format!("invalid JSON expression {expr:?}");
        let mut steps = Vec::new();
        let mut rest = expr;
        let mut key = String::new();
        while let Some(c) = rest.chars().next() {
            match c {
                '.' => {
                    if !key.is_empty() {
                        steps.push(Step::Key(std::mem::take(&mut key)));
                    }
                    rest = &rest[1..];
                }
                '[' => {
                    if !key.is_empty() {
                        steps.push(Step::Key(std::mem::take(&mut key)));
                    }
                    let end = rest.find(']').ok_or_else(bad)?;
                    let inner = rest[1..end].trim();
                    if let Some(q) = inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                        steps.push(Step::Key(q.to_string()));
                    } else {
                        steps.push(Step::Index(inner.parse().map_err(|_| bad())?));
                    }
                    rest = &rest[end + 1..];
                }
                c => {
                    key.push(c);
                    rest = &rest[c.len_utf8()..];
                }
            }
        }
        if !key.is_empty() {
            steps.push(Step::Key(key));
        }
        if steps.is_empty() {
            return Err(bad());
        }
        Ok(Self(steps))
    }

    /// The value at this path in the JSON line `line`, as Loki sets it:
    /// strings unescaped, numbers, booleans, objects and arrays as
    /// written, null and absent as nothing.
    pub(crate) fn lookup(&self, line: &str) -> Option<String> {
        json_scan::lookup(line, &self.0)
            .filter(|v| v.kind != Kind::Null)
            .map(text)
    }
}

/// Whether a line can be read by a named `json` extraction: Loki only
/// checks that it starts like JSON (`{`, `[` or `"`).
pub(crate) fn starts_like_json(line: &str) -> bool {
    matches!(line.as_bytes().first(), Some(b'{' | b'[' | b'"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(line: &str) -> Vec<(String, String)> {
        flatten(line)
            .fields
            .into_iter()
            .map(|f| (f.name, f.value))
            .collect()
    }

    #[test]
    fn flattens_nested_objects_in_document_order() {
        let got =
            pairs(r#"{"a":{"b-c":1,"d":[1],"9":2.50},"e":"x\u00e9","9f":true,"n":null," ":"s"}"#);
        let want: Vec<(String, String)> = [
            ("a_b_c", "1"),
            ("a_9", "2.50"),
            ("e", "xé"),
            ("_9f", "true"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_broken_line_keeps_the_fields_before_the_fault() {
        let f = flatten(r#"{"a":"x","b":{"c":1,}"#);
        assert_eq!(f.fields.len(), 2);
        assert!(f.error.is_some());
        let f = flatten("not json");
        assert!(f.fields.is_empty());
        assert_eq!(
            f.error.as_deref(),
            Some("Value looks like object, but can't find closing '}' symbol")
        );
    }

    #[test]
    fn expressions() {
        let doc = r#"{"a":{"b":[{"c":"x"}]},"k y":2, "o": {"p": 1}}"#;
        let get = |e: &str| Path::parse(e).unwrap().lookup(doc);
        assert_eq!(get("a.b[0].c").as_deref(), Some("x"));
        assert_eq!(get("[\"k y\"]").as_deref(), Some("2"));
        assert_eq!(get("a.b").as_deref(), Some(r#"[{"c":"x"}]"#));
        assert_eq!(get("o").as_deref(), Some(r#"{"p": 1}"#));
        assert_eq!(get("a.zz"), None);
    }

    #[test]
    fn unpack_reads_packed_lines_only() {
        let (entry, labels) = unpack(r#"{"_entry":"orig \"q\"","pod":"p-1","n":1}"#).unwrap();
        assert_eq!(entry.as_deref(), Some("orig \"q\""));
        assert_eq!(labels, vec![("pod".to_string(), "p-1".to_string())]);
        assert_eq!(unpack(r#"{"pod":"p-1"}"#).unwrap(), (None, vec![]));
        assert_eq!(
            unpack("plain").unwrap_err(),
            "expecting json object(6), but it is not"
        );
    }
}
