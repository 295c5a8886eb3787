//! The threads queries execute on, apart from the threads serving HTTP.
//!
//! Parts of the read path (decoding head chunks, merging series) are CPU work
//! inside async functions. Run on the HTTP runtime, a few heavy queries would
//! occupy every worker thread and even a trivial request would wait to be
//! read. Executions therefore run on their own runtime, sized to the number
//! of concurrent executions the fair queue allows, and the operating system
//! shares the CPU between them and the HTTP threads.

use std::future::Future;

use tokio::runtime::{Builder, Runtime};
use tokio::task::JoinHandle;

/// A dedicated multi-threaded runtime for query executions.
pub(crate) struct QueryPool {
    /// `None` if the threads could not be started: executions then run on
    /// the caller's runtime, as they would without a pool.
    runtime: Option<Runtime>,
}

impl QueryPool {
    /// A pool with `threads` workers (and as many blocking threads).
    pub(crate) fn new(threads: usize) -> Self {
        let threads = threads.max(1);
        let runtime = Builder::new_multi_thread()
            .worker_threads(threads)
            .max_blocking_threads(threads)
            .thread_name("cairn-query")
            .enable_all()
            .build()
            .ok();
        Self { runtime }
    }

    /// Runs `fut` on the pool; dropping the returned guard aborts it.
    /// Must be called within a Tokio runtime.
    pub(crate) fn spawn<F>(&self, fut: F) -> AbortOnDrop<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        AbortOnDrop(match &self.runtime {
            Some(rt) => rt.spawn(fut),
            None => tokio::spawn(fut),
        })
    }
}

impl Drop for QueryPool {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which is not allowed inside async code
        // (where a querier may well be dropped); let it wind down on its own.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// A spawned execution, aborted if whoever waits for it goes away.
pub(crate) struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    /// Waits for the execution; `Err` if it panicked or was aborted.
    pub(crate) async fn join(mut self) -> Result<T, tokio::task::JoinError> {
        (&mut self.0).await
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
