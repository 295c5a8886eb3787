//! Tempo's pre-TraceQL search: `tags=k1=v1 k2="v 2"` (logfmt), every pair
//! matched by some span of the trace, turned into an equivalent query.

use super::ParseError;
use super::ast::{Query, STATUSES};
use super::parser::parse;

/// Splits logfmt `k=v k2="quoted v"` into pairs.
fn logfmt(src: &str) -> Result<Vec<(String, String)>, ParseError> {
    let mut pairs = Vec::new();
    let mut rest = src.trim_start();
    while !rest.is_empty() {
        let offset = src.len() - rest.len();
        let eq = rest
            .find('=')
            .ok_or_else(|| ParseError::at(offset, "expected key=value"))?;
        let key = rest[..eq].trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(ParseError::at(offset, "expected key=value"));
        }
        rest = &rest[eq + 1..];
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted
                .find('"')
                .ok_or_else(|| ParseError::at(offset, "unterminated quoted value"))?;
            rest = &quoted[end + 1..];
            quoted[..end].to_string()
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let v = rest[..end].to_string();
            rest = &rest[end..];
            v
        };
        pairs.push((key.to_string(), value));
        rest = rest.trim_start();
    }
    Ok(pairs)
}

/// The query equivalent to a `tags` search (`{ }` when there are none).
pub fn tags_query(tags: &str) -> Result<Query, ParseError> {
    let filters = logfmt(tags)?
        .into_iter()
        .map(|(k, v)| {
            let quoted = format!("{v:?}");
            let cond = match k.as_str() {
                "name" => format!("name = {quoted}"),
                "status.code" => {
                    let code = v.to_ascii_lowercase();
                    if !STATUSES.iter().any(|(n, _)| *n == code) {
                        return Err(ParseError::at(0, format!("unknown status.code {v:?}")));
                    }
                    format!("status = {code}")
                }
                _ => {
                    let attr = format!(".{k:?}");
                    let typed = match (v.parse::<i64>(), v.parse::<bool>()) {
                        (Ok(n), _) => format!(" || {attr} = {n}"),
                        (_, Ok(b)) => format!(" || {attr} = {b}"),
                        _ => String::new(),
                    };
                    format!("{attr} = {quoted}{typed}")
                }
            };
            Ok(format!("{{ {cond} }}"))
        })
        .collect::<Result<Vec<_>, ParseError>>()?;
    if filters.is_empty() {
        return parse("{ }");
    }
    parse(&filters.join(" && "))
}
