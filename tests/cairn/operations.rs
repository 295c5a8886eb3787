//! What an operator reads off a running Cairn: the standard process metrics,
//! the build it runs, whether its overrides file was applied, and log lines a
//! collector can parse.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Cairn, http};

async fn get_text(url: String) -> String {
    let r = http().get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

/// The value of the unlabelled sample `name` in a `/metrics` page.
fn sample(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// The commit this checkout is at, as `git` says.
fn git_head() -> String {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running git");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn metrics_show_the_process_and_the_build_and_buildinfo_names_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = Cairn::start(dir.path(), "").await;
    let page = get_text(format!("{}/metrics", cairn.url())).await;
    assert!(
        sample(&page, "process_cpu_seconds_total").unwrap() >= 0.0,
        "{page}"
    );
    assert!(
        sample(&page, "process_resident_memory_bytes").unwrap() > 1e6,
        "{page}"
    );
    assert!(sample(&page, "process_open_fds").unwrap() >= 3.0, "{page}");
    assert!(sample(&page, "process_max_fds").unwrap() >= 3.0, "{page}");
    let started = sample(&page, "process_start_time_seconds").unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - started).abs() < 120.0,
        "started {started}, now {now}"
    );

    let head = git_head();
    assert_eq!(head.len(), 40, "{head}");
    let info = page
        .lines()
        .find(|l| l.starts_with("cairn_build_info{"))
        .unwrap_or_else(|| panic!("no cairn_build_info in {page}"));
    assert!(info.contains(&format!("revision=\"{head}\"")), "{info}");
    assert!(
        info.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))),
        "{info}"
    );
    assert!(info.ends_with(" 1"), "{info}");

    let body = get_text(format!(
        "{}/prometheus/api/v1/status/buildinfo",
        cairn.url()
    ))
    .await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"]["revision"], head.as_str(), "{body}");
    assert!(
        v["data"]["goVersion"]
            .as_str()
            .unwrap()
            .starts_with("rustc "),
        "{body}"
    );
}

#[tokio::test]
async fn a_broken_overrides_file_shows_in_the_reload_gauge_until_it_is_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("overrides.yaml");
    let good = "overrides:\n  team-a:\n    ingestion_rate: 100\n";
    std::fs::write(&file, good).unwrap();
    let cairn = Cairn::start(
        dir.path(),
        &format!(
            "runtime_config:\n  file: {}\n  period: 200ms\n",
            file.display()
        ),
    )
    .await;
    let gauge = || async {
        let page = get_text(format!("{}/metrics", cairn.url())).await;
        sample(&page, "cairn_runtime_config_last_reload_successful")
    };
    assert_eq!(gauge().await, Some(1.0));
    for (content, want) in [
        ("overrides:\n  team-a:\n    ingestion_rat: 100\n", 0.0),
        (good, 1.0),
    ] {
        std::fs::write(&file, content).unwrap();
        let since = Instant::now();
        while gauge().await != Some(want) {
            assert!(
                since.elapsed() < Duration::from_secs(10),
                "gauge never became {want}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // The broken file never replaced the good overrides.
    let page = get_text(format!("{}/runtime_config", cairn.url())).await;
    assert!(page.contains("ingestion_rate: 100"), "{page}");
}

#[tokio::test]
async fn log_lines_are_logfmt_or_json_without_colour_codes() {
    for (format, check) in [
        (
            "logfmt",
            (|l: &str| l.starts_with("ts=") && l.contains(" level=") && l.contains(" message="))
                as fn(&str) -> bool,
        ),
        ("json", |l: &str| {
            serde_json::from_str::<Value>(l).is_ok_and(|v| v["level"].is_string())
        }),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let cairn = Cairn::start(dir.path(), &format!("log:\n  format: {format}\n")).await;
        // A refused request is logged.
        let r = http()
            .get(format!("{}/prometheus/api/v1/query?query=up", cairn.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let log = cairn.log();
        assert!(!log.contains('\x1b'), "{format}: colour codes in\n{log}");
        let lines: Vec<&str> = log.lines().collect();
        assert!(lines.len() >= 2, "{format}: {log}");
        for line in lines {
            assert!(check(line), "{format}: not a {format} line: {line}");
        }
    }
}
