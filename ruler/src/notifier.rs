//! Sending alerts to Alertmanager's v2 API (`POST /api/v2/alerts`): a
//! bounded queue (oldest dropped when full, and counted), batches of up to
//! [`MAX_BATCH`] alerts per POST, retries with backoff, and per-tenant
//! targets: the tenant's `ruler_alertmanager_url` override, else the shared
//! `ruler.alertmanager_url` with the tenant added as a label.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use common::limits::Overrides;
use common::tenant::TenantId;
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::Notify;

use crate::config::{RulerConfig, url_list};
use crate::self_metrics::RulerMetrics;

/// Most alerts in one POST.
pub const MAX_BATCH: usize = 64;
/// Attempts per POST before its alerts are given up (and counted).
const ATTEMPTS: u32 = 3;

/// An alert as Alertmanager's v2 API takes it (`postableAlert`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AmAlert {
    /// Identity and routing labels.
    pub labels: BTreeMap<String, String>,
    /// Descriptions.
    pub annotations: BTreeMap<String, String>,
    /// When it started firing (RFC 3339).
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    /// When it resolved, or until when it is valid unless re-sent (RFC 3339).
    #[serde(rename = "endsAt")]
    pub ends_at: String,
    /// Link back to the expression.
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
}

/// Why one POST to Alertmanager failed.
#[derive(Debug, thiserror::Error)]
enum SendError {
    /// The request did not complete.
    #[error("posting alerts to {url}: {source}")]
    Http { url: String, source: reqwest::Error },
    /// Alertmanager refused them.
    #[error("alertmanager {url} answered {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
}

/// The queue and its sender.
pub struct Notifier {
    queue: Mutex<VecDeque<(TenantId, AmAlert)>>,
    wake: Notify,
    client: reqwest::Client,
    default_urls: Vec<String>,
    tenant_label: String,
    capacity: usize,
    overrides: Arc<Overrides>,
    metrics: RulerMetrics,
}

impl Notifier {
    /// A notifier for `cfg`'s Alertmanagers; call [`Notifier::spawn`] to
    /// start delivering.
    pub fn new(cfg: &RulerConfig, overrides: Arc<Overrides>, metrics: RulerMetrics) -> Arc<Self> {
        common::storage::install_tls_provider();
        let client = reqwest::Client::builder()
            .timeout(cfg.notification_timeout)
            .build()
            .unwrap_or_default();
        Arc::new(Self {
            queue: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
            client,
            default_urls: url_list(&cfg.alertmanager_url),
            tenant_label: cfg.tenant_label.clone(),
            capacity: cfg.notification_queue_capacity,
            overrides,
            metrics,
        })
    }

    /// Queues `alerts` of `tenant` for delivery.
    pub fn enqueue(&self, tenant: &TenantId, alerts: Vec<AmAlert>) {
        if alerts.is_empty() {
            return;
        }
        {
            let mut q = self.queue.lock();
            for a in alerts {
                if q.len() >= self.capacity {
                    q.pop_front();
                    self.metrics.notifications_dropped.inc();
                }
                q.push_back((tenant.clone(), a));
            }
        }
        self.wake.notify_one();
    }

    /// Delivers queued alerts until the runtime stops.
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                this.wake.notified().await;
                loop {
                    let batch = this.next_batch();
                    let Some((tenant, alerts)) = batch else {
                        break;
                    };
                    this.deliver(&tenant, alerts).await;
                }
            }
        })
    }

    /// Up to [`MAX_BATCH`] queued alerts of the tenant at the queue's head.
    fn next_batch(&self) -> Option<(TenantId, Vec<AmAlert>)> {
        let mut q = self.queue.lock();
        let tenant = q.front()?.0.clone();
        let mut batch = Vec::new();
        let mut rest = VecDeque::with_capacity(q.len());
        while let Some((t, a)) = q.pop_front() {
            if t == tenant && batch.len() < MAX_BATCH {
                batch.push(a);
            } else {
                rest.push_back((t, a));
            }
        }
        *q = rest;
        Some((tenant, batch))
    }

    /// The tenant's Alertmanagers and whether they are the shared ones.
    fn targets(&self, tenant: &TenantId) -> (Vec<String>, bool) {
        let own = url_list(&self.overrides.get(tenant).ruler_alertmanager_url);
        if own.is_empty() {
            (self.default_urls.clone(), true)
        } else {
            (own, false)
        }
    }

    async fn deliver(&self, tenant: &TenantId, mut alerts: Vec<AmAlert>) {
        let (urls, shared) = self.targets(tenant);
        if urls.is_empty() {
            return;
        }
        if shared && !self.tenant_label.is_empty() {
            for a in &mut alerts {
                a.labels
                    .insert(self.tenant_label.clone(), tenant.as_str().to_string());
            }
        }
        let label = RulerMetrics::tenant(tenant.as_str());
        for url in urls {
            match self.post_with_retries(&url, &alerts).await {
                Ok(()) => {
                    self.metrics
                        .notifications_sent
                        .get_or_create(&label)
                        .inc_by(alerts.len() as u64);
                }
                Err(e) => {
                    tracing::warn!(%tenant, error = %e, "alerts not delivered");
                    self.metrics.notification_errors.get_or_create(&label).inc();
                }
            }
        }
    }

    async fn post_with_retries(&self, base: &str, alerts: &[AmAlert]) -> Result<(), SendError> {
        let url = format!("{base}/api/v2/alerts");
        let mut backoff = Duration::from_millis(100);
        let mut attempt = 1;
        loop {
            match self.post(&url, alerts).await {
                Ok(()) => return Ok(()),
                Err(e) if attempt >= ATTEMPTS => return Err(e),
                Err(e) => {
                    tracing::debug!(error = %e, attempt, "retrying alert delivery");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                    attempt += 1;
                }
            }
        }
    }

    async fn post(&self, url: &str, alerts: &[AmAlert]) -> Result<(), SendError> {
        let http = |source| SendError::Http {
            url: url.to_string(),
            source,
        };
        let resp = self
            .client
            .post(url)
            .json(alerts)
            .send()
            .await
            .map_err(http)?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let body = resp.text().await.unwrap_or_default();
        Err(SendError::Status {
            url: url.to_string(),
            status: status.as_u16(),
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::routing::post;
    use common::limits::Limits;
    use prometheus_client::registry::Registry;

    use super::*;

    /// What the fake Alertmanager received: each accepted POST's alerts.
    #[derive(Default)]
    struct Received {
        posts: Mutex<Vec<Vec<serde_json::Value>>>,
        calls: AtomicUsize,
    }

    /// Refuses the first POST with 500, records the rest.
    async fn receive(
        State(rx): State<Arc<Received>>,
        axum::Json(alerts): axum::Json<Vec<serde_json::Value>>,
    ) -> StatusCode {
        if rx.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            return StatusCode::INTERNAL_SERVER_ERROR;
        }
        rx.posts.lock().push(alerts);
        StatusCode::OK
    }

    async fn fake_alertmanager() -> (String, Arc<Received>) {
        let rx = Arc::new(Received::default());
        let app = Router::new()
            .route("/api/v2/alerts", post(receive))
            .with_state(Arc::clone(&rx));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}"), rx)
    }

    fn alert(i: usize) -> AmAlert {
        AmAlert {
            labels: BTreeMap::from([("alertname".into(), format!("A{i}"))]),
            annotations: BTreeMap::new(),
            starts_at: "2026-01-01T00:00:00Z".into(),
            ends_at: "2026-01-01T00:04:00Z".into(),
            generator_url: String::new(),
        }
    }

    async fn wait_for(rx: &Received, posts: usize) -> Vec<Vec<serde_json::Value>> {
        for _ in 0..100 {
            if rx.posts.lock().len() >= posts {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        rx.posts.lock().clone()
    }

    #[tokio::test]
    async fn batches_retries_and_labels_by_target() {
        let (shared_url, shared) = fake_alertmanager().await;
        let (own_url, own) = fake_alertmanager().await;
        let overrides = Arc::new(Overrides::new(Limits::default()));
        overrides
            .apply_yaml(
                &format!("overrides:\n  own:\n    ruler_alertmanager_url: {own_url}\n"),
                std::path::Path::new("x"),
            )
            .unwrap();
        let cfg = RulerConfig {
            alertmanager_url: format!("{shared_url}/"),
            ..RulerConfig::default()
        };
        let metrics = RulerMetrics::register(&mut Registry::default());
        let n = Notifier::new(&cfg, overrides, metrics.clone());
        n.spawn();

        let shared_tenant = TenantId::parse("team-a").unwrap();
        n.enqueue(&shared_tenant, (0..100).map(alert).collect());
        let posts = wait_for(&shared, 2).await;
        let sizes: Vec<usize> = posts.iter().map(Vec::len).collect();
        assert_eq!(sizes, [64, 36], "batched, first attempt retried");
        assert!(
            posts
                .iter()
                .flatten()
                .all(|a| a["labels"]["tenant"] == "team-a")
        );
        assert_eq!(
            metrics
                .notifications_sent
                .get_or_create(&RulerMetrics::tenant("team-a"))
                .get(),
            100
        );

        let own_tenant = TenantId::parse("own").unwrap();
        n.enqueue(&own_tenant, vec![alert(1)]);
        let posts = wait_for(&own, 1).await;
        assert_eq!(posts.len(), 1);
        assert!(posts[0][0]["labels"].get("tenant").is_none(), "{:?}", posts);
        assert_eq!(shared.posts.lock().len(), 2, "own Alertmanager only");
    }
}
