//! Real peers: Prometheus (remote-write client and PromQL reference),
//! Alertmanager (the ruler's receiver) and SeaweedFS (an S3 server).
//! Missing binaries fail the test, never skip it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{free_port, wait_ready};

fn spawn(bin: &str, args: &[String], log: &Path) -> Child {
    let out = std::fs::File::create(log).unwrap();
    Command::new(bin)
        .args(args)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start {bin}: {e} — install it with the README's test command")
        })
}

/// A Prometheus server scraping itself every second and remote-writing to
/// `remote_write_url` as `tenant` (basic-auth user; Prometheus 2.42 does not
/// send configured headers).
pub struct Prometheus {
    child: Child,
    pub port: u16,
}

impl Prometheus {
    pub async fn start(dir: &Path, remote_write_url: &str, tenant: &str) -> Self {
        Self::start_with_password(dir, remote_write_url, tenant, "unused").await
    }

    /// Like [`Prometheus::start`] with `password` as the basic-auth password
    /// (the tenant's token under `auth.type: tokens`). `dir` must be its own.
    pub async fn start_with_password(
        dir: &Path,
        remote_write_url: &str,
        tenant: &str,
        password: &str,
    ) -> Self {
        Self::launch(dir, remote_write_url, tenant, password, None).await
    }

    /// Like [`Prometheus::start`], with Prometheus's native-histogram
    /// support on: it also scrapes `target` (host:port, protobuf
    /// exposition) and remote-writes the native histograms it scrapes.
    pub async fn start_with_native_histograms(
        dir: &Path,
        remote_write_url: &str,
        tenant: &str,
        target: &str,
    ) -> Self {
        Self::launch(dir, remote_write_url, tenant, "unused", Some(target)).await
    }

    async fn launch(
        dir: &Path,
        remote_write_url: &str,
        tenant: &str,
        password: &str,
        native_histograms_target: Option<&str>,
    ) -> Self {
        let port = free_port();
        let cfg = dir.join("prometheus.yml");
        let (extra_job, send_histograms) = match native_histograms_target {
            Some(t) => (
                format!("  - job_name: native\n    static_configs:\n      - targets: ['{t}']\n"),
                "    send_native_histograms: true\n",
            ),
            None => (String::new(), ""),
        };
        std::fs::write(
            &cfg,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n\
                 {extra_job}\
                 remote_write:\n  - url: {remote_write_url}\n    basic_auth:\n      username: {tenant}\n      password: {password}\n\
                 {send_histograms}\
                 \x20   queue_config:\n      batch_send_deadline: 1s\n      min_backoff: 100ms\n      max_backoff: 1s\n\
                 \x20   metadata_config:\n      send_interval: 1s\n"
            ),
        )
        .unwrap();
        let data = dir.join("prometheus-data");
        let mut args = vec![
            format!("--config.file={}", cfg.display()),
            format!("--storage.tsdb.path={}", data.display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ];
        if native_histograms_target.is_some() {
            args.push("--enable-feature=native-histograms".into());
        }
        let mut child = spawn("/usr/bin/prometheus", &args, &dir.join("prometheus.log"));
        wait_ready(
            &format!("http://127.0.0.1:{port}/-/ready"),
            "prometheus",
            Duration::from_secs(30),
            &mut child,
        )
        .await;
        Self { child, port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A SeaweedFS server with its S3 gateway and one bucket created. Tests of
/// a bucket outage stop and restart it, or freeze and thaw it.
pub struct Seaweed {
    child: Child,
    pub s3_port: u16,
    args: Vec<String>,
    log: std::path::PathBuf,
    bucket_url: String,
}

impl Seaweed {
    pub async fn start(dir: &Path, bucket: &str) -> Self {
        let (s3, master, volume, filer) = (free_port(), free_port(), free_port(), free_port());
        // Left alone, each gRPC port is its HTTP port + 10000, which nothing
        // reserved for this server.
        let grpc = [free_port(), free_port(), free_port(), free_port()];
        let data = dir.join("seaweed");
        std::fs::create_dir_all(&data).unwrap();
        let mut args = vec![
            "server".to_string(),
            format!("-dir={}", data.display()),
            "-ip=127.0.0.1".into(),
            "-ip.bind=127.0.0.1".into(),
            "-s3".into(),
            format!("-s3.port={s3}"),
            format!("-master.port={master}"),
            format!("-volume.port={volume}"),
            format!("-filer.port={filer}"),
            format!("-s3.port.grpc={}", grpc[0]),
            format!("-master.port.grpc={}", grpc[1]),
            format!("-volume.port.grpc={}", grpc[2]),
            format!("-filer.port.grpc={}", grpc[3]),
            // Only 127.0.0.1: no usage report to seaweedfs.com.
            "-master.telemetry=false".into(),
        ];
        args.extend(fixed_port_listeners_off());
        let log = dir.join("seaweed.log");
        let child = spawn(&which("weed"), &args, &log);
        let mut weed = Self {
            child,
            s3_port: s3,
            args,
            log,
            bucket_url: format!("http://127.0.0.1:{s3}/{bucket}"),
        };
        weed.wait_for_bucket().await;
        weed
    }

    /// Waits until the S3 gateway answers and the bucket exists.
    async fn wait_for_bucket(&mut self) {
        let client = super::http();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.put(&self.bucket_url).send().await
                && (r.status().is_success() || r.status().as_u16() == 409)
            {
                break;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                panic!(
                    "weed exited before the S3 gateway came up: {status}; its log ends:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            assert!(
                std::time::Instant::now() < deadline,
                "SeaweedFS S3 not ready after 60s"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Kills the server: its ports refuse connections until [`Seaweed::restart`].
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the stopped server again on the same ports and data.
    pub async fn restart(&mut self) {
        self.child = spawn(&which("weed"), &self.args, &self.log);
        self.wait_for_bucket().await;
    }

    /// SIGSTOPs the server: connections are still accepted by the kernel,
    /// nothing answers.
    pub fn freeze(&self) {
        assert_eq!(self.signal(libc::SIGSTOP), 0, "SIGSTOP weed");
    }

    /// SIGCONTs a frozen server.
    pub fn thaw(&self) {
        assert_eq!(self.signal(libc::SIGCONT), 0, "SIGCONT weed");
    }

    /// kill(2)'s result of sending `sig` to the running server.
    fn signal(&self, sig: libc::c_int) -> libc::c_int {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) on the pid of the child this struct started;
        // callers only signal it while it has not been reaped.
        unsafe { libc::kill(pid, sig) }
    }
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        // A frozen server is thawed so it can die; a reaped one's pid is
        // never signalled.
        if matches!(self.child.try_wait(), Ok(None)) {
            self.signal(libc::SIGCONT);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Flags turning off the listeners that recent SeaweedFS versions open on
/// fixed ports (the Iceberg catalog on 8181, Lance on 9101), which two test
/// servers at once would both claim; versions without them get none.
fn fixed_port_listeners_off() -> Vec<String> {
    static FLAGS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    FLAGS
        .get_or_init(|| {
            let help = std::process::Command::new(which("weed"))
                .args(["server", "-h"])
                .output()
                .expect("running weed server -h");
            let help = format!(
                "{}{}",
                String::from_utf8_lossy(&help.stdout),
                String::from_utf8_lossy(&help.stderr)
            );
            ["s3.port.iceberg", "s3.port.lance"]
                .into_iter()
                .filter(|flag| help.contains(&format!("-{flag} ")))
                .map(|flag| format!("-{flag}=0"))
                .collect()
        })
        .clone()
}

/// Finds `bin` on PATH (pip installs `weed` into the user's scripts directory).
fn which(bin: &str) -> String {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| {
            panic!("{bin} not found on PATH — install it with the README's test command")
        })
}

/// An Alertmanager (Debian `prometheus-alertmanager`) on a free port, its
/// own storage directory, gossip off; it routes everything to a receiver
/// that drops notifications, so tests read its alerts through the API.
pub struct Alertmanager {
    child: Child,
    pub port: u16,
}

impl Alertmanager {
    pub async fn start(dir: &Path) -> Self {
        let port = free_port();
        let cfg = dir.join("alertmanager.yml");
        std::fs::write(
            &cfg,
            "route:\n  receiver: drop\n  group_wait: 1s\nreceivers:\n  - name: drop\n",
        )
        .unwrap();
        let data = dir.join("alertmanager-data");
        std::fs::create_dir_all(&data).unwrap();
        let args = vec![
            format!("--config.file={}", cfg.display()),
            format!("--storage.path={}", data.display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--cluster.listen-address=".into(),
        ];
        let mut child = spawn(
            "/usr/bin/prometheus-alertmanager",
            &args,
            &dir.join("alertmanager.log"),
        );
        wait_ready(
            &format!("http://127.0.0.1:{port}/-/ready"),
            "alertmanager",
            Duration::from_secs(30),
            &mut child,
        )
        .await;
        Self { child, port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `GET /api/v2/alerts`: the alerts Alertmanager holds as active now
    /// (resolved ones are left out).
    pub async fn alerts(&self) -> Vec<serde_json::Value> {
        let r = super::http()
            .get(format!("{}/api/v2/alerts", self.url()))
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "alertmanager answered {}",
            r.status()
        );
        r.json().await.unwrap()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
