//! The logs signal in the ingester: per-tenant streams of lines in
//! snappy-compressed chunks behind a logs WAL, cut by size or age into logs
//! blocks (`common::logs::block`) and uploaded; recent lines are served
//! from here until queriers see the blocks.

mod chunk;
mod entry_codec;
mod head;
mod record;
mod tenant;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::block::BlockMeta;
use common::labels::Labels;
use common::limits::Limits;
use common::logs::{LogSelect, LogsPushOutcome, PushStream, StreamEntries, trim_to_limit};
use common::push::PushError;
use common::series::{Matcher, StoreError};
use common::tenant::TenantId;
use common::wal::{ReplayStats, WalOptions};
use dashmap::DashMap;
use object_store::ObjectStore;

use crate::error::IngesterError;
use tenant::TenantLogs;

/// The directory of a tenant's logs WAL inside its WAL directory.
pub(crate) const WAL_SUBDIR: &str = "logs";

/// Every tenant's logs in one ingester.
pub(crate) struct LogsIngester {
    tenants: DashMap<TenantId, Arc<TenantLogs>>,
    wal: WalOptions,
    ooo_window: Duration,
}

impl LogsIngester {
    /// No tenants yet; lines older than a stream's newest minus
    /// `ooo_window` will be refused.
    pub(crate) fn new(wal: WalOptions, ooo_window: Duration) -> Self {
        Self {
            tenants: DashMap::new(),
            wal,
            ooo_window,
        }
    }

    /// Replays `tenant`'s logs WAL from `dir` when it exists.
    pub(crate) fn replay(
        &self,
        tenant: &TenantId,
        dir: &Path,
    ) -> Result<Option<ReplayStats>, IngesterError> {
        if !dir.is_dir() {
            return Ok(None);
        }
        let (logs, stats) = TenantLogs::open(tenant.clone(), dir, self.wal, self.ooo_window)?;
        self.tenants.insert(tenant.clone(), Arc::new(logs));
        Ok(Some(stats))
    }

    fn tenant(&self, tenant: &TenantId, dir: &Path) -> Result<Arc<TenantLogs>, IngesterError> {
        if let Some(t) = self.tenants.get(tenant) {
            return Ok(Arc::clone(&t));
        }
        Ok(match self.tenants.entry(tenant.clone()) {
            dashmap::Entry::Occupied(o) => Arc::clone(o.get()),
            dashmap::Entry::Vacant(v) => {
                let (logs, _) = TenantLogs::open(tenant.clone(), dir, self.wal, self.ooo_window)?;
                Arc::clone(v.insert(Arc::new(logs)).value())
            }
        })
    }

    /// Appends `streams` for `tenant` (WAL in `dir`), off the async runtime.
    pub(crate) async fn push(
        &self,
        tenant: &TenantId,
        dir: &Path,
        streams: Vec<PushStream>,
        limits: Arc<Limits>,
    ) -> Result<LogsPushOutcome, PushError> {
        let logs = self
            .tenant(tenant, dir)
            .map_err(|e| PushError::Wal(e.to_string()))?;
        tokio::task::spawn_blocking(move || logs.push(streams, &limits))
            .await
            .map_err(|e| PushError::Unavailable(format!("logs append task failed: {e}")))?
    }

    /// The tenants and their logs, for cutting and gauges.
    fn all(&self) -> Vec<(TenantId, Arc<TenantLogs>)> {
        self.tenants
            .iter()
            .map(|e| (e.key().clone(), Arc::clone(e.value())))
            .collect()
    }

    /// Cuts and uploads every tenant's head, or with `due = Some((max_age,
    /// max_bytes))` only heads that old or that large; returns per tenant
    /// the uploaded blocks or the error.
    pub(crate) async fn cut(
        &self,
        store: &dyn ObjectStore,
        source: &str,
        attempts: u32,
        due: Option<(Duration, usize)>,
    ) -> Vec<(TenantId, Result<Vec<BlockMeta>, IngesterError>)> {
        let mut out = Vec::new();
        for (tenant, logs) in self.all() {
            if due.is_none_or(|(age, bytes)| logs.should_cut(age, bytes)) {
                let result = logs.cut_and_upload(store, source, attempts).await;
                out.push((tenant, result));
            }
        }
        out
    }

    /// Forces every tenant's logs WAL to disk.
    pub(crate) fn sync_wals(&self) -> Result<(), IngesterError> {
        self.all().iter().try_for_each(|(_, logs)| logs.sync_wal())
    }

    /// Drops uploaded heads older than `retain`.
    pub(crate) fn expire_uploaded(&self, retain: Duration) {
        for t in self.tenants.iter() {
            t.expire_uploaded(retain);
        }
    }

    /// Per tenant: active streams and head bytes in memory.
    pub(crate) fn gauges(&self) -> Vec<(TenantId, usize, usize)> {
        self.all()
            .into_iter()
            .map(|(t, logs)| {
                let (streams, bytes) = logs.gauges();
                (t, streams, bytes)
            })
            .collect()
    }

    /// Lines `sel` asks for from the tenant's heads (scanned off the async
    /// runtime).
    pub(crate) async fn select(
        &self,
        tenant: &TenantId,
        sel: &LogSelect,
    ) -> Result<Vec<StreamEntries>, StoreError> {
        let Some(t) = self.tenants.get(tenant).map(|t| Arc::clone(t.value())) else {
            return Ok(Vec::new());
        };
        let sel = sel.clone();
        crate::off_runtime(move || {
            let mut out = t.select(&sel);
            trim_to_limit(&mut out, sel.limit, sel.direction);
            out
        })
        .await
    }

    /// Label sets of the tenant's matching streams.
    pub(crate) fn streams(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Vec<Labels> {
        self.tenants
            .get(tenant)
            .map(|t| t.streams(matchers, start_ns, end_ns))
            .unwrap_or_default()
    }
}
