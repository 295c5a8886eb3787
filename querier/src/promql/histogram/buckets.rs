//! Bucket boundaries: every bucket of a histogram, lowest values first,
//! with its `(lower, upper]` bounds, as Prometheus's `AllBucketIterator`
//! yields them (negative buckets, the zero bucket, positive buckets; or the
//! custom buckets with `-Inf` and `+Inf` at the ends).

use common::histogram::FloatHistogram;

/// Which of a bucket's bounds are inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Closed {
    /// `(lower, upper]`: positive and custom buckets.
    #[default]
    Upper,
    /// `[lower, upper)`: negative buckets.
    Lower,
    /// `[lower, upper]`: the zero bucket (even when its threshold is 0).
    Both,
}

/// One bucket with its bounds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Bucket {
    pub lower: f64,
    pub upper: f64,
    pub count: f64,
    pub closed: Closed,
}

/// Upper bound of exponential bucket `index` at `schema`: `2^(index * 2^-schema)`.
fn upper_bound(index: i32, schema: i32) -> f64 {
    (f64::from(index) * (-f64::from(schema)).exp2()).exp2()
}

/// Every bucket of `h` in ascending order of value.
pub(crate) fn all(h: &FloatHistogram) -> Vec<Bucket> {
    if h.uses_custom_buckets() {
        let bound = |i: usize| h.custom_values.get(i).copied().unwrap_or(f64::INFINITY);
        return h
            .positive()
            .into_iter()
            .filter_map(|(i, count)| {
                let i = usize::try_from(i).ok()?;
                let lower = if i == 0 {
                    f64::NEG_INFINITY
                } else {
                    bound(i - 1)
                };
                Some(Bucket {
                    lower,
                    upper: bound(i),
                    count,
                    closed: Closed::Upper,
                })
            })
            .collect();
    }
    let zt = h.zero_threshold;
    let mut out: Vec<Bucket> = h
        .negative()
        .into_iter()
        .rev()
        .map(|(i, count)| Bucket {
            lower: -upper_bound(i, h.schema),
            upper: -upper_bound(i - 1, h.schema).max(zt),
            count,
            closed: Closed::Lower,
        })
        .collect();
    if h.zero_count != 0.0 {
        out.push(Bucket {
            lower: -zt,
            upper: zt,
            count: h.zero_count,
            closed: Closed::Both,
        });
    }
    out.extend(h.positive().into_iter().map(|(i, count)| Bucket {
        lower: upper_bound(i - 1, h.schema).max(zt),
        upper: upper_bound(i, h.schema),
        count,
        closed: Closed::Upper,
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::histogram::Span;

    #[test]
    fn schema_zero_buckets_double() {
        let h = FloatHistogram {
            zero_count: 1.0,
            zero_threshold: 0.001,
            positive_spans: vec![Span {
                offset: 0,
                length: 2,
            }],
            positive_buckets: vec![1.0, 2.0],
            ..FloatHistogram::default()
        };
        let b = all(&h);
        assert_eq!(b.len(), 3);
        assert_eq!((b[1].lower, b[1].upper), (0.5, 1.0));
        assert_eq!((b[2].lower, b[2].upper), (1.0, 2.0));
    }

    #[test]
    fn the_zero_bucket_is_closed_on_both_sides_even_with_threshold_0() {
        let h = FloatHistogram {
            zero_count: 2.0,
            negative_spans: vec![Span {
                offset: 0,
                length: 1,
            }],
            negative_buckets: vec![1.0],
            ..FloatHistogram::default()
        };
        let closed: Vec<Closed> = all(&h).iter().map(|b| b.closed).collect();
        assert_eq!(closed, [Closed::Lower, Closed::Both]);
    }
}
