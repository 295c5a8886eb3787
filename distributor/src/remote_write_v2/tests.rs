use super::*;
use crate::remote_write::metric_metadata::MetricType;

fn limits() -> DecodeLimits {
    DecodeLimits {
        max_recv_msg_size: 1 << 20,
        max_decoded_request_bytes: 1 << 20,
    }
}

fn symbols(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| s.to_string()).collect()
}

#[test]
fn labels_are_resolved_and_sorted_exemplars_and_histograms_kept() {
    let req = Request {
        symbols: symbols(&["", "__name__", "up", "job", "api", "trace_id", "abc"]),
        timeseries: vec![TimeSeries {
            labels_refs: vec![3, 4, 1, 2],
            samples: vec![Sample {
                value: 2.5,
                timestamp: 10,
                start_timestamp: 5,
            }],
            histograms: vec![Histogram {
                timestamp: 11,
                schema: 3,
                ..Default::default()
            }],
            exemplars: vec![Exemplar {
                labels_refs: vec![5, 6],
                value: 1.0,
                timestamp: 10,
            }],
            metadata: None,
        }],
    };
    let v1 = decode(&encode(&req).unwrap(), limits()).unwrap();
    let ts = &v1.timeseries[0];
    assert_eq!(
        ts.labels,
        [Label::new("__name__", "up"), Label::new("job", "api")]
    );
    assert_eq!(
        ts.samples,
        [V1Sample {
            value: 2.5,
            timestamp: 10
        }]
    );
    assert_eq!(ts.histograms, req.timeseries[0].histograms);
    assert_eq!(ts.exemplars[0].labels, [Label::new("trace_id", "abc")]);
    assert!(v1.metadata.is_empty());
}

#[test]
fn metadata_names_the_family_once() {
    let series = |name_ref: u32, kind: MetricType| TimeSeries {
        labels_refs: vec![1, name_ref],
        metadata: Some(Metadata {
            r#type: kind as i32,
            help_ref: 5,
            unit_ref: 6,
        }),
        ..Default::default()
    };
    let req = Request {
        symbols: symbols(&[
            "",
            "__name__",
            "rpc_seconds_bucket",
            "rpc_seconds_count",
            "http_requests_total",
            "Help.",
            "seconds",
        ]),
        timeseries: vec![
            series(2, MetricType::Histogram),
            series(3, MetricType::Histogram),
            series(4, MetricType::Counter),
            TimeSeries {
                labels_refs: vec![1, 4],
                metadata: Some(Metadata::default()),
                ..Default::default()
            },
        ],
    };
    let v1 = decode(&encode(&req).unwrap(), limits()).unwrap();
    let got: Vec<(&str, i32, &str, &str)> = v1
        .metadata
        .iter()
        .map(|m| {
            (
                m.metric_family_name.as_str(),
                m.r#type,
                m.help.as_str(),
                m.unit.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "rpc_seconds",
                MetricType::Histogram as i32,
                "Help.",
                "seconds"
            ),
            (
                "http_requests_total",
                MetricType::Counter as i32,
                "Help.",
                "seconds"
            ),
        ]
    );
}

#[test]
fn bad_symbol_references_are_corrupt_bodies_naming_the_problem() {
    let one = |symbols: Vec<String>, ts: TimeSeries| Request {
        symbols,
        timeseries: vec![ts],
    };
    let table = symbols(&["", "__name__", "up"]);
    let cases = [
        (
            one(
                symbols(&["__name__", "up"]),
                TimeSeries {
                    labels_refs: vec![0, 1],
                    ..Default::default()
                },
            ),
            "symbols[0] must be the empty string, got \"__name__\"",
        ),
        (
            one(
                table.clone(),
                TimeSeries {
                    labels_refs: vec![1, 2, 1],
                    ..Default::default()
                },
            ),
            "timeseries[0]: labels_refs has an odd number of references (3)",
        ),
        (
            one(
                table.clone(),
                TimeSeries {
                    labels_refs: vec![1, 7],
                    ..Default::default()
                },
            ),
            "timeseries[0]: labels_refs refers to symbol 7, but the table has 3",
        ),
        (
            one(
                table.clone(),
                TimeSeries {
                    labels_refs: vec![1, 2],
                    exemplars: vec![Exemplar {
                        labels_refs: vec![9, 2],
                        value: 1.0,
                        timestamp: 1,
                    }],
                    ..Default::default()
                },
            ),
            "timeseries[0]: exemplar labels_refs refers to symbol 9, but the table has 3",
        ),
        (
            one(
                table.clone(),
                TimeSeries {
                    labels_refs: vec![1, 2],
                    metadata: Some(Metadata {
                        r#type: 1,
                        help_ref: 0,
                        unit_ref: 3,
                    }),
                    ..Default::default()
                },
            ),
            "timeseries[0]: metadata unit_ref refers to symbol 3, but the table has 3",
        ),
    ];
    for (req, want) in cases {
        let err = decode(&encode(&req).unwrap(), limits()).unwrap_err();
        assert!(matches!(err, DecodeError::Symbols(_)), "{err}");
        let msg = err.to_string();
        assert!(
            msg.starts_with("err-cairn-remote-write-corrupt-symbols: ") && msg.contains(want),
            "{msg}"
        );
    }
}

#[test]
fn an_empty_request_is_valid() {
    let v1 = decode(&encode(&Request::default()).unwrap(), limits()).unwrap();
    assert_eq!(v1, WriteRequest::default());
}

#[test]
fn a_v1_body_is_not_a_v2_request() {
    // 1.0's field 1 (timeseries) is reserved in 2.0: it decodes to nothing,
    // and a 1.0 label's bytes are not a valid 2.0 series either.
    let v1 = remote_write::encode(&WriteRequest {
        timeseries: vec![V1TimeSeries {
            labels: vec![Label::new("__name__", "up")],
            ..Default::default()
        }],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(decode(&v1, limits()).unwrap(), WriteRequest::default());
    let garbage = snap::raw::Encoder::new()
        .compress_vec(b"\xff\xff\xff\xff not a protobuf")
        .unwrap();
    assert!(matches!(
        decode(&garbage, limits()),
        Err(DecodeError::ProtobufV2(_))
    ));
}

#[test]
fn one_long_symbol_referenced_many_times_is_refused_by_the_budget() {
    // 100 KiB sent once, referenced 20 000 times: 2 GB once copied into
    // 1.0 labels. The wire message is small; the translation is charged.
    let req = Request {
        symbols: vec![String::new(), "__name__".into(), "x".repeat(100 << 10)],
        timeseries: vec![
            TimeSeries {
                labels_refs: [1, 2].repeat(10_000),
                ..Default::default()
            };
            2
        ],
    };
    let limits = DecodeLimits {
        max_recv_msg_size: 1 << 20,
        max_decoded_request_bytes: 64 << 20,
    };
    let err = decode(&encode(&req).unwrap(), limits).unwrap_err();
    assert!(matches!(err, DecodeError::DecodedTooLarge(_)), "{err}");
    assert!(
        err.to_string().contains("max_decoded_request_bytes"),
        "{err}"
    );
}

#[test]
fn many_empty_series_are_refused_before_decoding() {
    // `2a 00` is an empty TimeSeries: two bytes on the wire, a whole
    // struct once decoded.
    let raw = [0x2a, 0x00].repeat(500_000);
    let body = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
    let limits = DecodeLimits {
        max_recv_msg_size: 4 << 20,
        max_decoded_request_bytes: 8 << 20,
    };
    let err = decode(&body, limits).unwrap_err();
    assert!(matches!(err, DecodeError::DecodedTooLarge(_)), "{err}");
}

#[test]
fn fuzz_seeds_reach_the_translation() {
    // The fuzz target's limits; the seeds are written by fuzz/make_seeds.py.
    let limits = DecodeLimits {
        max_recv_msg_size: 1 << 20,
        max_decoded_request_bytes: 1 << 20,
    };
    let seed = include_bytes!("../../../fuzz/corpus/remote_write/v2_request");
    let v1 = decode(seed, limits).unwrap();
    let ts = &v1.timeseries[0];
    assert_eq!(
        ts.labels,
        [Label::new("__name__", "up"), Label::new("job", "api")]
    );
    assert_eq!((ts.samples.len(), ts.histograms.len()), (1, 1));
    assert_eq!(ts.exemplars[0].labels, [Label::new("trace_id", "abc")]);
    assert_eq!(v1.metadata[0].unit, "seconds");

    let amplification = include_bytes!("../../../fuzz/corpus/remote_write/v2_symbol_amplification");
    assert!(matches!(
        decode(amplification, limits),
        Err(DecodeError::DecodedTooLarge(_))
    ));
}
