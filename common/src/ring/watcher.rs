//! Keeping the ring current: each round discovers the ingesters (static
//! list ∪ DNS), probes each at `GET /ingester/ring`, counts the distributors
//! answering `GET /ready`, and publishes a new [`Ring`] snapshot when
//! membership, state or health changed.
//!
//! A member is healthy while its last successful probe is younger than
//! `heartbeat_timeout`. Static members are kept forever (unhealthy when
//! down); a member that drops out of DNS is still probed and stays on the
//! ring, unhealthy, until `FORGET_AFTER` heartbeat timeouts have passed, so
//! a crashed pod's keys are not silently moved to ingesters that never had
//! its data — unless another address now answers with the same ID (the pod
//! came back elsewhere), which replaces it at once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use futures::future::join_all;
use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use tracing::{debug, info};

use super::config::RingConfig;
use super::discovery::discover;
use super::member::{Member, MemberDescriptor, MemberState};
use super::placement::Ring;
use crate::limits::Overrides;
use crate::storage::install_tls_provider;
use crate::tenant::TenantId;

/// Heartbeat timeouts after which a member no longer discovered is dropped.
const FORGET_AFTER: u32 = 10;

/// What the prober last learnt about one address.
#[derive(Debug, Clone, Default)]
struct Probed {
    descriptor: Option<MemberDescriptor>,
    last_heartbeat: Option<SystemTime>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MemberLabels {
    member: String,
}

/// Discovers and probes the ingesters and distributors, and hands out the
/// current [`Ring`] to the distributor's pusher and the querier's fan-out.
pub struct RingWatcher {
    cfg: RingConfig,
    client: reqwest::Client,
    probed: Mutex<HashMap<String, Probed>>,
    ring: watch::Sender<Arc<Ring>>,
    healthy_distributors: AtomicUsize,
    members_gauge: Family<StateLabels, Gauge>,
    probe_failures: Family<MemberLabels, Counter>,
}

impl RingWatcher {
    /// A watcher with an empty ring; call [`RingWatcher::probe_now`] before
    /// serving and [`RingWatcher::spawn`] to keep it current. Registers
    /// `cairn_ring_members{state}` and `cairn_ring_probe_failures_total{member}`.
    pub fn new(cfg: RingConfig, registry: &mut Registry) -> Arc<Self> {
        install_tls_provider();
        let members_gauge = Family::<StateLabels, Gauge>::default();
        registry.register(
            "cairn_ring_members",
            "Ingesters on the ring by state (Unhealthy: last probe older than the heartbeat timeout)",
            members_gauge.clone(),
        );
        let probe_failures = Family::<MemberLabels, Counter>::default();
        registry.register(
            "cairn_ring_probe_failures",
            "Failed probes of ring members, by HTTP address",
            probe_failures.clone(),
        );
        let (ring, _) = watch::channel(Arc::new(Ring::new(Vec::new(), &cfg)));
        Arc::new(Self {
            cfg,
            client: reqwest::Client::new(),
            probed: Mutex::new(HashMap::new()),
            ring,
            healthy_distributors: AtomicUsize::new(1),
            members_gauge,
            probe_failures,
        })
    }

    /// Starts the probe loop: a round every `probe_interval` until the last
    /// other handle on the watcher is dropped.
    pub fn spawn(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let period = self.cfg.probe_interval.max(Duration::from_millis(10));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(watcher) = weak.upgrade() else {
                    return;
                };
                watcher.probe_now().await;
            }
        });
    }

    /// The current ring snapshot.
    pub fn ring(&self) -> Arc<Ring> {
        Arc::clone(&self.ring.borrow())
    }

    /// The part of the ring `tenant`'s writes and reads use: its shuffle
    /// shard (the `ingestion_tenant_shard_size` override), or all of it.
    pub fn tenant_ring(&self, tenant: &TenantId, overrides: &Overrides) -> Ring {
        let size = overrides.get(tenant).ingestion_tenant_shard_size;
        self.ring().shuffle_shard(tenant.as_str(), size)
    }

    /// A receiver woken whenever membership, a member's state or health
    /// changes.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Ring>> {
        self.ring.subscribe()
    }

    /// Distributors answering `/ready` in the last round, at least 1 (this
    /// one, when no distributors are configured); tenants' rate limits are
    /// split among them.
    pub fn healthy_distributors(&self) -> usize {
        self.healthy_distributors.load(Ordering::Relaxed)
    }

    /// One discovery and probe round; publishes the new ring.
    pub async fn probe_now(&self) {
        let (discovered, distributors) = futures::join!(
            discover(&self.cfg.members, &self.cfg.members_dns),
            discover(&self.cfg.distributors, &self.cfg.distributors_dns),
        );
        let mut targets: HashSet<String> = self.probed.lock().keys().cloned().collect();
        targets.extend(discovered.iter().cloned());
        let (answers, ready) = futures::join!(
            join_all(targets.into_iter().map(|addr| async move {
                let answer = self.probe_member(&addr).await;
                (addr, answer)
            })),
            join_all(distributors.iter().map(|addr| self.probe_ready(addr))),
        );
        let ready = ready.into_iter().filter(|r| *r).count();
        self.healthy_distributors
            .store(ready.max(1), Ordering::Relaxed);
        let discovered: HashSet<String> = discovered.into_iter().collect();
        let members = self.record(answers, &discovered, SystemTime::now());
        self.publish(Ring::new(members, &self.cfg));
    }

    /// Stores this round's answers, forgets what is gone, and returns the
    /// members as they stand at `now`.
    fn record(
        &self,
        answers: Vec<(String, Option<MemberDescriptor>)>,
        discovered: &HashSet<String>,
        now: SystemTime,
    ) -> Vec<Member> {
        let timeout = self.cfg.heartbeat_timeout;
        let age = |t: SystemTime| now.duration_since(t).unwrap_or_default();
        let mut probed = self.probed.lock();
        for (addr, answer) in answers {
            let entry = probed.entry(addr).or_default();
            if let Some(desc) = answer {
                entry.descriptor = Some(desc);
                entry.last_heartbeat = Some(now);
            }
        }
        let live_ids: HashSet<String> = probed
            .iter()
            .filter(|(addr, p)| discovered.contains(*addr) && p.last_heartbeat == Some(now))
            .filter_map(|(_, p)| p.descriptor.as_ref().map(|d| d.id.clone()))
            .collect();
        probed.retain(|addr, p| {
            if discovered.contains(addr) {
                return true;
            }
            let replaced = p
                .descriptor
                .as_ref()
                .is_some_and(|d| live_ids.contains(&d.id) && p.last_heartbeat != Some(now));
            let recent = p
                .last_heartbeat
                .is_some_and(|t| age(t) <= timeout * FORGET_AFTER);
            recent && !replaced
        });
        probed
            .iter()
            .filter_map(|(addr, p)| {
                let desc = p.descriptor.clone()?;
                let healthy = p.last_heartbeat.is_some_and(|t| age(t) <= timeout);
                Some(Member::from_descriptor(
                    desc,
                    addr.clone(),
                    healthy,
                    p.last_heartbeat,
                ))
            })
            .collect()
    }

    /// Replaces the snapshot; wakes subscribers only when placement or
    /// health changed (not for a mere newer heartbeat).
    fn publish(&self, ring: Ring) {
        self.set_member_gauges(&ring);
        self.ring.send_if_modified(|current| {
            let changed = !same_members(current, &ring);
            if changed {
                info!(
                    members = ring.members().len(),
                    healthy = ring.healthy_count(),
                    "ring: membership or health changed"
                );
            }
            *current = Arc::new(ring);
            changed
        });
    }

    fn set_member_gauges(&self, ring: &Ring) {
        let count = |pred: &dyn Fn(&Member) -> bool| {
            ring.members().iter().filter(|m| pred(m)).count() as i64
        };
        for state in [
            MemberState::Joining,
            MemberState::Active,
            MemberState::Leaving,
        ] {
            self.members_gauge
                .get_or_create(&StateLabels {
                    state: state.as_str(),
                })
                .set(count(&|m| m.healthy && m.state == state));
        }
        self.members_gauge
            .get_or_create(&StateLabels { state: "Unhealthy" })
            .set(count(&|m| !m.healthy));
    }

    /// The descriptor `addr` answers at `/ingester/ring`, or `None` (counted
    /// as a probe failure).
    async fn probe_member(&self, addr: &str) -> Option<MemberDescriptor> {
        let url = format!("http://{addr}/ingester/ring");
        let answer = async {
            self.client
                .get(&url)
                .timeout(self.cfg.probe_timeout)
                .send()
                .await?
                .error_for_status()?
                .json::<MemberDescriptor>()
                .await
        }
        .await;
        match answer {
            Ok(desc) => Some(desc),
            Err(error) => {
                debug!(%error, member = addr, "ring: probe failed");
                self.probe_failures
                    .get_or_create(&MemberLabels {
                        member: addr.to_string(),
                    })
                    .inc();
                None
            }
        }
    }

    /// Whether the distributor at `addr` answers 200 at `/ready`.
    async fn probe_ready(&self, addr: &str) -> bool {
        self.client
            .get(format!("http://{addr}/ready"))
            .timeout(self.cfg.probe_timeout)
            .send()
            .await
            .is_ok_and(|r| r.status() == reqwest::StatusCode::OK)
    }
}

/// Whether two rings have the same members in the same states and health.
fn same_members(a: &Ring, b: &Ring) -> bool {
    a.members().len() == b.members().len()
        && a.members()
            .iter()
            .zip(b.members())
            .all(|(x, y)| placement_key(x) == placement_key(y))
}

/// What of a member matters to placement and health (not its heartbeat).
fn placement_key(m: &Member) -> (&str, &str, MemberState, &str, &str, bool) {
    (
        &m.id,
        &m.zone,
        m.state,
        &m.http_addr,
        &m.grpc_addr,
        m.healthy,
    )
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use axum::Json;
    use axum::Router;
    use axum::routing::get;
    use tokio::net::TcpListener;
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;

    use super::super::page::router;
    use super::*;

    /// A stand-in ingester answering `/ingester/ring` and `/ready`.
    struct FakeIngester {
        addr: SocketAddr,
        stop: oneshot::Sender<()>,
        task: JoinHandle<()>,
    }

    async fn serve(app: Router) -> (SocketAddr, oneshot::Sender<()>, JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        (addr, stop, task)
    }

    async fn fake_ingester(id: &str, zone: &str) -> FakeIngester {
        let desc = MemberDescriptor {
            id: id.into(),
            zone: zone.into(),
            state: MemberState::Active,
            grpc_addr: format!("{id}.grpc:9095"),
        };
        let app = Router::new()
            .route("/ingester/ring", get(move || async move { Json(desc) }))
            .route("/ready", get(|| async { "ready" }));
        let (addr, stop, task) = serve(app).await;
        FakeIngester { addr, stop, task }
    }

    fn member<'a>(ring: &'a Ring, id: &str) -> &'a Member {
        ring.members().iter().find(|m| m.id == id).unwrap()
    }

    fn desc(id: &str) -> Option<MemberDescriptor> {
        Some(MemberDescriptor {
            id: id.into(),
            zone: String::new(),
            state: MemberState::Active,
            grpc_addr: format!("{id}:9095"),
        })
    }

    fn addrs(list: &[&str]) -> HashSet<String> {
        list.iter().map(|a| a.to_string()).collect()
    }

    fn summary(members: &[Member]) -> Vec<(String, String, bool)> {
        let mut out: Vec<_> = members
            .iter()
            .map(|m| (m.id.clone(), m.http_addr.clone(), m.healthy))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn members_gone_from_dns_stay_unhealthy_until_forgotten_or_replaced() {
        let cfg = RingConfig {
            heartbeat_timeout: Duration::from_secs(1),
            ..RingConfig::default()
        };
        let w = RingWatcher::new(cfg, &mut Registry::default());
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let at = |s: u64| t0 + Duration::from_secs(s);
        let both = vec![("x:1".into(), desc("i1")), ("y:1".into(), desc("i2"))];
        assert_eq!(w.record(both, &addrs(&["x:1", "y:1"]), t0).len(), 2);
        // x leaves DNS and stops answering: kept, unhealthy.
        let round = |x_answers| vec![("x:1".into(), x_answers), ("y:1".into(), desc("i2"))];
        let members = w.record(round(None), &addrs(&["y:1"]), at(2));
        assert_eq!(
            summary(&members),
            [
                ("i1".into(), "x:1".into(), false),
                ("i2".into(), "y:1".into(), true)
            ]
        );
        // After FORGET_AFTER heartbeat timeouts it is dropped.
        let members = w.record(round(None), &addrs(&["y:1"]), at(11));
        assert_eq!(summary(&members), [("i2".into(), "y:1".into(), true)]);
        // i2 comes back at a new address: the old one is replaced at once.
        let moved = vec![("y:1".into(), None), ("z:1".into(), desc("i2"))];
        let members = w.record(moved, &addrs(&["z:1"]), at(12));
        assert_eq!(summary(&members), [("i2".into(), "z:1".into(), true)]);
    }

    #[tokio::test]
    async fn probes_static_and_dns_members_and_serves_the_ring_page() {
        let a = fake_ingester("ing-a", "zone-a").await;
        let b = fake_ingester("ing-b", "zone-b").await;
        let c = fake_ingester("ing-<c>", "zone-c").await;
        let cfg = RingConfig {
            members: vec![a.addr.to_string(), b.addr.to_string()],
            members_dns: format!("localhost:{}", c.addr.port()),
            distributors: vec![a.addr.to_string(), b.addr.to_string(), "127.0.0.1:1".into()],
            replication_factor: 3,
            zone_awareness_enabled: true,
            probe_interval: Duration::from_millis(50),
            probe_timeout: Duration::from_millis(500),
            heartbeat_timeout: Duration::from_secs(1),
            ..RingConfig::default()
        };
        let mut registry = Registry::default();
        let watcher = RingWatcher::new(cfg.clone(), &mut registry);
        let mut changes = watcher.subscribe();
        assert!(watcher.ring().members().is_empty());

        watcher.probe_now().await;
        let ring = watcher.ring();
        let ids: Vec<&str> = ring.members().iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["ing-<c>", "ing-a", "ing-b"]);
        assert_eq!(ring.healthy_count(), 3);
        assert_eq!(member(&ring, "ing-a").http_addr, a.addr.to_string());
        assert_eq!(member(&ring, "ing-<c>").http_addr, c.addr.to_string());
        assert_eq!(member(&ring, "ing-b").grpc_addr, "ing-b.grpc:9095");
        assert_eq!(ring.replication_set(42).unwrap().instances.len(), 3);
        assert_eq!(watcher.healthy_distributors(), 2);
        assert!(changes.has_changed().unwrap());
        changes.borrow_and_update();

        // A second round with nothing new wakes nobody.
        watcher.probe_now().await;
        assert!(!changes.has_changed().unwrap());

        // Stop b: unhealthy only once its last heartbeat is too old.
        b.stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), b.task)
            .await
            .unwrap()
            .unwrap();
        tokio::time::sleep(cfg.heartbeat_timeout + Duration::from_millis(100)).await;
        watcher.probe_now().await;
        let ring = watcher.ring();
        assert!(!member(&ring, "ing-b").healthy);
        assert_eq!(ring.healthy_count(), 2);
        assert!(changes.has_changed().unwrap());
        assert_eq!(ring.read_set().unwrap().len(), 2);
        assert_eq!(ring.replication_set(42).unwrap().instances.len(), 2);
        assert_eq!(watcher.healthy_distributors(), 1);

        let mut metrics = String::new();
        prometheus_client::encoding::text::encode(&mut metrics, &registry).unwrap();
        assert!(
            metrics.contains("cairn_ring_members{state=\"ACTIVE\"} 2"),
            "{metrics}"
        );
        assert!(
            metrics.contains("cairn_ring_members{state=\"Unhealthy\"} 1"),
            "{metrics}"
        );
        let failures = format!("cairn_ring_probe_failures_total{{member=\"{}\"}}", b.addr);
        assert!(metrics.contains(&failures), "{metrics}");

        // The /ring page, HTML and JSON.
        let (page, _stop_page, _page_task) = serve(router(Arc::clone(&watcher))).await;
        let http = reqwest::Client::new();
        let html = http
            .get(format!("http://{page}/ring"))
            .send()
            .await
            .unwrap();
        assert!(
            html.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let html = html.text().await.unwrap();
        assert!(
            html.contains("ing-&lt;c&gt;") && !html.contains("ing-<c>"),
            "{html}"
        );
        assert!(
            html.contains("UNHEALTHY") && html.contains(&a.addr.to_string()),
            "{html}"
        );
        for req in [
            http.get(format!("http://{page}/ring?format=json")),
            http.get(format!("http://{page}/ring"))
                .header("Accept", "application/json"),
        ] {
            let json: serde_json::Value = req.send().await.unwrap().json().await.unwrap();
            assert_eq!(json["replication_factor"], 3);
            assert_eq!(json["zone_awareness_enabled"], true);
            let members = json["members"].as_array().unwrap();
            assert_eq!(members.len(), 3);
            assert_eq!(members[2]["id"], "ing-b");
            assert_eq!(members[2]["healthy"], false);
            assert_eq!(members[1]["state"], "ACTIVE");
            let share: f64 = members
                .iter()
                .map(|m| m["ownership"].as_f64().unwrap())
                .sum();
            assert!((share - 1.0).abs() < 1e-9);
        }

        // The spawned loop populates a fresh watcher on its own.
        let spawned = RingWatcher::new(cfg, &mut Registry::default());
        let mut rx = spawned.subscribe();
        spawned.spawn();
        tokio::time::timeout(Duration::from_secs(5), rx.changed())
            .await
            .unwrap()
            .unwrap();
        // b never answered this watcher: no ID, so not on its ring.
        let ids: Vec<String> = spawned
            .ring()
            .members()
            .iter()
            .map(|m| m.id.clone())
            .collect();
        assert_eq!(ids, ["ing-<c>", "ing-a"]);
        drop((a.stop, c.stop));
    }
}
