//! Cairn's shared vocabulary: the types and codecs every service uses.
//!
//! Codecs (chunks, blocks, WAL) live here once and are used by both their
//! writers (ingester, compactor) and readers (querier).

pub mod auth;
pub mod block;
pub mod build_info;
pub mod chunk;
pub mod cpu_work;
pub mod discard;
pub mod exemplar;
pub mod histogram;
pub mod labels;
pub mod limits;
pub mod logs;
pub mod metadata;
pub mod postings;
pub mod push;
pub mod ring;
pub mod rpc;
pub mod series;
pub mod shard;
pub mod storage;
pub mod tenant;
pub mod time;
pub mod tls;
pub mod traces;
pub mod wal;
