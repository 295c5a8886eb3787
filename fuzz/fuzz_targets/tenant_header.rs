//! `X-Scope-OrgID` and basic-auth headers.
#![no_main]
use http::{HeaderMap, HeaderValue, header};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (org, auth) = data.split_at(data.len() / 2);
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(org) {
        headers.insert("x-scope-orgid", v);
    }
    if let Ok(v) = HeaderValue::from_bytes(auth) {
        headers.insert(header::AUTHORIZATION, v);
    }
    let _ = common::tenant::tenants_from_headers(&headers, true);
    let _ = common::tenant::tenant_from_headers(&headers, true);
});
