//! Authentication and access policy (`auth.type: tokens`, per-tenant tokens,
//! scopes and source networks), HTTPS, and `cairn tool hash-token`, against
//! the real binary, real Prometheus and real HTTP clients.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::certs::TestCerts;
use crate::support::peers::Prometheus;
use crate::support::remote_write::{body, now_ms, request, series};
use crate::support::{Cairn, http, vector};

const A_WRITE: &str = "a-write-token-0001";
const A_READ: &str = "a-read-token-0002";
const A_ADMIN: &str = "a-admin-token-0003";
const A_RULES: &str = "a-rules-token-0004";
const B_ALL: &str = "b-all-token-0005";
const C_ALL: &str = "c-all-token-0006";

/// `cairn tool hash-token` run on `token` (also exercises the subcommand).
fn hash(token: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["tool", "hash-token"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{token}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "hash-token failed: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn token_yaml(name: &str, token: &str, scopes: &str) -> String {
    format!(
        "      - name: {name}\n        sha256: \"{}\"\n        scopes: [{scopes}]\n",
        hash(token)
    )
}

/// The overrides file: team-a has one token per scope, team-b one token,
/// team-c one token and only 127.0.0.1 as allowed source.
fn overrides_yaml() -> String {
    format!(
        "overrides:\n  team-a:\n    auth_tokens:\n{}{}{}{}  team-b:\n    auth_tokens:\n{}  team-c:\n    auth_tokens:\n{}    allowed_source_cidrs: [\"127.0.0.1/32\"]\n",
        token_yaml("a-writer", A_WRITE, "write"),
        token_yaml("a-reader", A_READ, "read"),
        token_yaml("a-admin", A_ADMIN, "admin"),
        token_yaml("a-rules", A_RULES, "rules"),
        token_yaml("b-all", B_ALL, "write, read"),
        token_yaml("c-all", C_ALL, "write, read"),
    )
}

/// Cairn under `auth.type: tokens` with `overrides` re-read every second.
async fn start_tokens(dir: &Path, server_yaml: &str, overrides: &str) -> (Cairn, PathBuf) {
    let file = dir.join("overrides.yaml");
    std::fs::write(&file, overrides).unwrap();
    let extra = format!(
        "auth:\n  type: tokens\nruntime_config:\n  file: {}\n  period: 1s\n",
        file.display()
    );
    let cairn = Cairn::start_with_server(dir, server_yaml, &extra, None).await;
    (cairn, file)
}

/// How a request presents itself.
#[derive(Debug, Clone, Copy)]
enum Cred {
    None,
    Bearer(&'static str),
    Basic(&'static str, &'static str),
}

fn with_cred(req: reqwest::RequestBuilder, tenant: &str, cred: Cred) -> reqwest::RequestBuilder {
    match cred {
        Cred::None => req.header("X-Scope-OrgID", tenant),
        Cred::Bearer(t) => req.header("X-Scope-OrgID", tenant).bearer_auth(t),
        Cred::Basic(user, password) => req.basic_auth(user, Some(password)),
    }
}

/// One route of the API and the request that exercises it.
struct Endpoint {
    method: &'static str,
    path: String,
    /// The team-a token lacking the scope the route needs.
    unscoped: &'static str,
    /// The team-a token carrying it.
    scoped: &'static str,
}

fn endpoints() -> Vec<Endpoint> {
    // Evaluate a second ahead so the sample just pushed is in range.
    let t = (now_ms() / 1000 + 1).to_string();
    let read = |path: String| Endpoint {
        method: "GET",
        path,
        unscoped: A_WRITE,
        scoped: A_READ,
    };
    let mut all = vec![
        Endpoint {
            method: "PUSH",
            path: "/api/v1/push".into(),
            unscoped: A_READ,
            scoped: A_WRITE,
        },
        Endpoint {
            method: "PUSH",
            path: "/api/v1/write".into(),
            unscoped: A_READ,
            scoped: A_WRITE,
        },
    ];
    for path in [
        format!("/prometheus/api/v1/query?query=secret_metric&time={t}"),
        format!(
            "/prometheus/api/v1/query_range?query=secret_metric&start={}&end={t}&step=15",
            now_ms() / 1000 - 300
        ),
        "/prometheus/api/v1/series?match[]=secret_metric".into(),
        "/prometheus/api/v1/labels".into(),
        "/prometheus/api/v1/label/__name__/values".into(),
        "/prometheus/api/v1/metadata".into(),
        format!("/prometheus/api/v1/query_exemplars?query=secret_metric&start=0&end={t}"),
        "/prometheus/api/v1/format_query?query=secret_metric".into(),
        "/prometheus/api/v1/status/buildinfo".into(),
    ] {
        all.push(read(path));
    }
    for (method, path) in [("POST", "/ingester/flush"), ("GET", "/runtime_config")] {
        all.push(Endpoint {
            method,
            path: path.into(),
            unscoped: A_WRITE,
            scoped: A_ADMIN,
        });
    }
    all
}

async fn call(cairn: &Cairn, ep: &Endpoint, tenant: &str, cred: Cred) -> (u16, String) {
    let client = http();
    let url = format!("{}{}", cairn.url(), ep.path);
    let req = match ep.method {
        "PUSH" => request(
            &client,
            &url,
            body(vec![series("intruder", &[], &[(now_ms(), 1.0)])]),
        ),
        "POST" => client.post(&url),
        _ => client.get(&url),
    };
    let r = with_cred(req, tenant, cred).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn query_as(cairn: &Cairn, tenant: &str, cred: Cred, q: &str) -> (u16, String) {
    let url = format!("{}/prometheus/api/v1/query", cairn.url());
    let req = http().get(url).query(&[
        ("query", q),
        ("time", &(now_ms() as f64 / 1000.0).to_string()),
    ]);
    let r = with_cred(req, tenant, cred).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn get_text(url: String) -> (u16, String) {
    let r = http().get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn every_endpoint_refuses_missing_wrong_foreign_and_unscoped_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let (cairn, _) = start_tokens(dir.path(), "", &overrides_yaml()).await;
    let t = now_ms();
    let seed = request(
        &http(),
        &format!("{}/api/v1/push", cairn.url()),
        body(vec![series("secret_metric", &[], &[(t, 42.0)])]),
    );
    let r = with_cred(seed, "team-a", Cred::Bearer(A_WRITE))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());

    let secrets = [A_WRITE, A_READ, A_ADMIN, A_RULES, B_ALL, C_ALL];
    let hashes: Vec<String> = secrets.iter().map(|s| hash(s)).collect();
    for ep in endpoints() {
        let refused = [
            (Cred::None, 401),
            (Cred::Bearer("not-a-token"), 401),
            (Cred::Basic("team-a", "not-a-token"), 401),
            (Cred::Bearer(B_ALL), 401),
            (Cred::Basic("team-a", B_ALL), 401),
            (Cred::Bearer(ep.unscoped), 403),
            (Cred::Basic("team-a", ep.unscoped), 403),
        ];
        for (cred, want) in refused {
            let (status, text) = call(&cairn, &ep, "team-a", cred).await;
            assert_eq!(
                status, want,
                "{} {} with {cred:?}: {text}",
                ep.method, ep.path
            );
            assert!(
                !text.contains("secret_metric"),
                "{}: data leaked: {text}",
                ep.path
            );
            assert!(
                !text.contains("uploaded_blocks"),
                "{}: flushed: {text}",
                ep.path
            );
        }
        let (status, text) = call(&cairn, &ep, "team-a", Cred::Bearer(ep.scoped)).await;
        assert_eq!(
            status, 200,
            "{} {} with its token: {text}",
            ep.method, ep.path
        );
        for (secret, hash) in secrets.iter().zip(&hashes) {
            assert!(
                !text.contains(secret) && !text.contains(hash.as_str()),
                "{}: {text}",
                ep.path
            );
        }
        if ep.path == "/runtime_config" {
            assert!(
                text.contains("a-writer") && text.contains("<redacted>"),
                "{text}"
            );
        }
        if ep.path.contains("query?") {
            assert!(
                text.contains("secret_metric"),
                "right token gets no data: {text}"
            );
        }
    }
    // Only the right-token pushes stored anything: one `intruder` series
    // (pushes carry the same series, so refused ones would add samples not
    // series; count the samples).
    let (status, text) = query_as(
        &cairn,
        "team-a",
        Cred::Bearer(A_READ),
        "count_over_time(intruder[10m])",
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let got = vector(&serde_json::from_str::<Value>(&text).unwrap());
    assert_eq!(got.len(), 1, "{text}");
    assert_eq!(got[0].1, "2", "refused pushes stored samples: {text}");

    // A token of team-a cannot read team-b; multi-tenant reads need a read
    // token of each tenant.
    for cred in [Cred::Bearer(A_READ), Cred::Basic("team-b", A_READ)] {
        let (status, text) = query_as(&cairn, "team-b", cred, "secret_metric").await;
        assert_eq!(status, 401, "{cred:?}: {text}");
    }
    let (status, text) = query_as(
        &cairn,
        "team-a|team-b",
        Cred::Bearer(A_READ),
        "secret_metric",
    )
    .await;
    assert_eq!(status, 401, "{text}");
    let url = format!("{}/prometheus/api/v1/query", cairn.url());
    let r = http()
        .get(url)
        .query(&[
            ("query", "secret_metric"),
            ("time", &(t as f64 / 1000.0).to_string()),
        ])
        .header("X-Scope-OrgID", "team-a|team-b")
        .bearer_auth(A_READ)
        .header("Authorization", format!("Bearer {B_ALL}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap().contains("team-a"));
    // Header and basic-auth user naming different tenants: 401 naming both.
    let req = http()
        .get(format!("{}/prometheus/api/v1/labels", cairn.url()))
        .header("X-Scope-OrgID", "team-a")
        .basic_auth("team-b", Some(B_ALL));
    let r = req.send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let text = r.text().await.unwrap();
    assert!(text.contains("team-a") && text.contains("team-b"), "{text}");

    // Routes other crates add under known prefixes are covered already:
    // refused without the scope, passed to the router with it.
    for (method, path, unscoped, scoped) in [
        ("POST", "/loki/api/v1/push", A_READ, Some(A_WRITE)),
        ("POST", "/otlp/v1/traces", A_READ, Some(A_WRITE)),
        ("POST", "/v1/traces", A_READ, Some(A_WRITE)),
        ("GET", "/loki/api/v1/tail", A_WRITE, Some(A_READ)),
        ("GET", "/api/search", A_WRITE, Some(A_READ)),
        ("GET", "/prometheus/api/v1/rules", A_WRITE, Some(A_RULES)),
        (
            "POST",
            "/prometheus/config/v1/rules/ns",
            A_READ,
            Some(A_RULES),
        ),
        (
            "DELETE",
            "/loki/api/v1/rules/ns/group",
            A_READ,
            Some(A_RULES),
        ),
        ("POST", "/compactor/run", A_WRITE, Some(A_ADMIN)),
        // Not called with its token: it would stop the ingester.
        ("POST", "/ingester/shutdown", A_WRITE, None),
    ] {
        let send = |token: Option<&'static str>| {
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let mut req = http()
                .request(method, format!("{}{path}", cairn.url()))
                .header("X-Scope-OrgID", "team-a");
            if let Some(token) = token {
                req = req.bearer_auth(token);
            }
            async move { req.send().await.unwrap().status().as_u16() }
        };
        assert_eq!(send(None).await, 401, "{method} {path}");
        assert_eq!(send(Some(unscoped)).await, 403, "{method} {path}");
        if let Some(scoped) = scoped {
            // 404 until the route exists, then whatever it answers an empty request.
            let passed = send(Some(scoped)).await;
            assert!(![401, 403].contains(&passed), "{method} {path}: {passed}");
        }
    }

    // Unknown routes need admin; operational endpoints stay open and print no secrets.
    let (status, _) = get_text(format!("{}/ring", cairn.url())).await;
    assert_eq!(status, 401);
    for path in ["/ready", "/metrics", "/config"] {
        let (status, text) = get_text(format!("{}{path}", cairn.url())).await;
        assert_eq!(status, 200, "{path}");
        for (secret, hash) in secrets.iter().zip(&hashes) {
            assert!(
                !text.contains(secret) && !text.contains(hash.as_str()),
                "{path}: {text}"
            );
        }
    }
    let (_, metrics) = get_text(format!("{}/metrics", cairn.url())).await;
    for want in [
        r#"cairn_auth_failures_total{tenant="team-a",reason="invalid-token"}"#,
        r#"cairn_auth_failures_total{tenant="team-a",reason="missing-token"}"#,
        r#"cairn_auth_failures_total{tenant="team-a",reason="missing-scope"}"#,
        r#"cairn_auth_failures_total{tenant="",reason="tenant-mismatch"} 1"#,
    ] {
        assert!(metrics.contains(want), "{want} missing:\n{metrics}");
    }
    let log = cairn.log();
    assert!(log.contains("request refused"), "{log}");
    for secret in secrets {
        assert!(!log.contains(secret), "secret in log");
    }
}

#[tokio::test]
async fn prometheus_writes_with_its_basic_auth_token_and_not_with_a_wrong_one() {
    let dir = tempfile::tempdir().unwrap();
    let (cairn, _) = start_tokens(dir.path(), "", &overrides_yaml()).await;
    let push_url = format!("{}/api/v1/push", cairn.url());
    let (good_dir, bad_dir) = (dir.path().join("good"), dir.path().join("bad"));
    std::fs::create_dir_all(&good_dir).unwrap();
    std::fs::create_dir_all(&bad_dir).unwrap();
    let good = Prometheus::start_with_password(&good_dir, &push_url, "team-a", A_WRITE).await;
    let bad = Prometheus::start_with_password(&bad_dir, &push_url, "team-a", "wrong").await;

    let good_up = format!("up{{instance=\"127.0.0.1:{}\"}}", good.port);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, text) = query_as(&cairn, "team-a", Cred::Bearer(A_READ), &good_up).await;
        assert_eq!(status, 200, "{text}");
        if !vector(&serde_json::from_str::<Value>(&text).unwrap()).is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus's samples never arrived:\n{}",
            cairn.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The wrong password has been tried (and refused) by now.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, metrics) = get_text(format!("{}/metrics", cairn.url())).await;
        if metrics.contains(r#"cairn_auth_failures_total{tenant="team-a",reason="invalid-token"}"#)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no refused write counted:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let bad_up = format!(
        "count_over_time(up{{instance=\"127.0.0.1:{}\"}}[10m])",
        bad.port
    );
    let (status, text) = query_as(&cairn, "team-a", Cred::Bearer(A_READ), &bad_up).await;
    assert_eq!(status, 200, "{text}");
    assert!(
        vector(&serde_json::from_str::<Value>(&text).unwrap()).is_empty(),
        "the wrong password stored data: {text}"
    );

    // A read-only token cannot write, whatever the client.
    let req = request(
        &http(),
        &push_url,
        body(vec![series("ro", &[], &[(now_ms(), 1.0)])]),
    )
    .basic_auth("team-a", Some(A_READ));
    let r = req.send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("a-reader") && text.contains("write"),
        "{text}"
    );
}

#[tokio::test]
async fn sources_outside_allowed_cidrs_get_403_and_trusted_proxies_are_believed() {
    let dir = tempfile::tempdir().unwrap();
    let server = "  trusted_proxies: [\"127.0.0.2/32\"]\n";
    let (cairn, _) = start_tokens(dir.path(), server, &overrides_yaml()).await;
    let from = |ip: [u8; 4]| {
        http();
        reqwest::Client::builder()
            .local_address(IpAddr::from(ip))
            .build()
            .unwrap()
    };
    let labels = format!("{}/prometheus/api/v1/labels", cairn.url());
    let get = |client: reqwest::Client, xff: Option<&'static str>| {
        let mut req = client
            .get(&labels)
            .header("X-Scope-OrgID", "team-c")
            .bearer_auth(C_ALL);
        if let Some(xff) = xff {
            req = req.header("X-Forwarded-For", xff);
        }
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(get(from([127, 0, 0, 1]), None).await.0, 200);
    let (status, text) = get(from([127, 0, 0, 3]), None).await;
    assert_eq!(status, 403, "{text}");
    assert!(
        text.contains("127.0.0.3") && text.contains("allowed_source_cidrs"),
        "{text}"
    );
    // An untrusted peer cannot claim an allowed address.
    assert_eq!(get(from([127, 0, 0, 3]), Some("127.0.0.1")).await.0, 403);
    // The trusted proxy's word is taken, both ways.
    assert_eq!(get(from([127, 0, 0, 2]), Some("127.0.0.1")).await.0, 200);
    assert_eq!(get(from([127, 0, 0, 2]), Some("127.0.0.9")).await.0, 403);
    assert_eq!(get(from([127, 0, 0, 2]), None).await.0, 403);
    // Writes too: nothing from outside is stored.
    let req = request(
        &from([127, 0, 0, 3]),
        &format!("{}/api/v1/push", cairn.url()),
        body(vec![series("outside", &[], &[(now_ms(), 1.0)])]),
    );
    let r = with_cred(req, "team-c", Cred::Bearer(C_ALL))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let (_, text) = query_as(&cairn, "team-c", Cred::Bearer(C_ALL), "outside").await;
    assert!(
        vector(&serde_json::from_str::<Value>(&text).unwrap()).is_empty(),
        "{text}"
    );
}

#[tokio::test]
async fn new_and_revoked_tokens_apply_within_15s_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (cairn, file) = start_tokens(dir.path(), "", &overrides_yaml()).await;
    const NEW: &str = "rotated-token-0007";
    let labels = |token: &'static str| query_as(&cairn, "team-b", Cred::Bearer(token), "up");
    assert_eq!(labels(B_ALL).await.0, 200);
    assert_eq!(labels(NEW).await.0, 401);
    let rotated = overrides_yaml().replace(&hash(B_ALL), &hash(NEW));
    std::fs::write(&file, rotated).unwrap();
    let start = Instant::now();
    loop {
        if labels(NEW).await.0 == 200 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "new token not accepted after 15s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("token rotation applied after {:?}", start.elapsed());
    assert_eq!(labels(B_ALL).await.0, 401, "revoked token still accepted");
}

#[tokio::test]
async fn https_round_trip_and_certificate_reload() {
    let dir = tempfile::tempdir().unwrap();
    let first = TestCerts::generate(&dir.path().join("first"));
    let server = format!(
        "  tls:\n    cert_file: {}\n    key_file: {}\n",
        first.cert.display(),
        first.key.display()
    );
    let cairn = Cairn::start_with_server(dir.path(), &server, "", Some(&first.client())).await;
    assert!(cairn.url().starts_with("https://"));
    let t = now_ms();
    let req = request(
        &first.client(),
        &format!("{}/api/v1/push", cairn.url()),
        body(vec![series("over_tls", &[], &[(t, 5.0)])]),
    );
    let r = req.header("X-Scope-OrgID", "team-a").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = first
        .client()
        .get(format!("{}/prometheus/api/v1/query", cairn.url()))
        .query(&[
            ("query", "over_tls"),
            ("time", &(t as f64 / 1000.0).to_string()),
        ])
        .header("X-Scope-OrgID", "team-a")
        .send()
        .await
        .unwrap();
    let got = vector(&r.json::<Value>().await.unwrap());
    assert_eq!(got.len(), 1);
    // Under `trust` too, a header and a basic-auth user that disagree get 401.
    let r = first
        .client()
        .get(format!("{}/prometheus/api/v1/labels", cairn.url()))
        .header("X-Scope-OrgID", "team-a")
        .basic_auth("team-b", Some("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // Plain HTTP to the TLS port gets no answer.
    assert!(
        http()
            .get(format!("http://127.0.0.1:{}/ready", cairn.port))
            .send()
            .await
            .is_err()
    );

    // Replace the pair in place: new connections get the new certificate.
    let second = TestCerts::generate(&dir.path().join("second"));
    let ready = format!("{}/ready", cairn.url());
    assert!(second.client().get(&ready).send().await.is_err());
    std::fs::copy(&second.key, &first.key).unwrap();
    std::fs::copy(&second.cert, &first.cert).unwrap();
    let start = Instant::now();
    while second.client().get(&ready).send().await.is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "certificate not reloaded:\n{}",
            cairn.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("certificate reload seen after {:?}", start.elapsed());
    // `first`'s CA file is untouched: its clients now distrust the server.
    assert!(first.client().get(&ready).send().await.is_err());
}

#[tokio::test]
async fn hash_token_prints_sha256_of_stdin() {
    // sha256("secret"), as `printf secret | sha256sum` prints it.
    let want = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";
    assert_eq!(hash("secret"), want);
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["tool", "hash-token"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "empty stdin: {out:?}");
}
