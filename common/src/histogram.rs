//! Native histograms as Prometheus models them: exponential buckets whose
//! boundaries follow from a `schema` (bucket `i` of schema `s` ends at
//! `2^(i * 2^-s)`), a zero bucket, and sparse spans of populated buckets.
//! Schema -53 marks custom bucket boundaries (NHCB, converted classic
//! histograms), listed in `custom_values`.
//!
//! Only the float flavour is kept: integer histograms convert losslessly
//! for the counts PromQL works with, and every PromQL result is a float
//! histogram anyway.

use std::sync::Arc;

/// The schema of histograms with custom bucket boundaries.
pub const CUSTOM_BUCKETS_SCHEMA: i32 = -53;

/// What the producer says about counter resets between this histogram and
/// the previous one of its series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CounterResetHint {
    /// Nothing is known; readers compare with the previous histogram.
    #[default]
    Unknown,
    /// A counter reset happened.
    CounterReset,
    /// No counter reset happened.
    NotCounterReset,
    /// A gauge histogram: counter resets do not apply.
    Gauge,
}

/// A run of `length` consecutive buckets starting `offset` buckets after
/// the end of the previous span (or at index `offset` for the first span).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Gap to the previous span (or the first bucket index).
    pub offset: i32,
    /// Number of consecutive buckets in this span.
    pub length: u32,
}

/// A native histogram with float counts.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatHistogram {
    /// Resolution: bucket boundaries grow by `2^(2^-schema)`; -53 is custom.
    pub schema: i32,
    /// Observations with absolute value up to this count as zero.
    pub zero_threshold: f64,
    /// Observations in the zero bucket.
    pub zero_count: f64,
    /// Total observations.
    pub count: f64,
    /// Sum of observations.
    pub sum: f64,
    /// Populated positive buckets.
    pub positive_spans: Vec<Span>,
    /// Counts of the positive buckets, one per bucket the spans cover.
    pub positive_buckets: Vec<f64>,
    /// Populated negative buckets.
    pub negative_spans: Vec<Span>,
    /// Counts of the negative buckets, one per bucket the spans cover.
    pub negative_buckets: Vec<f64>,
    /// Upper bounds of the buckets for the custom schema (-53).
    pub custom_values: Vec<f64>,
    /// The producer's counter-reset hint.
    pub counter_reset_hint: CounterResetHint,
}

impl Default for FloatHistogram {
    fn default() -> Self {
        Self {
            schema: 0,
            zero_threshold: 0.0,
            zero_count: 0.0,
            count: 0.0,
            sum: 0.0,
            positive_spans: Vec::new(),
            positive_buckets: Vec::new(),
            negative_spans: Vec::new(),
            negative_buckets: Vec::new(),
            custom_values: Vec::new(),
            counter_reset_hint: CounterResetHint::Unknown,
        }
    }
}

impl FloatHistogram {
    /// Roughly the memory the histogram takes, for caches that budget
    /// bytes.
    pub fn heap_bytes(&self) -> usize {
        let floats =
            self.positive_buckets.len() + self.negative_buckets.len() + self.custom_values.len();
        let spans = self.positive_spans.len() + self.negative_spans.len();
        size_of::<FloatHistogram>() + floats * size_of::<f64>() + spans * size_of::<Span>()
    }

    /// True for the custom-bucket schema (NHCB).
    pub fn uses_custom_buckets(&self) -> bool {
        self.schema == CUSTOM_BUCKETS_SCHEMA
    }

    /// True when every field is identical bit for bit: NaNs (such as the
    /// staleness marker in `sum`) equal themselves, `-0.0` differs from
    /// `0.0`. What storage promises to give back.
    pub fn bit_eq(&self, other: &FloatHistogram) -> bool {
        fn same(a: &[f64], b: &[f64]) -> bool {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
        }
        self.schema == other.schema
            && same(
                &[self.zero_threshold, self.zero_count, self.count, self.sum],
                &[
                    other.zero_threshold,
                    other.zero_count,
                    other.count,
                    other.sum,
                ],
            )
            && self.positive_spans == other.positive_spans
            && same(&self.positive_buckets, &other.positive_buckets)
            && self.negative_spans == other.negative_spans
            && same(&self.negative_buckets, &other.negative_buckets)
            && same(&self.custom_values, &other.custom_values)
            && self.counter_reset_hint == other.counter_reset_hint
    }

    /// The populated positive buckets as `(index, count)`.
    pub fn positive(&self) -> Vec<(i32, f64)> {
        expand(&self.positive_spans, &self.positive_buckets)
    }

    /// The populated negative buckets as `(index, count)`.
    pub fn negative(&self) -> Vec<(i32, f64)> {
        expand(&self.negative_spans, &self.negative_buckets)
    }

    /// This histogram at the coarser `schema`, each bucket merged into the
    /// one covering it; unchanged when already at or below `schema`, or for
    /// custom buckets.
    pub fn with_schema(&self, schema: i32) -> FloatHistogram {
        if self.schema <= schema || self.uses_custom_buckets() {
            return self.clone();
        }
        let shift = (self.schema - schema).clamp(0, 31) as u32;
        let regroup = |buckets: Vec<(i32, f64)>| {
            let mut merged: std::collections::BTreeMap<i32, f64> = Default::default();
            for (i, c) in buckets {
                // Bucket i covers (2^((i-1)/2^s), 2^(i/2^s)]; a coarser
                // bucket covers 2^shift of them.
                *merged.entry(((i - 1) >> shift) + 1).or_default() += c;
            }
            compact(&merged.into_iter().collect::<Vec<_>>())
        };
        let mut out = self.clone();
        out.schema = schema;
        (out.positive_spans, out.positive_buckets) = regroup(self.positive());
        (out.negative_spans, out.negative_buckets) = regroup(self.negative());
        out
    }
}

/// Bucket indexes and counts described by `spans` over `buckets`; buckets
/// beyond what the spans cover (malformed input) are ignored.
pub fn expand(spans: &[Span], buckets: &[f64]) -> Vec<(i32, f64)> {
    let mut out = Vec::with_capacity(buckets.len());
    let mut idx = 0i32;
    let mut counts = buckets.iter();
    for (k, span) in spans.iter().enumerate() {
        idx = if k == 0 {
            span.offset
        } else {
            idx.saturating_add(span.offset)
        };
        for _ in 0..span.length {
            let Some(&c) = counts.next() else {
                return out;
            };
            out.push((idx, c));
            idx = idx.saturating_add(1);
        }
    }
    out
}

/// Spans and counts for `(index, count)` pairs sorted by index: the inverse
/// of [`expand`]. Gaps of up to two empty buckets are bridged with zero
/// counts, as Prometheus does when it builds spans.
pub fn compact(buckets: &[(i32, f64)]) -> (Vec<Span>, Vec<f64>) {
    let mut spans: Vec<Span> = Vec::new();
    let mut counts = Vec::with_capacity(buckets.len());
    let mut next: Option<i32> = None;
    for &(idx, c) in buckets {
        match next {
            Some(n) if idx >= n && idx - n <= 2 => {
                let gap = idx - n;
                counts.extend(std::iter::repeat_n(0.0, gap as usize));
                if let Some(last) = spans.last_mut() {
                    last.length += gap as u32 + 1;
                }
            }
            Some(n) => spans.push(Span {
                offset: idx - n,
                length: 1,
            }),
            None => spans.push(Span {
                offset: idx,
                length: 1,
            }),
        }
        counts.push(c);
        next = Some(idx + 1);
    }
    (spans, counts)
}

/// One histogram sample of a series.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSample {
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    /// The histogram (shared: query steps reuse samples without copying).
    pub h: Arc<FloatHistogram>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_round_trip_through_expand_and_compact() {
        let spans = vec![
            Span {
                offset: -1,
                length: 2,
            },
            Span {
                offset: 5,
                length: 1,
            },
        ];
        let buckets = vec![1.0, 2.0, 3.0];
        let e = expand(&spans, &buckets);
        assert_eq!(e, vec![(-1, 1.0), (0, 2.0), (6, 3.0)]);
        assert_eq!(compact(&e), (spans, buckets));
    }

    #[test]
    fn coarser_schema_merges_neighbouring_buckets() {
        let h = FloatHistogram {
            schema: 1,
            positive_spans: vec![Span {
                offset: 0,
                length: 3,
            }],
            positive_buckets: vec![1.0, 2.0, 4.0],
            ..FloatHistogram::default()
        };
        // Schema-1 buckets 0, 1, 2 lie in schema-0 buckets 0, 1, 1.
        assert_eq!(h.with_schema(0).positive(), vec![(0, 1.0), (1, 6.0)]);
    }

    #[test]
    fn bit_eq_tells_nan_payloads_and_signed_zeros_apart() {
        let stale = FloatHistogram {
            sum: f64::from_bits(crate::series::STALE_NAN_BITS),
            ..FloatHistogram::default()
        };
        assert!(stale.bit_eq(&stale.clone()));
        assert_ne!(stale, stale.clone());
        let nan = FloatHistogram {
            sum: f64::NAN,
            ..FloatHistogram::default()
        };
        assert!(!stale.bit_eq(&nan));
        let negative_zero = FloatHistogram {
            count: -0.0,
            ..FloatHistogram::default()
        };
        assert!(!negative_zero.bit_eq(&FloatHistogram::default()));
        let custom = FloatHistogram {
            custom_values: vec![1.0],
            ..FloatHistogram::default()
        };
        assert!(!custom.bit_eq(&FloatHistogram::default()));
    }

    #[test]
    fn short_gaps_are_bridged() {
        let (spans, counts) = compact(&[(0, 1.0), (3, 2.0)]);
        assert_eq!(
            spans,
            vec![Span {
                offset: 0,
                length: 4
            }]
        );
        assert_eq!(counts, vec![1.0, 0.0, 0.0, 2.0]);
    }
}
