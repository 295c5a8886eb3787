//! Helpers for the distributor's integration tests: a real HTTP server on a
//! free loopback port in front of a recording ingester, and request builders.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub use common::time::now_ms;

use async_trait::async_trait;
use cairn_distributor::remote_write::{self, Label, Sample, TimeSeries, WriteRequest};
use cairn_distributor::{Distributor, DistributorConfig};
use common::exemplar::SeriesExemplars;
use common::limits::{Limits, Overrides};
use common::metadata::MetricMetadata;
use common::push::{ExemplarOutcome, MetricsPusher, PushError, PushOutcome, PushSeries};
use common::tenant::TenantId;
use parking_lot::Mutex;
use prometheus_client::registry::Registry;

/// The ingester side of the boundary: records every push and accepts it all,
/// or answers "unavailable" when told to.
#[derive(Default)]
pub struct RecordingIngester {
    pushes: Mutex<Vec<(TenantId, Vec<PushSeries>)>>,
    exemplars: Mutex<Vec<(TenantId, SeriesExemplars)>>,
    metadata: Mutex<Vec<(TenantId, MetricMetadata)>>,
    unavailable: AtomicBool,
}

impl RecordingIngester {
    /// Every series received so far for `tenant`, in arrival order.
    pub fn series_of(&self, tenant: &str) -> Vec<PushSeries> {
        let pushes = self.pushes.lock();
        pushes
            .iter()
            .filter(|(t, _)| t.as_str() == tenant)
            .flat_map(|(_, s)| s.clone())
            .collect()
    }

    /// Every series' exemplars received so far for `tenant`.
    pub fn exemplars_of(&self, tenant: &str) -> Vec<SeriesExemplars> {
        of_tenant(&self.exemplars.lock(), tenant)
    }

    /// Every metadata entry received so far for `tenant`.
    pub fn metadata_of(&self, tenant: &str) -> Vec<MetricMetadata> {
        of_tenant(&self.metadata.lock(), tenant)
    }

    /// Makes every later push fail with [`PushError::Unavailable`].
    pub fn go_unavailable(&self) {
        self.unavailable.store(true, Ordering::Relaxed);
    }
}

#[async_trait]
impl MetricsPusher for RecordingIngester {
    async fn push(
        &self,
        tenant: &TenantId,
        series: Vec<PushSeries>,
    ) -> Result<PushOutcome, PushError> {
        if self.unavailable.load(Ordering::Relaxed) {
            return Err(PushError::Unavailable("ingester is shutting down".into()));
        }
        let accepted = series.iter().map(|s| s.samples.len()).sum();
        let accepted_histograms = series.iter().map(|s| s.histograms.len()).sum();
        self.pushes.lock().push((tenant.clone(), series));
        Ok(PushOutcome {
            accepted,
            accepted_histograms,
            rejected: vec![],
        })
    }

    async fn push_exemplars(
        &self,
        tenant: &TenantId,
        exemplars: Vec<SeriesExemplars>,
    ) -> Result<ExemplarOutcome, PushError> {
        let accepted = exemplars.iter().map(|s| s.exemplars.len()).sum();
        let mut all = self.exemplars.lock();
        all.extend(exemplars.into_iter().map(|e| (tenant.clone(), e)));
        Ok(ExemplarOutcome {
            accepted,
            ..Default::default()
        })
    }

    async fn push_metadata(
        &self,
        tenant: &TenantId,
        metadata: Vec<MetricMetadata>,
    ) -> Result<usize, PushError> {
        let n = metadata.len();
        let mut all = self.metadata.lock();
        all.extend(metadata.into_iter().map(|m| (tenant.clone(), m)));
        Ok(n)
    }
}

fn of_tenant<T: Clone>(items: &[(TenantId, T)], tenant: &str) -> Vec<T> {
    items
        .iter()
        .filter(|(t, _)| t.as_str() == tenant)
        .map(|(_, x)| x.clone())
        .collect()
}

/// A distributor serving HTTP on 127.0.0.1.
pub struct Server {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The limits the distributor reads; change them to test runtime reloads.
    pub overrides: Arc<Overrides>,
    /// What reached the ingester.
    pub ingester: Arc<RecordingIngester>,
    registry: Registry,
    client: reqwest::Client,
}

/// A response reduced to what the tests look at.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// The value of header `name`, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Server {
    /// Starts a multi-tenant distributor with default config and `limits`.
    pub async fn start(limits: Limits) -> Self {
        Self::start_with(DistributorConfig::default(), limits, true).await
    }

    /// Starts a distributor with everything chosen by the caller.
    pub async fn start_with(cfg: DistributorConfig, limits: Limits, multitenancy: bool) -> Self {
        // reqwest is built without a default TLS provider; plain HTTP still needs one installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let overrides = Arc::new(Overrides::new(limits));
        let ingester = Arc::new(RecordingIngester::default());
        let mut registry = Registry::default();
        let distributor = Distributor::new(
            cfg,
            overrides.clone(),
            ingester.clone(),
            &mut registry,
            multitenancy,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, Arc::new(distributor).router())
                .await
                .unwrap()
        });
        Self {
            url,
            overrides,
            ingester,
            registry,
            client: reqwest::Client::new(),
        }
    }

    /// Posts a raw body to `path` as `tenant` (no `X-Scope-OrgID` if `None`)
    /// with the headers of a remote write 1.0 client.
    pub async fn post_raw(&self, path: &str, tenant: Option<&str>, body: Vec<u8>) -> Reply {
        let headers = [
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "snappy"),
            ("X-Prometheus-Remote-Write-Version", "0.1.0"),
        ];
        self.post(path, tenant, &headers, body).await
    }

    /// Posts a raw body to `path` as `tenant` with exactly `headers`.
    pub async fn post(
        &self,
        path: &str,
        tenant: Option<&str>,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Reply {
        let mut req = self.client.post(format!("{}{path}", self.url)).body(body);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(tenant) = tenant {
            req = req.header("X-Scope-OrgID", tenant);
        }
        let resp = req.send().await.unwrap();
        Reply {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.text().await.unwrap(),
        }
    }

    /// Remote-writes `series` to `/api/v1/push` as `tenant`.
    pub async fn push(&self, tenant: &str, series: Vec<TimeSeries>) -> Reply {
        self.post_raw("/api/v1/push", Some(tenant), body(series))
            .await
    }

    /// Lays `yaml` (a runtime overrides document) over the defaults.
    pub fn apply_overrides(&self, yaml: &str) {
        self.overrides
            .apply_yaml(yaml, Path::new("test-overrides.yaml"))
            .unwrap();
    }

    /// The self-metrics in Prometheus text format.
    pub fn metrics(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).unwrap();
        text
    }
}

/// A series with the given labels (in the order given) and one sample per
/// value, one millisecond apart, ending now.
pub fn series(labels: &[(&str, &str)], values: &[f64]) -> TimeSeries {
    let end = now_ms();
    TimeSeries {
        labels: labels.iter().map(|(n, v)| Label::new(*n, *v)).collect(),
        samples: values
            .iter()
            .enumerate()
            .map(|(i, &value)| Sample {
                value,
                timestamp: end - (values.len() - 1 - i) as i64,
            })
            .collect(),
        ..Default::default()
    }
}

/// A remote-write body (snappy protobuf) holding `series`.
pub fn body(series: Vec<TimeSeries>) -> Vec<u8> {
    request_body(WriteRequest {
        timeseries: series,
        ..Default::default()
    })
}

/// A remote-write body (snappy protobuf) holding `req`.
pub fn request_body(req: WriteRequest) -> Vec<u8> {
    remote_write::encode(&req).unwrap()
}
