//! PromQL queries, parsed as a range query does (duration expressions first).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(q) = std::str::from_utf8(data) {
        let _ = querier::promql::parse_for(q, 15_000, 3_600_000);
    }
});
