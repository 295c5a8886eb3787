//! The write path's hand-off from distributor to ingester, for metrics.
//!
//! In single-process mode the distributor calls the ingester through this
//! trait directly; in distributed mode an RPC client implements it.
//!
//! Samples, exemplars and metric metadata travel separately: a remote-write
//! request's samples are pushed (and made durable) first, then its exemplars
//! (logged to the WAL like Prometheus does) and its metadata (kept in memory
//! only, like Mimir; Prometheus re-sends it every minute).

use async_trait::async_trait;

use crate::discard::DiscardReason;
use crate::exemplar::SeriesExemplars;
use crate::labels::Labels;
use crate::metadata::MetricMetadata;
use crate::series::Series;
use crate::tenant::TenantId;

/// One validated series and the samples to append, oldest first: the same
/// shape as a query's [`Series`] (float samples, and native histogram
/// samples none of which shares a timestamp with a float).
pub type PushSeries = Series;

/// Samples an ingester refused, with why.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// Catalogue reason (counter label).
    pub reason: DiscardReason,
    /// The series concerned.
    pub labels: Labels,
    /// How many of its samples (float and histogram) were refused.
    pub samples: usize,
    /// Human detail, e.g. the offending timestamps or the limit value.
    pub detail: String,
}

/// What an ingester did with a push: accepted samples are durable (in the WAL).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PushOutcome {
    /// Float samples appended and logged.
    pub accepted: usize,
    /// Histogram samples appended and logged.
    pub accepted_histograms: usize,
    /// Samples refused, grouped by series and reason.
    pub rejected: Vec<Rejection>,
}

/// What an ingester did with a push's exemplars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExemplarOutcome {
    /// Exemplars stored.
    pub accepted: usize,
    /// Exemplars not newer than their series' newest (dropped, like Prometheus).
    pub out_of_order: usize,
    /// Exemplars identical to their series' newest (dropped silently).
    pub duplicates: usize,
}

/// Failures that lose the whole push (nothing acknowledged).
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The WAL could not be written: the samples are not durable.
    #[error("write-ahead log: {0}")]
    Wal(String),
    /// The ingester is stopping or not ready.
    #[error("ingester unavailable: {0}")]
    Unavailable(String),
}

/// Appends validated series to a tenant's head, and keeps the exemplars and
/// metric metadata that came with them.
///
/// The exemplar and metadata methods have do-nothing defaults so a pusher
/// that cannot store them (a test double, an older peer) still accepts
/// samples; the ingester overrides both.
#[async_trait]
pub trait MetricsPusher: Send + Sync {
    /// Appends `series` for `tenant`; returns once accepted samples are in the WAL.
    async fn push(
        &self,
        tenant: &TenantId,
        series: Vec<PushSeries>,
    ) -> Result<PushOutcome, PushError>;

    /// Stores validated exemplars for `tenant`, oldest first per series.
    async fn push_exemplars(
        &self,
        _tenant: &TenantId,
        _exemplars: Vec<SeriesExemplars>,
    ) -> Result<ExemplarOutcome, PushError> {
        Ok(ExemplarOutcome::default())
    }

    /// Stores metric metadata for `tenant`; the latest per family wins.
    /// Returns how many entries were kept.
    async fn push_metadata(
        &self,
        _tenant: &TenantId,
        _metadata: Vec<MetricMetadata>,
    ) -> Result<usize, PushError> {
        Ok(0)
    }
}
