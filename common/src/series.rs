//! Samples, series and the one interface every metrics store answers queries
//! through: the ingester head, a block in object storage, or a merge of both.

use std::collections::BTreeSet;

use async_trait::async_trait;
pub use promql_parser::label::{MatchOp, Matcher};

use crate::histogram::HistogramSample;
use crate::labels::Labels;
use crate::tenant::TenantId;

/// One float sample: a millisecond timestamp and a value (NaN and the
/// Prometheus stale marker are kept bit-for-bit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    /// The value.
    pub v: f64,
}

/// Prometheus's staleness marker: a NaN with this exact bit pattern.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// True when `v` is the staleness marker (not just any NaN).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// A series and its samples in a time range, sorted by timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The series' identity.
    pub labels: Labels,
    /// Float samples sorted by `t`, no duplicate timestamps.
    pub samples: Vec<Sample>,
    /// Native histogram samples sorted by `t`, no duplicate timestamps and
    /// none at a timestamp that also has a float sample.
    pub histograms: Vec<HistogramSample>,
}

impl Series {
    /// A series with float samples only.
    pub fn floats(labels: Labels, samples: Vec<Sample>) -> Self {
        Self {
            labels,
            samples,
            histograms: Vec::new(),
        }
    }

    /// Float and histogram samples together (a histogram counts as one).
    pub fn sample_count(&self) -> usize {
        self.samples.len() + self.histograms.len()
    }

    /// True when the series holds no sample of either kind.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty() && self.histograms.is_empty()
    }
}

/// Errors a store returns while answering a query.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Object storage refused a request for a reason retrying cannot fix
    /// (not found, permission denied, bad request).
    #[error("object storage: {0}")]
    ObjectStore(object_store::Error),
    /// Object storage did not answer (connection refused or reset, timed
    /// out, 5xx) within its bounded retries: the query needs the bucket and
    /// the bucket is down (→ 503). Queries of data recent enough for the
    /// ingesters alone (`querier.blocks.query_store_after`) still answer.
    #[error(
        "err-cairn-store-unavailable: the object store (bucket) is unavailable: {0}; \
         this query reads blocks older than querier.blocks.query_store_after, which only the bucket holds: \
         check that the bucket (storage.s3.endpoint) is reachable, or query a more recent range"
    )]
    StoreUnavailable(String),
    /// Stored data could not be decoded.
    #[error("corrupt data in {what}: {reason}")]
    Corrupt {
        /// Which object or file.
        what: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The query would touch more series than the tenant may fetch.
    #[error(
        "the query hit the max number of series limit (limit: {limit} series, `max_fetched_series_per_query`)"
    )]
    TooManySeries {
        /// The limit in force.
        limit: usize,
    },
    /// The query would fetch more chunk bytes than the tenant may.
    #[error(
        "the query exceeded the aggregated chunks size limit (limit: {limit} bytes, `max_fetched_chunk_bytes_per_query`)"
    )]
    TooManyChunkBytes {
        /// The limit in force.
        limit: usize,
    },
    /// Too few of the ingesters that hold the data can answer (the ring
    /// lacks a quorum, or replicas failed mid-query): the answer would be
    /// missing acknowledged data, so there is none (→ 503).
    #[error("ingesters unavailable: {0}")]
    Unavailable(String),
    /// Anything else (I/O).
    #[error("{0}")]
    Other(String),
}

impl From<object_store::Error> for StoreError {
    /// Failures that retrying might have fixed mean the bucket is
    /// unavailable; the others are kept as they are.
    fn from(e: object_store::Error) -> Self {
        if crate::block::is_transient(&e) {
            StoreError::StoreUnavailable(e.to_string())
        } else {
            StoreError::ObjectStore(e)
        }
    }
}

/// Read access to a tenant's series. Time bounds are inclusive milliseconds.
/// Matchers follow PromQL semantics: a matcher that matches the empty string
/// also selects series without that label.
#[async_trait]
pub trait SeriesStore: Send + Sync {
    /// Series matching all `matchers` with their samples in `[mint, maxt]`.
    /// Series with no samples in range are omitted.
    async fn select(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Series>, StoreError>;

    /// Label sets of series matching `matchers` with data in `[mint, maxt]`.
    async fn series(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Labels>, StoreError>;

    /// Sorted distinct label names of matching series (all series if
    /// `matchers` is empty). The default derives them from
    /// [`SeriesStore::series`]; stores with an index answer directly.
    async fn label_names(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StoreError> {
        let series = self.series(tenant, matchers, mint, maxt).await?;
        let names = series.iter().flat_map(|l| l.iter().map(|l| l.name.clone()));
        Ok(names.collect::<BTreeSet<_>>().into_iter().collect())
    }

    /// Sorted distinct values of label `name` among matching series
    /// (by default derived from [`SeriesStore::series`]).
    async fn label_values(
        &self,
        tenant: &TenantId,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StoreError> {
        let series = self.series(tenant, matchers, mint, maxt).await?;
        let values = series
            .iter()
            .filter_map(|l| l.get(name).map(str::to_string));
        Ok(values.collect::<BTreeSet<_>>().into_iter().collect())
    }
}

/// True when `labels` satisfy every matcher (a missing label reads as "").
pub fn matches_all(labels: &Labels, matchers: &[Matcher]) -> bool {
    matchers
        .iter()
        .all(|m| m.is_match(labels.get(&m.name).unwrap_or("")))
}

/// Merges two sorted sample lists, dropping duplicate timestamps (the first
/// list wins). Used to combine replicas, head and blocks.
pub fn merge_samples(a: &[Sample], b: &[Sample]) -> Vec<Sample> {
    merge_by_time(a, b, |s| s.t)
}

/// [`merge_samples`] for histogram samples.
pub fn merge_histograms(a: &[HistogramSample], b: &[HistogramSample]) -> Vec<HistogramSample> {
    merge_by_time(a, b, |s| s.t)
}

fn merge_by_time<T: Clone>(a: &[T], b: &[T], t: fn(&T) -> i64) -> Vec<T> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len() + b.len());
    while i < a.len() && j < b.len() {
        match t(&a[i]).cmp(&t(&b[j])) {
            std::cmp::Ordering::Less => {
                out.push(a[i].clone());
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j].clone());
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(a[i].clone());
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// Merges series lists from several sources: equal label sets become one
/// series with merged samples; the result is sorted by labels.
pub fn merge_series(lists: Vec<Vec<Series>>) -> Vec<Series> {
    let mut all: Vec<Series> = lists.into_iter().flatten().collect();
    all.sort_by(|a, b| a.labels.cmp(&b.labels));
    let mut out: Vec<Series> = Vec::with_capacity(all.len());
    for s in all {
        match out.last_mut() {
            Some(last) if last.labels == s.labels => {
                last.samples = merge_samples(&last.samples, &s.samples);
                last.histograms = merge_histograms(&last.histograms, &s.histograms);
            }
            _ => out.push(s),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: i64, v: f64) -> Sample {
        Sample { t, v }
    }

    #[test]
    fn merge_dedupes_equal_timestamps() {
        let m = merge_samples(&[s(1, 1.0), s(3, 3.0)], &[s(2, 2.0), s(3, 9.0), s(4, 4.0)]);
        assert_eq!(m, vec![s(1, 1.0), s(2, 2.0), s(3, 3.0), s(4, 4.0)]);
    }

    #[test]
    fn merge_series_combines_equal_label_sets() {
        let a = Labels::from_pairs([("__name__", "a")]);
        let b = Labels::from_pairs([("__name__", "b")]);
        let out = merge_series(vec![
            vec![Series::floats(b.clone(), vec![s(1, 1.0)])],
            vec![
                Series::floats(a.clone(), vec![s(1, 1.0)]),
                Series::floats(b.clone(), vec![s(2, 2.0)]),
            ],
        ]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].labels, a);
        assert_eq!(out[1].samples, vec![s(1, 1.0), s(2, 2.0)]);
    }

    #[test]
    fn empty_matching_matcher_selects_missing_label() {
        let l = Labels::from_pairs([("job", "x")]);
        let m = Matcher::new(MatchOp::Equal, "env", "");
        assert!(matches_all(&l, &[m]));
    }
}
