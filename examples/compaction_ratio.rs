//! Measures what compaction saves on a real bucket: copies every block of
//! a tenant twice (as RF 3 replication writes them), reports stored bytes
//! per sample / line / span, runs one compactor pass dated a day ahead (so
//! every window is complete) with no deletion delay, and reports the bytes
//! per item again. Run it on a copy of a filesystem bucket filled by the
//! ingest benchmarks:
//!
//! ```sh
//! cp -r ./data/bucket /tmp/bucket-copy
//! cargo run --release --example compaction_ratio -- --bucket-dir /tmp/bucket-copy --tenant traces-bench-123
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::block::Signal;
use common::limits::{Limits, Overrides};
use compactor::{Compactor, CompactorConfig};
use object_store::local::LocalFileSystem;
use prometheus_client::registry::Registry;

#[path = "support/bucket.rs"]
mod bucket;
use bucket::block_bytes_and_samples;

const DAY_MS: i64 = 24 * 3600 * 1000;

fn parse_args() -> (PathBuf, String) {
    let mut dir = None;
    let mut tenant = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let val = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--bucket-dir" => dir = Some(PathBuf::from(val)),
            "--tenant" => tenant = Some(val),
            other => panic!("unknown flag {other}; see the module doc"),
        }
    }
    (
        dir.expect("--bucket-dir DIR"),
        tenant.expect("--tenant NAME"),
    )
}

/// Copies every block under `blocks` twice with fresh ULIDs (each copy its
/// own compaction source, as an ingester's block is).
fn replicate(blocks: &Path) {
    let originals: Vec<PathBuf> = std::fs::read_dir(blocks)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("meta.json").exists())
        .collect();
    for original in originals {
        for _ in 0..2 {
            let ulid = ulid::Ulid::new();
            let copy = blocks.join(ulid.to_string());
            copy_dir(&original, &copy);
            let meta_path = copy.join("meta.json");
            let mut meta: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&meta_path).expect("meta.json"))
                    .expect("meta.json is JSON");
            meta["ulid"] = ulid.to_string().into();
            meta["compaction"]["sources"] = serde_json::json!([ulid.to_string()]);
            std::fs::write(&meta_path, serde_json::to_vec(&meta).expect("JSON")).expect("write");
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).expect("copy");
        }
    }
}

fn report(what: &str, dir: &Path, tenant: &str) {
    for signal in Signal::ALL {
        let (bytes, items) =
            block_bytes_and_samples(&dir.join(tenant).join(signal.name()).join("blocks"));
        if items > 0 {
            println!(
                "{what:>26} {signal:>7}: {bytes:>12} bytes, {items:>10} items, {:.2} bytes/item",
                bytes as f64 / items as f64
            );
        }
    }
}

#[tokio::main]
async fn main() {
    let (dir, tenant) = parse_args();
    report("as uploaded", &dir, &tenant);
    for signal in Signal::ALL {
        replicate(&dir.join(&tenant).join(signal.name()).join("blocks"));
    }
    report("RF 3 (three copies)", &dir, &tenant);
    let store = Arc::new(LocalFileSystem::new_with_prefix(&dir).expect("bucket dir"));
    let cfg = CompactorConfig {
        deletion_delay: std::time::Duration::ZERO,
        ..CompactorConfig::default()
    };
    let compactor = Compactor::new(
        cfg,
        store,
        Arc::new(Overrides::new(Limits::default())),
        &mut Registry::default(),
    );
    let started = std::time::Instant::now();
    let run = compactor
        .run_at(common::time::now_ms() + DAY_MS)
        .await
        .expect("compaction");
    println!("compaction: {:.1?}, {:?}", started.elapsed(), run.tenants);
    report("after compaction", &dir, &tenant);
}
