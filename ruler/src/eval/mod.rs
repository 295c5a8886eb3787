//! Rule evaluation: the [`Manager`] keeps one task per owned rule group
//! (re-reading the rule store every `poll_interval`), each task evaluates
//! its group on the aligned schedule ([`align`]), runs the rules in order
//! through the PromQL or LogQL engine, writes recording rule
//! results and `ALERTS`/`ALERTS_FOR_STATE` through the distributor, drives
//! the alert state machine ([`alert`]) and hands due alerts to the notifier.

pub mod alert;
pub mod align;
mod group;
mod manager;
mod query;
mod restore;
mod status;

use std::sync::Arc;

use distributor::Distributor;
use querier::logql::LogqlEngine;
use querier::promql::Engine;

use crate::config::RulerConfig;
use crate::notifier::Notifier;
use crate::self_metrics::RulerMetrics;

pub use manager::Manager;
pub use status::{GroupStatus, Health, RuleStatus};

/// What evaluating a group needs: the engines, the write path, the
/// notifier, settings and metrics.
pub struct Context {
    /// Settings.
    pub cfg: RulerConfig,
    /// Evaluates PromQL rules (and the `for` state restore query).
    pub promql: Arc<Engine>,
    /// Evaluates LogQL rules.
    pub logql: Arc<LogqlEngine>,
    /// Where recording rule results and `ALERTS` series are written.
    pub distributor: Arc<Distributor>,
    /// Where due alerts go.
    pub notifier: Arc<Notifier>,
    /// Self-metrics.
    pub metrics: RulerMetrics,
}
