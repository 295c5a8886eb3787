//! OTLP traces and metrics (JSON and protobuf) decoded and translated
//! into Cairn's spans and Prometheus series.
#![no_main]
use http::{HeaderMap, HeaderValue, header};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

const LIMITS: distributor::DecodeLimits = distributor::DecodeLimits {
    max_recv_msg_size: 1 << 20,
    max_decoded_request_bytes: 1 << 20,
};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for content_type in ["application/json", "application/x-protobuf"] {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if let Ok((req, _)) =
            distributor::otlp::decode::<ExportTraceServiceRequest>(&headers, data, LIMITS)
        {
            let _ = common::traces::otlp::spans_from_otlp(req.resource_spans);
        }
        if let Ok((req, _)) =
            distributor::otlp::decode::<ExportMetricsServiceRequest>(&headers, data, LIMITS)
        {
            let mut deltas = distributor::otlp_metrics::delta::TenantStreams::new(
                1000,
                std::time::Duration::from_secs(300),
            );
            let _ = distributor::otlp_metrics::translate::translate(
                req.resource_metrics,
                1 << 20,
                &mut deltas,
            );
        }
    }
});
