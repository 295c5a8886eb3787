//! The `json` and `unpack` parsers: nested keys flattened with `_`, names
//! sanitised to label names, and Loki's JSON expressions (`a.b[0]`,
//! `a["x y"]`) for `json label="expr"`.

use serde_json::Value;

/// A label name from a JSON key: characters outside `[A-Za-z0-9_]` become
/// `_`, and a leading digit gets a `_` prefix.
pub(crate) fn sanitize(key: &str) -> String {
    let mut out: String = key
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

fn parse_object(line: &str) -> Result<serde_json::Map<String, Value>, String> {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("Value looks like object, but can't find closing '}' symbol".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// Every scalar field of the JSON object `line`, nested keys joined by `_`
/// (arrays and nulls are skipped, as Loki does).
pub(crate) fn flatten(line: &str) -> Result<Vec<(String, String)>, String> {
    Ok(flatten_with_paths(line)?
        .into_iter()
        .map(|f| (f.name, f.value))
        .collect())
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

/// [`flatten`] that also keeps each field's key path (the `jsonPath` of
/// Loki's detected fields).
pub(crate) fn flatten_with_paths(line: &str) -> Result<Vec<JsonField>, String> {
    fn walk(
        prefix: &str,
        path: &mut Vec<String>,
        m: &serde_json::Map<String, Value>,
        out: &mut Vec<JsonField>,
    ) {
        for (k, v) in m {
            let key = if prefix.is_empty() {
                sanitize(k)
            } else {
                format!("{prefix}_{}", sanitize(k))
            };
            path.push(k.clone());
            match v {
                Value::Object(inner) => walk(&key, path, inner, out),
                other => {
                    if let Some(value) = scalar_text(other) {
                        out.push(JsonField {
                            name: key,
                            path: path.clone(),
                            value,
                        });
                    }
                }
            }
            path.pop();
        }
    }
    let m = parse_object(line)?;
    let mut out = Vec::new();
    walk("", &mut Vec::new(), &m, &mut out);
    Ok(out)
}

/// What `unpack` found: the new line (from `_entry`) and the labels.
type Unpacked = (Option<String>, Vec<(String, String)>);

/// `unpack`: the object's string fields as labels, and `_entry` (if set)
/// as the new line.
pub(crate) fn unpack(line: &str) -> Result<Unpacked, String> {
    let m = parse_object(line)?;
    let mut entry = None;
    let mut out = Vec::new();
    for (k, v) in m {
        let Value::String(s) = v else { continue };
        if k == "_entry" {
            entry = Some(s);
        } else {
            out.push((sanitize(&k), s));
        }
    }
    Ok((entry, out))
}

/// A JSON expression: object keys and array indices.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Path(Vec<Step>);

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

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

    /// The value at this path: scalars as text, objects and arrays as JSON.
    pub(crate) fn lookup(&self, v: &Value) -> Option<String> {
        let mut cur = v;
        for s in &self.0 {
            cur = match s {
                Step::Key(k) => cur.get(k.as_str())?,
                Step::Index(i) => cur.get(*i)?,
            };
        }
        match cur {
            Value::Null => None,
            Value::Object(_) | Value::Array(_) => Some(cur.to_string()),
            other => scalar_text(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattens_nested_objects() {
        let got = flatten(r#"{"a":{"b-c":1,"d":[1]},"e":"x","9f":true,"n":null}"#).unwrap();
        assert_eq!(
            got,
            vec![
                ("_9f".to_string(), "true".to_string()),
                ("a_b_c".into(), "1".into()),
                ("e".into(), "x".into())
            ]
        );
        assert!(flatten("not json").is_err());
    }

    #[test]
    fn expressions() {
        let v: Value = serde_json::from_str(r#"{"a":{"b":[{"c":"x"}]},"k y":2}"#).unwrap();
        assert_eq!(
            Path::parse("a.b[0].c").unwrap().lookup(&v).as_deref(),
            Some("x")
        );
        assert_eq!(
            Path::parse("[\"k y\"]").unwrap().lookup(&v).as_deref(),
            Some("2")
        );
        assert_eq!(
            Path::parse("a.b").unwrap().lookup(&v).as_deref(),
            Some(r#"[{"c":"x"}]"#)
        );
        assert_eq!(Path::parse("a.zz").unwrap().lookup(&v), None);
    }
}
