//! A JSON walker with the leniency and the error texts of the scanner
//! Loki's `json` and `unpack` parsers are built on (buger/jsonparser), so a
//! line that is not quite JSON gets the labels and `__error_details__` it
//! gets in Loki: fields before the fault are kept, a nested object is only
//! checked when it is walked, and anything after the closing `}` is
//! ignored.
//!
//! Values are handed out as raw text (numbers exactly as written, strings
//! still escaped); [`unescape`] turns a string's raw text into its value.

use std::borrow::Cow;
use std::fmt;

/// The kind of a JSON value found by the walker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Number,
    Bool,
    Null,
    Object,
    Array,
}

/// Why a walk stopped, with the scanner's own messages (they become
/// `__error_details__`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScanError {
    MalformedJson,
    MalformedString,
    MalformedArray,
    MalformedObject,
    UnknownValueType,
    MalformedStringEscape,
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MalformedJson => "Malformed JSON error",
            Self::MalformedString => "Value is string, but can't find closing '\"' symbol",
            Self::MalformedArray => "Value is array, but can't find closing ']' symbol",
            Self::MalformedObject => "Value looks like object, but can't find closing '}' symbol",
            Self::UnknownValueType => "Unknown value type",
            Self::MalformedStringEscape => "Encountered an invalid escape sequence in a string",
        })
    }
}

/// One value: its kind and its raw text (a string without its quotes).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Value<'a> {
    pub(crate) kind: Kind,
    pub(crate) raw: &'a str,
}

/// The first byte at or after `from` that is not JSON whitespace.
fn next_token(d: &[u8], from: usize) -> Option<usize> {
    (from..d.len()).find(|&i| !matches!(d[i], b' ' | b'\n' | b'\r' | b'\t'))
}

/// The index just past the closing quote of a string whose body starts at
/// `from`, and whether the body has escapes.
fn string_end(d: &[u8], from: usize) -> Option<(usize, bool)> {
    let mut escaped = false;
    let mut i = from;
    while i < d.len() {
        match d[i] {
            b'"' => return Some((i + 1, escaped)),
            b'\\' => {
                escaped = true;
                i += 2;
            }
            _ => i += 1,
        }
    }
    None
}

/// The index just past the bracket closing the block opened at `from`,
/// counting only brackets outside strings (contents are not checked).
fn block_end(d: &[u8], from: usize, open: u8, close: u8) -> Option<usize> {
    let mut level = 0usize;
    let mut i = from;
    while i < d.len() {
        match d[i] {
            b'"' => i = string_end(d, i + 1)?.0 - 1,
            c if c == open => level += 1,
            c if c == close => {
                level -= 1;
                if level == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The end of a number or literal starting at `from`.
fn token_end(d: &[u8], from: usize) -> usize {
    (from..d.len())
        .find(|&i| matches!(d[i], b' ' | b'\n' | b'\r' | b'\t' | b',' | b'}' | b']'))
        .unwrap_or(d.len())
}

/// The value starting exactly at `at`, and the index just past it.
fn value_at(s: &str, at: usize) -> Result<(Value<'_>, usize), ScanError> {
    let d = s.as_bytes();
    let (kind, start, end, next) = match d[at] {
        b'"' => {
            let (end, _) = string_end(d, at + 1).ok_or(ScanError::MalformedString)?;
            (Kind::String, at + 1, end - 1, end)
        }
        b'[' => {
            let end = block_end(d, at, b'[', b']').ok_or(ScanError::MalformedArray)?;
            (Kind::Array, at, end, end)
        }
        b'{' => {
            let end = block_end(d, at, b'{', b'}').ok_or(ScanError::MalformedObject)?;
            (Kind::Object, at, end, end)
        }
        first => {
            let end = token_end(d, at);
            let text = &d[at..end];
            let kind = match first {
                b't' | b'f' if text == b"true" || text == b"false" => Kind::Bool,
                b'n' | b'u' if text == b"null" => Kind::Null,
                b'0'..=b'9' | b'-' => Kind::Number,
                _ => return Err(ScanError::UnknownValueType),
            };
            (kind, at, end, end)
        }
    };
    let raw = s.get(start..end).ok_or(ScanError::MalformedJson)?;
    Ok((Value { kind, raw }, next))
}

/// Calls `f` with each key (unescaped) and value of the object `s` in
/// document order. `f` may stop the walk with an error of its own, which
/// is returned as is.
pub(crate) fn object_each<'a, E: From<ScanError>>(
    s: &'a str,
    mut f: impl FnMut(Cow<'a, str>, Value<'a>) -> Result<(), E>,
) -> Result<(), E> {
    let d = s.as_bytes();
    let mut i = match next_token(d, 0) {
        Some(i) if d[i] == b'{' => i + 1,
        _ => return Err(ScanError::MalformedObject.into()),
    };
    i = next_token(d, i).ok_or(ScanError::MalformedJson)?;
    if d[i] == b'}' {
        return Ok(());
    }
    loop {
        match d[i] {
            b'"' => i += 1,
            b'}' => return Ok(()),
            _ => return Err(ScanError::MalformedObject.into()),
        }
        let (end, escaped) = string_end(d, i).ok_or(ScanError::MalformedJson)?;
        let raw_key = s.get(i..end - 1).ok_or(ScanError::MalformedJson)?;
        let key = if escaped {
            Cow::Owned(unescape(raw_key).ok_or(ScanError::MalformedStringEscape)?)
        } else {
            Cow::Borrowed(raw_key)
        };
        i = next_token(d, end).ok_or(ScanError::MalformedJson)?;
        if d[i] != b':' {
            return Err(ScanError::MalformedJson.into());
        }
        i = next_token(d, i + 1).ok_or(ScanError::MalformedJson)?;
        let (value, next) = value_at(s, i)?;
        f(key, value)?;
        // The scanner's own (odd) text for a document that ends here.
        i = next_token(d, next).ok_or(ScanError::MalformedArray)?;
        match d[i] {
            b'}' => return Ok(()),
            b',' => i = next_token(d, i + 1).ok_or(ScanError::MalformedJson)?,
            _ => return Err(ScanError::MalformedObject.into()),
        }
    }
}

/// The elements of the array `s` in order; `None` when it is malformed.
fn array_elements(s: &str) -> Option<Vec<Value<'_>>> {
    let d = s.as_bytes();
    let mut i = next_token(d, 0).filter(|&i| d[i] == b'[')? + 1;
    let mut out = Vec::new();
    i = next_token(d, i)?;
    if d[i] == b']' {
        return Some(out);
    }
    loop {
        let (value, next) = value_at(s, i).ok()?;
        out.push(value);
        i = next_token(d, next)?;
        match d[i] {
            b']' => return Some(out),
            b',' => i = next_token(d, i + 1)?,
            _ => return None,
        }
    }
}

/// One step of a JSON expression: an object key or an array index.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    Key(String),
    Index(usize),
}

/// The value at `path` in the document `s` (the first key that matches at
/// each level), or `None` when the path is absent or the document breaks
/// before it.
pub(crate) fn lookup<'a>(s: &'a str, path: &[Step]) -> Option<Value<'a>> {
    let mut cur = Value {
        kind: Kind::Object,
        raw: s,
    };
    for step in path {
        cur = match (step, cur.kind) {
            (Step::Key(k), Kind::Object) => {
                let mut found = None;
                let _ = object_each::<Stop>(cur.raw, |key, value| {
                    if key == k.as_str() {
                        found = Some(value);
                        return Err(Stop);
                    }
                    Ok(())
                });
                found?
            }
            (Step::Index(n), Kind::Array) => *array_elements(cur.raw)?.get(*n)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Ends a walk early: the value looked for was found, or the document
/// broke first.
struct Stop;

impl From<ScanError> for Stop {
    fn from(_: ScanError) -> Self {
        Stop
    }
}

/// The value of a string's raw (escaped) text; `None` for a bad escape.
pub(crate) fn unescape(raw: &str) -> Option<String> {
    if !raw.contains('\\') {
        return Some(raw.to_string());
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let c = match chars.next()? {
            '"' => '"',
            '\\' => '\\',
            '/' => '/',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => {
                let hi = hex4(&mut chars)?;
                if (0xD800..0xDC00).contains(&hi) {
                    let rest = chars.as_str();
                    let lo = rest
                        .strip_prefix("\\u")
                        .and_then(|r| u32::from_str_radix(r.get(..4)?, 16).ok())
                        .filter(|lo| (0xDC00..0xE000).contains(lo));
                    match lo {
                        Some(lo) => {
                            chars = rest[6..].chars();
                            char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?
                        }
                        None => char::REPLACEMENT_CHARACTER,
                    }
                } else {
                    char::from_u32(hi).unwrap_or(char::REPLACEMENT_CHARACTER)
                }
            }
            _ => return None,
        };
        out.push(c);
    }
    Some(out)
}

fn hex4(chars: &mut std::str::Chars<'_>) -> Option<u32> {
    let s = chars.as_str().get(..4)?;
    let v = u32::from_str_radix(s, 16).ok()?;
    *chars = chars.as_str()[4..].chars();
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(s: &str) -> (Vec<(String, Kind, String)>, Option<String>) {
        let mut out = Vec::new();
        let r = object_each::<ScanError>(s, |k, v| {
            out.push((k.into_owned(), v.kind, v.raw.to_string()));
            Ok(())
        });
        (out, r.err().map(|e| e.to_string()))
    }

    #[test]
    fn walks_in_document_order_with_raw_values() {
        let (got, err) =
            keys(r#" {"b":1e3,"a":"x\"y","n":null,"t":true,"o":{"k":[1,"]"]},"l":[1]} trailing"#);
        assert_eq!(err, None);
        let names: Vec<_> = got
            .iter()
            .map(|(k, kind, raw)| (k.as_str(), *kind, raw.as_str()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("b", Kind::Number, "1e3"),
                ("a", Kind::String, r#"x\"y"#),
                ("n", Kind::Null, "null"),
                ("t", Kind::Bool, "true"),
                ("o", Kind::Object, r#"{"k":[1,"]"]}"#),
                ("l", Kind::Array, "[1]"),
            ]
        );
    }

    #[test]
    fn errors_carry_the_scanners_texts_and_keep_what_came_before() {
        let object = "Value looks like object, but can't find closing '}' symbol";
        assert_eq!(keys("{broken json 17").1.as_deref(), Some(object));
        assert_eq!(keys("panic: boom").1.as_deref(), Some(object));
        assert_eq!(keys("").1.as_deref(), Some(object));
        assert_eq!(keys(r#"{"a":1 "b":2}"#).1.as_deref(), Some(object));
        assert_eq!(
            keys(r#"{"a":1"#).1.as_deref(),
            Some("Value is array, but can't find closing ']' symbol")
        );
        assert_eq!(
            keys(r#"{"a":tru}"#).1.as_deref(),
            Some("Unknown value type")
        );
        assert_eq!(
            keys(r#"{"a":"open}"#).1.as_deref(),
            Some("Value is string, but can't find closing '\"' symbol")
        );
        assert_eq!(
            keys(r#"{"a" 1}"#).1.as_deref(),
            Some("Malformed JSON error")
        );
        let (got, err) = keys(r#"{"a":"x","b":}"#);
        assert_eq!(got.len(), 1);
        assert_eq!(err.as_deref(), Some("Unknown value type"));
    }

    #[test]
    fn lookups_follow_keys_and_indices() {
        let doc = r#"{"a":{"b":[{"c":"x"},2]},"k y":2,"a2":null}"#;
        let get = |p: &[Step]| lookup(doc, p).map(|v| (v.kind, v.raw));
        let key = |k: &str| Step::Key(k.into());
        assert_eq!(
            get(&[key("a"), key("b"), Step::Index(0), key("c")]),
            Some((Kind::String, "x"))
        );
        assert_eq!(
            get(&[key("a"), key("b"), Step::Index(1)]),
            Some((Kind::Number, "2"))
        );
        assert_eq!(get(&[key("k y")]), Some((Kind::Number, "2")));
        assert_eq!(get(&[key("a"), key("zz")]), None);
        assert_eq!(get(&[key("a2")]), Some((Kind::Null, "null")));
    }

    #[test]
    fn unescapes_like_json() {
        assert_eq!(
            unescape(r#"a\"b\\c\n\u00e9\ud83d\ude00"#).as_deref(),
            Some("a\"b\\c\né😀")
        );
        assert_eq!(unescape(r#"bad\q"#), None);
    }
}
