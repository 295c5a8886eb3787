//! What Grafana's Logs Drilldown app asks Loki about itself before it shows
//! anything: `status/buildinfo` (which Loki it talks to) and
//! `drilldown-limits` (the tenant's limits it adapts to: line limit, series
//! limit, whether volumes, levels and patterns are available).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::response::Response;
use common::limits::Limits;
use common::tenant::TenantId;
use serde_json::json;

use super::LokiState;
use super::error::LokiError;
use super::limits::strictest;
use crate::api::handlers::{decode, ok_json};
use crate::logql::ast::fmt_duration;

/// Whether `/loki/api/v1/patterns` is served (it is, computed at query
/// time); the app hides its patterns tab when `pattern_ingester_enabled`
/// is false.
const PATTERNS_ENABLED: bool = true;

/// `GET /loki/api/v1/status/buildinfo`: Loki's flat build-info object with
/// the fields the Prometheus `status/buildinfo` reports.
pub(crate) async fn build_info() -> Response {
    let build = common::build_info::get();
    ok_json(
        json!({
            "version": build.version,
            "revision": build.revision,
            "branch": build.branch,
            "buildUser": "",
            "buildDate": "",
            "goVersion": build.rust_version,
        })
        .to_string(),
    )
}

/// A duration as Loki's config prints it (`30d1h`, `0s`).
fn duration(d: Duration) -> String {
    fmt_duration(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// The strictest of the tenants' duration limits `f` (zero: none).
fn strictest_duration(
    st: &LokiState,
    tenants: &[TenantId],
    f: impl Fn(&Limits) -> Duration,
) -> String {
    let ns = strictest(&st.querier.overrides, tenants, |l| {
        u64::try_from(f(l).as_nanos()).unwrap_or(u64::MAX)
    });
    duration(Duration::from_nanos(ns))
}

/// `GET /loki/api/v1/drilldown-limits`: the tenant's limits the app reads
/// (`LokiConfig` in the app's `src/services/datasourceTypes.ts`), the
/// strictest across the tenants of a federated request.
pub(crate) async fn drilldown_limits(
    State(st): State<Arc<LokiState>>,
    req: Request,
) -> Result<Response, LokiError> {
    let (tenants, _) = decode(&st.querier, req).await?;
    let overrides = &st.querier.overrides;
    let build = common::build_info::get();
    let body = json!({
        "limits": {
            "discover_log_levels": tenants.iter().all(|t| overrides.get(t).discover_log_levels),
            "discover_service_name": ["service", "app", "application", "name", "app_kubernetes_io_name",
                "container", "container_name", "k8s_container_name", "component", "workload", "job",
                "k8s_job_name"],
            "log_level_fields": ["level", "LEVEL", "Level", "severity", "SEVERITY", "Severity", "lvl", "LVL", "Lvl"],
            "max_entries_limit_per_query":
                strictest(overrides, &tenants, |l| l.max_entries_limit_per_query as u64),
            "max_line_size_truncate": false,
            "max_query_bytes_read": "0B",
            "max_query_length": strictest_duration(&st, &tenants, |l| l.max_query_length),
            "max_query_lookback": strictest_duration(&st, &tenants, |l| l.max_query_lookback),
            "max_query_range": "0s",
            "max_query_series": strictest(overrides, &tenants, |l| l.max_query_series as u64),
            "metric_aggregation_enabled": false,
            "pattern_persistence_enabled": false,
            "query_timeout": duration(st.querier.cfg.timeout),
            "retention_period": strictest_duration(&st, &tenants, |l| l.retention_period),
            "volume_enabled": true,
            "volume_max_series": strictest(overrides, &tenants, |l| l.max_query_series as u64),
        },
        "pattern_ingester_enabled": PATTERNS_ENABLED,
        "version": build.version,
    });
    Ok(ok_json(body.to_string()))
}
