//! Crash test: a writer pushes samples, log lines and spans without pause
//! while flushes (block cut and upload) and compactor passes start at
//! random, and the process is `kill -9`ed at a random moment, 50 times,
//! restarting on the same WAL and bucket each time. Afterwards every
//! acknowledged sample, line and span is there exactly once.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::Value;

use crate::support::remote_write::{body, now_ms, request, series};
use crate::support::{Cairn, http};

const KILLS: usize = 50;
const TRACE_ID: &str = "5b8efff798038103d269b633813fc60c";

/// A small deterministic generator (xorshift); the seed is printed so a
/// failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// What the server acknowledged, by sequence number.
#[derive(Default)]
struct Acked {
    samples: Vec<i64>,
    lines: Vec<i64>,
    spans: Vec<i64>,
}

/// Pushes one sample, one line and one span per sequence number until
/// `stop`, recording each acknowledged write. Writes that fail (the
/// process was killed) are simply not acknowledged.
async fn write(
    base: String,
    start_ms: i64,
    seq: Arc<AtomicI64>,
    acked: Arc<Mutex<Acked>>,
    stop: Arc<AtomicBool>,
) {
    let client = http();
    while !stop.load(Ordering::Relaxed) {
        let n = seq.fetch_add(1, Ordering::Relaxed);
        let t = start_ms + n;
        let sample = request(
            &client,
            &format!("{base}/api/v1/push"),
            body(vec![series("crash", &[], &[(t, n as f64)])]),
        )
        .header("X-Scope-OrgID", "team-a")
        .send()
        .await;
        if sample.is_ok_and(|r| r.status() == 200) {
            acked.lock().samples.push(n);
        }
        let line = serde_json::json!({"streams": [{"stream": {"app": "crash"},
            "values": [[(t * 1_000_000).to_string(), format!("line {n}")]]}]});
        let line = client
            .post(format!("{base}/loki/api/v1/push"))
            .header("X-Scope-OrgID", "team-a")
            .json(&line)
            .send()
            .await;
        if line.is_ok_and(|r| r.status() == 204) {
            acked.lock().lines.push(n);
        }
        let span = serde_json::json!({"resourceSpans": [{"scopeSpans": [{"spans": [{
            "traceId": TRACE_ID, "spanId": format!("{:016x}", n + 1), "name": "step",
            "startTimeUnixNano": (t * 1_000_000).to_string(), "endTimeUnixNano": (t * 1_000_000 + 1).to_string()}]}]}]});
        let span = client
            .post(format!("{base}/v1/traces"))
            .header("X-Scope-OrgID", "team-a")
            .json(&span)
            .send()
            .await;
        if span.is_ok_and(|r| r.status().is_success()) {
            acked.lock().spans.push(n);
        }
    }
}

/// Starts a request in the background and forgets it (it may die with the
/// process).
fn fire(base: &str, path: &str) {
    let url = format!("{base}{path}");
    tokio::spawn(async move {
        let _ = http().post(url).send().await;
    });
}

/// How many times each sequence number occurs in `found`.
fn counts(found: impl Iterator<Item = i64>) -> HashMap<i64, usize> {
    let mut out = HashMap::new();
    for n in found {
        *out.entry(n).or_default() += 1;
    }
    out
}

fn assert_once(what: &str, acked: &[i64], found: &HashMap<i64, usize>, log: &str) {
    for n in acked {
        assert_eq!(
            found.get(n),
            Some(&1),
            "{what} {n} acknowledged but found {:?} times\n{log}",
            found.get(n)
        );
    }
    let dupes: BTreeMap<_, _> = found.iter().filter(|(_, c)| **c > 1).collect();
    assert!(dupes.is_empty(), "{what} stored more than once: {dupes:?}");
}

#[tokio::test]
async fn every_acknowledged_item_survives_fifty_random_kill_9s() {
    let dir = tempfile::tempdir().unwrap();
    // Every line comes back in one query.
    let limits = "limits:\n  max_entries_limit_per_query: 1000000\n";
    let mut cairn = Cairn::start(dir.path(), limits).await;
    let seed = (now_ms() as u64) | 1;
    println!("crash test seed {seed}");
    let mut rng = Rng(seed);
    let start_ms = now_ms() - 60_000;
    let seq = Arc::new(AtomicI64::new(0));
    let acked = Arc::new(Mutex::new(Acked::default()));
    for _ in 0..KILLS {
        let stop = Arc::new(AtomicBool::new(false));
        let writer = tokio::spawn(write(
            cairn.url(),
            start_ms,
            Arc::clone(&seq),
            Arc::clone(&acked),
            Arc::clone(&stop),
        ));
        tokio::time::sleep(Duration::from_millis(rng.next(100))).await;
        match rng.next(4) {
            0 => fire(&cairn.url(), "/ingester/flush"),
            1 => fire(&cairn.url(), "/compactor/run"),
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(5 + rng.next(100))).await;
        cairn.kill9();
        stop.store(true, Ordering::Relaxed);
        writer.await.unwrap();
        cairn = cairn.relaunch().await;
    }
    let acked = std::mem::take(&mut *acked.lock());
    assert!(acked.samples.len() > KILLS && acked.lines.len() > KILLS && acked.spans.len() > KILLS);
    println!(
        "acknowledged {} samples, {} lines, {} spans across {KILLS} kills",
        acked.samples.len(),
        acked.lines.len(),
        acked.spans.len()
    );
    let log = cairn.log();

    let at = (now_ms() as f64) / 1000.0;
    let body: Value = cairn.query("team-a", "crash[10m]", at).await;
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
    assert_once("sample", &acked.samples, &found, &log);

    let r = http()
        .get(format!("{}/loki/api/v1/query_range", cairn.url()))
        .header("X-Scope-OrgID", "team-a")
        .query(&[
            ("query", r#"{app="crash"}"#.to_string()),
            ("start", ((start_ms - 1000) * 1_000_000).to_string()),
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
    assert_once("line", &acked.lines, &found, &log);

    let r = http()
        .get(format!("{}/api/traces/{TRACE_ID}", cairn.url()))
        .header("X-Scope-OrgID", "team-a")
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
    assert_once("span", &acked.spans, &found, &log);
}
