//! Why a query failed. The HTTP layer maps each variant to Prometheus's
//! `errorType` and status code in one place (`api::error`).

use common::series::StoreError;

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The query text is not valid PromQL.
    #[error("{0}")]
    Parse(String),
    /// The query is valid PromQL but not acceptable for this request
    /// (e.g. a range query over a string expression).
    #[error("{0}")]
    BadQuery(String),
    /// Evaluation failed (many-to-many matching, duplicate label sets, …).
    #[error("{0}")]
    Execution(String),
    /// The query would hold more samples in memory than allowed.
    #[error(
        "query processing would load too many samples into memory in query execution (limit: {limit} samples, `max_samples`)"
    )]
    TooManySamples {
        /// The limit in force.
        limit: usize,
    },
    /// The query ran longer than its timeout.
    #[error("query timed out in expression evaluation")]
    Timeout,
    /// Nobody waits for the answer any more (the client went away), so the
    /// evaluation stopped.
    #[error("query cancelled: the client closed the connection")]
    Cancelled,
    /// The store failed or refused (e.g. `max_fetched_series_per_query`).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl QueryError {
    /// Shorthand for an evaluation error.
    pub(crate) fn exec(msg: impl Into<String>) -> Self {
        QueryError::Execution(msg.into())
    }
}
