//! Exemplars: a sample's pointer to a trace, sent next to the samples in
//! remote write and read back through `/api/v1/query_exemplars`.
//!
//! The distributor validates them ([`check_labels`]), the ingester keeps the
//! latest few per series, and the querier reads them through
//! [`ExemplarSource`].

use async_trait::async_trait;

use crate::labels::Labels;
use crate::series::{Matcher, StoreError};
use crate::tenant::TenantId;

/// Most UTF-8 runes an exemplar's label names and values may hold together
/// (Prometheus's `ExemplarMaxLabelSetLength`).
pub const MAX_LABEL_SET_RUNES: usize = 128;

/// One exemplar: its own labels (e.g. `trace_id`), a value and a time.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// The exemplar's labels, sorted.
    pub labels: Labels,
    /// The observed value.
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
}

impl Exemplar {
    /// Same labels, same timestamp and bit-identical value (Prometheus's
    /// duplicate test).
    pub fn same_as(&self, other: &Exemplar) -> bool {
        self.timestamp == other.timestamp
            && self.value.to_bits() == other.value.to_bits()
            && self.labels == other.labels
    }
}

/// A series and its exemplars, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesExemplars {
    /// The series the exemplars belong to.
    pub series: Labels,
    /// Exemplars in timestamp order.
    pub exemplars: Vec<Exemplar>,
}

/// Why an exemplar's labels are not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExemplarLabelError {
    /// The label set is longer than [`MAX_LABEL_SET_RUNES`].
    #[error(
        "exemplar labels have {runes} UTF-8 characters, exceeding the limit of {MAX_LABEL_SET_RUNES}"
    )]
    TooLong {
        /// Runes in names and values together.
        runes: usize,
    },
}

/// Checks an exemplar's labels like Prometheus: at most
/// [`MAX_LABEL_SET_RUNES`] runes in all names and values together. An
/// exemplar without labels is accepted, as Prometheus and the remote-write
/// 2.0 compliance suite expect (Mimir drops it).
///
/// ```
/// use cairn_common::exemplar::check_labels;
/// use cairn_common::labels::Labels;
/// assert!(check_labels(&Labels::from_pairs([("trace_id", "abc")])).is_ok());
/// assert!(check_labels(&Labels::from_pairs([("trace_id", "x".repeat(121))])).is_err());
/// ```
pub fn check_labels(labels: &Labels) -> Result<(), ExemplarLabelError> {
    let runes: usize = labels
        .iter()
        .map(|l| l.name.chars().count() + l.value.chars().count())
        .sum();
    if runes > MAX_LABEL_SET_RUNES {
        return Err(ExemplarLabelError::TooLong { runes });
    }
    Ok(())
}

/// Read access to a tenant's exemplars (the ingester implements it).
#[async_trait]
pub trait ExemplarSource: Send + Sync {
    /// Exemplars in `[start, end]` (inclusive ms) of the series matching any
    /// of `selectors` (each a conjunction of matchers), sorted by series.
    async fn exemplars(
        &self,
        tenant: &TenantId,
        selectors: &[Vec<Matcher>],
        start: i64,
        end: i64,
    ) -> Result<Vec<SeriesExemplars>, StoreError>;
}
