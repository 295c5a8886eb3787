//! The `logfmt` parser: `key=value`, `key="quoted \" value"` and
//! standalone `key` pairs.

/// The pairs of a logfmt line, and with `strict` the fault that stopped
/// reading it (the pairs before it are kept, as in Loki).
pub(crate) struct Parsed {
    /// The pairs in order (standalone keys with an empty value).
    pub(crate) pairs: Vec<(String, String)>,
    /// Loki's `__error_details__` text for the fault, with `strict`.
    pub(crate) error: Option<String>,
}

/// Reads `line`; malformed input is skipped, or with `strict` ends the
/// reading with an error.
pub(crate) fn parse(line: &str, strict: bool) -> Parsed {
    let mut out = Vec::new();
    let error = read(line, strict, &mut out).err();
    Parsed { pairs: out, error }
}

fn read(line: &str, strict: bool, out: &mut Vec<(String, String)>) -> Result<(), String> {
    let b = line.as_bytes();
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
                    "logfmt syntax error at pos {} : unexpected '{}'",
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
                        "logfmt syntax error at pos {} : unexpected '\"'",
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
                        "logfmt syntax error at pos {} : unterminated quoted value",
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
    Ok(())
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
        let got = parse(r#"level=info msg="hello \"x\" world" flag dur=1s"#, false).pairs;
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
    fn strict_stops_at_a_fault_and_keeps_what_came_before() {
        assert!(parse("a=1 =2", true).error.is_some());
        assert_eq!(parse("a=1 =2", false).pairs.len(), 1);
        // The pairs before the fault are kept, with Loki's text.
        let open = parse("b=1 a=\"open", true);
        assert_eq!(open.pairs, vec![("b".into(), "1".into())]);
        assert_eq!(
            open.error.as_deref(),
            Some("logfmt syntax error at pos 12 : unterminated quoted value")
        );
        let ok = parse("a=\"\\é ü\" b=2", true);
        assert_eq!(ok.error, None);
        assert_eq!(
            ok.pairs,
            vec![("a".into(), "é ü".into()), ("b".into(), "2".into())]
        );
    }
}
