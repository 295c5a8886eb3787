//! The ruler's own metrics (`cairn_ruler_…`), registered once in the
//! process registry.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Per-tenant label set.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TenantLabel {
    /// The tenant.
    pub tenant: String,
}

/// Counters and gauges of rule evaluation and notification.
#[derive(Clone)]
pub struct RulerMetrics {
    /// Rule evaluations.
    pub evaluations: Family<TenantLabel, Counter>,
    /// Rule evaluations that failed (query error, write error, template error).
    pub evaluation_failures: Family<TenantLabel, Counter>,
    /// Group evaluations skipped because the previous one overran.
    pub missed_iterations: Family<TenantLabel, Counter>,
    /// Alerts delivered to Alertmanager.
    pub notifications_sent: Family<TenantLabel, Counter>,
    /// Alertmanager POSTs that failed after their retries.
    pub notification_errors: Family<TenantLabel, Counter>,
    /// Alerts dropped because the notification queue was full.
    pub notifications_dropped: Counter,
    /// Rule groups this replica evaluates.
    pub groups: Gauge,
}

impl RulerMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            evaluations: Family::default(),
            evaluation_failures: Family::default(),
            missed_iterations: Family::default(),
            notifications_sent: Family::default(),
            notification_errors: Family::default(),
            notifications_dropped: Counter::default(),
            groups: Gauge::default(),
        };
        registry.register(
            "cairn_ruler_evaluations",
            "Rule evaluations, by tenant",
            m.evaluations.clone(),
        );
        registry.register(
            "cairn_ruler_evaluation_failures",
            "Rule evaluations that failed, by tenant",
            m.evaluation_failures.clone(),
        );
        registry.register(
            "cairn_ruler_missed_iterations",
            "Group evaluations skipped because the previous one overran, by tenant",
            m.missed_iterations.clone(),
        );
        registry.register(
            "cairn_ruler_notifications_sent",
            "Alerts delivered to Alertmanager, by tenant",
            m.notifications_sent.clone(),
        );
        registry.register(
            "cairn_ruler_notification_errors",
            "Alertmanager deliveries that failed after retries, by tenant",
            m.notification_errors.clone(),
        );
        registry.register(
            "cairn_ruler_notifications_dropped",
            "Alerts dropped because the notification queue was full",
            m.notifications_dropped.clone(),
        );
        registry.register(
            "cairn_ruler_groups",
            "Rule groups this replica evaluates",
            m.groups.clone(),
        );
        m
    }

    /// The label set for `tenant`.
    pub fn tenant(tenant: &str) -> TenantLabel {
        TenantLabel {
            tenant: tenant.to_string(),
        }
    }
}
