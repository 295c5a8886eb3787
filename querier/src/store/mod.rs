//! Where the querier reads series and log lines from: blocks in object
//! storage and the ingesters' heads, merged into one
//! [`common::series::SeriesStore`] / [`common::logs::LogStore`].

mod blocks;
pub mod budget;
mod catalog;
mod index_cache;
mod log_blocks;
#[cfg(test)]
mod log_tests;
mod merged;
mod merged_logs;
#[cfg(test)]
mod tests;

pub use blocks::{BlockStore, BlockStoreConfig};
pub use log_blocks::LogBlockStore;
pub use merged::MergedStore;
pub use merged_logs::MergedLogStore;
