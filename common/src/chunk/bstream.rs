//! Bit-granular writer and reader underneath the chunk encodings, plus the
//! LEB128 varint helpers the block index shares.
//!
//! Gorilla-style encodings spend 1–4 bits on the common cases, so they need
//! a stream that is not byte-aligned. Bits are packed most significant first
//! into bytes; the last byte is zero-padded. The reader never panics: every
//! read past the end returns `None`.

/// Appends bits to a byte vector, most significant bit first.
///
/// The vector may start with byte-aligned data written by the owner (the
/// chunk header); bits are only ever added after it.
#[derive(Debug, Clone, Default)]
pub(crate) struct BitWriter {
    buf: Vec<u8>,
    /// Unused low bits in the last byte of `buf` (0 when `buf` is empty or
    /// its last byte is full).
    free: u32,
}

impl BitWriter {
    /// A writer whose buffer starts with `prefix` (byte-aligned).
    pub(crate) fn with_prefix(prefix: &[u8], capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity.max(prefix.len()));
        buf.extend_from_slice(prefix);
        Self { buf, free: 0 }
    }

    /// The bytes written so far (the last one zero-padded).
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Replaces the first `old_len` bytes of the buffer with `prefix`, which
    /// may be longer or shorter. Used to rewrite the chunk header.
    pub(crate) fn replace_prefix(&mut self, old_len: usize, prefix: &[u8]) {
        if old_len == prefix.len() {
            self.buf[..old_len].copy_from_slice(prefix);
        } else {
            self.buf.splice(..old_len, prefix.iter().copied());
        }
    }

    /// Writes one bit.
    #[inline]
    pub(crate) fn write_bit(&mut self, bit: bool) {
        self.write_bits(u64::from(bit), 1);
    }

    /// Writes the low `n` bits of `v` (`n <= 64`), most significant first.
    #[inline]
    pub(crate) fn write_bits(&mut self, v: u64, n: u32) {
        debug_assert!(n <= 64);
        let mut n = n;
        while n > 0 {
            if self.free == 0 {
                self.buf.push(0);
                self.free = 8;
            }
            let take = n.min(self.free);
            let shift = n - take;
            let bits = ((v >> shift) & ((1u64 << take) - 1)) as u8;
            if let Some(last) = self.buf.last_mut() {
                *last |= bits << (self.free - take);
            }
            self.free -= take;
            n -= take;
        }
    }

    /// Writes `v` as an unsigned LEB128 varint, one byte at a time into the
    /// bit stream (unaligned), as Prometheus does.
    pub(crate) fn write_uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.write_bits((v as u8 | 0x80).into(), 8);
            v >>= 7;
        }
        self.write_bits(v, 8);
    }

    /// Writes `v` zig-zag encoded as a varint (Go's `binary.PutVarint`).
    pub(crate) fn write_varint(&mut self, v: i64) {
        self.write_uvarint(zigzag(v));
    }
}

/// Reads bits from a byte slice, most significant bit first.
#[derive(Debug, Clone)]
pub(crate) struct BitReader<'a> {
    buf: &'a [u8],
    /// Position in bits from the start of `buf`.
    pos: usize,
}

impl<'a> BitReader<'a> {
    /// A reader over `buf`, starting at its first bit.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bits left to read (including any zero padding of the last byte).
    pub(crate) fn remaining_bits(&self) -> usize {
        (self.buf.len() * 8).saturating_sub(self.pos)
    }

    /// Reads one bit, `None` at the end of the data.
    #[inline]
    pub(crate) fn read_bit(&mut self) -> Option<bool> {
        let byte = *self.buf.get(self.pos / 8)?;
        let bit = (byte >> (7 - (self.pos % 8))) & 1;
        self.pos += 1;
        Some(bit == 1)
    }

    /// Reads `n` bits (`n <= 64`) as the low bits of a `u64`; `None` when
    /// fewer than `n` bits remain.
    #[inline]
    pub(crate) fn read_bits(&mut self, n: u32) -> Option<u64> {
        debug_assert!(n <= 64);
        if n == 0 {
            return Some(0);
        }
        let end = self.pos.checked_add(n as usize)?;
        if end > self.buf.len().saturating_mul(8) {
            return None;
        }
        let byte = self.pos / 8;
        let off = (self.pos % 8) as u32;
        let v = match self.buf.get(byte..byte + 8) {
            Some(word) if off + n <= 64 => {
                let mut w = [0u8; 8];
                w.copy_from_slice(word);
                (u64::from_be_bytes(w) << off) >> (64 - n)
            }
            _ => self.read_bits_slow(n)?,
        };
        self.pos = end;
        Some(v)
    }

    /// Byte-at-a-time path near the end of the buffer (or for reads that
    /// straddle nine bytes). Does not advance `pos`.
    fn read_bits_slow(&self, n: u32) -> Option<u64> {
        let mut v = 0u64;
        let mut pos = self.pos;
        let mut left = n;
        while left > 0 {
            let b = *self.buf.get(pos / 8)?;
            let off = (pos % 8) as u32;
            let take = left.min(8 - off);
            let bits = u64::from((b << off) >> (8 - take));
            v = (v << take) | bits;
            pos += take as usize;
            left -= take;
        }
        Some(v)
    }

    /// Reads an unsigned varint written by [`BitWriter::write_uvarint`];
    /// `None` when truncated or longer than ten bytes.
    pub(crate) fn read_uvarint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.read_bits(8)?;
            if i == 9 && b > 1 {
                return None;
            }
            v |= (b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    /// Reads a zig-zag varint written by [`BitWriter::write_varint`].
    pub(crate) fn read_varint(&mut self) -> Option<i64> {
        self.read_uvarint().map(unzigzag)
    }
}

/// Zig-zag maps signed to unsigned so small magnitudes stay small.
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
pub(crate) fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// Appends `v` as an unsigned LEB128 varint to a byte vector.
pub(crate) fn put_uvarint(out: &mut Vec<u8>, v: u64) {
    let (buf, len) = uvarint_bytes(v);
    out.extend_from_slice(&buf[..len]);
}

/// `v` as an unsigned LEB128 varint: the bytes and how many are used.
pub(crate) fn uvarint_bytes(mut v: u64) -> ([u8; 10], usize) {
    let mut buf = [0u8; 10];
    let mut i = 0;
    while v >= 0x80 {
        buf[i] = v as u8 | 0x80;
        v >>= 7;
        i += 1;
    }
    buf[i] = v as u8;
    (buf, i + 1)
}

/// Reads an unsigned LEB128 varint from the start of `buf`, returning the
/// value and its length in bytes; `None` when truncated or overlong.
pub(crate) fn get_uvarint(buf: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &b) in buf.iter().enumerate().take(10) {
        if i == 9 && b > 1 {
            return None;
        }
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Some((v, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip_at_every_alignment() {
        let mut w = BitWriter::default();
        let items: Vec<(u64, u32)> = (1..=64)
            .map(|n| (0xdead_beef_cafe_f00d_u64 >> (64 - n), n))
            .collect();
        for &(v, n) in &items {
            w.write_bits(v, n);
            w.write_bit(true);
        }
        let mut r = BitReader::new(w.bytes());
        for &(v, n) in &items {
            assert_eq!(r.read_bits(n), Some(v), "{n} bits");
            assert_eq!(r.read_bit(), Some(true));
        }
        // Only zero padding is left.
        assert!(r.remaining_bits() < 8);
    }

    #[test]
    fn reads_past_the_end_are_none() {
        let mut r = BitReader::new(&[0xff]);
        assert_eq!(r.read_bits(9), None);
        assert_eq!(r.read_bits(8), Some(0xff));
        assert_eq!(r.read_bit(), None);
        assert_eq!(r.read_uvarint(), None);
    }

    #[test]
    fn varints_round_trip() {
        for v in [
            0i64,
            1,
            -1,
            63,
            -64,
            64,
            i64::MAX,
            i64::MIN,
            1_700_000_000_000,
        ] {
            let mut w = BitWriter::default();
            w.write_bit(true);
            w.write_varint(v);
            let mut r = BitReader::new(w.bytes());
            assert_eq!(r.read_bit(), Some(true));
            assert_eq!(r.read_varint(), Some(v));
            let mut buf = Vec::new();
            put_uvarint(&mut buf, zigzag(v));
            assert_eq!(get_uvarint(&buf), Some((zigzag(v), buf.len())));
        }
        assert_eq!(get_uvarint(&[0xff; 11]), None);
        assert_eq!(get_uvarint(&[0x80]), None);
    }
}
