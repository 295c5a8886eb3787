//! What Cairn reads back from disk and object storage: XOR chunks, block
//! indexes, stored spans and WAL segments.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = common::chunk::xor::decode(data);
    let _ = common::block::check_index(data);
    let _ = common::traces::otlp::decode_spans(data);
    let Ok(dir) = tempfile::tempdir() else { return };
    if std::fs::write(dir.path().join("00000001"), data).is_ok() {
        let _ = common::wal::Wal::replay(dir.path(), |_| Ok(()));
    }
});
