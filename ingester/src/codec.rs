//! Little-endian record encoding shared by the ingester's WAL records and
//! in-memory log blocks: label sets and length-prefixed strings.

use common::labels::{Label, Labels};

/// Encoded size of `labels`.
pub(crate) fn labels_size(labels: &Labels) -> usize {
    2 + labels
        .iter()
        .map(|l| 4 + l.name.len() + l.value.len())
        .sum::<usize>()
}

/// Appends `labels` as `n u16 | n × (len u16, name, len u16, value)`.
pub(crate) fn put_labels(b: &mut Vec<u8>, labels: &Labels) {
    b.extend_from_slice(&(labels.len() as u16).to_le_bytes());
    for l in labels {
        for s in [&l.name, &l.value] {
            // Label names and values are bounded by validation far below 64 KiB.
            let s = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
            b.extend_from_slice(&(s.len() as u16).to_le_bytes());
            b.extend_from_slice(s);
        }
    }
}

/// Appends `s` with a `u32` length prefix.
pub(crate) fn put_string32(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&(s.len() as u32).to_le_bytes());
    b.extend_from_slice(s.as_bytes());
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
    /// A string with a `u32` length prefix (log lines can exceed 64 KiB).
    pub(crate) fn string32(&mut self) -> Result<String, String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| "line is not UTF-8".to_string())
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
    pub(crate) fn string(&mut self) -> Result<String, String> {
        let n = self.u16()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| "label is not UTF-8".to_string())
    }
    pub(crate) fn labels(&mut self) -> Result<Labels, String> {
        let n = self.u16()? as usize;
        let mut labels = Vec::with_capacity(n);
        for _ in 0..n {
            let name = self.string()?;
            let value = self.string()?;
            labels.push(Label { name, value });
        }
        Ok(Labels::new(labels))
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
