//! Prometheus remote write 2.0 on the wire: the `io.prometheus.write.v2.Request`
//! protobuf messages (spec 2.0-rc.4), and their translation into the 1.0
//! [`WriteRequest`] so both versions share one validation and push path
//! ([`crate::Distributor::push`]).
//!
//! A 2.0 request carries every string once, in a symbols table; series,
//! exemplars and metadata point into it by index. [`decode`] unsnappies the
//! body and checks its sizes exactly as [`remote_write::decode`] does, then
//! resolves every reference into 1.0 labels, charging what the strings it
//! copies will take against `max_decoded_request_bytes` (the same symbol
//! may be referenced a million times) before copying any, so the
//! translation is as bounded as the decoding. A reference outside the
//! table, an odd number of label references, or a table whose first symbol
//! is not `""` make the body corrupt ([`SymbolError`], answered 400): a sender that gets those wrong
//! cannot be trusted with any of the request.
//!
//! What the translation decides:
//! - Label pairs are sorted by name (2.0 senders need not sort them; 1.0
//!   validation requires it); duplicates are left for validation to refuse.
//! - Histograms are 1.0's [`Histogram`] message, which has the same fields
//!   1 to 16, and pass through untouched.
//! - A series' metadata becomes its family's [`MetricMetadata`] when it says
//!   anything (a type, help or unit). The family name is the series'
//!   `__name__`, without the `_bucket`, `_count` or `_sum` suffix for the
//!   series of classic histograms and summaries, as Prometheus names the
//!   family those series are scraped from; counters keep `_total`. Only the
//!   first entry per family in a request is kept.
//! - Start (created) timestamps — per sample and histogram since rc.4, per
//!   series (field 6) in earlier drafts, which the receiver compliance suite
//!   still sends — are accepted and not stored: that is what Prometheus's
//!   receiver does by default (it writes a zero sample at the start time
//!   only behind `--enable-feature=created-timestamp-zero-ingestion`), and
//!   the compliance suite checks that such samples are written, nothing
//!   more. Histograms' start timestamp (field 17) is skipped by the decoder.
//!
//! ```
//! use cairn_distributor::remote_write_v2::{self, Request, Sample, SymbolTable, TimeSeries};
//!
//! let mut symbols = SymbolTable::default();
//! let labels_refs = symbols.label_refs([("__name__", "up"), ("job", "node")]);
//! let req = Request {
//!     symbols: symbols.into_symbols(),
//!     timeseries: vec![TimeSeries {
//!         labels_refs,
//!         samples: vec![Sample { value: 1.0, timestamp: 1_700_000_000_000, start_timestamp: 0 }],
//!         ..Default::default()
//!     }],
//! };
//! let body = remote_write_v2::encode(&req).unwrap();
//! let limits = cairn_distributor::DistributorConfig::default().decode_limits();
//! let v1 = remote_write_v2::decode(&body, limits).unwrap();
//! assert_eq!(v1.timeseries[0].labels[0].value, "up");
//! ```

use std::collections::{HashMap, HashSet};
use std::mem::size_of;

use prost::Message;

use crate::decode_budget::{self, Budget, DecodeLimits};
use crate::remote_write::{
    self, DecodeError, Exemplar as V1Exemplar, Histogram, Label, MetricMetadata,
    Sample as V1Sample, TimeSeries as V1TimeSeries, WriteRequest, metric_metadata,
};

/// A remote-write 2.0 request: the symbols table and the series.
#[derive(Clone, PartialEq, Message)]
pub struct Request {
    /// Every string of the request, once; `symbols[0]` must be `""`.
    #[prost(string, repeated, tag = "4")]
    pub symbols: Vec<String>,
    /// The series.
    #[prost(message, repeated, tag = "5")]
    pub timeseries: Vec<TimeSeries>,
}

/// One series: labels by reference, and what to append to it.
#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    /// Name and value symbol indexes, alternating: `[name0, value0, name1, …]`.
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    /// Float samples, oldest first.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    /// Native histogram samples (the 1.0 message; same fields).
    #[prost(message, repeated, tag = "3")]
    pub histograms: Vec<Histogram>,
    /// Exemplars of this series.
    #[prost(message, repeated, tag = "4")]
    pub exemplars: Vec<Exemplar>,
    /// Type, help and unit of the series' family.
    #[prost(message, optional, tag = "5")]
    pub metadata: Option<Metadata>,
}

/// One float sample.
#[derive(Clone, Copy, PartialEq, Message)]
pub struct Sample {
    /// The value (NaN and the stale marker are kept bit-for-bit).
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
    /// When the counter started counting, ms (0: unset). Accepted, not
    /// stored (see the module doc).
    #[prost(int64, tag = "3")]
    pub start_timestamp: i64,
}

/// An exemplar with its labels by reference.
#[derive(Clone, PartialEq, Message)]
pub struct Exemplar {
    /// Name and value symbol indexes, alternating.
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    /// The value.
    #[prost(double, tag = "2")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

/// A series' family metadata, strings by reference (0: empty).
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct Metadata {
    /// The metric type; 2.0's enum has 1.0's values.
    #[prost(enumeration = "metric_metadata::MetricType", tag = "1")]
    pub r#type: i32,
    /// Symbol index of the help text.
    #[prost(uint32, tag = "3")]
    pub help_ref: u32,
    /// Symbol index of the unit.
    #[prost(uint32, tag = "4")]
    pub unit_ref: u32,
}

/// Builds a request's symbols table the way senders do, each string once
/// with `""` first; for clients of this crate (tests, load tools).
#[derive(Debug, Clone)]
pub struct SymbolTable {
    symbols: Vec<String>,
    index: HashMap<String, u32>,
}

impl Default for SymbolTable {
    fn default() -> Self {
        Self {
            symbols: vec![String::new()],
            index: HashMap::from([(String::new(), 0)]),
        }
    }
}

impl SymbolTable {
    /// The index of `s`, added to the table if new.
    pub fn symbolize(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = u32::try_from(self.symbols.len()).expect("fewer than 2^32 symbols");
        self.symbols.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }

    /// `labels_refs` for `(name, value)` pairs, in the order given.
    pub fn label_refs<'a>(
        &mut self,
        labels: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Vec<u32> {
        labels
            .into_iter()
            .flat_map(|(n, v)| [self.symbolize(n), self.symbolize(v)])
            .collect()
    }

    /// The table, for [`Request::symbols`].
    pub fn into_symbols(self) -> Vec<String> {
        self.symbols
    }
}

/// Why a 2.0 request's symbol references cannot be resolved: a corrupt body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SymbolError {
    /// The spec requires `symbols[0] == ""`.
    #[error("symbols[0] must be the empty string, got {0:?}")]
    FirstNotEmpty(String),
    /// Label references come in name/value pairs.
    #[error("timeseries[{series}]: {what} has an odd number of references ({count})")]
    OddLabelRefs {
        /// Index of the series in the request.
        series: usize,
        /// Which references: the series' labels or an exemplar's.
        what: &'static str,
        /// How many there are.
        count: usize,
    },
    /// A reference past the end of the symbols table.
    #[error("timeseries[{series}]: {what} refers to symbol {symbol}, but the table has {len}")]
    OutOfRange {
        /// Index of the series in the request.
        series: usize,
        /// Which reference.
        what: &'static str,
        /// The reference.
        symbol: u32,
        /// Symbols in the table.
        len: usize,
    },
}

/// Decodes a snappy-compressed `io.prometheus.write.v2.Request` under the
/// same limits as [`remote_write::decode`] and translates it into the 1.0
/// request it means (see the module doc).
pub fn decode(body: &[u8], limits: DecodeLimits) -> Result<WriteRequest, DecodeError> {
    let raw = remote_write::unsnappy(body, limits.max_recv_msg_size)?;
    decode_budget::check_protobuf(
        &raw,
        &decode_budget::shapes::REMOTE_WRITE_V2,
        limits.max_decoded_request_bytes,
    )?;
    let req = Request::decode(raw.as_slice()).map_err(DecodeError::ProtobufV2)?;
    to_v1(req, &mut Budget::new(limits.max_decoded_request_bytes))
}

/// Encodes `req` as a remote-write 2.0 body: protobuf, then snappy block
/// format. Fails only for messages over snappy's 4 GiB input limit.
pub fn encode(req: &Request) -> Result<Vec<u8>, snap::Error> {
    snap::raw::Encoder::new().compress_vec(&req.encode_to_vec())
}

/// Resolves every reference of `req` into the 1.0 request it means, after
/// [`charge`] has checked them all and found that request within `budget`.
fn to_v1(req: Request, budget: &mut Budget) -> Result<WriteRequest, DecodeError> {
    if let Some(first) = req.symbols.first().filter(|s| !s.is_empty()) {
        return Err(SymbolError::FirstNotEmpty(first.chars().take(64).collect()).into());
    }
    let symbols = Symbols(&req.symbols);
    charge(&req.timeseries, &symbols, budget)?;
    let mut out = WriteRequest {
        timeseries: Vec::with_capacity(req.timeseries.len()),
        metadata: Vec::new(),
    };
    let mut families = HashSet::new();
    for (i, ts) in req.timeseries.into_iter().enumerate() {
        let labels = symbols.labels(i, "labels_refs", &ts.labels_refs)?;
        if let Some(m) = ts.metadata
            && let Some(m) = symbols.metadata(i, m, &labels)?
            && families.insert(m.metric_family_name.clone())
        {
            out.metadata.push(m);
        }
        let exemplars = ts
            .exemplars
            .into_iter()
            .map(|e| {
                Ok(V1Exemplar {
                    labels: symbols.labels(i, "exemplar labels_refs", &e.labels_refs)?,
                    value: e.value,
                    timestamp: e.timestamp,
                })
            })
            .collect::<Result<_, SymbolError>>()?;
        out.timeseries.push(V1TimeSeries {
            labels,
            samples: ts
                .samples
                .into_iter()
                .map(|s| V1Sample {
                    value: s.value,
                    timestamp: s.timestamp,
                })
                .collect(),
            exemplars,
            histograms: ts.histograms,
        });
    }
    Ok(out)
}

/// Checks every reference of `timeseries` and charges `budget` with what
/// the 1.0 request built from them will take — before anything is built,
/// so a body whose references resolve to gigabytes allocates nothing.
fn charge(
    timeseries: &[TimeSeries],
    symbols: &Symbols<'_>,
    budget: &mut Budget,
) -> Result<(), DecodeError> {
    for (i, ts) in timeseries.iter().enumerate() {
        let (labels, name) = symbols.label_bytes(i, "labels_refs", &ts.labels_refs)?;
        budget.charge(
            size_of::<V1TimeSeries>() + ts.samples.len() * size_of::<V1Sample>() + labels,
        )?;
        for e in &ts.exemplars {
            let (labels, _) = symbols.label_bytes(i, "exemplar labels_refs", &e.labels_refs)?;
            budget.charge(size_of::<V1Exemplar>() + labels)?;
        }
        if let Some(m) = ts.metadata {
            let help = symbols.get(i, "metadata help_ref", m.help_ref)?;
            let unit = symbols.get(i, "metadata unit_ref", m.unit_ref)?;
            budget.charge(size_of::<MetricMetadata>() + name + help.len() + unit.len())?;
        }
    }
    Ok(())
}

/// The symbols table, resolving references.
struct Symbols<'a>(&'a [String]);

impl Symbols<'_> {
    fn get(&self, series: usize, what: &'static str, symbol: u32) -> Result<&str, SymbolError> {
        self.0
            .get(symbol as usize)
            .map(String::as_str)
            .ok_or(SymbolError::OutOfRange {
                series,
                what,
                symbol,
                len: self.0.len(),
            })
    }

    /// The `(name, value)` pairs `refs` name, checked.
    fn pairs<'r>(
        &'r self,
        series: usize,
        what: &'static str,
        refs: &'r [u32],
    ) -> Result<impl Iterator<Item = Result<(&'r str, &'r str), SymbolError>> + 'r, SymbolError>
    {
        if !refs.len().is_multiple_of(2) {
            return Err(SymbolError::OddLabelRefs {
                series,
                what,
                count: refs.len(),
            });
        }
        Ok(refs.chunks_exact(2).map(move |pair| {
            Ok((
                self.get(series, what, pair[0])?,
                self.get(series, what, pair[1])?,
            ))
        }))
    }

    /// What the labels `refs` name take as 1.0 labels, and the length of
    /// their `__name__` value.
    fn label_bytes(
        &self,
        series: usize,
        what: &'static str,
        refs: &[u32],
    ) -> Result<(usize, usize), SymbolError> {
        let (mut bytes, mut name_len) = (0, 0);
        for pair in self.pairs(series, what, refs)? {
            let (name, value) = pair?;
            bytes += size_of::<Label>() + name.len() + value.len();
            if name == "__name__" {
                name_len = value.len();
            }
        }
        Ok((bytes, name_len))
    }

    /// The label pairs `refs` name, sorted by name.
    fn labels(
        &self,
        series: usize,
        what: &'static str,
        refs: &[u32],
    ) -> Result<Vec<Label>, SymbolError> {
        let mut labels = self
            .pairs(series, what, refs)?
            .map(|pair| pair.map(|(name, value)| Label::new(name, value)))
            .collect::<Result<Vec<_>, _>>()?;
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(labels)
    }

    /// The family metadata `m` says for the series `labels`, if it says
    /// anything.
    fn metadata(
        &self,
        series: usize,
        m: Metadata,
        labels: &[Label],
    ) -> Result<Option<MetricMetadata>, SymbolError> {
        let help = self.get(series, "metadata help_ref", m.help_ref)?;
        let unit = self.get(series, "metadata unit_ref", m.unit_ref)?;
        if m.r#type == metric_metadata::MetricType::Unknown as i32
            && help.is_empty()
            && unit.is_empty()
        {
            return Ok(None);
        }
        let name = labels
            .iter()
            .find(|l| l.name == "__name__")
            .map_or("", |l| l.value.as_str());
        Ok(Some(MetricMetadata {
            r#type: m.r#type,
            metric_family_name: family_name(name, m.r#type).to_string(),
            help: help.to_string(),
            unit: unit.to_string(),
        }))
    }
}

/// The family a series named `name` of metric type `kind` belongs to: its
/// name, less the per-series suffix of classic histograms and summaries.
fn family_name(name: &str, kind: i32) -> &str {
    use metric_metadata::MetricType;
    let suffixes: &[&str] = match MetricType::try_from(kind) {
        Ok(MetricType::Histogram | MetricType::Gaugehistogram) => &["_bucket", "_count", "_sum"],
        Ok(MetricType::Summary) => &["_count", "_sum"],
        _ => &[],
    };
    suffixes
        .iter()
        .find_map(|s| name.strip_suffix(s).filter(|f| !f.is_empty()))
        .unwrap_or(name)
}

#[cfg(test)]
mod tests;
