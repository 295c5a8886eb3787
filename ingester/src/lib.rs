//! The ingester: per-tenant in-memory heads behind a write-ahead log, cut
//! into immutable blocks every `block_range` and uploaded to object storage.
//! It also answers queries for data not yet in storage.

mod codec;
mod config;
mod dir_lock;
mod error;
mod head_set;
mod http;
mod lifecycle;
mod logs;
mod memory_limit;
mod metrics;
mod self_metrics;
mod traces;
mod wal_health;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::block::BlockMeta;
use common::exemplar::{ExemplarSource, SeriesExemplars};
use common::labels::Labels;
use common::limits::Overrides;
use common::logs::{LogSelect, LogStore, LogsPushOutcome, LogsPusher, PushStream, StreamEntries};
use common::metadata::{MetadataSource, MetricMetadata};
use common::push::{ExemplarOutcome, MetricsPusher, PushError, PushOutcome, PushSeries};
use common::series::{Matcher, Series, SeriesStore, StoreError};
use common::tenant::TenantId;
use common::traces::{
    AttrScope, Span, Trace, TraceId, TraceScan, TraceStore, TracesPushOutcome, TracesPusher,
};
use common::wal::{ReplayStats, WalOptions};
use dashmap::DashMap;
use object_store::ObjectStore;
use parking_lot::Mutex;
use prometheus_client::registry::Registry;

pub use config::IngesterConfig;
pub use error::IngesterError;
pub use lifecycle::Membership;
use logs::LogsIngester;
use memory_limit::MemoryLimit;
use metrics::exemplars::{ExemplarBounds, ExemplarStore};
use metrics::metadata::MetadataStore;
use metrics::tenant_db::TenantDb;
use self_metrics::{IngesterMetrics, TenantLabel, TenantReasonLabel};
use traces::TracesDb;
use wal_health::WalHealth;

/// The traces WAL's directory inside a tenant's WAL directory (the
/// metrics WAL ignores entries that are not segment numbers).
const TRACES_WAL_DIR: &str = "traces";

/// The ingester service. Cheap to share: wrap in an `Arc`.
pub struct Ingester {
    cfg: IngesterConfig,
    store: Arc<dyn ObjectStore>,
    overrides: Arc<Overrides>,
    tenants: DashMap<TenantId, Arc<TenantDb>>,
    /// Per-tenant exemplars, in memory and logged to the tenant's WAL.
    exemplars: DashMap<TenantId, Arc<Mutex<ExemplarStore>>>,
    /// Per-tenant metric metadata (memory only, like Mimir).
    metadata: DashMap<TenantId, Mutex<MetadataStore>>,
    /// Per-tenant log streams, with their own WAL under `<wal_dir>/<tenant>/logs`.
    logs: LogsIngester,
    /// Per-tenant live traces behind their WAL.
    traces: DashMap<TenantId, Arc<TracesDb>>,
    /// Refuses pushes past `max_memory_bytes`.
    memory: MemoryLimit,
    metrics: IngesterMetrics,
    /// Whether WAL writes succeed (`/ready`, `cairn_ingester_wal_writable`).
    wal_health: WalHealth,
    /// Held for the process's life: no second process uses `wal_dir`.
    _dir_lock: dir_lock::DirLock,
    /// Its lifecycle (set by the server once the WAL is replayed).
    membership: std::sync::OnceLock<Arc<Membership>>,
}

impl Ingester {
    /// Opens the ingester: locks `cfg.wal_dir` (failing at once when
    /// another process holds it, before reading or writing anything there),
    /// then replays every tenant's WAL under it.
    pub fn new(
        cfg: IngesterConfig,
        store: Arc<dyn ObjectStore>,
        overrides: Arc<Overrides>,
        registry: &mut Registry,
    ) -> Result<Arc<Self>, IngesterError> {
        let dir_lock = dir_lock::DirLock::acquire(&cfg.wal_dir)?;
        let metrics = IngesterMetrics::register(registry);
        let this = Self {
            wal_health: WalHealth::new(
                &cfg.wal_dir,
                metrics.wal_writable.clone(),
                metrics.wal_write_failures.clone(),
            ),
            _dir_lock: dir_lock,
            logs: LogsIngester::new(wal_options(&cfg), cfg.logs_block_max_age / 2),
            memory: MemoryLimit::new(cfg.max_memory_bytes),
            cfg,
            store,
            overrides,
            tenants: DashMap::new(),
            exemplars: DashMap::new(),
            metadata: DashMap::new(),
            traces: DashMap::new(),
            metrics,
            membership: std::sync::OnceLock::new(),
        };
        this.replay_all()?;
        Ok(Arc::new(this))
    }

    fn replay_all(&self) -> Result<(), IngesterError> {
        let dir = &self.cfg.wal_dir;
        let entries = std::fs::read_dir(dir)
            .map_err(|e| IngesterError::Io(format!("{}: {e}", dir.display())))?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name == dir_lock::LOCK_FILE {
                continue;
            }
            let tenant = name.to_str().and_then(|n| TenantId::parse(n).ok());
            let (Some(tenant), true) = (tenant, entry.path().is_dir()) else {
                tracing::warn!(path = %entry.path().display(), "ignoring non-tenant entry in WAL directory");
                continue;
            };
            // Records skipped at warn name their segment; the span names the tenant.
            let _span = tracing::info_span!("wal_replay", %tenant).entered();
            if let Some(stats) = self
                .logs
                .replay(&tenant, &entry.path().join(logs::WAL_SUBDIR))?
            {
                tracing::info!(
                    records = stats.records,
                    segments = stats.segments,
                    "replayed logs WAL"
                );
                self.count_replay(&tenant, &stats);
            }
            let (db, stats, exemplars) =
                TenantDb::open(tenant.clone(), &entry.path(), wal_options(&self.cfg))?;
            tracing::info!(
                records = stats.records,
                segments = stats.segments,
                exemplars = exemplars.len(),
                "replayed WAL"
            );
            if !exemplars.is_empty() {
                self.exemplar_store(&tenant).lock().add(exemplars);
            }
            self.count_replay(&tenant, &stats);
            self.tenants.insert(tenant.clone(), Arc::new(db));
            let traces_dir = entry.path().join(TRACES_WAL_DIR);
            if traces_dir.exists() {
                let (traces, stats) = TracesDb::open(
                    tenant.clone(),
                    &traces_dir,
                    wal_options(&self.cfg),
                    self.cfg.trace_idle_period,
                )?;
                tracing::info!(records = stats.records, "replayed traces WAL");
                self.count_replay(&tenant, &stats);
                self.traces.insert(tenant, Arc::new(traces));
            }
        }
        Ok(())
    }

    /// Counts what a replay of one of `tenant`'s WALs found.
    fn count_replay(&self, tenant: &TenantId, stats: &ReplayStats) {
        self.metrics.wal_replayed_records.inc_by(stats.records);
        self.metrics
            .wal_corrupt_segments
            .inc_by(stats.corrupt_segments);
        if stats.skipped_records > 0 {
            tracing::warn!(%tenant, skipped = stats.skipped_records, "skipped WAL records that could not be replayed");
            self.metrics
                .wal_replay_skipped_records
                .get_or_create(&TenantLabel {
                    tenant: tenant.to_string(),
                })
                .inc_by(stats.skipped_records);
        }
    }

    /// `Ok` while the ingester can write its WAL, else why not (for
    /// `/ready`). While writes fail it probes the WAL directory, so it
    /// turns `Ok` again once space returns even when no push comes.
    pub fn wal_status(&self) -> Result<(), String> {
        self.wal_health.check()
    }

    fn traces_db(&self, tenant: &TenantId) -> Result<Arc<TracesDb>, IngesterError> {
        if let Some(db) = self.traces.get(tenant) {
            return Ok(Arc::clone(&db));
        }
        let dir = self.cfg.wal_dir.join(tenant.as_str()).join(TRACES_WAL_DIR);
        match self.traces.entry(tenant.clone()) {
            dashmap::Entry::Occupied(o) => Ok(Arc::clone(o.get())),
            dashmap::Entry::Vacant(v) => {
                let (db, _) = TracesDb::open(
                    tenant.clone(),
                    &dir,
                    wal_options(&self.cfg),
                    self.cfg.trace_idle_period,
                )?;
                Ok(Arc::clone(v.insert(Arc::new(db)).value()))
            }
        }
    }

    fn tenant_db(&self, tenant: &TenantId) -> Result<Arc<TenantDb>, IngesterError> {
        if let Some(db) = self.tenants.get(tenant) {
            return Ok(Arc::clone(&db));
        }
        let dir = self.cfg.wal_dir.join(tenant.as_str());
        let entry = self.tenants.entry(tenant.clone());
        let db = match entry {
            dashmap::Entry::Occupied(o) => Arc::clone(o.get()),
            dashmap::Entry::Vacant(v) => {
                let (db, _, _) = TenantDb::open(tenant.clone(), &dir, wal_options(&self.cfg))?;
                Arc::clone(v.insert(Arc::new(db)).value())
            }
        };
        Ok(db)
    }

    /// The tenant's exemplar store, created on first use.
    fn exemplar_store(&self, tenant: &TenantId) -> Arc<Mutex<ExemplarStore>> {
        let bounds = ExemplarBounds {
            per_series: self.cfg.max_exemplars_per_series,
            series: self.cfg.max_exemplar_series_per_tenant,
        };
        Arc::clone(
            &self
                .exemplars
                .entry(tenant.clone())
                .or_insert_with(|| Arc::new(Mutex::new(ExemplarStore::new(bounds)))),
        )
    }

    /// Cuts every tenant's metrics, logs and traces heads (traces with
    /// every live trace) into blocks and uploads them now (`POST
    /// /ingester/flush`). Returns the uploaded blocks.
    pub async fn flush(&self) -> Result<Vec<BlockMeta>, IngesterError> {
        let dbs: Vec<(TenantId, Arc<TenantDb>)> = self
            .tenants
            .iter()
            .map(|e| (e.key().clone(), Arc::clone(e.value())))
            .collect();
        let mut uploaded = Vec::new();
        let mut first_err = None;
        for (tenant, db) in dbs {
            let label = TenantLabel {
                tenant: tenant.to_string(),
            };
            match db
                .cut_and_upload(self.store.as_ref(), &self.cfg.id, self.cfg.upload_attempts)
                .await
            {
                Ok(metas) => {
                    self.metrics
                        .blocks_uploaded
                        .get_or_create(&label)
                        .inc_by(metas.len() as u64);
                    uploaded.extend(metas);
                }
                Err(e) => {
                    tracing::error!(%tenant, error = %e, "cutting block failed; data stays in the WAL");
                    self.metrics
                        .block_upload_failures
                        .get_or_create(&label)
                        .inc();
                    first_err.get_or_insert(e);
                }
            }
            self.metrics
                .active_series
                .get_or_create(&label)
                .set(db.active_series() as i64);
        }
        if let Err(e) = self.cut_logs(None, &mut uploaded).await {
            first_err.get_or_insert(e);
        }
        if let Err(e) = self.cut_traces(None, &mut uploaded).await {
            first_err.get_or_insert(e);
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(uploaded),
        }
    }

    /// Cuts and uploads tenants' logs heads (all, or with `due =
    /// Some((max_age, max_bytes))` those that old or large), appending the
    /// uploaded blocks to `uploaded`; returns the first error.
    async fn cut_logs(
        &self,
        due: Option<(Duration, usize)>,
        uploaded: &mut Vec<BlockMeta>,
    ) -> Result<(), IngesterError> {
        let results = self
            .logs
            .cut(
                self.store.as_ref(),
                &self.cfg.id,
                self.cfg.upload_attempts,
                due,
            )
            .await;
        let outcome = self.record_cuts("logs", results, uploaded);
        self.update_logs_gauges();
        outcome
    }

    /// Cuts and uploads tenants' traces heads: all of them with every live
    /// trace (`due = None`), or those at `Some((max_age, max_bytes))`.
    async fn cut_traces(
        &self,
        due: Option<(Duration, usize)>,
        uploaded: &mut Vec<BlockMeta>,
    ) -> Result<(), IngesterError> {
        let dbs: Vec<(TenantId, Arc<TracesDb>)> = self
            .traces
            .iter()
            .map(|e| (e.key().clone(), Arc::clone(e.value())))
            .collect();
        let mut results = Vec::new();
        for (tenant, db) in dbs {
            if due.is_none_or(|(age, bytes)| db.should_cut(age, bytes)) {
                let result = db
                    .cut_and_upload(
                        self.store.as_ref(),
                        &self.cfg.id,
                        self.cfg.upload_attempts,
                        due.is_none(),
                    )
                    .await;
                results.push((tenant, result));
            }
        }
        let outcome = self.record_cuts("traces", results, uploaded);
        self.update_traces_gauges();
        outcome
    }

    /// Counts and logs the per-tenant results of a `signal`'s block cut,
    /// appending uploaded blocks to `uploaded`; returns the first error.
    fn record_cuts(
        &self,
        signal: &str,
        results: Vec<(TenantId, Result<Vec<BlockMeta>, IngesterError>)>,
        uploaded: &mut Vec<BlockMeta>,
    ) -> Result<(), IngesterError> {
        let mut first_err = None;
        for (tenant, result) in results {
            let label = TenantLabel {
                tenant: tenant.to_string(),
            };
            match result {
                Ok(metas) => {
                    self.metrics
                        .blocks_uploaded
                        .get_or_create(&label)
                        .inc_by(metas.len() as u64);
                    uploaded.extend(metas);
                }
                Err(e) => {
                    tracing::error!(%tenant, signal, error = %e, "cutting block failed; the data stays in the WAL");
                    self.metrics
                        .block_upload_failures
                        .get_or_create(&label)
                        .inc();
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn update_traces_gauges(&self) {
        for db in self.traces.iter() {
            let label = TenantLabel {
                tenant: db.key().to_string(),
            };
            let (live, bytes) = db.gauges();
            self.metrics
                .live_traces
                .get_or_create(&label)
                .set(live as i64);
            self.metrics
                .traces_bytes
                .get_or_create(&label)
                .set(bytes as i64);
        }
    }

    fn update_logs_gauges(&self) {
        for (tenant, streams, bytes) in self.logs.gauges() {
            let label = TenantLabel {
                tenant: tenant.to_string(),
            };
            self.metrics
                .active_streams
                .get_or_create(&label)
                .set(streams as i64);
            self.metrics
                .logs_head_bytes
                .get_or_create(&label)
                .set(bytes as i64);
        }
    }

    /// Cuts and uploads metrics blocks at every multiple of `block_range`
    /// (wall clock); logs blocks whenever a tenant's logs head reaches
    /// `logs_block_max_age` or `logs_block_max_bytes`; and traces blocks
    /// whenever a tenant's traces head (traces idle for
    /// `trace_idle_period`) reaches `traces_block_max_age` or
    /// `traces_block_max_bytes` (checked every few seconds), for as long as
    /// the runtime runs.
    pub fn spawn_cut_loop(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let logs = Arc::clone(self);
        tokio::spawn(async move {
            let due = (logs.cfg.logs_block_max_age, logs.cfg.logs_block_max_bytes);
            let mut tick = tokio::time::interval(
                (due.0 / 8).clamp(Duration::from_millis(100), Duration::from_secs(10)),
            );
            loop {
                tick.tick().await;
                if let Err(e) = logs.cut_logs(Some(due), &mut Vec::new()).await {
                    tracing::error!(error = %e, "periodic logs block cut failed");
                }
            }
        });
        let traces = Arc::clone(self);
        tokio::spawn(async move {
            let cfg = &traces.cfg;
            let due = (cfg.traces_block_max_age, cfg.traces_block_max_bytes);
            let mut tick = tokio::time::interval(
                (cfg.trace_idle_period / 2)
                    .clamp(Duration::from_millis(100), Duration::from_secs(5)),
            );
            loop {
                tick.tick().await;
                for db in traces.traces.iter() {
                    db.sweep_idle(cfg.trace_idle_period);
                }
                if let Err(e) = traces.cut_traces(Some(due), &mut Vec::new()).await {
                    tracing::error!(error = %e, "periodic traces block cut failed");
                }
            }
        });
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let range = this.cfg.block_range.as_millis().max(1) as u64;
            loop {
                let now = common::time::now_ms().max(0) as u64;
                let wait = range - now % range;
                tokio::time::sleep(Duration::from_millis(wait)).await;
                if let Err(e) = this.flush().await {
                    tracing::error!(error = %e, "periodic block cut failed");
                }
            }
        })
    }

    /// Drops uploaded metrics, logs and traces heads past `retain_uploaded_for`, every few seconds,
    /// for as long as the runtime runs.
    pub fn spawn_retention_loop(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let retain = this.cfg.retain_uploaded_for;
            let mut tick = tokio::time::interval(
                (retain / 4).clamp(Duration::from_secs(1), Duration::from_secs(15)),
            );
            loop {
                tick.tick().await;
                for db in this.tenants.iter() {
                    db.expire_uploaded(retain);
                }
                this.logs.expire_uploaded(retain);
                for db in this.traces.iter() {
                    db.expire_uploaded(retain);
                }
            }
        })
    }

    /// What a graceful shutdown does: cuts and uploads every head (when
    /// `flush`), then forces every WAL to disk, so whatever could not be
    /// uploaded is replayed on the next start. Returns the first error.
    pub async fn shutdown(&self, flush: bool) -> Result<(), IngesterError> {
        let flushed = if flush {
            self.flush().await.map(|blocks| {
                tracing::info!(blocks = blocks.len(), "flushed heads on shutdown");
            })
        } else {
            Ok(())
        };
        for db in self.tenants.iter() {
            db.sync_wal()?;
        }
        self.logs.sync_wals()?;
        for db in self.traces.iter() {
            db.sync_wal()?;
        }
        flushed
    }

    /// Gives the ingester its lifecycle: it then answers `/ingester/ring`
    /// and `/ingester/shutdown` and, in a ring, enforces its share of each
    /// tenant's global limits.
    pub fn set_membership(&self, membership: Arc<Membership>) {
        let _ = self.membership.set(membership);
    }

    /// Its lifecycle, once set.
    pub fn membership(&self) -> Option<&Arc<Membership>> {
        self.membership.get()
    }

    /// `tenant`'s limits as this ingester enforces them.
    fn limits(&self, tenant: &TenantId) -> Arc<common::limits::Limits> {
        let limits = self.overrides.get(tenant);
        match self.membership.get() {
            Some(m) => m.local_limits(tenant, limits),
            None => limits,
        }
    }

    /// Refuses a push once the ingester is leaving (`/ingester/shutdown`),
    /// or while the process is over its memory limit, counting the refusal.
    fn admit(&self, tenant: &TenantId) -> Result<(), PushError> {
        if self.membership.get().is_some_and(|m| !m.is_active()) {
            return Err(PushError::Unavailable(
                "the ingester is leaving the ring".into(),
            ));
        }
        self.memory.check().inspect_err(|_| {
            self.metrics
                .memory_limited_pushes
                .get_or_create(&TenantLabel {
                    tenant: tenant.to_string(),
                })
                .inc();
        })
    }

    /// `POST /ingester/flush`.
    pub fn router(self: Arc<Self>) -> axum::Router {
        http::router(self)
    }
}

/// Runs a head scan where it holds no async worker that other requests
/// need: decoding a heavy query's chunks on one would make every other
/// request (another tenant's light query, a push) wait behind it.
pub(crate) async fn off_runtime<T: Send + 'static>(
    scan: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StoreError> {
    common::cpu_work::run_cpu_heavy(scan)
        .await
        .map_err(|e| StoreError::Other(format!("head scan aborted: {e}")))
}

/// How the ingester's WALs (metrics and logs) write.
fn wal_options(cfg: &IngesterConfig) -> WalOptions {
    WalOptions {
        segment_size: cfg.wal_segment_size,
        fsync: cfg.wal_fsync,
    }
}

#[async_trait]
impl MetricsPusher for Ingester {
    async fn push(
        &self,
        tenant: &TenantId,
        series: Vec<PushSeries>,
    ) -> Result<PushOutcome, PushError> {
        self.admit(tenant)?;
        let db = self
            .tenant_db(tenant)
            .map_err(|e| PushError::Wal(e.to_string()))?;
        let limits = self.limits(tenant);
        let db2 = Arc::clone(&db);
        let outcome = tokio::task::spawn_blocking(move || db2.push(series, &limits))
            .await
            .map_err(|e| PushError::Unavailable(format!("append task failed: {e}")))?;
        let label = TenantLabel {
            tenant: tenant.to_string(),
        };
        self.wal_health
            .record(outcome.as_ref().map(|o| o.accepted + o.accepted_histograms));
        if let Ok(o) = &outcome {
            self.metrics
                .appended_samples
                .get_or_create(&label)
                .inc_by(o.accepted as u64);
            self.metrics
                .appended_histogram_samples
                .get_or_create(&label)
                .inc_by(o.accepted_histograms as u64);
        }
        self.metrics
            .active_series
            .get_or_create(&label)
            .set(db.active_series() as i64);
        outcome
    }

    async fn push_exemplars(
        &self,
        tenant: &TenantId,
        exemplars: Vec<SeriesExemplars>,
    ) -> Result<ExemplarOutcome, PushError> {
        let db = self
            .tenant_db(tenant)
            .map_err(|e| PushError::Wal(e.to_string()))?;
        let store = self.exemplar_store(tenant);
        // Logged, then stored, under the store's lock: the WAL keeps each
        // series' exemplars in the order the store accepted them, and a
        // refused write stores nothing a retry would find a duplicate of.
        let outcome = tokio::task::spawn_blocking(move || {
            let mut store = store.lock();
            let (outcome, stored) = store.plan(exemplars);
            db.log_exemplars(&stored)?;
            store.commit(&stored);
            Ok(outcome)
        })
        .await
        .map_err(|e| PushError::Unavailable(format!("exemplar task failed: {e}")))?;
        self.wal_health.record(outcome.as_ref().map(|o| o.accepted));
        let outcome = outcome?;
        let tenant = tenant.to_string();
        self.metrics
            .appended_exemplars
            .get_or_create(&TenantLabel {
                tenant: tenant.clone(),
            })
            .inc_by(outcome.accepted as u64);
        for (reason, n) in [
            ("duplicate", outcome.duplicates),
            ("out-of-order", outcome.out_of_order),
        ] {
            if n > 0 {
                self.metrics
                    .dropped_exemplars
                    .get_or_create(&TenantReasonLabel {
                        tenant: tenant.clone(),
                        reason,
                    })
                    .inc_by(n as u64);
            }
        }
        Ok(outcome)
    }

    async fn push_metadata(
        &self,
        tenant: &TenantId,
        metadata: Vec<MetricMetadata>,
    ) -> Result<usize, PushError> {
        let max = self.cfg.max_metadata_per_tenant;
        let outcome = self
            .metadata
            .entry(tenant.clone())
            .or_insert_with(|| Mutex::new(MetadataStore::new(max)))
            .lock()
            .add(metadata);
        if outcome.refused > 0 {
            self.metrics
                .dropped_metadata
                .get_or_create(&TenantLabel {
                    tenant: tenant.to_string(),
                })
                .inc_by(outcome.refused as u64);
        }
        Ok(outcome.kept)
    }
}

#[async_trait]
impl ExemplarSource for Ingester {
    async fn exemplars(
        &self,
        tenant: &TenantId,
        selectors: &[Vec<Matcher>],
        start: i64,
        end: i64,
    ) -> Result<Vec<SeriesExemplars>, StoreError> {
        Ok(self
            .exemplars
            .get(tenant)
            .map(|s| s.lock().query(selectors, start, end))
            .unwrap_or_default())
    }
}

#[async_trait]
impl MetadataSource for Ingester {
    async fn metadata(
        &self,
        tenant: &TenantId,
        metric: Option<&str>,
    ) -> Result<Vec<MetricMetadata>, StoreError> {
        Ok(self
            .metadata
            .get(tenant)
            .map(|s| s.lock().get(metric))
            .unwrap_or_default())
    }
}

#[async_trait]
impl SeriesStore for Ingester {
    async fn select(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Series>, StoreError> {
        let Some(db) = self.tenants.get(tenant).map(|e| Arc::clone(e.value())) else {
            return Ok(Vec::new());
        };
        let matchers = matchers.to_vec();
        off_runtime(move || db.select(&matchers, mint, maxt)).await
    }

    async fn series(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Labels>, StoreError> {
        let Some(db) = self.tenants.get(tenant).map(|e| Arc::clone(e.value())) else {
            return Ok(Vec::new());
        };
        let matchers = matchers.to_vec();
        off_runtime(move || db.series(&matchers, mint, maxt)).await
    }
}

#[async_trait]
impl LogsPusher for Ingester {
    async fn push_logs(
        &self,
        tenant: &TenantId,
        streams: Vec<PushStream>,
    ) -> Result<LogsPushOutcome, PushError> {
        self.admit(tenant)?;
        let dir = self
            .cfg
            .wal_dir
            .join(tenant.as_str())
            .join(logs::WAL_SUBDIR);
        let limits = self.limits(tenant);
        let outcome = self.logs.push(tenant, &dir, streams, limits).await;
        self.wal_health.record(outcome.as_ref().map(|o| o.accepted));
        if let Ok(o) = &outcome {
            self.metrics
                .appended_lines
                .get_or_create(&TenantLabel {
                    tenant: tenant.to_string(),
                })
                .inc_by(o.accepted as u64);
        }
        outcome
    }
}

#[async_trait]
impl TracesPusher for Ingester {
    async fn push_spans(
        &self,
        tenant: &TenantId,
        spans: Vec<Span>,
    ) -> Result<TracesPushOutcome, PushError> {
        self.admit(tenant)?;
        let limits = self.limits(tenant);
        let db = self
            .traces_db(tenant)
            .map_err(|e| PushError::Wal(e.to_string()))?;
        let outcome = db.push(spans, &limits);
        self.wal_health.record(outcome.as_ref().map(|o| o.accepted));
        let outcome = outcome?;
        self.metrics
            .appended_spans
            .get_or_create(&TenantLabel {
                tenant: tenant.to_string(),
            })
            .inc_by(outcome.accepted as u64);
        Ok(outcome)
    }
}

#[async_trait]
impl LogStore for Ingester {
    async fn select_logs(
        &self,
        tenant: &TenantId,
        sel: &LogSelect,
    ) -> Result<Vec<StreamEntries>, StoreError> {
        self.logs.select(tenant, sel).await
    }

    async fn log_streams(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<Labels>, StoreError> {
        Ok(self.logs.streams(tenant, matchers, start_ns, end_ns))
    }
}

#[async_trait]
impl TraceStore for Ingester {
    async fn trace_by_id(
        &self,
        tenant: &TenantId,
        id: TraceId,
        start_ns: u64,
        end_ns: u64,
    ) -> Result<Option<Trace>, StoreError> {
        Ok(self
            .traces
            .get(tenant)
            .and_then(|t| t.trace_by_id(id, start_ns, end_ns)))
    }

    async fn search(&self, tenant: &TenantId, scan: &TraceScan) -> Result<Vec<Trace>, StoreError> {
        let Some(t) = self.traces.get(tenant).map(|t| Arc::clone(t.value())) else {
            return Ok(Vec::new());
        };
        let scan = scan.clone();
        off_runtime(move || t.search(&scan)).await
    }

    async fn tag_names(
        &self,
        tenant: &TenantId,
        start_ns: u64,
        end_ns: u64,
    ) -> Result<BTreeSet<(AttrScope, String)>, StoreError> {
        Ok(self
            .traces
            .get(tenant)
            .map(|t| t.tag_names(start_ns, end_ns))
            .unwrap_or_default())
    }

    async fn tag_values(
        &self,
        tenant: &TenantId,
        scope: Option<AttrScope>,
        key: &str,
        start_ns: u64,
        end_ns: u64,
    ) -> Result<BTreeSet<String>, StoreError> {
        Ok(self
            .traces
            .get(tenant)
            .map(|t| t.tag_values(scope, key, start_ns, end_ns))
            .unwrap_or_default())
    }
}
