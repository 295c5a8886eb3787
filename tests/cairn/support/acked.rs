//! Acknowledged-writes bookkeeping for the crash and cluster tests: a
//! writer pushes one sample, one log line and one span per sequence number
//! and records what the server acknowledged; [`Acked::verify`] then reads
//! everything back and checks each acknowledged item is there exactly once.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};

use parking_lot::Mutex;
use serde_json::Value;

use super::http;
use super::remote_write::{body, now_ms, request, series};

/// The one trace every span joins (per tenant).
pub const TRACE_ID: &str = "5b8efff798038103d269b633813fc60c";

/// What the server acknowledged, by sequence number.
#[derive(Default)]
pub struct Acked {
    pub samples: Vec<i64>,
    pub lines: Vec<i64>,
    pub spans: Vec<i64>,
}

/// A writer's shared state: the next sequence number, what was
/// acknowledged, how many writes failed, and the stop flag.
#[derive(Clone)]
pub struct Writer {
    pub tenant: String,
    pub start_ms: i64,
    pub seq: Arc<AtomicI64>,
    pub acked: Arc<Mutex<Acked>>,
    pub failed: Arc<AtomicUsize>,
    pub stop: Arc<AtomicBool>,
}

impl Writer {
    /// A writer for `tenant` whose samples start a minute ago.
    pub fn new(tenant: &str) -> Self {
        Self {
            tenant: tenant.to_string(),
            start_ms: now_ms() - 60_000,
            seq: Arc::new(AtomicI64::new(0)),
            acked: Arc::new(Mutex::new(Acked::default())),
            failed: Arc::new(AtomicUsize::new(0)),
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Pushes to `base` until stopped (then clears the stop flag).
    /// Writes that fail (the process was killed) are not acknowledged.
    pub async fn run(self, base: String) {
        let client = http();
        let tenant = self.tenant.as_str();
        while !self.stop.load(Ordering::Relaxed) {
            let n = self.seq.fetch_add(1, Ordering::Relaxed);
            let t = self.start_ms + n;
            let sample = request(
                &client,
                &format!("{base}/api/v1/push"),
                body(vec![series("crash", &[], &[(t, n as f64)])]),
            )
            .header("X-Scope-OrgID", tenant)
            .send()
            .await;
            self.record(sample, 200, |a| a.samples.push(n));
            let line = serde_json::json!({"streams": [{"stream": {"app": "crash"},
                "values": [[(t * 1_000_000).to_string(), format!("line {n}")]]}]});
            let line = client
                .post(format!("{base}/loki/api/v1/push"))
                .header("X-Scope-OrgID", tenant)
                .json(&line)
                .send()
                .await;
            self.record(line, 204, |a| a.lines.push(n));
            let span = serde_json::json!({"resourceSpans": [{"scopeSpans": [{"spans": [{
                "traceId": TRACE_ID, "spanId": format!("{:016x}", n + 1), "name": "step",
                "startTimeUnixNano": (t * 1_000_000).to_string(), "endTimeUnixNano": (t * 1_000_000 + 1).to_string()}]}]}]});
            let span = client
                .post(format!("{base}/v1/traces"))
                .header("X-Scope-OrgID", tenant)
                .json(&span)
                .send()
                .await;
            self.record(span, 200, |a| a.spans.push(n));
        }
        self.stop.store(false, Ordering::Relaxed);
    }

    fn record(
        &self,
        sent: reqwest::Result<reqwest::Response>,
        ok: u16,
        ack: impl FnOnce(&mut Acked),
    ) {
        if sent.is_ok_and(|r| r.status() == ok) {
            ack(&mut self.acked.lock());
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Reads the tenant's samples, lines and spans back from `base` and
    /// asserts every acknowledged one is there exactly once (`log` goes into
    /// failure messages).
    pub async fn verify(&self, base: &str, log: &str) {
        let acked = {
            let a = self.acked.lock();
            Acked {
                samples: a.samples.clone(),
                lines: a.lines.clone(),
                spans: a.spans.clone(),
            }
        };
        let tenant = self.tenant.as_str();
        let at = (now_ms() as f64) / 1000.0;
        let body: Value = query(base, tenant, "crash[10m]", at).await;
        let values = body["data"]["result"][0]["values"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let found = counts(
            values
                .iter()
                .filter_map(|v| v[1].as_str()?.parse::<f64>().ok())
                .map(|v| v as i64),
        );
        assert_once(tenant, "sample", &acked.samples, &found, log);

        let r = http()
            .get(format!("{base}/loki/api/v1/query_range"))
            .header("X-Scope-OrgID", tenant)
            .query(&[
                ("query", r#"{app="crash"}"#.to_string()),
                ("start", ((self.start_ms - 1000) * 1_000_000).to_string()),
                ("end", ((now_ms() + 1000) * 1_000_000).to_string()),
                ("limit", "1000000".to_string()),
            ])
            .send()
            .await
            .unwrap();
        let text = r.text().await.unwrap();
        let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        let lines = body["data"]["result"][0]["values"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let found = counts(
            lines
                .iter()
                .filter_map(|v| v[1].as_str()?.strip_prefix("line ")?.parse().ok()),
        );
        assert_once(tenant, "line", &acked.lines, &found, log);

        let r = http()
            .get(format!("{base}/api/traces/{TRACE_ID}"))
            .header("X-Scope-OrgID", tenant)
            .send()
            .await
            .unwrap();
        let trace: Value = r.json().await.unwrap();
        let ids = trace["batches"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|b| b["scopeSpans"].as_array().into_iter().flatten())
            .flat_map(|s| s["spans"].as_array().into_iter().flatten())
            .filter_map(|s| s["spanId"].as_str().map(str::to_string))
            .collect::<Vec<_>>();
        let found = counts(
            ids.iter()
                .filter_map(|id| i64::from_str_radix(id, 16).ok().map(|v| v - 1)),
        );
        assert_once(tenant, "span", &acked.spans, &found, log);
    }
}

/// Instant query as `tenant` at unix-seconds `time`; returns the JSON body.
pub async fn query(base: &str, tenant: &str, query: &str, time: f64) -> Value {
    let r = http()
        .get(format!("{base}/prometheus/api/v1/query"))
        .header("X-Scope-OrgID", tenant)
        .query(&[("query", query), ("time", &time.to_string())])
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("query {query}: {status}, body not JSON ({e}): {text:?}"));
    assert!(status.is_success(), "query {query} failed: {status} {body}");
    body
}

/// How many times each sequence number occurs in `found`.
fn counts(found: impl Iterator<Item = i64>) -> HashMap<i64, usize> {
    let mut out = HashMap::new();
    for n in found {
        *out.entry(n).or_default() += 1;
    }
    out
}

fn assert_once(tenant: &str, what: &str, acked: &[i64], found: &HashMap<i64, usize>, log: &str) {
    for n in acked {
        assert_eq!(
            found.get(n),
            Some(&1),
            "{tenant}: {what} {n} acknowledged but found {:?} times\n{log}",
            found.get(n)
        );
    }
    let dupes: BTreeMap<_, _> = found.iter().filter(|(_, c)| **c > 1).collect();
    assert!(
        dupes.is_empty(),
        "{tenant}: {what} stored more than once: {dupes:?}"
    );
}
