//! The native-histogram chunk: the histogram counterpart of the
//! [`xor`](super::xor) chunk, for the ingester head, block chunk frames, the
//! WAL and the ingester RPC.
//!
//! A scraped histogram changes its bucket layout rarely and its counts a
//! little at every scrape, so the layout is written only when it changes and
//! every field is written as its change from the previous sample: in the
//! spirit of Prometheus's histogram chunks, counts that are integers (what
//! clients send) as the change of their integer increase, any other float
//! XORed against the same field of the previous sample.
//!
//! # Format
//!
//! ```text
//! chunk   := count:uvarint  stream          (count is byte-aligned, then a bit stream)
//! stream  := sample0 [sampleN ...]          (zero-padded to a whole byte)
//! sample0 := t  hint:2  layout  values
//! sampleN := t  meta  values
//! t       := delta-of-delta timestamp       (exactly as in the XOR chunk)
//! meta    := '0'                            same hint and layout as the previous sample
//!          | '1' hint:2 '0'                 new hint, same layout
//!          | '1' hint:2 '1' layout          new layout (and this hint)
//! hint    := 0 unknown | 1 counter reset | 2 not a counter reset | 3 gauge
//! layout  := schema:varint  zero_threshold:64 bits
//!            custom_count:uvarint  xor(custom value)*      (XOR chain starting from 0)
//!            positive:spans  negative:spans
//! spans   := span_count:uvarint  (offset:varint  length:uvarint)*  bucket_count:uvarint
//! values  := xor(sum)  counts
//! counts  := '1' dod(count) dod(zero_count) dod(positive bucket)* dod(negative bucket)*
//!          | '0' xor(count) xor(zero_count) xor(positive bucket)* xor(negative bucket)*
//! dod     := varbit((v - p) - d)
//! varbit  := '0'                            0
//!          | '10' 3 bits | '110' 6 | '1110' 9 | '11110' 12 | '111110' 18
//!          | '1111110' 25 | '11111110' 56 | '11111111' 64   (two's complement)
//! ```
//!
//! Varints inside the stream are written eight bits at a time, unaligned.
//! Each `xor` is the Gorilla value encoding of the XOR chunk against the
//! previous sample's value `p` of the same field (0 before the first
//! sample), each field with its own leading/trailing-zero window. The
//! integer form (`'1'`) is used for a sample whose counts and their previous
//! values are all integers an `f64` holds exactly (|v| <= 2^53, not -0.0);
//! `d` is the field's previous increase `p - pp` when `p` and the value
//! before it were such integers too, else 0. Counters growing at a steady
//! rate so cost one bit per bucket, and the flag lets a chunk switch forms
//! from one sample to the next without re-encoding what came before.
//!
//! A bucket is the same field in two samples when it has the same bucket
//! index: after a layout change, buckets the previous layout also had keep
//! their state, new ones start from 0.
//!
//! Every field round-trips bit for bit: NaN payloads (the staleness marker in
//! `sum`), custom bucket bounds (schema -53), and even bucket counts that do
//! not match their spans, because `bucket_count` is stored.

use std::sync::Arc;

use super::bstream::{BitReader, BitWriter};
use super::gorilla::{StreamError, Timestamps, XorValue, read_varbit_int, write_varbit_int};
use super::{ChunkEncoding, ChunkError, ChunkWriter, Frame, SampleDecoder};
use crate::histogram::{CounterResetHint, FloatHistogram, HistogramSample, Span};

const ENCODING: ChunkEncoding = ChunkEncoding::Histogram;

/// Integers up to this magnitude are exact in an `f64`; counts within it
/// may use the integer encoding.
const MAX_EXACT_INT: i64 = 1 << 53;

/// Every span is at least two bytes (an offset and a length varint).
const MIN_SPAN_BITS: usize = 16;

/// [`decode`] refuses input whose histograms would hold more buckets, spans
/// and custom bounds in total than this plus [`ELEMENTS_PER_INPUT_BYTE`] per
/// input byte. Samples repeat their layout without re-sending it, so without
/// a limit a few bytes could declare thousands of custom bounds and repeat
/// them in every sample; any chunk the ingester builds (at most 120 samples)
/// stays far below it.
const ELEMENT_BUDGET_FLOOR: usize = 1 << 18;

/// See [`ELEMENT_BUDGET_FLOOR`].
const ELEMENTS_PER_INPUT_BYTE: usize = 64;

/// A histogram chunk being built: the ingester's in-memory head chunk, and
/// the unit the WAL, blocks and the ingester RPC carry histograms in.
///
/// [`bytes`](Self::bytes) is always a complete, self-describing encoding of
/// the samples appended so far. Appending writes only the new sample's bits.
///
/// ```
/// use cairn_common::chunk::histogram::{HistogramChunk, decode};
/// use cairn_common::histogram::FloatHistogram;
/// let mut c = HistogramChunk::new();
/// let h = FloatHistogram { count: 3.0, sum: 4.5, ..FloatHistogram::default() };
/// c.append(1_000, &h);
/// c.append(16_000, &h);
/// let samples = decode(c.bytes()).unwrap();
/// assert_eq!(samples.len(), 2);
/// assert_eq!(*samples[1].h, h);
/// ```
#[derive(Debug, Clone)]
pub struct HistogramChunk {
    out: ChunkWriter,
    state: State,
}

impl Default for HistogramChunk {
    fn default() -> Self {
        Self::new()
    }
}

impl HistogramChunk {
    /// An empty chunk.
    pub fn new() -> Self {
        Self {
            out: ChunkWriter::new(256),
            state: State::default(),
        }
    }

    /// Appends a histogram sample. The caller guarantees `t` is greater than
    /// the previous sample's timestamp (other orders still round-trip, just
    /// less compactly).
    pub fn append(&mut self, t: i64, h: &FloatHistogram) {
        let first = self.out.num() == 0;
        let (w, s) = (&mut self.out.w, &mut self.state);
        s.ts.write(w, t);
        let new_layout = first || !s.layout.matches(h);
        if first {
            write_hint(w, h.counter_reset_hint);
        } else if new_layout || h.counter_reset_hint != s.hint {
            w.write_bit(true);
            write_hint(w, h.counter_reset_hint);
            w.write_bit(new_layout);
        } else {
            w.write_bit(false);
        }
        s.hint = h.counter_reset_hint;
        if new_layout {
            s.set_layout(Layout::of(h));
            s.layout.write(w);
        }
        s.sum.write(w, h.sum.to_bits());
        let int = s.counts_are_ints(h);
        w.write_bit(int);
        s.count.write(w, h.count.to_bits(), int);
        s.zero_count.write(w, h.zero_count.to_bits(), int);
        for (field, v) in s.positive.values.iter_mut().zip(&h.positive_buckets) {
            field.write(w, v.to_bits(), int);
        }
        for (field, v) in s.negative.values.iter_mut().zip(&h.negative_buckets) {
            field.write(w, v.to_bits(), int);
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
    pub fn iter(&self) -> impl Iterator<Item = HistogramSample> + '_ {
        super::TrustedIter::new(Decoder::new(self.bytes(), usize::MAX).ok())
    }
}

/// Decodes histogram chunk bytes from an untrusted source (a block, the WAL,
/// the network).
///
/// Never panics; truncated or malformed data is an error. The result holds
/// exactly the number of samples the header promises. Its size is bounded
/// by the input's: histograms holding more than 2^18 buckets, spans and
/// custom bounds in total plus 64 per input byte are refused, since layouts
/// repeat without being re-sent.
pub fn decode(bytes: &[u8]) -> Result<Vec<HistogramSample>, ChunkError> {
    let budget =
        ELEMENT_BUDGET_FLOOR.saturating_add(bytes.len().saturating_mul(ELEMENTS_PER_INPUT_BYTE));
    // Every sample after the first takes at least five bits (timestamp,
    // meta, count, zero count, sum), so a lying header cannot make us
    // allocate much more than the input justifies.
    let bound = bytes.len().saturating_mul(2).saturating_add(1) as u64;
    Decoder::new(bytes, budget)?.decode_all(bound)
}

/// The number of samples an encoded chunk holds, read from its header
/// without decoding the samples (what a block's index records per chunk).
pub fn sample_count(bytes: &[u8]) -> Result<u64, ChunkError> {
    super::sample_count(bytes, ENCODING)
}

fn write_hint(w: &mut BitWriter, hint: CounterResetHint) {
    let code = match hint {
        CounterResetHint::Unknown => 0,
        CounterResetHint::CounterReset => 1,
        CounterResetHint::NotCounterReset => 2,
        CounterResetHint::Gauge => 3,
    };
    w.write_bits(code, 2);
}

fn read_hint(r: &mut BitReader<'_>) -> Result<CounterResetHint, StreamError> {
    Ok(match r.read_bits(2).ok_or(StreamError::Truncated)? {
        0 => CounterResetHint::Unknown,
        1 => CounterResetHint::CounterReset,
        2 => CounterResetHint::NotCounterReset,
        _ => CounterResetHint::Gauge,
    })
}

/// The part of a histogram written only when it changes.
#[derive(Debug, Clone, Default)]
struct Layout {
    schema: i32,
    zero_threshold: f64,
    custom_values: Vec<f64>,
    positive_spans: Vec<Span>,
    negative_spans: Vec<Span>,
    positive_len: usize,
    negative_len: usize,
}

impl Layout {
    fn of(h: &FloatHistogram) -> Self {
        Self {
            schema: h.schema,
            zero_threshold: h.zero_threshold,
            custom_values: h.custom_values.clone(),
            positive_spans: h.positive_spans.clone(),
            negative_spans: h.negative_spans.clone(),
            positive_len: h.positive_buckets.len(),
            negative_len: h.negative_buckets.len(),
        }
    }

    /// True when `h` has exactly this layout (floats compared by bits).
    fn matches(&self, h: &FloatHistogram) -> bool {
        self.schema == h.schema
            && self.zero_threshold.to_bits() == h.zero_threshold.to_bits()
            && self.custom_values.len() == h.custom_values.len()
            && self
                .custom_values
                .iter()
                .zip(&h.custom_values)
                .all(|(a, b)| a.to_bits() == b.to_bits())
            && self.positive_spans == h.positive_spans
            && self.negative_spans == h.negative_spans
            && self.positive_len == h.positive_buckets.len()
            && self.negative_len == h.negative_buckets.len()
    }

    /// Buckets, spans and custom bounds: what a histogram of this layout
    /// holds, for the decoder's output budget.
    fn elements(&self) -> usize {
        self.custom_values.len()
            + self.positive_spans.len()
            + self.negative_spans.len()
            + self.positive_len
            + self.negative_len
    }

    fn write(&self, w: &mut BitWriter) {
        w.write_varint(i64::from(self.schema));
        w.write_bits(self.zero_threshold.to_bits(), 64);
        w.write_uvarint(self.custom_values.len() as u64);
        let mut bound = XorValue::default();
        for v in &self.custom_values {
            bound.write(w, v.to_bits());
        }
        write_spans(w, &self.positive_spans, self.positive_len);
        write_spans(w, &self.negative_spans, self.negative_len);
    }

    fn read(r: &mut BitReader<'_>) -> Result<Self, StreamError> {
        let schema = r.read_varint().ok_or(StreamError::Truncated)?;
        let schema =
            i32::try_from(schema).map_err(|_| StreamError::Corrupt("schema out of range"))?;
        let zero_threshold = f64::from_bits(r.read_bits(64).ok_or(StreamError::Truncated)?);
        // Each custom bound takes at least one bit.
        let n = read_len(r, 1)?;
        let mut bound = XorValue::default();
        let mut custom_values = Vec::with_capacity(n);
        for _ in 0..n {
            custom_values.push(f64::from_bits(bound.read(r)?));
        }
        let (positive_spans, positive_len) = read_spans(r)?;
        let (negative_spans, negative_len) = read_spans(r)?;
        // Each bucket takes at least one bit in the sample that follows.
        if positive_len.saturating_add(negative_len) > r.remaining_bits() {
            return Err(StreamError::Truncated);
        }
        Ok(Self {
            schema,
            zero_threshold,
            custom_values,
            positive_spans,
            negative_spans,
            positive_len,
            negative_len,
        })
    }
}

fn write_spans(w: &mut BitWriter, spans: &[Span], buckets: usize) {
    w.write_uvarint(spans.len() as u64);
    for s in spans {
        w.write_varint(i64::from(s.offset));
        w.write_uvarint(u64::from(s.length));
    }
    w.write_uvarint(buckets as u64);
}

fn read_spans(r: &mut BitReader<'_>) -> Result<(Vec<Span>, usize), StreamError> {
    let n = read_len(r, MIN_SPAN_BITS)?;
    let mut spans = Vec::with_capacity(n);
    for _ in 0..n {
        let offset = r.read_varint().ok_or(StreamError::Truncated)?;
        let length = r.read_uvarint().ok_or(StreamError::Truncated)?;
        spans.push(Span {
            offset: i32::try_from(offset)
                .map_err(|_| StreamError::Corrupt("span offset out of range"))?,
            length: u32::try_from(length)
                .map_err(|_| StreamError::Corrupt("span length out of range"))?,
        });
    }
    let buckets = read_len(r, 1)?;
    Ok((spans, buckets))
}

/// Reads a count of items that take at least `min_bits` each; a count the
/// remaining bits cannot hold means the data ended early.
fn read_len(r: &mut BitReader<'_>, min_bits: usize) -> Result<usize, StreamError> {
    let n = r.read_uvarint().ok_or(StreamError::Truncated)?;
    match usize::try_from(n) {
        Ok(n) if n <= r.remaining_bits() / min_bits => Ok(n),
        _ => Err(StreamError::Truncated),
    }
}

/// The state of one count field (total, zero bucket, or one bucket): its
/// XOR state, which holds its previous value, and its previous increase
/// when both it and the value before were integers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Count {
    xor: XorValue,
    delta: i64,
}

impl Count {
    /// Writes `bits` as the change of its increase (`int`: the caller
    /// checked that it and the previous value are exact integers) or XORed.
    fn write(&mut self, w: &mut BitWriter, bits: u64, int: bool) {
        let prev = self.xor.bits();
        let step = int_step(prev, bits);
        if int {
            write_varbit_int(w, step.unwrap_or_default().wrapping_sub(self.delta));
            self.xor.set_bits(bits);
        } else {
            self.xor.write(w, bits);
        }
        self.delta = step.unwrap_or(0);
    }

    fn read(&mut self, r: &mut BitReader<'_>, int: bool) -> Result<u64, StreamError> {
        let prev = self.xor.bits();
        let bits = if int {
            let p = exact_int(prev).ok_or(StreamError::Corrupt(
                "integer count after a non-integer value",
            ))?;
            let v = p.wrapping_add(self.delta).wrapping_add(read_varbit_int(r)?);
            if v.unsigned_abs() > MAX_EXACT_INT as u64 {
                return Err(StreamError::Corrupt("integer count out of range"));
            }
            let bits = (v as f64).to_bits();
            self.xor.set_bits(bits);
            bits
        } else {
            self.xor.read(r)?
        };
        self.delta = int_step(prev, bits).unwrap_or(0);
        Ok(bits)
    }

    /// True when this field's previous value and `bits` are exact integers.
    fn int_with(&self, bits: u64) -> bool {
        int_step(self.xor.bits(), bits).is_some()
    }
}

/// The value `bits` holds when it is an integer an `f64` represents exactly
/// (not -0.0, whose bits an integer would not give back).
fn exact_int(bits: u64) -> Option<i64> {
    let v = f64::from_bits(bits);
    if v.fract() != 0.0 || v.abs() > MAX_EXACT_INT as f64 {
        return None;
    }
    let i = v as i64;
    ((i as f64).to_bits() == bits).then_some(i)
}

/// The integer increase from `prev` to `bits`, when both are exact integers.
fn int_step(prev: u64, bits: u64) -> Option<i64> {
    Some(exact_int(bits)? - exact_int(prev)?)
}

/// The count state of the buckets on one side (positive or negative), keyed
/// by bucket index so a layout change keeps the state of surviving buckets.
#[derive(Debug, Clone, Default)]
struct Buckets {
    index: Vec<i64>,
    values: Vec<Count>,
}

impl Buckets {
    /// Re-keys the state to `len` buckets laid out by `spans`: a bucket
    /// whose index the previous layout had keeps its state, a new one
    /// starts from 0.
    fn relayout(&mut self, spans: &[Span], len: usize) {
        let index = bucket_indexes(spans, len);
        let mut old = 0;
        let values = index
            .iter()
            .map(|&i| {
                while self.index.get(old).is_some_and(|&o| o < i) {
                    old += 1;
                }
                match (self.index.get(old), self.values.get(old)) {
                    (Some(&o), Some(&v)) if o == i => v,
                    _ => Count::default(),
                }
            })
            .collect();
        self.index = index;
        self.values = values;
    }
}

/// The bucket index of each of `len` buckets laid out by `spans`; buckets
/// beyond what the spans cover (a malformed histogram, still stored as is)
/// continue after the last span.
fn bucket_indexes(spans: &[Span], len: usize) -> Vec<i64> {
    let mut out = Vec::with_capacity(len);
    let mut idx = 0i64;
    for (k, span) in spans.iter().enumerate() {
        idx = if k == 0 {
            i64::from(span.offset)
        } else {
            idx.saturating_add(i64::from(span.offset))
        };
        for _ in 0..span.length {
            if out.len() == len {
                return out;
            }
            out.push(idx);
            idx = idx.saturating_add(1);
        }
    }
    while out.len() < len {
        out.push(idx);
        idx = idx.saturating_add(1);
    }
    out
}

/// Encoder and decoder state: what the previous sample left behind.
#[derive(Debug, Clone, Default)]
struct State {
    ts: Timestamps,
    hint: CounterResetHint,
    layout: Layout,
    count: Count,
    zero_count: Count,
    sum: XorValue,
    positive: Buckets,
    negative: Buckets,
}

impl State {
    fn set_layout(&mut self, layout: Layout) {
        self.positive
            .relayout(&layout.positive_spans, layout.positive_len);
        self.negative
            .relayout(&layout.negative_spans, layout.negative_len);
        self.layout = layout;
    }

    /// True when every count of `h` and its previous value are exact
    /// integers, so the sample can use the integer encoding.
    fn counts_are_ints(&self, h: &FloatHistogram) -> bool {
        self.count.int_with(h.count.to_bits())
            && self.zero_count.int_with(h.zero_count.to_bits())
            && (self.positive.values.iter())
                .zip(&h.positive_buckets)
                .all(|(c, v)| c.int_with(v.to_bits()))
            && (self.negative.values.iter())
                .zip(&h.negative_buckets)
                .all(|(c, v)| c.int_with(v.to_bits()))
    }
}

/// Decoding state shared by [`HistogramChunk::iter`] and [`decode`].
#[derive(Debug, Clone)]
struct Decoder<'a> {
    f: Frame<'a>,
    /// Buckets, spans and custom bounds the remaining samples may still
    /// hold in total.
    budget: usize,
    state: State,
}

impl<'a> Decoder<'a> {
    fn new(bytes: &'a [u8], budget: usize) -> Result<Self, ChunkError> {
        Ok(Self {
            f: Frame::new(bytes, ENCODING)?,
            budget,
            state: State::default(),
        })
    }
}

impl<'a> SampleDecoder<'a> for Decoder<'a> {
    type Sample = HistogramSample;
    const ENCODING: ChunkEncoding = ENCODING;

    fn frame(&self) -> &Frame<'a> {
        &self.f
    }

    fn frame_mut(&mut self) -> &mut Frame<'a> {
        &mut self.f
    }

    fn read_sample(&mut self) -> Result<HistogramSample, StreamError> {
        let (r, s) = (&mut self.f.r, &mut self.state);
        let t = s.ts.read(r)?;
        let new_layout = if self.f.done == 0 {
            s.hint = read_hint(r)?;
            true
        } else if r.read_bit().ok_or(StreamError::Truncated)? {
            s.hint = read_hint(r)?;
            r.read_bit().ok_or(StreamError::Truncated)?
        } else {
            false
        };
        if new_layout {
            s.set_layout(Layout::read(r)?);
        }
        self.budget = self
            .budget
            .checked_sub(s.layout.elements())
            .ok_or(StreamError::Corrupt(
                "histograms hold more buckets than the input can justify",
            ))?;
        let sum = f64::from_bits(s.sum.read(r)?);
        let int = r.read_bit().ok_or(StreamError::Truncated)?;
        let count = f64::from_bits(s.count.read(r, int)?);
        let zero_count = f64::from_bits(s.zero_count.read(r, int)?);
        let positive_buckets = read_buckets(r, &mut s.positive, int)?;
        let negative_buckets = read_buckets(r, &mut s.negative, int)?;
        let layout = &s.layout;
        Ok(HistogramSample {
            t,
            h: Arc::new(FloatHistogram {
                schema: layout.schema,
                zero_threshold: layout.zero_threshold,
                zero_count,
                count,
                sum,
                positive_spans: layout.positive_spans.clone(),
                positive_buckets,
                negative_spans: layout.negative_spans.clone(),
                negative_buckets,
                custom_values: layout.custom_values.clone(),
                counter_reset_hint: s.hint,
            }),
        })
    }
}

fn read_buckets(
    r: &mut BitReader<'_>,
    buckets: &mut Buckets,
    int: bool,
) -> Result<Vec<f64>, StreamError> {
    let mut out = Vec::with_capacity(buckets.values.len());
    for field in &mut buckets.values {
        out.push(f64::from_bits(field.read(r, int)?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::bstream::put_uvarint;
    use crate::chunk::xor::XorChunk;
    use crate::histogram::CUSTOM_BUCKETS_SCHEMA;
    use crate::series::STALE_NAN_BITS;
    use proptest::prelude::*;

    fn encode(samples: &[(i64, FloatHistogram)]) -> HistogramChunk {
        let mut c = HistogramChunk::new();
        for (t, h) in samples {
            c.append(*t, h);
        }
        c
    }

    fn assert_same(got: &[HistogramSample], want: &[(i64, FloatHistogram)]) {
        assert_eq!(got.len(), want.len());
        for (g, (t, h)) in got.iter().zip(want) {
            assert_eq!(g.t, *t);
            assert!(g.h.bit_eq(h), "at t={t}: got {:?}, want {h:?}", g.h);
        }
    }

    fn span(offset: i32, length: u32) -> Span {
        Span { offset, length }
    }

    /// A scraped counter histogram: schema 3, 20 populated positive buckets
    /// in two spans, a zero bucket, counts growing by small integers every
    /// 15 s. Also returns each bucket's upper bound for the classic twin.
    fn scraped(samples: usize) -> (Vec<(i64, FloatHistogram)>, Vec<f64>) {
        let spans = vec![span(10, 12), span(3, 8)];
        let bounds: Vec<f64> = crate::histogram::expand(&spans, &[0.0; 20])
            .into_iter()
            .map(|(i, _)| 2f64.powf(f64::from(i) / 8.0))
            .collect();
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let mut h = FloatHistogram {
            schema: 3,
            zero_threshold: 2f64.powi(-128),
            positive_spans: spans,
            positive_buckets: vec![0.0; 20],
            ..FloatHistogram::default()
        };
        let mut out = Vec::with_capacity(samples);
        for i in 0..samples {
            let zero = next(2) as f64;
            h.zero_count += zero;
            h.count += zero;
            for (b, bound) in h.positive_buckets.iter_mut().zip(&bounds) {
                let observed = next(4) as f64;
                *b += observed;
                h.count += observed;
                // Observations somewhere inside the bucket.
                h.sum += observed * bound * 0.93;
            }
            out.push((1_700_000_000_000 + i as i64 * 15_000, h.clone()));
        }
        (out, bounds)
    }

    #[test]
    fn empty_chunk_round_trips() {
        let c = HistogramChunk::new();
        assert_eq!(c.num_samples(), 0);
        assert_eq!(c.min_time(), None);
        assert_eq!(c.max_time(), None);
        assert_eq!(c.iter().count(), 0);
        assert_eq!(c.bytes(), [0]);
        assert_eq!(decode(c.bytes()).unwrap(), vec![]);
        assert_eq!(sample_count(c.bytes()), Ok(0));
    }

    #[test]
    fn empty_histogram_is_hand_checked_bytes() {
        // Header 1; t0 varint(0) 8 bits; hint '00'; schema varint(0) 8;
        // zero threshold 64; no custom values 8; positive and negative:
        // no spans 8, no buckets 8; sum '0'; then bit 123: '1' integer
        // counts; count and zero count '0' (no change). 126 bits, 16 bytes.
        let h = FloatHistogram::default();
        let c = encode(&[(0, h.clone())]);
        let mut want = vec![1u8];
        want.extend([0u8; 15]);
        want.push(0b0001_0000);
        assert_eq!(c.bytes(), want);

        // A gauge hint is '11' right after the timestamp byte.
        let gauge = FloatHistogram {
            counter_reset_hint: CounterResetHint::Gauge,
            ..h.clone()
        };
        let c = encode(&[(0, gauge.clone())]);
        assert_eq!(&c.bytes()[..3], [1, 0, 0b1100_0000]);
        assert_same(&decode(c.bytes()).unwrap(), &[(0, gauge)]);

        // An identical second sample 15 s later adds uvarint(15000) (16
        // bits), meta '0', sum '0', '1' and two '0' counts: 147 bits.
        let c = encode(&[(0, h.clone()), (15_000, h.clone())]);
        assert_eq!(c.bytes().len(), 1 + 19);
        assert_eq!(c.bytes()[0], 2);
        assert_same(&decode(c.bytes()).unwrap(), &[(0, h.clone()), (15_000, h)]);
    }

    #[test]
    fn scraped_histograms_round_trip() {
        let (samples, _) = scraped(120);
        let c = encode(&samples);
        assert_eq!(c.num_samples(), 120);
        assert_eq!(c.min_time(), Some(samples[0].0));
        assert_eq!(c.max_time(), Some(samples[119].0));
        assert_eq!(sample_count(c.bytes()), Ok(120));
        assert_same(&decode(c.bytes()).unwrap(), &samples);
        assert_same(&c.iter().collect::<Vec<_>>(), &samples);
    }

    /// The storage figure issue 20 asks for: a native histogram sample
    /// against the same data stored as classic `_bucket`, `_count` and
    /// `_sum` series (one XOR chunk each, as Prometheus stores them).
    #[test]
    fn native_histogram_is_smaller_than_its_classic_series() {
        let (samples, bounds) = scraped(120);
        let native = encode(&samples).bytes().len();

        // le = zero threshold, one per bucket bound, +Inf; then _count, _sum.
        let mut classic = vec![XorChunk::new(); bounds.len() + 4];
        for (t, h) in &samples {
            let mut cumulative = h.zero_count;
            let mut values = vec![cumulative];
            for b in &h.positive_buckets {
                cumulative += b;
                values.push(cumulative);
            }
            values.extend([h.count, h.count, h.sum]);
            for (c, v) in classic.iter_mut().zip(values) {
                c.append(*t, v);
            }
        }
        let classic_bytes: usize = classic.iter().map(|c| c.bytes().len()).sum();
        let per_sample = |bytes: usize| bytes as f64 / samples.len() as f64;
        let buckets = bounds.len() as f64;
        println!(
            "120 scrapes of a {buckets}-bucket schema-3 histogram: native {native} B = \
             {:.2} B/sample ({:.2} B per bucket); classic {} series {classic_bytes} B = \
             {:.2} B/sample ({:.2} B per series sample)",
            per_sample(native),
            per_sample(native) / buckets,
            classic.len(),
            per_sample(classic_bytes),
            per_sample(classic_bytes) / classic.len() as f64,
        );
        assert!(
            native < classic_bytes,
            "native {native} B is not smaller than classic {classic_bytes} B"
        );
    }

    #[test]
    fn every_field_survives_bit_for_bit() {
        let stale = f64::from_bits(STALE_NAN_BITS);
        let nhcb = FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            count: 7.0,
            sum: 12.25,
            positive_spans: vec![span(0, 2), span(1, 1)],
            positive_buckets: vec![1.0, 4.0, 2.0],
            custom_values: vec![0.1, 0.5, 1.0, 2.5],
            ..FloatHistogram::default()
        };
        let exponential = FloatHistogram {
            schema: -4,
            zero_threshold: 1e-9,
            zero_count: 0.5,
            count: f64::INFINITY,
            sum: -0.0,
            positive_spans: vec![span(-3, 1)],
            positive_buckets: vec![f64::from_bits(0xfff8_0000_dead_beef)],
            negative_spans: vec![span(i32::MIN, 2), span(i32::MAX, 1)],
            negative_buckets: vec![1.5, f64::NAN, 3.0],
            counter_reset_hint: CounterResetHint::CounterReset,
            ..FloatHistogram::default()
        };
        let stale_nhcb = FloatHistogram {
            sum: stale,
            counter_reset_hint: CounterResetHint::NotCounterReset,
            ..nhcb.clone()
        };
        // Bucket counts that do not match their spans are kept as they are.
        let malformed = FloatHistogram {
            schema: 8,
            positive_spans: vec![span(0, 5)],
            positive_buckets: vec![1.0],
            negative_buckets: vec![2.0, 3.0],
            counter_reset_hint: CounterResetHint::Gauge,
            ..FloatHistogram::default()
        };
        let samples = vec![
            (i64::MIN, nhcb.clone()),
            (-1, stale_nhcb.clone()),
            (0, exponential.clone()),
            (1, exponential),
            (2, malformed),
            (i64::MAX - 1, stale_nhcb),
            (i64::MAX, nhcb),
        ];
        let out = decode(encode(&samples).bytes()).unwrap();
        assert_same(&out, &samples);
        assert_eq!(out[1].h.sum.to_bits(), STALE_NAN_BITS);
    }

    #[test]
    fn layout_is_written_only_when_it_changes() {
        let (samples, _) = scraped(3);
        let two = encode(&samples[..2]).bytes().len();
        let three = encode(&samples).bytes().len();
        let mut moved = samples.clone();
        // Same buckets one index further: a new layout for the third sample.
        moved[2].1.positive_spans[0].offset += 1;
        let three_moved = encode(&moved).bytes().len();
        // The layout is a schema, a 64-bit threshold and the spans.
        assert!(
            three_moved >= three + 10,
            "{three_moved} vs {three} (two samples: {two})"
        );
        assert_same(&decode(encode(&moved).bytes()).unwrap(), &moved);
    }

    #[test]
    fn surviving_buckets_keep_their_state_across_a_layout_change() {
        let (mut samples, _) = scraped(2);
        // The second sample gains a bucket in front: indexes 9..=21 instead
        // of 10..=21. Its other buckets are XORed against their own
        // previous counts, not against their neighbours'.
        let (t, mut h) = samples[1].clone();
        h.positive_spans[0] = span(9, 13);
        h.positive_buckets.insert(0, 1.0);
        h.count += 1.0;
        samples[1] = (t, h);
        assert_same(&decode(encode(&samples).bytes()).unwrap(), &samples);
        let mut c = State::default();
        c.set_layout(Layout::of(&samples[0].1));
        c.positive.values[0].delta = 42;
        c.set_layout(Layout::of(&samples[1].1));
        assert_eq!(c.positive.values[0], Count::default());
        assert_eq!(c.positive.values[1].delta, 42);
    }

    #[test]
    fn steady_integer_counters_cost_a_bit_per_bucket() {
        // Every bucket grows by 5 per scrape: after the first two samples
        // each count's increase is unchanged ('0'), so a sample is the
        // timestamp '0', meta '0', the sum and 22 counts of one bit.
        let mut samples = Vec::new();
        let mut h = FloatHistogram {
            schema: 3,
            positive_spans: vec![span(0, 20)],
            positive_buckets: vec![0.0; 20],
            ..FloatHistogram::default()
        };
        for i in 0..10 {
            h.positive_buckets.iter_mut().for_each(|b| *b += 5.0);
            h.count += 100.0;
            h.zero_count += 5.0;
            h.sum = 0.0;
            samples.push((i * 15_000, h.clone()));
        }
        let eight = encode(&samples[..8]).bytes().len();
        let ten = encode(&samples).bytes().len();
        // Two samples of 1 + 1 + 1 + 1 + 22 bits.
        assert!(ten - eight <= 7, "{eight} -> {ten}");
        assert_same(&decode(encode(&samples).bytes()).unwrap(), &samples);
    }

    #[test]
    fn counts_switch_between_integer_and_float_forms() {
        let (mut samples, _) = scraped(12);
        // A fractional bucket, a -0.0 count (not an integer bit for bit),
        // counts around 2^53 and beyond, then integers again.
        samples[3].1.positive_buckets[5] += 0.5;
        samples[5].1.zero_count = -0.0;
        samples[7].1.count = 9_007_199_254_740_992.0;
        samples[8].1.count = -9_007_199_254_740_992.0;
        samples[9].1.count = 9_007_199_254_740_994.0;
        samples[10].1.positive_buckets[0] = f64::from_bits(STALE_NAN_BITS);
        assert_same(&decode(encode(&samples).bytes()).unwrap(), &samples);
        assert_eq!(exact_int(9_007_199_254_740_992f64.to_bits()), Some(1 << 53));
        assert_eq!(exact_int(9_007_199_254_740_994f64.to_bits()), None);
        assert_eq!(exact_int((-0.0f64).to_bits()), None);
        assert_eq!(exact_int(0.5f64.to_bits()), None);
        assert_eq!(exact_int(f64::INFINITY.to_bits()), None);
        assert_eq!(exact_int(f64::NAN.to_bits()), None);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let (mut samples, _) = scraped(30);
        samples[10].1.schema = CUSTOM_BUCKETS_SCHEMA;
        samples[10].1.custom_values = vec![1.0, 2.0, 5.0];
        let c = encode(&samples);
        let bytes = c.bytes();
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut} decoded");
        }
    }

    #[test]
    fn trailing_garbage_is_an_error() {
        let (samples, _) = scraped(2);
        let mut bytes = encode(&samples).bytes().to_vec();
        bytes.push(0);
        assert!(matches!(
            decode(&bytes),
            Err(ChunkError::TrailingData {
                encoding: ChunkEncoding::Histogram,
                ..
            })
        ));
    }

    /// Writes a chunk header and one sample's timestamp, hint and layout
    /// prefix, leaving the writer positioned at the custom-value count.
    fn layout_prefix(samples: u64) -> BitWriter {
        let mut header = Vec::new();
        put_uvarint(&mut header, samples);
        let mut w = BitWriter::with_prefix(&header, 64);
        w.write_varint(0);
        w.write_bits(0, 2);
        w.write_varint(0);
        w.write_bits(0, 64);
        w
    }

    #[test]
    fn lying_counts_are_refused_before_allocating() {
        // A header promising u64::MAX samples followed by almost nothing.
        let mut bytes = Vec::new();
        put_uvarint(&mut bytes, u64::MAX);
        bytes.extend_from_slice(&[0; 9]);
        assert!(matches!(decode(&bytes), Err(ChunkError::Truncated { .. })));

        // Custom bounds, spans and buckets beyond what the bits can hold.
        for lie in 0..3 {
            let mut w = layout_prefix(1);
            let huge = 1u64 << 40;
            w.write_uvarint(if lie == 0 { huge } else { 0 });
            w.write_uvarint(if lie == 1 { huge } else { 0 });
            w.write_uvarint(if lie == 2 { huge } else { 0 });
            w.write_bits(0, 64);
            let err = decode(w.bytes()).unwrap_err();
            assert!(
                matches!(err, ChunkError::Truncated { decoded: 0, .. }),
                "{lie}: {err}"
            );
        }
    }

    #[test]
    fn repeated_layouts_cannot_amplify_the_input_unboundedly() {
        // 20_000 custom bounds of 1 bit each, then samples of 7 bits that
        // each repeat them: 5 KB would decode to 320 MB.
        let h = FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            custom_values: vec![0.0; 20_000],
            ..FloatHistogram::default()
        };
        let samples: Vec<_> = (0..2_000).map(|t| (t, h.clone())).collect();
        let c = encode(&samples);
        assert!(c.bytes().len() < 5_000, "{}", c.bytes().len());
        let err = decode(c.bytes()).unwrap_err();
        assert!(
            matches!(err, ChunkError::Corrupt { reason, .. } if reason.contains("more buckets")),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("histogram chunk corrupt at sample ")
        );
        // The trusted in-memory iterator has no such limit.
        assert_eq!(c.iter().count(), 2_000);
    }

    fn arb_value() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            (0u64..1000).prop_map(|v| v as f64),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(-0.0),
            Just(f64::from_bits(STALE_NAN_BITS)),
            any::<u64>().prop_map(f64::from_bits),
        ]
    }

    fn arb_spans() -> impl Strategy<Value = Vec<Span>> {
        let offset = prop_oneof![-4i32..8, any::<i32>()];
        proptest::collection::vec(
            (offset, 0u32..6).prop_map(|(offset, length)| Span { offset, length }),
            0..4,
        )
    }

    /// A layout: schema, threshold, custom bounds, spans, and how many
    /// buckets each side holds relative to what its spans cover.
    type LayoutSpec = (i32, f64, Vec<f64>, Vec<Span>, Vec<Span>, i8, i8);

    fn arb_layout() -> impl Strategy<Value = LayoutSpec> {
        let schema = prop_oneof![-4i32..=8, Just(CUSTOM_BUCKETS_SCHEMA), any::<i32>()];
        let skew = prop_oneof![4 => Just(0i8), 1 => -2i8..3];
        (
            schema,
            arb_value(),
            proptest::collection::vec(arb_value(), 0..5),
            arb_spans(),
            arb_spans(),
            skew.clone(),
            skew,
        )
    }

    fn arb_hint() -> impl Strategy<Value = CounterResetHint> {
        prop_oneof![
            Just(CounterResetHint::Unknown),
            Just(CounterResetHint::CounterReset),
            Just(CounterResetHint::NotCounterReset),
            Just(CounterResetHint::Gauge),
        ]
    }

    fn arb_step() -> impl Strategy<Value = i64> {
        prop_oneof![
            Just(15_000i64),
            14_990i64..15_010,
            1i64..(1 << 20),
            any::<i64>(),
        ]
    }

    /// One sample: which layout it uses, its hint, count, zero count, sum,
    /// a pool its bucket counts are drawn from, and the step to the next.
    type SampleSpec = (
        prop::sample::Index,
        CounterResetHint,
        (f64, f64, f64),
        Vec<f64>,
        i64,
    );

    /// Counts: mostly integers (the integer form), sometimes any float.
    fn arb_count() -> impl Strategy<Value = f64> {
        prop_oneof![
            3 => (0u64..2000).prop_map(|v| v as f64),
            1 => (-(1i64 << 53)..=(1i64 << 53)).prop_map(|v| v as f64),
            1 => arb_value(),
        ]
    }

    fn arb_sample() -> impl Strategy<Value = SampleSpec> {
        (
            any::<prop::sample::Index>(),
            arb_hint(),
            (arb_count(), arb_count(), arb_value()),
            proptest::collection::vec(arb_count(), 1..8),
            arb_step(),
        )
    }

    fn build(
        start: i64,
        layouts: &[LayoutSpec],
        specs: Vec<SampleSpec>,
    ) -> Vec<(i64, FloatHistogram)> {
        let buckets = |spans: &[Span], skew: i8, pool: &[f64]| {
            let covered: i64 = spans.iter().map(|s| i64::from(s.length)).sum();
            let n = (covered + i64::from(skew)).max(0) as usize;
            (0..n).map(|i| pool[i % pool.len()]).collect::<Vec<_>>()
        };
        let mut t = start;
        let mut out = Vec::new();
        for (which, hint, (count, zero_count, sum), pool, step) in specs {
            let (schema, zero_threshold, custom, pos, neg, pos_skew, neg_skew) =
                &layouts[which.index(layouts.len())];
            let h = FloatHistogram {
                schema: *schema,
                zero_threshold: *zero_threshold,
                zero_count,
                count,
                sum,
                positive_buckets: buckets(pos, *pos_skew, &pool),
                positive_spans: pos.clone(),
                negative_buckets: buckets(neg, *neg_skew, &pool),
                negative_spans: neg.clone(),
                custom_values: custom.clone(),
                counter_reset_hint: hint,
            };
            out.push((t, h));
            t = t.wrapping_add(step);
        }
        out
    }

    proptest! {
        #[test]
        fn round_trips_any_histogram_sequence(
            start in any::<i64>(),
            layouts in proptest::collection::vec(arb_layout(), 1..4),
            specs in proptest::collection::vec(arb_sample(), 0..40),
        ) {
            let samples = build(start, &layouts, specs);
            let c = encode(&samples);
            prop_assert_eq!(c.num_samples(), samples.len());
            prop_assert_eq!(c.max_time(), samples.last().map(|s| s.0));
            let out = decode(c.bytes()).unwrap();
            assert_same(&out, &samples);
            assert_same(&c.iter().collect::<Vec<_>>(), &samples);
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = decode(&bytes);
            let _ = sample_count(&bytes);
        }

        #[test]
        fn corrupted_chunks_never_panic(
            layouts in proptest::collection::vec(arb_layout(), 1..3),
            specs in proptest::collection::vec(arb_sample(), 1..20),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut bytes = encode(&build(0, &layouts, specs)).bytes().to_vec();
            for (i, bit) in flips {
                let i = i.index(bytes.len());
                bytes[i] ^= 1 << bit;
            }
            // Whatever decodes re-encodes to the same histograms (as the
            // fuzz target checks).
            if let Ok(samples) = decode(&bytes) {
                let want: Vec<_> = samples.iter().map(|s| (s.t, (*s.h).clone())).collect();
                assert_same(&encode(&want).iter().collect::<Vec<_>>(), &want);
            }
            let cut = cut.index(bytes.len() + 1);
            let _ = decode(&bytes[..cut]);
        }
    }
}
