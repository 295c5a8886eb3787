//! Prometheus remote write 1.0 and 2.0: snappy, then protobuf (every input
//! is decoded both ways; 2.0's then has its symbol references resolved).
#![no_main]
const LIMITS: distributor::DecodeLimits = distributor::DecodeLimits {
    max_recv_msg_size: 1 << 20,
    max_decoded_request_bytes: 1 << 20,
};
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = distributor::remote_write::decode(data, LIMITS);
    let _ = distributor::remote_write_v2::decode(data, LIMITS);
});
