//! Measures the LogQL line-filter scan: `|= "needle"` (memchr's memmem) and
//! `|~ "needle[0-9]+"` (regex behind a literal prefilter), as the engine
//! pushes them down to a store, over about 1 GB of generated log text in
//! memory; then `grep -c needle` on the same text in a temp file (in the
//! page cache after writing) for comparison.
//!
//! Run: `cargo run --release -p cairn-querier --example logql_scan [GB]`

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use cairn_querier::logql::{Expr, parse, pushed_line_filter};

/// A small deterministic PRNG (xorshift64*), so every run scans the same text.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

/// Log lines in logfmt, ~170 bytes each; one in 10,000 mentions the needle.
fn generate(target_bytes: usize) -> Vec<String> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let levels = ["info", "info", "info", "debug", "warn", "error"];
    let methods = ["GET", "GET", "POST", "PUT", "DELETE"];
    let paths = [
        "/api/v1/users",
        "/api/v1/orders",
        "/healthz",
        "/api/v1/search",
        "/login",
    ];
    let msgs = [
        "request done",
        "cache miss",
        "upstream slow",
        "retrying",
        "connection reset",
    ];
    let mut lines = Vec::new();
    let mut total = 0;
    let mut i: u64 = 0;
    while total < target_bytes {
        let r = rng.next();
        let msg = if r.is_multiple_of(10_000) {
            "found the needle42 in the haystack"
        } else {
            rng.pick(&msgs)
        };
        let line = format!(
            "ts=2023-11-14T22:{:02}:{:02}.{:03}Z level={} caller=server.go:{} method={} path={}/{} status={} duration={}.{}ms trace_id={:016x} msg=\"{}\"",
            (i / 60_000) % 60,
            (i / 1000) % 60,
            i % 1000,
            rng.pick(&levels),
            r % 900 + 100,
            rng.pick(&methods),
            rng.pick(&paths),
            r % 100_000,
            [200, 200, 200, 404, 500][(r % 5) as usize],
            r % 300,
            r % 10,
            rng.next(),
            msg,
        );
        total += line.len() + 1;
        lines.push(line);
        i += 1;
    }
    lines
}

/// Runs the pushed-down filter of `query` over every line; returns matches.
fn scan(lines: &[String], query: &str, bytes: usize) -> usize {
    let Ok(Expr::Log(log)) = parse(query) else {
        panic!("{query} is not a log query");
    };
    let filter = pushed_line_filter(&log)
        .expect("compiles")
        .expect("has a line filter");
    let start = Instant::now();
    let matched = lines.iter().filter(|l| filter(l)).count();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "cairn {query:<44} {matched:>8} lines  {secs:>7.3} s  {:>6.2} GB/s",
        bytes as f64 / secs / 1e9
    );
    matched
}

fn main() {
    let gb: f64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1.05);
    let lines = generate((gb * 1e9) as usize);
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    println!(
        "{} lines, {:.2} GB of log text in memory",
        lines.len(),
        bytes as f64 / 1e9
    );
    let found = scan(&lines, "{app=\"bench\"} |= \"needle\"", bytes);
    scan(&lines, "{app=\"bench\"} |~ \"needle[0-9]+\"", bytes);
    scan(
        &lines,
        "{app=\"bench\"} |= \"haystack\" != \"needle\"",
        bytes,
    );

    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    {
        let mut w = std::io::BufWriter::new(file.as_file_mut());
        for l in &lines {
            w.write_all(l.as_bytes()).expect("write");
            w.write_all(b"\n").expect("write");
        }
        w.flush().expect("flush");
    }
    drop(lines);
    let grep = |pattern: &str| {
        let start = Instant::now();
        let out = Command::new("grep")
            .arg("-c")
            .arg(pattern)
            .arg(file.path())
            .output()
            .expect("grep must be installed");
        (
            start.elapsed().as_secs_f64(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        )
    };
    // The first run warms the page cache; the second is timed.
    grep("needle");
    let (secs, count) = grep("needle");
    println!(
        "grep -c needle (file in page cache)              {count:>8} lines  {secs:>7.3} s  {:>6.2} GB/s",
        bytes as f64 / secs / 1e9
    );
    assert_eq!(count, found.to_string(), "grep and cairn disagree");
}
