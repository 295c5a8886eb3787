//! WAL record encoding for the metrics head.
//!
//! The WAL (`common::wal`) stores opaque records; this module gives them
//! meaning. Three kinds, little-endian, fixed width:
//!
//! - series:  `0x01 | ref u32 | labels`
//! - samples: `0x02 | n u32 | n × (ref u32, t i64, v f64 bits)`
//! - exemplars: `0x03 | n u32 | n × (series labels | m u32 | m × (labels, t i64, v f64 bits))`
//!
//! where `labels` is `n u16 | n × (len u16, name, len u16, value)`.
//! A series record always precedes the first samples record naming its ref.
//! Exemplar records name their series by labels: the exemplar store is
//! keyed by labels and outlives head cuts.

use common::exemplar::{Exemplar, SeriesExemplars};
use common::labels::{Label, Labels};
use common::series::Sample;

const SERIES: u8 = 1;
const SAMPLES: u8 = 2;
const EXEMPLARS: u8 = 3;

/// A decoded WAL record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Record {
    /// A series was created with this ref.
    Series { id: u32, labels: Labels },
    /// Samples appended to series by ref.
    Samples(Vec<(u32, Sample)>),
    /// Exemplars stored, by series.
    Exemplars(Vec<SeriesExemplars>),
}

fn labels_size(labels: &Labels) -> usize {
    2 + labels
        .iter()
        .map(|l| 4 + l.name.len() + l.value.len())
        .sum::<usize>()
}

fn put_labels(b: &mut Vec<u8>, labels: &Labels) {
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

/// Decodes one record; errors describe what is malformed.
pub(crate) fn decode(rec: &[u8]) -> Result<Record, String> {
    let mut r = Reader { buf: rec, pos: 0 };
    match r.u8()? {
        SERIES => {
            let id = r.u32()?;
            let labels = r.labels()?;
            Ok(Record::Series { id, labels })
        }
        EXEMPLARS => {
            let n = r.count(4)?;
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let series = r.labels()?;
                let m = r.count(18)?;
                let mut exemplars = Vec::with_capacity(m);
                for _ in 0..m {
                    let labels = r.labels()?;
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
        other => Err(format!("unknown record type {other}")),
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| format!("record truncated at byte {}", self.pos))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn string(&mut self) -> Result<String, String> {
        let n = self.u16()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| "label is not UTF-8".to_string())
    }
    fn labels(&mut self) -> Result<Labels, String> {
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
    fn count(&mut self, min_size: usize) -> Result<usize, String> {
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
}
