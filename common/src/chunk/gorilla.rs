//! The two Gorilla building blocks both chunk encodings share: delta-of-delta
//! timestamps and XOR-compressed float values.
//!
//! [`xor`](super::xor) writes one timestamp and one value per sample;
//! [`histogram`](super::histogram) writes one timestamp and a value per
//! histogram field (count, zero count, sum, every bucket), each field keeping
//! its own [`XorValue`] window. Both bit layouts are Prometheus's:
//!
//! ```text
//! t0     := varint (8-bit groups)
//! t1     := (t1 - t0):uvarint
//! tN     := dod                       delta of delta
//! dod    := '0'                       0
//!         | '10'   14-bit two's complement
//!         | '110'  17-bit
//!         | '1110' 20-bit
//!         | '1111' 64-bit
//! xor    := '0'                       same bits as the previous value
//!         | '10'  meaningful bits      within the previous leading/trailing-zero window
//!         | '11'  leading:5 sigbits:6 meaningful bits   (sigbits 0 means 64)
//! ```
//!
//! Timestamp arithmetic wraps, so any `i64` sequence round-trips; values are
//! raw bits, so every NaN payload survives.

use super::bstream::{BitReader, BitWriter};

/// Marks "no leading/trailing-zero window yet" in [`XorValue`].
const NO_WINDOW: u8 = 0xff;

/// Why a read from the bit stream failed; the chunk decoders turn it into a
/// [`ChunkError`](super::ChunkError) naming the sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamError {
    /// The data ended.
    Truncated,
    /// The bits cannot have been written by the encoder.
    Corrupt(&'static str),
}

/// Delta-of-delta timestamp state of one chunk, the same on the writing and
/// the reading side.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Timestamps {
    /// Timestamps written or read so far.
    n: u64,
    t: i64,
    delta: i64,
}

impl Timestamps {
    /// Writes the next timestamp.
    pub(crate) fn write(&mut self, w: &mut BitWriter, t: i64) {
        match self.n {
            0 => w.write_varint(t),
            1 => {
                self.delta = t.wrapping_sub(self.t);
                w.write_uvarint(self.delta as u64);
            }
            _ => {
                let delta = t.wrapping_sub(self.t);
                write_dod(w, delta.wrapping_sub(self.delta));
                self.delta = delta;
            }
        }
        self.t = t;
        self.n += 1;
    }

    /// Reads the next timestamp.
    pub(crate) fn read(&mut self, r: &mut BitReader<'_>) -> Result<i64, StreamError> {
        let t = match self.n {
            0 => r.read_varint().ok_or(StreamError::Truncated)?,
            1 => {
                self.delta = r.read_uvarint().ok_or(StreamError::Truncated)? as i64;
                self.t.wrapping_add(self.delta)
            }
            _ => {
                self.delta = self.delta.wrapping_add(read_dod(r)?);
                self.t.wrapping_add(self.delta)
            }
        };
        self.t = t;
        self.n += 1;
        Ok(t)
    }
}

fn write_dod(w: &mut BitWriter, dod: i64) {
    if dod == 0 {
        w.write_bit(false);
    } else if bit_range(dod, 14) {
        w.write_bits(0b10, 2);
        w.write_bits(dod as u64, 14);
    } else if bit_range(dod, 17) {
        w.write_bits(0b110, 3);
        w.write_bits(dod as u64, 17);
    } else if bit_range(dod, 20) {
        w.write_bits(0b1110, 4);
        w.write_bits(dod as u64, 20);
    } else {
        w.write_bits(0b1111, 4);
        w.write_bits(dod as u64, 64);
    }
}

fn read_dod(r: &mut BitReader<'_>) -> Result<i64, StreamError> {
    let mut ones = 0;
    while ones < 4 {
        if !r.read_bit().ok_or(StreamError::Truncated)? {
            break;
        }
        ones += 1;
    }
    let size = match ones {
        0 => return Ok(0),
        1 => 14,
        2 => 17,
        3 => 20,
        _ => return Ok(r.read_bits(64).ok_or(StreamError::Truncated)? as i64),
    };
    let raw = r.read_bits(size).ok_or(StreamError::Truncated)?;
    let mut dod = raw as i64;
    if raw > 1u64 << (size - 1) {
        dod -= 1i64 << size;
    }
    Ok(dod)
}

/// True when `x` fits the `n`-bit dod bucket as Prometheus defines it:
/// `-(2^(n-1) - 1) ..= 2^(n-1)`.
fn bit_range(x: i64, n: u32) -> bool {
    let half = 1i64 << (n - 1);
    -(half - 1) <= x && x <= half
}

/// Widths of the varbit integer buckets after their '1…10' prefixes, as in
/// Prometheus's `putVarbitInt`; the last prefix ('11111111') holds 64 bits.
const VARBIT_WIDTHS: [u32; 8] = [3, 6, 9, 12, 18, 25, 56, 64];

/// Writes `v` in the fewest bits: '0' for 0, else one '1' per bucket tried,
/// a closing '0' (except after the last), and `v` in that bucket's width.
pub(crate) fn write_varbit_int(w: &mut BitWriter, v: i64) {
    if v == 0 {
        w.write_bit(false);
        return;
    }
    for (k, &width) in VARBIT_WIDTHS.iter().enumerate() {
        let last = k + 1 == VARBIT_WIDTHS.len();
        if last || bit_range(v, width) {
            let ones = k as u32 + 1;
            if last {
                w.write_bits((1 << ones) - 1, ones);
            } else {
                // `ones` ones then a zero.
                w.write_bits(((1 << ones) - 1) << 1, ones + 1);
            }
            w.write_bits(v as u64, width);
            return;
        }
    }
}

/// Reads an integer written by [`write_varbit_int`].
pub(crate) fn read_varbit_int(r: &mut BitReader<'_>) -> Result<i64, StreamError> {
    let mut ones = 0;
    while ones < VARBIT_WIDTHS.len() {
        if !r.read_bit().ok_or(StreamError::Truncated)? {
            break;
        }
        ones += 1;
    }
    if ones == 0 {
        return Ok(0);
    }
    let width = VARBIT_WIDTHS[ones - 1];
    let raw = r.read_bits(width).ok_or(StreamError::Truncated)?;
    if width == 64 {
        return Ok(raw as i64);
    }
    let mut v = raw as i64;
    if raw > 1u64 << (width - 1) {
        v -= 1i64 << width;
    }
    Ok(v)
}

/// The XOR state of one float field: its previous value's bits and the
/// leading/trailing-zero window the next value may reuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct XorValue {
    bits: u64,
    leading: u8,
    trailing: u8,
}

impl Default for XorValue {
    fn default() -> Self {
        Self::starting_at(0)
    }
}

impl XorValue {
    /// State whose previous value is `bits`, with no window yet.
    pub(crate) fn starting_at(bits: u64) -> Self {
        Self {
            bits,
            leading: NO_WINDOW,
            trailing: 0,
        }
    }

    /// The current value's bits.
    pub(crate) fn bits(&self) -> u64 {
        self.bits
    }

    /// Makes `bits` the previous value without writing it (the histogram
    /// chunk wrote it another way), keeping the window.
    pub(crate) fn set_bits(&mut self, bits: u64) {
        self.bits = bits;
    }

    /// Writes `bits` XORed against the previous value.
    pub(crate) fn write(&mut self, w: &mut BitWriter, bits: u64) {
        let delta = bits ^ self.bits;
        self.bits = bits;
        if delta == 0 {
            w.write_bit(false);
            return;
        }
        let leading = (delta.leading_zeros() as u8).min(31);
        let trailing = delta.trailing_zeros() as u8;
        if self.leading != NO_WINDOW && leading >= self.leading && trailing >= self.trailing {
            w.write_bits(0b10, 2);
            let sig = 64 - u32::from(self.leading) - u32::from(self.trailing);
            w.write_bits(delta >> self.trailing, sig);
        } else {
            self.leading = leading;
            self.trailing = trailing;
            let sig = 64 - u32::from(leading) - u32::from(trailing);
            w.write_bits(0b11, 2);
            w.write_bits(u64::from(leading), 5);
            // 64 significant bits are written as 0 (6 bits hold 0..=63).
            w.write_bits(u64::from(sig) & 63, 6);
            w.write_bits(delta >> trailing, sig);
        }
    }

    /// Reads the next value, returning its bits.
    pub(crate) fn read(&mut self, r: &mut BitReader<'_>) -> Result<u64, StreamError> {
        if !r.read_bit().ok_or(StreamError::Truncated)? {
            return Ok(self.bits);
        }
        let sig = if r.read_bit().ok_or(StreamError::Truncated)? {
            let leading = r.read_bits(5).ok_or(StreamError::Truncated)? as u32;
            let mut sig = r.read_bits(6).ok_or(StreamError::Truncated)? as u32;
            if sig == 0 {
                sig = 64;
            }
            if leading + sig > 64 {
                return Err(StreamError::Corrupt("value window exceeds 64 bits"));
            }
            self.leading = leading as u8;
            self.trailing = (64 - leading - sig) as u8;
            sig
        } else {
            if self.leading == NO_WINDOW {
                return Err(StreamError::Corrupt(
                    "value reuses a window that was never set",
                ));
            }
            64 - u32::from(self.leading) - u32::from(self.trailing)
        };
        let bits = r.read_bits(sig).ok_or(StreamError::Truncated)?;
        self.bits ^= bits << self.trailing;
        Ok(self.bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_pick_the_smallest_dod_bucket() {
        // 0, then deltas 15000, 15000 (dod 0), 15100 (dod 100), 15100 - 2^15
        // (dod -2^15: 17 bits), and a 64-bit jump.
        let ts = [0i64, 15_000, 30_000, 45_100, 27_568, i64::MAX];
        let mut w = BitWriter::default();
        let mut enc = Timestamps::default();
        for &t in &ts {
            enc.write(&mut w, t);
        }
        // varint(0) 8 + uvarint(15000) 16 + '0' 1 + '10'+14 + '110'+17 + '1111'+64.
        assert_eq!(
            w.bytes().len(),
            (8 + 16 + 1 + 16 + 20 + 68usize).div_ceil(8)
        );
        let mut r = BitReader::new(w.bytes());
        let mut dec = Timestamps::default();
        for &t in &ts {
            assert_eq!(dec.read(&mut r), Ok(t));
        }
        assert!(r.remaining_bits() < 8);
        assert_eq!(
            Timestamps::default().read(&mut r),
            Err(StreamError::Truncated)
        );
    }

    #[test]
    fn varbit_ints_round_trip_at_every_width() {
        let values = [
            0i64,
            1,
            -3,
            4,
            5,
            -31,
            32,
            33,
            255,
            -2047,
            1 << 17,
            -(1 << 24) + 1,
            1 << 24,
            1 << 40,
            1 << 55,
            (1 << 55) + 1,
            i64::MAX,
            i64::MIN,
        ];
        let mut w = BitWriter::default();
        for &v in &values {
            write_varbit_int(&mut w, v);
        }
        let mut r = BitReader::new(w.bytes());
        for &v in &values {
            assert_eq!(read_varbit_int(&mut r), Ok(v));
        }
        assert!(r.remaining_bits() < 8);
        // 0 is one bit, 4 is '10' + 3 bits, 5 is '110' + 6 bits.
        let mut w = BitWriter::default();
        write_varbit_int(&mut w, 0);
        write_varbit_int(&mut w, 4);
        write_varbit_int(&mut w, 5);
        assert_eq!(w.bytes(), [0b0101_0011, 0b0000_1010]);
    }

    #[test]
    fn xor_values_reuse_the_window() {
        let mut w = BitWriter::default();
        let mut enc = XorValue::default();
        enc.write(&mut w, 0); // '0'
        enc.write(&mut w, 3.0f64.to_bits()); // '11' + 5 + 6 + sig
        enc.write(&mut w, 3.0f64.to_bits()); // '0'
        let mut r = BitReader::new(w.bytes());
        let mut dec = XorValue::default();
        assert_eq!(dec.read(&mut r), Ok(0));
        assert_eq!(dec.read(&mut r), Ok(3.0f64.to_bits()));
        assert_eq!(dec.read(&mut r), Ok(3.0f64.to_bits()));
        // A '10' with no window set is impossible.
        let mut r = BitReader::new(&[0b1000_0000]);
        assert!(matches!(
            XorValue::default().read(&mut r),
            Err(StreamError::Corrupt(_))
        ));
    }
}
