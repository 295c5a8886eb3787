//! Loki's request parameters: timestamps as Unix nanoseconds, seconds
//! (`1700000000` or `1700000000.5`) or RFC3339; `since`, `step` and
//! `interval` as durations or float seconds; `limit` and `direction`.

use common::logs::Direction;
use common::time::now_ms;

use super::error::LokiError;
use crate::api::params::{Params, parse_duration, parse_time};

/// The range a query or metadata request covers when it names none.
pub(crate) const DEFAULT_SINCE_NS: i64 = 3_600_000_000_000;

/// Now, in nanoseconds.
pub(crate) fn now_ns() -> i64 {
    now_ms().saturating_mul(1_000_000)
}

/// A Loki timestamp: a value with a `.` is float seconds, an integer of up
/// to 10 digits is seconds and a longer one nanoseconds, anything else
/// RFC3339.
pub(crate) fn parse_loki_time(s: &str) -> Option<i64> {
    if s.contains('.')
        && let Ok(f) = s.parse::<f64>()
    {
        if !f.is_finite() || f.abs() > 9.2e9 {
            return None;
        }
        let secs = f.trunc();
        let frac = ((f - secs) * 1000.0).round() / 1000.0;
        return Some(secs as i64 * 1_000_000_000 + (frac * 1e9) as i64);
    }
    if let Ok(n) = s.parse::<i64>() {
        let digits = s.trim_start_matches('-').len();
        return Some(if digits <= 10 {
            n.checked_mul(1_000_000_000)?
        } else {
            n
        });
    }
    parse_time(s).and_then(|ms| ms.checked_mul(1_000_000))
}

/// A duration parameter (`5m`, `30`, `1.5`), nanoseconds.
fn duration_ns(params: &Params, name: &'static str) -> Result<Option<i64>, LokiError> {
    params
        .get(name)
        .map(|s| {
            parse_duration(s)
                .and_then(|d| i64::try_from(d.as_nanos()).ok())
                .ok_or_else(|| {
                    LokiError::BadRequest(format!(
                        "invalid {name}: cannot parse {s:?} to a duration"
                    ))
                })
        })
        .transpose()
}

/// A time parameter in ns, or `default`.
pub(crate) fn time_or(params: &Params, name: &'static str, default: i64) -> Result<i64, LokiError> {
    match params.get(name) {
        None => Ok(default),
        Some(s) => parse_loki_time(s).ok_or_else(|| {
            LokiError::BadRequest(format!("invalid {name}: cannot parse {s:?} to a timestamp"))
        }),
    }
}

/// `start` and `end` of a range request: `end` defaults to now, `start`
/// to `end - since` (`since` defaulting to `default_since`).
pub(crate) fn range(params: &Params, default_since: i64) -> Result<(i64, i64), LokiError> {
    let end = time_or(params, "end", now_ns())?;
    let since = duration_ns(params, "since")?.unwrap_or(default_since);
    let start = time_or(params, "start", end.saturating_sub(since))?;
    if end < start {
        return Err(LokiError::BadRequest(
            "end timestamp must not be before or equal to start time".into(),
        ));
    }
    Ok((start, end))
}

/// `step` (or `interval`'s absence): Loki's default is the range / 250,
/// at least a second.
pub(crate) fn step(params: &Params, start: i64, end: i64) -> Result<i64, LokiError> {
    match duration_ns(params, "step")? {
        Some(s) if s <= 0 => Err(LokiError::BadRequest(
            "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
        )),
        Some(s) => Ok(s),
        None => Ok(((end - start) / 1_000_000_000 / 250).max(1) * 1_000_000_000),
    }
}

/// Most points one series of a range answer may have, as Loki allows.
pub(crate) const MAX_POINTS: i64 = 11_000;

/// [`step`], refused when `[start, end]` would span [`MAX_POINTS`] steps or
/// more.
pub(crate) fn bounded_step(params: &Params, start: i64, end: i64) -> Result<i64, LokiError> {
    let step = step(params, start, end)?;
    if end.saturating_sub(start) / step >= MAX_POINTS {
        return Err(LokiError::BadRequest(format!(
            "exceeded maximum resolution of {MAX_POINTS} points per timeseries. Try decreasing the query resolution (?step=XX)"
        )));
    }
    Ok(step)
}

/// `interval` of a log query (0 when absent).
pub(crate) fn interval(params: &Params) -> Result<i64, LokiError> {
    Ok(duration_ns(params, "interval")?.unwrap_or(0))
}

/// `limit` (default 100).
pub(crate) fn limit(params: &Params) -> Result<usize, LokiError> {
    let limit = match params.get("limit") {
        None => 100,
        Some(s) => s
            .parse::<usize>()
            .map_err(|_| LokiError::BadRequest(format!("invalid limit: cannot parse {s:?}")))?,
    };
    if limit == 0 {
        return Err(LokiError::BadRequest(
            "limit must be a positive value".into(),
        ));
    }
    Ok(limit)
}

/// `direction`: `forward` or `backward` (default).
pub(crate) fn direction(params: &Params) -> Result<Direction, LokiError> {
    match params
        .get("direction")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("backward") => Ok(Direction::Backward),
        Some("forward") => Ok(Direction::Forward),
        Some(other) => Err(LokiError::BadRequest(format!(
            "invalid direction {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_every_spelling() {
        assert_eq!(
            parse_loki_time("1700000000"),
            Some(1_700_000_000_000_000_000)
        );
        assert_eq!(
            parse_loki_time("1700000000.5"),
            Some(1_700_000_000_500_000_000)
        );
        assert_eq!(
            parse_loki_time("1700000000000000123"),
            Some(1_700_000_000_000_000_123)
        );
        assert_eq!(
            parse_loki_time("2023-11-14T22:13:20Z"),
            Some(1_700_000_000_000_000_000)
        );
        assert_eq!(parse_loki_time("soon"), None);
    }
}
