//! The native-histogram notation of `promqltest` scripts:
//! `{{schema:0 sum:5 count:4 z_bucket:1 z_bucket_w:0.001 buckets:[1 2]
//! offset:0 n_buckets:[1] n_offset:0 counter_reset_hint:gauge
//! custom_values:[1 5]}}`, every key optional, plus the series expansions
//! `{{…}}xN` and `{{h1}}+{{h2}}xN` / `{{h1}}-{{h2}}xN`.

use std::sync::Arc;

use common::histogram::{CounterResetHint, FloatHistogram, Span, compact, expand};

use super::script::parse_number;

/// Expands one histogram value item into the histograms it stands for.
pub fn expand_item(tok: &str) -> Result<Vec<Arc<FloatHistogram>>, String> {
    let (body, times) = match tok.rsplit_once("}}x") {
        Some((b, n)) => (
            format!("{b}}}}}"),
            Some(
                n.parse::<usize>()
                    .map_err(|_| format!("bad histogram item {tok:?}"))?,
            ),
        ),
        None => (tok.to_string(), None),
    };
    let (first, step) = split_increment(&body)?;
    let start = parse(first)?;
    let Some(times) = times else {
        return Ok(vec![Arc::new(start)]);
    };
    let delta = match step {
        Some((sign, text)) => Some((sign, parse(text)?)),
        None => None,
    };
    let mut out = Vec::with_capacity(times + 1);
    let mut cur = start;
    for _ in 0..=times {
        out.push(Arc::new(cur.clone()));
        if let Some((sign, d)) = &delta {
            cur = add(&cur, d, *sign);
        }
    }
    Ok(out)
}

/// The increment of an expansion: its sign and the histogram text.
type Increment<'a> = Option<(f64, &'a str)>;

/// `{{a}}+{{b}}` → (`{{a}}`, Some((1.0, `{{b}}`))).
fn split_increment(s: &str) -> Result<(&str, Increment<'_>), String> {
    let end = s.find("}}").ok_or_else(|| format!("bad histogram {s:?}"))? + 2;
    let (first, rest) = s.split_at(end);
    match rest.chars().next() {
        None => Ok((first, None)),
        Some('+') => Ok((first, Some((1.0, &rest[1..])))),
        Some('-') => Ok((first, Some((-1.0, &rest[1..])))),
        Some(_) => Err(format!("bad histogram item {s:?}")),
    }
}

/// Parses `{{key:value …}}`.
pub fn parse(s: &str) -> Result<FloatHistogram, String> {
    let inner = s
        .trim()
        .strip_prefix("{{")
        .and_then(|r| r.strip_suffix("}}"))
        .ok_or_else(|| format!("bad histogram {s:?}"))?;
    let mut h = FloatHistogram::default();
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    let (mut offset, mut n_offset) = (0i32, 0i32);
    let mut rest = inner.trim();
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once(':')
            .ok_or_else(|| format!("bad histogram field in {s:?}"))?;
        let after = after.trim_start();
        let (value, after) = if let Some(list) = after.strip_prefix('[') {
            let (l, a) = list
                .split_once(']')
                .ok_or_else(|| format!("unterminated list in {s:?}"))?;
            (l, a)
        } else {
            after.split_at(after.find(char::is_whitespace).unwrap_or(after.len()))
        };
        let num = || parse_number(value.trim());
        let list =
            || -> Result<Vec<f64>, String> { value.split_whitespace().map(parse_number).collect() };
        match key.trim() {
            "schema" => h.schema = num()? as i32,
            "sum" => h.sum = num()?,
            "count" => h.count = num()?,
            "z_bucket" => h.zero_count = num()?,
            "z_bucket_w" => h.zero_threshold = num()?,
            "buckets" => pos = list()?,
            "n_buckets" => neg = list()?,
            "offset" => offset = num()? as i32,
            "n_offset" => n_offset = num()? as i32,
            "custom_values" => h.custom_values = list()?,
            "counter_reset_hint" => {
                h.counter_reset_hint = match value.trim() {
                    "unknown" => CounterResetHint::Unknown,
                    "reset" => CounterResetHint::CounterReset,
                    "not_reset" => CounterResetHint::NotCounterReset,
                    "gauge" => CounterResetHint::Gauge,
                    other => return Err(format!("bad counter_reset_hint {other:?}")),
                }
            }
            other => return Err(format!("unknown histogram field {other:?}")),
        }
        rest = after.trim_start();
    }
    let dense = |offset: i32, counts: &[f64]| -> (Vec<Span>, Vec<f64>) {
        if counts.is_empty() {
            return (Vec::new(), Vec::new());
        }
        let span = Span {
            offset,
            length: counts.len() as u32,
        };
        (vec![span], counts.to_vec())
    };
    (h.positive_spans, h.positive_buckets) = dense(offset, &pos);
    (h.negative_spans, h.negative_buckets) = dense(n_offset, &neg);
    Ok(h)
}

/// `a + sign * b`, field by field and bucket by bucket.
fn add(a: &FloatHistogram, b: &FloatHistogram, sign: f64) -> FloatHistogram {
    let merge = |x: Vec<(i32, f64)>, y: Vec<(i32, f64)>| {
        let mut all: std::collections::BTreeMap<i32, f64> = x.into_iter().collect();
        for (i, c) in y {
            *all.entry(i).or_default() += sign * c;
        }
        compact(&all.into_iter().collect::<Vec<_>>())
    };
    let schema = a.schema.min(b.schema);
    let (a, b) = (&a.with_schema(schema), &b.with_schema(schema));
    let mut out = a.clone();
    out.count += sign * b.count;
    out.sum += sign * b.sum;
    out.zero_count += sign * b.zero_count;
    (out.positive_spans, out.positive_buckets) = merge(a.positive(), b.positive());
    (out.negative_spans, out.negative_buckets) = merge(a.negative(), b.negative());
    out
}

/// Non-empty buckets of one side as `(index, count)`.
pub fn populated(spans: &[Span], buckets: &[f64]) -> Vec<(i32, f64)> {
    expand(spans, buckets)
        .into_iter()
        .filter(|(_, c)| *c != 0.0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_field() {
        let h = parse("{{schema:1 sum:5 count:4 z_bucket:1 z_bucket_w:0.001 buckets:[1 2] offset:-1 n_buckets:[1] counter_reset_hint:gauge}}").unwrap();
        assert_eq!(h.schema, 1);
        assert_eq!(h.positive(), vec![(-1, 1.0), (0, 2.0)]);
        assert_eq!(h.negative(), vec![(0, 1.0)]);
        assert_eq!(h.counter_reset_hint, CounterResetHint::Gauge);
    }

    #[test]
    fn expands_increments() {
        let hs = expand_item("{{count:1 buckets:[1]}}+{{count:2 buckets:[2]}}x2").unwrap();
        assert_eq!(hs.len(), 3);
        assert_eq!(hs[2].count, 5.0);
        assert_eq!(hs[2].positive(), vec![(0, 5.0)]);
    }
}
