//! The ingester's lifecycle: what it announces at `GET /ingester/ring`, its
//! state (ACTIVE once its WAL is replayed and it serves; LEAVING from
//! `POST /ingester/shutdown` on, so distributors stop writing to it while
//! queriers still read it) and, in a ring, the per-ingester share of a
//! tenant's global series and stream limits.

use std::sync::Arc;

use common::limits::Limits;
use common::ring::{MemberDescriptor, MemberState, RingWatcher};
use common::tenant::TenantId;
use parking_lot::RwLock;
use tokio::sync::watch;

/// This ingester's place in the ring.
pub struct Membership {
    descriptor: RwLock<MemberDescriptor>,
    ring: Option<Arc<RingWatcher>>,
    left: watch::Sender<bool>,
}

impl Membership {
    /// An ACTIVE member `id` in `zone`, dialled at `grpc_addr`, that reads
    /// the ring through `ring` to size its limits (`None`: the single
    /// process, where the global limits are the ingester's).
    pub fn new(id: &str, zone: &str, grpc_addr: &str, ring: Option<Arc<RingWatcher>>) -> Self {
        Self {
            descriptor: RwLock::new(MemberDescriptor {
                id: id.to_string(),
                zone: zone.to_string(),
                state: MemberState::Active,
                grpc_addr: grpc_addr.to_string(),
            }),
            ring,
            left: watch::channel(false).0,
        }
    }

    /// What `GET /ingester/ring` answers.
    pub fn descriptor(&self) -> MemberDescriptor {
        self.descriptor.read().clone()
    }

    /// Whether the ingester takes writes (`/ready`).
    pub fn is_active(&self) -> bool {
        self.descriptor.read().state == MemberState::Active
    }

    pub(crate) fn set_state(&self, state: MemberState) {
        self.descriptor.write().state = state;
    }

    /// Marks the ingester gone once its heads are flushed: whoever waits
    /// in [`Membership::wait_left`] stops the process.
    pub(crate) fn leave(&self) {
        self.left.send_replace(true);
    }

    /// Resolves once `POST /ingester/shutdown` has flushed and left.
    pub async fn wait_left(&self) {
        let mut rx = self.left.subscribe();
        let _ = rx.wait_for(|left| *left).await;
    }

    /// `limits` with the global series and stream limits turned into this
    /// ingester's share (Mimir's rule: global ÷ ingesters × RF, over the
    /// tenant's shard when shuffle sharding confines it).
    pub(crate) fn local_limits(&self, tenant: &TenantId, limits: Arc<Limits>) -> Arc<Limits> {
        let Some(ring) = &self.ring else {
            return limits;
        };
        let ring = ring.ring();
        let shard = limits.ingestion_tenant_shard_size;
        let series = ring.local_series_limit(limits.max_global_series_per_user, shard);
        let streams = ring.local_series_limit(limits.max_global_streams_per_user, shard);
        if series == limits.max_global_series_per_user
            && streams == limits.max_global_streams_per_user
        {
            return limits;
        }
        tracing::trace!(%tenant, series, streams, "per-ingester limits");
        Arc::new(Limits {
            max_global_series_per_user: series,
            max_global_streams_per_user: streams,
            ..(*limits).clone()
        })
    }
}
