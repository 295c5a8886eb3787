//! Sample encodings for metrics chunks.
//!
//! A chunk is a short run of samples of one series, compressed so that the
//! ingester head can hold hours of data in memory and a block can store it
//! compactly. The encoding is independent of where the chunk lives: the head
//! keeps [`xor::XorChunk`]s in memory, `common::block` frames the same bytes
//! into segment files, and readers decode them with [`xor::decode`].

pub(crate) mod bstream;
pub mod xor;
