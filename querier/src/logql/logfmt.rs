//! The `logfmt` parser: `key=value`, `key="quoted \" value"` and
//! standalone `key` pairs.

/// The pairs of `line` in order (standalone keys with an empty value).
/// Malformed input is skipped, or an error with `strict`.
pub(crate) fn parse(line: &str, strict: bool) -> Result<Vec<(String, String)>, String> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' && b[i] != b'"' {
            i += 1;
        }
        let key = &line[start..i];
        if key.is_empty() {
            if strict {
                return Err(format!(
                    "logfmt syntax error at pos {}: unexpected '{}'",
                    i + 1,
                    b[i] as char
                ));
            }
            // Skip the offending token.
            while i < b.len() && !b[i].is_ascii_whitespace() {
                i += 1;
            }
            continue;
        }
        if i >= b.len() || b[i] != b'=' {
            if i < b.len() && b[i] == b'"' {
                if strict {
                    return Err(format!(
                        "logfmt syntax error at pos {}: unexpected '\"'",
                        i + 1
                    ));
                }
                while i < b.len() && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
                continue;
            }
            out.push((key.to_string(), String::new()));
            continue;
        }
        i += 1;
        if i < b.len() && b[i] == b'"' {
            let (value, used) = quoted(&line[i + 1..]);
            i += 1 + used;
            let Some(value) = value else {
                if strict {
                    return Err(format!(
                        "logfmt syntax error at pos {}: unterminated quoted value",
                        i + 1
                    ));
                }
                continue;
            };
            out.push((key.to_string(), value));
        } else {
            let vstart = i;
            while i < b.len() && !b[i].is_ascii_whitespace() {
                i += 1;
            }
            out.push((key.to_string(), line[vstart..i].to_string()));
        }
    }
    Ok(out)
}

/// The value of a quoted string whose opening quote was just consumed, and
/// the bytes used (through the closing quote); `None` when unterminated.
fn quoted(rest: &str) -> (Option<String>, usize) {
    let mut value = String::new();
    let mut chars = rest.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return (Some(value), at + 1),
            '\\' => match chars.next() {
                Some((_, 'n')) => value.push('\n'),
                Some((_, 't')) => value.push('\t'),
                Some((_, 'r')) => value.push('\r'),
                Some((_, other)) => value.push(other),
                None => break,
            },
            c => value.push(c),
        }
    }
    (None, rest.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_quotes_and_standalone_keys() {
        let got = parse(r#"level=info msg="hello \"x\" world" flag dur=1s"#, false).unwrap();
        assert_eq!(
            got,
            vec![
                ("level".into(), "info".into()),
                ("msg".into(), "hello \"x\" world".into()),
                ("flag".into(), String::new()),
                ("dur".into(), "1s".into())
            ]
        );
    }

    #[test]
    fn strict_refuses_malformed() {
        assert!(parse("a=1 =2", true).is_err());
        assert_eq!(parse("a=1 =2", false).unwrap().len(), 1);
        assert!(parse("a=\"open", true).is_err());
        assert_eq!(
            parse("a=\"\\é ü\" b=2", true).unwrap(),
            vec![("a".into(), "é ü".into()), ("b".into(), "2".into())]
        );
    }
}
