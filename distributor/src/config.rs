//! The distributor's own configuration (the `distributor:` block).
//!
//! Per-tenant limits are not here: they live in `common::limits` and are
//! read through the overrides on every request.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::decode_budget::DecodeLimits;

/// Settings of the distributor service.
///
/// ```
/// let cfg: cairn_distributor::DistributorConfig = Default::default();
/// assert_eq!(cfg.max_request_body_size, 10 << 20);
/// cfg.validate().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DistributorConfig {
    /// Largest remote-write message after snappy decompression, in bytes.
    pub max_recv_msg_size: usize,
    /// Largest request body as sent (compressed), in bytes.
    pub max_request_body_size: usize,
    /// Most memory one push request may take once decoded, in bytes,
    /// estimated from the wire format before decoding (every protocol: a
    /// 2-byte protobuf label becomes a 48-byte struct, so a message under
    /// `max_recv_msg_size` can still need gigabytes).
    pub max_decoded_request_bytes: usize,
    /// Most bytes of push requests (metrics, logs and traces, HTTP and
    /// gRPC) the distributor processes at once, counted from each body's
    /// size (its `Content-Length`, or `max_request_body_size` when it has
    /// none) until it is answered; past it requests get 503 and are
    /// retried (what each one decodes to is bounded on its own by
    /// `max_decoded_request_bytes`). The default, 1 GiB, is sized for a
    /// small (2-core, 24 GiB) machine. 0 turns the limit off.
    pub max_inflight_push_requests_bytes: usize,
    /// Most OTLP delta streams (series fed by delta sums or histograms) the
    /// distributor keeps a running total for, per tenant; points of new
    /// streams past it are refused in `partial_success`. 0 refuses delta
    /// temporality altogether.
    pub otlp_delta_max_streams_per_tenant: usize,
    /// How long an OTLP delta stream without a new point keeps its running
    /// total; after it, the next point starts the total again (a counter
    /// reset). The Collector's `deltatocumulative` default, 5m.
    #[serde(with = "humantime_serde")]
    pub otlp_delta_max_stale: Duration,
}

impl Default for DistributorConfig {
    fn default() -> Self {
        Self {
            max_recv_msg_size: 100 << 20,
            max_request_body_size: 10 << 20,
            max_decoded_request_bytes: 64 << 20,
            max_inflight_push_requests_bytes: 1 << 30,
            otlp_delta_max_streams_per_tenant: 10_000,
            otlp_delta_max_stale: Duration::from_secs(300),
        }
    }
}

/// A distributor setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A size limit of zero would refuse every request.
    #[error("distributor.{field} must be greater than 0")]
    ZeroLimit {
        /// The offending key.
        field: &'static str,
    },
}

impl DistributorConfig {
    /// Checks the settings; the binary calls this once at startup.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_recv_msg_size == 0 {
            return Err(ConfigError::ZeroLimit {
                field: "max_recv_msg_size",
            });
        }
        if self.max_request_body_size == 0 {
            return Err(ConfigError::ZeroLimit {
                field: "max_request_body_size",
            });
        }
        if self.max_decoded_request_bytes == 0 {
            return Err(ConfigError::ZeroLimit {
                field: "max_decoded_request_bytes",
            });
        }
        if self.otlp_delta_max_stale.is_zero() {
            return Err(ConfigError::ZeroLimit {
                field: "otlp_delta_max_stale",
            });
        }
        Ok(())
    }

    /// The limits the push decoders apply.
    pub fn decode_limits(&self) -> DecodeLimits {
        DecodeLimits {
            max_recv_msg_size: self.max_recv_msg_size,
            max_decoded_request_bytes: self.max_decoded_request_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_keys_take_defaults() {
        let cfg: DistributorConfig = serde_json::from_str(r#"{"max_recv_msg_size": 5}"#).unwrap();
        assert_eq!(
            cfg,
            DistributorConfig {
                max_recv_msg_size: 5,
                ..Default::default()
            }
        );
    }

    #[test]
    fn zero_limits_are_refused() {
        let cfg = DistributorConfig {
            max_request_body_size: 0,
            ..Default::default()
        };
        assert_eq!(
            cfg.validate(),
            Err(ConfigError::ZeroLimit {
                field: "max_request_body_size"
            })
        );
    }
}
