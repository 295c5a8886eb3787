//! The trace block codec: spans as one open Parquet file (`data.parquet`),
//! sorted by trace ID then start time, written by the ingester and read by
//! the querier.
//!
//! Dedicated columns carry what searches look at (IDs, service, name, kind,
//! status, times and a few common attributes) so any Parquet engine can
//! query them; the `span` column holds the whole span (with its resource
//! and scope) as OTLP protobuf, so every field round-trips. The `trace_id`
//! column has a bloom filter and row groups are small, so a lookup by ID
//! reads only the row groups whose min/max statistics and filter admit it.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BinaryArray, BinaryBuilder, Int32Builder, Int64Builder, StringBuilder,
    UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{ReaderProperties, WriterProperties};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::serialized_reader::ReadOptionsBuilder;
use parquet::file::statistics::Statistics;

use super::otlp::{decode_spans, encode_spans};
use super::{AttrValue, Span, TraceId};

/// Spans per row group: small enough that trace-ID statistics prune.
pub const DEFAULT_ROW_GROUP_SPANS: usize = 8192;

/// The data file's name inside a block directory.
pub const DATA_FILE: &str = "data.parquet";

/// Why a block could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum TraceBlockError {
    /// Parquet or Arrow failed.
    #[error("parquet: {0}")]
    Parquet(String),
    /// A stored span could not be decoded.
    #[error("corrupt span in trace block: {0}")]
    Corrupt(String),
}

impl From<parquet::errors::ParquetError> for TraceBlockError {
    fn from(e: parquet::errors::ParquetError) -> Self {
        Self::Parquet(e.to_string())
    }
}

impl From<arrow::error::ArrowError> for TraceBlockError {
    fn from(e: arrow::error::ArrowError) -> Self {
        Self::Parquet(e.to_string())
    }
}

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

/// Column index of `trace_id` and of `span` in [`schema`].
const TRACE_ID_COLUMN: usize = 0;
const SPAN_COLUMN: usize = 14;

fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a AttrValue> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| &kv.value)
}

/// Writes `spans` as a block data file, sorted by trace ID then start time,
/// `row_group_spans` spans per row group.
pub fn encode_block(
    mut spans: Vec<Span>,
    row_group_spans: usize,
) -> Result<Vec<u8>, TraceBlockError> {
    spans.sort_by(|a, b| {
        (a.trace_id, a.start_unix_nano, a.span_id).cmp(&(b.trace_id, b.start_unix_nano, b.span_id))
    });
    let schema = schema();
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(row_group_spans.max(1)))
        .set_column_bloom_filter_enabled("trace_id".into(), true)
        .build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, Arc::clone(&schema), Some(props))?;
    for chunk in spans.chunks(row_group_spans.max(1)) {
        writer.write(&batch(&schema, chunk)?)?;
    }
    writer.close()?;
    Ok(out)
}

fn batch(schema: &Arc<Schema>, spans: &[Span]) -> Result<RecordBatch, TraceBlockError> {
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
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// An opened block data file.
pub struct TraceBlockReader {
    data: Bytes,
    file: SerializedFileReader<Bytes>,
}

impl TraceBlockReader {
    /// Opens the data file's footer (and bloom filters) from `data`.
    pub fn open(data: Bytes) -> Result<Self, TraceBlockError> {
        let options = ReadOptionsBuilder::new()
            .with_reader_properties(
                ReaderProperties::builder()
                    .set_read_bloom_filter(true)
                    .build(),
            )
            .build();
        let file = SerializedFileReader::new_with_options(data.clone(), options)?;
        Ok(Self { data, file })
    }

    /// How many row groups the file has.
    pub fn row_groups(&self) -> usize {
        self.file.metadata().num_row_groups()
    }

    /// The row groups that may hold spans of `id`: min/max statistics of
    /// `trace_id` first, then its bloom filter.
    pub fn row_groups_for(&self, id: &TraceId) -> Result<Vec<usize>, TraceBlockError> {
        let mut out = Vec::new();
        for i in 0..self.row_groups() {
            let rg = self.file.metadata().row_group(i);
            if let Some(Statistics::ByteArray(stats)) = rg.column(TRACE_ID_COLUMN).statistics()
                && let (Some(min), Some(max)) = (stats.min_opt(), stats.max_opt())
                && (id.as_slice() < min.data() || id.as_slice() > max.data())
            {
                continue;
            }
            let reader = self.file.get_row_group(i)?;
            if let Some(bloom) = reader.get_column_bloom_filter(TRACE_ID_COLUMN)
                && !bloom.check(id.as_slice())
            {
                continue;
            }
            out.push(i);
        }
        Ok(out)
    }

    /// Every span of trace `id`, in stored order.
    pub fn trace_by_id(&self, id: &TraceId) -> Result<Vec<Span>, TraceBlockError> {
        let groups = self.row_groups_for(id)?;
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        let mut spans = self.read(Some(groups))?;
        spans.retain(|s| &s.trace_id == id);
        Ok(spans)
    }

    /// Every span of the block (`None`) or of the given row groups.
    pub fn read(&self, row_groups: Option<Vec<usize>>) -> Result<Vec<Span>, TraceBlockError> {
        let builder = ParquetRecordBatchReaderBuilder::try_new(self.data.clone())?;
        let mask = ProjectionMask::roots(builder.parquet_schema(), [SPAN_COLUMN]);
        let mut builder = builder.with_projection(mask);
        if let Some(groups) = row_groups {
            builder = builder.with_row_groups(groups);
        }
        let mut out = Vec::new();
        for batch in builder.build()? {
            let batch = batch?;
            let Some(column) = batch.column(0).as_any().downcast_ref::<BinaryArray>() else {
                return Err(TraceBlockError::Corrupt("span column is not binary".into()));
            };
            for i in 0..column.len() {
                let spans = decode_spans(column.value(i))
                    .map_err(|e| TraceBlockError::Corrupt(e.to_string()))?;
                out.extend(spans);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traces::otlp::tests::full_span;

    fn spans() -> Vec<Span> {
        let mut out = Vec::new();
        for t in (1..=40u8).rev() {
            for s in 1..=3u8 {
                let mut span = full_span(t, s);
                span.start_unix_nano += u64::from(3 - s);
                out.push(span);
            }
        }
        out
    }

    #[test]
    fn every_field_round_trips_sorted() {
        let data = encode_block(spans(), DEFAULT_ROW_GROUP_SPANS).unwrap();
        let block = TraceBlockReader::open(Bytes::from(data)).unwrap();
        let got = block.read(None).unwrap();
        let mut want = spans();
        want.sort_by_key(|s| (s.trace_id, s.start_unix_nano));
        assert_eq!(got, want);
    }

    #[test]
    fn lookups_by_id_read_only_candidate_row_groups() {
        let data = encode_block(spans(), 6).unwrap();
        let block = TraceBlockReader::open(Bytes::from(data)).unwrap();
        assert_eq!(block.row_groups(), 20);
        assert_eq!(block.row_groups_for(&[7; 16]).unwrap().len(), 1);
        let trace = block.trace_by_id(&[7; 16]).unwrap();
        assert_eq!(trace.len(), 3);
        assert!(trace.iter().all(|s| s.trace_id == [7; 16]));
        // Beyond every min/max: no row group is read.
        assert!(block.row_groups_for(&[200; 16]).unwrap().is_empty());
        // Inside a row group's range but absent: the bloom filter says no.
        let mut between = [7; 16];
        between[15] = 8;
        let candidates = block.row_groups_for(&between).unwrap();
        assert!(candidates.len() <= 1);
        assert!(block.trace_by_id(&between).unwrap().is_empty());
    }
}
