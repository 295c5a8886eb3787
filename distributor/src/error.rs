//! How a client learns what happened to its write: the one mapping from
//! distributor errors to HTTP status codes and messages.
//!
//! Messages follow Mimir's: each refusal starts with its catalogued ID
//! (`err-cairn-…`), names the series, and, when a per-tenant limit caused
//! it, the limit to raise in the runtime overrides.

use std::fmt;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::push::{PushError, Rejection};
use common::tenant::TenantError;

use crate::distributor::PushSummary;
use crate::rate_limit::RateLimitExceeded;
use crate::remote_write::{self, DecodeError};
use crate::validation::quoted;

/// Refusals listed in a response body; the rest are summarised by count.
const MAX_LISTED_REJECTIONS: usize = 10;

/// Why a write was not (fully) accepted.
#[derive(Debug, thiserror::Error)]
pub enum DistributorError {
    /// No usable tenant: missing (401) or invalid (400).
    #[error(transparent)]
    Tenant(#[from] TenantError),
    /// The body is not a remote-write request (400), too large (413), or
    /// of a content type or encoding that is not remote write's (415).
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The tenant is over its ingestion rate; nothing was accepted (429).
    #[error(transparent)]
    RateLimited(#[from] RateLimitExceeded),
    /// Some series were refused, the rest accepted: 429 when every refusal
    /// is a limit, else 400.
    #[error("{0}")]
    Partial(PushSummary),
    /// The ingesters failed; nothing was acknowledged (503 or 500).
    #[error(transparent)]
    Push(#[from] PushError),
}

impl DistributorError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Tenant(TenantError::Missing) => StatusCode::UNAUTHORIZED,
            Self::Tenant(_) => StatusCode::BAD_REQUEST,
            Self::Decode(
                DecodeError::BodyTooLarge { .. } | DecodeError::MessageTooLarge { .. },
            ) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Decode(
                DecodeError::UnsupportedContentType(_) | DecodeError::UnsupportedEncoding(_),
            ) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Decode(_) => StatusCode::BAD_REQUEST,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Partial(summary) if summary.only_limits() => StatusCode::TOO_MANY_REQUESTS,
            Self::Partial(_) => StatusCode::BAD_REQUEST,
            Self::Push(PushError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Push(PushError::Wal(_)) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `reason` label of `cairn_distributor_bad_requests_total` for
    /// requests refused before any series was looked at (no tenant, or a
    /// body that is not a remote-write request).
    pub(crate) fn bad_request_reason(&self) -> Option<&'static str> {
        Some(match self {
            Self::Tenant(TenantError::Missing) => "missing-tenant",
            Self::Tenant(_) => "invalid-tenant",
            Self::Decode(e) => match e {
                DecodeError::Empty => "empty-body",
                DecodeError::BodyTooLarge { .. } => "body-too-large",
                DecodeError::MessageTooLarge { .. } => "message-too-large",
                DecodeError::NotSnappy(_) => "not-snappy",
                DecodeError::Protobuf(_) | DecodeError::ProtobufV2(_) => "bad-protobuf",
                DecodeError::Symbols(_) => remote_write::id::CORRUPT_SYMBOLS,
                DecodeError::UnsupportedContentType(_) => {
                    remote_write::id::UNSUPPORTED_CONTENT_TYPE
                }
                DecodeError::UnsupportedEncoding(_) => {
                    remote_write::id::UNSUPPORTED_CONTENT_ENCODING
                }
                DecodeError::DecodedTooLarge(_) => crate::decode_budget::ID,
                DecodeError::ReadBody(_) => "read-body",
            },
            Self::RateLimited(_) | Self::Partial(_) | Self::Push(_) => return None,
        })
    }
}

impl IntoResponse for DistributorError {
    fn into_response(self) -> Response {
        (self.status(), format!("{self}\n")).into_response()
    }
}

/// One line per refusal, as in Mimir's responses.
impl fmt::Display for PushSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lines = Vec::with_capacity(MAX_LISTED_REJECTIONS + 2);
        lines.extend(
            self.rejected
                .iter()
                .take(MAX_LISTED_REJECTIONS)
                .map(rejection_message),
        );
        if self.rejected.len() > MAX_LISTED_REJECTIONS {
            lines.push(format!(
                "... and {} more refused series",
                self.rejected.len() - MAX_LISTED_REJECTIONS
            ));
        }
        f.write_str(&lines.join("\n"))
    }
}

/// `err-cairn-<id>: <detail> series: '<series>'[; raise <limit> …]`.
fn rejection_message(r: &Rejection) -> String {
    let series = r.labels.to_string();
    let mut msg = format!("{}: {} series: '{}'", r.reason, r.detail, quoted(&series));
    if let Some(limit) = r.reason.limit_name() {
        msg.push_str(&format!(
            "; to accept it raise {limit} in the runtime overrides"
        ));
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::discard::DiscardReason;
    use common::labels::Labels;

    fn rejection(reason: DiscardReason) -> Rejection {
        Rejection {
            reason,
            labels: Labels::from_pairs([("__name__", "up"), ("job", "x")]),
            samples: 1,
            detail: "received a series whose label name length exceeds the limit (limit: 1024) label: \"aaa\"".into(),
        }
    }

    fn partial(reasons: &[DiscardReason]) -> DistributorError {
        DistributorError::Partial(PushSummary {
            rejected: reasons.iter().map(|&r| rejection(r)).collect(),
            ..Default::default()
        })
    }

    #[test]
    fn statuses_follow_the_design() {
        use DiscardReason::*;
        let cases = [
            (DistributorError::Tenant(TenantError::Missing), 401),
            (
                DistributorError::Tenant(TenantError::Invalid("../etc".into())),
                400,
            ),
            (DistributorError::Decode(DecodeError::Empty), 400),
            (
                DistributorError::Decode(DecodeError::BodyTooLarge { limit: 1 }),
                413,
            ),
            (
                DistributorError::Decode(DecodeError::MessageTooLarge { size: 2, limit: 1 }),
                413,
            ),
            (
                DistributorError::Decode(DecodeError::UnsupportedContentType("image/png".into())),
                415,
            ),
            (
                DistributorError::Decode(DecodeError::UnsupportedEncoding("gzip".into())),
                415,
            ),
            (
                DistributorError::Decode(DecodeError::Symbols(
                    crate::remote_write_v2::SymbolError::FirstNotEmpty("x".into()),
                )),
                400,
            ),
            (partial(&[LabelNameTooLong]), 400),
            (partial(&[PerUserSeriesLimit]), 429),
            (partial(&[PerUserSeriesLimit, SampleOutOfOrder]), 400),
            (
                DistributorError::Push(PushError::Unavailable("x".into())),
                503,
            ),
            (DistributorError::Push(PushError::Wal("x".into())), 500),
        ];
        for (err, want) in cases {
            assert_eq!(err.status().as_u16(), want, "{err}");
        }
    }

    #[test]
    fn rejection_names_reason_series_and_limit() {
        assert_eq!(
            rejection_message(&rejection(DiscardReason::LabelNameTooLong)),
            "err-cairn-label-name-too-long: received a series whose label name length exceeds the limit \
             (limit: 1024) label: \"aaa\" series: 'up{job=\"x\"}'; \
             to accept it raise max_label_name_length in the runtime overrides"
        );
        assert!(!rejection_message(&rejection(DiscardReason::InvalidLabel)).contains("raise"));
    }

    #[test]
    fn long_lists_are_cut() {
        let body = partial(&[DiscardReason::InvalidLabel; 15]).to_string();
        assert_eq!(body.lines().count(), MAX_LISTED_REJECTIONS + 1);
        assert!(body.ends_with("... and 5 more refused series"));
    }
}
