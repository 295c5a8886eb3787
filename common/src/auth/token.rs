//! Tenant tokens: only their SHA-256 is configured, presented tokens are
//! hashed and compared in constant time, and neither is ever printed.

use std::fmt;

use axum::http::{HeaderMap, header};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;

use super::scope::Scope;
use crate::tenant::basic_auth;

/// The SHA-256 of a token (`sha256: "<64 hex digits>"` in the overrides file).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenHash([u8; 32]);

/// Why a `sha256:` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sha256 must be 64 hex digits (the output of `cairn tool hash-token`)")]
pub struct TokenHashError;

impl TokenHash {
    /// The hash of `token`.
    pub fn of(token: &str) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        Self(out)
    }

    /// Parses 64 hex digits (either case).
    pub fn from_hex(hex: &str) -> Result<Self, TokenHashError> {
        let hex = hex.trim().as_bytes();
        if hex.len() != 64 {
            return Err(TokenHashError);
        }
        let digit = |c: u8| (c as char).to_digit(16).ok_or(TokenHashError);
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
            let &[hi, lo] = pair else {
                return Err(TokenHashError);
            };
            // Two hex digits are at most 0xff.
            *byte = (digit(hi)? << 4 | digit(lo)?) as u8;
        }
        Ok(Self(out))
    }

    /// Lowercase hex, what `cairn tool hash-token` prints.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Equality in time independent of where the hashes differ.
    pub fn ct_eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(<redacted>)")
    }
}

/// What a hash is printed as, wherever configuration is shown.
pub const REDACTED: &str = "<redacted>";

impl Serialize for TokenHash {
    /// Always `<redacted>`: `/config`, `/runtime_config` and `--print-config`
    /// serialize limits, and hashes must never leave the process. (Hashes are
    /// therefore only allowed in the overrides file, never in the defaults,
    /// which the overrides are merged over in serialized form.)
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for TokenHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// One token a tenant accepts (an entry of `auth_tokens:`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthToken {
    /// Shown in logs and metrics instead of the secret, e.g. `prometheus-prod`.
    pub name: String,
    /// The token's SHA-256; the token itself is never stored.
    pub sha256: TokenHash,
    /// What the token may do.
    pub scopes: Vec<Scope>,
}

/// The hashes of every token a request presents: the basic-auth password
/// and each `Authorization: Bearer` value (several headers allowed, for
/// reads naming several tenants whose tokens differ).
pub fn presented_tokens(headers: &HeaderMap) -> Vec<TokenHash> {
    let bearer = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_string());
    let password = basic_auth(headers).map(|(_, p)| p);
    password
        .into_iter()
        .chain(bearer)
        .filter(|t| !t.is_empty())
        .map(|t| TokenHash::of(&t))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn hash_matches_sha256_test_vector_and_hex_round_trips() {
        // sha256("abc") from FIPS 180-2.
        let want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let h = TokenHash::of("abc");
        assert_eq!(h.to_hex(), want);
        assert_eq!(TokenHash::from_hex(&want.to_uppercase()).unwrap(), h);
        for bad in ["", "abc", &want[1..], &format!("{}zz", &want[2..])] {
            assert!(TokenHash::from_hex(bad).is_err(), "{bad:?}");
        }
        assert!(!format!("{h:?}").contains("ba78"), "Debug prints the hash");
        let shown = serde_json::to_string(&h).unwrap();
        assert_eq!(shown, format!("\"{REDACTED}\""));
    }

    #[test]
    fn constant_time_compare_is_equality() {
        let a = TokenHash::of("one");
        assert!(a.ct_eq(&TokenHash::of("one")));
        assert!(!a.ct_eq(&TokenHash::of("two")));
        let mut last_byte_differs = a;
        last_byte_differs.0[31] ^= 1;
        assert!(!a.ct_eq(&last_byte_differs));
    }

    #[test]
    fn basic_password_and_every_bearer_are_presented() {
        let mut h = HeaderMap::new();
        assert!(presented_tokens(&h).is_empty());
        // "team-a:s3cret"
        h.append(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic dGVhbS1hOnMzY3JldA=="),
        );
        h.append(header::AUTHORIZATION, HeaderValue::from_static("Bearer t2"));
        assert_eq!(
            presented_tokens(&h),
            vec![TokenHash::of("s3cret"), TokenHash::of("t2")]
        );
    }
}
