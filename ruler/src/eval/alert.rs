//! The alert state machine of one alerting rule, as Prometheus runs it:
//! a new result is `pending`, `firing` once it held for `for`, `inactive`
//! (resolved) when it disappears (after `keep_firing_for`), kept 15 minutes
//! as resolved so Alertmanager hears about the resolution, and which alerts
//! to (re-)send when.

use std::collections::{BTreeMap, HashMap};

/// Labels of one alert (or series), sorted.
pub type LabelMap = BTreeMap<String, String>;

/// How long a resolved alert is kept (and re-sent as resolved).
const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// An alert's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlertState {
    /// Not active (or resolved).
    Inactive,
    /// Active, waiting for `for` to pass.
    Pending,
    /// Active for at least `for`.
    Firing,
}

impl AlertState {
    /// Prometheus's name for the state.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Its identity: the result's labels plus the rule's labels and `alertname`.
    pub labels: LabelMap,
    /// Rendered annotations.
    pub annotations: LabelMap,
    /// The expression's value at the last evaluation it was active in.
    pub value: f64,
    /// State.
    pub state: AlertState,
    /// When it became active (ms).
    pub active_at: i64,
    /// When it started firing (ms), 0 if it never did.
    pub fired_at: i64,
    /// When it resolved (ms), 0 while active.
    pub resolved_at: i64,
    /// When it was last sent to Alertmanager (ms), 0 if never.
    pub last_sent_at: i64,
    /// Until when the last send told Alertmanager it is valid (ms).
    pub valid_until: i64,
    /// Since when it is kept firing though the condition cleared (ms), 0 if not.
    pub keep_firing_since: i64,
}

/// One evaluation's result for the rule: an alert's labels, annotations
/// and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Full alert labels.
    pub labels: LabelMap,
    /// Rendered annotations.
    pub annotations: LabelMap,
    /// The sample's value.
    pub value: f64,
}

/// The active and recently resolved alerts of one alerting rule.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertSet {
    active: HashMap<LabelMap, Alert>,
}

impl AlertSet {
    /// Applies one evaluation at `ts` (ms) with `hold` = `for` and
    /// `keep_firing_for` (ms). `limit` > 0 caps how many
    /// alerts may be active: over it every alert is dropped and an error
    /// returned, as Prometheus does.
    pub fn update(
        &mut self,
        ts: i64,
        results: Vec<Candidate>,
        hold: i64,
        keep_firing_for: i64,
        limit: usize,
    ) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for c in results {
            if !seen.insert(c.labels.clone()) {
                return Err(
                    "vector contains metrics with the same labelset after applying alert labels"
                        .into(),
                );
            }
            match self.active.get_mut(&c.labels) {
                Some(a) if a.state != AlertState::Inactive => {
                    a.value = c.value;
                    a.annotations = c.annotations;
                }
                _ => {
                    self.active.insert(
                        c.labels.clone(),
                        Alert {
                            labels: c.labels,
                            annotations: c.annotations,
                            value: c.value,
                            state: AlertState::Pending,
                            active_at: ts,
                            fired_at: 0,
                            resolved_at: 0,
                            last_sent_at: 0,
                            valid_until: 0,
                            keep_firing_since: 0,
                        },
                    );
                }
            }
        }
        let mut active = 0;
        self.active.retain(|labels, a| {
            if !seen.contains(labels) {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && keep_firing_for > 0 {
                    if a.keep_firing_since == 0 {
                        a.keep_firing_since = ts;
                    }
                    keep_firing = ts - a.keep_firing_since < keep_firing_for;
                }
                if a.state == AlertState::Pending
                    || (a.resolved_at != 0 && ts - a.resolved_at > RESOLVED_RETENTION_MS)
                {
                    return false;
                }
                if a.state != AlertState::Inactive && !keep_firing {
                    a.state = AlertState::Inactive;
                    a.resolved_at = ts;
                }
                if !keep_firing {
                    return true;
                }
            } else {
                a.keep_firing_since = 0;
            }
            active += 1;
            if a.state == AlertState::Pending && ts - a.active_at >= hold {
                a.state = AlertState::Firing;
                a.fired_at = ts;
            }
            true
        });
        if limit > 0 && active > limit {
            self.active.clear();
            return Err(format!("exceeded limit of {limit} with {active} alerts"));
        }
        Ok(())
    }

    /// Alerts due to be sent at `ts`: firing ones not sent for
    /// `resend_delay`, and ones resolved since their last send. Marks them
    /// sent, valid for 4 × max(`resend_delay`, `interval`).
    pub fn due(&mut self, ts: i64, resend_delay: i64, interval: i64) -> Vec<Alert> {
        let mut out = Vec::new();
        for a in self.active.values_mut() {
            let needs = match a.state {
                AlertState::Pending => false,
                _ if a.resolved_at > a.last_sent_at => true,
                AlertState::Inactive => false,
                AlertState::Firing => a.last_sent_at + resend_delay < ts || a.last_sent_at == 0,
            };
            if needs {
                a.last_sent_at = ts;
                a.valid_until = ts + 4 * resend_delay.max(interval);
                out.push(a.clone());
            }
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// The rule's state: the most severe of its alerts'.
    pub fn state(&self) -> AlertState {
        self.active
            .values()
            .map(|a| a.state)
            .max()
            .unwrap_or(AlertState::Inactive)
    }

    /// Active and resolved alerts, sorted by labels.
    pub fn alerts(&self) -> Vec<&Alert> {
        let mut v: Vec<_> = self.active.values().collect();
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
        v
    }

    /// Pending and firing alerts, for `ALERTS` and `ALERTS_FOR_STATE`.
    pub fn current(&self) -> impl Iterator<Item = &Alert> {
        self.active
            .values()
            .filter(|a| a.state != AlertState::Inactive)
    }

    /// Moves a pending alert's `active_at` (restoring `for` state after a
    /// restart).
    pub fn set_active_at(&mut self, labels: &LabelMap, active_at: i64) {
        if let Some(a) = self.active.get_mut(labels)
            && a.state == AlertState::Pending
        {
            a.active_at = active_at;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(job: &str, v: f64) -> Candidate {
        Candidate {
            labels: LabelMap::from([("alertname".into(), "A".into()), ("job".into(), job.into())]),
            annotations: LabelMap::new(),
            value: v,
        }
    }

    const S: i64 = 1000;

    #[test]
    fn pending_then_firing_then_resolved() {
        let mut set = AlertSet::default();
        set.update(0, vec![cand("a", 1.0)], 10 * S, 0, 0).unwrap();
        assert_eq!(set.state(), AlertState::Pending);
        assert!(set.due(0, 60 * S, 10 * S).is_empty(), "pending is not sent");
        set.update(5 * S, vec![cand("a", 2.0)], 10 * S, 0, 0)
            .unwrap();
        assert_eq!(set.state(), AlertState::Pending);
        set.update(10 * S, vec![cand("a", 3.0)], 10 * S, 0, 0)
            .unwrap();
        assert_eq!(set.state(), AlertState::Firing);
        let sent = set.due(10 * S, 60 * S, 10 * S);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].value, 3.0);
        assert_eq!(sent[0].valid_until, 10 * S + 240 * S);
        assert!(
            set.due(20 * S, 60 * S, 10 * S).is_empty(),
            "not again before resend_delay"
        );
        assert_eq!(set.due(71 * S, 60 * S, 10 * S).len(), 1, "resent");
        set.update(80 * S, vec![], 10 * S, 0, 0).unwrap();
        assert_eq!(set.state(), AlertState::Inactive);
        let sent = set.due(80 * S, 60 * S, 10 * S);
        assert_eq!(sent[0].resolved_at, 80 * S, "resolution is sent at once");
        assert!(set.due(90 * S, 60 * S, 10 * S).is_empty());
        assert_eq!(set.current().count(), 0);
        // Kept 15 minutes as resolved, then forgotten.
        set.update(80 * S + RESOLVED_RETENTION_MS + 1, vec![], 10 * S, 0, 0)
            .unwrap();
        assert!(set.alerts().is_empty());
    }

    #[test]
    fn pending_alert_that_clears_is_dropped_and_restarts() {
        let mut set = AlertSet::default();
        set.update(0, vec![cand("a", 1.0)], 10 * S, 0, 0).unwrap();
        set.update(5 * S, vec![], 10 * S, 0, 0).unwrap();
        assert!(set.alerts().is_empty());
        set.update(6 * S, vec![cand("a", 1.0)], 10 * S, 0, 0)
            .unwrap();
        assert_eq!(set.alerts()[0].active_at, 6 * S);
    }

    #[test]
    fn zero_for_fires_at_once_and_keep_firing_for_holds() {
        let mut set = AlertSet::default();
        set.update(0, vec![cand("a", 1.0)], 0, 30 * S, 0).unwrap();
        assert_eq!(set.state(), AlertState::Firing);
        set.update(10 * S, vec![], 0, 30 * S, 0).unwrap();
        assert_eq!(set.state(), AlertState::Firing, "kept firing");
        assert_eq!(set.alerts()[0].keep_firing_since, 10 * S);
        set.update(39 * S, vec![], 0, 30 * S, 0).unwrap();
        assert_eq!(set.state(), AlertState::Firing);
        set.update(40 * S, vec![], 0, 30 * S, 0).unwrap();
        assert_eq!(set.state(), AlertState::Inactive);
    }

    #[test]
    fn limit_and_duplicates_are_errors() {
        let mut set = AlertSet::default();
        let err = set
            .update(0, vec![cand("a", 1.0), cand("b", 1.0)], 0, 0, 1)
            .unwrap_err();
        assert!(err.contains("exceeded limit of 1 with 2 alerts"), "{err}");
        assert!(set.alerts().is_empty());
        let err = set
            .update(0, vec![cand("a", 1.0), cand("a", 2.0)], 0, 0, 0)
            .unwrap_err();
        assert!(err.contains("same labelset"), "{err}");
    }

    #[test]
    fn restored_active_at_moves_pending_alerts_only() {
        let mut set = AlertSet::default();
        set.update(100 * S, vec![cand("a", 1.0)], 60 * S, 0, 0)
            .unwrap();
        set.set_active_at(&cand("a", 0.0).labels, 20 * S);
        set.update(110 * S, vec![cand("a", 1.0)], 60 * S, 0, 0)
            .unwrap();
        assert_eq!(set.state(), AlertState::Firing, "held since 20s");
    }
}
