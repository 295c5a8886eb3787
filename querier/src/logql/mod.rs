//! LogQL: Loki's query language, parsed ([`parse`]) and evaluated
//! ([`LogqlEngine`]) over any [`LogStore`]: log queries return streams,
//! metric queries return Prometheus-shaped vectors and matrices.

/// The syntax tree and its canonical text form.
pub mod ast;
mod binary;
mod error;
mod go_time;
pub(crate) mod ip_filter;
pub(crate) mod json;
mod json_scan;
mod lexer;
mod line_filter;
pub(crate) mod logfmt;
mod logs;
mod metric;
mod parallel;
mod parser;
mod pattern;
pub(crate) mod pipeline;
mod range;
mod select;
mod template;
mod tz;
mod vector;

use std::sync::Arc;

use common::logs::{Direction, LineFilter, LogStore, StreamEntries};
use common::tenant::TenantId;

pub use ast::Expr;
pub use error::{LogqlError, ParseError};
pub use parser::{parse, parse_selector};
pub use pipeline::{ERROR_DETAILS_LABEL, ERROR_LABEL};

use crate::promql::QueryValue;

/// What to evaluate a query over.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueryParams {
    /// First evaluation time (range queries) or the evaluation time
    /// (instant), nanoseconds.
    pub start_ns: i64,
    /// Last evaluation time; for log queries the exclusive end of the lines.
    pub end_ns: i64,
    /// Step between evaluations, nanoseconds (ignored for instant queries).
    pub step_ns: i64,
    /// True for an instant query (one evaluation at `start_ns`).
    pub instant: bool,
    /// Most lines a log query returns.
    pub limit: usize,
    /// Which end of the range a log query returns first.
    pub direction: Direction,
    /// Log queries: only lines at least this far (ns) from the previous
    /// one returned (Loki's `interval`; 0 returns every line).
    pub interval_ns: i64,
}

/// A finished query's value.
#[derive(Debug, Clone, PartialEq)]
pub enum LogqlValue {
    /// Log lines by stream, entries in the requested direction.
    Streams(Vec<StreamEntries>),
    /// Numbers: a scalar, an instant vector or a matrix.
    Metric(QueryValue),
}

/// How much a query read, for Loki's `stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExecStats {
    /// Lines the store returned to the pipeline.
    pub lines: u64,
    /// Bytes of those lines.
    pub bytes: u64,
}

/// A finished query.
#[derive(Debug, Clone, PartialEq)]
pub struct LogqlResult {
    /// The value.
    pub value: LogqlValue,
    /// What it read.
    pub stats: ExecStats,
}

/// The filter the engine pushes down to the store for `log`: its leading
/// line filters as one predicate (`None` without any). Stores and
/// benchmarks use it to apply a query's filters exactly as the engine does.
pub fn pushed_line_filter(log: &ast::LogExpr) -> Result<Option<LineFilter>, LogqlError> {
    let pipeline = pipeline::Pipeline::compile(log).map_err(LogqlError::BadQuery)?;
    Ok(line_filter::push_down(pipeline.pushed_filters()))
}

/// Evaluates LogQL over a log store.
pub struct LogqlEngine {
    store: Arc<dyn LogStore>,
}

impl LogqlEngine {
    /// An engine reading from `store`.
    pub fn new(store: Arc<dyn LogStore>) -> Self {
        Self { store }
    }

    /// The store it reads.
    pub fn store(&self) -> &Arc<dyn LogStore> {
        &self.store
    }

    /// Parses and evaluates `query` for `tenants` (several: every stream
    /// carries `__tenant_id__`).
    pub async fn query(
        &self,
        tenants: &[TenantId],
        query: &str,
        params: &QueryParams,
    ) -> Result<LogqlResult, LogqlError> {
        let expr = parse(query)?;
        self.eval(tenants, &expr, params).await
    }

    /// Evaluates a parsed query.
    pub async fn eval(
        &self,
        tenants: &[TenantId],
        expr: &Expr,
        params: &QueryParams,
    ) -> Result<LogqlResult, LogqlError> {
        let src = select::Source {
            store: self.store.as_ref(),
            tenants,
        };
        match expr {
            Expr::Log(log) => {
                if params.instant {
                    return Err(LogqlError::BadQuery(
                        "log queries are not supported as an instant query type, please change your query to a range query type".into(),
                    ));
                }
                logs::eval(&src, log, params).await
            }
            Expr::Metric(m) => metric::eval(&src, m, params).await,
        }
    }
}
