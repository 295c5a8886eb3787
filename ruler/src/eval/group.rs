//! One group's task: waits for each aligned evaluation time, evaluates the
//! rules in order, writes their series and queues due alerts.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::labels::METRIC_NAME;
use common::series::STALE_NAN_BITS;
use common::tenant::TenantId;
use common::time::{now_ns, rfc3339_nanos};
use distributor::remote_write::{Histogram, Label, Sample, TimeSeries, WriteRequest};
use parking_lot::Mutex;

use super::alert::{Alert, Candidate, LabelMap};
use super::query::{self, RuleSample};
use super::status::{GroupStatus, Health};
use super::{Context, align, restore};
use crate::notifier::AmAlert;
use crate::rules::Rule;
use crate::self_metrics::RulerMetrics;
use crate::template::{QuerySample, Template, TemplateData, expand};

/// Evaluates the group in `status` forever (the manager aborts the task);
/// with `restore`, the `for` state of its alerts is restored from
/// `ALERTS_FOR_STATE` after the second evaluation, as Prometheus does after
/// a restart.
pub(super) async fn run(ctx: Arc<Context>, status: Arc<Mutex<GroupStatus>>, restore: bool) {
    let (interval_ns, offset) = {
        let s = status.lock();
        let interval = i64::try_from(s.interval.as_nanos()).unwrap_or(i64::MAX);
        let offset = align::offset_ns(&s.def.namespace, &s.def.group.name, interval);
        (interval, offset)
    };
    let tenant = RulerMetrics::tenant(status.lock().def.tenant.as_str());
    let mut next = align::next_eval_ns(now_ns(), offset, interval_ns);
    let mut evaluations = 0u32;
    loop {
        let wait = next.saturating_sub(now_ns()).max(0);
        tokio::time::sleep(Duration::from_nanos(wait as u64)).await;
        let offset_ms = status.lock().def.group.query_offset_ms();
        evaluate(&ctx, &status, next / 1_000_000 - offset_ms).await;
        evaluations = evaluations.saturating_add(1);
        if restore && evaluations == 2 {
            restore::restore_for_state(&ctx, &status, now_ns() / 1_000_000).await;
        }
        let after = next + interval_ns;
        let now = now_ns();
        next = if after > now {
            after
        } else {
            let missed = (now - after) / interval_ns + 1;
            ctx.metrics
                .missed_iterations
                .get_or_create(&tenant)
                .inc_by(missed as u64);
            align::next_eval_ns(now, offset, interval_ns)
        };
    }
}

/// What one rule's evaluation produced, to be written and sent.
struct Outcome {
    series: Vec<TimeSeries>,
    alerts: Vec<AmAlert>,
}

/// Evaluates every rule of the group once at `ts_ms` (the scheduled time
/// minus the group's `query_offset`).
pub(super) async fn evaluate(ctx: &Context, status: &Mutex<GroupStatus>, ts_ms: i64) {
    let started = Instant::now();
    let (tenant, lang, rules, limit, interval) = {
        let s = status.lock();
        (
            s.def.tenant.clone(),
            s.def.language,
            s.def.group.rules.clone(),
            s.def.group.limit,
            s.interval,
        )
    };
    let label = RulerMetrics::tenant(tenant.as_str());
    for (i, rule) in rules.iter().enumerate() {
        let rule_started = Instant::now();
        ctx.metrics.evaluations.get_or_create(&label).inc();
        let result = query::instant(ctx, &tenant, lang, &rule.expr, ts_ms).await;
        let template_results = if rule.is_alert() && result.is_ok() {
            template_queries(ctx, &tenant, lang, rule, ts_ms).await
        } else {
            HashMap::new()
        };
        let outcome = {
            let mut s = status.lock();
            let Some(rs) = s.rules.get_mut(i) else {
                return;
            };
            let outcome = result.and_then(|samples| {
                if rule.is_alert() {
                    let run = AlertRun {
                        ts_ms,
                        limit,
                        interval,
                        queries: &template_results,
                    };
                    alerting(ctx, rs, rule, samples, &run)
                } else {
                    recording(rs, rule, samples, ts_ms, limit)
                }
            });
            rs.last_eval_ns = ts_ms.saturating_mul(1_000_000);
            match &outcome {
                Ok(_) => {
                    rs.health = Health::Ok;
                    rs.last_error.clear();
                }
                Err(e) => {
                    rs.health = Health::Err;
                    rs.last_error = e.clone();
                }
            }
            outcome
        };
        let error = match outcome {
            Ok(out) => {
                let written = write(ctx, &tenant, out.series).await;
                ctx.notifier.enqueue(&tenant, out.alerts);
                written.err()
            }
            Err(e) => Some(e),
        };
        let mut s = status.lock();
        if let Some(rs) = s.rules.get_mut(i) {
            rs.eval_seconds = rule_started.elapsed().as_secs_f64();
            if let Some(e) = error {
                tracing::warn!(%tenant, rule = rule.name(), error = %e, "rule evaluation failed");
                ctx.metrics.evaluation_failures.get_or_create(&label).inc();
                rs.health = Health::Err;
                rs.last_error = e;
            }
        }
    }
    let mut s = status.lock();
    s.last_eval_ns = ts_ms.saturating_mul(1_000_000);
    s.eval_seconds = started.elapsed().as_secs_f64();
}

/// A recording rule: the result renamed and relabelled, checked for
/// duplicates and the group's limit.
fn recording(
    rs: &mut super::RuleStatus,
    rule: &Rule,
    samples: Vec<RuleSample>,
    ts_ms: i64,
    limit: usize,
) -> Result<Outcome, String> {
    if limit > 0 && samples.len() > limit {
        return Err(format!(
            "exceeded limit of {limit} with {} series",
            samples.len()
        ));
    }
    let mut out = Vec::with_capacity(samples.len());
    for mut s in samples {
        s.labels.insert(METRIC_NAME.into(), rule.name().to_string());
        for (k, v) in &rule.labels {
            s.labels.insert(k.clone(), v.clone());
        }
        out.push(s);
    }
    let series = with_staleness(rs, out, ts_ms)?;
    Ok(Outcome {
        series,
        alerts: Vec::new(),
    })
}

/// Evaluates the `query "…"` calls of the rule's label and annotation
/// templates at `ts_ms` (a failing query is left out: the template using
/// it then renders its error).
async fn template_queries(
    ctx: &Context,
    tenant: &TenantId,
    lang: crate::rules::Language,
    rule: &Rule,
    ts_ms: i64,
) -> HashMap<String, Vec<QuerySample>> {
    let mut out = HashMap::new();
    let texts = rule.labels.values().chain(rule.annotations.values());
    let wanted: Vec<String> = texts
        .filter(|t| t.contains("{{"))
        .filter_map(|t| Template::parse(t).ok())
        .flat_map(|t| t.queries())
        .collect();
    for q in wanted {
        if out.contains_key(&q) {
            continue;
        }
        match query::instant(ctx, tenant, lang, &q, ts_ms).await {
            Ok(samples) => {
                let numbers = samples.into_iter().filter(|s| s.histogram.is_none());
                out.insert(q, numbers.map(|s| (s.labels, s.value)).collect());
            }
            Err(e) => tracing::debug!(%tenant, query = %q, error = %e, "template query failed"),
        }
    }
    out
}

/// The evaluation an alerting rule's results belong to.
struct AlertRun<'a> {
    ts_ms: i64,
    limit: usize,
    interval: Duration,
    queries: &'a HashMap<String, Vec<QuerySample>>,
}

/// An alerting rule: candidates with templated labels and annotations,
/// the state machine, `ALERTS`/`ALERTS_FOR_STATE`, and the alerts due.
fn alerting(
    ctx: &Context,
    rs: &mut super::RuleStatus,
    rule: &Rule,
    samples: Vec<RuleSample>,
    run: &AlertRun<'_>,
) -> Result<Outcome, String> {
    let AlertRun {
        ts_ms,
        limit,
        interval,
        queries,
    } = *run;
    let name = rule.name().to_string();
    let mut candidates = Vec::with_capacity(samples.len());
    for s in samples.iter().filter(|s| s.histogram.is_none()) {
        let sample_labels = s.without_name();
        let data = TemplateData {
            labels: &sample_labels,
            external_labels: &ctx.cfg.external_labels,
            external_url: &ctx.cfg.external_url,
            value: s.value,
            queries,
        };
        let render = |text: &str| {
            expand(text, &data).unwrap_or_else(|e| format!("<error expanding template: {e}>"))
        };
        let mut labels = sample_labels.clone();
        for (k, v) in &rule.labels {
            labels.insert(k.clone(), render(v));
        }
        labels.insert("alertname".into(), name.clone());
        let annotations = rule
            .annotations
            .iter()
            .map(|(k, v)| (k.clone(), render(v)))
            .collect();
        candidates.push(Candidate {
            labels,
            annotations,
            value: s.value,
        });
    }
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let updated = rs.alerts.update(
        ts_ms,
        candidates,
        ms(rule.hold()),
        ms(rule.keep_firing()),
        limit,
    );
    let mut out = Vec::new();
    for a in rs.alerts.current() {
        let mut l = a.labels.clone();
        l.insert(METRIC_NAME.into(), "ALERTS".into());
        l.insert("alertstate".into(), a.state.as_str().into());
        out.push(RuleSample::float(l, 1.0));
        if rs.restored {
            let mut l = a.labels.clone();
            l.insert(METRIC_NAME.into(), "ALERTS_FOR_STATE".into());
            out.push(RuleSample::float(l, (a.active_at / 1000) as f64));
        }
    }
    let series = with_staleness(rs, out, ts_ms)?;
    let resend = ms(ctx.cfg.resend_delay);
    let alerts = rs
        .alerts
        .due(ts_ms, resend, ms(interval))
        .iter()
        .map(|a| postable(ctx, rule, a))
        .collect();
    updated?;
    Ok(Outcome { series, alerts })
}

/// `series` at `ts_ms`, plus a staleness marker for every series written
/// last time and gone now; remembers what was written.
fn with_staleness(
    rs: &mut super::RuleStatus,
    series: Vec<RuleSample>,
    ts_ms: i64,
) -> Result<Vec<TimeSeries>, String> {
    let mut now = HashSet::with_capacity(series.len());
    let mut out = Vec::with_capacity(series.len());
    for s in series {
        if !now.insert(s.labels.clone()) {
            return Err(
                "vector contains metrics with the same labelset after applying rule labels".into(),
            );
        }
        let mut ts = time_series(&s.labels, s.value, ts_ms);
        if let Some(h) = &s.histogram {
            ts.samples.clear();
            ts.histograms = vec![Histogram::from_float_histogram(ts_ms, h)];
        }
        out.push(ts);
    }
    // A float stale marker ends a histogram series too (as in Prometheus).
    for gone in rs.written.difference(&now) {
        out.push(time_series(gone, f64::from_bits(STALE_NAN_BITS), ts_ms));
    }
    rs.written = now;
    Ok(out)
}

/// Marks `series` of `tenant` stale now: the series of rules that were
/// deleted or changed stop at once instead of lingering for the lookback.
pub(super) async fn mark_stale(ctx: &Context, tenant: &TenantId, series: Vec<LabelMap>) {
    let ts = now_ns() / 1_000_000;
    let stale = series
        .iter()
        .map(|l| time_series(l, f64::from_bits(STALE_NAN_BITS), ts))
        .collect();
    if let Err(e) = write(ctx, tenant, stale).await {
        tracing::warn!(%tenant, error = %e, "cannot mark retired rule series stale");
    }
}

fn time_series(labels: &LabelMap, value: f64, ts_ms: i64) -> TimeSeries {
    TimeSeries {
        labels: labels.iter().map(|(k, v)| Label::new(k, v)).collect(),
        samples: vec![Sample {
            value,
            timestamp: ts_ms,
        }],
        ..Default::default()
    }
}

/// Writes `series` for `tenant` through the distributor (limits apply).
async fn write(ctx: &Context, tenant: &TenantId, series: Vec<TimeSeries>) -> Result<(), String> {
    if series.is_empty() {
        return Ok(());
    }
    let req = WriteRequest {
        timeseries: series,
        ..Default::default()
    };
    let summary = ctx
        .distributor
        .push(tenant, req)
        .await
        .map_err(|e| format!("writing rule results: {e}"))?;
    if summary.is_complete() {
        Ok(())
    } else {
        Err(format!(
            "writing rule results: {}",
            distributor::DistributorError::Partial(summary)
        ))
    }
}

/// An alert as Alertmanager takes it.
fn postable(ctx: &Context, rule: &Rule, a: &Alert) -> AmAlert {
    let ms_to_ns = |ms: i64| ms.saturating_mul(1_000_000);
    let ends = if a.resolved_at != 0 {
        a.resolved_at
    } else {
        a.valid_until
    };
    let starts = if a.fired_at != 0 {
        a.fired_at
    } else {
        a.active_at
    };
    AmAlert {
        labels: a.labels.clone(),
        annotations: a.annotations.clone(),
        starts_at: rfc3339_nanos(ms_to_ns(starts)),
        ends_at: rfc3339_nanos(ms_to_ns(ends)),
        generator_url: generator_url(&ctx.cfg.external_url, &rule.expr),
    }
}

/// Prometheus's link to an expression: `<external>/graph?g0.expr=…&g0.tab=1`.
pub(crate) fn generator_url(external_url: &str, expr: &str) -> String {
    let query: String =
        reqwest::Url::parse_with_params("http://x/graph", &[("g0.expr", expr), ("g0.tab", "1")])
            .ok()
            .and_then(|u| u.query().map(str::to_string))
            .unwrap_or_default();
    format!("{}/graph?{query}", external_url.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::eval::GroupStatus;
    use crate::rules::{Language, parse_group};
    use crate::store::StoredGroup;

    /// A parsed group and a fresh status for it.
    fn group_status(yaml: &str) -> (crate::rules::RuleGroup, GroupStatus) {
        let group = parse_group(yaml).unwrap();
        let def = StoredGroup {
            tenant: TenantId::parse("t").unwrap(),
            language: Language::Promql,
            namespace: "ns".into(),
            group: group.clone(),
        };
        (group, GroupStatus::new(def, Duration::from_secs(1), true))
    }

    fn sample(job: &str, v: f64) -> RuleSample {
        RuleSample::float(
            LabelMap::from([("__name__".into(), "up".into()), ("job".into(), job.into())]),
            v,
        )
    }

    fn names(series: &[TimeSeries]) -> Vec<(String, f64)> {
        series
            .iter()
            .map(|s| {
                let l: Vec<String> = s
                    .labels
                    .iter()
                    .map(|l| format!("{}={}", l.name, l.value))
                    .collect();
                (l.join(","), s.samples[0].value)
            })
            .collect()
    }

    #[test]
    fn recording_relabels_limits_and_marks_vanished_series_stale() {
        let (group, mut st) = group_status(
            "name: g\nlimit: 2\nrules:\n- record: job:up\n  expr: up\n  labels:\n    job: fixed\n- record: r\n  expr: up\n",
        );
        let fixed = &group.rules[0];
        let err = recording(
            &mut st.rules[0],
            fixed,
            vec![sample("a", 1.0), sample("b", 2.0)],
            5,
            0,
        )
        .err()
        .unwrap();
        assert!(err.contains("same labelset"), "{err}");
        let err = recording(&mut st.rules[0], fixed, vec![sample("a", 1.0); 3], 5, 2)
            .err()
            .unwrap();
        assert!(err.contains("exceeded limit of 2 with 3 series"), "{err}");

        let plain = &group.rules[1];
        let out = recording(
            &mut st.rules[1],
            plain,
            vec![sample("a", 1.0), sample("b", 2.0)],
            5,
            0,
        )
        .unwrap();
        let mut got = names(&out.series);
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            got,
            [
                ("__name__=r,job=a".to_string(), 1.0),
                ("__name__=r,job=b".to_string(), 2.0)
            ]
        );
        let out = recording(&mut st.rules[1], plain, vec![sample("a", 3.0)], 6, 0).unwrap();
        let got = names(&out.series);
        assert_eq!(got[0], ("__name__=r,job=a".to_string(), 3.0));
        assert_eq!(got[1].0, "__name__=r,job=b");
        assert_eq!(
            got[1].1.to_bits(),
            STALE_NAN_BITS,
            "vanished series is marked stale"
        );
        assert_eq!(out.series[1].samples[0].timestamp, 6);
    }

    #[test]
    fn histogram_results_are_recorded_as_histograms_and_end_with_a_stale_marker() {
        use common::histogram::FloatHistogram;
        let (group, mut st) =
            group_status("name: g\nrules:\n- record: job:latency:rate5m\n  expr: x\n");
        let mut s = sample("a", 0.0);
        s.histogram = Some(Arc::new(FloatHistogram {
            count: 4.0,
            sum: 1.5,
            ..FloatHistogram::default()
        }));
        let out = recording(&mut st.rules[0], &group.rules[0], vec![s], 5, 0).unwrap();
        let ts = &out.series[0];
        assert!(ts.samples.is_empty());
        assert_eq!(ts.histograms.len(), 1);
        assert_eq!((ts.histograms[0].sum, ts.histograms[0].timestamp), (1.5, 5));
        let out = recording(&mut st.rules[0], &group.rules[0], vec![], 6, 0).unwrap();
        assert_eq!(out.series[0].samples[0].value.to_bits(), STALE_NAN_BITS);
    }

    #[test]
    fn generator_url_links_the_expression() {
        assert_eq!(
            generator_url("http://cairn:9009/", "up == 0"),
            "http://cairn:9009/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
        );
    }
}
