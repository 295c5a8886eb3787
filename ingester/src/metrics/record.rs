//! WAL record encoding for the metrics head.
//!
//! The WAL (`common::wal`) stores opaque records; this module gives them
//! meaning. Three kinds, little-endian, fixed width:
//!
//! - series:  `0x04 | ref u32 | labels`
//! - samples: `0x02 | n u32 | n × (ref u32, t i64, v f64 bits)`
//! - exemplars: `0x05 | n u32 | n × (series labels | m u32 | m × (labels, t i64, v f64 bits))`
//! - histograms: `0x06 | n u32 | n × (ref u32, len u32, chunk)` where `chunk`
//!   is a [`HistogramChunk`] holding that series' histogram samples of the
//!   push, oldest first (the chunk encoding is compact and already checked
//!   on decode, so the WAL needs no second histogram format)
//!
//! where `labels` is as [`crate::codec::put_labels`] writes it. Series
//! (`0x01`) and exemplars (`0x03`) records of the first format, with
//! `u16` label lengths, are still read.
//! A series record always precedes the first samples record naming its ref.
//! Exemplar records name their series by labels: the exemplar store is
//! keyed by labels and outlives head cuts.

use common::chunk::histogram::{self, HistogramChunk};
use common::exemplar::{Exemplar, SeriesExemplars};
use common::histogram::HistogramSample;
use common::labels::Labels;
use common::series::Sample;

use crate::codec::{Reader, labels_size, put_labels};

const SERIES_V1: u8 = 1;
const SAMPLES: u8 = 2;
const EXEMPLARS_V1: u8 = 3;
const SERIES: u8 = 4;
const EXEMPLARS: u8 = 5;
const HISTOGRAMS: u8 = 6;

/// A decoded WAL record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Record {
    /// A series was created with this ref.
    Series { id: u32, labels: Labels },
    /// Samples appended to series by ref.
    Samples(Vec<(u32, Sample)>),
    /// Exemplars stored, by series.
    Exemplars(Vec<SeriesExemplars>),
    /// Histogram samples appended to series by ref, oldest first per series.
    Histograms(Vec<(u32, Vec<HistogramSample>)>),
}

/// Encodes a series record.
pub(crate) fn encode_series(id: u32, labels: &Labels) -> Vec<u8> {
    let mut b = Vec::with_capacity(5 + labels_size(labels));
    b.push(SERIES);
    b.extend_from_slice(&id.to_le_bytes());
    put_labels(&mut b, labels);
    b
}

/// Encodes an exemplars record.
pub(crate) fn encode_exemplars(list: &[SeriesExemplars]) -> Vec<u8> {
    let size: usize = list
        .iter()
        .map(|s| {
            labels_size(&s.series)
                + 4
                + s.exemplars
                    .iter()
                    .map(|e| labels_size(&e.labels) + 16)
                    .sum::<usize>()
        })
        .sum();
    let mut b = Vec::with_capacity(5 + size);
    b.push(EXEMPLARS);
    b.extend_from_slice(&(list.len() as u32).to_le_bytes());
    for s in list {
        put_labels(&mut b, &s.series);
        b.extend_from_slice(&(s.exemplars.len() as u32).to_le_bytes());
        for e in &s.exemplars {
            put_labels(&mut b, &e.labels);
            b.extend_from_slice(&e.timestamp.to_le_bytes());
            b.extend_from_slice(&e.value.to_bits().to_le_bytes());
        }
    }
    b
}

/// Encodes a samples record.
pub(crate) fn encode_samples(samples: &[(u32, Sample)]) -> Vec<u8> {
    let mut b = Vec::with_capacity(5 + samples.len() * 20);
    b.push(SAMPLES);
    b.extend_from_slice(&(samples.len() as u32).to_le_bytes());
    for (id, s) in samples {
        b.extend_from_slice(&id.to_le_bytes());
        b.extend_from_slice(&s.t.to_le_bytes());
        b.extend_from_slice(&s.v.to_bits().to_le_bytes());
    }
    b
}

/// Encodes a histograms record: each series' samples, oldest first.
pub(crate) fn encode_histograms(series: &[(u32, Vec<HistogramSample>)]) -> Vec<u8> {
    let chunks: Vec<(u32, HistogramChunk)> = series
        .iter()
        .map(|(id, samples)| {
            let mut c = HistogramChunk::new();
            for s in samples {
                c.append(s.t, &s.h);
            }
            (*id, c)
        })
        .collect();
    let size: usize = chunks.iter().map(|(_, c)| 8 + c.bytes().len()).sum();
    let mut b = Vec::with_capacity(5 + size);
    b.push(HISTOGRAMS);
    b.extend_from_slice(&(chunks.len() as u32).to_le_bytes());
    for (id, c) in &chunks {
        b.extend_from_slice(&id.to_le_bytes());
        b.extend_from_slice(&(c.bytes().len() as u32).to_le_bytes());
        b.extend_from_slice(c.bytes());
    }
    b
}

/// Decodes one record; errors describe what is malformed.
pub(crate) fn decode(rec: &[u8]) -> Result<Record, String> {
    let mut r = Reader::new(rec);
    match r.u8()? {
        kind @ (SERIES | SERIES_V1) => {
            let id = r.u32()?;
            let labels = read_labels(&mut r, kind == SERIES_V1)?;
            Ok(Record::Series { id, labels })
        }
        kind @ (EXEMPLARS | EXEMPLARS_V1) => {
            let v1 = kind == EXEMPLARS_V1;
            let n = r.count(4)?;
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let series = read_labels(&mut r, v1)?;
                let m = r.count(18)?;
                let mut exemplars = Vec::with_capacity(m);
                for _ in 0..m {
                    let labels = read_labels(&mut r, v1)?;
                    let timestamp = r.u64()? as i64;
                    let value = f64::from_bits(r.u64()?);
                    exemplars.push(Exemplar {
                        labels,
                        value,
                        timestamp,
                    });
                }
                out.push(SeriesExemplars { series, exemplars });
            }
            Ok(Record::Exemplars(out))
        }
        SAMPLES => {
            let n = r.u32()? as usize;
            if n.saturating_mul(20) > rec.len() {
                return Err(format!(
                    "samples record claims {n} samples in {} bytes",
                    rec.len()
                ));
            }
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let id = r.u32()?;
                let t = r.u64()? as i64;
                let v = f64::from_bits(r.u64()?);
                out.push((id, Sample { t, v }));
            }
            Ok(Record::Samples(out))
        }
        HISTOGRAMS => {
            let n = r.count(8)?;
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let id = r.u32()?;
                let len = r.u32()? as usize;
                let samples = histogram::decode(r.take(len)?)
                    .map_err(|e| format!("histograms of series {id}: {e}"))?;
                out.push((id, samples));
            }
            Ok(Record::Histograms(out))
        }
        other => Err(format!("unknown record type {other}")),
    }
}

/// A label set in the current or (`v1`) the first record format.
fn read_labels(r: &mut Reader<'_>, v1: bool) -> Result<Labels, String> {
    if v1 { r.labels_v1() } else { r.labels() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_truncation_is_an_error() {
        let labels = Labels::from_pairs([("__name__", "up"), ("job", "j")]);
        let s = encode_series(7, &labels);
        assert_eq!(decode(&s).unwrap(), Record::Series { id: 7, labels });
        let stale = f64::from_bits(common::series::STALE_NAN_BITS);
        let samples = vec![(7, Sample { t: 1, v: 2.5 }), (7, Sample { t: 2, v: stale })];
        let enc = encode_samples(&samples);
        match decode(&enc).unwrap() {
            Record::Samples(got) => {
                assert_eq!(got[0], samples[0]);
                assert_eq!(got[1].1.v.to_bits(), common::series::STALE_NAN_BITS);
            }
            other => panic!("{other:?}"),
        }
        for cut in 0..enc.len() {
            assert!(decode(&enc[..cut]).is_err());
        }
        assert!(decode(&[9]).is_err());
    }

    #[test]
    fn exemplar_records_round_trip_and_truncation_is_an_error() {
        let list = vec![SeriesExemplars {
            series: Labels::from_pairs([("__name__", "up")]),
            exemplars: vec![Exemplar {
                labels: Labels::from_pairs([("trace_id", "abc")]),
                value: 1.5,
                timestamp: 42,
            }],
        }];
        let enc = encode_exemplars(&list);
        assert_eq!(decode(&enc).unwrap(), Record::Exemplars(list));
        for cut in 0..enc.len() {
            assert!(decode(&enc[..cut]).is_err());
        }
    }

    #[test]
    fn histogram_records_round_trip_and_truncation_is_an_error() {
        use common::histogram::{FloatHistogram, Span};
        use std::sync::Arc;
        let h = |t: i64, c: f64| HistogramSample {
            t,
            h: Arc::new(FloatHistogram {
                count: c,
                sum: c * 2.0,
                positive_spans: vec![Span {
                    offset: 1,
                    length: 1,
                }],
                positive_buckets: vec![c],
                ..FloatHistogram::default()
            }),
        };
        let list = vec![(3, vec![h(10, 1.0), h(20, 2.0)]), (4, vec![h(10, 5.0)])];
        let enc = encode_histograms(&list);
        assert_eq!(decode(&enc).unwrap(), Record::Histograms(list));
        for cut in 0..enc.len() {
            assert!(decode(&enc[..cut]).is_err());
        }
    }

    #[test]
    fn a_series_with_an_80_kib_label_value_round_trips() {
        let big = "v".repeat(80 * 1024);
        let labels = Labels::from_pairs([("__name__", "up"), ("big", big.as_str())]);
        assert_eq!(
            decode(&encode_series(3, &labels)).unwrap(),
            Record::Series { id: 3, labels }
        );
    }

    #[test]
    fn first_format_series_records_are_still_read() {
        // 0x01 | ref 7 | 1 label: "job" = "j", u16 lengths.
        let mut rec = vec![SERIES_V1, 7, 0, 0, 0, 1, 0, 3, 0];
        rec.extend_from_slice(b"job");
        rec.extend_from_slice(&[1, 0, b'j']);
        assert_eq!(
            decode(&rec).unwrap(),
            Record::Series {
                id: 7,
                labels: Labels::from_pairs([("job", "j")])
            }
        );
    }
}
