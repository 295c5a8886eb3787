//! Prometheus remote write: snappy, then protobuf.
#![no_main]
const LIMITS: distributor::DecodeLimits = distributor::DecodeLimits {
    max_recv_msg_size: 1 << 20,
    max_decoded_request_bytes: 1 << 20,
};
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = distributor::remote_write::decode(data, LIMITS);
});
