//! Loki's log volumes (`/index/volume`, `/index/volume_range`): bytes of
//! log lines per stream group (the lines as pushed: structured metadata,
//! such as the `detected_level` Cairn adds, is not counted), the top `limit` groups first. Logs Drilldown's service
//! list is one `index/volume` call grouped by `service_name`.
//!
//! Cost: one [`LogStore::select_logs`] over `[start, end]`, so reading is
//! linear in the lines in range, which `max_query_length` and the query
//! timeout bound; memory beyond that is one counter per group (refused past
//! `max_query_series` groups) times the steps of a range request (at most
//! [`MAX_POINTS`](super::params::MAX_POINTS)).
//!
//! [`LogStore::select_logs`]: common::logs::LogStore::select_logs

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use common::labels::{Label, Labels};
use common::logs::{Direction, LogEntry, LogSelect, StreamEntries};
use common::series::{Matcher, Sample, Series};

use super::LokiState;
use super::error::LokiError;
use super::limits::{check_range, limit_error, strictest};
use super::params::{self, DEFAULT_SINCE_NS};
use crate::api::handlers::{decode, ok_json};
use crate::api::json::query_result;
use crate::api::params::Params;
use crate::logql::{self, LogqlError};
use crate::promql::{Annotations, QueryResult, QueryValue, VectorSample};

/// How volumes are grouped (`aggregateBy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AggregateBy {
    /// One group per distinct set of target label values (default).
    Series,
    /// One group per label name, all its values together.
    Labels,
}

/// A volume request's parameters.
#[derive(Debug)]
struct VolumeQuery {
    matchers: Vec<Matcher>,
    /// Inclusive start, nanoseconds.
    start: i64,
    /// Inclusive end, nanoseconds.
    end: i64,
    /// Step of a range request, nanoseconds (`None`: instant).
    step: Option<i64>,
    limit: usize,
    /// The labels groups are keyed by: `targetLabels`, else the
    /// selector's label names (series) or every label (labels).
    target: Option<BTreeSet<String>>,
    aggregate_by: AggregateBy,
}

impl VolumeQuery {
    fn parse(p: &Params, range: bool) -> Result<Self, LokiError> {
        let matchers = logql::parse_selector(p.require("query")?).map_err(LogqlError::from)?;
        let (start, end) = params::range(p, DEFAULT_SINCE_NS)?;
        let step = if range {
            Some(params::bounded_step(p, start, end)?)
        } else {
            None
        };
        let aggregate_by = match p.get("aggregateBy") {
            None | Some("series") => AggregateBy::Series,
            Some("labels") => AggregateBy::Labels,
            Some(other) => {
                return Err(LokiError::BadRequest(format!(
                    "err-cairn-volume-aggregate-by: invalid aggregateBy {other:?}; use aggregateBy=series or aggregateBy=labels"
                )));
            }
        };
        let named: BTreeSet<String> = p
            .get("targetLabels")
            .into_iter()
            .flat_map(|s| s.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let target = match aggregate_by {
            _ if !named.is_empty() => Some(named),
            AggregateBy::Series => Some(matchers.iter().map(|m| m.name.clone()).collect()),
            AggregateBy::Labels => None,
        };
        Ok(Self {
            matchers,
            start,
            end,
            step,
            limit: params::limit(p)?,
            target,
            aggregate_by,
        })
    }

    fn targets(&self, name: &str) -> bool {
        self.target.as_ref().is_none_or(|t| t.contains(name))
    }

    /// The groups a stream's bytes count towards.
    fn groups(&self, labels: &Labels) -> Vec<Labels> {
        let kept = labels.iter().filter(|l| self.targets(&l.name));
        match self.aggregate_by {
            AggregateBy::Series => vec![Labels::from_sorted(kept.cloned().collect())],
            AggregateBy::Labels => kept
                .map(|l| Labels::from_sorted(vec![Label::new(l.name.clone(), "")]))
                .collect(),
        }
    }

    /// The index of the step an entry at `ts` counts in: the point at
    /// `start + k·step` covers `(start + (k-1)·step, start + k·step]`.
    fn bucket(&self, ts: i64) -> usize {
        match self.step {
            None => 0,
            Some(step) => {
                usize::try_from(ts.saturating_sub(self.start).saturating_add(step - 1) / step)
                    .unwrap_or(0)
            }
        }
    }

    fn points(&self) -> usize {
        match self.step {
            None => 1,
            Some(_) => self.bucket(self.end) + 1,
        }
    }
}

/// Bytes a line counts for in a volume: its text.
fn entry_bytes(e: &LogEntry) -> u64 {
    e.line.len() as u64
}

/// Sums `streams` into per-group, per-step volumes; refuses more than
/// `max_groups` groups (zero: no limit).
fn aggregate(
    q: &VolumeQuery,
    streams: &[StreamEntries],
    max_groups: u64,
) -> Result<HashMap<Labels, Vec<u64>>, LokiError> {
    let points = q.points();
    let mut volumes: HashMap<Labels, Vec<u64>> = HashMap::new();
    for s in streams {
        let mut per_step = vec![0u64; points];
        for e in &s.entries {
            if let Some(v) = per_step.get_mut(q.bucket(e.ts_ns)) {
                *v += entry_bytes(e);
            }
        }
        for g in q.groups(&s.labels) {
            if !volumes.contains_key(&g) && max_groups > 0 && volumes.len() as u64 >= max_groups {
                return Err(limit_error(format!(
                    "err-cairn-volume-too-many-series: the volume query matched more than {max_groups} series (max_query_series); add matchers to the stream selector or name fewer targetLabels"
                )));
            }
            let total = volumes.entry(g).or_insert_with(|| vec![0; points]);
            for (t, v) in total.iter_mut().zip(&per_step) {
                *t += v;
            }
        }
    }
    Ok(volumes)
}

/// The `limit` largest groups, largest first (ties by labels).
fn top(volumes: HashMap<Labels, Vec<u64>>, limit: usize) -> Vec<(Labels, Vec<u64>)> {
    let mut all: Vec<(u64, Labels, Vec<u64>)> = volumes
        .into_iter()
        .map(|(l, v)| (v.iter().sum(), l, v))
        .filter(|(total, _, _)| *total > 0)
        .collect();
    all.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    all.truncate(limit);
    all.into_iter().map(|(_, l, v)| (l, v)).collect()
}

/// Encodes the top groups as Loki does: a vector at `end`, or a matrix
/// with a point per non-empty step.
fn encode(q: &VolumeQuery, groups: Vec<(Labels, Vec<u64>)>) -> String {
    let ms = |ns: i64| ns.div_euclid(1_000_000);
    let value = match q.step {
        None => QueryValue::Vector(
            groups
                .into_iter()
                .map(|(labels, v)| VectorSample {
                    labels,
                    t: ms(q.end),
                    v: v.iter().sum::<u64>() as f64,
                    h: None,
                })
                .collect(),
        ),
        Some(step) => QueryValue::Matrix(
            groups
                .into_iter()
                .map(|(labels, v)| Series {
                    labels,
                    samples: v
                        .iter()
                        .enumerate()
                        .filter(|(_, v)| **v > 0)
                        .map(|(k, v)| Sample {
                            t: ms(q.start.saturating_add((k as i64).saturating_mul(step))),
                            v: *v as f64,
                        })
                        .collect(),
                    histograms: Vec::new(),
                })
                .collect(),
        ),
    };
    query_result(
        &QueryResult {
            value,
            annotations: Annotations::default(),
        },
        None,
    )
}

/// Runs a volume request for every tenant of `req`.
async fn volume(st: &LokiState, req: Request, range: bool) -> Result<Response, LokiError> {
    let (tenants, p) = decode(&st.querier, req).await?;
    let q = VolumeQuery::parse(&p, range)?;
    let overrides = &st.querier.overrides;
    check_range(overrides, &tenants, q.start, q.end)?;
    let sel = LogSelect {
        matchers: q.matchers.clone(),
        start_ns: q.start,
        end_ns: q.end.saturating_add(1),
        line_filter: None,
        limit: None,
        direction: Direction::Forward,
    };
    let mut streams = Vec::new();
    for t in &tenants {
        let read = st.store.select_logs(t, &sel);
        streams.extend(
            tokio::time::timeout(st.querier.cfg.timeout, read)
                .await
                .map_err(|_| LogqlError::Timeout)??,
        );
    }
    let max_groups = strictest(overrides, &tenants, |l| l.max_query_series as u64);
    let volumes = aggregate(&q, &streams, max_groups)?;
    Ok(ok_json(encode(&q, top(volumes, q.limit))))
}

/// `GET|POST /loki/api/v1/index/volume`: a vector of volumes over the range.
pub(crate) async fn index_volume(
    State(st): State<Arc<LokiState>>,
    req: Request,
) -> Result<Response, LokiError> {
    volume(&st, req, false).await
}

/// `GET|POST /loki/api/v1/index/volume_range`: a matrix of volumes per step.
pub(crate) async fn index_volume_range(
    State(st): State<Arc<LokiState>>,
    req: Request,
) -> Result<Response, LokiError> {
    volume(&st, req, true).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(qs: &str, range: bool) -> VolumeQuery {
        let mut p = Params::default();
        p.extend_from_urlencoded(qs);
        VolumeQuery::parse(&p, range).unwrap()
    }

    fn stream(labels: &[(&str, &str)], entries: &[(i64, &str)]) -> StreamEntries {
        StreamEntries {
            labels: Labels::from_pairs(labels.iter().copied()),
            entries: entries
                .iter()
                .map(|(t, l)| LogEntry {
                    ts_ns: *t,
                    line: l.to_string(),
                    structured_metadata: Labels::from_pairs([("trace_id", "ab")]),
                })
                .collect(),
        }
    }

    #[test]
    fn labels_aggregation_sums_every_value_of_a_name() {
        let q = query(
            "query={a=~\".%2B\"}&start=0&end=100&aggregateBy=labels",
            false,
        );
        let streams = [
            stream(&[("a", "1"), ("b", "x")], &[(1, "abc")]),
            stream(&[("a", "2")], &[(2, "de")]),
        ];
        let v = top(aggregate(&q, &streams, 0).unwrap(), 10);
        let name = |n: &str| Labels::from_sorted(vec![Label::new(n, "")]);
        let (a, b) = (name("a"), name("b"));
        // 3 + 2 line bytes; structured metadata does not count.
        assert_eq!(v, vec![(a, vec![5]), (b, vec![3])]);
    }

    #[test]
    fn range_steps_cover_the_step_before_each_point_and_groups_are_bounded() {
        let q = query("query={a=\"1\"}&start=0&end=20&step=10", true);
        assert_eq!(q.points(), 3);
        const S: i64 = 1_000_000_000;
        assert_eq!(
            (q.bucket(0), q.bucket(10 * S), q.bucket(10 * S + 1)),
            (0, 1, 2)
        );
        let streams = [
            stream(&[("a", "1"), ("b", "x")], &[(0, "a"), (15 * S, "b")]),
            stream(&[("a", "2")], &[(0, "a")]),
        ];
        let v = aggregate(&q, &streams, 0).unwrap();
        assert_eq!(v.len(), 2, "grouped by the selector's label `a`");
        assert!(aggregate(&q, &streams, 1).is_err());
    }
}
