//! A remote-write 2.0 client for the compliance tests: requests built the
//! way prometheus/compliance `remotewrite/receiver` builds them (its
//! `generateRequest` and `histogram` helpers), responses checked the way
//! its `validateResponse` checks them, and the read-back queries.

use distributor::remote_write::histogram::{Count, ZeroCount};
use distributor::remote_write::metric_metadata::MetricType;
use distributor::remote_write::{BucketSpan, Histogram};
use distributor::remote_write_v2::{
    self, Exemplar, Metadata, Request, Sample, SymbolTable, TimeSeries,
};
use prost::Message;
use serde_json::{Map, Value, json};

use super::{Cairn, http};

/// The `Content-Type` of a 2.0 request.
pub const CONTENT_TYPE: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

/// One request under construction; all offsets are relative to `now`.
pub struct Batch {
    /// Milliseconds since the epoch the request is built at.
    pub now: i64,
    symbols: SymbolTable,
    timeseries: Vec<TimeSeries>,
    /// `created_timestamp` (field 6 of the pre-rc.4 `TimeSeries`, which the
    /// suite still sends) per series index.
    created: Vec<(usize, i64)>,
}

impl Default for Batch {
    fn default() -> Self {
        Self {
            now: super::remote_write::now_ms(),
            symbols: SymbolTable::default(),
            timeseries: Vec::new(),
            created: Vec::new(),
        }
    }
}

impl Batch {
    /// A series `labels` with nothing in it yet; returns its index.
    pub fn series(&mut self, labels: &[(&str, &str)]) -> usize {
        let labels_refs = self.symbols.label_refs(labels.iter().copied());
        self.timeseries.push(TimeSeries {
            labels_refs,
            ..Default::default()
        });
        self.timeseries.len() - 1
    }

    /// A series `labels` with one float sample at `now + offset_ms`.
    pub fn sample(&mut self, labels: &[(&str, &str)], value: f64, offset_ms: i64) -> usize {
        let i = self.series(labels);
        self.timeseries[i].samples.push(Sample {
            value,
            timestamp: self.now + offset_ms,
            start_timestamp: 0,
        });
        i
    }

    /// A series `labels` with histogram `h` at `now + offset_ms`.
    pub fn histogram(
        &mut self,
        labels: &[(&str, &str)],
        mut h: Histogram,
        offset_ms: i64,
    ) -> usize {
        let i = self.series(labels);
        h.timestamp = self.now + offset_ms;
        self.timeseries[i].histograms.push(h);
        i
    }

    /// Attaches an exemplar to series `i`.
    pub fn exemplar(&mut self, i: usize, labels: &[(&str, &str)], value: f64, offset_ms: i64) {
        let labels_refs = self.symbols.label_refs(labels.iter().copied());
        self.timeseries[i].exemplars.push(Exemplar {
            labels_refs,
            value,
            timestamp: self.now + offset_ms,
        });
    }

    /// Attaches metadata to series `i`.
    pub fn metadata(&mut self, i: usize, kind: MetricType, help: &str, unit: &str) {
        self.timeseries[i].metadata = Some(Metadata {
            r#type: kind as i32,
            help_ref: self.symbols.symbolize(help),
            unit_ref: self.symbols.symbolize(unit),
        });
    }

    /// Sets the rc.4 per-sample start timestamp of series `i`'s samples.
    pub fn start_timestamp(&mut self, i: usize, start_ms: i64) {
        for s in &mut self.timeseries[i].samples {
            s.start_timestamp = start_ms;
        }
    }

    /// Sets the pre-rc.4 per-series created timestamp of series `i`.
    pub fn created_timestamp(&mut self, i: usize, created_ms: i64) {
        self.created.push((i, created_ms));
    }

    /// The snappy-compressed request.
    pub fn body(self) -> Vec<u8> {
        let req = Request {
            symbols: self.symbols.into_symbols(),
            timeseries: self.timeseries,
        };
        if self.created.is_empty() {
            return remote_write_v2::encode(&req).unwrap();
        }
        // Field 6 is not in the rc.4 types: append it to each series' bytes.
        let mut raw = Vec::new();
        for s in &req.symbols {
            prost::encoding::string::encode(4, s, &mut raw);
        }
        for (i, ts) in req.timeseries.iter().enumerate() {
            let mut bytes = ts.encode_to_vec();
            if let Some((_, created)) = self.created.iter().find(|(j, _)| *j == i) {
                prost::encoding::int64::encode(6, created, &mut bytes);
            }
            prost::encoding::bytes::encode(5, &bytes, &mut raw);
        }
        snap::raw::Encoder::new().compress_vec(&raw).unwrap()
    }
}

/// The suite's `histogram(sum, includePositive, includeNegative,
/// includeZero, useCustomBuckets, badCount)`.
pub fn suite_histogram(
    sum: f64,
    positive: bool,
    negative: bool,
    zero: bool,
    custom: bool,
    bad_count: bool,
) -> Histogram {
    let mut h = Histogram {
        sum,
        ..Default::default()
    };
    let mut count = 0;
    if positive {
        h.positive_spans = vec![span(0, 3), span(2, 2)];
        h.positive_deltas = vec![1, 2, 1, 3, 1];
        count += 23;
    }
    if negative {
        h.negative_spans = vec![span(0, 2)];
        h.negative_deltas = vec![1, 1];
        count += 3;
    }
    if zero {
        count += 1;
        h.zero_count = Some(ZeroCount::ZeroCountInt(1));
    }
    if custom {
        h.schema = -53;
        h.custom_values = vec![0.1, 0.5, 1.0, 2.5, 5.0, 10.0];
        h.positive_spans = vec![span(0, 6)];
        h.positive_deltas = vec![2, 1, 2, 3, -1, -2];
        count = 30;
    }
    if bad_count {
        count = 99;
    }
    h.count = Some(Count::CountInt(count));
    h
}

fn span(offset: i32, length: u32) -> BucketSpan {
    BucketSpan { offset, length }
}

/// The query API's JSON for [`suite_histogram`] with the same flags
/// (`{"count", "sum", "buckets"}`, Prometheus's bucket list: ascending,
/// empty buckets left out, `[boundary rule, lower, upper, count]`).
pub fn suite_histogram_json(
    sum: &str,
    positive: bool,
    negative: bool,
    zero: bool,
    custom: bool,
) -> Value {
    let b = |rule: u8, lower: &str, upper: &str, count: &str| json!([rule, lower, upper, count]);
    let mut buckets = Vec::new();
    let mut count = 0;
    if custom {
        for (lower, upper, n) in [
            ("-Inf", "0.1", 2),
            ("0.1", "0.5", 3),
            ("0.5", "1", 5),
            ("1", "2.5", 8),
            ("2.5", "5", 7),
            ("5", "10", 5),
        ] {
            buckets.push(b(0, lower, upper, &n.to_string()));
            count += n;
        }
    } else {
        if negative {
            buckets.push(b(1, "-2", "-1", "2"));
            buckets.push(b(1, "-1", "-0.5", "1"));
            count += 3;
        }
        if zero {
            buckets.push(b(3, "-0", "0", "1"));
            count += 1;
        }
        if positive {
            for (lower, upper, n) in [
                ("0.5", "1", 1),
                ("1", "2", 3),
                ("2", "4", 4),
                ("16", "32", 7),
                ("32", "64", 8),
            ] {
                buckets.push(b(0, lower, upper, &n.to_string()));
                count += n;
            }
        }
    }
    let mut out = json!({"count": count.to_string(), "sum": sum});
    if !buckets.is_empty() {
        out["buckets"] = Value::Array(buckets);
    }
    out
}

/// What a response said: status, the three written counts (a missing
/// header counts 0, as the spec lets senders assume) and the body.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// `X-Prometheus-Remote-Write-{Samples,Histograms,Exemplars}-Written`.
    pub written: [usize; 3],
    /// Whether all three headers were present.
    pub has_written_headers: bool,
    /// The response body.
    pub body: String,
}

/// POSTs `body` to `/api/v1/push` as `tenant` with `headers` (the 2.0
/// client's when `None`).
pub async fn send(
    cairn: &Cairn,
    tenant: &str,
    headers: Option<&[(&str, &str)]>,
    body: Vec<u8>,
) -> Reply {
    let default = [
        ("Content-Encoding", "snappy"),
        ("Content-Type", CONTENT_TYPE),
        ("X-Prometheus-Remote-Write-Version", "2.0.0"),
    ];
    let mut req = http()
        .post(format!("{}/api/v1/push", cairn.url()))
        .header("X-Scope-OrgID", tenant)
        .body(body);
    for (name, value) in headers.unwrap_or(&default) {
        req = req.header(*name, *value);
    }
    let r = req.send().await.unwrap();
    let header = |k: &str| {
        r.headers()
            .get(format!("X-Prometheus-Remote-Write-{k}-Written"))
            .map(|v| v.to_str().unwrap().parse::<usize>().unwrap())
    };
    let counts = ["Samples", "Histograms", "Exemplars"].map(header);
    Reply {
        status: r.status().as_u16(),
        written: counts.map(|c| c.unwrap_or(0)),
        has_written_headers: counts.iter().all(Option::is_some),
        body: r.text().await.unwrap(),
    }
}

/// The suite's `requestParams`: what a case expects written.
#[derive(Debug, Clone, Copy, Default)]
pub struct Want {
    /// Float samples.
    pub samples: usize,
    /// Histogram samples.
    pub histograms: usize,
    /// Exemplars.
    pub exemplars: usize,
}

/// The suite's `validateResponse` for a case expected to succeed, strict
/// (its SHOULD twin "returns 204"): exactly 204 and exactly `want` written.
pub fn assert_written(case: &str, reply: &Reply, want: Want, log: impl Fn() -> String) {
    assert_eq!(reply.status, 204, "{case}: {}\n{}", reply.body, log());
    assert!(reply.has_written_headers, "{case}: {reply:?}");
    assert_eq!(
        reply.written,
        [want.samples, want.histograms, want.exemplars],
        "{case}: written (samples, histograms, exemplars): {}",
        reply.body
    );
}

/// The suite's `validateResponse` for a case expected to fail: 400 (or
/// `status`), and no more written than `want`, in total too.
pub fn assert_refused(case: &str, reply: &Reply, want: Want, status: u16) {
    assert_eq!(reply.status, status, "{case}: {}", reply.body);
    let [s, h, e] = reply.written;
    assert!(
        s <= want.samples && h <= want.histograms && e <= want.exemplars,
        "{case}: written {:?} > {want:?}",
        reply.written
    );
}

/// `{name="value", …}` for a PromQL selector (values quoted and escaped).
pub fn selector(labels: &[(&str, &str)]) -> String {
    let pairs: Vec<String> = labels
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(n, v)| {
            // Prometheus 3 syntax: a UTF-8 label name is quoted.
            let legacy = n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if legacy {
                format!("{n}={v:?}")
            } else {
                format!("{n:?}={v:?}")
            }
        })
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

/// The label set of `labels` as the query API returns it.
pub fn label_json(labels: &[(&str, &str)]) -> Value {
    Value::Object(
        labels
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(n, v)| (n.to_string(), Value::String(v.to_string())))
            .collect::<Map<_, _>>(),
    )
}

/// True when the API's `text` is the float `want` (NaN equals NaN).
pub fn same_float(text: &str, want: f64) -> bool {
    let got: f64 = match text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        t => t
            .parse()
            .unwrap_or_else(|_| panic!("not a float: {text:?}")),
    };
    (got.is_nan() && want.is_nan()) || got == want
}

/// The instant-vector `result` of `query` as `tenant` at `t_ms`.
pub async fn result(cairn: &Cairn, tenant: &str, query: &str, t_ms: i64) -> Vec<Value> {
    let body = cairn.query(tenant, query, t_ms as f64 / 1000.0).await;
    assert_eq!(body["data"]["resultType"], "vector", "{query}: {body}");
    body["data"]["result"].as_array().unwrap().clone()
}

/// The one float value `query` gives at `t_ms`, as the API writes it.
pub async fn one_value(cairn: &Cairn, tenant: &str, query: &str, t_ms: i64) -> String {
    let r = result(cairn, tenant, query, t_ms).await;
    assert_eq!(r.len(), 1, "{query} at {t_ms}: {r:?}\n{}", cairn.log());
    r[0]["value"][1].as_str().unwrap().to_string()
}

/// GET `/prometheus/api/v1/<path>` as `tenant`; returns `data`.
pub async fn api(cairn: &Cairn, tenant: &str, path: &str, params: &[(&str, &str)]) -> Value {
    crate::support::prometheus_api(cairn, tenant, path, params).await["data"].clone()
}

/// The exemplars of the series `labels` between `start_ms` and `end_ms`:
/// `(labels, value, timestamp_ms)` in time order.
pub async fn exemplars(
    cairn: &Cairn,
    tenant: &str,
    labels: &[(&str, &str)],
    start_ms: i64,
    end_ms: i64,
) -> Vec<(Value, String, i64)> {
    let (start, end) = (
        (start_ms as f64 / 1000.0).to_string(),
        (end_ms as f64 / 1000.0).to_string(),
    );
    let query = selector(labels);
    let data = api(
        cairn,
        tenant,
        "query_exemplars",
        &[("query", &query), ("start", &start), ("end", &end)],
    )
    .await;
    let series = data.as_array().unwrap();
    assert!(series.len() <= 1, "{query}: {data}");
    let Some(series) = series.first() else {
        return Vec::new();
    };
    assert_eq!(series["seriesLabels"], label_json(labels), "{data}");
    series["exemplars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["labels"].clone(),
                e["value"].as_str().unwrap().to_string(),
                (e["timestamp"].as_f64().unwrap() * 1000.0).round() as i64,
            )
        })
        .collect()
}

/// `/api/v1/metadata?metric=<family>`: the family's entries.
pub async fn metadata(cairn: &Cairn, tenant: &str, family: &str) -> Value {
    let data = api(cairn, tenant, "metadata", &[("metric", family)]).await;
    data[family].clone()
}
