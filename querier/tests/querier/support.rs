//! Test helpers: an in-memory [`SeriesStore`] (also holding metric metadata
//! and exemplars), an in-memory [`LogStore`], and querier servers on free
//! loopback ports.

use std::sync::Arc;

use async_trait::async_trait;
use cairn_querier::{Querier, QuerierConfig};
use common::exemplar::{ExemplarSource, SeriesExemplars};
use common::histogram::HistogramSample;
use common::labels::Labels;
use common::limits::{Limits, Overrides};
use common::logs::{Direction, LogEntry, LogSelect, LogStore, StreamEntries};
use common::metadata::{MetadataSource, MetricMetadata};
use common::series::{Matcher, Sample, Series, SeriesStore, StoreError, matches_all};
use common::tenant::TenantId;
use parking_lot::RwLock;

/// Series per tenant, held in memory.
#[derive(Default)]
pub struct MemStore {
    tenants: RwLock<std::collections::HashMap<String, Vec<Series>>>,
    metadata: RwLock<Vec<(String, MetricMetadata)>>,
    exemplars: RwLock<Vec<(String, SeriesExemplars)>>,
}

impl MemStore {
    /// Adds samples to `labels` for `tenant` (merging with what is there).
    pub fn add(&self, tenant: &str, labels: Labels, samples: Vec<Sample>) {
        let mut all = self.tenants.write();
        let list = all.entry(tenant.to_string()).or_default();
        match list.iter_mut().find(|s| s.labels == labels) {
            Some(s) => {
                // A later sample at the same timestamp replaces the earlier one.
                s.samples.retain(|p| !samples.iter().any(|n| n.t == p.t));
                s.samples.extend(samples);
                s.samples.sort_by_key(|p| p.t);
            }
            None => list.push(Series::floats(labels, samples)),
        }
    }

    /// Adds metric metadata for `tenant`.
    pub fn add_metadata(&self, tenant: &str, m: MetricMetadata) {
        self.metadata.write().push((tenant.to_string(), m));
    }

    /// Adds a series' exemplars for `tenant`.
    pub fn add_exemplars(&self, tenant: &str, e: SeriesExemplars) {
        self.exemplars.write().push((tenant.to_string(), e));
    }

    /// Adds histogram samples to `labels` for `tenant` (merging with what
    /// is there; a histogram replaces a float at the same timestamp).
    pub fn add_histograms(&self, tenant: &str, labels: Labels, histograms: Vec<HistogramSample>) {
        let mut all = self.tenants.write();
        let list = all.entry(tenant.to_string()).or_default();
        let i = match list.iter().position(|s| s.labels == labels) {
            Some(i) => i,
            None => {
                list.push(Series::floats(labels, Vec::new()));
                list.len() - 1
            }
        };
        let s = &mut list[i];
        s.samples.retain(|p| !histograms.iter().any(|h| h.t == p.t));
        s.histograms
            .retain(|p| !histograms.iter().any(|h| h.t == p.t));
        s.histograms.extend(histograms);
        s.histograms.sort_by_key(|p| p.t);
    }

    /// Drops every tenant's data.
    pub fn clear(&self) {
        self.tenants.write().clear();
    }

    fn matching(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Vec<Series> {
        let all = self.tenants.read();
        let mut out: Vec<Series> = all
            .get(tenant.as_str())
            .into_iter()
            .flatten()
            .filter(|s| matches_all(&s.labels, matchers))
            .map(|s| Series {
                labels: s.labels.clone(),
                samples: s
                    .samples
                    .iter()
                    .copied()
                    .filter(|p| p.t >= mint && p.t <= maxt)
                    .collect(),
                histograms: s
                    .histograms
                    .iter()
                    .filter(|p| p.t >= mint && p.t <= maxt)
                    .cloned()
                    .collect(),
            })
            .filter(|s| !s.is_empty())
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }
}

#[async_trait]
impl SeriesStore for MemStore {
    async fn select(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Series>, StoreError> {
        Ok(self.matching(tenant, matchers, mint, maxt))
    }

    async fn series(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Labels>, StoreError> {
        Ok(self
            .matching(tenant, matchers, mint, maxt)
            .into_iter()
            .map(|s| s.labels)
            .collect())
    }
}

#[async_trait]
impl MetadataSource for MemStore {
    async fn metadata(
        &self,
        tenant: &TenantId,
        metric: Option<&str>,
    ) -> Result<Vec<MetricMetadata>, StoreError> {
        let mut out: Vec<MetricMetadata> = self
            .metadata
            .read()
            .iter()
            .filter(|(t, m)| t == tenant.as_str() && metric.is_none_or(|n| n == m.family))
            .map(|(_, m)| m.clone())
            .collect();
        out.sort();
        Ok(out)
    }
}

#[async_trait]
impl ExemplarSource for MemStore {
    async fn exemplars(
        &self,
        tenant: &TenantId,
        selectors: &[Vec<Matcher>],
        start: i64,
        end: i64,
    ) -> Result<Vec<SeriesExemplars>, StoreError> {
        Ok(self
            .exemplars
            .read()
            .iter()
            .filter(|(t, e)| {
                t == tenant.as_str() && selectors.iter().any(|s| matches_all(&e.series, s))
            })
            .map(|(_, e)| SeriesExemplars {
                series: e.series.clone(),
                exemplars: e
                    .exemplars
                    .iter()
                    .filter(|x| x.timestamp >= start && x.timestamp <= end)
                    .cloned()
                    .collect(),
            })
            .filter(|e| !e.exemplars.is_empty())
            .collect())
    }
}

/// A running querier API server.
pub struct Server {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The store behind it.
    pub store: Arc<MemStore>,
}

/// Starts the querier router on a free loopback port with `limits` as
/// every tenant's limits.
pub async fn start_server(limits: Limits) -> Server {
    let store = Arc::new(MemStore::default());
    let querier = Arc::new(
        Querier::new(
            QuerierConfig::default(),
            store.clone(),
            Arc::new(Overrides::new(limits)),
            true,
        )
        .with_metadata_source(store.clone())
        .with_exemplar_source(store.clone()),
    );
    let base = serve(querier).await;
    Server { base, store }
}

/// Serves `querier`'s routes on a free loopback port; returns
/// `http://127.0.0.1:<port>`.
pub async fn serve(querier: Arc<Querier>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let base = format!("http://{}", listener.local_addr().expect("local addr"));
    tokio::spawn(async move {
        axum::serve(listener, querier.router())
            .await
            .expect("serve")
    });
    base
}

/// An HTTP client (plain HTTP; rustls only needs a provider installed).
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// Log streams per tenant, held in memory: a real [`LogStore`] applying
/// matchers, the time range, the pushed-down line filter and the limit hint.
#[derive(Default)]
pub struct MemLogStore {
    tenants: RwLock<std::collections::HashMap<String, Vec<StreamEntries>>>,
}

impl MemLogStore {
    /// Appends `entries` to the stream `labels` of `tenant`.
    pub fn push(&self, tenant: &str, labels: Labels, entries: Vec<LogEntry>) {
        let mut all = self.tenants.write();
        let list = all.entry(tenant.to_string()).or_default();
        match list.iter_mut().find(|s| s.labels == labels) {
            Some(s) => s.entries.extend(entries),
            None => list.push(StreamEntries { labels, entries }),
        }
        for s in list.iter_mut() {
            s.entries.sort_by_key(|e| e.ts_ns);
        }
    }
}

/// A log line without structured metadata.
pub fn entry(ts_ns: i64, line: &str) -> LogEntry {
    LogEntry {
        ts_ns,
        line: line.to_string(),
        structured_metadata: Labels::default(),
    }
}

#[async_trait]
impl LogStore for MemLogStore {
    async fn select_logs(
        &self,
        tenant: &TenantId,
        sel: &LogSelect,
    ) -> Result<Vec<StreamEntries>, StoreError> {
        let all = self.tenants.read();
        let mut out = Vec::new();
        for s in all.get(tenant.as_str()).into_iter().flatten() {
            if !matches_all(&s.labels, &sel.matchers) {
                continue;
            }
            let mut entries: Vec<LogEntry> = s
                .entries
                .iter()
                .filter(|e| e.ts_ns >= sel.start_ns && e.ts_ns < sel.end_ns)
                .filter(|e| sel.line_filter.as_ref().is_none_or(|f| f(&e.line)))
                .cloned()
                .collect();
            if let Some(limit) = sel.limit
                && entries.len() > limit
            {
                match sel.direction {
                    Direction::Forward => entries.truncate(limit),
                    Direction::Backward => {
                        entries.drain(..entries.len() - limit);
                    }
                }
            }
            if !entries.is_empty() {
                out.push(StreamEntries {
                    labels: s.labels.clone(),
                    entries,
                });
            }
        }
        Ok(out)
    }

    async fn log_streams(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<Labels>, StoreError> {
        let all = self.tenants.read();
        Ok(all
            .get(tenant.as_str())
            .into_iter()
            .flatten()
            .filter(|s| matches_all(&s.labels, matchers))
            .filter(|s| {
                s.entries
                    .iter()
                    .any(|e| e.ts_ns >= start_ns && e.ts_ns < end_ns)
            })
            .map(|s| s.labels.clone())
            .collect())
    }
}

/// A running querier serving the Loki API over a [`MemLogStore`].
pub struct LokiServer {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The log store behind it.
    pub logs: Arc<MemLogStore>,
}

/// Starts a querier with a log store on a free loopback port.
pub async fn start_loki_server(limits: Limits) -> LokiServer {
    start_loki_server_with(QuerierConfig::default(), limits).await
}

/// [`start_loki_server`] with querier settings `cfg`.
pub async fn start_loki_server_with(cfg: QuerierConfig, limits: Limits) -> LokiServer {
    let logs = Arc::new(MemLogStore::default());
    let querier = Arc::new(
        Querier::new(
            cfg,
            Arc::new(MemStore::default()),
            Arc::new(Overrides::new(limits)),
            true,
        )
        .with_log_store(logs.clone()),
    );
    let base = serve(querier).await;
    LokiServer { base, logs }
}

/// `s` percent-encoded for a URL query (unreserved bytes kept).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}
