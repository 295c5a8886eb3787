//! Binary form of log entries, shared by the WAL entries record and the
//! compressed blocks of a stream chunk:
//! `ts i64 | line (u32 len, bytes) | m u16 | m × (name, value as u32 len, bytes)`.

use common::labels::{Label, Labels};
use common::logs::LogEntry;

use crate::codec::{Reader, put_string32};

/// Appends `e`.
pub(crate) fn put_entry(b: &mut Vec<u8>, e: &LogEntry) {
    b.extend_from_slice(&e.ts_ns.to_le_bytes());
    put_string32(b, &e.line);
    let n = e.structured_metadata.len().min(u16::MAX as usize);
    b.extend_from_slice(&(n as u16).to_le_bytes());
    for l in e.structured_metadata.iter().take(n) {
        put_string32(b, &l.name);
        put_string32(b, &l.value);
    }
}

/// Encoded size of `e`.
pub(crate) fn entry_size(e: &LogEntry) -> usize {
    14 + e.line.len()
        + e.structured_metadata
            .iter()
            .map(|l| 8 + l.name.len() + l.value.len())
            .sum::<usize>()
}

/// Reads one entry.
pub(crate) fn read_entry(r: &mut Reader<'_>) -> Result<LogEntry, String> {
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
