//! LogQL conformance cases from `logql_cases.txt`: each query is parsed,
//! printed back (the canonical form must parse to the same tree) and, when
//! the case says so, evaluated over a fixed data set in an in-memory log
//! store; results are compared as text.
//!
//! Case format (blank line between cases):
//! ```text
//! query: <LogQL>
//! print: <canonical form>        (optional; default: the query itself)
//! eval: logs [forward|backward] [limit]   over [T0, T0+10s)
//! eval: instant <s>              at T0+s
//! eval: range <start> <end> <step>   seconds from T0
//! error: <text the error contains>
//! expect:                        then the result, one line each
//! ```
//! `LOGQL_BLESS=1` rewrites the expectations from the engine's output
//! (review the diff before committing it).

use std::fmt::Write;
use std::sync::Arc;

use cairn_querier::logql::{LogqlEngine, LogqlValue, QueryParams, parse};
use cairn_querier::promql::QueryValue;
use common::labels::Labels;
use common::logs::{Direction, LogEntry};
use common::tenant::TenantId;

use crate::support::{MemLogStore, entry};

/// The data set's base time: 2023-11-14T22:13:20Z in nanoseconds.
pub const T0: i64 = 1_700_000_000_000_000_000;
const SEC: i64 = 1_000_000_000;

fn at(s: f64) -> i64 {
    T0 + (s * 1e9) as i64
}

/// The fixed data set every evaluated case runs against (tenant `t1`).
pub fn dataset() -> MemLogStore {
    let store = MemLogStore::default();
    let l = |pairs: &[(&str, &str)]| Labels::from_pairs(pairs.iter().copied());
    store.push(
        "t1",
        l(&[("app", "api"), ("env", "prod")]),
        vec![
            entry(at(1.0), r#"{"level":"info","msg":"request done","status":200,"latency":"120ms","size":"1.5KB","user":{"id":"u1","name":"alice"},"path":"/api/users","tags":["a","b"]}"#),
            entry(at(2.0), r#"{"level":"error","msg":"db timeout","status":500,"latency":"2.5s","size":"300B","user":{"id":"u2","name":"bob"},"path":"/api/orders","tags":["c"]}"#),
            entry(at(3.0), r#"{"level":"info","msg":"request done","status":201,"latency":"80ms","size":"2KB","user":{"id":"u1","name":"alice"},"path":"/api/orders","tags":[]}"#),
            entry(at(4.0), "panic: runtime error: index out of range"),
            entry(at(5.0), r#"{"level":"warn","msg":"slow request","status":200,"latency":"1.2s","size":"10KB","user":{"id":"u3","name":"carol"},"path":"/api/users","tags":["a"]}"#),
        ],
    );
    store.push(
        "t1",
        l(&[("app", "web"), ("env", "prod")]),
        vec![
            entry(at(1.0), "level=info method=GET path=/ status=200 duration=15ms bytes=512"),
            entry(at(2.0), "level=debug method=GET path=/static/app.js status=304 duration=2ms bytes=0"),
            entry(at(3.0), r#"level=error method=POST path=/login status=401 duration=30ms bytes=128 msg="bad password""#),
            entry(at(4.0), "level=info method=GET path=/about status=200 duration=20ms bytes=2048 cached"),
        ],
    );
    store.push(
        "t1",
        l(&[("app", "web"), ("env", "dev")]),
        vec![
            entry(
                at(2.0),
                r#"10.0.0.1 - - [14/Nov/2023:22:13:22 +0000] "GET /index.html HTTP/1.1" 200 612"#,
            ),
            LogEntry {
                ts_ns: at(3.0),
                line:
                    r#"10.0.0.2 - - [14/Nov/2023:22:13:23 +0000] "POST /api/login HTTP/1.1" 500 33"#
                        .into(),
                structured_metadata: l(&[("trace_id", "abc123")]),
            },
            entry(
                at(6.0),
                r#"10.0.0.1 - - [14/Nov/2023:22:13:26 +0000] "GET /favicon.ico HTTP/1.1" 404 0"#,
            ),
        ],
    );
    store.push(
        "t1",
        l(&[("app", "worker"), ("env", "prod")]),
        vec![
            entry(at(1.0), "\x1b[32mINFO\x1b[0m job started id=1"),
            entry(at(5.0), "\x1b[31mERROR\x1b[0m job failed id=2 took=1m30s"),
        ],
    );
    store.push(
        "t1",
        l(&[("app", "packed")]),
        vec![
            entry(
                at(2.0),
                r#"{"_entry":"original line","pod":"p-1","level":"info"}"#,
            ),
            entry(
                at(7.0),
                r#"{"_entry":"second line","pod":"p-2","level":"warn"}"#,
            ),
        ],
    );
    store
}

struct Case {
    line: usize,
    query: String,
    print: Option<String>,
    eval: Option<String>,
    error: Option<String>,
    expect: Vec<String>,
}

fn parse_cases(text: &str) -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    let mut in_expect = false;
    for (i, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            in_expect = false;
            continue;
        }
        if raw.starts_with('#') {
            continue;
        }
        if let Some(q) = raw.strip_prefix("query: ") {
            in_expect = false;
            cases.push(Case {
                line: i + 1,
                query: q.to_string(),
                print: None,
                eval: None,
                error: None,
                expect: Vec::new(),
            });
            continue;
        }
        let Some(c) = cases.last_mut() else {
            panic!("line {}: text before the first query", i + 1)
        };
        if in_expect {
            c.expect.push(raw.to_string());
        } else if let Some(p) = raw.strip_prefix("print: ") {
            c.print = Some(p.to_string());
        } else if let Some(e) = raw.strip_prefix("eval: ") {
            c.eval = Some(e.to_string());
        } else if let Some(e) = raw.strip_prefix("error: ") {
            c.error = Some(e.to_string());
        } else if raw == "expect:" {
            in_expect = true;
        } else {
            panic!("line {}: unknown case line {raw:?}", i + 1);
        }
    }
    cases
}

fn secs(ts_ns: i64) -> String {
    let d = (ts_ns - T0) as f64 / 1e9;
    format!("{d}")
}

fn params(eval: &str) -> Result<QueryParams, String> {
    let words: Vec<&str> = eval.split_whitespace().collect();
    let num = |i: usize| -> Result<f64, String> {
        words
            .get(i)
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| format!("bad eval line {eval:?}"))
    };
    let base = QueryParams {
        start_ns: T0,
        end_ns: T0 + 10 * SEC,
        step_ns: SEC,
        instant: false,
        limit: 100,
        direction: Direction::Forward,
        interval_ns: 0,
    };
    match words.first().copied() {
        Some("logs") => {
            let direction = match words.get(1).copied() {
                Some("backward") => Direction::Backward,
                _ => Direction::Forward,
            };
            let limit = words.get(2).and_then(|w| w.parse().ok()).unwrap_or(100);
            Ok(QueryParams {
                direction,
                limit,
                ..base
            })
        }
        Some("instant") => Ok(QueryParams {
            start_ns: at(num(1)?),
            end_ns: at(num(1)?),
            instant: true,
            ..base
        }),
        Some("range") => Ok(QueryParams {
            start_ns: at(num(1)?),
            end_ns: at(num(2)?),
            step_ns: (num(3)? * 1e9) as i64,
            ..base
        }),
        _ => Err(format!("bad eval line {eval:?}")),
    }
}

fn render(value: &LogqlValue, p: &QueryParams) -> Vec<String> {
    let mut out = Vec::new();
    match value {
        LogqlValue::Streams(streams) => {
            for s in streams {
                out.push(s.labels.to_string());
                for e in &s.entries {
                    out.push(format!("  {} {}", secs(e.ts_ns), e.line.escape_debug()));
                }
            }
        }
        LogqlValue::Metric(QueryValue::Scalar { v, .. }) => out.push(format!("scalar {v}")),
        LogqlValue::Metric(QueryValue::Vector(v)) => {
            for s in v {
                out.push(format!("{} {}", s.labels, s.v));
            }
        }
        LogqlValue::Metric(QueryValue::Matrix(m)) => {
            let steps = ((p.end_ns - p.start_ns) / p.step_ns + 1) as usize;
            for s in m {
                let mut line = s.labels.to_string();
                for i in 0..steps {
                    let t = (p.start_ns + i as i64 * p.step_ns) / 1_000_000;
                    match s.samples.iter().find(|x| x.t == t) {
                        Some(x) => {
                            let _ = write!(line, " {}", x.v);
                        }
                        None => line.push_str(" _"),
                    }
                }
                out.push(line);
            }
        }
        LogqlValue::Metric(QueryValue::String { v, .. }) => out.push(format!("string {v}")),
    }
    out
}

/// Runs one case: `Ok(actual expectation lines)` or why it failed.
async fn run(engine: &LogqlEngine, c: &Case) -> Result<Vec<String>, String> {
    let tenants = [TenantId::parse("t1").map_err(|e| e.to_string())?];
    let parsed = parse(&c.query);
    if let Ok(expr) = &parsed {
        let printed = expr.to_string();
        let want = c.print.as_deref().unwrap_or(&c.query);
        if printed != want {
            return Err(format!("printed as {printed:?}, want {want:?}"));
        }
        let again = parse(&printed).map_err(|e| format!("canonical form does not parse: {e}"))?;
        if &again != expr {
            return Err(format!("canonical form {printed:?} parses to another tree"));
        }
    }
    let outcome = match (&parsed, &c.eval) {
        (Err(e), _) => Err(e.to_string()),
        (Ok(_), None) => return Ok(Vec::new()),
        (Ok(expr), Some(eval)) => {
            let p = params(eval)?;
            engine
                .eval(&tenants, expr, &p)
                .await
                .map(|r| render(&r.value, &p))
                .map_err(|e| e.to_string())
        }
    };
    match (outcome, &c.error) {
        (Err(e), Some(want)) if e.contains(want.as_str()) => Ok(Vec::new()),
        (Err(e), _) => Err(format!("error: {e}")),
        (Ok(_), Some(want)) => Err(format!("succeeded, want an error containing {want:?}")),
        (Ok(lines), None) => Ok(lines),
    }
}

#[tokio::test]
async fn logql_cases() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/querier/logql_cases.txt");
    let text = std::fs::read_to_string(path).expect("read logql_cases.txt");
    let cases = parse_cases(&text);
    assert!(cases.len() >= 150, "only {} cases", cases.len());
    let engine = LogqlEngine::new(Arc::new(dataset()));
    let bless = std::env::var_os("LOGQL_BLESS").is_some();
    let mut failures = Vec::new();
    let mut blessed: Vec<(usize, Vec<String>)> = Vec::new();
    for c in &cases {
        match run(&engine, c).await {
            Ok(actual) if bless => blessed.push((c.line, actual)),
            Ok(actual) if actual == c.expect => {}
            Ok(actual) => failures.push(format!(
                "line {}: {}\n  want:\n{}\n  got:\n{}",
                c.line,
                c.query,
                c.expect.join("\n"),
                actual.join("\n")
            )),
            Err(e) => failures.push(format!("line {}: {}\n  {e}", c.line, c.query)),
        }
    }
    if bless {
        std::fs::write(path, rewrite(&text, &blessed)).expect("write cases");
    }
    assert!(
        failures.is_empty(),
        "{} of {} LogQL cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// `text` with each evaluated case's `expect:` block replaced.
fn rewrite(text: &str, blessed: &[(usize, Vec<String>)]) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        out.push_str(line);
        out.push('\n');
        i += 1;
        if let Some((_, actual)) = blessed.iter().find(|(l, _)| *l == i) {
            // Copy the rest of the case header, drop the old expectations.
            while i < lines.len() && !lines[i].trim().is_empty() && lines[i] != "expect:" {
                out.push_str(lines[i]);
                out.push('\n');
                i += 1;
            }
            if i < lines.len() && lines[i] == "expect:" {
                i += 1;
                while i < lines.len() && !lines[i].trim().is_empty() {
                    i += 1;
                }
            }
            if !actual.is_empty() {
                out.push_str("expect:\n");
                for a in actual {
                    out.push_str(a);
                    out.push('\n');
                }
            }
        }
    }
    out
}

/// Enough lines that the engine splits the streams across two threads:
/// the answers must be those of a serial scan.
#[tokio::test]
async fn many_lines_split_across_threads_give_the_same_answers() {
    let store = MemLogStore::default();
    for s in 0..3 {
        let entries = (0..10_000)
            .map(|i| entry(T0 + i * 1_000_000, &format!("i={i} odd={}", i % 2)))
            .collect();
        store.push(
            "t1",
            Labels::from_pairs([("job", "bulk"), ("shard", &s.to_string())]),
            entries,
        );
    }
    let engine = LogqlEngine::new(Arc::new(store));
    let tenants = [TenantId::parse("t1").expect("tenant")];
    let metric = QueryParams {
        start_ns: T0 + 20 * SEC,
        end_ns: T0 + 20 * SEC,
        step_ns: SEC,
        instant: true,
        limit: 100,
        direction: Direction::Forward,
        interval_ns: 0,
    };
    let r = engine
        .query(
            &tenants,
            "sum by (job) (count_over_time({job=\"bulk\"} | logfmt | odd=\"1\"[1m]))",
            &metric,
        )
        .await
        .expect("metric query");
    assert_eq!(render(&r.value, &metric), vec!["{job=\"bulk\"} 15000"]);
    let logs = QueryParams {
        start_ns: T0,
        end_ns: T0 + 20 * SEC,
        limit: 20_000,
        instant: false,
        ..metric
    };
    let r = engine
        .query(&tenants, "{job=\"bulk\"} | logfmt | odd=\"0\"", &logs)
        .await
        .expect("log query");
    let LogqlValue::Streams(streams) = r.value else {
        panic!("streams expected");
    };
    assert_eq!(
        streams.len(),
        3 * 5_000,
        "one stream per distinct label set (i differs)"
    );
    assert!(
        streams
            .iter()
            .all(|s| s.entries.len() == 1 && s.labels.get("odd") == Some("0"))
    );
}

/// Records what the engine asks the store for.
struct RecordingStore {
    inner: MemLogStore,
    selects: parking_lot::Mutex<Vec<(bool, Option<usize>)>>,
}

#[async_trait::async_trait]
impl common::logs::LogStore for RecordingStore {
    async fn select_logs(
        &self,
        tenant: &TenantId,
        sel: &common::logs::LogSelect,
    ) -> Result<Vec<common::logs::StreamEntries>, common::series::StoreError> {
        self.selects
            .lock()
            .push((sel.line_filter.is_some(), sel.limit));
        self.inner.select_logs(tenant, sel).await
    }

    async fn log_streams(
        &self,
        tenant: &TenantId,
        matchers: &[common::series::Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<Labels>, common::series::StoreError> {
        self.inner
            .log_streams(tenant, matchers, start_ns, end_ns)
            .await
    }
}

/// Leading line filters reach the store as one predicate, and the limit
/// hint only when no later stage can drop lines.
#[tokio::test]
async fn leading_line_filters_and_limits_are_pushed_down() {
    let store = Arc::new(RecordingStore {
        inner: dataset(),
        selects: parking_lot::Mutex::new(Vec::new()),
    });
    let engine = LogqlEngine::new(store.clone());
    let tenants = [TenantId::parse("t1").expect("tenant")];
    let p = params("logs").expect("params");
    for (query, pushed) in [
        ("{app=\"api\"} |= \"timeout\"", (true, Some(100))),
        ("{app=\"api\"} | json |= \"timeout\"", (false, None)),
        ("{app=\"api\"} |= \"db\" | json", (true, None)),
        ("{app=\"api\"}", (false, Some(100))),
    ] {
        store.selects.lock().clear();
        engine.query(&tenants, query, &p).await.expect(query);
        assert_eq!(*store.selects.lock(), vec![pushed], "{query}");
    }
}
