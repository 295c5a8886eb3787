//! Prometheus remote write: snappy, then protobuf.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = distributor::remote_write::decode(data, 1 << 20);
});
