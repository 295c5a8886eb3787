//! What a token may do ([`Scope`]) and what each HTTP route needs
//! ([`classify`]). Routes are classified by path prefix, so a route another
//! crate adds under a known prefix is covered without touching this file, and
//! an unknown path needs `admin`: nothing new is ever accidentally open.

use std::fmt;

use axum::http::Method;
use serde::{Deserialize, Serialize};

/// A permission a token carries (`scopes: [write, read, rules, admin]`).
/// Scopes are independent: `admin` does not imply `read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Push samples, log lines and spans.
    Write,
    /// Query metrics, logs and traces, and list rules and alerts.
    Read,
    /// Create, change and delete recording and alerting rules.
    Rules,
    /// Operational actions: flush, shutdown, compaction, runtime config.
    Admin,
}

impl Scope {
    /// The scope's name as written in the overrides file.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Write => "write",
            Scope::Read => "read",
            Scope::Rules => "rules",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a request to a route must prove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Nothing: probes and self-metrics (`/ready`, `/metrics`, `/config`).
    Open,
    /// A token of every named tenant carrying any one of these scopes.
    AnyOf(&'static [Scope]),
}

const WRITE: Access = Access::AnyOf(&[Scope::Write]);
const READ: Access = Access::AnyOf(&[Scope::Read]);
/// Listing rules is part of reading (Grafana's data sources show them with
/// a read token) and of managing them (a rules-sync tool diffs first).
const READ_RULES: Access = Access::AnyOf(&[Scope::Read, Scope::Rules]);
const RULES: Access = Access::AnyOf(&[Scope::Rules]);
const ADMIN: Access = Access::AnyOf(&[Scope::Admin]);

/// Exact paths that stay open: probes (readiness, and the ring member
/// descriptor other services read without credentials), metrics, config.
const OPEN_PATHS: &[&str] = &["/ready", "/ingester/ring", "/metrics", "/config"];
/// Exact paths and prefixes that write data.
const WRITE_PATHS: &[&str] = &[
    "/api/v1/push",
    "/api/v1/write",
    "/loki/api/v1/push",
    "/v1/traces",
    "/v1/metrics",
    "/v1/logs",
];
const WRITE_PREFIXES: &[&str] = &["/otlp/v1/"];
/// Rule management APIs (Mimir's and Loki's rulers).
const RULES_PREFIXES: &[&str] = &["/prometheus/config/v1/rules", "/loki/api/v1/rules"];
/// Rule and alert listings under the query APIs.
const RULE_LISTINGS: &[&str] = &[
    "/prometheus/api/v1/rules",
    "/prometheus/api/v1/alerts",
    "/loki/api/v1/alerts",
];
/// Query APIs of the three signals.
const READ_PREFIXES: &[&str] = &[
    "/prometheus/api/v1/",
    "/loki/api/v1/",
    "/api/traces",
    "/api/search",
    "/api/v2/",
    "/api/echo",
    "/api/metrics/",
];

/// The access a request with `method` to `path` needs. Unknown paths
/// (including `/ingester/*`, `/compactor/*`, `/runtime_config`) need `admin`.
pub fn classify(method: &Method, path: &str) -> Access {
    let is = |paths: &[&str]| paths.contains(&path);
    let under = |prefixes: &[&str]| prefixes.iter().any(|p| path.starts_with(p));
    if is(OPEN_PATHS) {
        Access::Open
    } else if is(WRITE_PATHS) || under(WRITE_PREFIXES) {
        WRITE
    } else if under(RULES_PREFIXES) {
        if method == Method::GET {
            READ_RULES
        } else {
            RULES
        }
    } else if under(RULE_LISTINGS) {
        READ_RULES
    } else if under(READ_PREFIXES) {
        READ
    } else {
        ADMIN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_classified_by_prefix_and_unknown_needs_admin() {
        let get = Method::GET;
        let post = Method::POST;
        let cases: &[(&Method, &str, Access)] = &[
            (&get, "/ready", Access::Open),
            (&get, "/ingester/ring", Access::Open),
            (&get, "/metrics", Access::Open),
            (&get, "/config", Access::Open),
            (&post, "/api/v1/push", WRITE),
            (&post, "/api/v1/write", WRITE),
            (&post, "/loki/api/v1/push", WRITE),
            (&post, "/otlp/v1/metrics", WRITE),
            (&post, "/otlp/v1/logs", WRITE),
            (&post, "/v1/traces", WRITE),
            (&post, "/v1/metrics", WRITE),
            (&post, "/v1/logs", WRITE),
            (&get, "/prometheus/api/v1/query", READ),
            (&post, "/prometheus/api/v1/series", READ),
            (&get, "/prometheus/api/v1/label/job/values", READ),
            (&get, "/prometheus/api/v1/rules", READ_RULES),
            (&get, "/prometheus/api/v1/alerts", READ_RULES),
            (&get, "/loki/api/v1/query_range", READ),
            (&get, "/loki/api/v1/tail", READ),
            (&get, "/loki/api/v1/rules/ns", READ_RULES),
            (&post, "/loki/api/v1/rules/ns", RULES),
            (&get, "/prometheus/config/v1/rules", READ_RULES),
            (&post, "/prometheus/config/v1/rules/ns", RULES),
            (&Method::DELETE, "/prometheus/config/v1/rules/ns/g", RULES),
            (&get, "/api/traces/0102", READ),
            (&get, "/api/v2/traces/0102", READ),
            (&get, "/api/search/tags", READ),
            (&get, "/api/echo", READ),
            (&get, "/api/metrics/query_range", READ),
            (&get, "/api/metrics/query", READ),
            (&post, "/ingester/flush", ADMIN),
            (&post, "/ingester/shutdown", ADMIN),
            (&post, "/compactor/run", ADMIN),
            (&get, "/runtime_config", ADMIN),
            (&get, "/ring", ADMIN),
            (&get, "/some/new/route", ADMIN),
            (&get, "/ready/", ADMIN),
            (&get, "/metrics/../ingester/flush", ADMIN),
            (&post, "/api/v1/pushx", ADMIN),
        ];
        for (method, path, want) in cases {
            assert_eq!(classify(method, path), *want, "{method} {path}");
        }
    }
}
