//! A group's evaluation state, shared between its task (which updates it)
//! and the read API (which shows it): per rule its health, last error,
//! timings and alerts.

use std::collections::HashSet;
use std::time::Duration;

use super::alert::{AlertSet, LabelMap};
use crate::rules::Rule;
use crate::store::StoredGroup;

/// Whether a rule's last evaluation worked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Not evaluated yet.
    Unknown,
    /// Last evaluation succeeded.
    Ok,
    /// Last evaluation failed (see `last_error`).
    Err,
}

impl Health {
    /// Prometheus's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Err => "err",
        }
    }
}

/// One rule's state.
#[derive(Debug, Clone)]
pub struct RuleStatus {
    /// The rule.
    pub rule: Rule,
    /// Health of the last evaluation.
    pub health: Health,
    /// Why the last evaluation failed; empty when it did not.
    pub last_error: String,
    /// When it was last evaluated (ns since the epoch; 0 = never).
    pub last_eval_ns: i64,
    /// How long that took, seconds.
    pub eval_seconds: f64,
    /// Alerting rules: active and recently resolved alerts.
    pub alerts: AlertSet,
    /// Series written at the last evaluation (to mark the vanished ones
    /// stale at the next).
    pub(crate) written: HashSet<LabelMap>,
    /// Alerting rules: whether `ALERTS_FOR_STATE` is trusted yet (after the
    /// restore that follows a restart).
    pub(crate) restored: bool,
}

/// One group's state.
#[derive(Debug, Clone)]
pub struct GroupStatus {
    /// The group and where it is stored.
    pub def: StoredGroup,
    /// Its effective interval.
    pub interval: Duration,
    /// When it was last evaluated (ns; 0 = never).
    pub last_eval_ns: i64,
    /// How long that took, seconds.
    pub eval_seconds: f64,
    /// Its rules, in order.
    pub rules: Vec<RuleStatus>,
}

impl GroupStatus {
    /// A group not evaluated yet; `restored` says whether its alerting rules
    /// may write `ALERTS_FOR_STATE` at once (no restore pending).
    pub fn new(def: StoredGroup, interval: Duration, restored: bool) -> Self {
        let rules = def
            .group
            .rules
            .iter()
            .map(|r| RuleStatus {
                rule: r.clone(),
                health: Health::Unknown,
                last_error: String::new(),
                last_eval_ns: 0,
                eval_seconds: 0.0,
                alerts: AlertSet::default(),
                written: HashSet::new(),
                restored,
            })
            .collect();
        Self {
            def,
            interval,
            last_eval_ns: 0,
            eval_seconds: 0.0,
            rules,
        }
    }

    /// Takes over the state of rules that did not change from `old` (a
    /// group edited through the API keeps its alerts' state).
    pub fn inherit(&mut self, old: &GroupStatus) {
        for r in &mut self.rules {
            if let Some(o) = old.rules.iter().find(|o| o.rule == r.rule) {
                *r = o.clone();
            }
        }
    }
}
