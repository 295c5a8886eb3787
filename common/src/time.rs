//! Wall-clock time in the unit every Cairn timestamp uses: milliseconds
//! since the Unix epoch.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch now (0 if the clock is before it).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Nanoseconds since the Unix epoch now (log timestamps; 0 if the clock is
/// before the epoch).
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// (year, month 1–12, day 1–31) of Unix seconds in UTC, proleptic
/// Gregorian calendar (Howard Hinnant's algorithm).
pub fn civil(secs: i64) -> (i64, i64, i64) {
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Nanoseconds since the epoch as Go's `time.Time` marshals to JSON (RFC
/// 3339 in UTC, fraction without trailing zeros), e.g.
/// `2023-10-26T09:39:37.911Z`; 0 is written as Go's zero time
/// `0001-01-01T00:00:00Z`, as Prometheus shows "never".
pub fn rfc3339_nanos(ns: i64) -> String {
    if ns == 0 {
        return "0001-01-01T00:00:00Z".to_string();
    }
    let (date, clock, frac) = split_time(ns);
    format!("{date}T{clock}{frac}Z")
}

/// Nanoseconds since the epoch as Go's `time.Time.String()` in UTC, e.g.
/// `2023-10-26 09:39:37.911 +0000 UTC` (Prometheus's `humanizeTimestamp`).
pub fn go_time_string(ns: i64) -> String {
    let (date, clock, frac) = split_time(ns);
    format!("{date} {clock}{frac} +0000 UTC")
}

/// (`YYYY-MM-DD`, `hh:mm:ss`, `.fraction` or empty) of `ns` in UTC.
fn split_time(ns: i64) -> (String, String, String) {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    let (y, m, d) = civil(secs);
    let day = secs.rem_euclid(86_400);
    let frac = if nanos == 0 {
        String::new()
    } else {
        format!(".{nanos:09}").trim_end_matches('0').to_string()
    };
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!("{:02}:{:02}:{:02}", day / 3600, day / 60 % 60, day % 60),
        frac,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        assert_eq!(
            rfc3339_nanos(1_698_313_177_911_000_000),
            "2023-10-26T09:39:37.911Z"
        );
        assert_eq!(rfc3339_nanos(0), "0001-01-01T00:00:00Z");
        assert_eq!(
            go_time_string(1_698_313_177_000_000_000),
            "2023-10-26 09:39:37 +0000 UTC"
        );
        assert_eq!(civil(951_782_400), (2000, 2, 29));
    }
}
