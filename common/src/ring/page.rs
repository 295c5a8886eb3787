//! The `/ring` status page: every member with its state, health, address,
//! last heartbeat and share of the token space, as HTML for people or JSON
//! (`Accept: application/json` or `?format=json`) for scripts.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::get;
use humantime_serde::re::humantime::format_rfc3339_seconds;
use serde::{Deserialize, Serialize};

use super::member::Member;
use super::placement::Ring;
use super::watcher::RingWatcher;

/// The router serving `GET /ring` from `watcher`'s current snapshot.
pub fn router(watcher: Arc<RingWatcher>) -> Router {
    Router::new()
        .route("/ring", get(ring_page))
        .with_state(watcher)
}

#[derive(Deserialize)]
struct PageParams {
    format: Option<String>,
}

#[derive(Serialize)]
struct RingView {
    members: Vec<MemberView>,
    replication_factor: usize,
    zone_awareness_enabled: bool,
}

#[derive(Serialize)]
struct MemberView {
    id: String,
    zone: String,
    state: &'static str,
    healthy: bool,
    http_addr: String,
    grpc_addr: String,
    /// RFC 3339, empty when never heard from.
    last_heartbeat: String,
    tokens: usize,
    /// Share of the token space, 0..=1.
    ownership: f64,
}

async fn ring_page(
    State(watcher): State<Arc<RingWatcher>>,
    Query(params): Query<PageParams>,
    headers: HeaderMap,
) -> Response {
    let view = view_of(&watcher.ring());
    let wants_json = params.format.as_deref() == Some("json")
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        Json(view).into_response()
    } else {
        Html(html_of(&view)).into_response()
    }
}

fn view_of(ring: &Ring) -> RingView {
    let ownership = ring.ownership();
    let members = ring
        .members()
        .iter()
        .zip(ownership)
        .map(|(m, (_, share))| member_view(m, ring.tokens_per_instance(), share))
        .collect();
    RingView {
        members,
        replication_factor: ring.replication_factor(),
        zone_awareness_enabled: ring.zone_awareness_enabled(),
    }
}

fn member_view(m: &Member, tokens: usize, ownership: f64) -> MemberView {
    MemberView {
        id: m.id.clone(),
        zone: m.zone.clone(),
        state: m.state.as_str(),
        healthy: m.healthy,
        http_addr: m.http_addr.clone(),
        grpc_addr: m.grpc_addr.clone(),
        last_heartbeat: m
            .last_heartbeat
            .map(|t| format_rfc3339_seconds(t).to_string())
            .unwrap_or_default(),
        tokens,
        ownership,
    }
}

fn html_of(view: &RingView) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Cairn ingester ring</title></head><body>\n<h1>Ingester ring</h1>\n",
    );
    let _ = writeln!(
        out,
        "<p>Replication factor {}, zone awareness {}.</p>",
        view.replication_factor,
        if view.zone_awareness_enabled {
            "on"
        } else {
            "off"
        }
    );
    out.push_str(
        "<table border=\"1\">\n<tr><th>ID</th><th>Zone</th><th>State</th><th>Health</th><th>Address</th><th>gRPC address</th><th>Last heartbeat</th><th>Tokens</th><th>Ownership</th></tr>\n",
    );
    for m in &view.members {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}%</td></tr>",
            escape(&m.id),
            escape(&m.zone),
            m.state,
            if m.healthy { "healthy" } else { "UNHEALTHY" },
            escape(&m.http_addr),
            escape(&m.grpc_addr),
            escape(&m.last_heartbeat),
            m.tokens,
            m.ownership * 100.0,
        );
    }
    out.push_str("</table>\n</body></html>\n");
    out
}

/// `s` safe to place in HTML text or a quoted attribute.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<b a="1">&'"#),
            "&lt;b a=&quot;1&quot;&gt;&amp;&#39;"
        );
    }
}
