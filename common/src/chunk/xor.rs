//! The Gorilla / Prometheus XOR chunk: the float-sample encoding of the
//! ingester head and of every block.
//!
//! Scraped series have near-regular timestamps and slowly changing values, so
//! storing the *difference of differences* of timestamps and the XOR of
//! consecutive values' bits takes about 1–2 bytes per sample instead of 16.
//!
//! # Format
//!
//! ```text
//! chunk  := count:uvarint  stream            (count is byte-aligned, then a bit stream)
//! stream := sample0 [sample1 [sampleN ...]]  (zero-padded to a whole byte)
//! sample0 := t:varint(8-bit groups)  v:64 bits
//! sample1 := (t - t0):uvarint  xor(v)
//! sampleN := dod(t)  xor(v)
//! dod    := '0'                       delta of delta is 0
//!         | '10'   14-bit two's complement
//!         | '110'  17-bit
//!         | '1110' 20-bit
//!         | '1111' 64-bit
//! xor    := '0'                       same bits as the previous value
//!         | '10'  meaningful bits      within the previous leading/trailing-zero window
//!         | '11'  leading:5 sigbits:6 meaningful bits   (sigbits 0 means 64)
//! ```
//!
//! The bit stream is exactly Prometheus's `XORChunk` stream; only the header
//! differs (a varint sample count instead of Prometheus's fixed 16 bits, so a
//! chunk has no sample limit). Values are handled as raw bits, so every NaN
//! payload — including the staleness marker — survives bit-for-bit.
//! Timestamp arithmetic wraps, so any `i64` sequence round-trips. The
//! timestamp and value codecs live in `chunk::gorilla`, shared with the
//! [`histogram`](super::histogram) chunk.

use super::gorilla::{StreamError, Timestamps, XorValue};
use super::{ChunkEncoding, ChunkError, ChunkWriter, Frame, SampleDecoder};
use crate::series::Sample;

/// An XOR chunk being built: the ingester's in-memory head chunk.
///
/// [`bytes`](Self::bytes) is always a complete, self-describing encoding of
/// the samples appended so far.
///
/// ```
/// use cairn_common::chunk::xor::{XorChunk, decode};
/// let mut c = XorChunk::new();
/// c.append(1_000, 1.0);
/// c.append(16_000, 2.0);
/// assert_eq!(decode(c.bytes()).unwrap().len(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct XorChunk {
    out: ChunkWriter,
    ts: Timestamps,
    v: XorValue,
}

impl Default for XorChunk {
    fn default() -> Self {
        Self::new()
    }
}

impl XorChunk {
    /// An empty chunk.
    pub fn new() -> Self {
        Self {
            // 120 samples usually fit in ~150 bytes.
            out: ChunkWriter::new(160),
            ts: Timestamps::default(),
            v: XorValue::default(),
        }
    }

    /// Appends a sample. The caller guarantees `t` is greater than the
    /// previous sample's timestamp (other orders still round-trip, just less
    /// compactly).
    pub fn append(&mut self, t: i64, v: f64) {
        let bits = v.to_bits();
        let first = self.out.num() == 0;
        let w = &mut self.out.w;
        self.ts.write(w, t);
        if first {
            w.write_bits(bits, 64);
            self.v = XorValue::starting_at(bits);
        } else {
            self.v.write(w, bits);
        }
        self.out.counted(t);
    }

    /// Number of samples appended.
    pub fn num_samples(&self) -> usize {
        self.out.num()
    }

    /// Timestamp of the first sample, `None` when empty.
    pub fn min_time(&self) -> Option<i64> {
        self.out.time_range().map(|(first, _)| first)
    }

    /// Timestamp of the last sample, `None` when empty.
    pub fn max_time(&self) -> Option<i64> {
        self.out.time_range().map(|(_, last)| last)
    }

    /// The complete encoding (sample-count header included), decodable by
    /// [`decode`].
    pub fn bytes(&self) -> &[u8] {
        self.out.bytes()
    }

    /// Iterates the samples. Meant for chunks built in this process; use
    /// [`decode`] for bytes read from disk or the network.
    pub fn iter(&self) -> impl Iterator<Item = Sample> + '_ {
        super::TrustedIter::new(Decoder::new(self.bytes()).ok())
    }
}

/// Decodes chunk bytes from an untrusted source (a block, the network).
///
/// Never panics; truncated or malformed data is an error. The result holds
/// exactly the number of samples the header promises.
pub fn decode(bytes: &[u8]) -> Result<Vec<Sample>, ChunkError> {
    // Every sample after the first takes at least two bits, so a lying
    // header cannot make us allocate much more than the input justifies.
    let bound = bytes.len().saturating_mul(4).saturating_add(1) as u64;
    Decoder::new(bytes)?.decode_all(bound)
}

/// The number of samples an encoded chunk holds, read from its header
/// without decoding the samples.
pub(crate) fn sample_count(bytes: &[u8]) -> Result<u64, ChunkError> {
    super::sample_count(bytes, ChunkEncoding::Xor)
}

/// Decoding state shared by [`XorChunk::iter`] and [`decode`].
#[derive(Debug, Clone)]
struct Decoder<'a> {
    f: Frame<'a>,
    ts: Timestamps,
    v: XorValue,
}

impl<'a> Decoder<'a> {
    fn new(bytes: &'a [u8]) -> Result<Self, ChunkError> {
        Ok(Self {
            f: Frame::new(bytes, ChunkEncoding::Xor)?,
            ts: Timestamps::default(),
            v: XorValue::default(),
        })
    }
}

impl<'a> SampleDecoder<'a> for Decoder<'a> {
    type Sample = Sample;
    const ENCODING: ChunkEncoding = ChunkEncoding::Xor;

    fn frame(&self) -> &Frame<'a> {
        &self.f
    }

    fn frame_mut(&mut self) -> &mut Frame<'a> {
        &mut self.f
    }

    fn read_sample(&mut self) -> Result<Sample, StreamError> {
        let r = &mut self.f.r;
        let t = self.ts.read(r)?;
        let v = if self.f.done == 0 {
            let bits = r.read_bits(64).ok_or(StreamError::Truncated)?;
            self.v = XorValue::starting_at(bits);
            bits
        } else {
            self.v.read(r)?
        };
        Ok(Sample {
            t,
            v: f64::from_bits(v),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::bstream::put_uvarint;
    use crate::series::STALE_NAN_BITS;
    use proptest::prelude::*;

    fn encode(samples: &[Sample]) -> XorChunk {
        let mut c = XorChunk::new();
        for s in samples {
            c.append(s.t, s.v);
        }
        c
    }

    /// Compares bit patterns so NaNs compare equal to themselves.
    fn assert_same(a: &[Sample], b: &[Sample]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert_eq!(x.t, y.t);
            assert_eq!(x.v.to_bits(), y.v.to_bits(), "at t={}", x.t);
        }
    }

    #[test]
    fn empty_chunk_round_trips() {
        let c = XorChunk::new();
        assert_eq!(c.num_samples(), 0);
        assert_eq!(c.min_time(), None);
        assert_eq!(c.max_time(), None);
        assert_eq!(c.iter().count(), 0);
        assert_eq!(decode(c.bytes()).unwrap(), vec![]);
    }

    #[test]
    fn scrape_like_series_round_trips_compactly() {
        let samples: Vec<Sample> = (0..120)
            .map(|i| Sample {
                t: 1_700_000_000_000 + i * 15_000 + (i % 3),
                v: (i * 10) as f64,
            })
            .collect();
        let c = encode(&samples);
        assert_eq!(c.num_samples(), 120);
        assert_eq!(c.min_time(), Some(samples[0].t));
        assert_eq!(c.max_time(), Some(samples[119].t));
        assert_same(&decode(c.bytes()).unwrap(), &samples);
        assert_same(&c.iter().collect::<Vec<_>>(), &samples);
        assert!(
            c.bytes().len() < 120 * 3,
            "{} bytes for 120 samples",
            c.bytes().len()
        );
    }

    #[test]
    fn nan_payloads_and_stale_markers_survive_bit_for_bit() {
        let stale = f64::from_bits(STALE_NAN_BITS);
        let odd_nan = f64::from_bits(0xfff8_0000_dead_beef);
        let vals = [
            1.0,
            stale,
            f64::NAN,
            odd_nan,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            0.0,
            stale,
        ];
        let samples: Vec<Sample> = vals
            .iter()
            .enumerate()
            .map(|(i, &v)| Sample { t: i as i64, v })
            .collect();
        let c = encode(&samples);
        let out = decode(c.bytes()).unwrap();
        assert_same(&out, &samples);
        assert_eq!(out[1].v.to_bits(), STALE_NAN_BITS);
    }

    #[test]
    fn header_grows_past_one_byte() {
        let samples: Vec<Sample> = (0..20_000)
            .map(|i| Sample {
                t: i * 1000,
                v: (i % 7) as f64,
            })
            .collect();
        let c = encode(&samples);
        assert_same(&decode(c.bytes()).unwrap(), &samples);
        assert_eq!(sample_count(c.bytes()), Ok(20_000));
    }

    #[test]
    fn extreme_timestamps_round_trip() {
        let samples = [
            Sample {
                t: i64::MIN,
                v: 1.0,
            },
            Sample { t: -1, v: 2.0 },
            Sample { t: 0, v: 3.0 },
            Sample {
                t: i64::MAX - 1,
                v: 4.0,
            },
            Sample {
                t: i64::MAX,
                v: 5.0,
            },
        ];
        assert_same(&decode(encode(&samples).bytes()).unwrap(), &samples);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let samples: Vec<Sample> = (0..50)
            .map(|i| Sample {
                t: i * 15_000 + i * i,
                v: (i as f64).sqrt(),
            })
            .collect();
        let c = encode(&samples);
        let bytes = c.bytes();
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut} decoded");
        }
    }

    #[test]
    fn trailing_garbage_is_an_error() {
        let c = encode(&[Sample { t: 1, v: 1.0 }, Sample { t: 2, v: 1.0 }]);
        let mut bytes = c.bytes().to_vec();
        bytes.push(0);
        assert!(matches!(
            decode(&bytes),
            Err(ChunkError::TrailingData { .. })
        ));
    }

    #[test]
    fn lying_header_does_not_allocate_unbounded() {
        // Header claims u64::MAX samples followed by almost nothing.
        let mut bytes = Vec::new();
        put_uvarint(&mut bytes, u64::MAX);
        bytes.extend_from_slice(&[0; 9]);
        assert!(matches!(decode(&bytes), Err(ChunkError::Truncated { .. })));
    }

    fn arb_value() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            (0u64..1000).prop_map(|v| v as f64),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(f64::from_bits(STALE_NAN_BITS)),
            any::<u64>().prop_map(f64::from_bits),
        ]
    }

    fn arb_step() -> impl Strategy<Value = i64> {
        prop_oneof![
            Just(15_000i64),
            14_990i64..15_010,
            1i64..100,
            1i64..(1 << 20),
            1i64..(1 << 40),
            1i64..i64::MAX / 1000,
        ]
    }

    proptest! {
        #[test]
        fn round_trips_any_increasing_series(
            start in any::<i64>().prop_map(|t| t / 2),
            steps in proptest::collection::vec((arb_step(), arb_value()), 0..300),
        ) {
            let mut t = start;
            let mut samples = Vec::new();
            for (step, v) in steps {
                samples.push(Sample { t, v });
                t = t.wrapping_add(step);
            }
            let c = encode(&samples);
            prop_assert_eq!(c.num_samples(), samples.len());
            let out = decode(c.bytes()).unwrap();
            prop_assert_eq!(out.len(), samples.len());
            for (a, b) in out.iter().zip(&samples) {
                prop_assert_eq!(a.t, b.t);
                prop_assert_eq!(a.v.to_bits(), b.v.to_bits());
            }
            prop_assert_eq!(c.iter().count(), samples.len());
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = decode(&bytes);
            let _ = sample_count(&bytes);
        }

        #[test]
        fn corrupted_chunks_never_panic(
            steps in proptest::collection::vec((arb_step(), arb_value()), 1..150),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut c = XorChunk::new();
            let mut t = 0i64;
            for (step, v) in steps {
                c.append(t, v);
                t = t.wrapping_add(step);
            }
            let mut bytes = c.bytes().to_vec();
            for (i, bit) in flips {
                let i = i.index(bytes.len());
                bytes[i] ^= 1 << bit;
            }
            let _ = decode(&bytes);
            let cut = cut.index(bytes.len() + 1);
            let _ = decode(&bytes[..cut]);
        }
    }
}
