//! Sample encodings for metrics chunks.
//!
//! A chunk is a short run of samples of one series, compressed so that the
//! ingester head can hold hours of data in memory and a block can store it
//! compactly. The encoding is independent of where the chunk lives: the head
//! keeps [`xor::XorChunk`]s (float samples) and
//! [`histogram::HistogramChunk`]s (native histograms) in memory,
//! `common::block` frames the same bytes into segment files, and readers
//! decode them with [`xor::decode`] and [`histogram::decode`].

pub(crate) mod bstream;
mod gorilla;
pub mod histogram;
pub mod xor;

/// Which sample encoding a [`ChunkError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkEncoding {
    /// [`xor`]: float samples.
    Xor,
    /// [`histogram`]: native histogram samples.
    Histogram,
}

impl std::fmt::Display for ChunkEncoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Xor => "XOR",
            Self::Histogram => "histogram",
        })
    }
}

/// Why untrusted chunk bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// The input is empty or its sample-count header is malformed.
    #[error("{0} chunk has no valid sample-count header")]
    BadHeader(ChunkEncoding),
    /// The data ended before the promised number of samples.
    #[error("{encoding} chunk truncated: data ends after {decoded} of {expected} samples")]
    Truncated {
        /// The chunk's encoding.
        encoding: ChunkEncoding,
        /// Samples decoded before the data ran out.
        decoded: usize,
        /// Samples the header promised.
        expected: u64,
    },
    /// A sample's encoding is impossible (the bytes are not such a chunk).
    #[error("{encoding} chunk corrupt at sample {sample}: {reason}")]
    Corrupt {
        /// The chunk's encoding.
        encoding: ChunkEncoding,
        /// Index of the sample being decoded.
        sample: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// Bytes or non-zero padding bits follow the last sample.
    #[error(
        "{encoding} chunk has {bytes} unexpected trailing bytes or non-zero padding after its last sample"
    )]
    TrailingData {
        /// The chunk's encoding.
        encoding: ChunkEncoding,
        /// How many bytes are left over.
        bytes: usize,
    },
}

impl ChunkError {
    /// The error for a failed bit-stream read at sample `sample` of a chunk
    /// promising `expected` samples.
    fn at_sample(
        encoding: ChunkEncoding,
        sample: usize,
        expected: u64,
        e: gorilla::StreamError,
    ) -> Self {
        match e {
            gorilla::StreamError::Truncated => Self::Truncated {
                encoding,
                decoded: sample,
                expected,
            },
            gorilla::StreamError::Corrupt(reason) => Self::Corrupt {
                encoding,
                sample,
                reason,
            },
        }
    }
}

/// Checks that after a chunk's last sample only zero padding is left.
fn check_end(encoding: ChunkEncoding, r: &bstream::BitReader<'_>) -> Result<(), ChunkError> {
    let mut rest = r.clone();
    let left = rest.remaining_bits();
    if left >= 8 || rest.read_bits(left as u32) != Some(0) {
        return Err(ChunkError::TrailingData {
            encoding,
            bytes: left.div_ceil(8),
        });
    }
    Ok(())
}
