//! The `ring:` section of the config: where ingesters and distributors are
//! found, how often they are probed, and how writes are replicated.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How the ingester ring is discovered, probed and used for placement.
/// Every distributor and querier with the same section computes the same
/// ring, so there is nothing to coordinate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RingConfig {
    /// Static list of ingesters' HTTP addresses (`host:port`).
    pub members: Vec<String>,
    /// A DNS name (`host:port`) whose every A/AAAA record is an ingester's
    /// HTTP address (a Kubernetes headless service); re-resolved every
    /// probe round. Empty = none.
    pub members_dns: String,
    /// Static list of distributors' HTTP addresses, probed only to count the
    /// healthy ones (rate limits are split among them).
    pub distributors: Vec<String>,
    /// DNS name (`host:port`) of the distributors, as `members_dns`.
    pub distributors_dns: String,
    /// How many ingesters receive each series, stream or trace (1 in the
    /// single binary, 3 in deployments); writes need `RF/2+1` of them.
    pub replication_factor: usize,
    /// Place the replicas of a key in distinct zones when members carry one.
    pub zone_awareness_enabled: bool,
    /// Tokens each ingester owns on the ring; more tokens spread keys more
    /// evenly.
    pub tokens_per_instance: usize,
    /// How often members are re-discovered and probed.
    #[serde(with = "humantime_serde")]
    pub probe_interval: Duration,
    /// How long one probe may take before it counts as failed.
    #[serde(with = "humantime_serde")]
    pub probe_timeout: Duration,
    /// A member whose last successful probe is older than this is unhealthy.
    #[serde(with = "humantime_serde")]
    pub heartbeat_timeout: Duration,
    /// This process's zone, announced by an ingester in its descriptor.
    pub instance_zone: String,
    /// The gRPC `host:port` other services dial for this ingester; empty =
    /// derived from the server config.
    pub instance_addr: String,
}

impl Default for RingConfig {
    fn default() -> Self {
        Self {
            members: Vec::new(),
            members_dns: String::new(),
            distributors: Vec::new(),
            distributors_dns: String::new(),
            replication_factor: 1,
            zone_awareness_enabled: false,
            tokens_per_instance: 128,
            probe_interval: Duration::from_secs(5),
            probe_timeout: Duration::from_secs(1),
            heartbeat_timeout: Duration::from_secs(15),
            instance_zone: String::new(),
            instance_addr: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_with_durations_and_defaults() {
        let cfg: RingConfig = serde_saphyr::from_str(
            "members: [a:9009, b:9009]\nreplication_factor: 3\nprobe_interval: 2s\n",
        )
        .unwrap();
        assert_eq!(cfg.members, vec!["a:9009", "b:9009"]);
        assert_eq!(cfg.replication_factor, 3);
        assert_eq!(cfg.probe_interval, Duration::from_secs(2));
        assert_eq!(cfg.tokens_per_instance, 128);
        assert_eq!(cfg.heartbeat_timeout, Duration::from_secs(15));
        assert!(serde_saphyr::from_str::<RingConfig>("replicas: 3\n").is_err());
    }
}
