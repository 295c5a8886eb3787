//! Test helpers: an in-memory [`SeriesStore`] and a querier server on a
//! free loopback port.

use std::sync::Arc;

use async_trait::async_trait;
use cairn_querier::{Querier, QuerierConfig};
use common::labels::Labels;
use common::limits::{Limits, Overrides};
use common::series::{Matcher, Sample, Series, SeriesStore, StoreError, matches_all};
use common::tenant::TenantId;
use parking_lot::RwLock;

/// Series per tenant, held in memory.
#[derive(Default)]
pub struct MemStore {
    tenants: RwLock<std::collections::HashMap<String, Vec<Series>>>,
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
            None => list.push(Series { labels, samples }),
        }
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
            })
            .filter(|s| !s.samples.is_empty())
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
    let querier = Arc::new(Querier::new(
        QuerierConfig::default(),
        store.clone(),
        Arc::new(Overrides::new(limits)),
        true,
    ));
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
