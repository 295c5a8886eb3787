//! `ruler:` in the main config, with Mimir's key names.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How the ruler evaluates rule groups and notifies Alertmanager.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulerConfig {
    /// Alertmanager base URL(s), comma separated (e.g.
    /// `http://am-0:9093,http://am-1:9093`); alerts go to every one. A
    /// tenant's `ruler_alertmanager_url` override replaces it. Empty = alerts
    /// are evaluated but not sent.
    pub alertmanager_url: String,
    /// Interval of groups that set none.
    #[serde(with = "humantime_serde")]
    pub evaluation_interval: Duration,
    /// How often the rule store is re-read for new, changed and deleted
    /// groups.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// URL of this Cairn as users reach it: alerts' `generatorURL` points to
    /// `<external_url>/graph?g0.expr=…`.
    pub external_url: String,
    /// Labels templates see as `$externalLabels`.
    pub external_labels: BTreeMap<String, String>,
    /// A firing alert is re-sent to Alertmanager this often.
    #[serde(with = "humantime_serde")]
    pub resend_delay: Duration,
    /// How long after a restart `ALERTS_FOR_STATE` is trusted to restore
    /// the `for` state of pending and firing alerts.
    #[serde(with = "humantime_serde")]
    pub for_outage_tolerance: Duration,
    /// Least time an alert restored after a restart stays pending before it
    /// fires again.
    #[serde(with = "humantime_serde")]
    pub for_grace_period: Duration,
    /// Timeout of one POST to Alertmanager.
    #[serde(with = "humantime_serde")]
    pub notification_timeout: Duration,
    /// Alerts waiting to be sent; beyond it the oldest are dropped (and
    /// counted).
    pub notification_queue_capacity: usize,
    /// Label carrying the tenant ID on alerts sent to the shared
    /// `alertmanager_url`, so one Alertmanager can route several tenants'
    /// alerts; empty = not added. Tenants with their own
    /// `ruler_alertmanager_url` never get it.
    pub tenant_label: String,
    /// Which rule groups this replica evaluates.
    pub ring: RingConfig,
}

impl Default for RulerConfig {
    fn default() -> Self {
        Self {
            alertmanager_url: String::new(),
            evaluation_interval: Duration::from_secs(60),
            poll_interval: Duration::from_secs(60),
            external_url: String::new(),
            external_labels: BTreeMap::new(),
            resend_delay: Duration::from_secs(60),
            for_outage_tolerance: Duration::from_secs(3600),
            for_grace_period: Duration::from_secs(600),
            notification_timeout: Duration::from_secs(10),
            notification_queue_capacity: 10_000,
            tenant_label: "tenant".into(),
            ring: RingConfig::default(),
        }
    }
}

impl RulerConfig {
    /// Rejects settings that cannot work, naming the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.evaluation_interval.is_zero() || self.poll_interval.is_zero() {
            return Err(
                "ruler.evaluation_interval and ruler.poll_interval must be non-zero".into(),
            );
        }
        if self.notification_queue_capacity == 0 {
            return Err("ruler.notification_queue_capacity must be at least 1".into());
        }
        if !self.ring.instances.is_empty() && !self.ring.instances.contains(&self.ring.instance_id)
        {
            return Err(format!(
                "ruler.ring.instance_id {:?} is not in ruler.ring.instances",
                self.ring.instance_id
            ));
        }
        Ok(())
    }
}

/// Rule group assignment across ruler replicas: every replica lists the same
/// `instances` and its own `instance_id`; each group (by tenant, namespace
/// and name) belongs to exactly one of them. Empty `instances` = this
/// replica evaluates every group (single binary).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RingConfig {
    /// This replica's ID.
    pub instance_id: String,
    /// Every ruler replica's ID.
    pub instances: Vec<String>,
}

/// Splits a comma list of URLs, dropping blanks and trailing slashes.
pub fn url_list(list: &str) -> Vec<String> {
    list.split(',')
        .map(|u| u.trim().trim_end_matches('/'))
        .filter(|u| !u.is_empty())
        .map(str::to_string)
        .collect()
}
