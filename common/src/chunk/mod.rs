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

/// What every chunk appender keeps besides its encoding's state: the bit
/// stream behind its sample-count header, the count, and the time range.
#[derive(Debug, Clone)]
pub(crate) struct ChunkWriter {
    /// The encoding: header, then the samples' bits.
    pub(crate) w: bstream::BitWriter,
    /// Length of the varint sample-count header at the start of `w`.
    header_len: usize,
    num: usize,
    first_t: i64,
    last_t: i64,
}

impl ChunkWriter {
    /// An empty chunk (header: count 0) with room for `capacity` bytes.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            w: bstream::BitWriter::with_prefix(&[0], capacity),
            header_len: 1,
            num: 0,
            first_t: 0,
            last_t: 0,
        }
    }

    /// Counts the sample at `t` whose bits were just written, keeping the
    /// header current so the bytes always decode.
    pub(crate) fn counted(&mut self, t: i64) {
        if self.num == 0 {
            self.first_t = t;
        }
        self.last_t = t;
        self.num += 1;
        let (header, len) = bstream::uvarint_bytes(self.num as u64);
        self.w.replace_prefix(self.header_len, &header[..len]);
        self.header_len = len;
    }

    /// Samples written.
    pub(crate) fn num(&self) -> usize {
        self.num
    }

    /// First and last sample's timestamps, `None` when empty.
    pub(crate) fn time_range(&self) -> Option<(i64, i64)> {
        (self.num > 0).then_some((self.first_t, self.last_t))
    }

    /// The complete encoding.
    pub(crate) fn bytes(&self) -> &[u8] {
        self.w.bytes()
    }
}

/// Where a decoder is in a chunk: both encodings are a sample-count
/// header (uvarint) then a bit stream of samples.
#[derive(Debug, Clone)]
pub(crate) struct Frame<'a> {
    /// The bit stream after the header.
    pub(crate) r: bstream::BitReader<'a>,
    /// Samples the header promises.
    pub(crate) total: u64,
    /// Samples decoded so far.
    pub(crate) done: usize,
}

impl<'a> Frame<'a> {
    /// Reads the header of `bytes`.
    pub(crate) fn new(bytes: &'a [u8], encoding: ChunkEncoding) -> Result<Self, ChunkError> {
        let (total, header_len) =
            bstream::get_uvarint(bytes).ok_or(ChunkError::BadHeader(encoding))?;
        let stream = bytes
            .get(header_len..)
            .ok_or(ChunkError::BadHeader(encoding))?;
        Ok(Self {
            r: bstream::BitReader::new(stream),
            total,
            done: 0,
        })
    }
}

/// The number of samples encoded chunk `bytes` holds, read from its
/// header without decoding the samples.
pub(crate) fn sample_count(bytes: &[u8], encoding: ChunkEncoding) -> Result<u64, ChunkError> {
    bstream::get_uvarint(bytes)
        .map(|(n, _)| n)
        .ok_or(ChunkError::BadHeader(encoding))
}

/// A chunk decoder: the encoding reads one sample, the shared framing
/// counts samples, names errors and checks the end.
pub(crate) trait SampleDecoder<'a> {
    /// What one sample decodes to.
    type Sample;
    /// The encoding, for error messages.
    const ENCODING: ChunkEncoding;
    /// The framing state.
    fn frame(&self) -> &Frame<'a>;
    /// The framing state, to advance.
    fn frame_mut(&mut self) -> &mut Frame<'a>;
    /// Reads the next sample's bits (sample number `frame().done`).
    fn read_sample(&mut self) -> Result<Self::Sample, gorilla::StreamError>;

    /// The next sample, `None` after the last the header promises.
    fn next_sample(&mut self) -> Result<Option<Self::Sample>, ChunkError> {
        let (done, total) = (self.frame().done, self.frame().total);
        if done as u64 >= total {
            return Ok(None);
        }
        let s = self
            .read_sample()
            .map_err(|e| ChunkError::at_sample(Self::ENCODING, done, total, e))?;
        self.frame_mut().done += 1;
        Ok(Some(s))
    }

    /// Every sample of untrusted bytes, checking nothing but zero padding
    /// follows them. `bound` caps the up-front allocation (what the input's
    /// size can justify, whatever the header claims).
    fn decode_all(mut self, bound: u64) -> Result<Vec<Self::Sample>, ChunkError>
    where
        Self: Sized,
    {
        let mut out = Vec::with_capacity(self.frame().total.min(bound) as usize);
        while let Some(s) = self.next_sample()? {
            out.push(s);
        }
        check_end(Self::ENCODING, &self.frame().r)?;
        Ok(out)
    }
}

/// Iterator over the samples of a chunk built in this process (trusted
/// bytes): stops early, rather than panicking, if they turn out malformed.
#[derive(Debug, Clone)]
pub(crate) struct TrustedIter<'a, D> {
    dec: Option<D>,
    stream: std::marker::PhantomData<&'a [u8]>,
}

impl<D> TrustedIter<'_, D> {
    pub(crate) fn new(dec: Option<D>) -> Self {
        Self {
            dec,
            stream: std::marker::PhantomData,
        }
    }
}

impl<'a, D: SampleDecoder<'a>> Iterator for TrustedIter<'a, D> {
    type Item = D::Sample;

    fn next(&mut self) -> Option<D::Sample> {
        let dec = self.dec.as_mut()?;
        match dec.next_sample() {
            Ok(Some(s)) => Some(s),
            Ok(None) | Err(_) => {
                self.dec = None;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.dec.as_ref().map_or(0, |d| {
            let f = d.frame();
            f.total.saturating_sub(f.done as u64)
        });
        (0, Some(usize::try_from(left).unwrap_or(usize::MAX)))
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
