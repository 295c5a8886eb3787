//! TraceQL queries, search and metrics.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(q) = std::str::from_utf8(data) {
        // Printing walks the whole tree, as the frontend and the API do.
        if let Ok(parsed) = querier::traceql::parse(q) {
            let _ = parsed.to_string();
        }
        if let Ok(parsed) = querier::traceql::parse_metrics(q) {
            let _ = parsed.to_string();
        }
    }
});
