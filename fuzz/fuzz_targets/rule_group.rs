//! Rule group YAML as the ruler API receives it.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(yaml) = std::str::from_utf8(data) {
        let _ = ruler::rules::parse_group(yaml);
    }
});
