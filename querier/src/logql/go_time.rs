//! Go's reference-time layouts (`2006-01-02T15:04:05Z07:00`), for the
//! `date`, `toDate` and `toDateInZone` template functions of LogQL's
//! `line_format` / `label_format`. A time is whole seconds since the epoch
//! and nanoseconds within the second, in UTC (Cairn has no time-zone
//! database: zone names other than UTC are refused); seconds reach Go's
//! zero time, year 1, which nanoseconds in an `i64` cannot.

use common::time::civil;

use crate::promql::dates::days_from_civil;

use super::tz::Zone;

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// One element of a layout.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Token {
    /// Text copied as is.
    Literal(usize),
    Year4,
    Year2,
    MonthName,
    MonthAbbr,
    Month2,
    Month,
    WeekdayName,
    WeekdayAbbr,
    Day2,
    DaySpace,
    Day,
    YearDay3,
    Hour24,
    Hour12Pad,
    Hour12,
    Minute2,
    Minute,
    Second2,
    Second,
    /// `PM` or `pm`.
    AmPm(bool),
    /// `MST`: a zone abbreviation (always `UTC` here).
    ZoneName,
    /// `Z07:00`, `-07:00`, `Z0700`, `-0700`, `-07`: (Z for UTC, colon, minutes).
    Offset(bool, bool, bool),
    /// `.000` (fixed digits) or `.999` (trailing zeros dropped), with the
    /// separator.
    Fraction(char, usize, bool),
}

/// The layout split into tokens, in Go's order of recognition.
fn tokens(layout: &str) -> Vec<(Token, &str)> {
    const TABLE: &[(&str, Token)] = &[
        ("January", Token::MonthName),
        ("Jan", Token::MonthAbbr),
        ("Monday", Token::WeekdayName),
        ("Mon", Token::WeekdayAbbr),
        ("MST", Token::ZoneName),
        ("2006", Token::Year4),
        ("002", Token::YearDay3),
        ("01", Token::Month2),
        ("02", Token::Day2),
        ("03", Token::Hour12Pad),
        ("04", Token::Minute2),
        ("05", Token::Second2),
        ("06", Token::Year2),
        ("_2", Token::DaySpace),
        ("15", Token::Hour24),
        ("1", Token::Month),
        ("2", Token::Day),
        ("3", Token::Hour12),
        ("4", Token::Minute),
        ("5", Token::Second),
        ("PM", Token::AmPm(true)),
        ("pm", Token::AmPm(false)),
        ("Z07:00", Token::Offset(true, true, true)),
        ("Z0700", Token::Offset(true, false, true)),
        ("Z07", Token::Offset(true, false, false)),
        ("-07:00", Token::Offset(false, true, true)),
        ("-0700", Token::Offset(false, false, true)),
        ("-07", Token::Offset(false, false, false)),
    ];
    let mut out = Vec::new();
    let mut rest = layout;
    let mut literal = 0;
    while literal < rest.len() {
        let here = &rest[literal..];
        let found = TABLE
            .iter()
            .find(|(text, _)| here.starts_with(text))
            .map(|&(text, t)| (t, text.len()))
            .or_else(|| fraction(here));
        match found {
            Some((t, len)) => {
                if literal > 0 {
                    out.push((Token::Literal(literal), &rest[..literal]));
                }
                out.push((t, &here[..len]));
                rest = &here[len..];
                literal = 0;
            }
            None => literal += here.chars().next().map_or(1, char::len_utf8),
        }
    }
    if !rest.is_empty() {
        out.push((Token::Literal(rest.len()), rest));
    }
    out
}

/// `.000…` or `.999…` (or with a comma) after seconds.
fn fraction(s: &str) -> Option<(Token, usize)> {
    let sep = s.chars().next().filter(|c| *c == '.' || *c == ',')?;
    let digit = s[1..].chars().next().filter(|c| *c == '0' || *c == '9')?;
    let n = s[1..].chars().take_while(|c| *c == digit).count();
    let next = s[1 + n..].chars().next();
    if next.is_some_and(|c| c.is_ascii_digit()) {
        return None;
    }
    Some((Token::Fraction(sep, n.min(9), digit == '9'), 1 + n))
}

/// A point in time: seconds since the epoch, nanoseconds within the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct GoTime {
    /// Seconds since the Unix epoch (negative before it).
    pub(crate) secs: i64,
    /// Nanoseconds within the second, 0…999,999,999.
    pub(crate) nanos: i64,
}

impl GoTime {
    /// Go's zero `time.Time` (0001-01-01 00:00:00 UTC): what `toDate`
    /// gives for text it cannot read.
    pub(crate) const ZERO: GoTime = GoTime {
        secs: -62_135_596_800,
        nanos: 0,
    };

    /// The time `ns` nanoseconds after the epoch.
    pub(crate) fn from_nanos(ns: i64) -> Self {
        GoTime {
            secs: ns.div_euclid(1_000_000_000),
            nanos: ns.rem_euclid(1_000_000_000),
        }
    }
}

/// `t` (UTC) written with Go `layout`.
pub(crate) fn format(layout: &str, t: GoTime) -> String {
    let GoTime { secs, nanos } = t;
    let (y, m, d) = civil(secs);
    let day_secs = secs.rem_euclid(86_400);
    let (hour, min, sec) = (day_secs / 3600, day_secs / 60 % 60, day_secs % 60);
    let weekday = (secs.div_euclid(86_400) + 4).rem_euclid(7) as usize;
    let yday = secs.div_euclid(86_400) - days_from_civil(y, 1, 1) + 1;
    let h12 = if hour % 12 == 0 { 12 } else { hour % 12 };
    let mut out = String::new();
    for (t, text) in tokens(layout) {
        let piece = match t {
            Token::Literal(_) => text.to_string(),
            Token::Year4 => format!("{y:04}"),
            Token::Year2 => format!("{:02}", y.rem_euclid(100)),
            Token::MonthName => MONTHS[(m - 1) as usize].to_string(),
            Token::MonthAbbr => MONTHS[(m - 1) as usize][..3].to_string(),
            Token::Month2 => format!("{m:02}"),
            Token::Month => m.to_string(),
            Token::WeekdayName => DAYS[weekday].to_string(),
            Token::WeekdayAbbr => DAYS[weekday][..3].to_string(),
            Token::Day2 => format!("{d:02}"),
            Token::DaySpace => format!("{d:>2}"),
            Token::Day => d.to_string(),
            Token::YearDay3 => format!("{yday:03}"),
            Token::Hour24 => format!("{hour:02}"),
            Token::Hour12Pad => format!("{h12:02}"),
            Token::Hour12 => h12.to_string(),
            Token::Minute2 => format!("{min:02}"),
            Token::Minute => min.to_string(),
            Token::Second2 => format!("{sec:02}"),
            Token::Second => sec.to_string(),
            Token::AmPm(upper) => match (hour >= 12, upper) {
                (true, true) => "PM",
                (false, true) => "AM",
                (true, false) => "pm",
                (false, false) => "am",
            }
            .to_string(),
            Token::ZoneName => "UTC".to_string(),
            Token::Offset(z, colon, minutes) => match (z, colon, minutes) {
                (true, ..) => "Z".to_string(),
                (false, true, _) => "+00:00".to_string(),
                (false, false, true) => "+0000".to_string(),
                (false, false, false) => "+00".to_string(),
            },
            Token::Fraction(sep, n, trim) => {
                let digits = format!("{nanos:09}");
                let digits = &digits[..n];
                let digits = if trim {
                    digits.trim_end_matches('0')
                } else {
                    digits
                };
                if digits.is_empty() {
                    String::new()
                } else {
                    format!("{sep}{digits}")
                }
            }
        };
        out.push_str(&piece);
    }
    out
}

/// `value` read with Go `layout`: at the offset the value names, else as a
/// wall-clock time in `zone` (UTC when `None`).
pub(crate) fn parse(layout: &str, value: &str, zone: Option<&Zone>) -> Result<GoTime, String> {
    let bad = || format!("parsing time {value:?} as {layout:?}");
    let (mut y, mut mo, mut d, mut h, mut mi, mut s, mut ns) = (1i64, 1i64, 1i64, 0, 0, 0, 0i64);
    let (mut pm, mut offset_secs) = (None, None::<i64>);
    let mut rest = value;
    let number = |rest: &mut &str, min: usize, max: usize| -> Result<i64, String> {
        let n = rest
            .chars()
            .take(max)
            .take_while(char::is_ascii_digit)
            .count();
        if n < min {
            return Err(bad());
        }
        let v = rest[..n].parse().map_err(|_| bad())?;
        *rest = &rest[n..];
        Ok(v)
    };
    let name = |rest: &mut &str, names: &[&str], abbr: bool| -> Result<i64, String> {
        let i = names
            .iter()
            .position(|n| rest.starts_with(if abbr { &n[..3] } else { n }))
            .ok_or_else(bad)?;
        *rest = &rest[if abbr { 3 } else { names[i].len() }..];
        Ok(i as i64)
    };
    for (t, text) in tokens(layout) {
        match t {
            Token::Literal(_) => rest = rest.strip_prefix(text).ok_or_else(bad)?,
            Token::Year4 => y = number(&mut rest, 4, 4)?,
            Token::Year2 => {
                let v = number(&mut rest, 2, 2)?;
                y = if v >= 69 { 1900 + v } else { 2000 + v };
            }
            Token::MonthName | Token::MonthAbbr => {
                mo = name(&mut rest, &MONTHS, t == Token::MonthAbbr)? + 1
            }
            Token::WeekdayName | Token::WeekdayAbbr => {
                name(&mut rest, &DAYS, t == Token::WeekdayAbbr)?;
            }
            Token::Month2 => mo = number(&mut rest, 2, 2)?,
            Token::Month => mo = number(&mut rest, 1, 2)?,
            Token::Day2 => d = number(&mut rest, 2, 2)?,
            Token::DaySpace => {
                rest = rest.strip_prefix(' ').unwrap_or(rest);
                d = number(&mut rest, 1, 2)?;
            }
            Token::Day => d = number(&mut rest, 1, 2)?,
            Token::YearDay3 => {
                number(&mut rest, 3, 3)?;
            }
            Token::Hour24 => h = number(&mut rest, 2, 2)?,
            Token::Hour12Pad => h = number(&mut rest, 2, 2)?,
            Token::Hour12 => h = number(&mut rest, 1, 2)?,
            Token::Minute2 => mi = number(&mut rest, 2, 2)?,
            Token::Minute => mi = number(&mut rest, 1, 2)?,
            Token::Second2 => s = number(&mut rest, 2, 2)?,
            Token::Second => s = number(&mut rest, 1, 2)?,
            Token::AmPm(_) => {
                let (word, tail) = rest.split_at_checked(2).ok_or_else(bad)?;
                pm = Some(match word.to_ascii_uppercase().as_str() {
                    "PM" => true,
                    "AM" => false,
                    _ => return Err(bad()),
                });
                rest = tail;
            }
            Token::ZoneName => {
                let n = rest.chars().take_while(char::is_ascii_uppercase).count();
                if !matches!(&rest[..n], "UTC" | "GMT" | "Z") {
                    return Err(format!(
                        "{}: time zone {:?} is not supported, only UTC",
                        bad(),
                        &rest[..n]
                    ));
                }
                rest = &rest[n..];
            }
            Token::Offset(z, colon, minutes) => {
                if z && let Some(tail) = rest.strip_prefix('Z') {
                    rest = tail;
                    offset_secs = Some(0);
                    continue;
                }
                let sign = match rest.chars().next() {
                    Some('+') => 1,
                    Some('-') => -1,
                    _ => return Err(bad()),
                };
                rest = &rest[1..];
                let hours = number(&mut rest, 2, 2)?;
                let mins = if minutes {
                    if colon {
                        rest = rest.strip_prefix(':').ok_or_else(bad)?;
                    }
                    number(&mut rest, 2, 2)?
                } else {
                    0
                };
                offset_secs = Some(sign * (hours * 3600 + mins * 60));
            }
            Token::Fraction(..) => {
                rest = rest.strip_prefix(['.', ',']).ok_or_else(bad)?;
                let n = rest.chars().take_while(char::is_ascii_digit).count();
                let digits = &rest[..n.min(9)];
                ns = format!("{digits:0<9}").parse().map_err(|_| bad())?;
                rest = &rest[n..];
            }
        }
    }
    if !rest.is_empty() {
        return Err(format!("{}: extra text {rest:?}", bad()));
    }
    match pm {
        Some(true) if h < 12 => h += 12,
        Some(false) if h == 12 => h = 0,
        _ => {}
    }
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return Err(format!("{}: value out of range", bad()));
    }
    let local = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s;
    let secs = match (offset_secs, zone) {
        (Some(offset), _) => local - offset,
        (None, Some(zone)) => zone.to_utc(local),
        (None, None) => local,
    };
    Ok(GoTime { secs, nanos: ns })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2023-11-14T22:13:20.123456789Z.
    const T: GoTime = GoTime {
        secs: 1_700_000_000,
        nanos: 123_456_789,
    };

    #[test]
    fn formats_like_go() {
        for (layout, want) in [
            ("2006-01-02T15:04:05Z07:00", "2023-11-14T22:13:20Z"),
            ("2006-01-02 15:04:05.000", "2023-11-14 22:13:20.123"),
            (".999999999", ".123456789"),
            ("Mon Jan _2 3:04PM MST 2006", "Tue Nov 14 10:13PM UTC 2023"),
            (
                "Monday, 02-January-06 -0700",
                "Tuesday, 14-November-23 +0000",
            ),
            ("002 1/2", "318 11/14"),
        ] {
            assert_eq!(format(layout, T), want, "{layout}");
        }
    }

    #[test]
    fn parses_what_it_formats_and_offsets() {
        for layout in [
            "2006-01-02T15:04:05.999999999Z07:00",
            "Jan 2 2006 03:04:05.000000000PM",
        ] {
            assert_eq!(parse(layout, &format(layout, T), None), Ok(T), "{layout}");
        }
        let plus_one = parse(
            "2006-01-02 15:04:05 -07:00",
            "2023-11-14 23:13:20 +01:00",
            None,
        );
        assert_eq!(plus_one, Ok(GoTime { nanos: 0, ..T }));
        let zero = "0001-01-01 00:00:00 +0000 UTC";
        assert_eq!(format("2006-01-02 15:04:05 -0700 MST", GoTime::ZERO), zero);
        assert!(parse("2006-01-02", "2023-13-01", None).is_err());
        assert!(parse("2006-01-02", "2023-01-01 extra", None).is_err());
        assert!(parse("MST", "CET", None).unwrap_err().contains("only UTC"));
    }
}
