//! Runs a rule's expression at one timestamp through the engine of its
//! language and turns the result into `(labels, value)` samples.

use std::sync::Arc;

use common::histogram::FloatHistogram;
use common::labels::METRIC_NAME;
use common::logs::Direction;
use common::tenant::TenantId;
use querier::logql::{LogqlValue, QueryParams};
use querier::promql::{QueryRange, QueryValue};

use super::Context;
use super::alert::LabelMap;
use crate::rules::Language;

/// One sample of a rule's result.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RuleSample {
    /// The series' labels, `__name__` included when it has one.
    pub labels: LabelMap,
    /// The value (meaningless when `histogram` is set).
    pub value: f64,
    /// The native histogram, for a histogram sample (recording rules
    /// record it; alerting rules and template queries skip it, as their
    /// values are numbers).
    pub histogram: Option<Arc<FloatHistogram>>,
}

impl RuleSample {
    /// A float sample.
    pub(crate) fn float(labels: LabelMap, value: f64) -> Self {
        Self {
            labels,
            value,
            histogram: None,
        }
    }

    /// The labels without `__name__` (alerts and templates use these).
    pub(crate) fn without_name(&self) -> LabelMap {
        let mut l = self.labels.clone();
        l.remove(METRIC_NAME);
        l
    }
}

/// Evaluates `expr` for `tenant` at `ts_ms`.
pub(crate) async fn instant(
    ctx: &Context,
    tenant: &TenantId,
    lang: Language,
    expr: &str,
    ts_ms: i64,
) -> Result<Vec<RuleSample>, String> {
    let tenants = std::slice::from_ref(tenant);
    let value = match lang {
        Language::Promql => {
            ctx.promql
                .query(tenants, expr, QueryRange::Instant(ts_ms))
                .await
                .map_err(|e| e.to_string())?
                .value
        }
        Language::Logql => {
            let ts_ns = ts_ms.saturating_mul(1_000_000);
            let params = QueryParams {
                start_ns: ts_ns,
                end_ns: ts_ns,
                step_ns: 0,
                instant: true,
                limit: 0,
                direction: Direction::Backward,
                interval_ns: 0,
            };
            match ctx
                .logql
                .query(tenants, expr, &params)
                .await
                .map_err(|e| e.to_string())?
                .value
            {
                LogqlValue::Metric(v) => v,
                LogqlValue::Streams(_) => {
                    return Err("rule expression returned log lines, not a vector".into());
                }
            }
        }
    };
    samples(value)
}

/// A vector's (or scalar's) samples; other result types are errors.
pub(crate) fn samples(value: QueryValue) -> Result<Vec<RuleSample>, String> {
    match value {
        QueryValue::Vector(v) => Ok(v
            .into_iter()
            .map(|s| RuleSample {
                labels: s
                    .labels
                    .iter()
                    .map(|l| (l.name.clone(), l.value.clone()))
                    .collect(),
                value: s.v,
                histogram: s.h,
            })
            .collect()),
        QueryValue::Scalar { v, .. } => Ok(vec![RuleSample {
            labels: LabelMap::new(),
            value: v,
            histogram: None,
        }]),
        other => Err(format!(
            "rule result must be a vector or scalar, got {}",
            other.result_type()
        )),
    }
}
