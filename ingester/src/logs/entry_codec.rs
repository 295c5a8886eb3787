//! Binary form of log entries, shared by the WAL entries record and the
//! compressed blocks of a stream chunk:
//! `ts i64 | line (u32 len, bytes) | metadata labels` with the labels as
//! [`crate::codec::put_labels`] writes them. Entries of the first WAL
//! format had a `u16` metadata count (and kept at most 65535 pairs).

use common::labels::{Label, Labels};
use common::logs::LogEntry;

use crate::codec::{Reader, put_labels, put_string32};

/// Appends `e`.
pub(crate) fn put_entry(b: &mut Vec<u8>, e: &LogEntry) {
    b.extend_from_slice(&e.ts_ns.to_le_bytes());
    put_string32(b, &e.line);
    put_labels(b, &e.structured_metadata);
}

/// Encoded size of `e`.
pub(crate) fn entry_size(e: &LogEntry) -> usize {
    16 + e.line.len()
        + e.structured_metadata
            .iter()
            .map(|l| 8 + l.name.len() + l.value.len())
            .sum::<usize>()
}

/// Reads one entry as [`put_entry`] writes it.
pub(crate) fn read_entry(r: &mut Reader<'_>) -> Result<LogEntry, String> {
    let ts_ns = r.u64()? as i64;
    let line = r.string32()?;
    let structured_metadata = r.labels()?;
    Ok(LogEntry {
        ts_ns,
        line,
        structured_metadata,
    })
}

/// Reads one entry of the first WAL format (`u16` metadata count).
pub(crate) fn read_entry_v1(r: &mut Reader<'_>) -> Result<LogEntry, String> {
    let ts_ns = r.u64()? as i64;
    let line = r.string32()?;
    let n = r.u16()? as usize;
    let mut metadata = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        let name = r.string32()?;
        let value = r.string32()?;
        metadata.push(Label { name, value });
    }
    Ok(LogEntry {
        ts_ns,
        line,
        structured_metadata: Labels::new(metadata),
    })
}
