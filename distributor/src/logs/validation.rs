//! Per-stream validation of a logs push, with Loki's rules and reason
//! names: a stream with bad labels is refused whole; lines too old, too far
//! in the future or too long are refused one by one (or, with
//! `max_line_size_truncate`, cut to `max_line_size`). The valid rest goes
//! on to the ingesters.

use std::time::Duration;

use common::discard::DiscardReason;
use common::labels::{Label, Labels};
use common::limits::Limits;
use common::logs::{LogEntry, LogRejection, PushStream};
use promql_parser::label::MatchOp;
use promql_parser::parser::Expr;

use super::wire::{RawLabels, RawStream};
use crate::validation::{exceeds, is_valid_label_name, quoted};

/// A push split into what may be ingested and what was refused.
#[derive(Debug, Default)]
pub(crate) struct Validated {
    /// Valid streams with their accepted lines.
    pub(crate) streams: Vec<PushStream>,
    /// Lines in `streams`.
    pub(crate) lines: usize,
    /// Bytes of line text in `streams`.
    pub(crate) bytes: usize,
    /// What was refused and why.
    pub(crate) rejected: Vec<LogRejection>,
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Splits `raw` into valid streams and rejections under `limits`, judging
/// timestamps against `now_ns`.
pub(crate) fn validate(raw: Vec<RawStream>, limits: &Limits, now_ns: i64) -> Validated {
    let oldest = limits
        .reject_old_samples
        .then(|| now_ns.saturating_sub(nanos(limits.reject_old_samples_max_age)));
    let newest = now_ns.saturating_add(nanos(limits.creation_grace_period));
    let mut out = Validated::default();
    for s in raw {
        let labels = match stream_labels(s.labels, limits) {
            Ok(labels) => labels,
            Err((reason, labels, detail)) => {
                out.rejected.push(LogRejection {
                    reason,
                    labels,
                    lines: s.entries.len(),
                    bytes: s.entries.iter().map(|e| e.line.len()).sum(),
                    detail,
                });
                continue;
            }
        };
        let mut refused: Vec<LogRejection> = Vec::new();
        let mut entries = Vec::with_capacity(s.entries.len());
        for mut e in s.entries {
            let problem = if oldest.is_some_and(|o| e.ts_ns < o) {
                Some((
                    DiscardReason::GreaterThanMaxSampleAge,
                    format!(
                        "entry has timestamp too old: {} (limit: {:?} before now)",
                        e.ts_ns, limits.reject_old_samples_max_age
                    ),
                ))
            } else if e.ts_ns > newest {
                Some((
                    DiscardReason::LogTooFarInFuture,
                    format!(
                        "entry has timestamp too new: {} (limit: {:?} ahead of now)",
                        e.ts_ns, limits.creation_grace_period
                    ),
                ))
            } else if exceeds(e.line.len(), limits.max_line_size) {
                if limits.max_line_size_truncate {
                    truncate(&mut e, limits.max_line_size);
                    None
                } else {
                    Some((
                        DiscardReason::LineTooLong,
                        format!(
                            "max entry size '{}' bytes exceeded while adding an entry with length '{}' bytes",
                            limits.max_line_size,
                            e.line.len()
                        ),
                    ))
                }
            } else {
                None
            };
            match problem {
                None => {
                    out.lines += 1;
                    out.bytes += e.line.len();
                    entries.push(e);
                }
                Some((reason, detail)) => match refused.iter_mut().find(|r| r.reason == reason) {
                    Some(r) => {
                        r.lines += 1;
                        r.bytes += e.line.len();
                    }
                    None => refused.push(LogRejection {
                        reason,
                        labels: labels.clone(),
                        lines: 1,
                        bytes: e.line.len(),
                        detail,
                    }),
                },
            }
        }
        out.rejected.extend(refused);
        if !entries.is_empty() {
            out.streams.push(PushStream { labels, entries });
        }
    }
    out
}

/// Cuts `e`'s line to at most `max` bytes on a character boundary.
fn truncate(e: &mut LogEntry, max: usize) {
    let mut end = max.min(e.line.len());
    while !e.line.is_char_boundary(end) {
        end -= 1;
    }
    e.line.truncate(end);
}

type LabelProblem = (DiscardReason, Labels, String);

/// The stream's validated labels, or the reason it is refused (with the
/// labels as far as they could be read).
fn stream_labels(raw: RawLabels, limits: &Limits) -> Result<Labels, LabelProblem> {
    let pairs = match raw {
        RawLabels::Pairs(pairs) => pairs,
        RawLabels::Text(text) => parse_label_text(&text).map_err(|e| {
            (
                DiscardReason::InvalidLabels,
                Labels::default(),
                format!("error parsing labels '{}': {e}", quoted(&text)),
            )
        })?,
    };
    let mut sorted = pairs.clone();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let labels = Labels::new(pairs);
    let fail = |reason, detail: String| Err((reason, labels.clone(), detail));
    if labels.is_empty() {
        return fail(
            DiscardReason::MissingLabels,
            "error at least one label pair is required per stream".into(),
        );
    }
    if let Some(w) = sorted.windows(2).find(|w| w[0].name == w[1].name) {
        return fail(
            DiscardReason::StreamDuplicateLabelNames,
            format!("duplicate label name: {:?}", quoted(&w[0].name)),
        );
    }
    if exceeds(labels.len(), limits.max_label_names_per_series) {
        return fail(
            DiscardReason::StreamMaxLabelNames,
            format!(
                "entry for stream has {} label names; limit {}",
                labels.len(),
                limits.max_label_names_per_series
            ),
        );
    }
    for l in &labels {
        if !is_valid_label_name(&l.name) {
            return fail(
                DiscardReason::InvalidLabels,
                format!("invalid label name: {:?}", quoted(&l.name)),
            );
        }
        if exceeds(l.name.len(), limits.max_label_name_length) {
            return fail(
                DiscardReason::StreamLabelNameTooLong,
                format!(
                    "label name too long: {:?} (limit: {})",
                    quoted(&l.name),
                    limits.max_label_name_length
                ),
            );
        }
        if exceeds(l.value.len(), limits.max_label_value_length) {
            return fail(
                DiscardReason::StreamLabelValueTooLong,
                format!(
                    "label value too long: {:?} (actual: {}, limit: {})",
                    quoted(&l.value),
                    l.value.len(),
                    limits.max_label_value_length
                ),
            );
        }
    }
    Ok(labels)
}

/// Parses Prometheus label text (`{a="b", c="d"}`) with the PromQL
/// selector grammar, which Loki's stream labels share; only `=` pairs are
/// labels.
fn parse_label_text(text: &str) -> Result<Vec<Label>, String> {
    if text.trim() == "{}" {
        return Ok(Vec::new());
    }
    braces_only(text)?;
    let Expr::VectorSelector(vs) = promql_parser::parser::parse(text)? else {
        return Err("not a label set".into());
    };
    if vs.name.is_some() || !vs.matchers.or_matchers.is_empty() {
        return Err("not a label set".into());
    }
    vs.matchers
        .matchers
        .into_iter()
        .map(|m| match m.op {
            MatchOp::Equal => Ok(Label::new(m.name, m.value)),
            _ => Err(format!("{m} is a matcher, not a label")),
        })
        .collect()
}

/// Refuses text that is more than one `{…}` matcher list before the PromQL
/// parser sees it: the parser would take anything around the braces for an
/// expression, whose cost (CPU and stack) grows with its nesting, while a
/// matcher list is flat.
fn braces_only(text: &str) -> Result<(), String> {
    let text = text.trim();
    if !text.starts_with('{') {
        return Err("labels must be written {name=\"value\", …}".into());
    }
    let mut quote = None;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(q) if c == '\\' && q != '`' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if matches!(c, '"' | '\'' | '`') => quote = Some(c),
            None if c == '}' && i + 1 == text.len() => return Ok(()),
            None if c == '}' => return Err("unexpected text after the closing }".into()),
            None => {}
        }
    }
    Err("no closing }".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_text_is_one_brace_list_however_deep_the_rest_nests() {
        let deep = format!("{}{{a=\"b\"}}{}", "(".repeat(100_000), ")".repeat(100_000));
        let after = format!(
            "{{a=\"b\"}} + {}1{}",
            "(".repeat(100_000),
            ")".repeat(100_000)
        );
        for text in [deep.as_str(), after.as_str(), "{a=\"b\"", "a=\"b\""] {
            assert!(parse_label_text(text).is_err(), "{:.40}", text);
        }
        let labels = parse_label_text(" {a=\"}\\\"\", b='x}', c=`}`} ").unwrap();
        let values: Vec<&str> = labels.iter().map(|l| l.value.as_str()).collect();
        assert_eq!(values, ["}\"", "x}", "}"]);
    }

    const NOW: i64 = 1_700_000_000_000_000_000;

    fn raw(labels: &str, entries: &[(i64, &str)]) -> RawStream {
        RawStream {
            labels: RawLabels::Text(labels.into()),
            entries: entries
                .iter()
                .map(|(t, l)| LogEntry {
                    ts_ns: *t,
                    line: (*l).into(),
                    structured_metadata: Labels::default(),
                })
                .collect(),
        }
    }

    fn reasons(v: &Validated) -> Vec<(DiscardReason, usize)> {
        v.rejected.iter().map(|r| (r.reason, r.lines)).collect()
    }

    #[test]
    fn label_problems_refuse_the_stream() {
        use DiscardReason::*;
        let limits = Limits {
            max_label_names_per_series: 2,
            ..Limits::default()
        };
        for (labels, want) in [
            ("{a=", InvalidLabels),
            (r#"{a=~"b"}"#, InvalidLabels),
            ("{}", MissingLabels),
            (r#"{a="1", b="2", c="3"}"#, StreamMaxLabelNames),
            (r#"{a="1", a="2"}"#, StreamDuplicateLabelNames),
        ] {
            let v = validate(vec![raw(labels, &[(NOW, "x")])], &limits, NOW);
            assert_eq!(reasons(&v), vec![(want, 1)], "{labels}");
            assert!(v.streams.is_empty());
        }
        let v = validate(
            vec![RawStream {
                labels: RawLabels::Pairs(vec![Label::new("a.b", "x")]),
                entries: raw("{}", &[(NOW, "x")]).entries,
            }],
            &limits,
            NOW,
        );
        assert_eq!(reasons(&v), vec![(InvalidLabels, 1)]);
    }

    #[test]
    fn bad_lines_are_refused_one_by_one_and_the_rest_kept() {
        let limits = Limits {
            max_line_size: 5,
            ..Limits::default()
        };
        let week = 7 * 24 * 3600 * 1_000_000_000i64;
        let v = validate(
            vec![raw(
                r#"{app="a"}"#,
                &[
                    (NOW, "ok"),
                    (NOW, "too long"),
                    (NOW - week - 1, "old"),
                    (NOW + 3600 * 1_000_000_000, "future"),
                ],
            )],
            &limits,
            NOW,
        );
        assert_eq!((v.lines, v.bytes), (1, 2));
        assert_eq!(
            reasons(&v),
            vec![
                (DiscardReason::LineTooLong, 1),
                (DiscardReason::GreaterThanMaxSampleAge, 1),
                (DiscardReason::LogTooFarInFuture, 1)
            ]
        );
        assert_eq!(v.streams[0].labels, Labels::from_pairs([("app", "a")]));
    }

    #[test]
    fn long_lines_are_truncated_when_asked() {
        let limits = Limits {
            max_line_size: 3,
            max_line_size_truncate: true,
            ..Limits::default()
        };
        let v = validate(vec![raw(r#"{app="a"}"#, &[(NOW, "héllo")])], &limits, NOW);
        assert!(v.rejected.is_empty());
        assert_eq!(v.streams[0].entries[0].line, "hé");
    }
}
