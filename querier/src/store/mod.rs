//! Where the querier reads series, log lines and spans from: blocks in
//! object storage and the ingesters' heads, merged into one
//! [`common::series::SeriesStore`] / [`common::logs::LogStore`] /
//! [`common::traces::TraceStore`].

mod blocks;
pub mod budget;
mod catalog;
mod index_cache;
mod ingesters;
mod log_blocks;
#[cfg(test)]
mod log_tests;
mod merged;
mod merged_logs;
mod merged_traces;
#[cfg(test)]
mod tests;
mod trace_blocks;

pub use blocks::{BlockStore, BlockStoreConfig};
pub use ingesters::RingIngesters;
pub use log_blocks::LogBlockStore;
pub use merged::MergedStore;
pub use merged_logs::MergedLogStore;
pub use merged_traces::MergedTraceStore;
pub use trace_blocks::TraceBlockStore;
