//! Tenancy: isolation, missing and hostile tenant IDs.

use crate::support::remote_write::{now_ms, push, series};
use crate::support::{Cairn, vector};

#[tokio::test]
async fn tenant_b_never_sees_tenant_a() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = Cairn::start(dir.path(), "").await;
    let t = now_ms();
    let (status, body) = push(
        &cairn.url(),
        Some("team-a"),
        vec![series("secret", &[("job", "a")], &[(t, 42.0)])],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let at = t as f64 / 1000.0;
    let a = vector(&cairn.query("team-a", "secret", at).await);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].1, "42");
    assert!(vector(&cairn.query("team-b", "secret", at).await).is_empty());
    assert!(vector(&cairn.query("team-b", "{__name__=~\".+\"}", at).await).is_empty());
    let labels: serde_json::Value = crate::support::http()
        .get(format!(
            "{}/prometheus/api/v1/label/__name__/values",
            cairn.url()
        ))
        .header("X-Scope-OrgID", "team-b")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(labels["data"], serde_json::json!([]), "{labels}");
}

#[tokio::test]
async fn missing_tenant_is_401_on_write_and_read() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = Cairn::start(dir.path(), "").await;
    let (status, body) = push(
        &cairn.url(),
        None,
        vec![series("m", &[], &[(now_ms(), 1.0)])],
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("X-Scope-OrgID"), "{body}");
    let r = crate::support::http()
        .get(format!("{}/prometheus/api/v1/query?query=up", cairn.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

#[tokio::test]
async fn hostile_tenant_id_is_400_and_writes_nothing_outside_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    std::fs::create_dir(&data).unwrap();
    let cairn = Cairn::start(&data, "").await;
    for hostile in ["../etc", "..", "a/b", "x y"] {
        let (status, body) = push(
            &cairn.url(),
            Some(hostile),
            vec![series("m", &[], &[(now_ms(), 1.0)])],
        )
        .await;
        assert_eq!(status, 400, "{hostile}: {body}");
        assert!(body.contains("invalid tenant ID"), "{body}");
    }
    cairn.flush().await;
    let outside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        outside,
        vec![std::ffi::OsString::from("d")],
        "something was written beside the data dir"
    );
    for sub in ["wal", "bucket"] {
        let names: Vec<String> = std::fs::read_dir(data.join(sub))
            .map(|rd| {
                rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            names.iter().all(|n| n != "etc" && n != ".."),
            "{sub}: {names:?}"
        );
    }
}

#[tokio::test]
async fn single_tenant_mode_serves_anonymous_without_header() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = Cairn::start(dir.path(), "multitenancy_enabled: false\n").await;
    let t = now_ms();
    let (status, body) = push(&cairn.url(), None, vec![series("solo", &[], &[(t, 7.0)])]).await;
    assert_eq!(status, 200, "{body}");
    let got = vector(&cairn.query("ignored", "solo", t as f64 / 1000.0).await);
    assert_eq!(got.len(), 1);
    assert!(dir.path().join("wal/anonymous").is_dir());
}

#[tokio::test]
async fn reads_naming_several_tenants_merge_them_with_a_tenant_label() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = Cairn::start(dir.path(), "").await;
    let t = now_ms();
    for (tenant, v) in [("team-a", 1.0), ("team-b", 2.0), ("team-c", 3.0)] {
        let (status, body) = push(
            &cairn.url(),
            Some(tenant),
            vec![series("shared", &[], &[(t, v)])],
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let got = vector(
        &cairn
            .query("team-a|team-b", "shared", t as f64 / 1000.0)
            .await,
    );
    let tenants: Vec<(&str, &str)> = got
        .iter()
        .map(|(m, v)| (m["__tenant_id__"].as_str().unwrap(), v.as_str()))
        .collect();
    assert_eq!(tenants, vec![("team-a", "1"), ("team-b", "2")]);
    let sum = vector(
        &cairn
            .query("team-a|team-b", "sum(shared)", t as f64 / 1000.0)
            .await,
    );
    assert_eq!(sum[0].1, "3");
}
