//! Per-tenant limits, in one place.
//!
//! [`Limits`] holds every limit with its Mimir/Loki YAML name and default.
//! The main config's `limits:` block sets the defaults; a runtime overrides
//! file (`overrides: {tenant: {...}}`) changes them per tenant and is re-read
//! periodically without a restart. Services ask [`Overrides::get`] for a
//! tenant's limits; nothing else reads limits from config.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};

use crate::auth::cidr::Cidr;
use crate::auth::token::AuthToken;
use crate::tenant::TenantId;

/// Which metric and label names a tenant's series may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NameValidationScheme {
    /// Any non-empty UTF-8 name (`http.server.duration`), as Prometheus 3
    /// accepts and the remote-write 2.0 specification requires; PromQL
    /// selects such names quoted: `{"http.server.duration"}`.
    #[default]
    Utf8,
    /// Only `[a-zA-Z_:][a-zA-Z0-9_:]*` metric names and
    /// `[a-zA-Z_][a-zA-Z0-9_]*` label names (Prometheus 2).
    Legacy,
}

/// Every per-tenant limit. Zero means "unlimited" for the count limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Samples per second a tenant may write (token bucket refill rate),
    /// split among the healthy distributors.
    pub ingestion_rate: f64,
    /// Token bucket size: the largest burst of samples accepted at once.
    pub ingestion_burst_size: u64,
    /// Active series a tenant may have in the ingesters.
    pub max_global_series_per_user: usize,
    /// Ingesters a tenant's writes and reads are confined to (shuffle
    /// sharding, distributed mode); 0 = all of them.
    pub ingestion_tenant_shard_size: usize,
    /// Labels a series may carry (including `__name__`).
    pub max_label_names_per_series: usize,
    /// Longest label name, in bytes.
    pub max_label_name_length: usize,
    /// Which metric and label names remote write and OTLP accept (Mimir's
    /// `name_validation_scheme`).
    pub name_validation_scheme: NameValidationScheme,
    /// Longest label value, in bytes.
    pub max_label_value_length: usize,
    /// How far in the future a sample, log line or span (its start or end)
    /// may be (clock skew allowance).
    #[serde(with = "humantime_serde")]
    pub creation_grace_period: Duration,
    /// How far in the past a sample may be; zero disables the check (and
    /// lets timestamps down to -2^63 ms in, which every query overlaps).
    #[serde(with = "humantime_serde")]
    pub past_grace_period: Duration,
    /// Series one query may fetch; zero disables the check.
    pub max_fetched_series_per_query: usize,
    /// How far back a query may look; zero disables the check.
    #[serde(with = "humantime_serde")]
    pub max_query_lookback: Duration,
    /// Bytes of chunks one query may fetch from object storage; zero
    /// disables the check.
    pub max_fetched_chunk_bytes_per_query: usize,
    /// Longest time range (`end - start`) a range query may cover; zero
    /// disables the check. Over it the query is refused with 422.
    #[serde(with = "humantime_serde")]
    pub max_query_length: Duration,
    /// Most parts of one split range query evaluated at the same time.
    pub max_query_parallelism: usize,

    // --- Logs push limits (Loki names and defaults) ---
    /// Log line bytes per second a tenant may push, in MiB (Loki's token
    /// bucket refill rate), split among the healthy distributors.
    pub ingestion_rate_mb: f64,
    /// Largest burst of log line bytes accepted at once, in MiB.
    pub ingestion_burst_size_mb: f64,
    /// Longest log line in bytes; zero disables the check.
    pub max_line_size: usize,
    /// Cut lines longer than `max_line_size` to that size instead of
    /// refusing them.
    pub max_line_size_truncate: bool,
    /// Active log streams a tenant may have in the ingesters; zero disables
    /// the check.
    pub max_global_streams_per_user: usize,
    /// Refuse log lines older than `reject_old_samples_max_age`.
    pub reject_old_samples: bool,
    /// How old a log line may be when `reject_old_samples` is on.
    #[serde(with = "humantime_serde")]
    pub reject_old_samples_max_age: Duration,
    /// Give every pushed line a `detected_level` structured metadata entry
    /// (Loki's `discover_log_levels`), which Logs Drilldown groups by.
    pub discover_log_levels: bool,

    // --- LogQL query limits (Loki names and defaults) ---
    /// Most log lines one LogQL query may return (`limit` above it is
    /// refused with 400).
    pub max_entries_limit_per_query: usize,
    /// Most series a LogQL metric query may return; zero disables the check.
    pub max_query_series: usize,
    /// Most log lines one `/loki/api/v1/patterns` request clusters (the
    /// patterns are computed when asked, at about a microsecond a line).
    /// When the range holds more, the newest this many lines are clustered
    /// and older ones are left out: the answer is still 200, but the
    /// oldest steps of the range count fewer lines or none. Zero: no cap.
    pub max_pattern_lines_per_query: usize,

    // --- Compactor: retention ---
    /// How long a tenant's data is kept, all signals (Loki's and the
    /// issue's name); zero keeps it forever. For metrics blocks,
    /// `compactor_blocks_retention_period` wins when set.
    #[serde(with = "humantime_serde")]
    pub retention_period: Duration,
    /// How long a tenant's metrics blocks are kept (Mimir's name); zero
    /// defers to `retention_period`.
    #[serde(with = "humantime_serde")]
    pub compactor_blocks_retention_period: Duration,

    // --- Ruler (issue 8), Mimir's names. ---
    /// Rule groups a tenant may store, per rule language (PromQL and LogQL
    /// count apart); zero = no limit.
    pub ruler_max_rule_groups_per_tenant: usize,
    /// Rules one rule group may hold; zero = no limit.
    pub ruler_max_rules_per_rule_group: usize,
    /// Alertmanager URL(s) (comma list) this tenant's alerts go to instead
    /// of `ruler.alertmanager_url`; empty = the shared default.
    pub ruler_alertmanager_url: String,

    // --- Authentication and access policy (issue 11). Keep last. ---
    /// Tokens that prove this tenant under `auth.type: tokens` (name,
    /// SHA-256, scopes); empty = the tenant cannot be used under `tokens`.
    pub auth_tokens: Vec<AuthToken>,
    /// Networks requests for this tenant may come from; empty = any.
    pub allowed_source_cidrs: Vec<Cidr>,

    // --- Traces (issue 5), Tempo's names. ---
    /// Span bytes per second a tenant may write (token bucket refill
    /// rate), split among the healthy distributors.
    pub ingestion_rate_limit_bytes: u64,
    /// Token bucket size for spans: the largest burst of bytes at once.
    pub ingestion_burst_size_bytes: u64,
    /// Largest a live trace may grow in an ingester, bytes; zero = no limit.
    pub max_bytes_per_trace: usize,
    /// Live traces a tenant may have in an ingester; zero = no limit.
    pub max_traces_per_user: usize,
    /// How long trace blocks are kept (Tempo's per-tenant `block_retention`);
    /// zero defers to `retention_period`.
    #[serde(with = "humantime_serde")]
    pub block_retention: Duration,
    /// How long ago a span may have ended; zero disables the check.
    #[serde(with = "humantime_serde")]
    pub max_span_age: Duration,
    /// Longest a span may last (end - start); zero disables the check.
    #[serde(with = "humantime_serde")]
    pub max_span_duration: Duration,
    /// Most series a TraceQL metrics query (`/api/metrics/query_range`)
    /// answers; past it the answer is partial and says so (Tempo's
    /// `max_response_series`). Zero = no limit.
    pub max_response_series: usize,
    /// Longest time range a TraceQL metrics query may cover; zero = any
    /// (Tempo's `max_metrics_duration`).
    #[serde(with = "humantime_serde")]
    pub max_metrics_duration: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            ingestion_rate: 10_000.0,
            ingestion_burst_size: 200_000,
            max_global_series_per_user: 150_000,
            max_label_names_per_series: 30,
            max_label_name_length: 1024,
            name_validation_scheme: NameValidationScheme::Utf8,
            max_label_value_length: 2048,
            creation_grace_period: Duration::from_secs(600),
            // Cortex's `reject_old_samples_max_age`: old enough for any
            // client's retries, young enough to keep 1970 out of the blocks.
            past_grace_period: Duration::from_secs(14 * 24 * 3600),
            max_fetched_series_per_query: 0,
            max_query_lookback: Duration::ZERO,
            max_fetched_chunk_bytes_per_query: 0,
            max_query_length: Duration::ZERO,
            max_query_parallelism: 14,
            ingestion_tenant_shard_size: 0,

            // --- Logs push limits ---
            ingestion_rate_mb: 4.0,
            ingestion_burst_size_mb: 6.0,
            max_line_size: 256 << 10,
            max_line_size_truncate: false,
            max_global_streams_per_user: 5000,
            reject_old_samples: true,
            reject_old_samples_max_age: Duration::from_secs(7 * 24 * 3600),
            discover_log_levels: true,
            // --- LogQL query limits ---
            max_entries_limit_per_query: 5000,
            max_query_series: 500,
            max_pattern_lines_per_query: 100_000,
            // --- Compactor: retention ---
            retention_period: Duration::ZERO,
            compactor_blocks_retention_period: Duration::ZERO,
            // Ruler (Mimir's defaults).
            ruler_max_rule_groups_per_tenant: 70,
            ruler_max_rules_per_rule_group: 20,
            ruler_alertmanager_url: String::new(),
            // Authentication and access policy.
            auth_tokens: Vec::new(),
            allowed_source_cidrs: Vec::new(),

            // Traces (Tempo's defaults).
            ingestion_rate_limit_bytes: 15_000_000,
            ingestion_burst_size_bytes: 20_000_000,
            max_bytes_per_trace: 5_000_000,
            max_traces_per_user: 10_000,
            block_retention: Duration::ZERO,
            max_span_age: Duration::from_secs(14 * 24 * 3600),
            max_span_duration: Duration::from_secs(24 * 3600),
            max_response_series: 1000,
            max_metrics_duration: Duration::from_secs(24 * 3600),
        }
    }
}

impl Limits {
    /// The retention of trace blocks: `block_retention`, else
    /// `retention_period`; zero keeps blocks forever.
    pub fn traces_retention(&self) -> Duration {
        if self.block_retention.is_zero() {
            self.retention_period
        } else {
            self.block_retention
        }
    }

    /// The retention of metrics blocks: `compactor_blocks_retention_period`,
    /// else `retention_period`; zero keeps blocks forever.
    pub fn metrics_retention(&self) -> Duration {
        if self.compactor_blocks_retention_period.is_zero() {
            self.retention_period
        } else {
            self.compactor_blocks_retention_period
        }
    }
}

/// The runtime overrides file's shape (Mimir's `overrides:` key).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuntimeFile {
    #[serde(default)]
    overrides: HashMap<String, serde_json::Value>,
}

/// Why an overrides file could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum OverridesError {
    /// The file could not be read.
    #[error("reading runtime overrides {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid YAML or names an unknown limit.
    #[error("parsing runtime overrides {path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
}

/// Defaults plus per-tenant overrides, swapped atomically on reload.
#[derive(Debug)]
pub struct Overrides {
    defaults: Arc<Limits>,
    per_tenant: RwLock<HashMap<String, Arc<Limits>>>,
    /// 1 while the last read of the overrides file was applied, 0 after a
    /// read or parse failure (the previous overrides then stay in force).
    last_reload_successful: Gauge,
}

impl Overrides {
    /// Limits with no per-tenant overrides yet.
    pub fn new(defaults: Limits) -> Self {
        let last_reload_successful = Gauge::default();
        last_reload_successful.set(1);
        Self {
            defaults: Arc::new(defaults),
            per_tenant: RwLock::new(HashMap::new()),
            last_reload_successful,
        }
    }

    /// Registers `cairn_runtime_config_last_reload_successful`, so an alert
    /// can tell that a broken overrides file is being ignored.
    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "cairn_runtime_config_last_reload_successful",
            "Whether the last read of the runtime overrides file was applied (1) or failed (0)",
            self.last_reload_successful.clone(),
        );
    }

    /// The limits in force for `tenant`.
    pub fn get(&self, tenant: &TenantId) -> Arc<Limits> {
        self.per_tenant
            .read()
            .get(tenant.as_str())
            .cloned()
            .unwrap_or_else(|| self.defaults.clone())
    }

    /// Whether the overrides file has an entry for `tenant`.
    pub fn has_overrides(&self, tenant: &TenantId) -> bool {
        self.per_tenant.read().contains_key(tenant.as_str())
    }

    /// The defaults (what tenants without overrides get).
    pub fn defaults(&self) -> &Limits {
        &self.defaults
    }

    /// The current per-tenant overrides, fully resolved, for `/runtime_config`.
    pub fn snapshot(&self) -> HashMap<String, Limits> {
        self.per_tenant
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), (**v).clone()))
            .collect()
    }

    /// Parses an overrides document and replaces the per-tenant limits.
    /// Each tenant's keys are laid over the defaults; on error nothing changes.
    pub fn apply_yaml(&self, yaml: &str, path: &Path) -> Result<(), OverridesError> {
        let parse_err = |reason: String| OverridesError::Parse {
            path: path.to_path_buf(),
            reason,
        };
        let file: RuntimeFile = if yaml.trim().is_empty() {
            RuntimeFile::default()
        } else {
            serde_saphyr::from_str(yaml).map_err(|e| parse_err(e.to_string()))?
        };
        let base = serde_json::to_value(&*self.defaults).map_err(|e| parse_err(e.to_string()))?;
        let mut resolved = HashMap::new();
        for (tenant, partial) in file.overrides {
            let mut merged = base.clone();
            match (merged.as_object_mut(), partial) {
                (Some(obj), serde_json::Value::Object(over)) => obj.extend(over),
                (_, serde_json::Value::Null) => {}
                _ => {
                    return Err(parse_err(format!(
                        "overrides for tenant {tenant:?} must be a map of limit names"
                    )));
                }
            }
            let limits: Limits = serde_json::from_value(merged)
                .map_err(|e| parse_err(format!("tenant {tenant:?}: {e}")))?;
            resolved.insert(tenant, Arc::new(limits));
        }
        *self.per_tenant.write() = resolved;
        Ok(())
    }

    /// Reads and applies the overrides file at `path`.
    pub fn load_file(&self, path: &Path) -> Result<(), OverridesError> {
        let yaml = std::fs::read_to_string(path).map_err(|source| OverridesError::Read {
            path: path.to_path_buf(),
            source,
        });
        self.record_reload(yaml.and_then(|yaml| self.apply_yaml(&yaml, path)))
    }

    /// Sets `cairn_runtime_config_last_reload_successful` from a reload's outcome.
    fn record_reload(&self, result: Result<(), OverridesError>) -> Result<(), OverridesError> {
        self.last_reload_successful.set(i64::from(result.is_ok()));
        result
    }

    /// Re-reads `path` every `period` until the runtime shuts down. A broken
    /// or unreadable file is logged and the last good overrides stay in force.
    pub fn spawn_reloader(
        self: &Arc<Self>,
        path: PathBuf,
        period: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut last: Option<String> = None;
            let mut tick = tokio::time::interval(period);
            loop {
                tick.tick().await;
                let yaml = match tokio::fs::read_to_string(&path).await {
                    Ok(y) => y,
                    Err(source) => {
                        let e = OverridesError::Read {
                            path: path.clone(),
                            source,
                        };
                        tracing::warn!(error = %e, "keeping previous runtime overrides");
                        let _ = this.record_reload(Err(e));
                        last = None;
                        continue;
                    }
                };
                if last.as_deref() == Some(yaml.as_str()) {
                    continue;
                }
                match this.record_reload(this.apply_yaml(&yaml, &path)) {
                    Ok(()) => tracing::info!(path = %path.display(), "runtime overrides loaded"),
                    Err(e) => tracing::error!(error = %e, "keeping previous runtime overrides"),
                }
                last = Some(yaml);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_overrides_lay_over_defaults() {
        let o = Overrides::new(Limits::default());
        o.apply_yaml(
            "overrides:\n  team-a:\n    ingestion_rate: 5\n    past_grace_period: 1h\n",
            Path::new("x"),
        )
        .unwrap();
        let a = o.get(&TenantId::parse("team-a").unwrap());
        assert_eq!(a.ingestion_rate, 5.0);
        assert_eq!(a.past_grace_period, Duration::from_secs(3600));
        assert_eq!(a.max_label_names_per_series, 30);
        assert_eq!(
            *o.get(&TenantId::parse("team-b").unwrap()),
            Limits::default()
        );
    }

    #[test]
    fn unknown_limit_is_an_error_and_keeps_previous() {
        let o = Overrides::new(Limits::default());
        o.apply_yaml("overrides:\n  a:\n    ingestion_rate: 5\n", Path::new("x"))
            .unwrap();
        let err = o
            .apply_yaml("overrides:\n  a:\n    ingestion_rat: 5\n", Path::new("x"))
            .unwrap_err();
        assert!(err.to_string().contains("ingestion_rat"), "{err}");
        assert_eq!(o.get(&TenantId::parse("a").unwrap()).ingestion_rate, 5.0);
    }

    #[test]
    fn reload_gauge_says_whether_the_file_was_applied() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("overrides.yaml");
        let o = Overrides::new(Limits::default());
        let mut registry = Registry::default();
        o.register_metrics(&mut registry);
        let gauge = || {
            let mut text = String::new();
            prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
            text.lines()
                .find_map(|l| l.strip_prefix("cairn_runtime_config_last_reload_successful "))
                .map(str::to_owned)
        };
        std::fs::write(&path, "overrides:\n  a:\n    ingestion_rat: 5\n").unwrap();
        assert!(o.load_file(&path).is_err());
        assert_eq!(gauge().as_deref(), Some("0"));
        std::fs::write(&path, "overrides:\n  a:\n    ingestion_rate: 5\n").unwrap();
        o.load_file(&path).unwrap();
        assert_eq!(gauge().as_deref(), Some("1"));
        assert!(o.load_file(&dir.path().join("missing.yaml")).is_err());
        assert_eq!(gauge().as_deref(), Some("0"));
    }

    #[test]
    fn mimir_blocks_retention_wins_over_retention_period() {
        let o = Overrides::new(Limits::default());
        o.apply_yaml(
            "overrides:\n  loki:\n    retention_period: 1h\n  both:\n    retention_period: 1h\n    \
             compactor_blocks_retention_period: 2h\n",
            Path::new("x"),
        )
        .unwrap();
        let get = |t: &str| o.get(&TenantId::parse(t).unwrap()).metrics_retention();
        assert_eq!(get("loki"), Duration::from_secs(3600));
        assert_eq!(get("both"), Duration::from_secs(7200));
        assert_eq!(get("other"), Duration::ZERO);
    }
}
