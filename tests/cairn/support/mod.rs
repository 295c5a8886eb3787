//! Helpers for the end-to-end tests: start real processes (Cairn, Prometheus,
//! Alertmanager, SeaweedFS) on free 127.0.0.1 ports, speak HTTP to them, stop them by PID.

pub mod acked;
pub mod certs;
pub mod cluster;
pub mod loki;
pub mod native_target;
pub mod peers;
pub mod remote_write;
pub mod remote_write_v2;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A free TCP port on 127.0.0.1, never one handed out before in this test
/// process: the port is free again between here and the child's bind, and
/// tests run in parallel, so without the memory two tests' processes could
/// be given the same port and one test would talk to the other's process.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if HANDED_OUT.lock().unwrap().insert(port) {
            return port;
        }
    }
}

/// Polls `url` until it answers 200 or `timeout` passes; panics naming `what`.
pub async fn wait_ready(url: &str, what: &str, timeout: Duration, child: &mut Child) {
    wait_ready_with(&http(), url, what, timeout, child).await;
}

/// [`wait_ready`] with a given client (e.g. one trusting a test CA).
pub async fn wait_ready_with(
    client: &reqwest::Client,
    url: &str,
    what: &str,
    timeout: Duration,
    child: &mut Child,
) {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(r) = client.get(url).send().await
            && r.status().is_success()
        {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before becoming ready: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "{what} not ready at {url} after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A running `cairn` process with its data under one directory.
pub struct Cairn {
    child: Child,
    pub port: u16,
    /// The OTLP/gRPC port.
    pub grpc_port: u16,
    scheme: &'static str,
    pub dir: PathBuf,
    config: PathBuf,
    log: PathBuf,
}

impl Cairn {
    /// Starts Cairn with `extra_yaml` appended to a config that puts the
    /// bucket and WAL under `dir` and listens on a free port.
    pub async fn start(dir: &Path, extra_yaml: &str) -> Self {
        let storage = format!(
            "storage:\n  filesystem:\n    dir: {}/bucket\n",
            dir.display()
        );
        Self::start_with_storage(dir, &storage, extra_yaml).await
    }

    /// Like [`Cairn::start`] with an explicit `storage:` section.
    pub async fn start_with_storage(dir: &Path, storage_yaml: &str, extra_yaml: &str) -> Self {
        Self::start_full(dir, "", storage_yaml, extra_yaml, None).await
    }

    /// Like [`Cairn::start`] with extra `server:` keys (each line indented
    /// two spaces); `https` is the client to probe readiness over HTTPS with
    /// (when the extra keys set `tls:`).
    pub async fn start_with_server(
        dir: &Path,
        server_yaml: &str,
        extra_yaml: &str,
        https: Option<&reqwest::Client>,
    ) -> Self {
        let storage = format!(
            "storage:\n  filesystem:\n    dir: {}/bucket\n",
            dir.display()
        );
        Self::start_full(dir, server_yaml, &storage, extra_yaml, https).await
    }

    async fn start_full(
        dir: &Path,
        server_yaml: &str,
        storage_yaml: &str,
        extra_yaml: &str,
        https: Option<&reqwest::Client>,
    ) -> Self {
        let port = free_port();
        let grpc_port = free_port();
        let config = dir.join("cairn.yaml");
        let yaml = format!(
            "server:\n  http_listen_port: {port}\n  grpc_listen_port: {grpc_port}\n{server_yaml}{storage_yaml}ingester:\n  wal_dir: {d}/wal\n{extra_yaml}",
            d = dir.display()
        );
        std::fs::write(&config, yaml).unwrap();
        match https {
            None => Self::spawn(dir, port, grpc_port, config).await,
            Some(client) => Self::spawn_with(dir, port, grpc_port, config, "https", client).await,
        }
    }

    async fn spawn(dir: &Path, port: u16, grpc_port: u16, config: PathBuf) -> Self {
        Self::spawn_with(dir, port, grpc_port, config, "http", &http()).await
    }

    async fn spawn_with(
        dir: &Path,
        port: u16,
        grpc_port: u16,
        config: PathBuf,
        scheme: &'static str,
        client: &reqwest::Client,
    ) -> Self {
        let log = dir.join(format!("cairn-{port}-{}.log", std::process::id()));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .arg("--config.file")
            .arg(&config)
            .current_dir(dir)
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("starting cairn");
        wait_ready_with(
            client,
            &format!("{scheme}://127.0.0.1:{port}/ready"),
            "cairn",
            Duration::from_secs(30),
            &mut child,
        )
        .await;
        Self {
            child,
            port,
            grpc_port,
            scheme,
            dir: dir.to_path_buf(),
            config,
            log,
        }
    }

    /// `http://127.0.0.1:<port>` (`https://` when serving TLS).
    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
    }

    /// Kills the process with SIGKILL (no shutdown code runs) and waits for it.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Starts again with the same config, data and port.
    pub async fn restart(mut self) -> Self {
        self.kill9();
        self.relaunch().await
    }

    /// Sends SIGTERM and waits (at most `within`) for the process to exit.
    pub fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let pid = i32::try_from(self.child.id()).expect("a pid");
        // SAFETY: signals only the child this test started.
        assert_eq!(
            unsafe { libc::kill(pid, libc::SIGTERM) },
            0,
            "sending SIGTERM"
        );
        self.wait_exit(within)
    }

    /// Waits (at most `within`) for the process to exit on its own.
    pub fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for cairn") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "cairn still running after {within:?}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts again (after it exited) with the same config, data and ports.
    pub async fn relaunch(self) -> Self {
        let (dir, port, config) = (self.dir.clone(), self.port, self.config.clone());
        Self::spawn(&dir, port, self.grpc_port, config).await
    }

    /// The process's ID (to read its `/proc` figures).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running (it has not exited or died).
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("waiting for cairn").is_none()
    }

    /// The process's log so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Instant query as `tenant` at unix-seconds `time`; returns the JSON body.
    pub async fn query(&self, tenant: &str, query: &str, time: f64) -> Value {
        acked::query(&self.url(), tenant, query, time).await
    }

    /// `POST /ingester/flush`, asserting success.
    pub async fn flush(&self) {
        let r = http()
            .post(format!("{}/ingester/flush", self.url()))
            .send()
            .await
            .unwrap();
        let status = r.status();
        assert!(
            status.is_success(),
            "flush failed: {status} {}",
            r.text().await.unwrap()
        );
    }
}

impl Drop for Cairn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `result` of a vector query as (labels, value) pairs sorted by labels.
pub fn vector(body: &Value) -> Vec<(Value, String)> {
    assert_eq!(body["data"]["resultType"], "vector", "{body}");
    let mut out: Vec<(Value, String)> = body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["metric"].clone(),
                s["value"][1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort_by_key(|(m, _)| m.to_string());
    out
}

/// GET `/prometheus/api/v1/<path>` of `cairn` as `tenant`, asserting
/// success; returns the whole JSON body.
pub async fn prometheus_api(
    cairn: &Cairn,
    tenant: &str,
    path: &str,
    params: &[(&str, &str)],
) -> Value {
    let r = http()
        .get(format!("{}/prometheus/api/v1/{path}", cairn.url()))
        .header("X-Scope-OrgID", tenant)
        .query(params)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

/// The `/metrics` page of the process at `base`.
pub async fn metrics_page(base: &str) -> String {
    http()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// An HTTP client (installs the TLS provider reqwest needs first).
pub fn http() -> reqwest::Client {
    common::storage::install_tls_provider();
    reqwest::Client::new()
}

/// Whether two floats agree to 1e-9 relative (NaN agreeing with NaN).
pub fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}
