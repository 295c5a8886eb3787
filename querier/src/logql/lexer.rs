//! LogQL tokens with their positions, for the parser and its error messages.

use super::error::ParseError;

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    /// A duration literal (`5m`, `1h30m`), nanoseconds, with its text.
    Duration(i64, String),
    /// A byte-size literal (`20MB`, `1KiB`), with its text.
    Bytes(u64, String),
    /// `--strict`, `--keep-empty`.
    Flag(String),
    LBrace,
    RBrace,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Eq,
    Neq,
    Re,
    NotRe,
    PipeExact,
    PipeMatch,
    PipePattern,
    NotPattern,
    Pipe,
    Gt,
    Ge,
    Lt,
    Le,
    EqEq,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eof,
}

impl Tok {
    /// How an error message names the token.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("IDENTIFIER {s}"),
            Tok::Str(s) => format!("STRING {s:?}"),
            Tok::Num(n) => format!("NUMBER {n}"),
            Tok::Duration(_, s) => format!("DURATION {s}"),
            Tok::Bytes(_, s) => format!("BYTES {s}"),
            Tok::Flag(s) => format!("FLAG --{s}"),
            Tok::Eof => "end of input".into(),
            other => format!("{:?}", other.symbol()),
        }
    }

    fn symbol(&self) -> &'static str {
        match self {
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::Comma => ",",
            Tok::Eq => "=",
            Tok::Neq => "!=",
            Tok::Re => "=~",
            Tok::NotRe => "!~",
            Tok::PipeExact => "|=",
            Tok::PipeMatch => "|~",
            Tok::PipePattern => "|>",
            Tok::NotPattern => "!>",
            Tok::Pipe => "|",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::EqEq => "==",
            Tok::Add => "+",
            Tok::Sub => "-",
            Tok::Mul => "*",
            Tok::Div => "/",
            Tok::Mod => "%",
            Tok::Pow => "^",
            _ => "",
        }
    }
}

/// A token and where it starts (1-based line and column).
#[derive(Debug, Clone)]
pub(crate) struct Spanned {
    /// The token.
    pub tok: Tok,
    /// 1-based line of its first character.
    pub line: usize,
    /// 1-based column of its first character.
    pub col: usize,
}

/// Splits `input` into tokens, ending with [`Tok::Eof`].
pub(crate) fn lex(input: &str) -> Result<Vec<Spanned>, ParseError> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1usize, 1usize);
    while i < chars.len() {
        let c = chars[i];
        let (start_line, start_col) = (line, col);
        let err = |msg: String| ParseError::new(start_line, start_col, msg);
        if c == '\n' {
            i += 1;
            line += 1;
            col = 1;
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            col += 1;
            continue;
        }
        if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        let next = chars.get(i + 1).copied();
        let (tok, len) = match c {
            '{' => (Tok::LBrace, 1),
            '}' => (Tok::RBrace, 1),
            '(' => (Tok::LParen, 1),
            ')' => (Tok::RParen, 1),
            '[' => (Tok::LBracket, 1),
            ']' => (Tok::RBracket, 1),
            ',' => (Tok::Comma, 1),
            '+' => (Tok::Add, 1),
            '*' => (Tok::Mul, 1),
            '/' => (Tok::Div, 1),
            '%' => (Tok::Mod, 1),
            '^' => (Tok::Pow, 1),
            '=' => match next {
                Some('~') => (Tok::Re, 2),
                Some('=') => (Tok::EqEq, 2),
                _ => (Tok::Eq, 1),
            },
            '!' => match next {
                Some('=') => (Tok::Neq, 2),
                Some('~') => (Tok::NotRe, 2),
                Some('>') => (Tok::NotPattern, 2),
                _ => return Err(err("syntax error: unexpected character '!'".into())),
            },
            '|' => match next {
                Some('=') => (Tok::PipeExact, 2),
                Some('~') => (Tok::PipeMatch, 2),
                Some('>') => (Tok::PipePattern, 2),
                _ => (Tok::Pipe, 1),
            },
            '>' => match next {
                Some('=') => (Tok::Ge, 2),
                _ => (Tok::Gt, 1),
            },
            '<' => match next {
                Some('=') => (Tok::Le, 2),
                _ => (Tok::Lt, 1),
            },
            '-' if next == Some('-') => {
                let start = i + 2;
                let mut j = start;
                while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '-') {
                    j += 1;
                }
                let flag: String = chars[start..j].iter().collect();
                (Tok::Flag(flag), j - i)
            }
            '-' => (Tok::Sub, 1),
            '"' | '`' => {
                let (s, len) = string(&chars[i..]).map_err(err)?;
                (Tok::Str(s), len)
            }
            c if c.is_ascii_digit() || (c == '.' && next.is_some_and(|n| n.is_ascii_digit())) => {
                let mut j = i;
                while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '.') {
                    j += 1;
                }
                let text: String = chars[i..j].iter().collect();
                (number(&text).map_err(err)?, j - i)
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut j = i;
                while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                (Tok::Ident(chars[i..j].iter().collect()), j - i)
            }
            other => {
                return Err(err(format!("syntax error: unexpected character {other:?}")));
            }
        };
        // Strings may span lines; keep positions right after them.
        for &ch in &chars[i..i + len] {
            if ch == '\n' {
                line += 1;
                col = 1;
            } else {
                col += 1;
            }
        }
        i += len;
        out.push(Spanned {
            tok,
            line: start_line,
            col: start_col,
        });
    }
    out.push(Spanned {
        tok: Tok::Eof,
        line,
        col,
    });
    Ok(out)
}

/// A quoted string at the start of `chars` and how many chars it used.
fn string(chars: &[char]) -> Result<(String, usize), String> {
    let quote = chars.first().copied().unwrap_or('"');
    let mut out = String::new();
    let mut i = 1;
    while let Some(&c) = chars.get(i) {
        if c == quote {
            return Ok((out, i + 1));
        }
        if c == '\\' && quote == '"' {
            let esc = chars.get(i + 1).copied().ok_or("unterminated escape")?;
            i += 2;
            match esc {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'a' => out.push('\x07'),
                'b' => out.push('\x08'),
                'f' => out.push('\x0c'),
                'v' => out.push('\x0b'),
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                '\'' => out.push('\''),
                'x' | 'u' | 'U' => {
                    let n = match esc {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    let hex: String = chars.get(i..i + n).ok_or("bad escape")?.iter().collect();
                    let v = u32::from_str_radix(&hex, 16).map_err(|_| "bad escape")?;
                    out.push(char::from_u32(v).ok_or("bad escape")?);
                    i += n;
                }
                other => return Err(format!("invalid escape sequence \\{other}")),
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    Err("unterminated string".into())
}

/// A number, duration or byte-size literal.
fn number(text: &str) -> Result<Tok, String> {
    if let Ok(v) = text.parse::<f64>() {
        return Ok(Tok::Num(v));
    }
    if text.starts_with("0x")
        && let Ok(v) = i64::from_str_radix(&text[2..], 16)
    {
        return Ok(Tok::Num(v as f64));
    }
    if let Some(ns) = parse_go_duration(text) {
        return Ok(Tok::Duration(ns, text.to_string()));
    }
    if let Some(b) = parse_bytes(text) {
        return Ok(Tok::Bytes(b, text.to_string()));
    }
    Err(format!(
        "syntax error: invalid number, duration or size {text:?}"
    ))
}

/// A Go or Prometheus duration (`1h30m`, `1.5s`, `250ms`, `2d`), nanoseconds.
pub fn parse_go_duration(text: &str) -> Option<i64> {
    let (neg, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text),
    };
    if rest.is_empty() {
        return None;
    }
    if rest == "0" {
        return Some(0);
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "d" => 86_400e9,
            "w" => 604_800e9,
            "y" => 31_536_000e9,
            _ => return None,
        };
        rest = &rest[u..];
        total += value * unit;
    }
    if total > i64::MAX as f64 {
        return None;
    }
    let ns = total.round() as i64;
    Some(if neg { -ns } else { ns })
}

/// A human byte size (`20MB`, `1.5KiB`, `42B`), as go-humanize reads it.
pub fn parse_bytes(text: &str) -> Option<u64> {
    let t = text.trim();
    let n = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let value: f64 = t[..n].parse().ok()?;
    let unit = t[n..].trim().to_ascii_lowercase();
    let mult: f64 = match unit.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "ki" | "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mi" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gi" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" => 1e12,
        "ti" | "tib" => 1024f64.powi(4),
        "p" | "pb" => 1e15,
        "pi" | "pib" => 1024f64.powi(5),
        _ => return None,
    };
    let v = value * mult;
    (v.is_finite() && v < u64::MAX as f64).then_some(v as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_go_duration("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_go_duration("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_go_duration("250ms"), Some(250_000_000));
        assert_eq!(parse_go_duration("-2m"), Some(-120_000_000_000));
        assert_eq!(parse_go_duration("5x"), None);
        assert_eq!(parse_bytes("20MB"), Some(20_000_000));
        assert_eq!(parse_bytes("1KiB"), Some(1024));
        assert_eq!(parse_bytes("1.5 kb"), Some(1500));
        assert_eq!(parse_bytes("12"), Some(12));
        assert_eq!(parse_bytes("3 parsecs"), None);
    }

    #[test]
    fn numbers_durations_and_sizes_are_told_apart() {
        let toks: Vec<Tok> = lex("5 5m 5MB 1e3 0x10")
            .unwrap()
            .into_iter()
            .map(|s| s.tok)
            .collect();
        assert_eq!(
            toks,
            vec![
                Tok::Num(5.0),
                Tok::Duration(300_000_000_000, "5m".into()),
                Tok::Bytes(5_000_000, "5MB".into()),
                Tok::Num(1000.0),
                Tok::Num(16.0),
                Tok::Eof
            ]
        );
        assert!(lex("5zz").is_err());
        assert!(lex("\"open").is_err());
    }
}
