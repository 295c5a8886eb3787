//! Push bodies built to decode far larger than they weigh (issue 17, item
//! 5): every protocol (remote write 2.0's symbol references too) answers
//! 400 naming `max_decoded_request_bytes` before decoding, the process's
//! peak RSS barely moves with eight such bodies at once, and it keeps
//! serving. Over OTLP/gRPC too; and the push
//! bytes in flight across requests are bounded
//! (`max_inflight_push_requests_bytes`).

use crate::support::loki::metric_line;
use crate::support::remote_write::{now_ms, push, series};
use crate::support::{Cairn, http};

/// Peak RSS growth allowed for eight hostile bodies of each protocol.
/// Before the fix one remote-write body took +670 MB, eight +1.4 GB, and
/// eight Loki bodies +3.2 GB.
const MAX_GROWTH_MB: u64 = 200;

/// Protobuf field `tag` (already shifted, wire type 2) holding `payload`.
fn field(tag: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    prost::encoding::encode_varint(payload.len() as u64, &mut out);
    out.extend(payload);
    out
}

fn snappy(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(raw).unwrap()
}

/// One hostile request per protocol: path, content type, encoding, body.
fn hostile_bodies() -> Vec<(&'static str, &'static str, Option<&'static str>, Vec<u8>)> {
    // 14 million empty labels in one series: 28 MB raw, ~1.3 MB snappy.
    let rw = snappy(&field(0x0a, &[0x0a, 0x00].repeat(14_000_000)));
    // 14 million empty lines in one stream.
    let loki = snappy(&field(
        0x0a,
        &[field(0x0a, b"{a=\"b\"}"), [0x12, 0x00].repeat(14_000_000)].concat(),
    ));
    // 5 million empty spans: 10 MB, just under max_request_body_size.
    let traces = field(0x0a, &field(0x12, &[0x12, 0x00].repeat(5_000_000)));
    // 5 million empty gauge points.
    let metrics = field(
        0x0a,
        &field(
            0x12,
            &field(0x12, &field(0x2a, &[0x0a, 0x00].repeat(5_000_000))),
        ),
    );
    // 3 million empty OTLP/JSON log records: 9 MB.
    let logs = format!(
        r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{}{{}}]}}]}}]}}"#,
        "{},".repeat(3_000_000)
    )
    .into_bytes();
    // Remote write 2.0: 14 million empty series; and one 1 MB symbol
    // referenced 100 000 times (100 GB of labels once resolved).
    let rw2_series = snappy(&[0x2a, 0x00].repeat(14_000_000));
    let rw2_symbols = snappy(
        &[
            field(0x22, b""),
            field(0x22, b"__name__"),
            field(0x22, &b"x".repeat(1 << 20)),
            field(0x2a, &field(0x0a, &[0x01, 0x02].repeat(100_000))),
        ]
        .concat(),
    );
    let rw2 = "application/x-protobuf;proto=io.prometheus.write.v2.Request";
    vec![
        ("/api/v1/push", "application/x-protobuf", Some("snappy"), rw),
        ("/api/v1/push", rw2, Some("snappy"), rw2_series),
        ("/api/v1/push", rw2, Some("snappy"), rw2_symbols),
        ("/loki/api/v1/push", "application/x-protobuf", None, loki),
        ("/v1/traces", "application/x-protobuf", None, traces),
        ("/otlp/v1/metrics", "application/x-protobuf", None, metrics),
        ("/otlp/v1/logs", "application/json", None, logs),
    ]
}

/// The PID of the `cairn` started with `cairn`'s config file.
fn pid_of(cairn: &Cairn) -> u32 {
    let config = cairn.dir.join("cairn.yaml");
    let config = config.to_str().unwrap();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.split(|b| *b == 0).any(|arg| arg == config.as_bytes()))
        })
        .expect("the cairn process")
}

/// `VmHWM` (peak resident set) of `pid`, in MB.
fn peak_rss_mb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM");
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        / 1024
}

#[tokio::test]
async fn bodies_that_decode_to_gigabytes_get_400_and_peak_rss_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = Cairn::start(dir.path(), "").await;
    let url = cairn.url();
    let pid = pid_of(&cairn);
    let (status, body) = push(&url, Some("t"), vec![series("up", &[], &[(now_ms(), 1.0)])]).await;
    assert_eq!(status, 200, "{body}");
    let before = peak_rss_mb(pid);

    for (path, content_type, encoding, body) in hostile_bodies() {
        let mut sends = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let mut req = http()
                .post(format!("{url}{path}"))
                .header("X-Scope-OrgID", "t")
                .header("Content-Type", content_type)
                .body(body.clone());
            if let Some(encoding) = encoding {
                req = req.header("Content-Encoding", encoding);
            }
            sends.spawn(async move {
                let r = req.send().await.unwrap();
                (r.status().as_u16(), r.text().await.unwrap())
            });
        }
        for (status, text) in sends.join_all().await {
            assert_eq!(status, 400, "{path}: {text}");
            assert!(
                text.contains("err-cairn-decoded-request-too-large")
                    && text.contains("max_decoded_request_bytes"),
                "{path}: {text}"
            );
        }
    }

    let after = peak_rss_mb(pid);
    eprintln!("peak RSS {before} MB -> {after} MB under 8 x 5 hostile bodies");
    assert!(
        after.saturating_sub(before) < MAX_GROWTH_MB,
        "peak RSS grew from {before} MB to {after} MB"
    );
    let (status, body) = push(&url, Some("t"), vec![series("up", &[], &[(now_ms(), 2.0)])]).await;
    assert_eq!(status, 200, "still serving: {body}");
}

/// Sends already-encoded protobuf messages over gRPC as they are, so a
/// test can send what no well-behaved client would build.
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        prost::bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        use prost::bytes::Buf;
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

/// Calls the OTLP gRPC method `path` on `port` with `message` for tenant
/// `t`; the status it answers.
async fn grpc_export(port: u16, path: &'static str, message: Vec<u8>) -> tonic::Status {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("x-scope-orgid", "t".parse().unwrap());
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(path);
    match grpc.unary(request, path, RawCodec).await {
        Ok(_) => tonic::Status::ok(""),
        Err(status) => status,
    }
}

/// Peak RSS growth allowed for four hostile gRPC messages of each OTLP
/// service at once. Before the pre-scan reached gRPC, they raised it by
/// 1.4 GB (36 MB -> 1455 MB); with it, by about 20 MB.
const MAX_GRPC_GROWTH_MB: u64 = 150;

#[tokio::test]
async fn grpc_messages_that_decode_to_gigabytes_get_invalid_argument_and_peak_rss_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = Cairn::start(dir.path(), "").await;
    let pid = pid_of(&cairn);
    let (status, body) = push(
        &cairn.url(),
        Some("t"),
        vec![series("up", &[], &[(now_ms(), 1.0)])],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let before = peak_rss_mb(pid);

    // 2 million empty spans (4 MB) and 2 million empty gauge points.
    let traces = field(0x0a, &field(0x12, &[0x12, 0x00].repeat(2_000_000)));
    let metrics = field(
        0x0a,
        &field(
            0x12,
            &field(0x12, &field(0x2a, &[0x0a, 0x00].repeat(2_000_000))),
        ),
    );
    let mut answers = Vec::new();
    for (path, message) in [
        (
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            traces,
        ),
        (
            "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
            metrics,
        ),
    ] {
        let mut sends = tokio::task::JoinSet::new();
        for _ in 0..4 {
            sends.spawn(grpc_export(cairn.grpc_port, path, message.clone()));
        }
        answers.extend(sends.join_all().await.into_iter().map(|s| (path, s)));
    }
    // The figure first, so a failing run still tells what it cost.
    let after = peak_rss_mb(pid);
    eprintln!("peak RSS {before} MB -> {after} MB under 4 x 2 hostile gRPC messages");
    for (path, status) in answers {
        assert_eq!(
            status.code(),
            tonic::Code::InvalidArgument,
            "{path}: {status:?}"
        );
        assert!(
            status
                .message()
                .contains("err-cairn-decoded-request-too-large")
                && status.message().contains("max_decoded_request_bytes"),
            "{path}: {status:?}"
        );
    }

    assert!(
        after.saturating_sub(before) < MAX_GRPC_GROWTH_MB,
        "peak RSS grew from {before} MB to {after} MB"
    );
    let (status, body) = push(
        &cairn.url(),
        Some("t"),
        vec![series("up", &[], &[(now_ms(), 2.0)])],
    )
    .await;
    assert_eq!(status, 200, "still serving: {body}");
}

/// The `/metrics` line of `counter` for tenant `t` and `reason`, if any.
async fn discarded(url: &str, counter: &str, reason: &str) -> Option<String> {
    metric_line(
        url,
        &format!(r#"{counter}{{tenant="t",reason="{reason}"}}"#),
    )
    .await
}

#[tokio::test]
async fn extreme_timestamps_are_refused_for_every_signal_with_a_reason_and_a_counter() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = Cairn::start(dir.path(), "").await;
    let url = cairn.url();
    let now = now_ms();

    // Metrics: -2^63 and 1970 are older than past_grace_period (14 days).
    let (status, body) = push(
        &url,
        Some("t"),
        vec![
            series("min", &[], &[(i64::MIN, 1.0)]),
            series("epoch", &[], &[(0, 1.0)]),
            series("ok", &[], &[(now, 1.0)]),
        ],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("err-cairn-sample-too-old") && body.contains("past_grace_period"),
        "{body}"
    );
    let line = discarded(&url, "cairn_discarded_samples_total", "sample-too-old").await;
    assert!(
        line.as_deref().is_some_and(|l| l.ends_with(" 2")),
        "{line:?}"
    );

    // Logs: Loki's reject_old_samples_max_age (1 week).
    let ns = now * 1_000_000;
    let json = format!(
        r#"{{"streams":[{{"stream":{{"app":"a"}},"values":[["-9223372036854775808","min"],["0","epoch"],["{ns}","ok"]]}}]}}"#
    );
    let r = http()
        .post(format!("{url}/loki/api/v1/push"))
        .header("X-Scope-OrgID", "t")
        .header("Content-Type", "application/json")
        .body(json)
        .send()
        .await
        .unwrap();
    let (status, body) = (r.status().as_u16(), r.text().await.unwrap());
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("greater_than_max_sample_age") && body.contains("reject_old_samples_max_age"),
        "{body}"
    );
    let line = discarded(
        &url,
        "cairn_discarded_lines_total",
        "greater_than_max_sample_age",
    )
    .await;
    assert!(
        line.as_deref().is_some_and(|l| l.ends_with(" 2")),
        "{line:?}"
    );

    // Traces: backwards, ancient, from the future, absurdly long; one good span.
    let span = |id: u8, name: &str, start: u64, end: u64| {
        format!(
            r#"{{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"{id:016x}","name":"{name}","startTimeUnixNano":"{start}","endTimeUnixNano":"{end}"}}"#
        )
    };
    let ns = u64::try_from(ns).unwrap();
    let hour = 3_600_000_000_000u64;
    let spans = [
        span(1, "backwards", ns, ns - 1_000_000_000),
        span(2, "ancient", 1, 2),
        span(3, "future", ns, ns + hour),
        span(4, "forever", 1, ns),
        span(5, "ok", ns - 1_000_000_000, ns),
    ]
    .join(",");
    let r = http()
        .post(format!("{url}/v1/traces"))
        .header("X-Scope-OrgID", "t")
        .header("Content-Type", "application/json")
        .body(format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{spans}]}}]}}]}}"#
        ))
        .send()
        .await
        .unwrap();
    let (status, body) = (r.status().as_u16(), r.text().await.unwrap());
    assert_eq!(status, 200, "{body}");
    for (reason, limit) in [
        ("span-end-before-start", ""),
        ("span-too-old", "max_span_age"),
        ("span-too-far-in-future", "creation_grace_period"),
        ("span-too-long", "max_span_duration"),
    ] {
        assert!(
            body.contains(&format!("err-cairn-{reason}")) && body.contains(limit),
            "{reason}: {body}"
        );
        let line = discarded(&url, "cairn_discarded_spans_total", reason).await;
        assert!(
            line.as_deref().is_some_and(|l| l.ends_with(" 1")),
            "{reason}: {line:?}"
        );
    }
    assert!(body.contains("rejectedSpans"), "{body}");
}

/// `cairn_distributor_inflight_push_requests_bytes` as `/metrics` shows it.
async fn inflight_bytes(url: &str) -> String {
    metric_line(url, "cairn_distributor_inflight_push_requests_bytes ")
        .await
        .unwrap_or_default()
}

/// Polls `/metrics` until the in-flight gauge reads `expected` bytes.
async fn wait_for_inflight(url: &str, expected: u64) {
    let want = format!("cairn_distributor_inflight_push_requests_bytes {expected}");
    for _ in 0..100 {
        if inflight_bytes(url).await == want {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "in-flight bytes: {:?}, want {want:?}",
        inflight_bytes(url).await
    );
}

#[tokio::test]
async fn pushes_past_max_inflight_push_requests_bytes_get_503_until_the_bytes_are_released() {
    use tokio::io::AsyncWriteExt;

    let dir = tempfile::tempdir().unwrap();
    let cairn = Cairn::start(
        dir.path(),
        "distributor:\n  max_inflight_push_requests_bytes: 1000000\n",
    )
    .await;
    let url = cairn.url();
    // 2,000 series: tens of kilobytes, snappy-compressed.
    let big: Vec<_> = (0..2000)
        .map(|i| {
            series(
                "up",
                &[("i", &format!("{i:x}{}", i * 7919))],
                &[(now_ms(), 1.0)],
            )
        })
        .collect();
    let big = crate::support::remote_write::body(big);
    assert!(big.len() > 10_000, "{}", big.len());

    // A client that announced 990 kB and is slow to send them.
    let mut slow = tokio::net::TcpStream::connect(("127.0.0.1", cairn.port))
        .await
        .unwrap();
    slow.write_all(
        b"POST /api/v1/push HTTP/1.1\r\nHost: cairn\r\nX-Scope-OrgID: t\r\n\
          Content-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\n\
          Content-Length: 990000\r\n\r\n",
    )
    .await
    .unwrap();
    wait_for_inflight(&url, 990_000).await;

    // Over the limit, over HTTP and gRPC: refused, retryable, counted.
    let (status, text) = crate::support::remote_write::push_raw(&url, Some("t"), big.clone()).await;
    assert_eq!(status, 503, "{text}");
    assert!(
        text.contains("err-cairn-distributor-max-inflight-push-requests-bytes")
            && text.contains("max_inflight_push_requests_bytes")
            && text.contains("retry"),
        "{text}"
    );
    let spans = field(0x0a, &field(0x12, &[0x12, 0x00].repeat(10_000)));
    let status = grpc_export(
        cairn.grpc_port,
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        spans,
    )
    .await;
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(
        status
            .message()
            .contains("err-cairn-distributor-max-inflight-push-requests-bytes"),
        "{status:?}"
    );
    // Within the limit: accepted alongside the slow one.
    let (status, text) = push(&url, Some("t"), vec![series("up", &[], &[(now_ms(), 1.0)])]).await;
    assert_eq!(status, 200, "{text}");
    let metrics = crate::support::metrics_page(&url).await;
    assert!(
        metrics.contains(
            "cairn_distributor_instance_rejected_requests_total{reason=\"distributor-max-inflight-push-requests-bytes\"} 2"
        ),
        "{metrics}"
    );

    // The slow client gives up: its bytes are released and the big push
    // goes through.
    drop(slow);
    wait_for_inflight(&url, 0).await;
    let (status, text) = crate::support::remote_write::push_raw(&url, Some("t"), big.clone()).await;
    assert_eq!(status, 200, "{text}");
}
