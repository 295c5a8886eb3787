//! The rule configuration API (Mimir's and Loki's, as `mimirtool rules`,
//! `lokitool rules`, cortextool and the Terraform providers call it):
//! groups listed and fetched as YAML, one group per POST, deletes of a
//! group or a whole namespace.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use common::tenant::{TenantId, tenant_from_headers};

use super::{Api, RulerApiError};
use crate::rules::{self, RuleGroup};

fn tenant(api: &Api, headers: &HeaderMap) -> Result<TenantId, RulerApiError> {
    Ok(tenant_from_headers(headers, api.ruler.multitenancy)?)
}

fn yaml<T: serde::Serialize>(value: &T) -> Result<Response, RulerApiError> {
    let text = serde_saphyr::to_string(value).map_err(|e| RulerApiError::Encode(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "application/yaml")], text).into_response())
}

/// Mimir's answer to an accepted change.
fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({
            "status": "success", "data": null, "errorType": "", "error": ""
        })),
    )
        .into_response()
}

fn by_namespace(groups: Vec<(String, RuleGroup)>) -> BTreeMap<String, Vec<RuleGroup>> {
    let mut out: BTreeMap<String, Vec<RuleGroup>> = BTreeMap::new();
    for (ns, g) in groups {
        out.entry(ns).or_default().push(g);
    }
    out
}

/// `GET …/rules`: every group, by namespace; 404 when there are none.
pub(super) async fn list_all(
    State(api): State<Api>,
    headers: HeaderMap,
) -> Result<Response, RulerApiError> {
    let tenant = tenant(&api, &headers)?;
    let groups = api.ruler.store.list(&tenant, api.lang).await?;
    if groups.is_empty() {
        return Err(RulerApiError::NotFound("no rule groups found"));
    }
    yaml(&by_namespace(groups))
}

/// `GET …/rules/<namespace>`: the namespace's groups; 404 when none.
pub(super) async fn list_namespace(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(namespace): Path<String>,
) -> Result<Response, RulerApiError> {
    let tenant = tenant(&api, &headers)?;
    let groups: Vec<_> = api
        .ruler
        .store
        .list(&tenant, api.lang)
        .await?
        .into_iter()
        .filter(|(ns, _)| *ns == namespace)
        .collect();
    if groups.is_empty() {
        return Err(RulerApiError::NotFound("no rule groups found"));
    }
    yaml(&by_namespace(groups))
}

/// `GET …/rules/<namespace>/<group>`: one group.
pub(super) async fn get_group(
    State(api): State<Api>,
    headers: HeaderMap,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Response, RulerApiError> {
    let tenant = tenant(&api, &headers)?;
    match api
        .ruler
        .store
        .get(&tenant, api.lang, &namespace, &name)
        .await?
    {
        Some(g) => yaml(&g),
        None => Err(RulerApiError::NotFound("group does not exist")),
    }
}

/// `POST …/rules/<namespace>` with one group's YAML: validates it against
/// the language and the tenant's limits, then creates or replaces it.
pub(super) async fn set_group(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(namespace): Path<String>,
    body: Bytes,
) -> Result<Response, RulerApiError> {
    let tenant = tenant(&api, &headers)?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| RulerApiError::BadRequest("rule group body must be UTF-8 YAML".into()))?;
    let group = rules::parse_group(text)?;
    let limits = api.ruler.overrides.get(&tenant);
    rules::validate(&group, api.lang, limits.ruler_max_rules_per_rule_group)?;
    let store = &api.ruler.store;
    let max_groups = limits.ruler_max_rule_groups_per_tenant;
    if max_groups > 0
        && store
            .get(&tenant, api.lang, &namespace, &group.name)
            .await?
            .is_none()
    {
        let current = store.count(&tenant, api.lang).await?;
        if current >= max_groups {
            return Err(RulerApiError::TooManyGroups {
                limit: max_groups,
                current,
            });
        }
    }
    store.put(&tenant, api.lang, &namespace, &group).await?;
    tracing::info!(%tenant, %namespace, group = %group.name, language = api.lang.as_str(), "rule group stored");
    api.ruler.manager.wake();
    Ok(accepted())
}

/// `DELETE …/rules/<namespace>/<group>`.
pub(super) async fn delete_group(
    State(api): State<Api>,
    headers: HeaderMap,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Response, RulerApiError> {
    let tenant = tenant(&api, &headers)?;
    if !api
        .ruler
        .store
        .delete_group(&tenant, api.lang, &namespace, &name)
        .await?
    {
        return Err(RulerApiError::NotFound("group does not exist"));
    }
    api.ruler.manager.wake();
    Ok(accepted())
}

/// `DELETE …/rules/<namespace>`: every group of the namespace.
pub(super) async fn delete_namespace(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(namespace): Path<String>,
) -> Result<Response, RulerApiError> {
    let tenant = tenant(&api, &headers)?;
    if api
        .ruler
        .store
        .delete_namespace(&tenant, api.lang, &namespace)
        .await?
        == 0
    {
        return Err(RulerApiError::NotFound("namespace does not exist"));
    }
    api.ruler.manager.wake();
    Ok(accepted())
}
