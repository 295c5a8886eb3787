//! TraceQL cases from `traceql_cases.txt`: each query parsed, printed back
//! (canonical form re-parses to the same), evaluated on the fixture traces,
//! and its pushed-down span filter checked to keep every matching trace.

use std::collections::HashMap;

use cairn_querier::traceql::{Query, parse, span_filter};
use common::traces::Trace;

use crate::trace_support::fixtures;

/// `T1[s1 s2][s3] T2[w1]`, or `none`.
fn render(query: &Query, traces: &[(&str, Trace)], labels: &HashMap<u8, &str>) -> String {
    let mut out = Vec::new();
    for (name, trace) in traces {
        let sets = query.eval(trace);
        if sets.is_empty() {
            continue;
        }
        let mut s = name.to_string();
        for set in sets {
            let spans: Vec<&str> = set
                .spans
                .iter()
                .map(|&i| labels[&trace.spans[i].span_id[7]])
                .collect();
            s.push_str(&format!("[{}]", spans.join(" ")));
        }
        out.push(s);
    }
    if out.is_empty() {
        "none".into()
    } else {
        out.join(" ")
    }
}

#[test]
fn traceql_cases() {
    let (traces, labels) = fixtures();
    let text = include_str!("traceql_cases.txt");
    let mut cases = 0;
    let mut failures = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        cases += 1;
        let (query, expected) = line.split_once(" ==> ").expect("case needs ==>");
        if let Some(q) = query.strip_prefix("print: ") {
            match parse(q) {
                Ok(parsed) if parsed.to_string() == expected => {}
                Ok(parsed) => failures.push(format!("{q}: printed {parsed}, want {expected}")),
                Err(e) => failures.push(format!("{q}: {e}")),
            }
            continue;
        }
        let parsed = match (parse(query), expected.strip_prefix("error: ")) {
            (Err(e), Some(want)) if e.to_string().contains(want) => continue,
            (Err(e), _) => {
                failures.push(format!("{query}: error {e}, want {expected}"));
                continue;
            }
            (Ok(q), Some(_)) => {
                failures.push(format!("{query}: parsed as {q}, want {expected}"));
                continue;
            }
            (Ok(q), None) => q,
        };
        let got = render(&parsed, &traces, &labels);
        if got != expected {
            failures.push(format!("{query}: got {got}, want {expected}"));
        }
        let printed = parsed.to_string();
        match parse(&printed) {
            Ok(again) if again.to_string() == printed => {
                let regot = render(&again, &traces, &labels);
                if regot != got {
                    failures.push(format!("{query}: canonical {printed} evaluates to {regot}"));
                }
            }
            Ok(again) => failures.push(format!("{query}: {printed} reprints as {again}")),
            Err(e) => failures.push(format!("{query}: canonical {printed} fails: {e}")),
        }
        if let Some(filter) = span_filter(&parsed) {
            for (name, trace) in &traces {
                if !parsed.eval(trace).is_empty() && !trace.spans.iter().any(|s| filter(s)) {
                    failures.push(format!("{query}: pushdown filter drops matching {name}"));
                }
            }
        }
    }
    assert!(cases >= 80, "only {cases} cases");
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn overly_deep_queries_are_refused_not_overflowed() {
    let deep = format!("{{ {}.a = 1{} }}", "(".repeat(100_000), ")".repeat(100_000));
    let err = parse(&deep).expect_err("too deep");
    assert!(err.to_string().contains("query too complex"), "{err}");
    let long = vec!["{ .a = 1 }"; 50_000].join(" || ");
    assert!(parse(&long).is_err());
    let nots = format!("{{ {}.a }}", "!".repeat(100_000));
    assert!(parse(&nots).is_err());
}
