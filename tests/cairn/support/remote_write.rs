//! A small remote-write client built on the distributor's own protobuf types.

pub use common::time::now_ms;

use distributor::remote_write::{Label, Sample, TimeSeries, WriteRequest, encode};

/// A series `name{labels}` with samples `(t_ms, v)`.
pub fn series(name: &str, labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    let mut l: Vec<Label> = std::iter::once(Label::new("__name__", name))
        .chain(labels.iter().map(|(n, v)| Label::new(*n, *v)))
        .collect();
    l.sort_by(|a, b| a.name.cmp(&b.name));
    TimeSeries {
        labels: l,
        samples: samples
            .iter()
            .map(|&(timestamp, value)| Sample { value, timestamp })
            .collect(),
        ..Default::default()
    }
}

/// POSTs `timeseries` to `/api/v1/push` as `tenant` (None: no header);
/// returns status and body text.
pub async fn push(base: &str, tenant: Option<&str>, timeseries: Vec<TimeSeries>) -> (u16, String) {
    push_raw(base, tenant, body(timeseries)).await
}

/// A remote-write body holding `timeseries`.
pub fn body(timeseries: Vec<TimeSeries>) -> Vec<u8> {
    encode(&WriteRequest {
        timeseries,
        ..Default::default()
    })
    .unwrap()
}

/// A remote-write POST of `body` to `url` with the headers Prometheus sends.
pub fn request(client: &reqwest::Client, url: &str, body: Vec<u8>) -> reqwest::RequestBuilder {
    client
        .post(url)
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(body)
}

/// POSTs raw bytes to `/api/v1/push`.
pub async fn push_raw(base: &str, tenant: Option<&str>, body: Vec<u8>) -> (u16, String) {
    let mut req = request(&super::http(), &format!("{base}/api/v1/push"), body);
    if let Some(t) = tenant {
        req = req.header("X-Scope-OrgID", t);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}
