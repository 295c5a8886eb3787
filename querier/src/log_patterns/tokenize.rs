//! How a log line becomes the token sequence Drain clusters, and how a
//! template's tokens become a pattern string again — with Loki's pattern
//! ingester's conventions, so patterns read the same:
//!
//! - plain lines split at spaces, `=` and ASCII punctuation except
//!   `_ - . : /` (each such mark is a token of its own, so `a,b` is three
//!   tokens); the spacing is kept to write the pattern back;
//! - logfmt lines (every field `key=value`) are key and value tokens, with
//!   the values of time and trace ID keys replaced by the placeholder up
//!   front;
//! - JSON lines contribute only their message field (`log`, `message`,
//!   `msg`, `msg_`, `_msg` or `content`), tokenized as plain text, and
//!   read `<_>message<_>`; a JSON line without one is not clustered.
//!
//! A stream's format is guessed once, from its first line, as Loki does.

use crate::logql::logfmt;

/// The placeholder for a varying token, Loki's `<_>`.
pub(crate) const PLACEHOLDER: &str = "<_>";

/// Longest line tokenized (bytes); longer lines are not clustered.
const MAX_LINE_BYTES: usize = 3000;

/// JSON fields whose string value is the line's message (Loki's defaults).
const JSON_MESSAGE_FIELDS: [&str; 6] = ["log", "message", "msg", "msg_", "_msg", "content"];

/// A stream's line format, which decides how its lines are tokenized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineFormat {
    /// Free text.
    Plain,
    /// `key=value` fields only.
    Logfmt,
    /// A JSON object.
    Json,
}

impl LineFormat {
    /// Loki's guess from one line: `{…}` is JSON, space-separated
    /// `word=value` fields (values unquoted or `"quoted"`) are logfmt.
    pub(crate) fn guess(line: &str) -> Self {
        if line.len() >= 2 && line.starts_with('{') && line.ends_with('}') {
            LineFormat::Json
        } else if is_logfmt(line) {
            LineFormat::Logfmt
        } else {
            LineFormat::Plain
        }
    }
}

/// True when `line` is one or more `word=value` fields, single-space
/// separated, each value either `"…"` or a character other than `"` and
/// then non-spaces.
fn is_logfmt(line: &str) -> bool {
    let b = line.as_bytes();
    let mut i = 0;
    loop {
        let key_start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        if i == key_start || i >= b.len() || b[i] != b'=' {
            return false;
        }
        i += 1;
        match b.get(i) {
            None => return false,
            Some(b'"') => {
                // At least one character, then the next quote.
                let Some(close) = b
                    .get(i + 2..)
                    .and_then(|r| r.iter().position(|&c| c == b'"'))
                else {
                    return false;
                };
                i += 2 + close + 1;
            }
            Some(_) => {
                // Any first character (even a space), then non-spaces.
                i += 1;
                while i < b.len() && b[i] != b' ' {
                    i += 1;
                }
            }
        }
        match b.get(i) {
            None => return true,
            Some(b' ') if i + 1 < b.len() => i += 1,
            Some(_) => return false,
        }
    }
}

/// A line as tokens, with what is needed to write it back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Tokens {
    /// The tokens Drain compares position by position.
    pub(crate) tokens: Vec<String>,
    /// Spaces after each token (plain text only; empty otherwise).
    pub(crate) spaces_after: Vec<u32>,
}

impl Tokens {
    /// Sets token `n` (the tokens before it set already), reusing the
    /// buffer a previous line left there.
    fn put(&mut self, n: usize, tok: &str) {
        match self.tokens.get_mut(n) {
            Some(s) => {
                s.clear();
                s.push_str(tok);
            }
            None => self.tokens.push(tok.to_string()),
        }
        self.spaces_after.truncate(n);
        self.spaces_after.push(0);
    }
}

/// Tokenizes lines of one format and writes templates back as patterns.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tokenizer {
    format: LineFormat,
    /// Lines with more tokens than this are not clustered.
    max_tokens: usize,
}

impl Tokenizer {
    /// A tokenizer for `format` that gives up past `max_tokens` tokens, so
    /// the cost per line is bounded by that and [`MAX_LINE_BYTES`].
    pub(crate) fn new(format: LineFormat, max_tokens: usize) -> Self {
        Self { format, max_tokens }
    }

    /// Tokenizes `line` into `out` (reusing its buffers: no allocation per
    /// token once warm); false when the line is not clustered (too long,
    /// too many tokens, malformed logfmt, JSON without a message).
    pub(crate) fn tokenize_into(&self, line: &str, out: &mut Tokens) -> bool {
        if line.len() > MAX_LINE_BYTES {
            return false;
        }
        match self.format {
            LineFormat::Plain => self.plain(line, out),
            LineFormat::Logfmt => self.logfmt(line, out),
            LineFormat::Json => {
                let Ok(obj) =
                    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(line)
                else {
                    return false;
                };
                JSON_MESSAGE_FIELDS
                    .iter()
                    .find_map(|k| obj.get(*k).and_then(serde_json::Value::as_str))
                    .is_some_and(|msg| self.plain(msg, out))
            }
        }
    }

    /// Splits free text at spaces and punctuation.
    fn plain(&self, line: &str, out: &mut Tokens) -> bool {
        let mut n = 0;
        let mut start = 0;
        for (i, c) in line.char_indices() {
            let splits =
                c == ' ' || c == '=' || (c.is_ascii_punctuation() && !"_-.:/$+<>^`|~".contains(c));
            if !splits {
                continue;
            }
            if i > start {
                out.put(n, &line[start..i]);
                n += 1;
            }
            if c == ' ' {
                // Leading spaces are dropped, as in Loki.
                if let Some(k) = n
                    .checked_sub(1)
                    .and_then(|last| out.spaces_after.get_mut(last))
                {
                    *k += 1;
                }
            } else {
                out.put(n, &line[i..i + 1]);
                n += 1;
            }
            start = i + c.len_utf8();
            if n > self.max_tokens {
                return false;
            }
        }
        if start < line.len() {
            out.put(n, &line[start..]);
            n += 1;
        }
        out.tokens.truncate(n);
        out.spaces_after.truncate(n);
        n <= self.max_tokens
    }

    /// Key and value tokens of a logfmt line.
    fn logfmt(&self, line: &str, out: &mut Tokens) -> bool {
        let parsed = logfmt::parse(line, true);
        if parsed.error.is_some() {
            return false;
        }
        let pairs = parsed.pairs;
        if pairs.len() * 2 > self.max_tokens {
            return false;
        }
        out.tokens.clear();
        out.spaces_after.clear();
        for (k, v) in pairs {
            let varies = ["ts", "time", "timestamp", "traceid"]
                .iter()
                .any(|t| k.eq_ignore_ascii_case(t))
                || k == "t";
            out.tokens.push(k);
            out.tokens
                .push(if varies { PLACEHOLDER.to_string() } else { v });
        }
        true
    }

    /// The pattern a template reads as, runs of placeholders merged.
    pub(crate) fn join(&self, t: &Tokens) -> String {
        let s = match self.format {
            LineFormat::Plain => join_plain(t),
            LineFormat::Json => format!("{PLACEHOLDER}{}{PLACEHOLDER}", join_plain(t)),
            LineFormat::Logfmt => {
                let fields: Vec<String> = t
                    .tokens
                    .chunks(2)
                    .map(|kv| {
                        let v = kv.get(1).map_or("", String::as_str);
                        format!("{}={}", kv[0], logfmt_value(v))
                    })
                    .collect();
                fields.join(" ")
            }
        };
        merge_placeholder_runs(&s)
    }
}

/// Plain tokens with their spacing.
fn join_plain(t: &Tokens) -> String {
    let mut s = String::new();
    for (tok, spaces) in t.tokens.iter().zip(&t.spaces_after) {
        s.push_str(tok);
        s.extend(std::iter::repeat_n(' ', *spaces as usize));
    }
    s
}

/// A logfmt value, quoted when it holds a space, `=`, `"` or a control
/// character.
fn logfmt_value(v: &str) -> String {
    if v.chars().any(|c| c <= ' ' || c == '=' || c == '"') {
        format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        v.to_string()
    }
}

/// `<_><_>…` read as one `<_>`.
fn merge_placeholder_runs(s: &str) -> String {
    let double = format!("{PLACEHOLDER}{PLACEHOLDER}");
    let mut out = s.to_string();
    while out.contains(&double) {
        out = out.replace(&double, PLACEHOLDER);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokenize(tk: &Tokenizer, line: &str) -> Option<Tokens> {
        let mut t = Tokens::default();
        tk.tokenize_into(line, &mut t).then_some(t)
    }

    fn plain(line: &str) -> Vec<String> {
        tokenize(&Tokenizer::new(LineFormat::Plain, 80), line)
            .unwrap()
            .tokens
    }

    #[test]
    fn formats_are_guessed_from_a_line() {
        assert_eq!(LineFormat::guess(r#"{"msg":"hi"}"#), LineFormat::Json);
        assert_eq!(
            LineFormat::guess(r#"level=info msg="user logged in" took=3ms"#),
            LineFormat::Logfmt
        );
        for line in ["GET /api 200", "a=1  b=2", "a=1 b", "=1", "a=\"\""] {
            assert_eq!(LineFormat::guess(line), LineFormat::Plain, "{line}");
        }
    }

    #[test]
    fn plain_lines_split_at_spaces_and_punctuation() {
        assert_eq!(
            plain("user 42 logged in from 10.0.0.1, took=3ms"),
            [
                "user", "42", "logged", "in", "from", "10.0.0.1", ",", "took", "=", "3ms"
            ]
        );
        assert_eq!(
            plain("GET /api/users/7 (ok)"),
            ["GET", "/api/users/7", "(", "ok", ")"]
        );
    }

    #[test]
    fn patterns_keep_the_spacing_and_merge_placeholder_runs() {
        let tk = Tokenizer::new(LineFormat::Plain, 80);
        let mut t = tokenize(&tk, "  took  3 ms,then").unwrap();
        assert_eq!(tk.join(&t), "took  3 ms,then");
        t.tokens[1] = PLACEHOLDER.into();
        t.spaces_after[1] = 0;
        t.tokens[2] = PLACEHOLDER.into();
        assert_eq!(tk.join(&t), "took  <_>,then");
    }

    #[test]
    fn logfmt_lines_are_fields_with_times_as_placeholders() {
        let tk = Tokenizer::new(LineFormat::Logfmt, 80);
        let t = tokenize(&tk, r#"ts=2024-01-01T00:00:00Z level=info msg="a b""#).unwrap();
        assert_eq!(t.tokens, ["ts", "<_>", "level", "info", "msg", "a b"]);
        assert_eq!(tk.join(&t), r#"ts=<_> level=info msg="a b""#);
        assert!(tokenize(&tk, r#"a="unterminated"#).is_none());
    }

    #[test]
    fn json_lines_cluster_on_their_message() {
        let tk = Tokenizer::new(LineFormat::Json, 80);
        let t = tokenize(&tk, r#"{"level":"info","msg":"user 42 in"}"#).unwrap();
        assert_eq!(t.tokens, ["user", "42", "in"]);
        assert_eq!(tk.join(&t), "<_>user 42 in<_>");
        assert!(tokenize(&tk, r#"{"level":"info"}"#).is_none());
        assert!(tokenize(&tk, "{not json}").is_none());
    }

    #[test]
    fn long_lines_and_many_tokens_are_not_clustered() {
        let tk = Tokenizer::new(LineFormat::Plain, 80);
        assert!(tokenize(&tk, &"a ".repeat(81)).is_none());
        assert!(tokenize(&tk, &"a".repeat(MAX_LINE_BYTES + 1)).is_none());
        assert!(tokenize(&tk, &"a ".repeat(80)).is_some());
    }
}
