//! Where the querier reads series from: blocks in object storage and the
//! ingesters' heads, merged into one [`common::series::SeriesStore`].

mod blocks;
pub mod budget;
mod index_cache;
mod merged;
#[cfg(test)]
mod tests;

pub use blocks::{BlockStore, BlockStoreConfig};
pub use merged::MergedStore;
