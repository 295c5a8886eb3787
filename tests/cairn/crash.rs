//! Crash test: a writer pushes samples, log lines and spans without pause
//! while flushes (block cut and upload) and compactor passes start at
//! random, and the process is `kill -9`ed at a random moment, 50 times,
//! restarting on the same WAL and bucket each time. The WAL lives on a small
//! tmpfs that fills up every fifth round (so those kills and restarts happen
//! on a full disk) and frees up during the next. Afterwards every
//! acknowledged sample, line and span is there exactly once.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::durability::Tmpfs;
use crate::support::acked::Writer;
use crate::support::remote_write::now_ms;
use crate::support::{Cairn, http};

const KILLS: usize = 50;

/// A small deterministic generator (xorshift); the seed is printed so a
/// failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Starts a request in the background and forgets it (it may die with the
/// process).
fn fire(base: &str, path: &str) {
    let url = format!("{base}{path}");
    tokio::spawn(async move {
        let _ = http().post(url).send().await;
    });
}

#[tokio::test]
async fn every_acknowledged_item_survives_fifty_random_kill_9s() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Tmpfs::mount(&dir.path().join("wal"), "64m");
    // Every line comes back in one query.
    let limits = "limits:\n  max_entries_limit_per_query: 1000000\n";
    let mut cairn = Cairn::start(dir.path(), limits).await;
    let seed = (now_ms() as u64) | 1;
    println!("crash test seed {seed}");
    let mut rng = Rng(seed);
    let writer = Writer::new("team-a");
    let (mut full, mut kills_on_full_disk) = (false, 0);
    for round in 0..KILLS {
        let running = tokio::spawn(writer.clone().run(cairn.url()));
        tokio::time::sleep(Duration::from_millis(rng.next(100))).await;
        match rng.next(4) {
            0 => fire(&cairn.url(), "/ingester/flush"),
            1 => fire(&cairn.url(), "/compactor/run"),
            _ => {}
        }
        // Space runs out mid-write and stays out across the kill and the
        // restart; it comes back mid-write in the next round.
        if full {
            tokio::time::sleep(Duration::from_millis(rng.next(50))).await;
            disk.free();
            full = false;
        } else if round % 5 == 2 {
            tokio::time::sleep(Duration::from_millis(rng.next(50))).await;
            disk.fill();
            full = true;
            kills_on_full_disk += 1;
        }
        tokio::time::sleep(Duration::from_millis(5 + rng.next(100))).await;
        cairn.kill9();
        writer.stop.store(true, Ordering::Relaxed);
        running.await.unwrap();
        cairn = cairn.relaunch().await;
    }
    disk.free();
    {
        let acked = writer.acked.lock();
        assert!(
            acked.samples.len() > KILLS && acked.lines.len() > KILLS && acked.spans.len() > KILLS
        );
        println!(
            "acknowledged {} samples, {} lines, {} spans across {KILLS} kills \
             ({kills_on_full_disk} on a full disk); {} writes refused",
            acked.samples.len(),
            acked.lines.len(),
            acked.spans.len(),
            writer.failed.load(Ordering::Relaxed)
        );
    }
    writer.verify(&cairn.url(), &cairn.log()).await;
}
