//! Prometheus's template functions (`humanize*`, `printf`, `toUpper`, …,
//! `reReplaceAll`, `match`) and the comparison and logic built-ins of Go
//! templates, with Go's number formatting.

use super::Val;

const FUNCTIONS: &[&str] = &[
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "printf",
    "toUpper",
    "toLower",
    "title",
    "reReplaceAll",
    "match",
    "stripPort",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "and",
    "or",
    "not",
    "len",
    "query",
    "first",
    "value",
    "label",
];

/// True for a function templates may call.
pub(super) fn exists(name: &str) -> bool {
    FUNCTIONS.contains(&name)
}

fn arg<'a>(args: &'a [Val], i: usize, f: &str) -> Result<&'a Val, String> {
    args.get(i).ok_or_else(|| {
        format!(
            "wrong number of args for {f}: want {} got {}",
            i + 1,
            args.len()
        )
    })
}

/// Calls `name` with `args` (a piped value comes last).
pub(super) fn call(name: &str, args: &[Val]) -> Result<Val, String> {
    let num = |i: usize| arg(args, i, name).and_then(Val::number);
    let text = |i: usize| arg(args, i, name).map(Val::text);
    Ok(match name {
        "humanize" => Val::Str(humanize(num(0)?)),
        "humanize1024" => Val::Str(humanize1024(num(0)?)),
        "humanizeDuration" => Val::Str(humanize_duration(num(0)?)),
        "humanizePercentage" => Val::Str(format!("{}%", go_g_prec(num(0)? * 100.0, 4))),
        "humanizeTimestamp" => {
            let v = num(0)?;
            // Prometheus converts through model.Time: milliseconds.
            Val::Str(if v.is_finite() {
                common::time::go_time_string(((v * 1e9) as i64 / 1_000_000) * 1_000_000)
            } else {
                go_g_prec(v, 4)
            })
        }
        "printf" => Val::Str(printf(&text(0)?, args.get(1..).unwrap_or(&[]))),
        "toUpper" => Val::Str(text(0)?.to_uppercase()),
        "toLower" => Val::Str(text(0)?.to_lowercase()),
        "title" => Val::Str(title(&text(0)?)),
        "reReplaceAll" => {
            let re = regex::Regex::new(&text(0)?).map_err(|e| e.to_string())?;
            Val::Str(re.replace_all(&text(2)?, text(1)?.as_str()).into_owned())
        }
        "match" => {
            let re = regex::Regex::new(&text(0)?).map_err(|e| e.to_string())?;
            Val::Bool(re.is_match(&text(1)?))
        }
        "stripPort" => {
            let host = text(0)?;
            Val::Str(match host.rsplit_once(':') {
                Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']').to_string(),
                None => host,
            })
        }
        "eq" | "ne" => {
            let same = match (arg(args, 0, name)?, arg(args, 1, name)?) {
                (Val::Num(a), Val::Num(b)) => a == b,
                (a, b) => a.text() == b.text(),
            };
            Val::Bool(same == (name == "eq"))
        }
        "lt" | "le" | "gt" | "ge" => {
            let ord = match (arg(args, 0, name)?, arg(args, 1, name)?) {
                (Val::Str(a), Val::Str(b)) => a.cmp(b),
                (a, b) => a.number()?.total_cmp(&b.number()?),
            };
            Val::Bool(match name {
                "lt" => ord.is_lt(),
                "le" => ord.is_le(),
                "gt" => ord.is_gt(),
                _ => ord.is_ge(),
            })
        }
        "not" => Val::Bool(!arg(args, 0, name)?.truthy()),
        "and" => args
            .iter()
            .find(|v| !v.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(Val::Bool(true)),
        "or" => args
            .iter()
            .find(|v| v.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(Val::Bool(false)),
        "first" => match arg(args, 0, name)? {
            Val::Samples(v) => Val::Sample(
                v.first()
                    .cloned()
                    .ok_or("first() called on vector with no elements")?,
            ),
            other => {
                return Err(format!(
                    "first() needs a query result, got {}",
                    other.text()
                ));
            }
        },
        "value" => match arg(args, 0, name)? {
            Val::Sample((_, v)) => Val::Num(*v),
            other => return Err(format!("value() needs a sample, got {}", other.text())),
        },
        "label" => match arg(args, 1, name)? {
            Val::Sample((labels, _)) => {
                Val::Str(labels.get(&text(0)?).cloned().unwrap_or_default())
            }
            other => return Err(format!("label() needs a sample, got {}", other.text())),
        },
        "len" => Val::Num(match arg(args, 0, name)? {
            Val::Map(m) => m.len() as f64,
            Val::Samples(v) => v.len() as f64,
            other => other.text().chars().count() as f64,
        }),
        other => return Err(format!("function {other:?} not defined")),
    })
}

/// Go's `%.<prec>g`: `prec` significant digits, exponent form when the
/// exponent is below -4 or at least `prec`, trailing zeros removed.
pub(crate) fn go_g_prec(v: f64, prec: usize) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if v == 0.0 {
        return "0".into();
    }
    let prec = prec.max(1);
    let sci = format!("{:.*e}", prec - 1, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= prec as i32 {
        let mantissa = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    let decimals = (prec as i32 - 1 - exp).max(0) as usize;
    trim_zeros(&format!("{v:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Prometheus's `humanize`: SI prefixes (k, M, … and m, u, …), 4 digits.
fn humanize(mut v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return go_g_prec(v, 4);
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", go_g_prec(v, 4))
}

/// Prometheus's `humanize1024`: binary prefixes (ki, Mi, …), 4 digits.
fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return go_g_prec(v, 4);
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", go_g_prec(v, 4))
}

/// Prometheus's `humanizeDuration`: seconds as `1d 2h 3m 4s`, or with a
/// sub-second prefix (`1.5ms`).
fn humanize_duration(mut v: f64) -> String {
    if !v.is_finite() {
        return go_g_prec(v, 4);
    }
    if v == 0.0 {
        return "0s".into();
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        v = v.abs();
        let total = v as i64;
        let (days, hours, minutes, seconds) = (
            total / 86_400,
            total / 3600 % 24,
            total / 60 % 60,
            total % 60,
        );
        return if days != 0 {
            format!("{sign}{days}d {hours}h {minutes}m {seconds}s")
        } else if hours != 0 {
            format!("{sign}{hours}h {minutes}m {seconds}s")
        } else if minutes != 0 {
            format!("{sign}{minutes}m {seconds}s")
        } else {
            format!("{sign}{}s", go_g_prec(v, 4))
        };
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", go_g_prec(v, 4))
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric();
    }
    out
}

/// Widest field and longest precision `printf` honours.
const MAX_WIDTH: usize = 1000;

/// Go's `fmt.Sprintf` for the verbs alert templates use: `%s %v %d %f %e
/// %g %q %%` with flags `-` and `0`, width and precision.
fn printf(format: &str, args: &[Val]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_digit() || n == '.' || n == '-' {
                spec.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(v) = args.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let left = spec.starts_with('-');
        let spec = spec.trim_start_matches('-');
        let zero = spec.starts_with('0') && !left;
        let (width, prec) = match spec.split_once('.') {
            Some((w, p)) => (
                w.parse::<usize>().unwrap_or(0),
                Some(p.parse().unwrap_or(0)),
            ),
            None => (spec.parse().unwrap_or(0), None),
        };
        // Templates are tenant input: no gigabyte of padding (and Rust's
        // formatter refuses precisions past u16).
        let (width, prec) = (width.min(MAX_WIDTH), prec.map(|p: usize| p.min(MAX_WIDTH)));
        let number = v.number().unwrap_or(f64::NAN);
        let text = match verb {
            'd' => format!("{}", number as i64),
            'f' | 'F' => format!("{:.*}", prec.unwrap_or(6), number),
            'e' => {
                let s = format!("{:.*e}", prec.unwrap_or(6), number);
                match s.split_once('e') {
                    Some((m, e)) => {
                        let e: i32 = e.parse().unwrap_or(0);
                        format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
                    }
                    None => s,
                }
            }
            'g' => match prec {
                Some(p) => go_g_prec(number, p),
                None => querier::promql::format::go_g(number),
            },
            'q' => format!("{:?}", v.text()),
            's' | 'v' => match prec {
                Some(p) => v.text().chars().take(p).collect(),
                None => v.text(),
            },
            other => format!("%!{other}({})", v.text()),
        };
        let pad = width.saturating_sub(text.chars().count());
        if left {
            out.push_str(&text);
            out.push_str(&" ".repeat(pad));
        } else if zero {
            let (sign, digits) = match text.strip_prefix('-') {
                Some(d) => ("-", d),
                None => ("", text.as_str()),
            };
            out.push_str(sign);
            out.push_str(&"0".repeat(pad));
            out.push_str(digits);
        } else {
            out.push_str(&" ".repeat(pad));
            out.push_str(&text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str, v: f64) -> String {
        call(name, &[Val::Num(v)]).unwrap().text()
    }

    #[test]
    fn humanize_matches_prometheus() {
        assert_eq!(f("humanize", 0.0), "0");
        assert_eq!(f("humanize", 1234567.0), "1.235M");
        assert_eq!(f("humanize", 12.5), "12.5");
        assert_eq!(f("humanize", 0.0123), "12.3m");
        assert_eq!(f("humanize", 1e30), "1e+06Y");
        assert_eq!(f("humanize1024", 1024.0), "1ki");
        assert_eq!(f("humanize1024", 1.5 * 1024.0 * 1024.0), "1.5Mi");
        assert_eq!(f("humanize1024", 0.5), "0.5");
        assert_eq!(f("humanizeDuration", 0.0), "0s");
        assert_eq!(f("humanizeDuration", 90061.0), "1d 1h 1m 1s");
        assert_eq!(f("humanizeDuration", 3725.0), "1h 2m 5s");
        assert_eq!(f("humanizeDuration", 65.5), "1m 5s");
        assert_eq!(f("humanizeDuration", 1.2345), "1.234s");
        assert_eq!(f("humanizeDuration", 0.0015), "1.5ms");
        assert_eq!(f("humanizePercentage", 0.1234567), "12.35%");
        assert_eq!(
            f("humanizeTimestamp", 1_698_313_177.911),
            "2023-10-26 09:39:37.911 +0000 UTC"
        );
        assert_eq!(f("humanize", f64::NAN), "NaN");
    }

    #[test]
    fn go_g_with_precision() {
        assert_eq!(go_g_prec(1234.5, 4), "1234");
        assert_eq!(go_g_prec(12345.0, 4), "1.234e+04");
        assert_eq!(go_g_prec(0.00001234, 4), "1.234e-05");
        assert_eq!(go_g_prec(0.5, 4), "0.5");
        assert_eq!(go_g_prec(100.0, 4), "100");
    }

    #[test]
    fn printf_verbs() {
        let args = [
            Val::Str("api".into()),
            Val::Num(7.0),
            Val::Num(2.5),
            Val::Str("api".into()),
            Val::Str("ab".into()),
        ];
        assert_eq!(
            printf("%s=%03d %.1f %5s|%-4s|", &args),
            "api=007 2.5   api|ab  |"
        );
        assert_eq!(printf("%d%%", &[Val::Str("42".into())]), "42%");
        assert_eq!(printf("%s", &[]), "%!s(MISSING)");
        assert_eq!(printf("%.999999999f", &[Val::Num(1.0)]).len(), 1002);
    }
}
