//! Durability: acknowledged samples survive `kill -9` (WAL replay),
//! flushed blocks serve queries with the WAL gone — on the filesystem and on
//! a real S3 server — and SIGTERM or `POST /ingester/shutdown` flushes
//! everything and exits 0. A full disk refuses writes clearly and heals
//! without a restart; a second process cannot take over a WAL directory;
//! label values past 64 KiB round-trip exactly.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::loki::query_range;
use crate::support::peers::Seaweed;
use crate::support::remote_write::{now_ms, push, series};
use crate::support::{Cairn, http, loki, vector};

const SERIES: usize = 20;
const SAMPLES: usize = 150;

/// Pushes SERIES × SAMPLES samples (1 per second, ending now) and returns
/// the last timestamp; every push must be acknowledged.
async fn write_history(cairn: &Cairn, tenant: &str) -> i64 {
    let end = now_ms();
    let start = end - (SAMPLES as i64 - 1) * 1000;
    for batch in 0..SAMPLES / 50 {
        let ts: Vec<(i64, f64)> = (batch * 50..(batch + 1) * 50)
            .map(|i| (start + i as i64 * 1000, i as f64))
            .collect();
        let all = (0..SERIES)
            .map(|s| series("durable", &[("series", &s.to_string())], &ts))
            .collect();
        let (status, body) = push(&cairn.url(), Some(tenant), all).await;
        assert_eq!(status, 200, "{body}");
    }
    end
}

/// Asserts every acknowledged sample is returned: count and sum per series.
async fn assert_history(cairn: &Cairn, tenant: &str, end: i64) {
    let at = end as f64 / 1000.0;
    let counts = vector(
        &cairn
            .query(tenant, "count_over_time(durable[10m])", at)
            .await,
    );
    assert_eq!(counts.len(), SERIES, "{}", cairn.log());
    assert!(
        counts.iter().all(|(_, v)| v == &SAMPLES.to_string()),
        "{counts:?}"
    );
    let sums = vector(&cairn.query(tenant, "sum_over_time(durable[10m])", at).await);
    let want = (0..SAMPLES).sum::<usize>().to_string();
    assert!(sums.iter().all(|(_, v)| v == &want), "{sums:?}");
}

#[tokio::test]
async fn acked_samples_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = Cairn::start(dir.path(), "").await;
    let end = write_history(&cairn, "team-a").await;
    let cairn = cairn.restart().await; // SIGKILL, then start on the same WAL
    assert_history(&cairn, "team-a", end).await;
    // Writing continues after replay without out-of-order errors for new samples.
    let (status, body) = push(
        &cairn.url(),
        Some("team-a"),
        vec![series("durable", &[("series", "0")], &[(end + 1000, 1.0)])],
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

async fn flushed_block_survives_losing_the_wal(dir: &Path, storage_yaml: &str) {
    let cairn = Cairn::start_with_storage(dir, storage_yaml, "").await;
    let end = write_history(&cairn, "team-a").await;
    cairn.flush().await;
    let mut cairn = cairn;
    cairn.kill9();
    std::fs::remove_dir_all(dir.join("wal")).unwrap();
    let cairn = Cairn::start_with_storage(dir, storage_yaml, "").await;
    assert_history(&cairn, "team-a", end).await;
    assert!(vector(&cairn.query("team-b", "durable", end as f64 / 1000.0).await).is_empty());
}

#[tokio::test]
async fn flushed_block_survives_losing_the_wal_on_filesystem() {
    let dir = tempfile::tempdir().unwrap();
    let storage = format!(
        "storage:\n  backend: filesystem\n  filesystem:\n    dir: {}/bucket\n",
        dir.path().display()
    );
    flushed_block_survives_losing_the_wal(dir.path(), &storage).await;
    let blocks = dir.path().join("bucket/team-a/metrics/blocks");
    let uploaded: Vec<_> = std::fs::read_dir(&blocks).unwrap().collect();
    assert_eq!(uploaded.len(), 1, "one block under {}", blocks.display());
}

#[tokio::test]
async fn flushed_block_survives_losing_the_wal_on_s3() {
    let dir = tempfile::tempdir().unwrap();
    let weed = Seaweed::start(dir.path(), "cairn").await;
    let storage = format!(
        "storage:\n  backend: s3\n  s3:\n    endpoint: http://127.0.0.1:{}\n    bucket_name: cairn\n    insecure: true\n",
        weed.s3_port
    );
    flushed_block_survives_losing_the_wal(dir.path(), &storage).await;
}

/// Complete blocks of `signal` in the bucket of `tenant` (those with `meta.json`).
fn blocks(dir: &Path, tenant: &str, signal: &str) -> usize {
    std::fs::read_dir(dir.join("bucket").join(tenant).join(signal).join("blocks"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().join("meta.json").exists())
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn sigterm_flushes_every_signal_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut cairn = Cairn::start(dir.path(), "").await;
    let end = write_history(&cairn, "team-a").await;
    let now_ns = end * 1_000_000;
    let lines: Vec<(i64, String)> = (0..10).map(|i| (now_ns - i, format!("line {i}"))).collect();
    let (status, body) = loki::push(
        &cairn.url(),
        "team-a",
        vec![loki::stream(r#"{app="api"}"#, &lines)],
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let span = serde_json::json!({"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "api"}}]},
        "scopeSpans": [{"spans": [{"traceId": "0af7651916cd43dd8448eb211c80319c",
        "spanId": "b7ad6b7169203331", "name": "GET /", "kind": 2,
        "startTimeUnixNano": (now_ns - 1_000_000).to_string(), "endTimeUnixNano": now_ns.to_string()}]}]}]});
    let r = http()
        .post(format!("{}/v1/traces", cairn.url()))
        .header("X-Scope-OrgID", "team-a")
        .json(&span)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());

    let status = cairn.terminate(Duration::from_secs(40));
    assert!(status.success(), "exit {status:?}\n{}", cairn.log());
    for signal in ["metrics", "logs", "traces"] {
        assert_eq!(
            blocks(dir.path(), "team-a", signal),
            1,
            "{signal}\n{}",
            cairn.log()
        );
    }
    // Everything is in the bucket: with the WAL gone, every item is read
    // back exactly once.
    std::fs::remove_dir_all(dir.path().join("wal")).unwrap();
    let cairn = cairn.relaunch().await;
    assert_history(&cairn, "team-a", end).await;
    let body = query_range(
        &cairn.url(),
        "team-a",
        r#"{app="api"}"#,
        now_ns - 60_000_000_000,
        now_ns + 1,
    )
    .await;
    let values = body["data"]["result"][0]["values"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(values, 10, "{body}");
    let r = http()
        .get(format!(
            "{}/api/traces/0af7651916cd43dd8448eb211c80319c",
            cairn.url()
        ))
        .header("X-Scope-OrgID", "team-a")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", cairn.log());
    let trace: serde_json::Value = r.json().await.unwrap();
    let spans: usize = trace["batches"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|b| b["scopeSpans"].as_array().into_iter().flatten())
        .map(|s| s["spans"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(spans, 1, "{trace}");
}

#[tokio::test]
async fn ingester_shutdown_flushes_answers_then_stops_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let mut cairn = Cairn::start(dir.path(), "").await;
    let end = write_history(&cairn, "team-a").await;
    let r = http()
        .post(format!("{}/ingester/shutdown", cairn.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body["uploaded_blocks"].as_array().map_or(0, Vec::len),
        1,
        "{body}"
    );
    assert_eq!(blocks(dir.path(), "team-a", "metrics"), 1);
    let status = cairn.wait_exit(Duration::from_secs(40));
    assert!(status.success(), "exit {status:?}\n{}", cairn.log());
    std::fs::remove_dir_all(dir.path().join("wal")).unwrap();
    let cairn = cairn.relaunch().await;
    assert_history(&cairn, "team-a", end).await;
}

/// A tmpfs of a fixed size mounted on a directory for the test's life (the
/// tests run as root, here and in CI); unmounted on drop. [`Tmpfs::fill`]
/// reproduces a full disk and [`Tmpfs::free`] gives the space back.
pub struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`mount -o size=`, e.g. `16m`) on `path`.
    pub fn mount(path: &Path, size: &str) -> Self {
        std::fs::create_dir_all(path).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .expect("running mount");
        assert!(
            out.status.success(),
            "mounting a tmpfs on {} (the test runs as root): {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            path: path.to_path_buf(),
        }
    }

    fn filler(&self) -> PathBuf {
        self.path.join("filler")
    }

    /// Writes a filler file until the filesystem refuses with `ENOSPC`.
    pub fn fill(&self) {
        let mut f = std::fs::File::create(self.filler()).unwrap();
        let chunk = vec![0u8; 64 << 10];
        loop {
            match f.write_all(&chunk) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => return,
                Err(e) => panic!("filling {}: {e}", self.path.display()),
            }
        }
    }

    /// Deletes the filler: the space is back.
    pub fn free(&self) {
        let _ = std::fs::remove_file(self.filler());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        self.free();
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// WAL segment files (names of all digits) under `dir`, recursively.
fn wal_segments(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(wal_segments(&path));
        } else if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        {
            out.push(path);
        }
    }
    out.sort();
    out
}

async fn get(url: String) -> (u16, String) {
    let r = http().get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// One push per signal as `team-a` at `t_ms` (2,000 samples of one new
/// series, 200 lines of a new stream, a span of a new trace, all big enough
/// to need new pages on disk); returns their statuses and bodies.
async fn push_each_signal(base: &str, n: usize, t_ms: i64) -> [(u16, String); 3] {
    let samples: Vec<(i64, f64)> = (0..2000).map(|i| (t_ms - 2000 + i, i as f64)).collect();
    let n_s = n.to_string();
    let metrics = push(
        base,
        Some("team-a"),
        vec![series("disk", &[("push", &n_s)], &samples)],
    )
    .await;
    let lines: Vec<(i64, String)> = (0..200)
        .map(|i| (t_ms * 1_000_000 + i, format!("{i} {}", "x".repeat(100))))
        .collect();
    let logs = loki::push(
        base,
        "team-a",
        vec![loki::stream(
            &format!(r#"{{app="disk",push="{n}"}}"#),
            &lines,
        )],
    )
    .await;
    let span = serde_json::json!({"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": format!("{:032x}", n + 1), "spanId": "b7ad6b7169203331", "name": "x".repeat(5000),
        "startTimeUnixNano": (t_ms * 1_000_000).to_string(), "endTimeUnixNano": (t_ms * 1_000_000 + 1).to_string()}]}]}]});
    let r = http()
        .post(format!("{base}/v1/traces"))
        .header("X-Scope-OrgID", "team-a")
        .json(&span)
        .send()
        .await
        .unwrap();
    let traces = (r.status().as_u16(), r.text().await.unwrap());
    [metrics, logs, traces]
}

/// Asserts push `n` of [`push_each_signal`] is stored exactly once.
async fn assert_pushed_once(cairn: &Cairn, n: usize, t_ms: i64) {
    let at = t_ms as f64 / 1000.0;
    let count = vector(
        &cairn
            .query(
                "team-a",
                &format!(r#"count_over_time(disk{{push="{n}"}}[1m])"#),
                at,
            )
            .await,
    );
    assert_eq!(count.len(), 1, "push {n}: {count:?}\n{}", cairn.log());
    assert_eq!(count[0].1, "2000", "push {n}");
    let body = query_range(
        &cairn.url(),
        "team-a",
        &format!(r#"{{app="disk",push="{n}"}}"#),
        (t_ms - 1000) * 1_000_000,
        (t_ms + 1000) * 1_000_000,
    )
    .await;
    let lines = body["data"]["result"][0]["values"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(lines, 200, "push {n}: {body}");
    let r = http()
        .get(format!("{}/api/traces/{:032x}", cairn.url(), n + 1))
        .header("X-Scope-OrgID", "team-a")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "push {n}: trace\n{}", cairn.log());
}

#[tokio::test]
async fn a_full_disk_refuses_writes_clearly_and_heals_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Tmpfs::mount(&dir.path().join("wal"), "8m");
    let mut cairn = Cairn::start(dir.path(), "").await;
    let t = now_ms();
    for (status, body) in push_each_signal(&cairn.url(), 0, t).await {
        assert!(status < 300, "{status} {body}");
    }

    disk.fill();
    for _ in 0..3 {
        for (status, body) in push_each_signal(&cairn.url(), 1, t).await {
            assert_eq!(status, 500, "{body}");
            assert!(
                body.contains("err-cairn-wal-unwritable")
                    && body.contains("No space left on device")
                    && body.contains("free space on the filesystem of ingester.wal_dir"),
                "{body}"
            );
            assert!(!body.contains("File exists"), "{body}");
        }
    }
    let (status, body) = get(format!("{}/ready", cairn.url())).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("err-cairn-wal-unwritable"), "{body}");
    let (_, metrics) = get(format!("{}/metrics", cairn.url())).await;
    assert!(
        metrics.contains("cairn_ingester_wal_writable 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("cairn_ingester_wal_write_failures_total 9"),
        "{metrics}"
    );

    // Restarting on the full disk adds no segment file.
    let segments = wal_segments(&dir.path().join("wal"));
    for _ in 0..2 {
        cairn = cairn.restart().await;
        let [(status, body), ..] = push_each_signal(&cairn.url(), 1, t).await;
        assert_eq!(status, 500, "{body}");
    }
    assert_eq!(wal_segments(&dir.path().join("wal")), segments);

    // Space returns: /ready sees it without a push, the refused pushes
    // succeed when retried, flushing works, all without a restart.
    disk.free();
    let (status, body) = get(format!("{}/ready", cairn.url())).await;
    assert_eq!(status, 200, "{body}");
    for (status, body) in push_each_signal(&cairn.url(), 1, t).await {
        assert!(status < 300, "{status} {body}");
    }
    let (_, metrics) = get(format!("{}/metrics", cairn.url())).await;
    assert!(
        metrics.contains("cairn_ingester_wal_writable 1"),
        "{metrics}"
    );
    cairn.flush().await;
    for (status, body) in push_each_signal(&cairn.url(), 2, t).await {
        assert!(status < 300, "{status} {body}");
    }

    // Everything acknowledged is there once, through kill -9.
    let cairn = cairn.restart().await;
    for n in 0..3 {
        assert_pushed_once(&cairn, n, t).await;
    }
}

#[tokio::test]
async fn a_second_process_on_the_same_wal_dir_exits_at_once_and_the_first_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = Cairn::start(dir.path(), "").await;
    let end = write_history(&cairn, "team-a").await;
    let wal = dir.path().join("wal");
    let files = |dir: &Path| -> Vec<PathBuf> {
        let mut all = wal_segments(dir);
        all.extend(std::fs::read_dir(dir).unwrap().flatten().map(|e| e.path()));
        all.sort();
        all
    };
    let before = files(&wal);
    let holder = std::fs::read_to_string(wal.join("lock@cairn")).unwrap();
    let holder = holder.trim();
    assert!(
        holder.parse::<u32>().is_ok(),
        "the lock file holds a PID: {holder:?}"
    );

    // Same WAL directory and bucket, its own ports.
    let config = dir.path().join("second.yaml");
    std::fs::write(
        &config,
        format!(
            "server:\n  http_listen_port: {}\n  grpc_listen_port: {}\nstorage:\n  filesystem:\n    dir: {d}/bucket\ningester:\n  wal_dir: {d}/wal\n",
            crate::support::free_port(),
            crate::support::free_port(),
            d = dir.path().display()
        ),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("--config.file")
        .arg(&config)
        .current_dir(dir.path())
        .output()
        .expect("starting a second cairn");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{log}");
    assert!(started.elapsed() < Duration::from_secs(10), "{log}");
    assert!(
        log.contains("err-cairn-wal-dir-locked")
            && log.contains(&wal.display().to_string())
            && log.contains(&format!("PID {holder}")),
        "{log}"
    );
    assert_eq!(files(&wal), before, "the second process created nothing");

    // The first one never noticed.
    let (status, body) = get(format!("{}/ready", cairn.url())).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = push(
        &cairn.url(),
        Some("team-a"),
        vec![series("durable", &[("series", "0")], &[(end + 1000, 1.0)])],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let cairn = cairn.restart().await;
    let at = end as f64 / 1000.0;
    let counts = vector(
        &cairn
            .query("team-a", "count_over_time(durable[10m])", at)
            .await,
    );
    assert_eq!(counts.len(), SERIES, "{}", cairn.log());
}

#[tokio::test]
async fn an_80_kib_label_value_round_trips_through_kill_9_and_a_block() {
    let dir = tempfile::tempdir().unwrap();
    let limits = "limits:\n  max_label_value_length: 0\n  max_label_name_length: 0\n";
    let cairn = Cairn::start(dir.path(), limits).await;
    // Two-byte characters across the old 64 KiB cut.
    let big = format!("a{}", "é".repeat(41_000));
    let t = now_ms();
    let (status, body) = push(
        &cairn.url(),
        Some("team-a"),
        vec![series("big", &[("v", &big)], &[(t, 1.0)])],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let lines = vec![(t * 1_000_000, "a line".to_string())];
    let (status, body) = loki::push(
        &cairn.url(),
        "team-a",
        vec![loki::stream(&format!(r#"{{app="big",v="{big}"}}"#), &lines)],
    )
    .await;
    assert_eq!(status, 204, "{body}");

    let assert_exact = |cairn: &Cairn| {
        let (url, big) = (cairn.url(), big.clone());
        async move {
            let body = crate::support::acked::query(&url, "team-a", "big", t as f64 / 1000.0).await;
            let got = body["data"]["result"][0]["metric"]["v"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            assert!(
                got == big,
                "metric label of {} bytes came back as {} bytes",
                big.len(),
                got.len()
            );
            let body = query_range(
                &url,
                "team-a",
                r#"{app="big"}"#,
                (t - 1000) * 1_000_000,
                (t + 1000) * 1_000_000,
            )
            .await;
            let got = body["data"]["result"][0]["stream"]["v"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            assert!(
                got == big,
                "stream label of {} bytes came back as {} bytes",
                big.len(),
                got.len()
            );
        }
    };
    let mut cairn = cairn.restart().await; // kill -9: from the WAL
    assert_exact(&cairn).await;
    cairn.flush().await;
    cairn.kill9();
    std::fs::remove_dir_all(dir.path().join("wal")).unwrap();
    let cairn = cairn.relaunch().await; // from the blocks
    assert_exact(&cairn).await;
}
