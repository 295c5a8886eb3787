//! The `cairn` configuration: one YAML file (with `${ENV}` expansion), the
//! main settings also as flags, embedded defaults for everything.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use common::auth::cidr::Cidr;
use common::auth::{AuthConfig, AuthMode};
use common::limits::Limits;
use common::ring::RingConfig;
use common::rpc::ClientConfig;
use common::storage::{Backend, StorageConfig};
use common::tls::TlsConfig;
use compactor::CompactorConfig;
use distributor::DistributorConfig;
use ingester::IngesterConfig;
use querier::QuerierConfig;
use ruler::RulerConfig;
use serde::{Deserialize, Serialize};

use crate::target::Targets;

/// `server:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address the HTTP API binds to.
    pub http_listen_address: String,
    /// Port of the HTTP API.
    pub http_listen_port: u16,
    /// Port of OTLP/gRPC (traces, metrics and logs), on `http_listen_address`.
    pub grpc_listen_port: u16,
    /// Serve HTTPS with this certificate and key (re-read when the files
    /// change); unset = plain HTTP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// Proxies whose `X-Forwarded-For` is believed when deciding a client's
    /// address for `allowed_source_cidrs`; empty = the TCP peer is the client.
    pub trusted_proxies: Vec<Cidr>,
    /// On SIGTERM: how long in-flight requests may finish and the heads
    /// be flushed before the process exits anyway (what is not uploaded
    /// stays in the WAL).
    #[serde(with = "humantime_serde")]
    pub graceful_shutdown_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            http_listen_address: "127.0.0.1".into(),
            http_listen_port: 9009,
            grpc_listen_port: 4317,
            tls: None,
            trusted_proxies: Vec::new(),
            graceful_shutdown_timeout: Duration::from_secs(30),
        }
    }
}

/// `runtime_config:` — the per-tenant overrides file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Path of the overrides file (`overrides: {tenant: {limit: value}}`); unset = none.
    pub file: Option<PathBuf>,
    /// How often the file is re-read.
    #[serde(with = "humantime_serde")]
    pub period: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            file: None,
            period: Duration::from_secs(10),
        }
    }
}

/// `log:` — what the process writes to stdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// Filter in tracing's env-filter syntax, e.g. `info` or `warn,cairn=debug`.
    pub level: String,
    /// Line format: `logfmt` (as Mimir, Loki and Tempo write) or `json`.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Logfmt,
        }
    }
}

/// `log.format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `ts=… level=info target=… message="…" key=value`.
    Logfmt,
    /// One JSON object a line.
    Json,
}

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Services to run: `all` or a comma list.
    pub target: Targets,
    /// Off: every request belongs to tenant `anonymous` and no header is needed.
    pub multitenancy_enabled: bool,
    /// How requests prove their tenant: `type: trust` or `type: tokens`.
    pub auth: AuthConfig,
    /// HTTP server.
    pub server: ServerConfig,
    /// Object storage.
    pub storage: StorageConfig,
    /// Write path front door.
    pub distributor: DistributorConfig,
    /// Heads, WAL and block upload.
    pub ingester: IngesterConfig,
    /// Query engine and API.
    pub querier: QuerierConfig,
    /// Block compaction, retention and the bucket index.
    pub compactor: CompactorConfig,
    /// Recording and alerting rules, alerts to Alertmanager.
    pub ruler: RulerConfig,
    /// Default per-tenant limits.
    pub limits: Limits,
    /// Per-tenant overrides file.
    pub runtime_config: RuntimeConfig,
    /// The ingester ring (distributed mode).
    pub ring: RingConfig,
    /// How distributors, queriers and rulers call ingesters (distributed mode).
    pub ingester_client: ClientConfig,
    /// Log level and format.
    pub log: LogConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            target: Targets::default(),
            multitenancy_enabled: true,
            auth: AuthConfig::default(),
            server: ServerConfig::default(),
            storage: StorageConfig::default(),
            distributor: DistributorConfig::default(),
            ingester: IngesterConfig::default(),
            querier: QuerierConfig::default(),
            compactor: CompactorConfig::default(),
            ruler: RulerConfig::default(),
            limits: Limits::default(),
            runtime_config: RuntimeConfig::default(),
            ring: RingConfig::default(),
            ingester_client: ClientConfig::default(),
            log: LogConfig::default(),
        }
    }
}

/// Command-line flags. Flags override the config file.
#[derive(Debug, Parser)]
#[command(
    name = "cairn",
    version,
    about = "Cairn: metrics, logs and traces for many tenants on object storage.",
    long_about = "Cairn: metrics, logs and traces for many tenants on object storage.\n\n\
        With no arguments it runs every service in one process with embedded defaults: \
        HTTP on 127.0.0.1:9009, multitenancy on (X-Scope-OrgID header), data under ./data.\n\
        Prometheus remote write: POST /api/v1/push. PromQL: /prometheus/api/v1/query."
)]
pub struct Flags {
    /// YAML config file; `${VAR}` and `${VAR:-default}` are expanded from the environment.
    #[arg(long = "config.file", value_name = "PATH")]
    pub config_file: Option<PathBuf>,
    /// Services to run: all (default), distributor, ingester, querier,
    /// compactor, ruler, or a comma list.
    #[arg(long, value_name = "TARGET")]
    pub target: Option<Targets>,
    /// HTTP listen address [default: 127.0.0.1].
    #[arg(long = "server.http-listen-address", value_name = "ADDR")]
    pub http_listen_address: Option<String>,
    /// HTTP listen port [default: 9009].
    #[arg(long = "server.http-listen-port", value_name = "PORT")]
    pub http_listen_port: Option<u16>,
    /// OTLP/gRPC listen port [default: 4317].
    #[arg(long = "server.grpc-listen-port", value_name = "PORT")]
    pub grpc_listen_port: Option<u16>,
    /// Require a tenant per request (`true`) or serve one tenant, `anonymous` (`false`).
    #[arg(long = "auth.multitenancy-enabled", value_name = "BOOL")]
    pub multitenancy_enabled: Option<bool>,
    /// How requests prove their tenant [default: trust].
    #[arg(long = "auth.type", value_enum)]
    pub auth_type: Option<AuthTypeFlag>,
    /// Object storage backend [default: filesystem].
    #[arg(long = "storage.backend", value_enum)]
    pub storage_backend: Option<BackendFlag>,
    /// Bucket directory for the filesystem backend [default: ./data/bucket].
    #[arg(long = "storage.filesystem.dir", value_name = "DIR")]
    pub storage_dir: Option<PathBuf>,
    /// S3 endpoint, e.g. http://127.0.0.1:8333 (S3-compatibles use path-style).
    #[arg(long = "storage.s3.endpoint", value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// S3 bucket name.
    #[arg(long = "storage.s3.bucket-name", value_name = "NAME")]
    pub s3_bucket: Option<String>,
    /// WAL directory [default: ./data/wal].
    #[arg(long = "ingester.wal-dir", value_name = "DIR")]
    pub wal_dir: Option<PathBuf>,
    /// How often heads are cut into blocks, e.g. 2h or 5m [default: 2h].
    #[arg(long = "ingester.block-range", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub block_range: Option<Duration>,
    /// This ingester's ID (block source, ring identity).
    #[arg(long = "ingester.id", value_name = "ID")]
    pub ingester_id: Option<String>,
    /// Per-tenant overrides file, re-read every 10s.
    #[arg(long = "runtime-config.file", value_name = "PATH")]
    pub runtime_config_file: Option<PathBuf>,
    /// Log filter (tracing env-filter syntax), e.g. info or cairn=debug [default: info].
    #[arg(long = "log.level", value_name = "FILTER", env = "CAIRN_LOG")]
    pub log_level: Option<String>,
    /// Log line format [default: logfmt].
    #[arg(long = "log.format", value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Print the effective configuration as YAML and exit.
    #[arg(long = "print-config")]
    pub print_config: bool,
    /// Without a command, run the server.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// `cairn <command>`: helpers that do not start the server.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Operator tools.
    #[command(subcommand)]
    Tool(Tool),
}

/// `cairn tool <name>`.
#[derive(Debug, Subcommand)]
pub enum Tool {
    /// Read a token from stdin and print its sha256, for `auth_tokens` in the
    /// runtime overrides file (e.g. `openssl rand -hex 32 | tee token | cairn tool hash-token`).
    HashToken,
}

/// `--auth.type` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AuthTypeFlag {
    /// Believe the tenant a request names (as Mimir does).
    Trust,
    /// Every request carries a token of each tenant it names.
    Tokens,
}

/// `--storage.backend` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BackendFlag {
    /// Local directory.
    Filesystem,
    /// S3 or S3-compatible.
    S3,
    /// In memory (tests only: lost on exit).
    Memory,
}

/// Replaces `${VAR}` and `${VAR:-default}` with environment values; an unset
/// variable without a default is an error naming it.
pub fn expand_env(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated ${{ in config near {:?}", &rest[start..]))?;
        let expr = &after[..end];
        let (name, default) = match expr.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (expr, None),
        };
        match (std::env::var(name), default) {
            (Ok(v), _) => out.push_str(&v),
            (Err(_), Some(d)) => out.push_str(d),
            (Err(_), None) => {
                return Err(format!("config references ${{{name}}} but it is not set"));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl Config {
    /// Defaults, then the config file, then flags.
    pub fn load(flags: &Flags) -> Result<Self, String> {
        let mut cfg = match &flags.config_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("reading {}: {e}", path.display()))?;
                let text = expand_env(&text)?;
                serde_saphyr::from_str::<Config>(&text)
                    .map_err(|e| format!("parsing {}: {e}", path.display()))?
            }
            None => Config::default(),
        };
        cfg.apply_flags(flags);
        cfg.derive_defaults();
        cfg.validate()?;
        Ok(cfg)
    }

    /// Fills the settings whose defaults follow from others: recent queries
    /// skip the bucket (`querier.blocks.query_store_after`) for as long as
    /// the ingesters surely hold what they uploaded.
    fn derive_defaults(&mut self) {
        self.querier
            .blocks
            .query_store_after
            .get_or_insert(self.ingester.retain_uploaded_for);
    }

    fn apply_flags(&mut self, f: &Flags) {
        fn set<T: Clone>(dst: &mut T, src: &Option<T>) {
            if let Some(v) = src {
                *dst = v.clone();
            }
        }
        set(&mut self.target, &f.target);
        set(&mut self.server.http_listen_address, &f.http_listen_address);
        set(&mut self.server.http_listen_port, &f.http_listen_port);
        set(&mut self.server.grpc_listen_port, &f.grpc_listen_port);
        set(&mut self.multitenancy_enabled, &f.multitenancy_enabled);
        set(&mut self.storage.filesystem.dir, &f.storage_dir);
        set(&mut self.storage.s3.endpoint, &f.s3_endpoint);
        set(&mut self.storage.s3.bucket_name, &f.s3_bucket);
        set(&mut self.ingester.wal_dir, &f.wal_dir);
        set(&mut self.ingester.block_range, &f.block_range);
        set(&mut self.ingester.id, &f.ingester_id);
        set(&mut self.log.level, &f.log_level);
        set(&mut self.log.format, &f.log_format);
        if let Some(t) = f.auth_type {
            self.auth.mode = match t {
                AuthTypeFlag::Trust => AuthMode::Trust,
                AuthTypeFlag::Tokens => AuthMode::Tokens,
            };
        }
        if let Some(b) = f.storage_backend {
            self.storage.backend = match b {
                BackendFlag::Filesystem => Backend::Filesystem,
                BackendFlag::S3 => Backend::S3,
                BackendFlag::Memory => Backend::Memory,
            };
        }
        if f.runtime_config_file.is_some() {
            self.runtime_config.file = f.runtime_config_file.clone();
        }
    }

    /// Rejects settings that cannot work, naming the key.
    pub fn validate(&self) -> Result<(), String> {
        self.ingester.validate()?;
        self.compactor.validate()?;
        self.ruler.validate()?;
        if self.ingester.retain_uploaded_for <= self.querier.blocks.block_list_ttl {
            return Err(format!(
                "ingester.retain_uploaded_for ({:?}) must exceed querier.blocks.block_list_ttl ({:?}), \
                 or freshly uploaded data is briefly invisible",
                self.ingester.retain_uploaded_for, self.querier.blocks.block_list_ttl
            ));
        }
        if let Some(after) = self.querier.blocks.query_store_after
            && after > self.ingester.retain_uploaded_for
        {
            return Err(format!(
                "querier.blocks.query_store_after ({after:?}) must not exceed \
                 ingester.retain_uploaded_for ({:?}): queries of the last {after:?} skip the bucket, \
                 so the ingesters must hold that long what they uploaded",
                self.ingester.retain_uploaded_for
            ));
        }
        if !self.limits.auth_tokens.is_empty() {
            return Err(
                "limits.auth_tokens would make the same tokens valid for every tenant: \
                 set auth_tokens per tenant in the runtime overrides file"
                    .into(),
            );
        }
        if self.storage.backend == Backend::S3 && self.storage.s3.bucket_name.is_empty() {
            return Err("storage.s3.bucket_name is required with storage.backend: s3".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_expansion_with_defaults_and_missing_vars() {
        // SAFETY: tests in this module do not read this variable concurrently.
        unsafe { std::env::set_var("CAIRN_TEST_PORT", "9123") };
        assert_eq!(
            expand_env("p: ${CAIRN_TEST_PORT} d: ${CAIRN_NOPE:-x}").unwrap(),
            "p: 9123 d: x"
        );
        assert!(
            expand_env("${CAIRN_NOPE}")
                .unwrap_err()
                .contains("CAIRN_NOPE")
        );
    }

    #[test]
    fn yaml_overrides_defaults_and_rejects_unknown_keys() {
        let cfg: Config = serde_saphyr::from_str(
            "server:\n  http_listen_port: 9999\nlimits:\n  ingestion_rate: 5\n",
        )
        .unwrap();
        assert_eq!(cfg.server.http_listen_port, 9999);
        assert_eq!(cfg.server.http_listen_address, "127.0.0.1");
        assert_eq!(cfg.limits.ingestion_rate, 5.0);
        assert!(serde_saphyr::from_str::<Config>("sever: {}\n").is_err());
    }

    #[test]
    fn compactor_section_parses_and_is_validated() {
        let cfg: Config = serde_saphyr::from_str(
            "compactor:\n  block_ranges: [1m, 2h]\n  deletion_delay: 0s\n  \
             sharding:\n    instance_id: c-1\n    instances: [c-0, c-1]\n",
        )
        .unwrap();
        assert_eq!(
            cfg.compactor.block_ranges,
            [Duration::from_secs(60), Duration::from_secs(7200)]
        );
        cfg.validate().unwrap();
        let stranger: Config = serde_saphyr::from_str(
            "compactor:\n  sharding:\n    instance_id: x\n    instances: [c-0]\n",
        )
        .unwrap();
        assert!(
            stranger
                .validate()
                .unwrap_err()
                .contains("compactor.sharding")
        );
    }

    #[test]
    fn query_store_after_follows_the_ingesters_retention_and_may_not_exceed_it() {
        let mut cfg: Config =
            serde_saphyr::from_str("ingester:\n  retain_uploaded_for: 20m\n").unwrap();
        cfg.derive_defaults();
        assert_eq!(
            cfg.querier.blocks.query_store_after,
            Some(Duration::from_secs(1200))
        );
        cfg.validate().unwrap();
        let mut longer: Config =
            serde_saphyr::from_str("querier:\n  blocks:\n    query_store_after: 1h\n").unwrap();
        longer.derive_defaults();
        let err = longer.validate().unwrap_err();
        assert!(err.contains("querier.blocks.query_store_after"), "{err}");
    }

    #[test]
    fn ruler_section_uses_mimir_keys_and_is_validated() {
        let cfg: Config = serde_saphyr::from_str(
            "ruler:\n  alertmanager_url: http://a:9093,http://b:9093\n  evaluation_interval: 15s\n  \
             poll_interval: 5s\n  external_url: http://cairn\n  ring:\n    instance_id: r-0\n    instances: [r-0, r-1]\n",
        )
        .unwrap();
        assert_eq!(cfg.ruler.evaluation_interval, Duration::from_secs(15));
        assert_eq!(
            ruler::config::url_list(&cfg.ruler.alertmanager_url),
            ["http://a:9093", "http://b:9093"]
        );
        cfg.validate().unwrap();
        let bad: Config =
            serde_saphyr::from_str("ruler:\n  ring:\n    instance_id: x\n    instances: [r-0]\n")
                .unwrap();
        assert!(bad.validate().unwrap_err().contains("ruler.ring"));
        assert!(serde_saphyr::from_str::<Config>("ruler:\n  alertmanager_urls: x\n").is_err());
    }
}
