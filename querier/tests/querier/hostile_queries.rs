//! Queries built to exhaust a thread's stack (deep nesting, long operator
//! chains) get a 400 naming the limit, and queries right at the limits are
//! answered: parsing, printing, splitting, evaluating and dropping them fits
//! the stacks of the threads that do it.

use std::sync::Arc;

use cairn_querier::promql::complexity::{MAX_NESTING, MAX_OPERATORS};
use cairn_querier::{Querier, QuerierConfig};
use common::cpu_work::QUERY_THREAD_STACK_BYTES;
use common::labels::Labels;
use common::limits::{Limits, Overrides};
use common::series::Sample;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{MemStore, client, entry, serve, start_loki_server, start_server};
use crate::trace_support::{MemTraceStore, fixtures};

const T: i64 = 1_700_000_000_000;

/// Runs `test` with the querier served on threads with the stack cairn
/// gives the threads that run queries (`main` and the query pool).
fn on_query_runtime(test: impl Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(QUERY_THREAD_STACK_BYTES)
        .build()
        .expect("runtime")
        .block_on(test);
}

fn nested(open: &str, inner: &str, close: &str, n: usize) -> String {
    format!("{}{inner}{}", open.repeat(n), close.repeat(n))
}

fn chain(term: &str, op: &str, n: usize) -> String {
    vec![term; n].join(op)
}

/// PromQL built to overflow a recursive parser or evaluator.
fn hostile_promql() -> Vec<(&'static str, String)> {
    vec![
        ("sum( 3000 deep", nested("sum(", "up", ")", 3_000)),
        ("3000-term 1+1", chain("1", "+", 3_000)),
        ("3000-term up+up", chain("up", "+", 3_000)),
        ("3000-term or", chain("up", " or ", 3_000)),
        ("100000 parentheses", nested("(", "1", ")", 100_000)),
        ("100000 open parentheses", "(".repeat(100_000)),
        ("100000 unary minus", format!("{}1", "-".repeat(100_000))),
        (
            "100000 spaced unary minus",
            format!("{}1", "- ".repeat(100_000)),
        ),
        ("functions 3000 deep", nested("abs(", "up", ")", 3_000)),
        ("subqueries 3000 deep", nested("(", "up", ")[5m:1m]", 3_000)),
        (
            "rate of subqueries",
            nested("rate((", "up", ")[5m:1m])", 3_000),
        ),
        ("100000 braces", "{".repeat(100_000)),
        ("100000 brackets", format!("up{}", "[".repeat(100_000))),
        ("3000 powers", chain("2", "^", 3_000)),
        (
            "label_replace 3000 deep",
            nested("label_replace(", "up", r#","a","b","c","d")"#, 3_000),
        ),
    ]
}

/// PromQL right at the limits; the last nests brackets and operators both.
fn promql_at_the_limits() -> Vec<(&'static str, String)> {
    let minus = MAX_NESTING - 1;
    vec![
        (
            "sum( at the nesting limit",
            nested("sum(", "up", ")", MAX_NESTING),
        ),
        (
            "1+1 at the operator limit",
            chain("1", "+", MAX_OPERATORS + 1),
        ),
        (
            "up+up at the operator limit",
            chain("up", "+", MAX_OPERATORS + 1),
        ),
        (
            "negated sums around a long sum",
            nested(
                "-(",
                &chain("1", "+", MAX_OPERATORS - minus + 1),
                ")",
                minus,
            ),
        ),
    ]
}

async fn post(base: &str, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
    let resp = client()
        .post(format!("{base}{path}"))
        .header("X-Scope-OrgID", "team-a")
        .form(form)
        .send()
        .await
        .expect("request");
    (resp.status(), resp.text().await.expect("body"))
}

fn assert_refused(what: &str, status: StatusCode, body: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
    assert!(body.contains("err-cairn-query-too-"), "{what}: {body}");
}

#[test]
fn deep_or_long_promql_gets_400_bad_data_naming_the_limit() {
    on_query_runtime(async {
        let server = start_server(Limits::default()).await;
        let range = [
            ("start", "1700000000"),
            ("end", "1700003600"),
            ("step", "60"),
        ];
        for (what, q) in hostile_promql() {
            let (status, body) =
                post(&server.base, "/prometheus/api/v1/query", &[("query", &q)]).await;
            assert_refused(what, status, &body);
            let json: Value = serde_json::from_str(&body).expect("json error");
            assert_eq!(json["errorType"], "bad_data", "{what}");
            let mut form = vec![("query", q.as_str())];
            form.extend(range);
            let (status, body) = post(&server.base, "/prometheus/api/v1/query_range", &form).await;
            assert_refused(what, status, &body);
            for path in [
                "/prometheus/api/v1/format_query",
                "/prometheus/api/v1/query_exemplars",
            ] {
                let (status, body) = post(&server.base, path, &[("query", &q)]).await;
                assert_refused(what, status, &body);
            }
            let (status, body) = post(
                &server.base,
                "/prometheus/api/v1/series",
                &[("match[]", &q)],
            )
            .await;
            assert_refused(what, status, &body);
        }
        // The querier is unharmed.
        let (status, body) = post(
            &server.base,
            "/prometheus/api/v1/query",
            &[("query", "1+1")],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    });
}

#[test]
fn promql_right_at_the_limits_is_answered() {
    on_query_runtime(async {
        let server = start_server(Limits::default()).await;
        server.store.add(
            "team-a",
            Labels::from_pairs([("__name__", "up"), ("job", "a")]),
            (0..=60)
                .map(|i| Sample {
                    t: T + i * 60_000,
                    v: 1.0,
                })
                .collect(),
        );
        let time = (T / 1000 + 3600).to_string();
        let range = [
            ("start", "1700000000"),
            ("end", "1700003600"),
            ("step", "60"),
        ];
        for (what, q) in promql_at_the_limits() {
            let (status, body) = post(
                &server.base,
                "/prometheus/api/v1/query",
                &[("query", &q), ("time", &time)],
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{what}: {body}");
            let mut form = vec![("query", q.as_str())];
            form.extend(range);
            let (status, body) = post(&server.base, "/prometheus/api/v1/query_range", &form).await;
            assert_eq!(status, StatusCode::OK, "{what}: {body}");
            // With `stats` the query runs on the HTTP runtime's blocking threads.
            form.push(("stats", "all"));
            let (status, body) = post(&server.base, "/prometheus/api/v1/query_range", &form).await;
            assert_eq!(status, StatusCode::OK, "{what}: {body}");
            let (status, body) = post(
                &server.base,
                "/prometheus/api/v1/format_query",
                &[("query", &q)],
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{what}: {body}");
        }
        // One step further is refused.
        for q in [
            nested("sum(", "up", ")", MAX_NESTING + 1),
            chain("1", "+", MAX_OPERATORS + 2),
        ] {
            let (status, body) =
                post(&server.base, "/prometheus/api/v1/query", &[("query", &q)]).await;
            assert_refused("one over the limit", status, &body);
        }
    });
}

const LOG: &str = r#"count_over_time({app="api"}[1m])"#;

/// LogQL built to overflow the recursive parser or evaluator.
fn hostile_logql() -> Vec<(&'static str, String)> {
    vec![
        ("sum( 1000 deep", nested("sum(", LOG, ")", 1_000)),
        ("3000-term a + a", chain(LOG, " + ", 3_000)),
        ("3000-term 1+1", chain("1", "+", 3_000)),
        ("100000 parentheses", nested("(", LOG, ")", 100_000)),
        (
            "100000 unary minus",
            format!("{}{LOG}", "- ".repeat(100_000)),
        ),
        (
            "3000 label filters with and",
            format!(r#"{{app="api"}} | {}"#, chain(r#"x="1""#, " and ", 3_000)),
        ),
        (
            "3000 label filters side by side",
            format!(r#"{{app="api"}} | {}"#, chain(r#"x="1""#, " ", 3_000)),
        ),
        (
            "3000 label filters with or",
            format!(r#"{{app="api"}} | {}"#, chain(r#"x="1""#, " or ", 3_000)),
        ),
        (
            "label filter parentheses 1000 deep",
            format!(r#"{{app="api"}} | {}"#, nested("(", r#"x="1""#, ")", 1_000)),
        ),
        (
            "3000 line filters with or",
            format!(r#"{{app="api"}} |= {}"#, chain(r#""a""#, " or ", 3_000)),
        ),
    ]
}

#[test]
fn deep_or_long_logql_gets_400_naming_the_limit() {
    on_query_runtime(async {
        let server = start_loki_server(Limits::default()).await;
        let range = [
            ("start", "1700000000000000000"),
            ("end", "1700000600000000000"),
            ("step", "60"),
        ];
        for (what, q) in hostile_logql() {
            for path in ["/loki/api/v1/query", "/loki/api/v1/format_query"] {
                let (status, body) = post(&server.base, path, &[("query", &q)]).await;
                assert_refused(what, status, &body);
            }
            let mut form = vec![("query", q.as_str())];
            form.extend(range);
            let (status, body) = post(&server.base, "/loki/api/v1/query_range", &form).await;
            assert_refused(what, status, &body);
        }
    });
}

#[test]
fn logql_right_at_the_limits_is_answered() {
    on_query_runtime(async {
        let server = start_loki_server(Limits::default()).await;
        let s = 1_000_000_000;
        let t0 = 1_700_000_000 * s;
        server.logs.push(
            "team-a",
            Labels::from_pairs([("app", "api")]),
            (0..60).map(|i| entry(t0 + i * 10 * s, "x=1")).collect(),
        );
        // `count_over_time(` and the selector's `{` nest two more.
        let deep = nested("sum(", LOG, ")", MAX_NESTING - 2);
        // `[` in each term, `+` between them (matchers do not count).
        let terms = MAX_OPERATORS / 2;
        let long = chain(LOG, "+", terms);
        // Two `|` and the `[`, then `=` per filter and `and` between them.
        let filters = (MAX_OPERATORS - 2) / 2;
        let filtered = format!(
            r#"count_over_time({{app="api"}} | logfmt | {} [1m])"#,
            chain(r#"x="1""#, " and ", filters)
        );
        let range = [
            ("start", "1700000000000000000"),
            ("end", "1700000600000000000"),
            ("step", "60"),
        ];
        for (what, q) in [("deep", &deep), ("long", &long), ("filtered", &filtered)] {
            let mut form = vec![("query", q.as_str())];
            form.extend(range);
            let (status, body) = post(&server.base, "/loki/api/v1/query_range", &form).await;
            assert_eq!(status, StatusCode::OK, "{what}: {body}");
            let (status, body) =
                post(&server.base, "/loki/api/v1/format_query", &[("query", q)]).await;
            assert_eq!(status, StatusCode::OK, "{what}: {body}");
        }
        let over = [
            nested("sum(", LOG, ")", MAX_NESTING - 1),
            chain(LOG, "+", terms + 1),
        ];
        for q in over {
            let (status, body) = post(&server.base, "/loki/api/v1/query", &[("query", &q)]).await;
            assert_refused("one over the limit", status, &body);
        }
    });
}

#[test]
fn deep_or_long_traceql_gets_400() {
    on_query_runtime(async {
        let traces = Arc::new(MemTraceStore::default());
        for (_, t) in fixtures().0 {
            traces.add("team-a", t);
        }
        let querier = Querier::new(
            QuerierConfig::default(),
            Arc::new(MemStore::default()),
            Arc::new(Overrides::new(Limits::default())),
            true,
        )
        .with_trace_store(traces);
        let base = serve(Arc::new(querier)).await;
        // (GET: the URL stays below the 64 KiB a URI may have.)
        let cases = [
            nested("(", "{}", ")", 10_000),
            format!("{{ {} }}", chain(".a = 1", " && ", 1_000)),
            format!("{{ {}true }}", "!".repeat(10_000)),
            format!("{{ .a = {}1 }}", "-".repeat(10_000)),
            chain("{}", " && ", 1_000),
            chain("{}", " >> ", 1_000),
        ];
        // The same selections as TraceQL metrics queries.
        let metrics = cases
            .iter()
            .map(|q| ("/api/metrics/query_range", format!("{q} | rate()")));
        let searches = cases.iter().map(|q| ("/api/search", q.clone()));
        for (path, q) in searches.chain(metrics).collect::<Vec<_>>() {
            let resp = client()
                .get(format!("{base}{path}"))
                .header("X-Scope-OrgID", "team-a")
                .query(&[("q", &q)])
                .send()
                .await
                .expect("request");
            let status = resp.status();
            let body = resp.text().await.expect("body");
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{path} {}: {body}",
                &q[..40.min(q.len())]
            );
        }
        let resp = client()
            .get(format!("{base}/api/search"))
            .header("X-Scope-OrgID", "team-a")
            .query(&[("q", "{}")])
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), StatusCode::OK);
    });
}
