//! Prometheus's rule and alert listings (`/api/v1/rules`, `/api/v1/alerts`)
//! in its JSON shape, from the stored groups and the state of their
//! evaluation on this replica.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use common::tenant::{TenantId, tenant_from_headers};
use common::time::rfc3339_nanos;
use serde_json::{Value, json};

use super::RulerApiError;
use crate::Ruler;
use crate::eval::alert::{Alert, AlertState};
use crate::eval::{GroupStatus, Health, RuleStatus};
use crate::rules::{Language, Rule, RuleGroup};

/// `rules` filters of `/api/v1/rules`.
#[derive(Debug, Default)]
struct Filters {
    kind: Option<bool>,
    rule_names: Vec<String>,
    groups: Vec<String>,
    files: Vec<String>,
    exclude_alerts: bool,
}

impl Filters {
    fn parse(params: &[(String, String)]) -> Result<Self, RulerApiError> {
        let mut f = Filters::default();
        for (k, v) in params {
            match k.as_str() {
                "type" => {
                    f.kind = match v.as_str() {
                        "alert" => Some(true),
                        "record" => Some(false),
                        "" => None,
                        other => {
                            return Err(RulerApiError::BadRequest(format!(
                                "unsupported type {other:?}: want \"alert\" or \"record\""
                            )));
                        }
                    }
                }
                "rule_name[]" => f.rule_names.push(v.clone()),
                "rule_group[]" => f.groups.push(v.clone()),
                "file[]" => f.files.push(v.clone()),
                "exclude_alerts" => f.exclude_alerts = v == "true",
                _ => {}
            }
        }
        Ok(f)
    }

    fn group(&self, ns: &str, g: &RuleGroup) -> bool {
        (self.files.is_empty() || self.files.iter().any(|f| f == ns))
            && (self.groups.is_empty() || self.groups.contains(&g.name))
    }

    fn rule(&self, r: &Rule) -> bool {
        self.kind.is_none_or(|alert| alert == r.is_alert())
            && (self.rule_names.is_empty() || self.rule_names.iter().any(|n| n == r.name()))
    }
}

/// Prometheus's `strconv.FormatFloat(v, 'e', -1, 64)`, e.g. `1e+00`.
fn value_text(v: f64) -> String {
    if !v.is_finite() {
        return querier::promql::format::go_g(v);
    }
    let s = format!("{v:e}");
    match s.split_once('e') {
        Some((m, e)) => {
            let e: i32 = e.parse().unwrap_or(0);
            format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
        }
        None => s,
    }
}

fn alert_json(a: &Alert) -> Value {
    let mut v = json!({
        "labels": a.labels,
        "annotations": a.annotations,
        "state": a.state.as_str(),
        "activeAt": rfc3339_nanos(a.active_at.saturating_mul(1_000_000)),
        "value": value_text(a.value),
    });
    if a.keep_firing_since != 0
        && let Some(obj) = v.as_object_mut()
    {
        obj.insert(
            "keepFiringSince".into(),
            rfc3339_nanos(a.keep_firing_since.saturating_mul(1_000_000)).into(),
        );
    }
    v
}

fn rule_json(r: &Rule, st: Option<&RuleStatus>, exclude_alerts: bool) -> Value {
    let (health, last_error, last_eval, eval_secs) =
        st.map_or((Health::Unknown, "", 0, 0.0), |s| {
            (
                s.health,
                s.last_error.as_str(),
                s.last_eval_ns,
                s.eval_seconds,
            )
        });
    let common = json!({
        "name": r.name(),
        "query": r.expr,
        "labels": r.labels,
        "health": health.as_str(),
        "lastError": last_error,
        "lastEvaluation": rfc3339_nanos(last_eval),
        "evaluationTime": eval_secs,
    });
    let mut obj = common.as_object().cloned().unwrap_or_default();
    if r.is_alert() {
        let alerts: Vec<Value> = if exclude_alerts {
            Vec::new()
        } else {
            st.map(|s| {
                s.alerts
                    .alerts()
                    .into_iter()
                    .filter(|a| a.state != AlertState::Inactive)
                    .map(alert_json)
                    .collect()
            })
            .unwrap_or_default()
        };
        let state = st.map_or(AlertState::Inactive, |s| s.alerts.state());
        obj.insert("state".into(), state.as_str().into());
        obj.insert("duration".into(), r.hold().as_secs_f64().into());
        obj.insert("keepFiringFor".into(), r.keep_firing().as_secs_f64().into());
        obj.insert("annotations".into(), json!(r.annotations));
        obj.insert("alerts".into(), alerts.into());
        obj.insert("type".into(), "alerting".into());
    } else {
        obj.insert("type".into(), "recording".into());
    }
    Value::Object(obj)
}

fn tenant_of(ruler: &Ruler, headers: &HeaderMap) -> Result<TenantId, RulerApiError> {
    Ok(tenant_from_headers(headers, ruler.multitenancy)?)
}

/// The tenant's groups of `langs` with their evaluation state, filtered.
async fn groups_json(
    ruler: &Ruler,
    tenant: &TenantId,
    langs: &[Language],
    f: &Filters,
) -> Result<Vec<Value>, RulerApiError> {
    let mut out = Vec::new();
    for &lang in langs {
        let states: HashMap<(String, String), GroupStatus> = ruler.manager.statuses(tenant, lang);
        for (ns, g) in ruler.store.list(tenant, lang).await? {
            if !f.group(&ns, &g) {
                continue;
            }
            let st = states.get(&(ns.clone(), g.name.clone()));
            let rules: Vec<Value> = g
                .rules
                .iter()
                .enumerate()
                .filter(|(_, r)| f.rule(r))
                .map(|(i, r)| {
                    let rs = st.and_then(|s| s.rules.get(i)).filter(|s| s.rule == *r);
                    rule_json(r, rs, f.exclude_alerts)
                })
                .collect();
            if rules.is_empty() && (f.kind.is_some() || !f.rule_names.is_empty()) {
                continue;
            }
            out.push(json!({
                "name": g.name,
                "file": ns,
                "rules": rules,
                "interval": g.interval_or(ruler.cfg.evaluation_interval).as_secs_f64(),
                "limit": g.limit,
                "lastEvaluation": rfc3339_nanos(st.map_or(0, |s| s.last_eval_ns)),
                "evaluationTime": st.map_or(0.0, |s| s.eval_seconds),
            }));
        }
    }
    Ok(out)
}

fn success(data: Value) -> Response {
    axum::Json(json!({ "status": "success", "data": data })).into_response()
}

/// `GET /prometheus/api/v1/rules`: the tenant's groups (PromQL and LogQL:
/// Grafana's Prometheus and Loki data sources both read this path), with
/// `type`, `rule_name[]`, `rule_group[]`, `file[]` and `exclude_alerts`.
pub(super) async fn rules(
    State(ruler): State<Arc<Ruler>>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, RulerApiError> {
    let tenant = tenant_of(&ruler, &headers)?;
    let f = Filters::parse(&params)?;
    let groups = groups_json(&ruler, &tenant, &[Language::Promql, Language::Logql], &f).await?;
    Ok(success(json!({ "groups": groups })))
}

fn active_alerts(ruler: &Ruler, tenant: &TenantId, langs: &[Language]) -> Vec<Value> {
    let mut out = Vec::new();
    for &lang in langs {
        let mut states: Vec<_> = ruler.manager.statuses(tenant, lang).into_iter().collect();
        states.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, g) in states {
            for r in &g.rules {
                out.extend(r.alerts.current().map(alert_json));
            }
        }
    }
    out
}

/// `GET /prometheus/api/v1/alerts`: the tenant's pending and firing alerts.
pub(super) async fn alerts(
    State(ruler): State<Arc<Ruler>>,
    headers: HeaderMap,
) -> Result<Response, RulerApiError> {
    let tenant = tenant_of(&ruler, &headers)?;
    let alerts = active_alerts(&ruler, &tenant, &[Language::Promql, Language::Logql]);
    Ok(success(json!({ "alerts": alerts })))
}

/// `GET /loki/api/v1/alerts`: the tenant's pending and firing LogQL alerts.
pub(super) async fn loki_alerts(
    State(ruler): State<Arc<Ruler>>,
    headers: HeaderMap,
) -> Result<Response, RulerApiError> {
    let tenant = tenant_of(&ruler, &headers)?;
    let alerts = active_alerts(&ruler, &tenant, &[Language::Logql]);
    Ok(success(json!({ "alerts": alerts })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_printed_like_prometheus() {
        assert_eq!(value_text(1.0), "1e+00");
        assert_eq!(value_text(2.5), "2.5e+00");
        assert_eq!(value_text(0.001), "1e-03");
        assert_eq!(value_text(12345.0), "1.2345e+04");
    }

    #[test]
    fn filters_parse_and_match() {
        let p = |pairs: &[(&str, &str)]| {
            Filters::parse(
                &pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<Vec<_>>(),
            )
        };
        assert!(p(&[("type", "bogus")]).is_err());
        let f = p(&[("type", "alert"), ("rule_name[]", "A"), ("file[]", "ns")]).unwrap();
        let g = crate::rules::parse_group(
            "name: g\nrules:\n- alert: A\n  expr: up\n- record: r\n  expr: up\n",
        )
        .unwrap();
        assert!(f.group("ns", &g));
        assert!(!f.group("other", &g));
        assert!(f.rule(&g.rules[0]));
        assert!(!f.rule(&g.rules[1]));
    }
}
