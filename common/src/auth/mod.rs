//! Who may do what: tenant tokens, scopes and source networks, checked the
//! same way for every surface (HTTP middleware, OTLP/gRPC metadata, the Loki
//! tail WebSocket) through [`Authenticator::authorize`].
//!
//! Under `auth.type: trust` (the default) the tenant named by
//! `X-Scope-OrgID` or the basic-auth user is believed, as Mimir does; under
//! `tokens` each named tenant must also be proven by one of its tokens
//! (`auth_tokens` in the runtime overrides) carrying the scope the route
//! needs. In both modes a tenant's `allowed_source_cidrs` is enforced.

pub mod cidr;
pub mod scope;
pub mod source;
pub mod token;

use std::net::IpAddr;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};

use self::cidr::Cidr;
use self::scope::{Access, Scope};
use self::source::client_ip;
use self::token::presented_tokens;
use crate::limits::Overrides;
use crate::tenant::{TenantError, TenantId, tenants_from_headers};

/// How requests prove their tenant (`auth.type`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Believe the tenant a request names; passwords are ignored.
    #[default]
    Trust,
    /// Every request carries a token of each tenant it names.
    Tokens,
}

/// `auth:` in the main config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// `trust` or `tokens`.
    #[serde(rename = "type")]
    pub mode: AuthMode,
}

/// Why a request was refused. [`AuthError::status`] is the one mapping to
/// HTTP status codes (gRPC maps 401 → UNAUTHENTICATED, 403 → PERMISSION_DENIED).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No usable tenant (missing, invalid, or header and user disagree).
    #[error(transparent)]
    Tenant(#[from] TenantError),
    /// `tokens` mode and the request presents no token.
    #[error(
        "no token for tenant {tenant}: send it as the basic-auth password or as Authorization: Bearer <token>"
    )]
    MissingToken {
        /// The tenant the request names.
        tenant: TenantId,
    },
    /// None of the presented tokens belongs to the tenant.
    #[error("the token is not valid for tenant {tenant}")]
    InvalidToken {
        /// The tenant the request names.
        tenant: TenantId,
    },
    /// The tenant's token does not carry the scope the route needs.
    #[error("token {token:?} of tenant {tenant} lacks the `{scope}` scope this request needs")]
    MissingScope {
        /// The tenant.
        tenant: TenantId,
        /// The token's name (never the secret).
        token: String,
        /// The scope needed (the first one, where several would do).
        scope: Scope,
    },
    /// The client's address is outside the tenant's `allowed_source_cidrs`.
    #[error("source address {client} is not in tenant {tenant}'s allowed_source_cidrs")]
    SourceNotAllowed {
        /// The tenant.
        tenant: TenantId,
        /// The client's address (after trusted-proxy `X-Forwarded-For`).
        client: IpAddr,
    },
}

impl AuthError {
    /// 401 when identity is missing or unproven, 403 when it is proven but
    /// not allowed, 400 for a malformed tenant ID.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Tenant(TenantError::Missing | TenantError::Mismatch { .. })
            | Self::MissingToken { .. }
            | Self::InvalidToken { .. } => StatusCode::UNAUTHORIZED,
            Self::Tenant(TenantError::Invalid(_) | TenantError::Multiple) => {
                StatusCode::BAD_REQUEST
            }
            Self::MissingScope { .. } | Self::SourceNotAllowed { .. } => StatusCode::FORBIDDEN,
        }
    }

    /// The `reason` label of `cairn_auth_failures_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Tenant(TenantError::Missing) => "missing-tenant",
            Self::Tenant(TenantError::Mismatch { .. }) => "tenant-mismatch",
            Self::Tenant(TenantError::Invalid(_) | TenantError::Multiple) => "invalid-tenant",
            Self::MissingToken { .. } => "missing-token",
            Self::InvalidToken { .. } => "invalid-token",
            Self::MissingScope { .. } => "missing-scope",
            Self::SourceNotAllowed { .. } => "source-not-allowed",
        }
    }

    fn tenant(&self) -> Option<&TenantId> {
        match self {
            Self::Tenant(_) => None,
            Self::MissingToken { tenant }
            | Self::InvalidToken { tenant }
            | Self::MissingScope { tenant, .. }
            | Self::SourceNotAllowed { tenant, .. } => Some(tenant),
        }
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut resp = (status, format!("{self}\n")).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"cairn\""),
            );
        }
        resp
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    tenant: String,
    reason: &'static str,
}

/// Checks requests against `auth.type`, the tenants' tokens and source
/// networks, and counts refusals in `cairn_auth_failures_total{tenant,reason}`.
pub struct Authenticator {
    mode: AuthMode,
    multitenancy: bool,
    trusted_proxies: Vec<Cidr>,
    overrides: Arc<Overrides>,
    failures: Family<FailureLabels, Counter>,
}

impl Authenticator {
    /// An authenticator reading tokens and networks from `overrides` on
    /// every request, so reloaded overrides apply at once.
    pub fn new(
        cfg: &AuthConfig,
        multitenancy: bool,
        trusted_proxies: Vec<Cidr>,
        overrides: Arc<Overrides>,
        registry: &mut Registry,
    ) -> Self {
        let failures = Family::<FailureLabels, Counter>::default();
        registry.register(
            "cairn_auth_failures",
            "Requests refused by authentication or access policy, by tenant and reason",
            failures.clone(),
        );
        Self {
            mode: cfg.mode,
            multitenancy,
            trusted_proxies,
            overrides,
            failures,
        }
    }

    /// The scopes to check for a route with `access`, or `None` when the
    /// route is not checked: open routes always, and admin routes under
    /// `trust` (which, like Mimir, leaves them to the network).
    pub fn required(&self, access: Access) -> Option<&'static [Scope]> {
        match access {
            Access::Open => None,
            Access::AnyOf(scopes) if self.mode == AuthMode::Trust && scopes == [Scope::Admin] => {
                None
            }
            Access::AnyOf(scopes) => Some(scopes),
        }
    }

    /// Whether `err` is left to the handler rather than answered: under
    /// `trust` a request without a usable tenant reaches its handler, which
    /// explains the problem in its API's own error format (or needs no tenant).
    pub fn defers(&self, err: &AuthError) -> bool {
        self.mode == AuthMode::Trust
            && matches!(err, AuthError::Tenant(e) if !matches!(e, TenantError::Mismatch { .. }))
    }

    /// The tenants a request from `peer` with `headers` names, once each is
    /// proven to allow it: a token with one of the `need` scopes (under
    /// `tokens`) and a client address inside `allowed_source_cidrs`.
    pub fn authorize(
        &self,
        headers: &HeaderMap,
        peer: IpAddr,
        need: &[Scope],
    ) -> Result<Vec<TenantId>, AuthError> {
        let client = client_ip(peer, headers, &self.trusted_proxies);
        let result = self.check(headers, client, need);
        if let Err(err) = &result
            && !self.defers(err)
        {
            self.record_failure(err, client);
        }
        result
    }

    fn check(
        &self,
        headers: &HeaderMap,
        client: IpAddr,
        need: &[Scope],
    ) -> Result<Vec<TenantId>, AuthError> {
        let tenants = tenants_from_headers(headers, self.multitenancy)?;
        let presented = match self.mode {
            AuthMode::Trust => Vec::new(),
            AuthMode::Tokens => presented_tokens(headers),
        };
        for tenant in &tenants {
            let limits = self.overrides.get(tenant);
            if self.mode == AuthMode::Tokens {
                if presented.is_empty() {
                    return Err(AuthError::MissingToken {
                        tenant: tenant.clone(),
                    });
                }
                // Every configured hash is compared with every presented one.
                let matching: Vec<_> = limits
                    .auth_tokens
                    .iter()
                    .filter(|t| {
                        presented
                            .iter()
                            .fold(false, |hit, p| hit | t.sha256.ct_eq(p))
                    })
                    .collect();
                let Some(first) = matching.first() else {
                    return Err(AuthError::InvalidToken {
                        tenant: tenant.clone(),
                    });
                };
                let allowed = matching
                    .iter()
                    .any(|t| t.scopes.iter().any(|s| need.contains(s)));
                if !allowed {
                    return Err(AuthError::MissingScope {
                        tenant: tenant.clone(),
                        token: first.name.clone(),
                        scope: need.first().copied().unwrap_or(Scope::Admin),
                    });
                }
            }
            let nets = &limits.allowed_source_cidrs;
            if !nets.is_empty() && !nets.iter().any(|n| n.contains(client)) {
                return Err(AuthError::SourceNotAllowed {
                    tenant: tenant.clone(),
                    client,
                });
            }
        }
        Ok(tenants)
    }

    fn record_failure(&self, err: &AuthError, client: IpAddr) {
        // Only tenants the overrides know become label values: names from
        // unauthenticated requests must not grow the series count.
        let tenant = match err.tenant() {
            Some(t) if self.overrides.has_overrides(t) => t.to_string(),
            Some(_) => "unknown".to_string(),
            None => String::new(),
        };
        tracing::warn!(
            tenant = err.tenant().map(TenantId::as_str),
            reason = err.reason(),
            %client,
            error = %err,
            "request refused"
        );
        self.failures
            .get_or_create(&FailureLabels {
                tenant,
                reason: err.reason(),
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use axum::http::HeaderValue;

    use super::*;
    use crate::auth::token::TokenHash;
    use crate::limits::Limits;

    const OVERRIDES: &str = "overrides:
  team-a:
    auth_tokens:
      - {name: writer, sha256: WRITER, scopes: [write]}
      - {name: reader, sha256: READER, scopes: [read]}
    allowed_source_cidrs: [\"127.0.0.1/32\"]
  team-b:
    auth_tokens:
      - {name: b-reader, sha256: BREADER, scopes: [read]}
";

    fn authenticator(mode: AuthMode) -> (Authenticator, Registry) {
        let overrides = Arc::new(Overrides::new(Limits::default()));
        let yaml = OVERRIDES
            .replace("BREADER", &TokenHash::of("b-secret").to_hex())
            .replace("WRITER", &TokenHash::of("w-secret").to_hex())
            .replace("READER", &TokenHash::of("r-secret").to_hex());
        overrides.apply_yaml(&yaml, Path::new("o.yaml")).unwrap();
        let mut registry = Registry::default();
        let auth = Authenticator::new(
            &AuthConfig { mode },
            true,
            Vec::new(),
            overrides,
            &mut registry,
        );
        (auth, registry)
    }

    fn headers(org: Option<&'static str>, bearer: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(org) = org {
            h.insert("x-scope-orgid", HeaderValue::from_static(org));
        }
        for b in bearer {
            let v = HeaderValue::from_str(&format!("Bearer {b}")).unwrap();
            h.append(header::AUTHORIZATION, v);
        }
        h
    }

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn tokens_mode_checks_token_scope_and_source() {
        let (auth, registry) = authenticator(AuthMode::Tokens);
        let w = &[Scope::Write];
        let r = &[Scope::Read];
        let ok = auth.authorize(&headers(Some("team-a"), &["w-secret"]), LOCAL, w);
        assert_eq!(ok.unwrap()[0].as_str(), "team-a");
        let status = |h: HeaderMap, ip: IpAddr, need: &[Scope]| {
            auth.authorize(&h, ip, need).unwrap_err().status().as_u16()
        };
        assert_eq!(status(headers(Some("team-a"), &[]), LOCAL, w), 401);
        assert_eq!(status(headers(Some("team-a"), &["nope"]), LOCAL, w), 401);
        assert_eq!(
            status(headers(Some("team-a"), &["b-secret"]), LOCAL, r),
            401
        );
        assert_eq!(
            status(headers(Some("team-a"), &["r-secret"]), LOCAL, w),
            403
        );
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        assert_eq!(
            status(headers(Some("team-a"), &["w-secret"]), other, w),
            403
        );
        assert_eq!(status(headers(None, &["w-secret"]), LOCAL, w), 401);
        // Multi-tenant reads need a read token of each tenant.
        assert_eq!(
            status(headers(Some("team-a|team-b"), &["r-secret"]), LOCAL, r),
            401
        );
        let both = auth.authorize(
            &headers(Some("team-a|team-b"), &["r-secret", "b-secret"]),
            LOCAL,
            r,
        );
        assert_eq!(both.unwrap().len(), 2);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains(r#"cairn_auth_failures_total{tenant="team-a",reason="invalid-token"} 2"#),
            "{text}"
        );
        assert!(!text.contains("secret"), "{text}");
        let shown = serde_json::to_string(&auth.overrides.snapshot()).unwrap();
        assert!(shown.contains(token::REDACTED), "{shown}");
        assert!(
            !shown.contains(&TokenHash::of("w-secret").to_hex()),
            "{shown}"
        );
    }

    #[test]
    fn trust_mode_ignores_tokens_but_enforces_sources_and_defers_missing_tenant() {
        let (auth, _) = authenticator(AuthMode::Trust);
        let w = &[Scope::Write];
        assert!(
            auth.authorize(&headers(Some("team-a"), &["x"]), LOCAL, w)
                .is_ok()
        );
        assert!(
            auth.authorize(&headers(Some("team-c"), &[]), LOCAL, w)
                .is_ok()
        );
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        let err = auth
            .authorize(&headers(Some("team-a"), &[]), other, w)
            .unwrap_err();
        assert_eq!(err.status(), StatusCode::FORBIDDEN);
        let missing = auth.authorize(&headers(None, &[]), LOCAL, w).unwrap_err();
        assert!(auth.defers(&missing));
        assert_eq!(auth.required(Access::AnyOf(&[Scope::Admin])), None);
        assert_eq!(auth.required(Access::Open), None);
    }
}
