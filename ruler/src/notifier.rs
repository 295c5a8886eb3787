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
