//! A block's `index` object: which series the block holds, where their
//! chunks are, and the postings to find series by label.
//!
//! Readers load the whole index into memory once per block, so the format
//! optimises for a compact single GET and a cheap, fully validated parse
//! rather than for random access.
//!
//! ```text
//! index    := header symbols series postings toc
//! header   := "CIDX" version:u8(=1|2) reserved:[u8; 3]
//! section  := len:u64le body:[u8; len] crc:u32le     crc = CRC-32 (IEEE) of body
//!
//! symbols  := count:uvarint (len:uvarint utf8:[u8; len])*      sorted, unique
//! series   := count:uvarint entry*                             sorted by label set; ID = position
//! entry    := nlabels:uvarint (name:uvarint value:uvarint)*    symbol refs, names ascending
//!             nchunks:uvarint chunk*                           sorted by min time
//! chunk    := min_t:varint        first chunk: absolute; later: minus the previous chunk's max_t
//!             span:uvarint        max_t - min_t
//!             segment:uvarint     chunks/<segment:06>
//!             offset:uvarint      frame's byte offset in the segment
//!             len:uvarint         frame's length in bytes
//!             encoding:u8         version 2 only: 1 XOR (float samples), 2 native histograms
//! postings := count:uvarint (name:uvarint value:uvarint len:uvarint roaring:[u8; len])*
//!             one per label pair, sorted; roaring = the portable RoaringBitmap
//!             serialization of the IDs of the series with that pair
//! toc      := symbols_off:u64le series_off:u64le postings_off:u64le crc:u32le
//!             the last 28 bytes; offsets of the three sections; crc of the 24 bytes before it
//! ```
//!
//! `uvarint` is unsigned LEB128; `varint` is zig-zag LEB128 (as in Go and
//! Prometheus).
//!
//! Version 1 indexes (every chunk XOR) are still written for blocks without
//! histogram chunks, so readers older than native-histogram support keep
//! reading the blocks they can.

use std::collections::BTreeMap;

use roaring::RoaringBitmap;

use super::ChunkEncoding;
use crate::chunk::bstream::{get_uvarint, put_uvarint, unzigzag, zigzag};
use crate::labels::{Label, Labels};
use crate::postings::MemPostings;

const HEADER: [u8; 8] = *b"CIDX\x01\0\0\0";
/// The version whose chunk references carry their encoding.
const VERSION_WITH_ENCODINGS: u8 = 2;
const TOC_LEN: usize = 28;

/// Where one chunk is and what time it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkRef {
    /// First sample's timestamp.
    pub min_t: i64,
    /// Last sample's timestamp.
    pub max_t: i64,
    /// Segment file number (`chunks/000001` is 1).
    pub segment: u32,
    /// Byte offset of the chunk's frame in the segment.
    pub offset: u64,
    /// Length of the frame in bytes.
    pub len: u32,
    /// How the chunk's samples are encoded.
    pub encoding: ChunkEncoding,
}

impl ChunkRef {
    /// True when the chunk may hold samples in `[mint, maxt]`.
    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.min_t <= maxt && self.max_t >= mint
    }
}

/// One series as stored: label symbol refs and chunk refs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeriesEntry {
    /// `(name, value)` symbol refs, names ascending.
    pub labels: Box<[(u32, u32)]>,
    /// Chunks sorted by `min_t`.
    pub chunks: Box<[ChunkRef]>,
}

/// A decoded index.
#[derive(Debug, Clone)]
pub(crate) struct Index {
    symbols: Vec<String>,
    series: Vec<SeriesEntry>,
    postings: MemPostings,
    memory_bytes: usize,
}

impl Index {
    /// The series with ID `id` (its position in the index).
    pub fn series(&self, id: u32) -> Option<&SeriesEntry> {
        self.series.get(id as usize)
    }

    /// How many series the index holds.
    pub fn series_len(&self) -> usize {
        self.series.len()
    }

    /// Roughly how much heap the decoded index holds: what a cache of
    /// indexes counts against its byte budget.
    pub fn memory_bytes(&self) -> usize {
        self.memory_bytes
    }

    /// The postings of every label pair.
    pub fn postings(&self) -> &MemPostings {
        &self.postings
    }

    /// The string with symbol ref `r` ("" if out of range, which decoding
    /// rules out).
    pub fn symbol(&self, r: u32) -> &str {
        self.symbols.get(r as usize).map_or("", String::as_str)
    }

    /// Materialises a series' label set.
    pub fn labels(&self, entry: &SeriesEntry) -> Labels {
        let pairs = entry
            .labels
            .iter()
            .map(|&(n, v)| Label::new(self.symbol(n), self.symbol(v)));
        Labels::from_sorted(pairs.collect())
    }
}

/// Encodes an index for `series`, which must be sorted by label set with
/// each series' chunks sorted by `min_t`.
pub(crate) fn encode(series: &[(Labels, Vec<ChunkRef>)]) -> Vec<u8> {
    let mut symbols: Vec<&str> = series
        .iter()
        .flat_map(|(labels, _)| {
            labels
                .iter()
                .flat_map(|l| [l.name.as_str(), l.value.as_str()])
        })
        .collect();
    symbols.sort_unstable();
    symbols.dedup();
    // Symbols are sorted, so a binary search gives each string's ref.
    let sym_ref = |s: &str| symbols.binary_search(&s).map_or(0, |i| i as u32);

    let with_encodings = series
        .iter()
        .any(|(_, cs)| cs.iter().any(|c| c.encoding != ChunkEncoding::Xor));
    let mut out = Vec::with_capacity(64 + series.len() * 64);
    out.extend_from_slice(&HEADER);
    if with_encodings {
        out[4] = VERSION_WITH_ENCODINGS;
    }

    let symbols_off = out.len() as u64;
    let mut body = Vec::new();
    put_uvarint(&mut body, symbols.len() as u64);
    for s in &symbols {
        put_uvarint(&mut body, s.len() as u64);
        body.extend_from_slice(s.as_bytes());
    }
    put_section(&mut out, &body);

    let series_off = out.len() as u64;
    body.clear();
    let mut postings: BTreeMap<(u32, u32), RoaringBitmap> = BTreeMap::new();
    put_uvarint(&mut body, series.len() as u64);
    for (id, (labels, chunks)) in series.iter().enumerate() {
        put_uvarint(&mut body, labels.len() as u64);
        for l in labels {
            let pair = (sym_ref(&l.name), sym_ref(&l.value));
            put_uvarint(&mut body, pair.0.into());
            put_uvarint(&mut body, pair.1.into());
            postings.entry(pair).or_default().insert(id as u32);
        }
        put_uvarint(&mut body, chunks.len() as u64);
        let mut prev_max: Option<i64> = None;
        for c in chunks {
            let min = match prev_max {
                None => c.min_t,
                Some(p) => c.min_t.wrapping_sub(p),
            };
            put_uvarint(&mut body, zigzag(min));
            put_uvarint(&mut body, c.max_t.wrapping_sub(c.min_t) as u64);
            put_uvarint(&mut body, c.segment.into());
            put_uvarint(&mut body, c.offset);
            put_uvarint(&mut body, c.len.into());
            if with_encodings {
                body.push(c.encoding.id());
            }
            prev_max = Some(c.max_t);
        }
    }
    put_section(&mut out, &body);

    let postings_off = out.len() as u64;
    body.clear();
    put_uvarint(&mut body, postings.len() as u64);
    let mut bitmap = Vec::new();
    for ((name, value), ids) in &postings {
        put_uvarint(&mut body, (*name).into());
        put_uvarint(&mut body, (*value).into());
        bitmap.clear();
        // Writing to a Vec cannot fail.
        let _ = ids.serialize_into(&mut bitmap);
        put_uvarint(&mut body, bitmap.len() as u64);
        body.extend_from_slice(&bitmap);
    }
    put_section(&mut out, &body);

    let toc_start = out.len();
    for off in [symbols_off, series_off, postings_off] {
        out.extend_from_slice(&off.to_le_bytes());
    }
    let crc = crc32fast::hash(&out[toc_start..]);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn put_section(out: &mut Vec<u8>, body: &[u8]) {
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
}

/// Decodes and validates an index. The error says what is wrong; the caller
/// adds which object it was.
pub(crate) fn decode(bytes: &[u8]) -> Result<Index, String> {
    if bytes.len() < HEADER.len() + TOC_LEN {
        return Err(format!("{} bytes is too short for an index", bytes.len()));
    }
    if bytes[..4] != HEADER[..4] {
        return Err("not a Cairn block index (bad magic)".into());
    }
    let with_encodings = match bytes[4] {
        1 => false,
        VERSION_WITH_ENCODINGS => true,
        v => return Err(format!("unsupported index version {v}")),
    };
    if bytes[5..8] != HEADER[5..8] {
        return Err("reserved header bytes are not zero".into());
    }
    let toc_start = bytes.len() - TOC_LEN;
    let toc = &bytes[toc_start..];
    if crc32fast::hash(&toc[..24]) != le_u32(&toc[24..]) {
        return Err("table of contents fails its CRC (truncated or damaged index)".into());
    }
    let offs = [le_u64(&toc[..8]), le_u64(&toc[8..16]), le_u64(&toc[16..24])];
    let symbols_body = section(bytes, offs[0], toc_start, "symbols")?;
    let series_body = section(bytes, offs[1], toc_start, "series")?;
    let postings_body = section(bytes, offs[2], toc_start, "postings")?;

    let symbols = decode_symbols(symbols_body)?;
    let series = decode_series(series_body, &symbols, with_encodings)?;
    let (postings, postings_bytes) = decode_postings(postings_body, &symbols, series.len())?;
    let symbols_bytes: usize = symbols
        .iter()
        .map(|s| s.capacity() + size_of::<String>())
        .sum();
    let series_bytes: usize = series
        .iter()
        .map(|e| size_of::<SeriesEntry>() + size_of_val(&*e.labels) + size_of_val(&*e.chunks))
        .sum();
    Ok(Index {
        symbols,
        series,
        postings,
        memory_bytes: symbols_bytes + series_bytes + postings_bytes,
    })
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// The CRC-checked body of the section at `off`, which must end by `end`.
fn section<'a>(bytes: &'a [u8], off: u64, end: usize, what: &str) -> Result<&'a [u8], String> {
    let bad = || format!("{what} section at offset {off} lies outside the index");
    let off = usize::try_from(off).map_err(|_| bad())?;
    let len_bytes = bytes
        .get(off..off.checked_add(8).ok_or_else(bad)?)
        .ok_or_else(bad)?;
    let len = usize::try_from(le_u64(len_bytes)).map_err(|_| bad())?;
    let body_start = off + 8;
    let body_end = body_start.checked_add(len).ok_or_else(bad)?;
    let crc_end = body_end.checked_add(4).ok_or_else(bad)?;
    if crc_end > end {
        return Err(bad());
    }
    let body = &bytes[body_start..body_end];
    if crc32fast::hash(body) != le_u32(&bytes[body_end..crc_end]) {
        return Err(format!("{what} section fails its CRC"));
    }
    Ok(body)
}

/// Reads varint-encoded fields from a section body, erroring (never
/// panicking) at its end.
struct Cursor<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8], what: &'static str) -> Self {
        Self { buf, what }
    }

    fn err(&self, problem: &str) -> String {
        format!("{} section: {problem}", self.what)
    }

    fn uvarint(&mut self) -> Result<u64, String> {
        let (v, n) =
            get_uvarint(self.buf).ok_or_else(|| self.err("truncated or malformed varint"))?;
        self.buf = &self.buf[n..];
        Ok(v)
    }

    fn byte(&mut self) -> Result<u8, String> {
        let (&b, rest) = self
            .buf
            .split_first()
            .ok_or_else(|| self.err("truncated"))?;
        self.buf = rest;
        Ok(b)
    }

    fn varint(&mut self) -> Result<i64, String> {
        self.uvarint().map(unzigzag)
    }

    fn u32(&mut self, field: &str) -> Result<u32, String> {
        let v = self.uvarint()?;
        u32::try_from(v).map_err(|_| self.err(&format!("{field} {v} out of range")))
    }

    /// A count of items that each take at least one byte, bounded by what is
    /// left so a corrupt count cannot make us allocate wildly.
    fn count(&mut self) -> Result<usize, String> {
        let n = self.uvarint()?;
        if n > self.buf.len() as u64 {
            return Err(self.err(&format!(
                "count {n} exceeds the {} bytes left",
                self.buf.len()
            )));
        }
        Ok(n as usize)
    }

    fn bytes(&mut self, n: u64) -> Result<&'a [u8], String> {
        let n = usize::try_from(n).ok().filter(|&n| n <= self.buf.len());
        let n = n.ok_or_else(|| self.err("length exceeds section"))?;
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn finish(&self) -> Result<(), String> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(self.err(&format!("{} unexpected trailing bytes", self.buf.len())))
        }
    }
}

fn decode_symbols(body: &[u8]) -> Result<Vec<String>, String> {
    let mut c = Cursor::new(body, "symbols");
    let n = c.count()?;
    let mut out: Vec<String> = Vec::with_capacity(n);
    for _ in 0..n {
        let len = c.uvarint()?;
        let s = std::str::from_utf8(c.bytes(len)?).map_err(|_| c.err("symbol is not UTF-8"))?;
        if out.last().is_some_and(|prev| prev.as_str() >= s) {
            return Err(c.err("symbols not sorted and unique"));
        }
        out.push(s.to_string());
    }
    c.finish()?;
    Ok(out)
}

fn decode_series(
    body: &[u8],
    symbols: &[String],
    with_encodings: bool,
) -> Result<Vec<SeriesEntry>, String> {
    let mut c = Cursor::new(body, "series");
    let n = c.count()?;
    if n > u32::MAX as usize + 1 {
        return Err(c.err("more series than 32-bit IDs allow"));
    }
    let sym = |c: &mut Cursor<'_>| -> Result<u32, String> {
        let r = c.u32("symbol ref")?;
        if r as usize >= symbols.len() {
            return Err(c.err(&format!(
                "symbol ref {r} beyond the {} symbols",
                symbols.len()
            )));
        }
        Ok(r)
    };
    let mut out = Vec::with_capacity(n);
    for id in 0..n {
        let nlabels = c.count()?;
        let mut labels = Vec::with_capacity(nlabels);
        for _ in 0..nlabels {
            let pair = (sym(&mut c)?, sym(&mut c)?);
            if let Some(&(prev, _)) = labels.last()
                && symbols[prev as usize] >= symbols[pair.0 as usize]
            {
                return Err(c.err(&format!("series {id} has label names out of order")));
            }
            labels.push(pair);
        }
        let nchunks = c.count()?;
        let mut chunks = Vec::with_capacity(nchunks);
        let mut prev_max: Option<i64> = None;
        for _ in 0..nchunks {
            let min = c.varint()?;
            let min_t = prev_max.map_or(min, |p| p.wrapping_add(min));
            let max_t = min_t.wrapping_add(c.uvarint()? as i64);
            if max_t < min_t {
                return Err(c.err(&format!("series {id} has a chunk ending before it starts")));
            }
            let segment = c.u32("segment")?;
            let offset = c.uvarint()?;
            let len = c.u32("chunk length")?;
            if segment == 0 || offset.checked_add(len.into()).is_none() {
                return Err(c.err(&format!("series {id} has an invalid chunk reference")));
            }
            let encoding = if with_encodings {
                let id = c.byte()?;
                ChunkEncoding::from_id(id)
                    .ok_or_else(|| c.err(&format!("unknown chunk encoding {id}")))?
            } else {
                ChunkEncoding::Xor
            };
            chunks.push(ChunkRef {
                min_t,
                max_t,
                segment,
                offset,
                len,
                encoding,
            });
            prev_max = Some(max_t);
        }
        out.push(SeriesEntry {
            labels: labels.into(),
            chunks: chunks.into(),
        });
    }
    c.finish()?;
    Ok(out)
}

/// The postings and roughly the heap they take (label strings, map nodes,
/// bitmaps).
fn decode_postings(
    body: &[u8],
    symbols: &[String],
    num_series: usize,
) -> Result<(MemPostings, usize), String> {
    /// Per label pair: the owned name and value strings and a map node.
    const PAIR_OVERHEAD: usize = 2 * size_of::<String>() + 64;
    let mut c = Cursor::new(body, "postings");
    let n = c.count()?;
    let mut postings = MemPostings::new();
    // The all-series bitmap, at most one bit per series.
    let mut bytes = num_series / 8;
    if let Some(last) = num_series.checked_sub(1) {
        // decode_series capped the count at 2^32, so `last` fits a u32.
        postings.insert_id_range(0..=last as u32);
    }
    for _ in 0..n {
        let name = c.u32("name ref")? as usize;
        let value = c.u32("value ref")? as usize;
        let (Some(name), Some(value)) = (symbols.get(name), symbols.get(value)) else {
            return Err(c.err("symbol ref out of range"));
        };
        let len = c.uvarint()?;
        let raw = c.bytes(len)?;
        let ids = RoaringBitmap::deserialize_from(raw)
            .map_err(|e| c.err(&format!("bad bitmap for {name}={value:?}: {e}")))?;
        if ids.max().is_some_and(|m| m as usize >= num_series) {
            return Err(c.err(&format!(
                "{name}={value:?} lists a series beyond the {num_series} in the index"
            )));
        }
        bytes += PAIR_OVERHEAD + name.len() + value.len() + ids.serialized_size();
        postings.insert_postings(name.clone(), value.clone(), ids);
    }
    c.finish()?;
    Ok((postings, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::{MatchOp, Matcher};

    fn sample_index() -> Vec<(Labels, Vec<ChunkRef>)> {
        let c = |min_t, max_t, offset| ChunkRef {
            min_t,
            max_t,
            segment: 1,
            offset,
            len: 20,
            encoding: ChunkEncoding::Xor,
        };
        vec![
            (
                Labels::from_pairs([("__name__", "a"), ("job", "x")]),
                vec![c(-5, 10, 8), c(11, 30, 28)],
            ),
            (
                Labels::from_pairs([("__name__", "b"), ("job", "x")]),
                vec![c(i64::MIN, i64::MAX, 48)],
            ),
            (
                Labels::from_pairs([("__name__", "b"), ("job", "y")]),
                vec![],
            ),
        ]
    }

    #[test]
    fn index_round_trips() {
        let input = sample_index();
        let bytes = encode(&input);
        let idx = decode(&bytes).unwrap();
        for (id, (labels, chunks)) in input.iter().enumerate() {
            let entry = idx.series(id as u32).unwrap();
            assert_eq!(&idx.labels(entry), labels);
            assert_eq!(&entry.chunks[..], &chunks[..]);
        }
        assert!(idx.series(3).is_none());
        let sel = idx
            .postings()
            .select(&[Matcher::new(MatchOp::Equal, "job", "x")]);
        assert_eq!(sel.iter().collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(idx.postings().len(), 3);
    }

    #[test]
    fn any_truncation_or_bit_flip_is_an_error() {
        let bytes = encode(&sample_index());
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            assert!(decode(&bad).is_err(), "flip at {i}");
        }
    }
}
