//! Trace blocks: a tenant's spans as one open Parquet file
//! (`data.parquet`), sorted by trace ID then start time, under
//! `<tenant>/traces/blocks/<ULID>/` with an `index.json` (the data file's
//! size and the block's tag summary) and `meta.json`, written last.
//!
//! Dedicated columns carry what searches look at (IDs, service, name, kind,
//! status, times and the common semantic-convention attributes) so any
//! Parquet engine can query them; the `span` column holds the whole span
//! (with its resource and scope) as OTLP protobuf, so every field, event
//! and link round-trips. The `trace_id` column has a bloom filter (written
//! together at the end of the file, so one GET loads them all) and row
//! groups are small, so a lookup by ID reads only the row groups whose
//! min/max statistics and filter admit it.

mod merge;
mod reader;
mod write;

pub use merge::{MergedSpans, merge_trace_blocks};
pub use reader::{SpanRow, SpanRows, TraceBlockReader};
pub use write::{TraceBlockWriter, TraceIndex, trace_blocks_prefix, write_trace_block};

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, Int32Builder, Int64Builder, StringBuilder, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{BloomFilterPosition, WriterProperties};

use super::otlp::encode_spans;
use super::{AttrValue, Span};
use crate::block::BlockError;

/// Spans per row group: small enough that trace-ID statistics prune.
pub const DEFAULT_ROW_GROUP_SPANS: usize = 8192;

/// The data file's name inside a block directory.
pub const DATA_FILE: &str = "data.parquet";

/// False-positive rate of the trace-ID bloom filters.
const BLOOM_FPP: f64 = 0.01;

/// The dedicated string attributes, by key (span attributes).
const STRING_ATTRS: [&str; 3] = ["http.request.method", "http.route", "db.system"];

fn schema() -> Arc<Schema> {
    let mut fields = vec![
        Field::new("trace_id", DataType::Binary, false),
        Field::new("span_id", DataType::Binary, false),
        Field::new("parent_span_id", DataType::Binary, true),
        Field::new("service_name", DataType::Utf8, true),
        Field::new("name", DataType::Utf8, false),
        Field::new("kind", DataType::Int32, false),
        Field::new("status_code", DataType::Int32, false),
        Field::new("status_message", DataType::Utf8, false),
        Field::new("start_unix_nano", DataType::UInt64, false),
        Field::new("duration_nano", DataType::UInt64, false),
        Field::new("http.response.status_code", DataType::Int64, true),
    ];
    fields.extend(
        STRING_ATTRS
            .iter()
            .map(|k| Field::new(*k, DataType::Utf8, true)),
    );
    fields.push(Field::new("span", DataType::Binary, false));
    Arc::new(Schema::new(fields))
}

/// Column indexes in [`schema`] the readers use.
const TRACE_ID_COLUMN: usize = 0;
const START_COLUMN: usize = 8;
const SPAN_COLUMN: usize = 14;

fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a AttrValue> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| &kv.value)
}

/// How data files are written: zstd, `rows` spans per row group, a
/// trace-ID bloom filter per row group sized for it, all bloom filters
/// together at the end of the file.
fn properties(rows: usize) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(rows))
        .set_column_bloom_filter_enabled("trace_id".into(), true)
        .set_column_bloom_filter_max_ndv("trace_id".into(), rows as u64)
        .set_column_bloom_filter_fpp("trace_id".into(), BLOOM_FPP)
        .set_bloom_filter_position(BloomFilterPosition::End)
        .build()
}

fn invalid(e: &dyn std::fmt::Display) -> BlockError {
    BlockError::InvalidInput(format!("trace block: {e}"))
}

/// Writes `spans` as a block data file, sorted by trace ID then start time,
/// `row_group_spans` spans per row group.
pub fn encode_block(mut spans: Vec<Span>, row_group_spans: usize) -> Result<Vec<u8>, BlockError> {
    spans.sort_by(|a, b| {
        (a.trace_id, a.start_unix_nano, a.span_id).cmp(&(b.trace_id, b.start_unix_nano, b.span_id))
    });
    let schema = schema();
    let rows = row_group_spans.max(1);
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, Arc::clone(&schema), Some(properties(rows)))
        .map_err(|e| invalid(&e))?;
    for chunk in spans.chunks(rows) {
        let batch = batch(&schema, chunk).map_err(|e| invalid(&e))?;
        writer.write(&batch).map_err(|e| invalid(&e))?;
    }
    writer.close().map_err(|e| invalid(&e))?;
    Ok(out)
}

fn batch(schema: &Arc<Schema>, spans: &[Span]) -> Result<RecordBatch, arrow::error::ArrowError> {
    let mut trace_id = BinaryBuilder::new();
    let mut span_id = BinaryBuilder::new();
    let mut parent = BinaryBuilder::new();
    let mut service = StringBuilder::new();
    let mut name = StringBuilder::new();
    let mut kind = Int32Builder::new();
    let mut status_code = Int32Builder::new();
    let mut status_message = StringBuilder::new();
    let mut start = UInt64Builder::new();
    let mut duration = UInt64Builder::new();
    let mut http_status = Int64Builder::new();
    let mut strings: Vec<StringBuilder> =
        STRING_ATTRS.iter().map(|_| StringBuilder::new()).collect();
    let mut full = BinaryBuilder::new();
    for s in spans {
        trace_id.append_value(s.trace_id);
        span_id.append_value(s.span_id);
        parent.append_option(s.parent_span_id);
        service.append_option(s.service_name());
        name.append_value(&s.name);
        kind.append_value(s.kind);
        status_code.append_value(s.status_code);
        status_message.append_value(&s.status_message);
        start.append_value(s.start_unix_nano);
        duration.append_value(s.duration_nanos());
        http_status.append_option(match attr(s, "http.response.status_code") {
            Some(AttrValue::Int(i)) => Some(*i),
            _ => None,
        });
        for (builder, key) in strings.iter_mut().zip(STRING_ATTRS) {
            builder.append_option(match attr(s, key) {
                Some(AttrValue::Str(v)) => Some(v.as_str()),
                _ => None,
            });
        }
        full.append_value(encode_spans(std::slice::from_ref(s)));
    }
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(trace_id.finish()),
        Arc::new(span_id.finish()),
        Arc::new(parent.finish()),
        Arc::new(service.finish()),
        Arc::new(name.finish()),
        Arc::new(kind.finish()),
        Arc::new(status_code.finish()),
        Arc::new(status_message.finish()),
        Arc::new(start.finish()),
        Arc::new(duration.finish()),
        Arc::new(http_status.finish()),
    ];
    columns.extend(strings.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    columns.push(Arc::new(full.finish()));
    RecordBatch::try_new(Arc::clone(schema), columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{RetryPolicy, refresh_block_list_under};
    use crate::tenant::TenantId;
    use crate::traces::SpanFilter;
    use crate::traces::otlp::tests::full_span;
    use object_store::ObjectStore;
    use object_store::memory::InMemory;

    fn spans() -> Vec<Span> {
        let mut out = Vec::new();
        for t in (1..=40u8).rev() {
            for s in 1..=3u8 {
                let mut span = full_span(t, s);
                span.start_unix_nano += u64::from(3 - s) + u64::from(t) * 1_000_000_000;
                span.end_unix_nano += u64::from(t) * 1_000_000_000;
                out.push(span);
            }
        }
        out
    }

    async fn open(spans: Vec<Span>, row_group_spans: usize) -> TraceBlockReader {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let tenant = TenantId::parse("t").unwrap();
        let meta = write::write_with(store.as_ref(), &tenant, spans, "test", row_group_spans)
            .await
            .unwrap();
        let prefix = trace_blocks_prefix(&tenant);
        let listed =
            refresh_block_list_under(store.as_ref(), &prefix, &[], &RetryPolicy::default())
                .await
                .unwrap();
        assert_eq!(
            listed,
            vec![meta.clone()],
            "meta.json makes the block listable"
        );
        TraceBlockReader::open(store, &tenant, meta, &RetryPolicy::default())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn every_field_round_trips_sorted_by_trace() {
        let block = open(spans(), DEFAULT_ROW_GROUP_SPANS).await;
        assert_eq!(block.meta().stats.num_samples, 120);
        assert_eq!(block.meta().stats.num_series, 40);
        let got: Vec<Span> = block
            .search(0, u64::MAX, None, None)
            .await
            .unwrap()
            .into_iter()
            .flat_map(|t| t.spans)
            .collect();
        let mut want = spans();
        want.sort_by_key(|s| (s.trace_id, s.start_unix_nano));
        assert_eq!(got, want);
        assert_eq!(
            block.tags().values(None, "http.request.method"),
            ["GET".to_string()].into()
        );
    }

    #[tokio::test]
    async fn lookups_by_id_read_only_candidate_row_groups() {
        let block = open(spans(), 6).await;
        assert_eq!(block.row_groups(), 20);
        assert_eq!(block.row_groups_for(&[7; 16]).len(), 1);
        let trace = block.trace_by_id(&[7; 16]).await.unwrap();
        assert_eq!(trace.len(), 3);
        assert!(trace.iter().all(|s| s.trace_id == [7; 16]));
        assert_eq!(trace[0], {
            let mut s = full_span(7, 3);
            s.start_unix_nano += 7_000_000_000;
            s.end_unix_nano += 7_000_000_000;
            s
        });
        // Beyond every min/max: no row group is read.
        assert!(block.row_groups_for(&[200; 16]).is_empty());
        // Inside a row group's range but absent: the bloom filter says no.
        let mut between = [7; 16];
        between[15] = 8;
        assert!(block.row_groups_for(&between).len() <= 1);
        assert!(block.trace_by_id(&between).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn search_keeps_whole_traces_with_a_matching_span_in_range() {
        let block = open(spans(), 6).await;
        // Traces 10..=12 start in this window; only span 1 of each passes.
        let from = 1_700_000_000_000_000_000 + 10_000_000_000;
        let to = 1_700_000_000_000_000_000 + 12_000_000_002;
        let only_first: SpanFilter = Arc::new(|s: &Span| s.span_id == [1; 8]);
        let got = block
            .search(from, to, Some(&only_first), None)
            .await
            .unwrap();
        let ids: Vec<u8> = got.iter().map(|t| t.trace_id[0]).collect();
        assert_eq!(ids, [10, 11, 12]);
        assert!(got.iter().all(|t| t.spans.len() == 3), "whole traces");
        let limited = block.search(0, u64::MAX, None, Some(2)).await.unwrap();
        assert_eq!(limited.len(), 2);
    }

    #[tokio::test]
    async fn merging_replicas_streams_each_span_once() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let tenant = TenantId::parse("t").unwrap();
        let all = spans();
        // Two replicas of the first 60 spans, and a third block with the
        // rest plus an overlap.
        let mut metas = Vec::new();
        for part in [&all[..60], &all[..60], &all[50..]] {
            metas.push(
                write::write_with(store.as_ref(), &tenant, part.to_vec(), "i", 7)
                    .await
                    .unwrap(),
            );
        }
        let mut readers = Vec::new();
        for m in metas {
            readers.push(
                TraceBlockReader::open(Arc::clone(&store), &tenant, m, &RetryPolicy::default())
                    .await
                    .unwrap(),
            );
        }
        let mut out = TraceBlockWriter::new(Arc::clone(&store), &tenant).unwrap();
        let counts = merge_trace_blocks(&readers, &mut out).await.unwrap();
        assert_eq!(
            counts,
            MergedSpans {
                spans_in: 190,
                spans_out: 120
            }
        );
        let compaction = crate::block::BlockCompaction {
            level: 2,
            sources: vec![],
        };
        let meta = out.finish(compaction, "compactor").await.unwrap();
        assert_eq!((meta.stats.num_samples, meta.stats.num_series), (120, 40));
        let merged = TraceBlockReader::open(store, &tenant, meta, &RetryPolicy::default())
            .await
            .unwrap();
        let got: Vec<Span> = merged
            .search(0, u64::MAX, None, None)
            .await
            .unwrap()
            .into_iter()
            .flat_map(|t| t.spans)
            .collect();
        let mut want = spans();
        want.sort_by_key(|s| (s.trace_id, s.start_unix_nano));
        assert_eq!(got, want);
        assert_eq!(merged.trace_by_id(&[9; 16]).await.unwrap().len(), 3);
    }
}
