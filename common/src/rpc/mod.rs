//! The internal gRPC service between Cairn's processes in distributed mode:
//! distributors push to ingesters and queriers (and rulers) query them.
//!
//! Both ends speak through the traits the single-process wiring already uses
//! ([`crate::push::MetricsPusher`], [`crate::series::SeriesStore`],
//! [`crate::logs::LogsPusher`], [`crate::logs::LogStore`],
//! [`crate::traces::TracesPusher`], [`crate::traces::TraceStore`], exemplar
//! and metadata sources): the ingester is served by [`IngesterGrpc`], and
//! [`IngesterClient`] implements the same traits for one remote ingester,
//! so replication and fan-out are written once over the traits.
//!
//! Query filters that are code (a LogQL line filter, a TraceQL span filter)
//! run on the caller over what the ingester returns.

mod client;
mod convert;
pub mod messages;
mod pool;
mod server;

use std::sync::Arc;

pub use client::{ClientConfig, IngesterClient};
pub use convert::InvalidMessage;
pub use pool::ClientPool;
pub use server::IngesterGrpc;

use crate::exemplar::ExemplarSource;
use crate::logs::{LogStore, LogsPusher};
use crate::metadata::MetadataSource;
use crate::push::MetricsPusher;
use crate::series::SeriesStore;
use crate::traces::{TraceStore, TracesPusher};

/// The gRPC service name (`/cairn.ingester.v1.Ingester/<Method>`).
pub const SERVICE: &str = "cairn.ingester.v1.Ingester";

/// Everything an ingester answers over the internal service.
pub trait IngesterApi:
    MetricsPusher
    + SeriesStore
    + ExemplarSource
    + MetadataSource
    + LogsPusher
    + LogStore
    + TracesPusher
    + TraceStore
    + 'static
{
}

impl<T> IngesterApi for T where
    T: MetricsPusher
        + SeriesStore
        + ExemplarSource
        + MetadataSource
        + LogsPusher
        + LogStore
        + TracesPusher
        + TraceStore
        + 'static
{
}

/// A shared handle to any ingester, local or remote.
pub type DynIngester = Arc<dyn IngesterApi>;

/// Bytes of payload per streamed message (well under the message limit).
const BATCH_BYTES: usize = 1 << 20;

/// Splits `items` into batches of about [`BATCH_BYTES`] by `size`; at least
/// one (possibly empty) batch, so a stream always carries a message.
fn batches<T>(items: impl IntoIterator<Item = T>, size: impl Fn(&T) -> usize) -> Vec<Vec<T>> {
    let mut out = vec![Vec::new()];
    let mut bytes = 0;
    for item in items {
        let n = size(&item);
        if bytes + n > BATCH_BYTES && out.last().is_some_and(|b| !b.is_empty()) {
            out.push(Vec::new());
            bytes = 0;
        }
        bytes += n;
        if let Some(b) = out.last_mut() {
            b.push(item);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn batches_split_by_size_and_keep_order() {
        let items: Vec<usize> = (0..10).collect();
        let b = super::batches(items.clone(), |_| 300 << 10);
        assert_eq!(b.len(), 4);
        assert_eq!(b.concat(), items);
        assert_eq!(
            super::batches(Vec::<u8>::new(), |_| 1),
            vec![Vec::<u8>::new()]
        );
        // An item larger than a batch still travels, alone.
        assert_eq!(super::batches(vec![1, 2], |_| 4 << 20).len(), 2);
    }
}
