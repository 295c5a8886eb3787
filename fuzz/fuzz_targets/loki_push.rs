//! Loki push bodies (JSON and snappy protobuf) and OTLP/HTTP logs
//! (JSON and protobuf), decoded as the push endpoint reads them.
#![no_main]
const LIMITS: distributor::DecodeLimits = distributor::DecodeLimits {
    max_recv_msg_size: 1 << 20,
    max_decoded_request_bytes: 1 << 20,
};
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for (otlp, json) in [(false, true), (false, false), (true, true), (true, false)] {
        let _ = distributor::logs::wire::decode_push(otlp, json, data, LIMITS, 0);
    }
});
