//! Restoring the `for` state of alerts after a restart, as Prometheus
//! does: the last `ALERTS_FOR_STATE` sample of each pending alert (within
//! `for_outage_tolerance`) says since when it was active, so an alert that
//! had been pending for a while before the restart does not start over.

use std::sync::Arc;

use common::labels::METRIC_NAME;
use parking_lot::Mutex;
use querier::promql::{QueryRange, QueryValue};

use super::Context;
use super::alert::LabelMap;
use super::status::GroupStatus;

/// Restores every alerting rule of the group at `ts_ms`, then lets them
/// write `ALERTS_FOR_STATE`.
pub(super) async fn restore_for_state(ctx: &Context, status: &Arc<Mutex<GroupStatus>>, ts_ms: i64) {
    let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let (tenant, rules) = {
        let s = status.lock();
        (s.def.tenant.clone(), s.def.group.rules.clone())
    };
    let tolerance = promql_parser::util::display_duration(&ctx.cfg.for_outage_tolerance);
    let grace = ms(ctx.cfg.for_grace_period);
    for (i, rule) in rules.iter().enumerate() {
        let hold = ms(rule.hold());
        if !rule.is_alert() || hold < grace {
            mark_restored(status, i);
            continue;
        }
        let mut selector = format!("ALERTS_FOR_STATE{{alertname={:?}", rule.name());
        for (k, v) in &rule.labels {
            if !v.contains("{{") {
                selector.push_str(&format!(",{k}={v:?}"));
            }
        }
        selector.push_str(&format!("}}[{tolerance}]"));
        let found = match ctx
            .promql
            .query(
                std::slice::from_ref(&tenant),
                &selector,
                QueryRange::Instant(ts_ms),
            )
            .await
        {
            Ok(r) => r.value,
            Err(e) => {
                tracing::warn!(%tenant, rule = rule.name(), error = %e, "cannot restore alert state");
                mark_restored(status, i);
                continue;
            }
        };
        let QueryValue::Matrix(series) = found else {
            mark_restored(status, i);
            continue;
        };
        let mut s = status.lock();
        let Some(rs) = s.rules.get_mut(i) else {
            continue;
        };
        for series in series {
            let Some(last) = series.samples.last() else {
                continue;
            };
            let labels: LabelMap = series
                .labels
                .iter()
                .filter(|l| l.name != METRIC_NAME)
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            let active_at = restored_active_at(
                ts_ms,
                last.t,
                (last.v as i64).saturating_mul(1000),
                hold,
                grace,
            );
            rs.alerts.set_active_at(&labels, active_at);
        }
        rs.restored = true;
    }
}

fn mark_restored(status: &Mutex<GroupStatus>, i: usize) {
    if let Some(rs) = status.lock().rules.get_mut(i) {
        rs.restored = true;
    }
}

/// Prometheus's rule: an alert active since `was_active_at` and last seen
/// at `down_at` resumes with the pending time it had; one that had (almost)
/// reached `hold` gets at least `grace` more; one that had fired fires again
/// at the next evaluation. All in ms.
fn restored_active_at(ts: i64, down_at: i64, was_active_at: i64, hold: i64, grace: i64) -> i64 {
    // Saturating: ALERTS_FOR_STATE is an ordinary series anyone with write
    // access can fill with any value.
    let remaining = hold.saturating_sub(down_at.saturating_sub(was_active_at));
    if remaining <= 0 {
        was_active_at
    } else if remaining < grace {
        ts.saturating_add(grace).saturating_sub(hold)
    } else {
        was_active_at.saturating_add(ts.saturating_sub(down_at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: i64 = 60_000;

    #[test]
    fn pending_time_before_the_restart_is_kept() {
        // Active at 0, down at 20m, back at 30m, for = 60m, grace 10m:
        // 40m left, so it fires at 70m (active_at moves by the 10m outage).
        assert_eq!(
            restored_active_at(30 * M, 20 * M, 0, 60 * M, 10 * M),
            10 * M
        );
        // Had fired already: keeps its active_at, fires at once.
        assert_eq!(restored_active_at(30 * M, 20 * M, 0, 15 * M, 10 * M), 0);
        // 5m left < 10m grace: fires 10m after the restart.
        assert_eq!(
            restored_active_at(30 * M, 20 * M, 0, 25 * M, 10 * M),
            15 * M
        );
    }
}
