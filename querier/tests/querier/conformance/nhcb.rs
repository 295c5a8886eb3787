//! `load_with_nhcb`: each classic histogram (`X_bucket` series with `le`,
//! plus `X_count` and `X_sum` sharing the other labels) also becomes a
//! native histogram with custom buckets, stored under the base name `X`.

use std::collections::BTreeMap;
use std::sync::Arc;

use common::histogram::{CUSTOM_BUCKETS_SCHEMA, FloatHistogram, HistogramSample, compact};
use common::labels::Labels;
use common::series::is_stale_nan;

use super::script::{Item, SeriesLine, parse_number};

/// The parts of one classic histogram found in a load block.
#[derive(Default)]
struct Classic<'a> {
    /// `(le, items)` per bucket series.
    buckets: Vec<(f64, &'a [Item])>,
    count: Option<&'a [Item]>,
    sum: Option<&'a [Item]>,
}

/// The native histograms the classic histograms in `series` convert to.
pub fn convert(series: &[SeriesLine], interval: i64) -> Vec<(Labels, Vec<HistogramSample>)> {
    let mut families: BTreeMap<Labels, Classic<'_>> = BTreeMap::new();
    for s in series {
        let Some(name) = s.labels.metric_name() else {
            continue;
        };
        let mut base = s.labels.clone();
        if let Some(b) = name.strip_suffix("_bucket") {
            let Some(le) = s.labels.get("le").and_then(|le| parse_number(le).ok()) else {
                continue;
            };
            base.remove("le");
            base.set("__name__", b);
            families
                .entry(base)
                .or_default()
                .buckets
                .push((le, &s.items));
        } else if let Some(b) = name.strip_suffix("_count") {
            base.set("__name__", b);
            families.entry(base).or_default().count = Some(&s.items);
        } else if let Some(b) = name.strip_suffix("_sum") {
            base.set("__name__", b);
            families.entry(base).or_default().sum = Some(&s.items);
        }
    }
    families
        .into_iter()
        .filter(|(_, c)| !c.buckets.is_empty())
        .map(|(labels, mut c)| {
            c.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            let steps = c.buckets.iter().map(|b| b.1.len()).max().unwrap_or(0);
            let samples = (0..steps)
                .filter_map(|k| {
                    Some(HistogramSample {
                        t: k as i64 * interval,
                        h: Arc::new(at_step(&c, k)?),
                    })
                })
                .collect();
            (labels, samples)
        })
        .collect()
}

fn value(items: &[Item], k: usize) -> Option<f64> {
    match items.get(k) {
        Some(Item::Value(v)) if !is_stale_nan(*v) => Some(*v),
        _ => None,
    }
}

/// The histogram at step `k`, if every bucket has a value there.
fn at_step(c: &Classic<'_>, k: usize) -> Option<FloatHistogram> {
    let cumulative: Vec<(f64, f64)> = c
        .buckets
        .iter()
        .map(|(le, items)| Some((*le, value(items, k)?)))
        .collect::<Option<_>>()?;
    let custom_values: Vec<f64> = cumulative
        .iter()
        .map(|b| b.0)
        .filter(|le| le.is_finite())
        .collect();
    let mut prev = 0.0;
    let buckets: Vec<(i32, f64)> = cumulative
        .iter()
        .enumerate()
        .map(|(i, (_, c))| {
            let n = c - prev;
            prev = *c;
            (i as i32, n)
        })
        .filter(|(_, n)| *n != 0.0)
        .collect();
    let (positive_spans, positive_buckets) = compact(&buckets);
    Some(FloatHistogram {
        schema: CUSTOM_BUCKETS_SCHEMA,
        count: c.count.and_then(|i| value(i, k)).unwrap_or(prev),
        sum: c.sum.and_then(|i| value(i, k)).unwrap_or(0.0),
        positive_spans,
        positive_buckets,
        custom_values,
        ..FloatHistogram::default()
    })
}
