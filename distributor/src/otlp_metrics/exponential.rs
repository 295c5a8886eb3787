//! OTLP exponential histograms → Prometheus native histograms, with the
//! mapping of Prometheus's `otlptranslator`:
//!
//! - the OTLP scale is the native schema; a scale above 8 is downscaled to
//!   schema 8 by merging `2^(scale-8)` neighbouring buckets, a scale below
//!   -4 has no native schema and the point is refused;
//! - OTLP bucket `i` covers `(base^i, base^(i+1)]`, Prometheus bucket `i`
//!   covers `(base^(i-1), base^i]`: OTLP index `i` is Prometheus index `i+1`;
//! - buckets become spans of populated buckets with integer deltas (OTLP
//!   counts are integers), a run of more than two empty buckets starting a
//!   new span (client_golang's rule);
//! - the zero bucket keeps the point's `zero_count`; its width is the
//!   point's `zero_threshold`, or Prometheus's default `1e-128` when the
//!   sender left it 0;
//! - an absent sum is 0, the reset hint is "unknown" (as Prometheus sets
//!   it for cumulative data), and the "no recorded value" flag becomes the
//!   stale marker (a histogram whose sum is the stale NaN).

use common::series::STALE_NAN_BITS;
use opentelemetry_proto::tonic::metrics::v1::ExponentialHistogramDataPoint;
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;

use crate::remote_write::histogram::{Count, ResetHint, ZeroCount};
use crate::remote_write::{BucketSpan, Histogram};

/// The finest native histogram schema.
pub(crate) const MAX_SCHEMA: i32 = 8;
/// The coarsest native histogram schema.
pub(crate) const MIN_SCHEMA: i32 = -4;
/// Zero-bucket width when the sender gives none (Prometheus's default).
const DEFAULT_ZERO_THRESHOLD: f64 = 1e-128;
/// Largest downscale applied in one step: shifting an `i64` index by 63
/// already maps every index to 0 or -1.
const MAX_SHIFT: u32 = 63;

/// Why a data point has no native histogram.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum NativeError {
    /// The scale is coarser than schema -4.
    #[error(
        "scale {0} is below -4, the coarsest native histogram schema; use a scale of -4 or more"
    )]
    ScaleTooSmall(i32),
    /// A bucket count or index does not fit the native histogram's integers.
    #[error(
        "bucket counts or indexes overflow the native histogram's 64-bit counts / 32-bit indexes"
    )]
    Overflow,
}

/// The native histogram of `p` at `timestamp_ms`.
pub(crate) fn to_native(
    p: &ExponentialHistogramDataPoint,
    timestamp_ms: i64,
) -> Result<Histogram, NativeError> {
    if p.scale < MIN_SCHEMA {
        return Err(NativeError::ScaleTooSmall(p.scale));
    }
    let schema = p.scale.min(MAX_SCHEMA);
    let scale_down = u32::try_from(p.scale - schema).unwrap_or(0);
    let zero_threshold = if p.zero_threshold > 0.0 {
        p.zero_threshold
    } else {
        DEFAULT_ZERO_THRESHOLD
    };
    let mut h = Histogram {
        schema,
        zero_threshold,
        reset_hint: ResetHint::Unknown as i32,
        timestamp: timestamp_ms,
        ..Default::default()
    };
    if p.flags & super::translate::NO_RECORDED_VALUE != 0 {
        h.sum = f64::from_bits(STALE_NAN_BITS);
        h.count = Some(Count::CountInt(0));
        h.zero_count = Some(ZeroCount::ZeroCountInt(0));
        return Ok(h);
    }
    h.sum = p.sum.unwrap_or(0.0);
    h.count = Some(Count::CountInt(p.count));
    h.zero_count = Some(ZeroCount::ZeroCountInt(p.zero_count));
    (h.positive_spans, h.positive_deltas) = layout(p.positive.as_ref(), scale_down)?;
    (h.negative_spans, h.negative_deltas) = layout(p.negative.as_ref(), scale_down)?;
    Ok(h)
}

/// The populated buckets of `buckets`, merged `2^scale_down` to one, as
/// `(Prometheus index, count)` in index order.
fn populated(buckets: &Buckets, scale_down: u32) -> Result<Vec<(i64, u64)>, NativeError> {
    let shift = scale_down.min(MAX_SHIFT);
    let mut out: Vec<(i64, u64)> = Vec::new();
    for (i, &count) in buckets.bucket_counts.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let otlp_index =
            i64::from(buckets.offset) + i64::try_from(i).map_err(|_| NativeError::Overflow)?;
        let index = (otlp_index >> shift) + 1;
        match out.last_mut() {
            Some((last, total)) if *last == index => {
                *total = total.checked_add(count).ok_or(NativeError::Overflow)?;
            }
            _ => out.push((index, count)),
        }
    }
    Ok(out)
}

/// Spans and integer deltas of `buckets` downscaled by `scale_down`.
fn layout(
    buckets: Option<&Buckets>,
    scale_down: u32,
) -> Result<(Vec<BucketSpan>, Vec<i64>), NativeError> {
    let Some(buckets) = buckets else {
        return Ok((Vec::new(), Vec::new()));
    };
    let mut spans: Vec<BucketSpan> = Vec::new();
    let mut deltas = Vec::new();
    let mut previous: Option<i64> = None;
    let mut last_count = 0i64;
    let overflow = |_| NativeError::Overflow;
    for (index, count) in populated(buckets, scale_down)? {
        let count = i64::try_from(count).map_err(overflow)?;
        match previous {
            Some(prev) if index - prev - 1 <= 2 => {
                for _ in 0..index - prev - 1 {
                    deltas.push(-last_count);
                    last_count = 0;
                }
                if let Some(span) = spans.last_mut() {
                    span.length += u32::try_from(index - prev).map_err(overflow)?;
                }
            }
            _ => {
                let offset = match previous {
                    Some(prev) => index - prev - 1,
                    None => index,
                };
                spans.push(BucketSpan {
                    offset: i32::try_from(offset).map_err(overflow)?,
                    length: 1,
                });
            }
        }
        deltas.push(count - last_count);
        last_count = count;
        previous = Some(index);
    }
    Ok((spans, deltas))
}
