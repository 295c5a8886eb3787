//! The Prometheus rule-file format: groups of recording and alerting rules
//! ([`RuleGroup`], [`Rule`]) as Prometheus, Mimir and Loki read and write
//! them, the query language a group is written in ([`Language`]), and the
//! checks a group passes before it is stored ([`validate`]).

mod duration;
mod validate;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use duration::PromDuration;
pub use validate::{ValidationError, validate};

/// The query language of a group's expressions: which API stored it
/// (`/prometheus/config/v1/rules` or `/loki/api/v1/rules`) and which engine
/// evaluates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Language {
    /// PromQL over the tenant's metrics (Mimir's ruler).
    Promql,
    /// LogQL metric queries over the tenant's logs (Loki's ruler).
    Logql,
}

impl Language {
    /// A short name for logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Promql => "promql",
            Language::Logql => "logql",
        }
    }
}

/// One rule group: rules evaluated in order, every `interval`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleGroup {
    /// The group's name, unique in its namespace.
    pub name: String,
    /// How often the group is evaluated; unset = `ruler.evaluation_interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<PromDuration>,
    /// Most series an alerting rule may produce and a recording rule may
    /// write per evaluation; 0 = no limit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: usize,
    /// How far in the past the group's queries look (Prometheus's
    /// `query_offset`): results and `ALERTS` are written at that earlier
    /// time, giving late samples the chance to arrive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_offset: Option<PromDuration>,
    /// The rules, in evaluation order.
    pub rules: Vec<Rule>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl RuleGroup {
    /// The query offset in milliseconds (0 when unset).
    pub fn query_offset_ms(&self) -> i64 {
        self.query_offset
            .map_or(0, |d| i64::try_from(d.0.as_millis()).unwrap_or(i64::MAX))
    }

    /// The evaluation interval, `default` when the group sets none.
    pub fn interval_or(&self, default: Duration) -> Duration {
        self.interval.map_or(default, |d| d.0)
    }
}

/// One recording (`record`) or alerting (`alert`) rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Name of the series a recording rule writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// Name of the alert an alerting rule raises.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    /// The query (PromQL or LogQL, by the group's [`Language`]).
    pub expr: String,
    /// How long the condition must hold before the alert fires.
    #[serde(rename = "for", default, skip_serializing_if = "Option::is_none")]
    pub for_: Option<PromDuration>,
    /// How long an alert keeps firing after its condition cleared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_firing_for: Option<PromDuration>,
    /// Labels added to (and overriding those of) every result; templates
    /// in alerting rules.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Alerting rules: templated descriptions sent with the alert.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Rule {
    /// The recorded series' or the alert's name.
    pub fn name(&self) -> &str {
        self.record
            .as_deref()
            .or(self.alert.as_deref())
            .unwrap_or_default()
    }

    /// True for an alerting rule.
    pub fn is_alert(&self) -> bool {
        self.alert.is_some()
    }

    /// The `for` duration (zero when unset).
    pub fn hold(&self) -> Duration {
        self.for_.map_or(Duration::ZERO, |d| d.0)
    }

    /// The `keep_firing_for` duration (zero when unset).
    pub fn keep_firing(&self) -> Duration {
        self.keep_firing_for.map_or(Duration::ZERO, |d| d.0)
    }
}

/// Parses one group's YAML (the body of `POST …/rules/<namespace>`).
pub fn parse_group(yaml: &str) -> Result<RuleGroup, ValidationError> {
    serde_saphyr::from_str(yaml).map_err(|e| ValidationError::Yaml(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_yaml_round_trips_in_prometheus_format() {
        let yaml = "name: api\ninterval: 30s\nlimit: 10\nquery_offset: 1m\nrules:\n\
            - record: job:up:sum\n  expr: sum by (job) (up)\n  labels:\n    team: a\n\
            - alert: Down\n  expr: up == 0\n  for: 5m\n  keep_firing_for: 1m\n  \
            labels:\n    severity: page\n  annotations:\n    summary: '{{ $labels.job }} down'\n";
        let g = parse_group(yaml).unwrap();
        assert_eq!(g.name, "api");
        assert_eq!(
            g.interval_or(Duration::from_secs(60)),
            Duration::from_secs(30)
        );
        assert_eq!(g.limit, 10);
        assert_eq!(g.query_offset_ms(), 60_000);
        assert_eq!(g.rules[0].name(), "job:up:sum");
        assert!(!g.rules[0].is_alert());
        assert_eq!(g.rules[1].hold(), Duration::from_secs(300));
        assert_eq!(g.rules[1].keep_firing(), Duration::from_secs(60));
        let again = parse_group(&serde_saphyr::to_string(&g).unwrap()).unwrap();
        assert_eq!(again, g);
        let text = serde_saphyr::to_string(&g).unwrap();
        assert!(text.contains("for: 5m"), "{text}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err =
            parse_group("name: a\nrules:\n- record: x\n  expr: up\n  bogus: 1\n").unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
    }
}
