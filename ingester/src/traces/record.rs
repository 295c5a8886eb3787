//! WAL records of the traces signal (in `<wal_dir>/<tenant>/traces/`):
//!
//! - spans: `0x21 | at_ms i64 | spans` — spans a push stored, at wall-clock
//!   time `at_ms`;
//! - cut:   `0x22 | at_ms i64 | spans` — a head cut at `at_ms`, holding the
//!   traces still live then: every trace replayed before it and not in it
//!   was complete (idle, or flushed by `POST /ingester/flush`);
//!
//! with `spans` an OTLP `ExportTraceServiceRequest` protobuf. The times let
//! a replay tell live traces from complete ones, so a restart does not
//! count finished traces against `max_traces_per_user`. Records of the
//! first format are the bare protobuf (which starts with `0x0a`, or is
//! empty) and replay as live, as they always did.

use common::traces::Span;
use common::traces::otlp::{decode_spans, encode_spans};

use crate::codec::Reader;

const SPANS: u8 = 0x21;
const CUT: u8 = 0x22;

/// A decoded traces WAL record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Record {
    /// Spans a push stored, at `at_ms` (`None`: a first-format record).
    Spans {
        at_ms: Option<i64>,
        spans: Vec<Span>,
    },
    /// A head cut at `at_ms`, with the traces still live then.
    Cut { at_ms: i64, live: Vec<Span> },
}

/// Encodes the spans a push stored at `at_ms`.
pub(crate) fn encode_spans_at(at_ms: i64, spans: &[Span]) -> Vec<u8> {
    encode(SPANS, at_ms, spans)
}

/// Encodes a head cut at `at_ms` with the still-live traces' spans.
pub(crate) fn encode_cut(at_ms: i64, live: &[Span]) -> Vec<u8> {
    encode(CUT, at_ms, live)
}

fn encode(kind: u8, at_ms: i64, spans: &[Span]) -> Vec<u8> {
    let otlp = encode_spans(spans);
    let mut b = Vec::with_capacity(9 + otlp.len());
    b.push(kind);
    b.extend_from_slice(&at_ms.to_le_bytes());
    b.extend_from_slice(&otlp);
    b
}

/// Decodes one record; errors describe what is malformed.
pub(crate) fn decode(rec: &[u8]) -> Result<Record, String> {
    let spans = |b: &[u8]| decode_spans(b).map_err(|e| format!("bad OTLP spans: {e}"));
    match rec.first() {
        Some(&kind @ (SPANS | CUT)) => {
            let mut r = Reader::new(&rec[1..]);
            let at_ms = r.u64()? as i64;
            let list = spans(&rec[9..])?;
            Ok(if kind == SPANS {
                Record::Spans {
                    at_ms: Some(at_ms),
                    spans: list,
                }
            } else {
                Record::Cut { at_ms, live: list }
            })
        }
        _ => Ok(Record::Spans {
            at_ms: None,
            spans: spans(rec)?,
        }),
    }
}
