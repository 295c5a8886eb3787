//! Where the querier reads series from: blocks in object storage and the
//! ingesters' heads, merged into one [`common::series::SeriesStore`].

mod blocks;
mod merged;

pub use blocks::BlockStore;
pub use merged::MergedStore;
