//! Per-series validation of a remote-write request, with Mimir's semantics.
//!
//! Each series is checked on its own: an invalid one is dropped with a
//! catalogued [`DiscardReason`] and a message naming it, while the valid rest
//! of the request goes on to the ingesters. Samples outside the accepted time
//! window are dropped individually; the in-window samples of the same series
//! are kept. Values, NaN and the stale marker included, are copied bit-exact.
//!
//! Exemplars and metric metadata are checked here too; an invalid one is
//! dropped and counted, never failing its series or the request (Mimir does
//! the same, since Prometheus does not retry 4xx answers).

use std::cmp::Ordering;
use std::time::Duration;

use common::discard::DiscardReason;
use common::exemplar::{self, Exemplar, SeriesExemplars};
use common::labels::{Label, Labels, METRIC_NAME};
use common::limits::{Limits, NameValidationScheme};
use common::metadata::{MetricMetadata, MetricType};
use common::push::{PushSeries, Rejection};
use common::series::Sample;

use crate::remote_write::{self, TimeSeries, WriteRequest};

/// Discard-counter `reason`s for exemplars and metadata (Mimir's IDs).
pub(crate) mod reason {
    /// An exemplar whose labels exceed 128 runes.
    pub(crate) const EXEMPLAR_LABELS_TOO_LONG: &str = "exemplar-labels-too-long";
    /// An exemplar label name that is not `[a-zA-Z_][a-zA-Z0-9_]*`.
    pub(crate) const EXEMPLAR_LABEL_INVALID: &str = "exemplar-label-invalid";
    /// An exemplar with timestamp 0 (unset).
    pub(crate) const EXEMPLAR_TIMESTAMP_INVALID: &str = "exemplar-timestamp-invalid";
    /// An exemplar not newer than its series' newest (refused by the ingester).
    pub(crate) const EXEMPLAR_OUT_OF_ORDER: &str = "exemplar-out-of-order";
    /// Exemplars or metadata the ingesters could not take.
    pub(crate) const INGESTER_FAILED: &str = "ingester-failed";
    /// Metadata without a metric family name.
    pub(crate) const METADATA_MISSING_METRIC_NAME: &str = "metadata-missing-metric-name";
    /// Metadata whose family name, help or unit is longer than
    /// [`MAX_METADATA_LENGTH`](super::MAX_METADATA_LENGTH).
    pub(crate) const METADATA_TOO_LONG: &str = "metadata-too-long";
}

/// Longest metadata family name, help or unit in bytes (Mimir's default
/// `max_metadata_length`).
pub(crate) const MAX_METADATA_LENGTH: usize = 1024;

/// Longest label name, value or series text quoted in a message, in characters.
const MAX_QUOTED_CHARS: usize = 200;

/// A request split into what may be ingested and what was refused.
#[derive(Debug, Default)]
pub(crate) struct Validated {
    /// Valid series with their in-window samples, sorted by timestamp.
    pub(crate) series: Vec<PushSeries>,
    /// Number of float samples in `series`.
    pub(crate) samples: usize,
    /// Number of histogram samples in `series`.
    pub(crate) histograms: usize,
    /// What was refused and why.
    pub(crate) rejected: Vec<Rejection>,
    /// Valid exemplars of valid series, sorted by timestamp per series.
    pub(crate) exemplars: Vec<SeriesExemplars>,
    /// Valid metric metadata.
    pub(crate) metadata: Vec<MetricMetadata>,
    /// Exemplars dropped, by [`reason`] (counter label).
    pub(crate) dropped_exemplars: Vec<(&'static str, usize)>,
    /// Metadata entries dropped, by [`reason`].
    pub(crate) dropped_metadata: Vec<(&'static str, usize)>,
}

/// Adds `n` to the tally of `reason`.
fn tally(counts: &mut Vec<(&'static str, usize)>, reason: &'static str, n: usize) {
    match counts.iter_mut().find(|(r, _)| *r == reason) {
        Some((_, c)) => *c += n,
        None => counts.push((reason, n)),
    }
}

/// Splits `req` into valid series and rejections under `limits`, judging
/// timestamps against `now_ms` (milliseconds since the Unix epoch).
pub(crate) fn validate(req: WriteRequest, limits: &Limits, now_ms: i64) -> Validated {
    let window = TimeWindow::new(limits, now_ms);
    let mut out = Validated::default();
    for ts in req.timeseries {
        validate_series(ts, limits, &window, &mut out);
    }
    for m in req.metadata {
        match check_metadata(m) {
            Ok(m) => out.metadata.push(m),
            Err(reason) => tally(&mut out.dropped_metadata, reason, 1),
        }
    }
    out
}

/// One metadata entry, or the [`reason`] it is dropped.
fn check_metadata(m: remote_write::MetricMetadata) -> Result<MetricMetadata, &'static str> {
    if m.metric_family_name.is_empty() {
        return Err(reason::METADATA_MISSING_METRIC_NAME);
    }
    if [&m.metric_family_name, &m.help, &m.unit]
        .iter()
        .any(|s| s.len() > MAX_METADATA_LENGTH)
    {
        return Err(reason::METADATA_TOO_LONG);
    }
    Ok(MetricMetadata {
        family: m.metric_family_name,
        metric_type: MetricType::from_remote_write(m.r#type),
        help: m.help,
        unit: m.unit,
    })
}

/// The valid exemplars of a valid series, sorted by timestamp; the dropped
/// ones are tallied in `out`.
fn validate_exemplars(
    series: &Labels,
    raw: Vec<remote_write::Exemplar>,
    scheme: NameValidationScheme,
    out: &mut Validated,
) {
    let mut exemplars = Vec::with_capacity(raw.len());
    for e in raw {
        let labels = Labels::new(
            e.labels
                .into_iter()
                .map(|l| Label {
                    name: l.name,
                    value: l.value,
                })
                .collect(),
        );
        let problem = if exemplar::check_labels(&labels).is_err() {
            Some(reason::EXEMPLAR_LABELS_TOO_LONG)
        } else if labels.iter().any(|l| !label_name_ok(&l.name, scheme)) {
            Some(reason::EXEMPLAR_LABEL_INVALID)
        } else if e.timestamp == 0 {
            Some(reason::EXEMPLAR_TIMESTAMP_INVALID)
        } else {
            None
        };
        match problem {
            Some(reason) => tally(&mut out.dropped_exemplars, reason, 1),
            None => exemplars.push(Exemplar {
                labels,
                value: e.value,
                timestamp: e.timestamp,
            }),
        }
    }
    if exemplars.is_empty() {
        return;
    }
    exemplars.sort_by_key(|e| e.timestamp);
    out.exemplars.push(SeriesExemplars {
        series: series.clone(),
        exemplars,
    });
}

fn validate_series(ts: TimeSeries, limits: &Limits, window: &TimeWindow, out: &mut Validated) {
    // An empty value means "no such label" in Prometheus.
    let labels: Vec<Label> = ts
        .labels
        .into_iter()
        .filter(|l| !l.value.is_empty())
        .map(|l| Label {
            name: l.name,
            value: l.value,
        })
        .collect();
    if let Err((reason, detail)) = check_labels(&labels, limits) {
        out.rejected.push(Rejection {
            reason,
            labels: Labels::new(labels),
            samples: ts.samples.len() + ts.histograms.len(),
            detail,
        });
        return;
    }
    let labels = Labels::from_sorted(labels);
    validate_exemplars(&labels, ts.exemplars, limits.name_validation_scheme, out);

    let mut too_old = OutOfWindow::default();
    let mut too_new = OutOfWindow::default();
    let mut in_window = |t: i64| {
        if t > window.newest {
            too_new.add(t);
            false
        } else if window.oldest.is_some_and(|oldest| t < oldest) {
            too_old.add(t);
            false
        } else {
            true
        }
    };
    let mut samples = Vec::with_capacity(ts.samples.len());
    for s in ts.samples {
        if in_window(s.timestamp) {
            samples.push(Sample {
                t: s.timestamp,
                v: s.value,
            });
        }
    }
    let mut histograms = Vec::with_capacity(ts.histograms.len());
    let mut invalid: Option<(usize, String)> = None;
    for h in &ts.histograms {
        match crate::histogram::to_sample(h) {
            Ok(sample) if in_window(sample.t) => histograms.push(sample),
            Ok(_) => {}
            Err(e) => {
                let (n, _) =
                    invalid.get_or_insert_with(|| (0, format!("timestamp {}: {e}", h.timestamp)));
                *n += 1;
            }
        }
    }
    if let Some((n, first)) = invalid {
        out.rejected.push(Rejection {
            reason: DiscardReason::InvalidNativeHistogram,
            labels: labels.clone(),
            samples: n,
            detail: format!(
                "received {n} invalid native histogram sample(s), the first at {first}"
            ),
        });
    }
    let out_of_window = [
        (
            too_old,
            DiscardReason::SampleTooOld,
            "older than the past grace period",
            limits.past_grace_period,
            "before",
        ),
        (
            too_new,
            DiscardReason::SampleTooFarInFuture,
            "too far in the future",
            limits.creation_grace_period,
            "ahead of",
        ),
    ];
    for (tally, reason, what, period, side) in out_of_window {
        if tally.count > 0 {
            out.rejected.push(Rejection {
                reason,
                labels: labels.clone(),
                samples: tally.count,
                detail: format!(
                    "received {} sample(s) {what} (limit: {period:?} {side} now) first timestamp: {}",
                    tally.count, tally.first
                ),
            });
        }
    }
    if samples.is_empty() && histograms.is_empty() {
        return;
    }
    if !samples.is_sorted_by_key(|s| s.t) {
        samples.sort_by_key(|s| s.t);
    }
    if !histograms.is_sorted_by_key(|s| s.t) {
        histograms.sort_by_key(|s| s.t);
    }
    out.samples += samples.len();
    out.histograms += histograms.len();
    out.series.push(PushSeries {
        labels,
        samples,
        histograms,
    });
}

/// Checks a series' labels in Mimir's order; on failure returns the reason
/// and a message detail quoting the offending label.
fn check_labels(labels: &[Label], limits: &Limits) -> Result<(), (DiscardReason, String)> {
    let Some(name) = labels.iter().find(|l| l.name == METRIC_NAME) else {
        return Err((
            DiscardReason::MissingMetricName,
            "received a series without a metric name".into(),
        ));
    };
    if !metric_name_ok(&name.value, limits.name_validation_scheme) {
        return Err((
            DiscardReason::InvalidMetricName,
            format!(
                "received a series with an invalid metric name: {:?}",
                quoted(&name.value)
            ),
        ));
    }
    if exceeds(labels.len(), limits.max_label_names_per_series) {
        return Err((
            DiscardReason::MaxLabelNamesPerSeries,
            format!(
                "received a series whose number of labels exceeds the limit (actual: {}, limit: {})",
                labels.len(),
                limits.max_label_names_per_series
            ),
        ));
    }
    let mut previous: Option<&str> = None;
    for l in labels {
        if !label_name_ok(&l.name, limits.name_validation_scheme) {
            return Err((
                DiscardReason::InvalidLabel,
                format!(
                    "received a series with an invalid label name: {:?}",
                    quoted(&l.name)
                ),
            ));
        }
        if exceeds(l.name.len(), limits.max_label_name_length) {
            return Err((
                DiscardReason::LabelNameTooLong,
                format!(
                    "received a series whose label name length exceeds the limit (limit: {}) label: {:?}",
                    limits.max_label_name_length,
                    quoted(&l.name)
                ),
            ));
        }
        if exceeds(l.value.len(), limits.max_label_value_length) {
            return Err((
                DiscardReason::LabelValueTooLong,
                format!(
                    "received a series whose label value length exceeds the limit (actual: {}, limit: {}) \
                     label: {:?} value: {:?}",
                    l.value.len(),
                    limits.max_label_value_length,
                    quoted(&l.name),
                    quoted(&l.value)
                ),
            ));
        }
        match previous.map(|p| (p, p.cmp(&l.name))) {
            Some((_, Ordering::Equal)) => {
                return Err((
                    DiscardReason::DuplicateLabelNames,
                    format!(
                        "received a series with duplicate label name: {:?}",
                        quoted(&l.name)
                    ),
                ));
            }
            Some((p, Ordering::Greater)) => {
                return Err((
                    DiscardReason::LabelsNotSorted,
                    format!(
                        "received a series where the label names are not sorted: {:?} comes before {:?}",
                        quoted(p),
                        quoted(&l.name)
                    ),
                ));
            }
            _ => previous = Some(&l.name),
        }
    }
    Ok(())
}

/// True when a count or length limit is set (non-zero) and `actual` is over it.
pub(crate) fn exceeds(actual: usize, limit: usize) -> bool {
    limit != 0 && actual > limit
}

/// Whether `name` may name a metric under `scheme` (names are UTF-8
/// already: protobuf strings are checked on decode).
fn metric_name_ok(name: &str, scheme: NameValidationScheme) -> bool {
    match scheme {
        NameValidationScheme::Utf8 => !name.is_empty(),
        NameValidationScheme::Legacy => is_valid_metric_name(name),
    }
}

/// Whether `name` may name a label under `scheme`.
fn label_name_ok(name: &str, scheme: NameValidationScheme) -> bool {
    match scheme {
        NameValidationScheme::Utf8 => !name.is_empty(),
        NameValidationScheme::Legacy => is_valid_label_name(name),
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
fn is_valid_metric_name(name: &str) -> bool {
    is_identifier(name, |c| c == b':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`
pub(crate) fn is_valid_label_name(name: &str) -> bool {
    is_identifier(name, |_| false)
}

fn is_identifier(s: &str, extra: impl Fn(u8) -> bool) -> bool {
    let mut bytes = s.bytes();
    bytes
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_' || extra(c))
        && bytes.all(|c| c.is_ascii_alphanumeric() || c == b'_' || extra(c))
}

/// `s` cut to at most [`MAX_QUOTED_CHARS`] characters, for messages.
pub(crate) fn quoted(s: &str) -> &str {
    s.char_indices()
        .nth(MAX_QUOTED_CHARS)
        .map_or(s, |(end, _)| &s[..end])
}

/// `d` in whole milliseconds, saturating at `i64::MAX`.
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The accepted timestamp range, inclusive, in milliseconds.
struct TimeWindow {
    /// Oldest accepted timestamp; `None` when `past_grace_period` is zero.
    oldest: Option<i64>,
    /// Newest accepted timestamp.
    newest: i64,
}

impl TimeWindow {
    fn new(limits: &Limits, now_ms: i64) -> Self {
        Self {
            oldest: (!limits.past_grace_period.is_zero())
                .then(|| now_ms.saturating_sub(millis(limits.past_grace_period))),
            newest: now_ms.saturating_add(millis(limits.creation_grace_period)),
        }
    }
}

/// Tally of one series' samples on one side of the window.
#[derive(Default)]
struct OutOfWindow {
    count: usize,
    first: i64,
}

impl OutOfWindow {
    fn add(&mut self, t: i64) {
        if self.count == 0 {
            self.first = t;
        }
        self.count += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote_write::{self as rw, Histogram};
    use common::series::STALE_NAN_BITS;

    const NOW: i64 = 1_700_000_000_000;

    fn series(labels: &[(&str, &str)], timestamps: &[i64]) -> TimeSeries {
        TimeSeries {
            labels: labels.iter().map(|(n, v)| rw::Label::new(*n, *v)).collect(),
            samples: timestamps
                .iter()
                .map(|&t| rw::Sample {
                    value: 1.0,
                    timestamp: t,
                })
                .collect(),
            ..Default::default()
        }
    }

    fn run(series: Vec<TimeSeries>, limits: &Limits) -> Validated {
        validate(
            WriteRequest {
                timeseries: series,
                ..Default::default()
            },
            limits,
            NOW,
        )
    }

    fn only_reason(labels: &[(&str, &str)], limits: &Limits) -> (DiscardReason, String) {
        let v = run(vec![series(labels, &[NOW])], limits);
        assert!(v.series.is_empty(), "{labels:?} accepted");
        assert_eq!(v.rejected.len(), 1);
        (v.rejected[0].reason, v.rejected[0].detail.clone())
    }

    #[test]
    fn valid_series_passes_untouched() {
        let v = run(
            vec![series(&[("__name__", "up"), ("job", "x")], &[NOW - 1, NOW])],
            &Limits::default(),
        );
        assert!(v.rejected.is_empty());
        assert_eq!(v.samples, 2);
        assert_eq!(
            v.series[0].labels,
            Labels::from_pairs([("__name__", "up"), ("job", "x")])
        );
    }

    #[test]
    fn each_label_problem_has_its_reason() {
        use DiscardReason::*;
        let tight = Limits {
            max_label_names_per_series: 3,
            max_label_name_length: 8,
            max_label_value_length: 5,
            name_validation_scheme: NameValidationScheme::Legacy,
            ..Limits::default()
        };
        let cases: &[(&[(&str, &str)], DiscardReason)] = &[
            (&[("job", "x")], MissingMetricName),
            (&[("__name__", "1up")], InvalidMetricName),
            (&[("__name__", "up"), ("b-c", "x")], InvalidLabel),
            (
                &[("__name__", "up"), ("job", "x"), ("job", "y")],
                DuplicateLabelNames,
            ),
            (
                &[("__name__", "up"), ("z", "x"), ("a", "y")],
                LabelsNotSorted,
            ),
            (
                &[("__name__", "up"), ("a", "1"), ("b", "2"), ("c", "3")],
                MaxLabelNamesPerSeries,
            ),
            (&[("__name__", "up"), ("long_name", "1")], LabelNameTooLong),
            (&[("__name__", "up"), ("a", "longvalue")], LabelValueTooLong),
        ];
        for (labels, want) in cases {
            assert_eq!(only_reason(labels, &tight).0, *want, "{labels:?}");
        }
        // Under the default UTF-8 scheme only an empty name is invalid.
        let utf8 = Limits {
            name_validation_scheme: NameValidationScheme::Utf8,
            ..tight
        };
        let v = run(
            vec![series(&[("__name__", "1up"), ("b-c", "x")], &[NOW])],
            &utf8,
        );
        assert!(v.rejected.is_empty());
    }

    #[test]
    fn messages_quote_the_offending_label_and_the_limit() {
        let limits = Limits {
            max_label_name_length: 8,
            ..Limits::default()
        };
        let (_, detail) = only_reason(&[("__name__", "up"), ("long_name", "1")], &limits);
        assert_eq!(
            detail,
            r#"received a series whose label name length exceeds the limit (limit: 8) label: "long_name""#
        );
    }

    #[test]
    fn colons_are_valid_in_metric_names_only() {
        assert!(is_valid_metric_name("job:up:sum"));
        assert!(!is_valid_label_name("a:b"));
        assert!(!is_valid_metric_name(""));
        assert!(is_valid_label_name("_a1"));
    }

    #[test]
    fn utf8_names_need_only_be_non_empty_and_legacy_names_are_prometheus_2s() {
        use NameValidationScheme::{Legacy, Utf8};
        for name in ["http.server.duration", "a b", "🌍", "job:up"] {
            assert!(
                metric_name_ok(name, Utf8) && label_name_ok(name, Utf8),
                "{name}"
            );
        }
        assert!(!metric_name_ok("", Utf8) && !label_name_ok("", Utf8));
        assert!(!metric_name_ok("http.server.duration", Legacy));
        assert!(!label_name_ok("k8s.pod", Legacy));
        assert!(metric_name_ok("job:up", Legacy) && !label_name_ok("job:up", Legacy));
    }

    #[test]
    fn zero_label_limits_mean_unlimited() {
        let limits = Limits {
            max_label_names_per_series: 0,
            max_label_name_length: 0,
            max_label_value_length: 0,
            ..Limits::default()
        };
        let long = "v".repeat(10_000);
        let v = run(
            vec![series(&[("__name__", "up"), ("a", &long)], &[NOW])],
            &limits,
        );
        assert!(v.rejected.is_empty());
    }

    #[test]
    fn empty_valued_labels_are_dropped_before_checks() {
        // "" would be an invalid, unsorted label name if it were kept.
        let v = run(
            vec![series(
                &[("__name__", "up"), ("z", ""), ("job", "x")],
                &[NOW],
            )],
            &Limits::default(),
        );
        assert!(v.rejected.is_empty(), "{:?}", v.rejected);
        assert_eq!(
            v.series[0].labels,
            Labels::from_pairs([("__name__", "up"), ("job", "x")])
        );
    }

    #[test]
    fn invalid_series_is_dropped_and_the_valid_rest_kept() {
        let v = run(
            vec![
                series(&[("job", "x")], &[NOW, NOW]),
                series(&[("__name__", "up")], &[NOW]),
            ],
            &Limits::default(),
        );
        assert_eq!(v.series.len(), 1);
        assert_eq!(v.samples, 1);
        assert_eq!(v.rejected[0].samples, 2);
    }

    #[test]
    fn samples_outside_the_window_are_dropped_one_by_one() {
        let limits = Limits {
            past_grace_period: Duration::from_secs(3600),
            creation_grace_period: Duration::from_secs(600),
            ..Limits::default()
        };
        let too_old = NOW - 3_600_001;
        let too_new = NOW + 600_001;
        let v = run(
            vec![series(
                &[("__name__", "up")],
                &[too_old, NOW - 3_600_000, NOW + 600_000, too_new],
            )],
            &limits,
        );
        assert_eq!(v.samples, 2);
        let reasons: Vec<_> = v.rejected.iter().map(|r| (r.reason, r.samples)).collect();
        assert_eq!(
            reasons,
            [
                (DiscardReason::SampleTooOld, 1),
                (DiscardReason::SampleTooFarInFuture, 1)
            ]
        );
        assert!(v.rejected[0].detail.contains(&too_old.to_string()));
    }

    #[test]
    fn zero_past_grace_period_accepts_any_age() {
        let limits = Limits {
            past_grace_period: Duration::ZERO,
            ..Limits::default()
        };
        let v = run(vec![series(&[("__name__", "up")], &[0])], &limits);
        assert_eq!(v.samples, 1);
    }

    #[test]
    fn by_default_samples_at_1970_and_before_are_too_old() {
        let v = run(
            vec![series(&[("__name__", "up")], &[i64::MIN, -1, 0, 1])],
            &Limits::default(),
        );
        assert_eq!(v.samples, 0);
        assert_eq!(v.rejected[0].reason, DiscardReason::SampleTooOld);
        assert_eq!(v.rejected[0].samples, 4);
    }

    #[test]
    fn nan_and_stale_markers_are_kept_bit_exact_and_samples_sorted() {
        let stale = f64::from_bits(STALE_NAN_BITS);
        let odd_nan = f64::from_bits(0x7ff8_0000_0000_0abc);
        let mut ts = series(&[("__name__", "up")], &[]);
        ts.samples = vec![
            rw::Sample {
                value: stale,
                timestamp: NOW,
            },
            rw::Sample {
                value: odd_nan,
                timestamp: NOW - 1,
            },
        ];
        let v = run(vec![ts], &Limits::default());
        let bits: Vec<_> = v.series[0]
            .samples
            .iter()
            .map(|s| (s.t, s.v.to_bits()))
            .collect();
        assert_eq!(bits, [(NOW - 1, odd_nan.to_bits()), (NOW, STALE_NAN_BITS)]);
    }

    #[test]
    fn valid_histograms_are_kept_beside_floats_and_invalid_ones_named() {
        use crate::remote_write::histogram::Count;
        let good = |t| Histogram {
            count: Some(Count::CountInt(1)),
            positive_spans: vec![rw::BucketSpan {
                offset: 0,
                length: 1,
            }],
            positive_deltas: vec![1],
            timestamp: t,
            ..Default::default()
        };
        let mut ts = series(&[("__name__", "h")], &[NOW]);
        let mut bad = good(NOW - 2);
        bad.positive_deltas = vec![-1];
        ts.histograms = vec![good(NOW - 1), bad, good(NOW - 3), good(NOW + 3_600_000)];
        let v = run(vec![ts], &Limits::default());
        assert_eq!((v.samples, v.histograms), (1, 2));
        let kept: Vec<i64> = v.series[0].histograms.iter().map(|h| h.t).collect();
        assert_eq!(kept, [NOW - 3, NOW - 1], "sorted by time");
        let reasons: Vec<(DiscardReason, usize)> =
            v.rejected.iter().map(|r| (r.reason, r.samples)).collect();
        assert_eq!(
            reasons,
            [
                (DiscardReason::InvalidNativeHistogram, 1),
                (DiscardReason::SampleTooFarInFuture, 1)
            ]
        );
        assert!(
            v.rejected[0]
                .detail
                .contains("a positive bucket count is negative")
        );
    }

    #[test]
    fn quoting_cuts_long_text_on_a_char_boundary() {
        let s = "é".repeat(300);
        assert_eq!(quoted(&s).chars().count(), MAX_QUOTED_CHARS);
        assert_eq!(quoted("short"), "short");
    }
}
