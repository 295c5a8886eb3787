//! Calendar functions (`year`, `month`, `day_of_week`, …) over Unix
//! seconds in UTC, using the proleptic Gregorian calendar.

use common::time::civil;

/// The function computing a calendar field from Unix seconds, by PromQL name.
pub(crate) fn function(name: &str) -> Option<fn(i64) -> f64> {
    Some(match name {
        "year" => |s| civil(s).0 as f64,
        "month" => |s| civil(s).1 as f64,
        "day_of_month" => |s| civil(s).2 as f64,
        "day_of_week" => |s| (days(s) + 4).rem_euclid(7) as f64,
        "day_of_year" => |s| {
            let (y, _, _) = civil(s);
            (days(s) - days_from_civil(y, 1, 1) + 1) as f64
        },
        "days_in_month" => |s| {
            let (y, m, _) = civil(s);
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            (days_from_civil(ny, nm, 1) - days_from_civil(y, m, 1)) as f64
        },
        "hour" => |s| s.rem_euclid(86_400).div_euclid(3600) as f64,
        "minute" => |s| s.rem_euclid(3600).div_euclid(60) as f64,
        _ => return None,
    })
}

fn days(secs: i64) -> i64 {
    secs.div_euclid(86_400)
}

pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_fields_of_a_known_instant() {
        // 2024-02-29T13:45:00Z, a Thursday.
        let s = 1_709_214_300;
        let f = |n: &str| function(n).unwrap()(s);
        assert_eq!(
            (f("year"), f("month"), f("day_of_month")),
            (2024.0, 2.0, 29.0)
        );
        assert_eq!(
            (f("hour"), f("minute"), f("day_of_week")),
            (13.0, 45.0, 4.0)
        );
        assert_eq!((f("day_of_year"), f("days_in_month")), (60.0, 29.0));
    }
}
