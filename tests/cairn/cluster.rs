//! Distributed mode: separate distributor, ingester and querier processes
//! on a ring with replication factor 3. Losing an ingester, or a whole
//! zone, loses no acknowledged write and duplicates none, before and after
//! the lost ingesters come back and replay their WALs; a tenant's rate
//! limit holds across two distributors.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::support::acked::Writer;
use crate::support::cluster::{Cluster, Topology};
use crate::support::http;
use crate::support::remote_write::{body, now_ms, request, series};

const TENANTS: [&str; 3] = ["team-a", "team-b", "team-c"];
/// Every line comes back in one query.
const LIMITS: &str = "limits:\n  max_entries_limit_per_query: 1000000\n";

/// Writes for three tenants through `distributor` while `lose` stops
/// ingesters, then checks every acknowledged item once through the querier;
/// again after the ingesters came back.
async fn survive_losing(cluster: &mut Cluster, lose: &[&str]) {
    let base = cluster.node("distributor-0").url();
    let writers: Vec<Writer> = TENANTS.iter().map(|t| Writer::new(t)).collect();
    let running: Vec<_> = writers
        .iter()
        .map(|w| tokio::spawn(w.clone().run(base.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    for name in lose {
        cluster.kill9(name);
    }
    // Long enough for the ring to notice (heartbeat_timeout 2s).
    tokio::time::sleep(Duration::from_secs(3)).await;
    for w in &writers {
        w.stop.store(true, Ordering::Relaxed);
    }
    for r in running {
        r.await.unwrap();
    }
    let querier = cluster.node("querier").url();
    for w in &writers {
        let failed = w.failed.load(Ordering::Relaxed);
        assert_eq!(
            failed,
            0,
            "{}: writes failed with {lose:?} down\n{}",
            w.tenant,
            cluster.logs()
        );
        assert!(
            w.acked.lock().samples.len() > 10,
            "{}: too few writes",
            w.tenant
        );
        w.verify(&querier, &cluster.logs()).await;
    }
    cluster.relaunch(lose).await;
    // More writes reach the returned ingesters too; nothing is doubled.
    for w in &writers {
        let more = tokio::spawn(w.clone().run(base.clone()));
        tokio::time::sleep(Duration::from_millis(300)).await;
        w.stop.store(true, Ordering::Relaxed);
        more.await.unwrap();
        w.verify(&querier, &cluster.logs()).await;
    }
}

#[tokio::test]
async fn a_killed_ingester_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(
        dir.path(),
        Topology {
            ingester_zones: &["zone-a", "zone-b", "zone-c"],
            distributors: 1,
            replication_factor: 3,
            zone_aware: true,
            extra_yaml: LIMITS,
        },
    )
    .await;
    survive_losing(&mut cluster, &["ingester-1"]).await;

    // Two of three replicas gone: no quorum. Writes and reads fail with 503
    // rather than acknowledging what is not replicated or answering in part.
    cluster.kill9("ingester-0");
    cluster.kill9("ingester-1");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let r = request(
        &http(),
        &format!("{}/api/v1/push", cluster.node("distributor-0").url()),
        body(vec![series("crash", &[], &[(now_ms(), 1.0)])]),
    )
    .header("X-Scope-OrgID", "team-a")
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 503, "{}", r.text().await.unwrap());
    let r = http()
        .get(format!(
            "{}/prometheus/api/v1/query",
            cluster.node("querier").url()
        ))
        .header("X-Scope-OrgID", "team-a")
        .query(&[("query", "crash")])
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("unhealthy"), "{text}");
}

#[tokio::test]
async fn a_lost_zone_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(
        dir.path(),
        Topology {
            ingester_zones: &["zone-a", "zone-a", "zone-b", "zone-b", "zone-c", "zone-c"],
            distributors: 1,
            replication_factor: 3,
            zone_aware: true,
            extra_yaml: LIMITS,
        },
    )
    .await;
    // Both ingesters of zone-b.
    survive_losing(&mut cluster, &["ingester-2", "ingester-3"]).await;
}

#[tokio::test]
async fn a_tenant_rate_limit_holds_across_two_distributors() {
    const RATE: f64 = 400.0;
    const SECONDS: u64 = 4;
    const BATCH: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let limits = format!("limits:\n  ingestion_rate: {RATE}\n  ingestion_burst_size: {RATE}\n");
    let cluster = Cluster::start(
        dir.path(),
        Topology {
            ingester_zones: &["", "", ""],
            distributors: 2,
            replication_factor: 3,
            zone_aware: false,
            extra_yaml: &limits,
        },
    )
    .await;
    // Both distributors see each other before the clock starts.
    for d in ["distributor-0", "distributor-1"] {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let m = crate::support::metrics_page(&cluster.node(d).url()).await;
            if m.contains("cairn_distributor_healthy_distributors 2") {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{d} does not see 2 distributors\n{m}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let client = http();
    let start = std::time::Instant::now();
    let mut accepted = 0usize;
    let mut t = now_ms() - 60_000;
    while start.elapsed() < Duration::from_secs(SECONDS) {
        for d in ["distributor-0", "distributor-1"] {
            let samples: Vec<(i64, f64)> = (0..BATCH)
                .map(|_| {
                    t += 1;
                    (t, 1.0)
                })
                .collect();
            let r = request(
                &client,
                &format!("{}/api/v1/push", cluster.node(d).url()),
                body(vec![series("limited", &[], &samples)]),
            )
            .header("X-Scope-OrgID", "team-a")
            .send()
            .await
            .unwrap();
            match r.status().as_u16() {
                200 => accepted += BATCH,
                429 => {}
                s => panic!("push answered {s}: {}", r.text().await.unwrap()),
            }
        }
    }
    let allowed = RATE * start.elapsed().as_secs_f64() + RATE;
    println!("accepted {accepted} samples; one tenant-wide limit allows about {allowed:.0}");
    assert!(
        (accepted as f64) < 1.4 * allowed,
        "two distributors accepted {accepted} samples, the limit allows about {allowed:.0}: each applied the whole limit"
    );
    assert!(
        (accepted as f64) > 0.6 * allowed,
        "accepted only {accepted} of about {allowed:.0} samples"
    );
}

#[tokio::test]
async fn shuffle_sharding_confines_a_tenant_to_its_shard() {
    let dir = tempfile::tempdir().unwrap();
    let overrides = dir.path().join("overrides.yaml");
    std::fs::write(
        &overrides,
        "overrides:\n  team-s:\n    ingestion_tenant_shard_size: 3\n",
    )
    .unwrap();
    let extra = format!("runtime_config:\n  file: {}\n", overrides.display());
    let cluster = Cluster::start(
        dir.path(),
        Topology {
            ingester_zones: &["zone-a", "zone-a", "zone-b", "zone-b", "zone-c", "zone-c"],
            distributors: 1,
            replication_factor: 3,
            zone_aware: true,
            extra_yaml: &extra,
        },
    )
    .await;
    let t = now_ms();
    for tenant in ["team-s", "team-t"] {
        let all = (0..60)
            .map(|i| series("sharded", &[("i", &i.to_string())], &[(t, 1.0)]))
            .collect();
        let r = request(
            &http(),
            &format!("{}/api/v1/push", cluster.node("distributor-0").url()),
            body(all),
        )
        .header("X-Scope-OrgID", tenant)
        .send()
        .await
        .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    // Which ingesters hold each tenant's samples.
    let mut holders = std::collections::BTreeMap::<&str, Vec<String>>::new();
    for n in cluster
        .nodes
        .iter()
        .filter(|n| n.name.starts_with("ingester"))
    {
        let metrics = crate::support::metrics_page(&n.url()).await;
        for tenant in ["team-s", "team-t"] {
            let key = format!("cairn_ingester_appended_samples_total{{tenant=\"{tenant}\"}}");
            if metrics.lines().any(|l| l.starts_with(&key)) {
                holders.entry(tenant).or_default().push(n.name.clone());
            }
        }
    }
    assert_eq!(holders["team-s"].len(), 3, "team-s's shard: {holders:?}");
    assert_eq!(
        holders["team-t"].len(),
        6,
        "team-t uses every ingester: {holders:?}"
    );
    // Reads find every series of the sharded tenant, each once.
    for tenant in ["team-s", "team-t"] {
        let body = crate::support::acked::query(
            &cluster.node("querier").url(),
            tenant,
            "count(sharded)",
            (t as f64) / 1000.0,
        )
        .await;
        assert_eq!(
            body["data"]["result"][0]["value"][1], "60",
            "{tenant}: {body}"
        );
    }
}
