//! TraceQL: Tempo's trace query language. [`parse`] builds a [`Query`]
//! (printing it gives the canonical form), [`Query::eval`] runs it over one
//! trace, and [`search()`](search::search) runs it over a
//! [`TraceStore`](common::traces::TraceStore), pushing a conservative span
//! filter down to the store.

mod ast;
mod elements;
mod eval;
mod lexer;
mod metrics;
mod metrics_compare;
mod metrics_eval;
mod metrics_exemplars;
mod parser;
mod pushdown;
mod search;
mod tags;

pub use ast::{
    Aggregate, AttrScope, Attribute, BinOp, CmpOp, FieldExpr, Intrinsic, Query, Relation,
    SpansetExpr, SpansetOp, Stage, StructuralMode, Value, format_duration, keyword_values,
};
pub use eval::{Spanset, TraceView, field_value, hex};
pub use lexer::parse_duration;
pub use metrics::{Compare, MAX_COMPARE_TOP, MAX_GROUP_BYS, MetricsFn, MetricsQuery, Ranking};
pub use metrics_eval::{
    MetricsOutcome, MetricsRequest, MetricsSeries, Steps, log2_bucket, log2_quantile, metrics,
};
pub use metrics_exemplars::{Exemplar, MAX_EXEMPLARS};
pub use parser::{parse, parse_field, parse_metrics};
pub use pushdown::{is_exact, span_filter};
pub use search::{
    SearchOutcome, SearchRequest, TraceHit, field_values, search, selected_tag_names,
};
pub use tags::tags_query;

/// Why a query does not parse, with where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parse error at line {line}, col {col}: {message}")]
pub struct ParseError {
    /// Byte offset in the query.
    pub offset: usize,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (characters).
    pub col: usize,
    /// What is wrong.
    pub message: String,
}

impl ParseError {
    pub(crate) fn at(offset: usize, message: impl Into<String>) -> Self {
        Self {
            offset,
            line: 1,
            col: offset + 1,
            message: message.into(),
        }
    }

    /// Fills in line and column from the source text.
    pub(crate) fn locate(mut self, src: &str) -> Self {
        let before = src.get(..self.offset).unwrap_or(src);
        self.line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        self.col = before[line_start..].chars().count() + 1;
        self
    }
}
