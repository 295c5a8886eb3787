//! Tenant IDs: who owns a request and, because the ID becomes an object-store
//! path prefix, the one gate that keeps hostile strings out of paths.

use std::fmt;

use axum::http::HeaderMap;
use serde::Serialize;

/// The header every read and write names its tenant(s) in.
pub const ORG_ID_HEADER: &str = "X-Scope-OrgID";
/// The tenant used when multitenancy is disabled.
pub const ANONYMOUS: &str = "anonymous";
/// Longest tenant ID accepted (Mimir's limit).
pub const MAX_TENANT_ID_LEN: usize = 150;

/// A validated tenant ID: 1–150 bytes of `[A-Za-z0-9!-_.*'()]`, not `.`/`..`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct TenantId(String);

/// Why a request has no usable tenant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    /// No `X-Scope-OrgID` header and no basic-auth user.
    #[error("no org id: set the X-Scope-OrgID header (or basic-auth user) to the tenant ID")]
    Missing,
    /// The ID has a character or length outside the allowed set.
    #[error(
        "invalid tenant ID {0:?}: must be 1-150 characters of [A-Za-z0-9!-_.*'()] and not \".\" or \"..\""
    )]
    Invalid(String),
    /// Header and basic-auth user name different tenants.
    #[error("X-Scope-OrgID {header:?} does not match the basic-auth user {user:?}")]
    Mismatch {
        /// Tenant named by the header.
        header: String,
        /// Tenant named by the basic-auth user.
        user: String,
    },
    /// Several tenants named where only one is allowed (writes).
    #[error("multiple tenant IDs are not allowed for this request")]
    Multiple,
}

impl TenantId {
    /// Validates `id`.
    pub fn parse(id: &str) -> Result<Self, TenantError> {
        let ok_char = |c: u8| c.is_ascii_alphanumeric() || b"!-_.*'()".contains(&c);
        if id.is_empty()
            || id.len() > MAX_TENANT_ID_LEN
            || id == "."
            || id == ".."
            || !id.bytes().all(ok_char)
        {
            return Err(TenantError::Invalid(
                id.chars().take(MAX_TENANT_ID_LEN + 10).collect(),
            ));
        }
        Ok(Self(id.to_string()))
    }

    /// The single-tenant-mode tenant.
    pub fn anonymous() -> Self {
        Self(ANONYMOUS.to_string())
    }

    /// The ID as a string slice (safe to use as a path component).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Resolves the tenants of a request from `X-Scope-OrgID` (`a|b|c` allowed)
/// or the basic-auth user name; with multitenancy off, always `anonymous`.
pub fn tenants_from_headers(
    headers: &HeaderMap,
    multitenancy: bool,
) -> Result<Vec<TenantId>, TenantError> {
    if !multitenancy {
        return Ok(vec![TenantId::anonymous()]);
    }
    let header = headers
        .get(ORG_ID_HEADER)
        .map(|v| {
            v.to_str()
                .map(str::to_string)
                .map_err(|_| TenantError::Invalid("<non-ascii>".into()))
        })
        .transpose()?;
    let user = basic_auth_user(headers);
    let raw = match (header, user) {
        (Some(h), Some(u)) if h != u => return Err(TenantError::Mismatch { header: h, user: u }),
        (Some(h), _) => h,
        (None, Some(u)) => u,
        (None, None) => return Err(TenantError::Missing),
    };
    let mut ids = raw
        .split('|')
        .map(TenantId::parse)
        .collect::<Result<Vec<_>, _>>()?;
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// Like [`tenants_from_headers`] but exactly one tenant (the write path).
pub fn tenant_from_headers(
    headers: &HeaderMap,
    multitenancy: bool,
) -> Result<TenantId, TenantError> {
    let mut ids = tenants_from_headers(headers, multitenancy)?;
    if ids.len() != 1 {
        return Err(TenantError::Multiple);
    }
    Ok(ids.remove(0))
}

fn basic_auth_user(headers: &HeaderMap) -> Option<String> {
    let (user, _) = basic_auth(headers)?;
    (!user.is_empty()).then_some(user)
}

/// The `(user, password)` of an `Authorization: Basic` header, if the request
/// has a well-formed one (the password is empty when none was given).
pub fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    headers
        .get_all(axum::http::header::AUTHORIZATION)
        .iter()
        .find_map(|v| {
            let v = v.to_str().ok()?;
            let b64 = v
                .strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))?;
            let decoded = base64_decode(b64.trim())?;
            let s = String::from_utf8(decoded).ok()?;
            Some(match s.split_once(':') {
                Some((u, p)) => (u.to_string(), p.to_string()),
                None => (s, String::new()),
            })
        })
}

/// Minimal standard-alphabet base64 decoder (basic-auth only needs this).
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c)? << (18 - 6 * i);
        }
        let take = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        out.extend_from_slice(&n.to_be_bytes()[1..1 + take]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn hostile_ids_are_rejected() {
        for bad in ["", ".", "..", "../etc", "a/b", "a b", "ä", &"x".repeat(151)] {
            assert!(TenantId::parse(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["team-a", "a.b", "A_1", "(x)*!'", &"x".repeat(150)] {
            assert!(TenantId::parse(good).is_ok(), "{good:?} rejected");
        }
    }

    #[test]
    fn basic_auth_user_names_the_tenant_and_must_agree_with_header() {
        let mut h = HeaderMap::new();
        // "team-a:secret"
        h.insert(
            "authorization",
            HeaderValue::from_static("Basic dGVhbS1hOnNlY3JldA=="),
        );
        assert_eq!(tenant_from_headers(&h, true).unwrap().as_str(), "team-a");
        h.insert(ORG_ID_HEADER, HeaderValue::from_static("team-b"));
        assert!(matches!(
            tenant_from_headers(&h, true),
            Err(TenantError::Mismatch { .. })
        ));
    }

    #[test]
    fn missing_header_is_missing_unless_single_tenant() {
        let h = HeaderMap::new();
        assert_eq!(tenant_from_headers(&h, true), Err(TenantError::Missing));
        assert_eq!(tenant_from_headers(&h, false).unwrap().as_str(), ANONYMOUS);
    }

    #[test]
    fn several_tenants_for_reads() {
        let mut h = HeaderMap::new();
        h.insert(ORG_ID_HEADER, HeaderValue::from_static("b|a"));
        let ids = tenants_from_headers(&h, true).unwrap();
        assert_eq!(
            ids.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(tenant_from_headers(&h, true), Err(TenantError::Multiple));
    }
}
