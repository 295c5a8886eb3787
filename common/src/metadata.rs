//! Metric metadata (type, help, unit per metric family), sent in remote
//! write and read back through `/api/v1/metadata`.
//!
//! The ingester keeps the latest metadata of each family per tenant; the
//! querier reads it through [`MetadataSource`].

use async_trait::async_trait;

use crate::series::StoreError;
use crate::tenant::TenantId;

/// A metric family's type, as Prometheus names it in the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum MetricType {
    /// Untyped.
    #[default]
    Unknown,
    /// Counter.
    Counter,
    /// Gauge.
    Gauge,
    /// Classic histogram.
    Histogram,
    /// Gauge histogram.
    GaugeHistogram,
    /// Summary.
    Summary,
    /// Info.
    Info,
    /// State set.
    StateSet,
}

impl MetricType {
    /// The type from remote write's `MetricMetadata.type` enum value
    /// (unknown values read as [`MetricType::Unknown`]).
    pub fn from_remote_write(v: i32) -> Self {
        match v {
            1 => Self::Counter,
            2 => Self::Gauge,
            3 => Self::Histogram,
            4 => Self::GaugeHistogram,
            5 => Self::Summary,
            6 => Self::Info,
            7 => Self::StateSet,
            _ => Self::Unknown,
        }
    }

    /// The remote-write enum value, inverse of [`MetricType::from_remote_write`].
    pub fn to_remote_write(self) -> i32 {
        match self {
            Self::Unknown => 0,
            Self::Counter => 1,
            Self::Gauge => 2,
            Self::Histogram => 3,
            Self::GaugeHistogram => 4,
            Self::Summary => 5,
            Self::Info => 6,
            Self::StateSet => 7,
        }
    }

    /// The name the Prometheus API uses (`counter`, `gaugehistogram`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
            Self::GaugeHistogram => "gaugehistogram",
            Self::Summary => "summary",
            Self::Info => "info",
            Self::StateSet => "stateset",
        }
    }
}

/// One metric family's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricMetadata {
    /// The family name, e.g. `http_requests_total`.
    pub family: String,
    /// Its type.
    pub metric_type: MetricType,
    /// Its help text.
    pub help: String,
    /// Its unit, e.g. `seconds` (often empty).
    pub unit: String,
}

/// Read access to a tenant's metric metadata (the ingester implements it).
#[async_trait]
pub trait MetadataSource: Send + Sync {
    /// The tenant's metadata, for family `metric` only when given, sorted by
    /// family.
    async fn metadata(
        &self,
        tenant: &TenantId,
        metric: Option<&str>,
    ) -> Result<Vec<MetricMetadata>, StoreError>;
}
