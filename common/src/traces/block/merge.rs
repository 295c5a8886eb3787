//! Merging trace blocks: the blocks' rows are walked side by side in trace
//! ID order, one trace at a time, so memory holds one trace per source,
//! not whole blocks; a span several sources hold (replicas, a re-cut
//! head) is written once.

use super::{SpanRows, TraceBlockReader, TraceBlockWriter};
use crate::block::BlockError;
use crate::traces::otlp::decode_spans;
use crate::traces::{Trace, TraceId};

/// Spans read from the sources and written to the merged block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergedSpans {
    /// Spans read (copies included).
    pub spans_in: u64,
    /// Spans written, each (trace, span ID) once.
    pub spans_out: u64,
}

/// Streams every span of `sources` into `out`, deduplicated by (trace,
/// span ID).
pub async fn merge_trace_blocks(
    sources: &[TraceBlockReader],
    out: &mut TraceBlockWriter,
) -> Result<MergedSpans, BlockError> {
    let mut cursors: Vec<SpanRows> = Vec::with_capacity(sources.len());
    for s in sources {
        cursors.push(s.all_rows().await?);
    }
    let mut next: Vec<Option<TraceId>> = Vec::with_capacity(cursors.len());
    for c in &mut cursors {
        next.push(c.peek().await?);
    }
    let mut counts = MergedSpans::default();
    while let Some(id) = next.iter().flatten().min().copied() {
        let mut spans = Vec::new();
        for (cursor, head) in cursors.iter_mut().zip(next.iter_mut()) {
            while *head == Some(id) {
                if let Some(row) = cursor.next().await? {
                    spans.extend(decode_spans(&row.span).map_err(|e| BlockError::Corrupt {
                        object: cursor.path().to_string(),
                        reason: format!("span: {e}"),
                    })?);
                }
                *head = cursor.peek().await?;
            }
        }
        counts.spans_in += spans.len() as u64;
        let trace = Trace::from_spans(id, spans);
        counts.spans_out += trace.spans.len() as u64;
        out.append(trace.spans).await?;
    }
    Ok(counts)
}
