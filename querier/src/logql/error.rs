//! Why a LogQL query failed.

use common::series::StoreError;

/// A syntax error, positioned like Loki's (`parse error at line 1, col 12: …`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("parse error at line {line}, col {col}: {msg}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What was wrong.
    pub msg: String,
}

impl ParseError {
    /// An error at `line`, `col`.
    pub fn new(line: usize, col: usize, msg: impl Into<String>) -> Self {
        Self {
            line,
            col,
            msg: msg.into(),
        }
    }
}

/// Why evaluating a LogQL query failed.
#[derive(Debug, thiserror::Error)]
pub enum LogqlError {
    /// The query text is not valid LogQL.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The query is valid LogQL but cannot be run as asked (e.g. a log
    /// query where a metric query is needed).
    #[error("{0}")]
    BadQuery(String),
    /// A pipeline error reached a metric result (Loki's `ErrPipeline`).
    #[error(
        "pipeline error: '{error}' for series: '{series}'.\nUse a label filter to intentionally skip this error. (e.g | __error__!=\"{error}\").\nTo skip all potential errors you can match empty errors.(e.g __error__=\"\")\nThe label filter can also be specified after unwrap. (e.g | unwrap latency | __error__=\"\" )"
    )]
    Pipeline {
        /// The `__error__` value.
        error: String,
        /// The series carrying it.
        series: String,
    },
    /// A query limit was hit.
    #[error("{0}")]
    Limit(String),
    /// The query ran longer than allowed.
    #[error("query timed out")]
    Timeout,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
