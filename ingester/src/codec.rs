//! Little-endian record encoding shared by the ingester's WAL records and
//! in-memory log blocks: label sets and length-prefixed strings.
//!
//! Label sets are written `n u32 | n × (len u32, name, len u32, value)`,
//! so whatever the distributor accepts (label limits can be off) round-trips
//! exactly. Records written before that (label sets as `n u16 | n × (len
//! u16, name, len u16, value)`, cut at 64 KiB) are still read: the record
//! type byte says which form a record holds.

use common::labels::{Label, Labels};

/// Encoded size of `labels`.
pub(crate) fn labels_size(labels: &Labels) -> usize {
    4 + labels
        .iter()
        .map(|l| 8 + l.name.len() + l.value.len())
        .sum::<usize>()
}

/// Appends `labels` as `n u32 | n × (len u32, name, len u32, value)`.
pub(crate) fn put_labels(b: &mut Vec<u8>, labels: &Labels) {
    put_len(b, labels.len());
    for l in labels {
        put_string32(b, &l.name);
        put_string32(b, &l.value);
    }
}

/// Appends `s` with a `u32` length prefix.
pub(crate) fn put_string32(b: &mut Vec<u8>, s: &str) {
    put_len(b, s.len());
    b.extend_from_slice(s.as_bytes());
}

/// Appends a `u32` length or count. Request bodies are bounded far below
/// 4 GiB by the distributor and a WAL record must fit a `u32` length
/// anyway, so this never saturates for anything that reaches the WAL.
pub(crate) fn put_len(b: &mut Vec<u8>, n: usize) {
    b.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

/// Bounds-checked little-endian decoding of a record.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Reads `buf` from its start.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }
    /// True once every byte was consumed.
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }
    /// A string with a `u32` length prefix (log lines and label values can
    /// exceed 64 KiB).
    pub(crate) fn string32(&mut self) -> Result<String, String> {
        let n = self.u32()? as usize;
        utf8(self.take(n)?)
    }
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| format!("record truncated at byte {}", self.pos))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    pub(crate) fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }
    pub(crate) fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    /// A label set as [`put_labels`] writes it.
    pub(crate) fn labels(&mut self) -> Result<Labels, String> {
        let n = self.count(8)?;
        let mut labels = Vec::with_capacity(n);
        for _ in 0..n {
            let name = self.string32()?;
            let value = self.string32()?;
            labels.push(Label { name, value });
        }
        Ok(Labels::new(labels))
    }
    /// A label set in the first record format (`u16` count and lengths).
    pub(crate) fn labels_v1(&mut self) -> Result<Labels, String> {
        let n = self.u16()? as usize;
        let mut labels = Vec::with_capacity(n.min(self.buf.len() / 4));
        for _ in 0..n {
            let name = self.string16()?;
            let value = self.string16()?;
            labels.push(Label { name, value });
        }
        Ok(Labels::new(labels))
    }
    fn string16(&mut self) -> Result<String, String> {
        let n = self.u16()? as usize;
        utf8(self.take(n)?)
    }
    /// A `u32` count of items at least `min_size` bytes each, checked
    /// against the bytes left so a corrupt count cannot allocate wildly.
    pub(crate) fn count(&mut self, min_size: usize) -> Result<usize, String> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_size) > self.buf.len() - self.pos {
            return Err(format!(
                "record claims {n} items in {} bytes",
                self.buf.len() - self.pos
            ));
        }
        Ok(n)
    }
}

fn utf8(bytes: &[u8]) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|e| format!("a string is not UTF-8 ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_past_64_kib_round_trip_exactly() {
        // Multi-byte characters across the old 65535-byte cut.
        let big = "é".repeat(41_000);
        let labels = Labels::from_pairs([("__name__", "up"), ("big", big.as_str())]);
        let mut b = Vec::new();
        put_labels(&mut b, &labels);
        assert_eq!(b.len(), labels_size(&labels));
        let mut r = Reader::new(&b);
        assert_eq!(r.labels().unwrap(), labels);
        assert!(r.is_empty());
    }

    #[test]
    fn first_format_label_sets_are_still_read() {
        let mut b = vec![1, 0, 3, 0];
        b.extend_from_slice(b"job");
        b.extend_from_slice(&[1, 0]);
        b.push(b'j');
        assert_eq!(
            Reader::new(&b).labels_v1().unwrap(),
            Labels::from_pairs([("job", "j")])
        );
    }

    #[test]
    fn a_string_cut_mid_character_is_an_error_not_a_panic() {
        let mut b = Vec::new();
        put_string32(&mut b, "é");
        b[0] = 1; // claims only the first byte of the two-byte "é"
        assert!(Reader::new(&b[..5]).string32().is_err());
    }
}
