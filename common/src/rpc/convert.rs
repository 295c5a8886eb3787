//! Conversions between Cairn's types and the internal service's messages.
//! Decoding never trusts the peer: labels are re-sorted, an unknown discard
//! reason or a bad regular expression is an error, not a panic.

use promql_parser::parser::token::{T_EQL, T_EQL_REGEX, T_NEQ, T_NEQ_REGEX};

use super::messages as pb;
use crate::chunk::histogram::HistogramChunk;
use crate::discard::DiscardReason;
use crate::exemplar::{Exemplar, SeriesExemplars};
use crate::histogram::HistogramSample;
use crate::labels::{Label, Labels};
use crate::logs::LogEntry;
use crate::metadata::{MetricMetadata, MetricType};
use crate::series::{MatchOp, Matcher, Sample, Series};
use crate::traces::AttrScope;

/// A message that does not describe valid data.
#[derive(Debug, thiserror::Error)]
#[error("invalid message: {0}")]
pub struct InvalidMessage(pub String);

pub(crate) fn labels_to_pb(labels: &Labels) -> Vec<pb::Label> {
    labels
        .iter()
        .map(|l| pb::Label {
            name: l.name.clone(),
            value: l.value.clone(),
        })
        .collect()
}

pub(crate) fn labels_from_pb(labels: Vec<pb::Label>) -> Labels {
    Labels::new(
        labels
            .into_iter()
            .map(|l| Label::new(l.name, l.value))
            .collect(),
    )
}

pub(crate) fn matchers_to_pb(matchers: &[Matcher]) -> Vec<pb::Matcher> {
    matchers
        .iter()
        .map(|m| pb::Matcher {
            op: match m.op {
                MatchOp::Equal => 0,
                MatchOp::NotEqual => 1,
                MatchOp::Re(_) => 2,
                MatchOp::NotRe(_) => 3,
            },
            name: m.name.clone(),
            value: m.value.clone(),
        })
        .collect()
}

pub(crate) fn matchers_from_pb(matchers: Vec<pb::Matcher>) -> Result<Vec<Matcher>, InvalidMessage> {
    matchers
        .into_iter()
        .map(|m| {
            let token = match m.op {
                0 => T_EQL,
                1 => T_NEQ,
                2 => T_EQL_REGEX,
                3 => T_NEQ_REGEX,
                op => return Err(InvalidMessage(format!("matcher operator {op}"))),
            };
            Matcher::new_matcher(token, m.name, m.value).map_err(InvalidMessage)
        })
        .collect()
}

pub(crate) fn series_to_pb(
    labels: &Labels,
    samples: &[Sample],
    histograms: &[HistogramSample],
) -> pb::Series {
    pb::Series {
        labels: labels_to_pb(labels),
        timestamps: samples.iter().map(|s| s.t).collect(),
        values: samples.iter().map(|s| s.v).collect(),
        histograms: histograms_to_pb(histograms),
    }
}

fn histograms_to_pb(histograms: &[HistogramSample]) -> Vec<u8> {
    if histograms.is_empty() {
        return Vec::new();
    }
    let mut chunk = HistogramChunk::new();
    for h in histograms {
        chunk.append(h.t, &h.h);
    }
    chunk.bytes().to_vec()
}

pub(crate) fn histograms_from_pb(s: &pb::Series) -> Result<Vec<HistogramSample>, InvalidMessage> {
    if s.histograms.is_empty() {
        return Ok(Vec::new());
    }
    crate::chunk::histogram::decode(&s.histograms)
        .map_err(|e| InvalidMessage(format!("series histograms: {e}")))
}

pub(crate) fn samples_from_pb(s: &pb::Series) -> Result<Vec<Sample>, InvalidMessage> {
    if s.timestamps.len() != s.values.len() {
        return Err(InvalidMessage(format!(
            "series with {} timestamps and {} values",
            s.timestamps.len(),
            s.values.len()
        )));
    }
    Ok(s.timestamps
        .iter()
        .zip(&s.values)
        .map(|(&t, &v)| Sample { t, v })
        .collect())
}

pub(crate) fn query_series_from_pb(s: pb::Series) -> Result<Series, InvalidMessage> {
    let samples = samples_from_pb(&s)?;
    let histograms = histograms_from_pb(&s)?;
    Ok(Series {
        labels: labels_from_pb(s.labels),
        samples,
        histograms,
    })
}

pub(crate) fn entry_from_pb(e: pb::LogEntry) -> LogEntry {
    LogEntry {
        ts_ns: e.ts_ns,
        line: e.line,
        structured_metadata: labels_from_pb(e.structured_metadata),
    }
}

/// A stream and its lines as one message.
pub(crate) fn stream_to_pb(labels: &Labels, entries: Vec<LogEntry>) -> pb::Stream {
    pb::Stream {
        labels: labels_to_pb(labels),
        entries: entries
            .into_iter()
            .map(|e| pb::LogEntry {
                ts_ns: e.ts_ns,
                structured_metadata: labels_to_pb(&e.structured_metadata),
                line: e.line,
            })
            .collect(),
    }
}

pub(crate) fn reason_from_pb(id: &str) -> Result<DiscardReason, InvalidMessage> {
    DiscardReason::from_id(id).ok_or_else(|| InvalidMessage(format!("discard reason {id:?}")))
}

pub(crate) fn exemplars_to_pb(e: &SeriesExemplars) -> pb::SeriesExemplars {
    pb::SeriesExemplars {
        series: labels_to_pb(&e.series),
        exemplars: e
            .exemplars
            .iter()
            .map(|x| pb::Exemplar {
                labels: labels_to_pb(&x.labels),
                value: x.value,
                timestamp: x.timestamp,
            })
            .collect(),
    }
}

pub(crate) fn exemplars_from_pb(e: pb::SeriesExemplars) -> SeriesExemplars {
    SeriesExemplars {
        series: labels_from_pb(e.series),
        exemplars: e
            .exemplars
            .into_iter()
            .map(|x| Exemplar {
                labels: labels_from_pb(x.labels),
                value: x.value,
                timestamp: x.timestamp,
            })
            .collect(),
    }
}

pub(crate) fn metadata_to_pb(m: &MetricMetadata) -> pb::Metadata {
    pb::Metadata {
        family: m.family.clone(),
        metric_type: m.metric_type.to_remote_write(),
        help: m.help.clone(),
        unit: m.unit.clone(),
    }
}

pub(crate) fn metadata_from_pb(m: pb::Metadata) -> MetricMetadata {
    MetricMetadata {
        family: m.family,
        metric_type: MetricType::from_remote_write(m.metric_type),
        help: m.help,
        unit: m.unit,
    }
}

pub(crate) fn scope_to_pb(scope: AttrScope) -> i32 {
    match scope {
        AttrScope::Span => 1,
        AttrScope::Resource => 2,
    }
}

pub(crate) fn scope_from_pb(scope: i32) -> Result<AttrScope, InvalidMessage> {
    match scope {
        1 => Ok(AttrScope::Span),
        2 => Ok(AttrScope::Resource),
        s => Err(InvalidMessage(format!("attribute scope {s}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_round_trip_and_bad_ones_are_errors() {
        let ms = vec![
            Matcher::new(MatchOp::Equal, "job", "api"),
            Matcher::new(MatchOp::NotEqual, "env", ""),
            Matcher::new_matcher(T_EQL_REGEX, "path".into(), "/api/.+".into()).unwrap(),
            Matcher::new_matcher(T_NEQ_REGEX, "code".into(), "5..".into()).unwrap(),
        ];
        let back = matchers_from_pb(matchers_to_pb(&ms)).unwrap();
        assert_eq!(back, ms);
        let bad_op = pb::Matcher {
            op: 9,
            name: "a".into(),
            value: "b".into(),
        };
        assert!(matchers_from_pb(vec![bad_op]).is_err());
        let bad_re = pb::Matcher {
            op: 2,
            name: "a".into(),
            value: "(".into(),
        };
        assert!(matchers_from_pb(vec![bad_re]).is_err());
    }

    #[test]
    fn samples_keep_stale_markers_and_mismatched_columns_are_errors() {
        let stale = f64::from_bits(crate::series::STALE_NAN_BITS);
        let labels = Labels::from_pairs([("__name__", "up")]);
        let histogram = crate::histogram::HistogramSample {
            t: 3,
            h: std::sync::Arc::new(crate::histogram::FloatHistogram {
                count: 2.0,
                sum: stale,
                ..Default::default()
            }),
        };
        let pbs = series_to_pb(
            &labels,
            &[Sample { t: 1, v: 1.0 }, Sample { t: 2, v: stale }],
            std::slice::from_ref(&histogram),
        );
        let back = query_series_from_pb(pbs.clone()).unwrap();
        assert_eq!(back.labels, labels);
        assert!(crate::series::is_stale_nan(back.samples[1].v));
        assert!(back.histograms.len() == 1 && back.histograms[0].h.bit_eq(&histogram.h));
        let mut broken = pbs.clone();
        broken.values.pop();
        assert!(query_series_from_pb(broken).is_err());
        let mut broken = pbs;
        broken.histograms.pop();
        assert!(query_series_from_pb(broken).is_err());
    }

    #[test]
    fn every_discard_reason_survives_the_trip() {
        for r in DiscardReason::ALL {
            assert_eq!(reason_from_pb(r.id()).unwrap(), r);
        }
        assert!(reason_from_pb("no-such-reason").is_err());
    }
}
