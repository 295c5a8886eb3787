//! Request parameters as Prometheus reads them: from the URL query and, for
//! POST, a form body; times as RFC3339 or float Unix seconds; durations as
//! float seconds or Prometheus duration strings (`5m`, `1h30m`).

use std::time::Duration;

use common::labels::METRIC_NAME;
use common::series::{MatchOp, Matcher};
use promql_parser::parser::{Expr, VectorSelector};

use super::error::ApiError;
use crate::promql::dates::days_from_civil;

/// Earliest and latest times a metadata request covers when none is given.
pub(crate) const MIN_TIME: i64 = i64::MIN / 2;
pub(crate) const MAX_TIME: i64 = i64::MAX / 2;

/// Decoded `name=value` pairs, in request order (query string first).
#[derive(Debug, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// Parses `application/x-www-form-urlencoded` text and appends it.
    pub(crate) fn extend_from_urlencoded(&mut self, text: &str) {
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            self.0.push((percent_decode(k), percent_decode(v)));
        }
    }

    /// The first value of `name`, if present and non-empty.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name` (for repeated `match[]`).
    pub(crate) fn get_all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The required parameter `name`.
    pub(crate) fn require(&self, name: &'static str) -> Result<&str, ApiError> {
        self.get(name).ok_or_else(|| ApiError::BadParam {
            name,
            reason: "parameter is missing".into(),
        })
    }

    /// A time parameter in ms, or `default` when absent.
    pub(crate) fn time_or(&self, name: &'static str, default: i64) -> Result<i64, ApiError> {
        match self.get(name) {
            None => Ok(default),
            Some(s) => parse_time(s).ok_or_else(|| ApiError::BadParam {
                name,
                reason: format!("cannot parse {s:?} to a valid timestamp"),
            }),
        }
    }

    /// A required time parameter in ms.
    pub(crate) fn time(&self, name: &'static str) -> Result<i64, ApiError> {
        let s = self.get(name).unwrap_or("");
        parse_time(s).ok_or_else(|| ApiError::BadParam {
            name,
            reason: format!("cannot parse {s:?} to a valid timestamp"),
        })
    }

    /// A duration parameter, if present.
    pub(crate) fn duration(&self, name: &'static str) -> Result<Option<Duration>, ApiError> {
        self.get(name)
            .map(|s| {
                parse_duration(s).ok_or_else(|| ApiError::BadParam {
                    name,
                    reason: format!("cannot parse {s:?} to a valid duration"),
                })
            })
            .transpose()
    }

    /// The matcher sets of every `match[]` selector.
    pub(crate) fn match_sets(&self) -> Result<Vec<Vec<Matcher>>, ApiError> {
        let mut sets = Vec::new();
        for m in self.get_all("match[]") {
            let bad = |reason: String| ApiError::BadParam {
                name: "match[]",
                reason,
            };
            let parsed = crate::promql::parse(m).map_err(|e| bad(e.to_string()))?;
            let Expr::VectorSelector(vs) = parsed else {
                return Err(bad(format!("{m:?} is not a series selector")));
            };
            sets.extend(matcher_sets(&vs));
        }
        // Prometheus refuses selectors that would match every series.
        if sets.iter().any(|set| set.iter().all(|m| m.is_match(""))) {
            return Err(ApiError::BadParam {
                name: "match[]",
                reason: "match[] must contain at least one non-empty matcher".into(),
            });
        }
        Ok(sets)
    }

    /// The `limit` of `/series`, `/labels` and `/label/…/values`: `None`
    /// when absent or 0 (no limit), an error when negative or not a number.
    pub(crate) fn result_limit(&self) -> Result<Option<usize>, ApiError> {
        let Some(s) = self.get("limit") else {
            return Ok(None);
        };
        let n: i64 = s.parse().map_err(|_| ApiError::BadParam {
            name: "limit",
            reason: format!("cannot parse {s:?} to a valid limit"),
        })?;
        match usize::try_from(n) {
            Ok(0) => Ok(None),
            Ok(n) => Ok(Some(n)),
            Err(_) => Err(ApiError::BadParam {
                name: "limit",
                reason: "limit must be non-negative".into(),
            }),
        }
    }

    /// A `/metadata` count limit (`limit`, `limit_per_metric`): `None` when
    /// absent or negative (Prometheus's "no limit"), an error when not a
    /// number.
    pub(crate) fn metadata_limit(&self, name: &'static str) -> Result<Option<usize>, ApiError> {
        let Some(s) = self.get(name) else {
            return Ok(None);
        };
        let n: i64 = s.parse().map_err(|_| ApiError::BadParam {
            name,
            reason: format!("{name} must be a number"),
        })?;
        Ok(usize::try_from(n).ok())
    }
}

/// A vector selector's conjunctions of matchers (one per `or` alternative),
/// its metric name included as an `__name__` matcher.
pub(crate) fn matcher_sets(vs: &VectorSelector) -> Vec<Vec<Matcher>> {
    let name = vs
        .name
        .as_ref()
        .map(|n| Matcher::new(MatchOp::Equal, METRIC_NAME, n));
    if vs.matchers.or_matchers.is_empty() {
        vec![vs.matchers.matchers.iter().cloned().chain(name).collect()]
    } else {
        vs.matchers
            .or_matchers
            .iter()
            .map(|g| g.iter().cloned().chain(name.clone()).collect())
            .collect()
    }
}

/// Form/query decoding: `%XX` escapes and `+` for a space; an invalid
/// escape is kept as written. Also LogQL's `urldecode` template function.
pub(crate) fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// RFC3339 (`2023-11-14T22:13:20.123Z`) or float Unix seconds, to ms.
pub(crate) fn parse_time(s: &str) -> Option<i64> {
    if let Ok(secs) = s.parse::<f64>() {
        // Beyond ±2^53 ms the conversion loses meaning; Prometheus's own
        // range (years ±292M) fits comfortably inside.
        if !secs.is_finite() || secs.abs() > 9.0e12 {
            return None;
        }
        let whole = secs.trunc();
        return Some(whole as i64 * 1000 + ((secs - whole) * 1000.0).round() as i64);
    }
    parse_rfc3339(s)
}

fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d, h, mi, sec) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut ms = 0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let frac = s.get(start..i).filter(|f| !f.is_empty())?;
        ms = format!("{frac:0<3}")[..3].parse::<i64>().ok()?;
    }
    let offset_min = match s.get(i..)? {
        "Z" | "z" => 0,
        tz if tz.len() == 6
            && (tz.starts_with('+') || tz.starts_with('-'))
            && tz.as_bytes()[3] == b':' =>
        {
            let m = num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?;
            if tz.starts_with('-') { -m } else { m }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    Some(((days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60) * 1000) + ms)
}

/// Float seconds (`30`, `1.5`) or a Prometheus duration (`5m`, `1h30m`, `2d`).
pub(crate) fn parse_duration(s: &str) -> Option<Duration> {
    if let Ok(secs) = s.parse::<f64>() {
        return (secs.is_finite() && (0.0..9.2e9).contains(&secs))
            .then(|| Duration::from_secs_f64(secs));
    }
    const UNITS: [(&str, u64); 7] = [
        ("y", 31_536_000_000),
        ("w", 604_800_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ];
    let mut rest = s;
    let mut total: u64 = 0;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..letters];
        rest = &rest[letters..];
        let idx = UNITS.iter().position(|(u, _)| *u == unit)?;
        if idx < next_unit {
            return None;
        }
        next_unit = idx + 1;
        total = total.checked_add(n.checked_mul(UNITS[idx].1)?)?;
    }
    (!s.is_empty()).then(|| Duration::from_millis(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_both_spellings() {
        assert_eq!(parse_time("1700000000.123"), Some(1_700_000_000_123));
        assert_eq!(
            parse_time("2023-11-14T22:13:20.123Z"),
            Some(1_700_000_000_123)
        );
        assert_eq!(
            parse_time("2023-11-14T23:13:20+01:00"),
            Some(1_700_000_000_000)
        );
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("NaN"), None);
    }

    #[test]
    fn durations_in_both_spellings() {
        assert_eq!(parse_duration("15"), Some(Duration::from_secs(15)));
        assert_eq!(parse_duration("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("30m1h"), None);
        assert_eq!(parse_duration("-1"), None);
    }

    #[test]
    fn form_decoding_handles_repeats_and_escapes() {
        let mut p = Params::default();
        p.extend_from_urlencoded("match%5B%5D=up&match[]=a%7Bb%3D%22c%22%7D&query=1+%2B+1");
        assert_eq!(p.get_all("match[]"), vec!["up", "a{b=\"c\"}"]);
        assert_eq!(p.get("query"), Some("1 + 1"));
    }

    #[test]
    fn match_sets_need_a_non_empty_matcher() {
        let mut p = Params::default();
        p.extend_from_urlencoded("match[]=%7Bjob%3D~%22.*%22%7D");
        assert!(p.match_sets().is_err());
        let mut p = Params::default();
        p.extend_from_urlencoded("match[]=%7Bjob%3D~%22.%2B%22%7D");
        assert_eq!(p.match_sets().unwrap().len(), 1);
    }
}
