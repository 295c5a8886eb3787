//! The ingester ring for distributed mode: which ingesters exist, which are
//! healthy, and which of them hold a given series, stream or trace.
//!
//! Ingesters are discovered from a static list or a DNS name and probed at
//! `GET /ingester/ring` ([`RingWatcher`]); each one's tokens derive from its
//! ID alone ([`tokens_for`]), so every distributor and querier computes the
//! same [`Ring`] from the same members without coordinating. The ring
//! answers where a key's replicas are ([`Ring::replication_set`]), which
//! ingesters a query asks ([`Ring::read_set`]) and a tenant's shuffle shard
//! ([`Ring::shuffle_shard`]); [`router`] serves the `/ring` status page.

mod config;
mod discovery;
mod member;
mod page;
mod placement;
mod shuffle;
mod tokens;
mod watcher;

pub use config::RingConfig;
pub use member::{Member, MemberDescriptor, MemberState};
pub use page::router;
pub use placement::{ReplicationSet, Ring, RingError};
pub use tokens::{shard_key, tokens_for};
pub use watcher::RingWatcher;
