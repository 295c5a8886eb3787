//! How a logs client (Loki push or OTLP) learns what happened to its push:
//! the one mapping from logs push errors to HTTP status codes and messages.
//! Each refused stream is named with Loki's reason and, for a limit, the
//! override to raise.

use std::fmt;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::discard::DiscardReason;
use common::logs::LogRejection;
use common::push::PushError;
use common::tenant::{TenantError, TenantId};

use super::wire::WireError;
use crate::http::BodyError;
use crate::validation::quoted;

/// Refusals listed in a response body; the rest are summarised by count.
const MAX_LISTED_REJECTIONS: usize = 10;
const MIB: f64 = (1 << 20) as f64;

/// A push refused whole because its tenant is over `ingestion_rate_mb`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogsRateLimited {
    /// The tenant.
    pub tenant: TenantId,
    /// The tenant's `ingestion_rate_mb` (global, before the split).
    pub rate_mb: f64,
    /// The tenant's `ingestion_burst_size_mb`.
    pub burst_mb: f64,
    /// How many distributors share the rate.
    pub distributors: usize,
    /// Valid lines in the refused push.
    pub lines: usize,
    /// Their bytes.
    pub bytes: usize,
}

impl fmt::Display for LogsRateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: tenant {:?} exceeded its ingestion rate limit (ingestion_rate_mb) of {} MB/s",
            DiscardReason::LogRateLimited,
            self.tenant.as_str(),
            self.rate_mb
        )?;
        if self.distributors > 1 {
            write!(f, " (split across {} distributors)", self.distributors)?;
        }
        write!(
            f,
            " with burst (ingestion_burst_size_mb) {} MB while adding {} lines totalling {} bytes ({:.3} MB); \
             reduce log volume or raise ingestion_rate_mb / ingestion_burst_size_mb in the runtime overrides",
            self.burst_mb,
            self.lines,
            self.bytes,
            self.bytes as f64 / MIB
        )
    }
}

impl std::error::Error for LogsRateLimited {}

/// What became of a logs push that was not refused whole.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogsPushSummary {
    /// Lines the ingesters appended (durable in their WAL).
    pub accepted: usize,
    /// Lines refused by validation or the ingesters, by stream and reason.
    pub rejected: Vec<LogRejection>,
}

impl LogsPushSummary {
    /// True when every refusal is a limit (429) rather than bad input (400).
    pub fn only_limits(&self) -> bool {
        self.rejected.iter().all(|r| r.reason.is_limit())
    }
}

/// One line per refusal: `err-cairn-<reason>: <detail> for stream '<labels>'
/// (<n> lines, <b> bytes)[; to accept it raise <limit> …]`.
impl fmt::Display for LogsPushSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lines: Vec<String> = self
            .rejected
            .iter()
            .take(MAX_LISTED_REJECTIONS)
            .map(|r| {
                let mut msg = format!(
                    "{}: {} for stream '{}' ({} line(s), {} byte(s) refused)",
                    r.reason,
                    r.detail,
                    quoted(&r.labels.to_string()),
                    r.lines,
                    r.bytes
                );
                if let Some(limit) = r.reason.limit_name() {
                    msg.push_str(&format!(
                        "; to accept it raise {limit} in the runtime overrides"
                    ));
                }
                msg
            })
            .collect();
        if self.rejected.len() > MAX_LISTED_REJECTIONS {
            lines.push(format!(
                "... and {} more refused streams",
                self.rejected.len() - MAX_LISTED_REJECTIONS
            ));
        }
        f.write_str(&lines.join("\n"))
    }
}

/// Why a logs push was not (fully) accepted.
#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    /// No usable tenant: missing (401) or invalid (400).
    #[error(transparent)]
    Tenant(#[from] TenantError),
    /// The body could not be read (400) or is too large (413).
    #[error("{0}; raise the distributor's max_request_body_size or send smaller batches")]
    Body(#[from] BodyError),
    /// The body is not a push request (400; 413 when it decompresses too large).
    #[error(transparent)]
    Decode(#[from] WireError),
    /// The tenant is over its ingestion rate; nothing was accepted (429).
    #[error(transparent)]
    RateLimited(#[from] LogsRateLimited),
    /// Some lines were refused, the rest accepted: 429 when every refusal
    /// is a limit, else 400.
    #[error("{0}")]
    Partial(LogsPushSummary),
    /// The ingesters failed; nothing was acknowledged (503 or 500).
    #[error(transparent)]
    Push(#[from] PushError),
}

impl LogsError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Tenant(TenantError::Missing) => StatusCode::UNAUTHORIZED,
            Self::Tenant(_) => StatusCode::BAD_REQUEST,
            Self::Body(BodyError::TooLarge { .. })
            | Self::Decode(WireError::MessageTooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Body(_) | Self::Decode(_) => StatusCode::BAD_REQUEST,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Partial(s) if s.only_limits() => StatusCode::TOO_MANY_REQUESTS,
            Self::Partial(_) => StatusCode::BAD_REQUEST,
            Self::Push(PushError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Push(PushError::Wal(_)) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `reason` label of `cairn_distributor_logs_bad_requests_total`
    /// for pushes refused before any stream was looked at.
    pub(crate) fn bad_request_reason(&self) -> Option<&'static str> {
        Some(match self {
            Self::Tenant(TenantError::Missing) => "missing-tenant",
            Self::Tenant(_) => "invalid-tenant",
            Self::Body(BodyError::TooLarge { .. }) => "body-too-large",
            Self::Body(BodyError::Read(_)) => "read-body",
            Self::Decode(e) => match e {
                WireError::Empty => "empty-body",
                WireError::MessageTooLarge { .. } => "message-too-large",
                WireError::NotSnappy(_) => "not-snappy",
                WireError::Protobuf(_) => "bad-protobuf",
                WireError::Json(_) => "bad-json",
                WireError::Otlp(_) => "bad-otlp",
                WireError::DecodedTooLarge(_) => crate::decode_budget::ID,
            },
            Self::RateLimited(_) | Self::Partial(_) | Self::Push(_) => return None,
        })
    }
}

impl IntoResponse for LogsError {
    fn into_response(self) -> Response {
        (self.status(), format!("{self}\n")).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::labels::Labels;

    fn partial(reasons: &[DiscardReason]) -> LogsError {
        LogsError::Partial(LogsPushSummary {
            accepted: 0,
            rejected: reasons
                .iter()
                .map(|&reason| LogRejection {
                    reason,
                    labels: Labels::from_pairs([("app", "api")]),
                    lines: 2,
                    bytes: 10,
                    detail: "why".into(),
                })
                .collect(),
        })
    }

    #[test]
    fn statuses_and_messages() {
        use DiscardReason::*;
        assert_eq!(partial(&[LineTooLong]).status(), 400);
        assert_eq!(partial(&[StreamLimit]).status(), 429);
        assert_eq!(partial(&[StreamLimit, TooFarBehind]).status(), 400);
        assert_eq!(
            LogsError::Body(BodyError::TooLarge { limit: 1 }).status(),
            413
        );
        assert_eq!(LogsError::Tenant(TenantError::Missing).status(), 401);
        assert_eq!(
            partial(&[LineTooLong]).to_string(),
            "err-cairn-line_too_long: why for stream '{app=\"api\"}' (2 line(s), 10 byte(s) refused); \
             to accept it raise max_line_size (or set max_line_size_truncate) in the runtime overrides"
        );
    }
}
