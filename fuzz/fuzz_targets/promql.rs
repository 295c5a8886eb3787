//! PromQL queries, parsed as a range query does (duration expressions first).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(q) = std::str::from_utf8(data) {
        // Printing walks the whole tree, as the frontend and the API do.
        if let Ok(parsed) = querier::promql::parse_for(q, 15_000, 3_600_000) {
            let _ = parsed.to_string();
        }
    }
});
