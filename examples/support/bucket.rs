//! Disk accounting shared by the ingest benchmarks: bytes under a
//! directory, and bytes and `meta.json` counts of the blocks of a
//! filesystem bucket.

/// Total bytes of every file under `dir` (0 when it does not exist).
pub fn dir_bytes(dir: &std::path::Path) -> u64 {
    let mut bytes = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).into_iter().flatten().flatten() {
            match e.metadata() {
                Ok(md) if md.is_dir() => stack.push(e.path()),
                Ok(md) => bytes += md.len(),
                Err(_) => {}
            }
        }
    }
    bytes
}

/// Total bytes of every file of every block directory under `dir`, and the
/// sum of the blocks' `meta.json` `stats.numSamples` (samples or lines).
pub fn block_bytes_and_samples(dir: &std::path::Path) -> (u64, u64) {
    let (mut bytes, mut samples) = (0, 0);
    let Ok(blocks) = std::fs::read_dir(dir) else {
        return (0, 0);
    };
    for block in blocks.flatten() {
        let meta = std::fs::read_to_string(block.path().join("meta.json")).unwrap_or_default();
        let meta: serde_json::Value = serde_json::from_str(&meta).unwrap_or_default();
        samples += meta["stats"]["numSamples"].as_u64().unwrap_or(0);
        bytes += dir_bytes(&block.path());
    }
    (bytes, samples)
}
