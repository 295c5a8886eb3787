//! What a group must satisfy before it is stored, with errors that say
//! which rule is wrong and why (the config API answers them as 400s).

use std::collections::HashSet;
use std::time::Duration;

use super::{Language, Rule, RuleGroup};
use crate::template::Template;

/// Why a rule group was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValidationError {
    /// The body is not a rule group in the Prometheus rule-file format.
    #[error("invalid rule group: {0}")]
    Yaml(String),
    /// The group has no name.
    #[error("invalid rule group: name must not be empty")]
    EmptyGroupName,
    /// The group has no rules.
    #[error("group {0:?}: must have at least one rule")]
    NoRules(String),
    /// The group's interval is zero.
    #[error("group {0:?}: interval must be greater than zero")]
    ZeroInterval(String),
    /// A duration of the group is beyond what Cairn schedules.
    #[error("group {group:?}: {field} must be at most 1y")]
    TooLong {
        /// The group.
        group: String,
        /// `interval` or `query_offset`.
        field: &'static str,
    },
    /// The group holds more rules than the tenant's limit.
    #[error(
        "group {group:?} has {rules} rules, over the per-group limit ruler_max_rules_per_rule_group ({limit})"
    )]
    TooManyRules {
        /// The group.
        group: String,
        /// Its rules.
        rules: usize,
        /// The tenant's limit.
        limit: usize,
    },
    /// One rule is malformed.
    #[error("group {group:?}, rule {index} ({name:?}): {reason}")]
    Rule {
        /// The group.
        group: String,
        /// Position of the rule in the group, from 1.
        index: usize,
        /// The rule's `record` or `alert` name.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

/// Longest `interval` and `query_offset` accepted (keeps schedule
/// arithmetic far from overflow).
const MAX_DURATION: Duration = Duration::from_secs(365 * 86_400);

/// Checks `group` as written in `lang`: names, expressions (parsed by the
/// engine that will run them), label names, templates, duplicates, and the
/// tenant's `max_rules` (0 = no limit).
pub fn validate(
    group: &RuleGroup,
    lang: Language,
    max_rules: usize,
) -> Result<(), ValidationError> {
    if group.name.trim().is_empty() {
        return Err(ValidationError::EmptyGroupName);
    }
    if group.rules.is_empty() {
        return Err(ValidationError::NoRules(group.name.clone()));
    }
    if group.interval.is_some_and(|d| d.0.is_zero()) {
        return Err(ValidationError::ZeroInterval(group.name.clone()));
    }
    for (field, d) in [
        ("interval", group.interval),
        ("query_offset", group.query_offset),
    ] {
        if d.is_some_and(|d| d.0 > MAX_DURATION) {
            return Err(ValidationError::TooLong {
                group: group.name.clone(),
                field,
            });
        }
    }
    if max_rules > 0 && group.rules.len() > max_rules {
        return Err(ValidationError::TooManyRules {
            group: group.name.clone(),
            rules: group.rules.len(),
            limit: max_rules,
        });
    }
    let mut seen = HashSet::new();
    for (i, rule) in group.rules.iter().enumerate() {
        let fail = |reason: String| ValidationError::Rule {
            group: group.name.clone(),
            index: i + 1,
            name: rule.name().to_string(),
            reason,
        };
        check_rule(rule, lang).map_err(fail)?;
        let key = (rule.is_alert(), rule.name(), &rule.labels);
        if !seen.insert(key) {
            return Err(fail(format!(
                "duplicate rule: another {} named {:?} with the same labels is in this group",
                if rule.is_alert() {
                    "alert"
                } else {
                    "recording rule"
                },
                rule.name()
            )));
        }
    }
    Ok(())
}

fn check_rule(rule: &Rule, lang: Language) -> Result<(), String> {
    match (&rule.record, &rule.alert) {
        (Some(_), Some(_)) => return Err("only one of 'record' and 'alert' may be set".into()),
        (None, None) => return Err("one of 'record' or 'alert' must be set".into()),
        (Some(record), None) => {
            if !is_metric_name(record) {
                return Err(format!("invalid recording rule name: {record:?}"));
            }
            if rule.for_.is_some() {
                return Err("invalid field 'for' in recording rule".into());
            }
            if rule.keep_firing_for.is_some() {
                return Err("invalid field 'keep_firing_for' in recording rule".into());
            }
            if !rule.annotations.is_empty() {
                return Err("invalid field 'annotations' in recording rule".into());
            }
        }
        (None, Some(alert)) => {
            if alert.trim().is_empty() {
                return Err("alert name must not be empty".into());
            }
        }
    }
    if rule.expr.trim().is_empty() {
        return Err("field 'expr' must be set in rule".into());
    }
    check_expr(&rule.expr, lang)?;
    for (name, value) in &rule.labels {
        if !is_label_name(name) || name == common::labels::METRIC_NAME {
            return Err(format!("invalid label name: {name:?}"));
        }
        if rule.is_alert() {
            Template::parse(value).map_err(|e| format!("label {name:?}: {e}"))?;
        }
    }
    for (name, value) in &rule.annotations {
        if !is_label_name(name) {
            return Err(format!("invalid annotation name: {name:?}"));
        }
        Template::parse(value).map_err(|e| format!("annotation {name:?}: {e}"))?;
    }
    Ok(())
}

fn check_expr(expr: &str, lang: Language) -> Result<(), String> {
    match lang {
        Language::Promql => querier::promql::parse(expr)
            .map(drop)
            .map_err(|e| format!("could not parse expression: {e}")),
        Language::Logql => match querier::logql::parse(expr) {
            Ok(querier::logql::Expr::Metric(_)) => Ok(()),
            Ok(querier::logql::Expr::Log(_)) => Err(
                "a log query cannot be a rule: use a metric query (e.g. count_over_time(...))"
                    .into(),
            ),
            Err(e) => Err(format!("could not parse expression: {e}")),
        },
    }
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::parse_group;

    fn check(yaml: &str, lang: Language) -> Result<(), String> {
        let g = parse_group(yaml).map_err(|e| e.to_string())?;
        validate(&g, lang, 3).map_err(|e| e.to_string())
    }

    #[test]
    fn good_groups_pass() {
        check(
            "name: g\nrules:\n- record: a:b\n  expr: sum(up)\n- alert: A\n  expr: up == 0\n  for: 1m\n  annotations:\n    s: '{{ $labels.job }} is {{ $value | humanize }}'\n",
            Language::Promql,
        )
        .unwrap();
        check(
            "name: g\nrules:\n- alert: Errors\n  expr: sum(rate({app=\"api\"} |= \"error\" [1m])) > 1\n",
            Language::Logql,
        )
        .unwrap();
    }

    #[test]
    fn errors_name_the_rule_and_the_problem() {
        let cases = [
            (
                "name: ''\nrules:\n- record: a\n  expr: up\n",
                "name must not be empty",
            ),
            ("name: g\nrules: []\n", "at least one rule"),
            (
                "name: g\nrules:\n- record: a\n  expr: sum(\n",
                "rule 1 (\"a\"): could not parse",
            ),
            (
                "name: g\nrules:\n- expr: up\n",
                "one of 'record' or 'alert'",
            ),
            (
                "name: g\nrules:\n- record: a\n  alert: b\n  expr: up\n",
                "only one of",
            ),
            (
                "name: g\nrules:\n- record: 'a-b'\n  expr: up\n",
                "invalid recording rule name",
            ),
            (
                "name: g\nrules:\n- record: a\n  expr: up\n  for: 1m\n",
                "'for' in recording rule",
            ),
            (
                "name: g\nrules:\n- alert: A\n  expr: up\n  labels:\n    'a-b': x\n",
                "invalid label name",
            ),
            (
                "name: g\nrules:\n- alert: A\n  expr: up\n  annotations:\n    s: '{{ $labels.x '\n",
                "annotation \"s\"",
            ),
            (
                "name: g\nrules:\n- alert: A\n  expr: up\n  annotations:\n    s: '{{ nosuch }}'\n",
                "nosuch",
            ),
            (
                "name: g\nrules:\n- record: a\n  expr: up\n- record: a\n  expr: up\n",
                "rule 2 (\"a\"): duplicate rule",
            ),
            (
                "name: g\nrules:\n- record: a\n  expr: up\n- record: b\n  expr: up\n- record: c\n  expr: up\n- record: d\n  expr: up\n",
                "ruler_max_rules_per_rule_group (3)",
            ),
            (
                "name: g\ninterval: 0s\nrules:\n- record: a\n  expr: up\n",
                "interval must be greater than zero",
            ),
        ];
        for (yaml, want) in cases {
            let err = check(yaml, Language::Promql).unwrap_err();
            assert!(err.contains(want), "{yaml}: {err}");
        }
        let err = check(
            "name: g\nrules:\n- record: a\n  expr: '{app=\"x\"}'\n",
            Language::Logql,
        )
        .unwrap_err();
        assert!(err.contains("log query cannot be a rule"), "{err}");
        let err = check(
            "name: g\nrules:\n- record: a\n  expr: 'sum(up'\n",
            Language::Logql,
        )
        .unwrap_err();
        assert!(err.contains("could not parse"), "{err}");
    }

    #[test]
    fn same_alert_name_with_other_labels_is_fine() {
        check(
            "name: g\nrules:\n- alert: A\n  expr: up > 1\n  labels:\n    severity: warn\n- alert: A\n  expr: up > 2\n  labels:\n    severity: page\n",
            Language::Promql,
        )
        .unwrap();
    }
}
