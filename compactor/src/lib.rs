//! The compactor: merges a tenant's small blocks into larger ones, removes
//! the duplicate samples replication wrote, applies per-tenant retention,
//! deletes marked blocks after a delay and keeps the per-tenant bucket
//! index queriers read instead of listing the bucket.
//!
//! Tenants are discovered by listing the bucket root and split across
//! compactor replicas by [`sharding`]. Planning ([`planner`]), retention
//! ([`retention`]), safe deletion ([`deletion`]), marks and the bucket
//! index (`pass`) work on time spans and block directories, not on a
//! signal's format; [`metrics`], `logs` and `traces` hold how each
//! signal's blocks are merged.

pub mod config;
pub mod deletion;
mod http;
mod logs;
pub mod metrics;
mod pass;
pub mod planner;
pub mod retention;
mod self_metrics;
pub mod sharding;
mod traces;

use std::sync::Arc;
use std::time::Duration;

use common::block::BlockError;
use common::limits::Overrides;
use common::tenant::TenantId;
use futures::StreamExt;
use object_store::ObjectStore;
use prometheus_client::registry::Registry;
use serde::Serialize;

pub use self::config::{CompactorConfig, ShardingConfig};
use self::logs::LogsMerger;
use self::metrics::MetricsMerger;
use self::pass::{Merger, SignalPass};
use self::self_metrics::{CompactorMetrics, RunLabel};
use self::traces::TracesMerger;
use common::block::Signal;

/// Why a compaction pass failed.
#[derive(Debug, thiserror::Error)]
pub enum CompactorError {
    /// Reading or writing a block failed.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// Object storage failed.
    #[error("object storage: {0}")]
    ObjectStore(#[from] object_store::Error),
    /// Some tenants failed (the others were processed).
    #[error("{} tenant(s) failed: {}", .0.len(), .0.iter().map(|(t, e)| format!("{t}: {e}")).collect::<Vec<_>>().join("; "))]
    Tenants(Vec<(String, String)>),
}

/// What one pass did for one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TenantReport {
    /// The tenant.
    pub tenant: String,
    /// Blocks written by merging.
    pub compactions: usize,
    /// Samples written into those blocks.
    pub merged_samples: u64,
    /// Sources of this pass's compactions marked for deletion.
    pub marked_compacted: usize,
    /// Blocks already covered by a compacted block (an earlier pass was
    /// interrupted before marking them) marked for deletion.
    pub marked_duplicate: usize,
    /// Blocks past the tenant's retention marked for deletion.
    pub marked_retention: usize,
    /// Damaged blocks excluded from compaction (`no-compact-mark.json`).
    pub marked_no_compact: usize,
    /// Block directories deleted (marked blocks and partial uploads).
    pub deleted: usize,
}

/// What one pass did, per owned tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunReport {
    /// One entry per tenant this replica owns.
    pub tenants: Vec<TenantReport>,
}

/// The compactor service.
pub struct Compactor {
    cfg: CompactorConfig,
    store: Arc<dyn ObjectStore>,
    overrides: Arc<Overrides>,
    metrics: CompactorMetrics,
    /// One pass at a time: the loops and `POST /compactor/run` queue here.
    running: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Compactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compactor")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

/// Which parts of a pass to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PassKind {
    /// Retention, compaction, then cleanup.
    Full,
    /// Deletions and the bucket index only.
    CleanupOnly,
}

impl Compactor {
    /// A compactor over `store`, reading retention from `overrides` and
    /// registering its metrics in `registry`.
    pub fn new(
        cfg: CompactorConfig,
        store: Arc<dyn ObjectStore>,
        overrides: Arc<Overrides>,
        registry: &mut Registry,
    ) -> Arc<Self> {
        Arc::new(Self {
            cfg,
            store,
            overrides,
            metrics: CompactorMetrics::register(registry),
            running: tokio::sync::Mutex::new(()),
        })
    }

    /// One full pass (retention, compaction, cleanup, bucket index) over
    /// every tenant this replica owns, now.
    pub async fn run_once(&self) -> Result<RunReport, CompactorError> {
        self.run_at(common::time::now_ms()).await
    }

    /// [`Compactor::run_once`] as if the time were `now_ms`: which windows
    /// are complete, which blocks expired and which marks are old enough
    /// are judged against it (tests and backfills use it).
    pub async fn run_at(&self, now_ms: i64) -> Result<RunReport, CompactorError> {
        self.pass(PassKind::Full, now_ms).await
    }

    async fn pass(&self, kind: PassKind, now_ms: i64) -> Result<RunReport, CompactorError> {
        let _one_at_a_time = self.running.lock().await;
        let result = self.pass_locked(kind, now_ms).await;
        let status = if result.is_ok() { "success" } else { "failure" };
        self.metrics
            .runs
            .get_or_create(&RunLabel {
                kind: match kind {
                    PassKind::Full => "compaction",
                    PassKind::CleanupOnly => "cleanup",
                },
                status,
            })
            .inc();
        if result.is_ok() && kind == PassKind::Full {
            self.metrics
                .last_successful_run
                .set(common::time::now_ms() as f64 / 1000.0);
        }
        result
    }

    async fn pass_locked(&self, kind: PassKind, now_ms: i64) -> Result<RunReport, CompactorError> {
        let tenants = self.owned_tenants().await?;
        // Futures built up front: a stream mapping over `&self` is not
        // provably `Send` for the spawned loops.
        let runs: Vec<_> = tenants
            .into_iter()
            .map(|tenant| async move {
                let r = self.run_tenant(&tenant, kind, now_ms).await;
                (tenant, r)
            })
            .collect();
        let results: Vec<(TenantId, Result<TenantReport, CompactorError>)> =
            futures::stream::iter(runs)
                .buffer_unordered(self.cfg.compaction_concurrency.max(1))
                .collect()
                .await;
        let mut report = RunReport::default();
        let mut failures = Vec::new();
        for (tenant, result) in results {
            match result {
                Ok(r) => report.tenants.push(r),
                Err(e) => {
                    tracing::error!(%tenant, error = %e, "compactor pass failed for tenant");
                    CompactorMetrics::tenant(&self.metrics.tenant_failures, tenant.as_str()).inc();
                    failures.push((tenant.to_string(), e.to_string()));
                }
            }
        }
        report.tenants.sort_by(|a, b| a.tenant.cmp(&b.tenant));
        if failures.is_empty() {
            Ok(report)
        } else {
            failures.sort();
            Err(CompactorError::Tenants(failures))
        }
    }

    /// Every tenant in the bucket (top-level directories with a valid
    /// tenant ID) that this replica owns.
    async fn owned_tenants(&self) -> Result<Vec<TenantId>, CompactorError> {
        let listing = self.store.list_with_delimiter(None).await?;
        Ok(listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().and_then(|name| TenantId::parse(name).ok()))
            .filter(|t| sharding::owns(&self.cfg.sharding, t))
            .collect())
    }

    /// One tenant's part of a pass, for every signal.
    async fn run_tenant(
        &self,
        tenant: &TenantId,
        kind: PassKind,
        now_ms: i64,
    ) -> Result<TenantReport, CompactorError> {
        let mut report = TenantReport {
            tenant: tenant.to_string(),
            ..TenantReport::default()
        };
        let limits = self.overrides.get(tenant);
        let signals: [(Signal, &dyn Merger, Duration); 3] = [
            (Signal::Metrics, &MetricsMerger, limits.metrics_retention()),
            (Signal::Logs, &LogsMerger, limits.retention_period),
            (Signal::Traces, &TracesMerger, limits.traces_retention()),
        ];
        let mut result = Ok(());
        for (signal, merger, retention) in signals {
            let pass = SignalPass {
                signal,
                merger,
                store: &self.store,
                cfg: &self.cfg,
                retention,
                now_ms,
            };
            // Cleanup runs even when compaction failed (a damaged block, an
            // outage): deletions and the bucket index must not stall with it.
            let compacted = match kind {
                PassKind::Full => pass.compact(tenant, &mut report).await,
                PassKind::CleanupOnly => Ok(()),
            };
            let cleaned = pass.cleanup(tenant, &mut report).await;
            result = result.and(compacted).and(cleaned);
        }
        self.record(&report);
        result.map(|()| report)
    }

    /// Adds what a tenant pass did (even a failed one) to the metrics.
    fn record(&self, r: &TenantReport) {
        let m = &self.metrics;
        CompactorMetrics::tenant(&m.compactions, &r.tenant).inc_by(r.compactions as u64);
        CompactorMetrics::tenant(&m.merged_samples, &r.tenant).inc_by(r.merged_samples);
        CompactorMetrics::tenant(&m.blocks_deleted, &r.tenant).inc_by(r.deleted as u64);
        m.marked(&r.tenant, "compaction", r.marked_compacted);
        m.marked(&r.tenant, "duplicate", r.marked_duplicate);
        m.marked(&r.tenant, "retention", r.marked_retention);
        CompactorMetrics::tenant(&m.blocks_marked_no_compact, &r.tenant)
            .inc_by(r.marked_no_compact as u64);
    }

    /// Runs a full pass every `compaction_interval` and a cleanup pass
    /// every `cleanup_interval`, for as long as the runtime runs.
    pub fn spawn_loops(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        let loops = [
            (PassKind::Full, self.cfg.compaction_interval),
            (PassKind::CleanupOnly, self.cfg.cleanup_interval),
        ];
        loops
            .into_iter()
            .map(|(kind, every)| {
                let this = Arc::clone(self);
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    loop {
                        tick.tick().await;
                        if let Err(e) = this.pass(kind, common::time::now_ms()).await {
                            tracing::error!(error = %e, ?kind, "compactor pass failed");
                        }
                    }
                })
            })
            .collect()
    }

    /// `POST /compactor/run`: one full pass, answered when it is done.
    pub fn router(self: Arc<Self>) -> axum::Router {
        http::router(self)
    }
}
