//! A scrape target serving native histograms in Prometheus's protobuf
//! exposition format (`io.prometheus.client.MetricFamily`, length-delimited),
//! the way Prometheus 3 client libraries expose them. Each scrape sees the
//! histogram grown by the same observations, so every value is predictable.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The exposition's protobuf messages, only the fields used here
/// (prometheus/client_model `metrics.proto`).
mod pb {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LabelPair {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct BucketSpan {
        #[prost(sint32, tag = "1")]
        pub offset: i32,
        #[prost(uint32, tag = "2")]
        pub length: u32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Histogram {
        #[prost(uint64, tag = "1")]
        pub sample_count: u64,
        #[prost(double, tag = "2")]
        pub sample_sum: f64,
        #[prost(sint32, tag = "5")]
        pub schema: i32,
        #[prost(double, tag = "6")]
        pub zero_threshold: f64,
        #[prost(uint64, tag = "7")]
        pub zero_count: u64,
        #[prost(message, repeated, tag = "9")]
        pub negative_span: Vec<BucketSpan>,
        #[prost(sint64, repeated, tag = "10")]
        pub negative_delta: Vec<i64>,
        #[prost(message, repeated, tag = "12")]
        pub positive_span: Vec<BucketSpan>,
        #[prost(sint64, repeated, tag = "13")]
        pub positive_delta: Vec<i64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Metric {
        #[prost(message, repeated, tag = "1")]
        pub label: Vec<LabelPair>,
        #[prost(message, optional, tag = "7")]
        pub histogram: Option<Histogram>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MetricFamily {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub help: String,
        /// 4 = HISTOGRAM.
        #[prost(int32, tag = "3")]
        pub r#type: i32,
        #[prost(message, repeated, tag = "4")]
        pub metric: Vec<Metric>,
    }
}

/// The histogram family served: `test_request_duration_seconds`, schema 1,
/// two series (`route="/a"`, `route="/b"`).
pub const METRIC: &str = "test_request_duration_seconds";

/// A running target; the server task ends with the test's runtime.
pub struct NativeTarget {
    /// `127.0.0.1:<port>`.
    pub addr: String,
}

impl NativeTarget {
    /// Starts serving on a free port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let scrapes = Arc::new(AtomicU64::new(0));
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let n = scrapes.fetch_add(1, Ordering::Relaxed) + 1;
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let _ = conn.read(&mut buf).await;
                    let body = exposition(n);
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.google.protobuf; \
                         proto=io.prometheus.client.MetricFamily; encoding=delimited\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = conn.write_all(head.as_bytes()).await;
                    let _ = conn.write_all(&body).await;
                });
            }
        });
        Self { addr }
    }
}

/// The family after `n` scrapes' worth of observations: route `/a` gains
/// 1, 2, 3 observations in positive buckets 0, 1, 3 (and one in the zero
/// bucket, one negative) per scrape; route `/b` gains 5 in bucket -2.
fn exposition(n: u64) -> Vec<u8> {
    let n_i = n as i64;
    let span = |offset, length| pb::BucketSpan { offset, length };
    let metric = |route: &str, h: pb::Histogram| pb::Metric {
        label: vec![pb::LabelPair {
            name: "route".into(),
            value: route.into(),
        }],
        histogram: Some(h),
    };
    let a = pb::Histogram {
        sample_count: 8 * n,
        sample_sum: 7.25 * n as f64,
        schema: 1,
        zero_threshold: 0.001,
        zero_count: n,
        negative_span: vec![span(2, 1)],
        negative_delta: vec![n_i],
        // Buckets 0, 1 (a span of 2) then 3 (after a gap of 1).
        positive_span: vec![span(0, 2), span(1, 1)],
        positive_delta: vec![n_i, n_i, n_i],
    };
    let b = pb::Histogram {
        sample_count: 5 * n,
        sample_sum: 2.5 * n as f64,
        schema: 1,
        zero_threshold: 0.001,
        positive_span: vec![span(-2, 1)],
        positive_delta: vec![5 * n_i],
        ..Default::default()
    };
    let family = pb::MetricFamily {
        name: METRIC.into(),
        help: "Request latency as a native histogram.".into(),
        r#type: 4,
        metric: vec![metric("/a", a), metric("/b", b)],
    };
    family.encode_length_delimited_to_vec()
}
