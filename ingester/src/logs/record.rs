//! WAL records of the logs head (in the tenant's logs WAL directory,
//! `<wal_dir>/<tenant>/logs/`), little-endian:
//!
//! - stream:  `0x13 | id u32 | labels`
//! - entries: `0x14 | n u32 | n × (id u32, entry)`
//!
//! with `labels` as in the metrics records and `entry` as in
//! [`super::entry_codec`]. A stream record precedes the first entries
//! record naming its ID in the same segment. Stream (`0x11`) and entries
//! (`0x12`) records of the first format (`u16` label lengths and metadata
//! count) are still read.

use common::labels::Labels;
use common::logs::LogEntry;

use super::entry_codec::{entry_size, put_entry, read_entry, read_entry_v1};
use crate::codec::{Reader, labels_size, put_labels};

const STREAM_V1: u8 = 0x11;
const ENTRIES_V1: u8 = 0x12;
const STREAM: u8 = 0x13;
const ENTRIES: u8 = 0x14;

/// A decoded logs WAL record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Record {
    /// A stream was created with this ID.
    Stream { id: u32, labels: Labels },
    /// Lines appended to streams by ID.
    Entries(Vec<(u32, LogEntry)>),
}

/// Encodes a stream record.
pub(crate) fn encode_stream(id: u32, labels: &Labels) -> Vec<u8> {
    let mut b = Vec::with_capacity(5 + labels_size(labels));
    b.push(STREAM);
    b.extend_from_slice(&id.to_le_bytes());
    put_labels(&mut b, labels);
    b
}

/// Encodes an entries record.
pub(crate) fn encode_entries<'a>(
    entries: impl Iterator<Item = (u32, &'a LogEntry)> + Clone,
) -> Vec<u8> {
    let size: usize = entries.clone().map(|(_, e)| 4 + entry_size(e)).sum();
    let mut b = Vec::with_capacity(5 + size);
    b.push(ENTRIES);
    b.extend_from_slice(&(entries.clone().count() as u32).to_le_bytes());
    for (id, e) in entries {
        b.extend_from_slice(&id.to_le_bytes());
        put_entry(&mut b, e);
    }
    b
}

/// Decodes one record; errors describe what is malformed.
pub(crate) fn decode(rec: &[u8]) -> Result<Record, String> {
    let mut r = Reader::new(rec);
    match r.u8()? {
        kind @ (STREAM | STREAM_V1) => {
            let id = r.u32()?;
            let labels = if kind == STREAM_V1 {
                r.labels_v1()?
            } else {
                r.labels()?
            };
            Ok(Record::Stream { id, labels })
        }
        kind @ (ENTRIES | ENTRIES_V1) => {
            let n = r.count(18)?;
            let read = if kind == ENTRIES_V1 {
                read_entry_v1
            } else {
                read_entry
            };
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let id = r.u32()?;
                out.push((id, read(&mut r)?));
            }
            Ok(Record::Entries(out))
        }
        other => Err(format!("unknown logs record type {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_truncation_is_an_error() {
        let labels = Labels::from_pairs([("app", "a")]);
        assert_eq!(
            decode(&encode_stream(3, &labels)).unwrap(),
            Record::Stream { id: 3, labels }
        );
        let e = LogEntry {
            ts_ns: 42,
            line: "héllo".into(),
            structured_metadata: Labels::from_pairs([("trace_id", "abc")]),
        };
        let enc = encode_entries([(3, &e)].into_iter());
        assert_eq!(decode(&enc).unwrap(), Record::Entries(vec![(3, e)]));
        for cut in 0..enc.len() {
            assert!(decode(&enc[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn first_format_records_are_still_read() {
        // 0x11 | id 3 | 1 label: app = "a", u16 lengths.
        let mut stream = vec![STREAM_V1, 3, 0, 0, 0, 1, 0, 3, 0];
        stream.extend_from_slice(b"app");
        stream.extend_from_slice(&[1, 0, b'a']);
        assert_eq!(
            decode(&stream).unwrap(),
            Record::Stream {
                id: 3,
                labels: Labels::from_pairs([("app", "a")])
            }
        );
        // 0x12 | 1 entry | id 3 | ts 42 | line "hi" | 0 metadata (u16).
        let mut entries = vec![ENTRIES_V1, 1, 0, 0, 0, 3, 0, 0, 0];
        entries.extend_from_slice(&42i64.to_le_bytes());
        entries.extend_from_slice(&[2, 0, 0, 0, b'h', b'i', 0, 0]);
        let e = LogEntry {
            ts_ns: 42,
            line: "hi".into(),
            structured_metadata: Labels::default(),
        };
        assert_eq!(decode(&entries).unwrap(), Record::Entries(vec![(3, e)]));
    }
}
