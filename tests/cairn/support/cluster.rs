//! A distributed Cairn on 127.0.0.1: each service its own `cairn --target`
//! process on free ports, ingesters in zones on a ring found from a static
//! list, one shared filesystem bucket.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::{free_port, http, wait_ready};

/// One process of the cluster.
pub struct Node {
    pub name: String,
    target: String,
    pub http_port: u16,
    grpc_port: u16,
    zone: String,
    child: Option<Child>,
}

impl Node {
    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }
}

/// The processes and the config they share.
pub struct Cluster {
    dir: PathBuf,
    ring_yaml: String,
    extra_yaml: String,
    pub nodes: Vec<Node>,
}

/// What to start.
pub struct Topology<'a> {
    /// The zone of each ingester (`""`: none).
    pub ingester_zones: &'a [&'a str],
    /// How many distributors.
    pub distributors: usize,
    /// `ring.replication_factor`.
    pub replication_factor: usize,
    /// `ring.zone_awareness_enabled`.
    pub zone_aware: bool,
    /// Appended to every process's config (e.g. `limits:`).
    pub extra_yaml: &'a str,
}

impl Cluster {
    /// Starts the ingesters, then the distributors and one querier, and
    /// waits until every distributor and the querier see every ingester.
    pub async fn start(dir: &Path, t: Topology<'_>) -> Self {
        let mut nodes = Vec::new();
        for (i, zone) in t.ingester_zones.iter().enumerate() {
            nodes.push(node(&format!("ingester-{i}"), "ingester", zone));
        }
        for i in 0..t.distributors {
            nodes.push(node(&format!("distributor-{i}"), "distributor", ""));
        }
        nodes.push(node("querier", "querier", ""));
        let list = |target: &str| {
            nodes
                .iter()
                .filter(|n| n.target == target)
                .map(|n| format!("\"127.0.0.1:{}\"", n.http_port))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let ring_yaml = format!(
            "ring:\n  members: [{}]\n  distributors: [{}]\n  replication_factor: {}\n  zone_awareness_enabled: {}\n  probe_interval: 200ms\n  probe_timeout: 500ms\n  heartbeat_timeout: 2s\n",
            list("ingester"),
            list("distributor"),
            t.replication_factor,
            t.zone_aware
        );
        let mut cluster = Self {
            dir: dir.to_path_buf(),
            ring_yaml,
            extra_yaml: t.extra_yaml.to_string(),
            nodes,
        };
        for i in 0..cluster.nodes.len() {
            cluster.launch(i).await;
        }
        let ingesters = t.ingester_zones.len();
        for n in cluster.nodes.iter().filter(|n| n.target != "ingester") {
            wait_for_ring(&n.url(), ingesters, &n.name).await;
        }
        cluster
    }

    fn index(&self, name: &str) -> usize {
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> &Node {
        &self.nodes[self.index(name)]
    }

    async fn launch(&mut self, i: usize) {
        let dir = self.dir.clone();
        let n = &mut self.nodes[i];
        let config = dir.join(format!("{}.yaml", n.name));
        let yaml = format!(
            "server:\n  http_listen_port: {}\n  grpc_listen_port: {}\nstorage:\n  filesystem:\n    dir: {d}/bucket\ningester:\n  id: {}\n  wal_dir: {d}/{}/wal\n{}  instance_zone: \"{}\"\n{}",
            n.http_port,
            n.grpc_port,
            n.name,
            n.name,
            self.ring_yaml,
            n.zone,
            self.extra_yaml,
            d = dir.display()
        );
        std::fs::write(&config, yaml).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path(&dir, &n.name))
            .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .arg("--config.file")
            .arg(&config)
            .arg("--target")
            .arg(&n.target)
            .current_dir(&dir)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting cairn");
        wait_ready(
            &format!("{}/ready", n.url()),
            &n.name,
            Duration::from_secs(30),
            &mut child,
        )
        .await;
        n.child = Some(child);
    }

    /// SIGKILLs `name` and waits for it.
    pub fn kill9(&mut self, name: &str) {
        let i = self.index(name);
        if let Some(mut c) = self.nodes[i].child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Starts `names` again on their ports and WALs, and waits until the
    /// other services see every ingester healthy.
    pub async fn relaunch(&mut self, names: &[&str]) {
        for name in names {
            let i = self.index(name);
            self.launch(i).await;
        }
        let ingesters = self.nodes.iter().filter(|n| n.target == "ingester").count();
        for n in self.nodes.iter().filter(|n| n.target != "ingester") {
            wait_for_ring(&n.url(), ingesters, &n.name).await;
        }
    }

    /// Every process's log, for failure messages.
    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| {
                let log = std::fs::read_to_string(log_path(&self.dir, &n.name)).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                format!(
                    "--- {} ---\n{}",
                    n.name,
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

fn node(name: &str, target: &str, zone: &str) -> Node {
    Node {
        name: name.to_string(),
        target: target.to_string(),
        http_port: free_port(),
        grpc_port: free_port(),
        zone: zone.to_string(),
        child: None,
    }
}

fn log_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.log"))
}

/// Waits until `/ring` at `base` lists `n` healthy ingesters.
async fn wait_for_ring(base: &str, n: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let healthy = match http().get(format!("{base}/ring?format=json")).send().await {
            Ok(r) => r.json::<serde_json::Value>().await.ok().map_or(0, |v| {
                v["members"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|m| m["healthy"] == true && m["state"] == "ACTIVE")
                    .count()
            }),
            Err(_) => 0,
        };
        if healthy == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what} sees {healthy} healthy ingesters, not {n}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
