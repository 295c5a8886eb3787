//! What the ring knows about one ingester: the descriptor it announces and
//! the health the prober observed.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// An ingester's lifecycle state, with Mimir's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum MemberState {
    /// Starting up (replaying its WAL): receives no writes and is not yet
    /// queried.
    Joining,
    /// Serving writes and reads.
    Active,
    /// Shutting down (flushing): receives no writes, still queried.
    Leaving,
}

impl MemberState {
    /// The state's name as it appears in JSON, metrics and the `/ring` page.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Joining => "JOINING",
            Self::Active => "ACTIVE",
            Self::Leaving => "LEAVING",
        }
    }
}

/// What an ingester answers at `GET /ingester/ring`: who it is, where it
/// stands and where to dial it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberDescriptor {
    /// Stable instance ID (the pod name); its tokens derive from it.
    pub id: String,
    /// Availability zone; empty when unknown.
    #[serde(default)]
    pub zone: String,
    /// Lifecycle state.
    pub state: MemberState,
    /// gRPC `host:port` the distributor and querier dial.
    pub grpc_addr: String,
}

/// One ingester on the ring as a distributor or querier sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// Stable instance ID; its tokens derive from it.
    pub id: String,
    /// Availability zone; empty when unknown.
    pub zone: String,
    /// Lifecycle state from its last successful probe.
    pub state: MemberState,
    /// HTTP `host:port` it was discovered and probed at.
    pub http_addr: String,
    /// gRPC `host:port` to send writes and queries to.
    pub grpc_addr: String,
    /// Whether its last successful probe is within `heartbeat_timeout`.
    pub healthy: bool,
    /// When it last answered a probe.
    pub last_heartbeat: Option<SystemTime>,
}

impl Member {
    /// A member built from a descriptor probed at `http_addr`.
    pub fn from_descriptor(
        desc: MemberDescriptor,
        http_addr: String,
        healthy: bool,
        last_heartbeat: Option<SystemTime>,
    ) -> Self {
        Self {
            id: desc.id,
            zone: desc.zone,
            state: desc.state,
            http_addr,
            grpc_addr: desc.grpc_addr,
            healthy,
            last_heartbeat,
        }
    }

    /// Whether reads must include it: healthy, and past JOINING (a LEAVING
    /// ingester still holds data until it has flushed).
    pub fn readable(&self) -> bool {
        self.healthy && self.state != MemberState::Joining
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_json_uses_mimir_state_names() {
        let d = MemberDescriptor {
            id: "ingester-0".into(),
            zone: "a".into(),
            state: MemberState::Active,
            grpc_addr: "10.0.0.1:9095".into(),
        };
        let json = serde_json::to_string(&d).unwrap();
        assert!(json.contains(r#""state":"ACTIVE""#), "{json}");
        let back: MemberDescriptor =
            serde_json::from_str(r#"{"id":"i","state":"LEAVING","grpc_addr":"h:1"}"#).unwrap();
        assert_eq!(back.state, MemberState::Leaving);
        assert_eq!(back.zone, "");
    }
}

/// Members for placement tests.
#[cfg(test)]
pub(super) mod fixtures {
    use super::*;

    /// A healthy ACTIVE member `id` in `zone`.
    pub(in crate::ring) fn member(id: &str, zone: &str) -> Member {
        Member {
            id: id.into(),
            zone: zone.into(),
            state: MemberState::Active,
            http_addr: format!("{id}:9009"),
            grpc_addr: format!("{id}:9095"),
            healthy: true,
            last_heartbeat: Some(SystemTime::now()),
        }
    }

    /// Healthy ACTIVE members `prefix-0..n`, zones `zone-0..zones`
    /// round-robin (no zone when `zones` is 0).
    pub(in crate::ring) fn members(prefix: &str, n: usize, zones: usize) -> Vec<Member> {
        (0..n)
            .map(|i| {
                let zone = if zones == 0 {
                    String::new()
                } else {
                    format!("zone-{}", i % zones)
                };
                member(&format!("{prefix}-{i}"), &zone)
            })
            .collect()
    }
}
