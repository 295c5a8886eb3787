//! Log queries: select streams with the leading line filters pushed down,
//! run the pipeline on each line (streams split across threads when there
//! are many lines), regroup lines by their resulting labels, and keep the
//! `limit` lines nearest the requested end.

use std::collections::HashMap;

use common::cpu_work::CancelFlag;
use common::labels::Labels;
use common::logs::{Direction, LogEntry, LogSelect, StreamEntries};

use super::ast::LogExpr;
use super::line_filter::push_down;
use super::parallel::{lines, off_runtime, split_run};
use super::pipeline::Pipeline;
use super::select::Source;
use super::{LogqlError, LogqlResult, LogqlValue, QueryParams};

/// Evaluates a log query over `[start_ns, end_ns)`.
pub(crate) async fn eval(
    src: &Source<'_>,
    log: &LogExpr,
    params: &QueryParams,
) -> Result<LogqlResult, LogqlError> {
    let pipeline = Pipeline::compile(log).map_err(LogqlError::BadQuery)?;
    let sel = LogSelect {
        matchers: log.matchers.clone(),
        start_ns: params.start_ns,
        end_ns: params.end_ns,
        line_filter: push_down(pipeline.pushed_filters()),
        // Later stages or `interval` may drop lines: then the store must not cut.
        limit: (pipeline.is_passthrough() && params.interval_ns == 0).then_some(params.limit),
        direction: params.direction,
    };
    let (streams, stats) = src.select(&sel).await?;
    let processed = off_runtime(move |cancel| run_pipeline(&pipeline, streams, cancel)).await?;
    Ok(LogqlResult {
        value: LogqlValue::Streams(limit_streams(
            processed,
            params.limit,
            params.interval_ns,
            params.direction,
        )),
        stats,
    })
}

/// Runs `pipeline` on every line and groups the survivors by label set.
fn run_pipeline(
    pipeline: &Pipeline,
    streams: Vec<StreamEntries>,
    cancel: &CancelFlag,
) -> Vec<StreamEntries> {
    if pipeline.is_passthrough() {
        return streams
            .into_iter()
            .flat_map(split_by_metadata)
            .collect::<Vec<_>>();
    }
    let groups = split_run(
        &streams,
        |part| process(pipeline, part, cancel),
        merge_groups,
    );
    groups
        .into_iter()
        .map(|(labels, mut entries)| {
            entries.sort_by_key(|e| e.ts_ns);
            StreamEntries { labels, entries }
        })
        .collect()
}

type Groups = HashMap<Labels, Vec<LogEntry>>;

fn process(pipeline: &Pipeline, streams: &[StreamEntries], cancel: &CancelFlag) -> Groups {
    let mut groups: Groups = HashMap::new();
    for (s, e) in lines(streams, cancel) {
        if let Some(line) = pipeline.process(&s.labels, e) {
            groups.entry(line.label_set()).or_default().push(LogEntry {
                ts_ns: e.ts_ns,
                line: line.line,
                structured_metadata: Labels::default(),
            });
        }
    }
    groups
}

fn merge_groups(mut a: Groups, b: Groups) -> Groups {
    for (k, v) in b {
        a.entry(k).or_default().extend(v);
    }
    a
}

/// Without pipeline stages lines keep their stream, but structured
/// metadata still becomes labels (as Loki returns it when not categorised).
fn split_by_metadata(s: StreamEntries) -> Vec<StreamEntries> {
    if s.entries.iter().all(|e| e.structured_metadata.is_empty()) {
        return vec![s];
    }
    let mut groups: Vec<StreamEntries> = Vec::new();
    for mut e in s.entries {
        let mut labels = s.labels.clone();
        for m in e.structured_metadata.iter() {
            labels.set(&m.name, &m.value);
        }
        e.structured_metadata = Labels::default();
        match groups.iter_mut().find(|g| g.labels == labels) {
            Some(g) => g.entries.push(e),
            None => groups.push(StreamEntries {
                labels,
                entries: vec![e],
            }),
        }
    }
    groups
}

/// Walks the lines of all streams in `direction` order (ties in label
/// order), as Loki's `readStreams` does: keeps at most `limit`, and with a
/// non-zero `interval_ns` only lines at least that far from the previously
/// kept one. Entries come out in that direction, streams by labels.
pub(crate) fn limit_streams(
    mut streams: Vec<StreamEntries>,
    limit: usize,
    interval_ns: i64,
    direction: Direction,
) -> Vec<StreamEntries> {
    streams.sort_by(|a, b| a.labels.cmp(&b.labels));
    let total: usize = streams.iter().map(|s| s.entries.len()).sum();
    if total > limit || interval_ns > 0 {
        let mut order: Vec<(i64, usize, usize)> = streams
            .iter()
            .enumerate()
            .flat_map(|(si, s)| {
                s.entries
                    .iter()
                    .enumerate()
                    .map(move |(ei, e)| (e.ts_ns, si, ei))
            })
            .collect();
        match direction {
            Direction::Forward => order.sort_unstable(),
            Direction::Backward => {
                order.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(b.2.cmp(&a.2)))
            }
        }
        let mut keep: Vec<Vec<bool>> = streams
            .iter()
            .map(|s| vec![false; s.entries.len()])
            .collect();
        let mut last: Option<i64> = None;
        let mut kept = 0;
        for (ts, si, ei) in order {
            if kept >= limit {
                break;
            }
            let far_enough = match (last, direction) {
                (None, _) => true,
                (Some(l), Direction::Forward) => ts >= l.saturating_add(interval_ns),
                (Some(l), Direction::Backward) => ts <= l.saturating_sub(interval_ns),
            };
            if interval_ns == 0 || far_enough {
                if let Some(k) = keep.get_mut(si).and_then(|k| k.get_mut(ei)) {
                    *k = true;
                }
                kept += 1;
                last = Some(ts);
            }
        }
        for (s, k) in streams.iter_mut().zip(keep) {
            let mut flags = k.into_iter();
            s.entries.retain(|_| flags.next().unwrap_or(false));
        }
        streams.retain(|s| !s.entries.is_empty());
    }
    if direction == Direction::Backward {
        for s in &mut streams {
            s.entries.reverse();
        }
    }
    streams
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(name: &str, ts: &[i64]) -> StreamEntries {
        StreamEntries {
            labels: Labels::from_pairs([("s", name)]),
            entries: ts
                .iter()
                .map(|&t| LogEntry {
                    ts_ns: t,
                    line: format!("{name}{t}"),
                    structured_metadata: Labels::default(),
                })
                .collect(),
        }
    }

    fn lines(streams: &[StreamEntries]) -> Vec<String> {
        streams
            .iter()
            .flat_map(|s| s.entries.iter().map(|e| e.line.clone()))
            .collect()
    }

    #[test]
    fn limit_keeps_the_lines_nearest_the_direction_end() {
        let input = vec![stream("a", &[1, 3, 5]), stream("b", &[2, 3, 4])];
        let fwd = limit_streams(input.clone(), 3, 0, Direction::Forward);
        assert_eq!(lines(&fwd), vec!["a1", "a3", "b2"]);
        let back = limit_streams(input.clone(), 2, 0, Direction::Backward);
        assert_eq!(lines(&back), vec!["a5", "b4"]);
        let all = limit_streams(input.clone(), 10, 0, Direction::Backward);
        assert_eq!(lines(&all), vec!["a5", "a3", "a1", "b4", "b3", "b2"]);
        // interval 2: 1 (a), 3 (a; b3 is too close after it), 5 (a).
        let spaced = limit_streams(input.clone(), 10, 2, Direction::Forward);
        assert_eq!(lines(&spaced), vec!["a1", "a3", "a5"]);
        let spaced = limit_streams(input, 10, 2, Direction::Backward);
        assert_eq!(lines(&spaced), vec!["a5", "a3", "a1"]);
    }
}
