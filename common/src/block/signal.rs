//! Which signal a block holds. Metrics, logs and trace blocks share the
//! block lifecycle (`meta.json` last, deletion marks, bucket index,
//! compaction), each under its own prefix of the tenant's directory.

use object_store::path::Path;
use ulid::Ulid;

use crate::tenant::TenantId;

/// The kind of data in a block, deciding where its blocks live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    /// Prometheus-style TSDB blocks.
    Metrics,
    /// Logs blocks (Parquet lines and a stream index).
    Logs,
    /// Trace blocks (Parquet spans).
    Traces,
}

impl Signal {
    /// Every signal, for passes that visit them all.
    pub const ALL: [Signal; 3] = [Signal::Metrics, Signal::Logs, Signal::Traces];

    /// Its name in paths, logs and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
            Signal::Traces => "traces",
        }
    }

    /// Where `tenant`'s blocks of this signal live: `<tenant>/<signal>/blocks`.
    pub fn blocks_prefix(self, tenant: &TenantId) -> Path {
        Path::from_iter([tenant.as_str(), self.name(), "blocks"])
    }

    /// The directory of `tenant`'s block `ulid`.
    pub fn block_dir(self, tenant: &TenantId, ulid: Ulid) -> Path {
        self.blocks_prefix(tenant).join(ulid.to_string())
    }

    /// Where the signal's bucket index lives: Mimir's
    /// `<tenant>/bucket-index.json.gz` for metrics,
    /// `<tenant>/<signal>/bucket-index.json.gz` for the others.
    pub fn bucket_index_path(self, tenant: &TenantId) -> Path {
        match self {
            Signal::Metrics => Path::from_iter([tenant.as_str(), "bucket-index.json.gz"]),
            other => Path::from_iter([tenant.as_str(), other.name(), "bucket-index.json.gz"]),
        }
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
