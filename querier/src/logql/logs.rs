//! Log queries: select streams with the leading line filters pushed down,
//! run the pipeline on each line (streams split across threads when there
//! are many lines), regroup lines by their resulting labels, and keep the
//! `limit` lines nearest the requested end.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;

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
        // Later stages may drop lines: then the store must not cut.
        limit: pipeline.is_passthrough().then_some(params.limit),
        direction: params.direction,
    };
    let (streams, stats) = src.select(&sel).await?;
    let processed = off_runtime(move |cancel| run_pipeline(&pipeline, streams, cancel)).await?;
    Ok(LogqlResult {
        value: LogqlValue::Streams(limit_streams(processed, params.limit, params.direction)),
        stats,
    })
}

/// Runs `pipeline` on every line and groups the survivors by label set.
fn run_pipeline(
    pipeline: &Pipeline,
    streams: Vec<StreamEntries>,
    cancel: &AtomicBool,
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

fn process(pipeline: &Pipeline, streams: &[StreamEntries], cancel: &AtomicBool) -> Groups {
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

/// Keeps the `limit` lines nearest the `direction` end across streams;
/// entries ordered in that direction, streams by labels.
pub(crate) fn limit_streams(
    mut streams: Vec<StreamEntries>,
    limit: usize,
    direction: Direction,
) -> Vec<StreamEntries> {
    let total: usize = streams.iter().map(|s| s.entries.len()).sum();
    if total > limit {
        let mut ts: Vec<i64> = streams
            .iter()
            .flat_map(|s| s.entries.iter().map(|e| e.ts_ns))
            .collect();
        ts.sort_unstable();
        // Lines at the cutoff timestamp are taken in stream order until
        // the limit is reached.
        let (cutoff, mut at_cutoff) = match direction {
            Direction::Forward => {
                let c = ts[limit.saturating_sub(1).min(ts.len() - 1)];
                let before = ts.iter().filter(|&&t| t < c).count();
                (c, limit.saturating_sub(before))
            }
            Direction::Backward => {
                let c = ts[ts.len() - limit.max(1).min(ts.len())];
                let after = ts.iter().filter(|&&t| t > c).count();
                (c, limit.saturating_sub(after))
            }
        };
        if limit == 0 {
            streams.clear();
        }
        streams.sort_by(|a, b| a.labels.cmp(&b.labels));
        for s in &mut streams {
            s.entries.retain(|e| {
                let inside = match direction {
                    Direction::Forward => e.ts_ns < cutoff,
                    Direction::Backward => e.ts_ns > cutoff,
                };
                if inside {
                    return true;
                }
                if e.ts_ns == cutoff && at_cutoff > 0 {
                    at_cutoff -= 1;
                    return true;
                }
                false
            });
        }
        streams.retain(|s| !s.entries.is_empty());
    }
    streams.sort_by(|a, b| a.labels.cmp(&b.labels));
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
        let fwd = limit_streams(input.clone(), 3, Direction::Forward);
        assert_eq!(lines(&fwd), vec!["a1", "a3", "b2"]);
        let back = limit_streams(input.clone(), 2, Direction::Backward);
        assert_eq!(lines(&back), vec!["a5", "b4"]);
        let all = limit_streams(input, 10, Direction::Backward);
        assert_eq!(lines(&all), vec!["a5", "a3", "a1", "b4", "b3", "b2"]);
    }
}
