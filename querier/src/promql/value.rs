//! The values an expression evaluates to at one evaluation time, and the
//! public shapes a finished query returns.
//!
//! Inside the evaluator every node is evaluated at a single timestamp: an
//! instant vector is a list of [`Sample`]s, a range vector a list of
//! [`RangeSeries`]. `drop_name` implements Prometheus 3's delayed `__name__`
//! removal: functions mark samples instead of stripping the name at once, and
//! the name is dropped when the step's result is finalised.

use std::sync::Arc;

use common::histogram::{FloatHistogram, HistogramSample};
use common::labels::Labels;
use common::series::{Sample as Point, Series};

/// One element of an instant vector during evaluation: a float, or a
/// native histogram when `h` is set (then `v` is meaningless).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub labels: Labels,
    pub v: f64,
    pub h: Option<Arc<FloatHistogram>>,
    /// Drop `__name__` from `labels` when the result is finalised.
    pub drop_name: bool,
}

impl Sample {
    /// A float sample.
    pub(crate) fn new(labels: Labels, v: f64) -> Self {
        Self {
            labels,
            v,
            h: None,
            drop_name: false,
        }
    }

    /// A histogram sample.
    pub(crate) fn histogram(labels: Labels, h: Arc<FloatHistogram>) -> Self {
        Self {
            labels,
            v: 0.0,
            h: Some(h),
            drop_name: false,
        }
    }

    /// True for a float sample.
    pub(crate) fn is_float(&self) -> bool {
        self.h.is_none()
    }

    /// The labels this sample will carry once delayed name removal applies.
    pub(crate) fn final_labels(&self) -> Labels {
        let mut labels = self.labels.clone();
        if self.drop_name {
            drop_metadata(&mut labels);
        }
        labels
    }
}

/// Labels describing what a metric is: its name, and the `__type__` and
/// `__unit__` labels Prometheus 3 may attach. Operations that change a
/// value's meaning drop all three.
const METADATA_LABELS: [&str; 3] = [common::labels::METRIC_NAME, "__type__", "__unit__"];

/// Removes the metric name and the type and unit metadata labels.
pub(crate) fn drop_metadata(labels: &mut Labels) {
    for name in METADATA_LABELS {
        labels.remove(name);
    }
}

/// One series of a range vector during evaluation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RangeSeries {
    pub labels: Labels,
    /// Float samples, by time.
    pub points: Vec<Point>,
    /// Histogram samples, by time.
    pub histograms: Vec<HistogramSample>,
    pub drop_name: bool,
}

impl RangeSeries {
    /// True when the series has no sample of either kind.
    pub(crate) fn is_empty(&self) -> bool {
        self.points.is_empty() && self.histograms.is_empty()
    }
}

/// The value of an expression at one evaluation time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Scalar(f64),
    String(String),
    Vector(Vec<Sample>),
    Matrix(Vec<RangeSeries>),
}

impl Value {
    /// The Prometheus name of this value's type, for error messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar(_) => "scalar",
            Value::String(_) => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// One element of an instant-vector query result.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorSample {
    /// The series' labels.
    pub labels: Labels,
    /// Evaluation time in milliseconds.
    pub t: i64,
    /// The value (meaningless when `h` is set).
    pub v: f64,
    /// The native histogram, for histogram samples.
    pub h: Option<Arc<FloatHistogram>>,
}

/// The result of a query, in Prometheus's four result types.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryValue {
    /// A single number at the evaluation time.
    Scalar {
        /// Evaluation time in milliseconds.
        t: i64,
        /// The value.
        v: f64,
    },
    /// A string literal at the evaluation time.
    String {
        /// Evaluation time in milliseconds.
        t: i64,
        /// The string.
        v: String,
    },
    /// An instant vector (instant queries), in evaluation order.
    Vector(Vec<VectorSample>),
    /// A range vector, or the result of a range query, sorted by labels.
    Matrix(Vec<Series>),
}

impl QueryValue {
    /// Prometheus's `resultType` for this value.
    pub fn result_type(&self) -> &'static str {
        match self {
            QueryValue::Scalar { .. } => "scalar",
            QueryValue::String { .. } => "string",
            QueryValue::Vector(_) => "vector",
            QueryValue::Matrix(_) => "matrix",
        }
    }
}

/// A finished query: its value and the annotations raised computing it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    /// The result.
    pub value: QueryValue,
    /// Warnings and infos for the API's `warnings` and `infos`.
    pub annotations: super::Annotations,
}
