//! The write path's hand-off from distributor to ingester, for metrics.
//!
//! In single-process mode the distributor calls the ingester through this
//! trait directly; in distributed mode an RPC client implements it.

use async_trait::async_trait;

use crate::discard::DiscardReason;
use crate::labels::Labels;
use crate::series::Sample;
use crate::tenant::TenantId;

/// One validated series and the samples to append, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct PushSeries {
    /// The series' labels (validated, sorted).
    pub labels: Labels,
    /// Samples in timestamp order.
    pub samples: Vec<Sample>,
}

/// Samples an ingester refused, with why.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// Catalogue reason (counter label).
    pub reason: DiscardReason,
    /// The series concerned.
    pub labels: Labels,
    /// How many of its samples were refused.
    pub samples: usize,
    /// Human detail, e.g. the offending timestamps or the limit value.
    pub detail: String,
}

/// What an ingester did with a push: accepted samples are durable (in the WAL).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PushOutcome {
    /// Samples appended and logged.
    pub accepted: usize,
    /// Samples refused, grouped by series and reason.
    pub rejected: Vec<Rejection>,
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

/// Appends validated series to a tenant's head.
#[async_trait]
pub trait MetricsPusher: Send + Sync {
    /// Appends `series` for `tenant`; returns once accepted samples are in the WAL.
    async fn push(
        &self,
        tenant: &TenantId,
        series: Vec<PushSeries>,
    ) -> Result<PushOutcome, PushError>;
}
