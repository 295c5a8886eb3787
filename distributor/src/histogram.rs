//! Native histograms in: a remote-write `Histogram` message (1.0's
//! `histograms` field, and 2.0's and OTLP's, which are translated into it)
//! checked and turned into the [`FloatHistogram`] Cairn stores.
//!
//! The checks are Prometheus's (`model/histogram`'s `Validate`): spans cover
//! exactly the buckets sent, spans after the first do not go backwards,
//! counts are not negative; an integer histogram's count equals its
//! buckets' total (is at least it when the sum is NaN: NaN observations
//! land in no bucket), while a float histogram's count is not checked
//! (rounding); the schema is exponential (-4…8, without custom bounds) or
//! custom (-53), and custom bounds increase strictly and are finite with no
//! negative or zero buckets. Like
//! Prometheus 3's receiver, a schema finer than 8 (up to 52) is reduced to
//! 8 by merging neighbouring buckets instead of being refused.
//!
//! Integer histograms (delta-encoded bucket counts) become float ones:
//! every count below 2^53 converts exactly, and PromQL computes in floats.

use std::sync::Arc;

use common::histogram::{
    CUSTOM_BUCKETS_SCHEMA, CounterResetHint, FloatHistogram, HistogramSample, Span,
};

use crate::remote_write::{BucketSpan, Histogram, histogram};

/// The finest exponential schema Cairn stores (Prometheus's maximum).
const MAX_SCHEMA: i32 = 8;
/// The coarsest exponential schema.
const MIN_SCHEMA: i32 = -4;
/// Finer schemas than this are not defined by the format.
const MAX_REDUCIBLE_SCHEMA: i32 = 52;

/// Why a histogram sample was refused; the text goes into the client's
/// error message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum HistogramError {
    /// The schema is neither exponential nor custom.
    #[error("schema {0} is not supported: use -4 to 8, or -53 for custom buckets")]
    Schema(i32),
    /// Spans and bucket counts disagree, or a span goes backwards.
    #[error("{side} buckets: {reason}")]
    Spans {
        /// `positive` or `negative`.
        side: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A bucket, zero or total count below zero.
    #[error("{0} count is negative")]
    NegativeCount(&'static str),
    /// An integer histogram whose count is not the observations in its
    /// buckets (or fewer, when its sum is NaN).
    #[error("count {count} does not match the {buckets} observations in its buckets")]
    CountMismatch {
        /// The histogram's count.
        count: f64,
        /// The sum of its bucket counts.
        buckets: f64,
    },
    /// Custom bounds sent with an exponential schema.
    #[error("custom bounds are only allowed with schema -53 (custom buckets)")]
    ExponentialWithCustomBounds,
    /// Both integer deltas and float counts were sent.
    #[error("mixes integer (deltas) and float (counts) buckets")]
    MixedFlavour,
    /// Custom bounds not strictly increasing, infinite, or with buckets
    /// only exponential histograms have.
    #[error("custom buckets: {0}")]
    CustomBuckets(&'static str),
}

impl Histogram {
    /// The float-flavour message for `h` at `t`: how Cairn's own writers
    /// (the ruler recording a histogram-valued rule) send histograms
    /// through the one remote-write path.
    pub fn from_float_histogram(t: i64, h: &FloatHistogram) -> Self {
        let spans = |s: &[Span]| {
            s.iter()
                .map(|s| BucketSpan {
                    offset: s.offset,
                    length: s.length,
                })
                .collect()
        };
        Histogram {
            count: Some(histogram::Count::CountFloat(h.count)),
            sum: h.sum,
            schema: h.schema,
            zero_threshold: h.zero_threshold,
            zero_count: Some(histogram::ZeroCount::ZeroCountFloat(h.zero_count)),
            negative_spans: spans(&h.negative_spans),
            negative_counts: h.negative_buckets.clone(),
            positive_spans: spans(&h.positive_spans),
            positive_counts: h.positive_buckets.clone(),
            reset_hint: match h.counter_reset_hint {
                CounterResetHint::Unknown => histogram::ResetHint::Unknown,
                CounterResetHint::CounterReset => histogram::ResetHint::Yes,
                CounterResetHint::NotCounterReset => histogram::ResetHint::No,
                CounterResetHint::Gauge => histogram::ResetHint::Gauge,
            } as i32,
            timestamp: t,
            custom_values: h.custom_values.clone(),
            ..Default::default()
        }
    }
}

/// A remote-write histogram as a checked [`HistogramSample`].
pub(crate) fn to_sample(h: &Histogram) -> Result<HistogramSample, HistogramError> {
    let fh = to_float_histogram(h)?;
    Ok(HistogramSample {
        t: h.timestamp,
        h: Arc::new(fh),
    })
}

fn to_float_histogram(h: &Histogram) -> Result<FloatHistogram, HistogramError> {
    let custom = h.schema == CUSTOM_BUCKETS_SCHEMA;
    if !custom && !(MIN_SCHEMA..=MAX_REDUCIBLE_SCHEMA).contains(&h.schema) {
        return Err(HistogramError::Schema(h.schema));
    }
    let float = matches!(h.count, Some(histogram::Count::CountFloat(_)));
    let count = match h.count {
        Some(histogram::Count::CountInt(c)) => c as f64,
        Some(histogram::Count::CountFloat(c)) => c,
        None => 0.0,
    };
    let zero_count = match h.zero_count {
        Some(histogram::ZeroCount::ZeroCountInt(z)) => z as f64,
        Some(histogram::ZeroCount::ZeroCountFloat(z)) => z,
        None => 0.0,
    };
    if count < 0.0 {
        return Err(HistogramError::NegativeCount("total"));
    }
    if zero_count < 0.0 {
        return Err(HistogramError::NegativeCount("zero bucket"));
    }
    let positive = buckets(
        "positive",
        &h.positive_spans,
        &h.positive_deltas,
        &h.positive_counts,
        float,
    )?;
    let negative = buckets(
        "negative",
        &h.negative_spans,
        &h.negative_deltas,
        &h.negative_counts,
        float,
    )?;
    if custom {
        check_custom(
            &h.custom_values,
            h.zero_threshold,
            zero_count,
            &positive,
            &negative,
        )?;
    }
    if !custom && !h.custom_values.is_empty() {
        return Err(HistogramError::ExponentialWithCustomBounds);
    }
    let in_buckets = zero_count + positive.1.iter().sum::<f64>() + negative.1.iter().sum::<f64>();
    let mismatch = if h.sum.is_nan() {
        in_buckets > count
    } else {
        in_buckets != count
    };
    if !float && mismatch {
        return Err(HistogramError::CountMismatch {
            count,
            buckets: in_buckets,
        });
    }
    let out = FloatHistogram {
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        zero_count,
        count,
        sum: h.sum,
        positive_spans: positive.0,
        positive_buckets: positive.1,
        negative_spans: negative.0,
        negative_buckets: negative.1,
        custom_values: if custom {
            h.custom_values.clone()
        } else {
            Vec::new()
        },
        counter_reset_hint: reset_hint(h.reset_hint),
    };
    Ok(if !custom && out.schema > MAX_SCHEMA {
        out.with_schema(MAX_SCHEMA)
    } else {
        out
    })
}

fn reset_hint(raw: i32) -> CounterResetHint {
    match histogram::ResetHint::try_from(raw) {
        Ok(histogram::ResetHint::Yes) => CounterResetHint::CounterReset,
        Ok(histogram::ResetHint::No) => CounterResetHint::NotCounterReset,
        Ok(histogram::ResetHint::Gauge) => CounterResetHint::Gauge,
        Ok(histogram::ResetHint::Unknown) | Err(_) => CounterResetHint::Unknown,
    }
}

/// One side's spans and absolute counts, checked.
fn buckets(
    side: &'static str,
    spans: &[BucketSpan],
    deltas: &[i64],
    counts: &[f64],
    float: bool,
) -> Result<(Vec<Span>, Vec<f64>), HistogramError> {
    let spans_err = |reason: String| HistogramError::Spans { side, reason };
    let absolute: Vec<f64> = match (float, deltas.is_empty(), counts.is_empty()) {
        (_, false, false) => return Err(HistogramError::MixedFlavour),
        (_, true, _) => counts.to_vec(),
        (_, false, true) => {
            let mut running: i64 = 0;
            let mut out = Vec::with_capacity(deltas.len());
            for &d in deltas {
                running = running.checked_add(d).ok_or_else(|| {
                    spans_err("bucket counts overflow a 64-bit integer".to_string())
                })?;
                out.push(running as f64);
            }
            out
        }
    };
    if absolute.iter().any(|&c| c < 0.0) {
        return Err(HistogramError::NegativeCount(if side == "positive" {
            "a positive bucket"
        } else {
            "a negative bucket"
        }));
    }
    let mut covered: u64 = 0;
    for (i, s) in spans.iter().enumerate() {
        if i > 0 && s.offset < 0 {
            return Err(spans_err(format!(
                "span {} has a negative offset {}",
                i + 1,
                s.offset
            )));
        }
        covered += u64::from(s.length);
    }
    if covered != absolute.len() as u64 {
        return Err(spans_err(format!(
            "spans cover {covered} buckets but {} counts were sent",
            absolute.len()
        )));
    }
    let spans = spans
        .iter()
        .map(|s| Span {
            offset: s.offset,
            length: s.length,
        })
        .collect();
    Ok((spans, absolute))
}

/// Custom-bucket histograms (NHCB): strictly increasing finite bounds, every
/// bucket index within them (index `len` is the implicit `+Inf` bucket),
/// and none of the exponential-only parts.
fn check_custom(
    bounds: &[f64],
    zero_threshold: f64,
    zero_count: f64,
    positive: &(Vec<Span>, Vec<f64>),
    negative: &(Vec<Span>, Vec<f64>),
) -> Result<(), HistogramError> {
    if !bounds.windows(2).all(|w| w[0] < w[1]) {
        return Err(HistogramError::CustomBuckets(
            "bounds must increase strictly",
        ));
    }
    if bounds.iter().any(|b| !b.is_finite()) {
        return Err(HistogramError::CustomBuckets(
            "bounds must be finite (+Inf is implicit)",
        ));
    }
    if !negative.1.is_empty() || !negative.0.is_empty() {
        return Err(HistogramError::CustomBuckets(
            "negative buckets are not allowed",
        ));
    }
    if zero_threshold != 0.0 || zero_count != 0.0 {
        return Err(HistogramError::CustomBuckets(
            "a zero bucket is not allowed",
        ));
    }
    let mut index: i64 = 0;
    for (i, s) in positive.0.iter().enumerate() {
        index = if i == 0 {
            i64::from(s.offset)
        } else {
            index + i64::from(s.offset)
        };
        if index < 0 {
            return Err(HistogramError::CustomBuckets("bucket index below 0"));
        }
        index += i64::from(s.length);
        if index > bounds.len() as i64 + 1 {
            return Err(HistogramError::CustomBuckets(
                "a bucket index beyond the bounds",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote_write::histogram::{Count, ResetHint, ZeroCount};

    /// A change to a valid histogram and a phrase of the error it causes.
    type Breakage = (fn(&mut Histogram), &'static str);

    /// Asserts each breakage of `valid()` is refused, naming the problem.
    fn assert_refused(valid: fn() -> Histogram, cases: Vec<Breakage>) {
        for (edit, want) in cases {
            let mut h = valid();
            edit(&mut h);
            let err = to_sample(&h).unwrap_err().to_string();
            assert!(err.contains(want), "{err:?} lacks {want:?}");
        }
    }

    fn span(offset: i32, length: u32) -> BucketSpan {
        BucketSpan { offset, length }
    }

    fn int_histogram() -> Histogram {
        Histogram {
            count: Some(Count::CountInt(11)),
            sum: 18.4,
            schema: 1,
            zero_threshold: 1e-128,
            zero_count: Some(ZeroCount::ZeroCountInt(2)),
            positive_spans: vec![span(0, 2), span(1, 2)],
            positive_deltas: vec![1, 1, -1, 0],
            negative_spans: vec![span(0, 1)],
            negative_deltas: vec![4],
            reset_hint: ResetHint::No as i32,
            timestamp: 1_000,
            ..Default::default()
        }
    }

    #[test]
    fn integer_deltas_become_absolute_float_counts() {
        let s = to_sample(&int_histogram()).unwrap();
        assert_eq!(s.t, 1_000);
        assert_eq!(s.h.positive(), vec![(0, 1.0), (1, 2.0), (3, 1.0), (4, 1.0)]);
        assert_eq!(s.h.negative(), vec![(0, 4.0)]);
        assert_eq!((s.h.count, s.h.zero_count, s.h.sum), (11.0, 2.0, 18.4));
        assert_eq!(s.h.counter_reset_hint, CounterResetHint::NotCounterReset);
    }

    #[test]
    fn float_histograms_keep_their_counts_and_a_stale_sum() {
        let h = Histogram {
            count: Some(Count::CountFloat(3.5)),
            sum: f64::from_bits(common::series::STALE_NAN_BITS),
            schema: 0,
            zero_count: Some(ZeroCount::ZeroCountFloat(0.5)),
            positive_spans: vec![span(-2, 2)],
            positive_counts: vec![1.0, 2.0],
            ..Default::default()
        };
        let s = to_sample(&h).unwrap();
        assert_eq!(s.h.positive(), vec![(-2, 1.0), (-1, 2.0)]);
        assert!(common::series::is_stale_nan(s.h.sum));
    }

    #[test]
    fn inconsistent_histograms_are_refused_with_the_reason() {
        let cases: Vec<Breakage> = vec![
            (|h| h.schema = 9 + 50, "schema 59"),
            (|h| h.schema = -5, "schema -5"),
            (
                |h| h.positive_spans = vec![span(0, 3)],
                "spans cover 3 buckets but 4",
            ),
            (
                |h| h.positive_spans = vec![span(0, 2), span(-1, 2)],
                "negative offset",
            ),
            (
                |h| h.positive_deltas = vec![1, -2, 0, 0],
                "a positive bucket count is negative",
            ),
            (
                |h| h.count = Some(Count::CountInt(3)),
                "count 3 does not match the 11",
            ),
            (
                |h| h.count = Some(Count::CountInt(12)),
                "count 12 does not match the 11",
            ),
            (
                |h| h.custom_values = vec![1.0],
                "only allowed with schema -53",
            ),
            (|h| h.positive_counts = vec![1.0], "mixes integer"),
        ];
        assert_refused(int_histogram, cases);
    }

    #[test]
    fn float_histograms_round_trip_through_the_message() {
        let s = to_sample(&int_histogram()).unwrap();
        let back = to_sample(&Histogram::from_float_histogram(s.t, &s.h)).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn finer_schemas_are_reduced_to_8() {
        let h = Histogram {
            count: Some(Count::CountInt(3)),
            schema: 10,
            positive_spans: vec![span(1, 4)],
            positive_deltas: vec![1, 0, 0, -1],
            ..Default::default()
        };
        let s = to_sample(&h).unwrap();
        assert_eq!(s.h.schema, 8);
        // Schema-10 buckets 1..=4 fall in schema-8 bucket 1.
        assert_eq!(s.h.positive(), vec![(1, 3.0)]);
    }

    #[test]
    fn custom_buckets_need_increasing_finite_bounds_and_no_zero_or_negative_buckets() {
        fn nhcb() -> Histogram {
            Histogram {
                count: Some(Count::CountInt(6)),
                sum: 10.0,
                schema: CUSTOM_BUCKETS_SCHEMA,
                positive_spans: vec![span(0, 3)],
                positive_deltas: vec![1, 1, 1],
                custom_values: vec![0.5, 1.0],
                ..Default::default()
            }
        }
        let s = to_sample(&nhcb()).unwrap();
        assert_eq!(s.h.custom_values, vec![0.5, 1.0]);
        assert_eq!(s.h.positive(), vec![(0, 1.0), (1, 2.0), (2, 3.0)]);
        let cases: Vec<Breakage> = vec![
            (|h| h.custom_values = vec![1.0, 0.5], "increase strictly"),
            (|h| h.custom_values = vec![0.5, f64::INFINITY], "finite"),
            (
                |h| h.zero_count = Some(ZeroCount::ZeroCountInt(1)),
                "zero bucket",
            ),
            (
                |h| {
                    h.negative_spans = vec![span(0, 1)];
                    h.negative_deltas = vec![1];
                },
                "negative buckets",
            ),
            (|h| h.positive_spans = vec![span(2, 3)], "beyond the bounds"),
        ];
        assert_refused(nhcb, cases);
    }
}
