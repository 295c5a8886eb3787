//! Float and timestamp text exactly as Prometheus writes them.

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)` with Prometheus's spelling of
/// the specials (`NaN`, `+Inf`, `-Inf`): the shortest decimal that round-trips.
pub fn go_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".to_string()
        } else {
            "-Inf".to_string()
        }
    } else {
        format!("{v}")
    }
}

/// A sample value as the Prometheus HTTP API writes it: shortest
/// round-trip digits, in exponent form (`1e-07`, `1e+21`) when the magnitude
/// is below 1e-6 or at least 1e21.
pub fn api_float(v: f64) -> String {
    let abs = v.abs();
    if v.is_finite() && abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{v:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        format!("{mantissa}e{sign}{digits:0>2}")
    } else {
        go_float(v)
    }
}

/// A millisecond timestamp as Prometheus writes it: seconds with up to
/// three decimals (`1700000000`, `1700000000.123`, `1.500`).
pub fn api_timestamp(t: i64) -> String {
    let sign = if t < 0 { "-" } else { "" };
    let abs = t.unsigned_abs();
    let (secs, ms) = (abs / 1000, abs % 1000);
    if ms == 0 {
        format!("{sign}{secs}")
    } else {
        format!("{sign}{secs}.{ms:03}")
    }
}

/// A native histogram as the Prometheus HTTP API writes it:
/// `{"count":"…","sum":"…","buckets":[[rule,"lower","upper","count"],…]}`
/// with only non-empty buckets; `rule` says which bounds are inclusive
/// (0: upper, 1: lower, 3: both, as for the zero bucket).
pub fn api_histogram(h: &common::histogram::FloatHistogram) -> String {
    use super::histogram::buckets::Closed;
    let buckets: Vec<String> = super::histogram::buckets::all(h)
        .into_iter()
        .filter(|b| b.count != 0.0)
        .map(|b| {
            let rule = match b.closed {
                Closed::Upper => 0,
                Closed::Lower => 1,
                Closed::Both => 3,
            };
            format!(
                "[{rule},\"{}\",\"{}\",\"{}\"]",
                api_float(b.lower),
                api_float(b.upper),
                api_float(b.count)
            )
        })
        .collect();
    let mut out = format!(
        "{{\"count\":\"{}\",\"sum\":\"{}\"",
        api_float(h.count),
        api_float(h.sum)
    );
    if !buckets.is_empty() {
        out.push_str(&format!(",\"buckets\":[{}]", buckets.join(",")));
    }
    out.push('}');
    out
}

/// Go's `%g` with the shortest digits: exponent form (`1e+06`, `1e-05`)
/// below 1e-4 or from 1e6 on.
pub fn go_g(v: f64) -> String {
    if !v.is_finite() || v == 0.0 {
        return go_float(v);
    }
    let s = format!("{v:e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        return format!("{v}");
    }
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

/// A native histogram as Prometheus's `FloatHistogram.String()` writes it:
/// `{count:20, sum:10, [-2,-1):2, [-0.001,0.001]:2, (0.5,1]:1}` (the
/// label value `count_values` gives histograms).
pub fn histogram_text(h: &common::histogram::FloatHistogram) -> String {
    use super::histogram::buckets::Closed;
    let mut out = format!("{{count:{}, sum:{}", go_g(h.count), go_g(h.sum));
    for b in super::histogram::buckets::all(h)
        .into_iter()
        .filter(|b| b.count != 0.0)
    {
        let (open, close) = match b.closed {
            Closed::Upper => ('(', ']'),
            Closed::Lower => ('[', ')'),
            Closed::Both => ('[', ']'),
        };
        out.push_str(&format!(
            ", {open}{},{}{close}:{}",
            go_g(b.lower),
            go_g(b.upper),
            go_g(b.count)
        ));
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_g_switches_to_exponents_like_go() {
        assert_eq!(go_g(100000.0), "100000");
        assert_eq!(go_g(1e6), "1e+06");
        assert_eq!(go_g(0.0001), "0.0001");
        assert_eq!(go_g(1.5e-5), "1.5e-05");
    }

    #[test]
    fn floats_match_go() {
        assert_eq!(api_float(1.0), "1");
        assert_eq!(api_float(0.1), "0.1");
        assert_eq!(api_float(1e-7), "1e-07");
        assert_eq!(api_float(1.5e21), "1.5e+21");
        assert_eq!(api_float(123456.789), "123456.789");
        assert_eq!(api_float(f64::NAN), "NaN");
        assert_eq!(api_float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(go_float(1e21), "1000000000000000000000");
    }

    #[test]
    fn timestamps_match_prometheus() {
        assert_eq!(api_timestamp(1_700_000_000_123), "1700000000.123");
        assert_eq!(api_timestamp(1_500), "1.500");
        assert_eq!(api_timestamp(5), "0.005");
        assert_eq!(api_timestamp(-1_500), "-1.500");
        assert_eq!(api_timestamp(0), "0");
    }
}
