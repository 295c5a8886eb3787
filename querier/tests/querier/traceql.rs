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

/// Nested sets over a broken trace: two roots numbered one after the
/// other (span order), a span whose parent never arrived and its child
/// left at 0 as in Tempo, while `>` still relates that child to its parent.
#[test]
fn nested_sets_number_each_root_and_leave_orphans_at_zero() {
    use std::sync::Arc;

    use cairn_querier::traceql::{FieldExpr, Intrinsic, TraceView, Value, field_value};
    use common::traces::Scope;

    use crate::trace_support::{SpanSpec, build, resource, trace_id};

    let svc = resource("svc", "prod");
    let spec = |label, id, parent, start_ms| SpanSpec {
        label,
        id,
        parent,
        name: label,
        kind: 1,
        status: 0,
        start_ms,
        dur_ms: 10,
        resource: Arc::clone(&svc),
        attrs: Vec::new(),
    };
    let trace = build(
        trace_id(0xb1),
        0,
        Arc::new(Scope::default()),
        vec![
            spec("orphan-child", 31, Some(30), 4),
            spec("r1", 21, None, 0),
            spec("orphan", 30, Some(99), 3),
            spec("c1", 22, Some(21), 1),
            spec("r2", 23, None, 2),
        ],
    );
    let view = TraceView::new(&trace);
    let numbers = |span: &common::traces::Span| {
        [
            Intrinsic::NestedSetParent,
            Intrinsic::NestedSetLeft,
            Intrinsic::NestedSetRight,
        ]
        .map(
            |i| match field_value(&FieldExpr::Intrinsic(i), span, &view) {
                Value::Int(n) => n,
                other => panic!("{other:?}"),
            },
        )
    };
    let got: Vec<(String, [i64; 3])> = trace
        .spans
        .iter()
        .map(|s| (s.name.clone(), numbers(s)))
        .collect();
    let want = [
        ("orphan-child", [0, 0, 0]),
        ("r1", [-1, 1, 4]),
        ("orphan", [0, 0, 0]),
        ("c1", [1, 2, 3]),
        ("r2", [-1, 5, 6]),
    ];
    let want: Vec<(String, [i64; 3])> = want.iter().map(|(n, v)| (n.to_string(), *v)).collect();
    assert_eq!(got, want);

    let names = |q: &str| -> Vec<String> {
        let sets = parse(q).expect("parses").eval(&trace);
        sets.iter()
            .flat_map(|s| s.spans.iter().map(|&i| trace.spans[i].name.clone()))
            .collect()
    };
    assert_eq!(names("{ nestedSetLeft = 0 }"), ["orphan-child", "orphan"]);
    assert_eq!(names(r#"{ name = "orphan" } > { }"#), ["orphan-child"]);
    assert_eq!(names("{ } !> { }"), ["r1", "orphan", "r2"]);
}
