//! The threads queries execute on, apart from the threads serving HTTP.
//!
//! Parts of the read path (decoding head chunks, merging series) are CPU work
//! inside async functions. Run on the HTTP runtime, a few heavy queries would
//! occupy every worker thread and even a trivial request would wait to be
//! read. Executions therefore run on their own runtimes, sized to the number
//! of concurrent executions the fair queue allows.
//!
//! There are two: executions at [`Priority::Normal`] (a tenant set's only
//! one) run at the process's own CPU priority; executions of a tenant set
//! that has others running or waiting run on threads with the lowest
//! scheduling priority (nice 19 on Linux). When one tenant floods the
//! querier, the operating system then gives the CPU to the light queries of
//! the others first, instead of sharing it evenly among all threads. The
//! background threads also offer the CPU every 200 µs of work
//! ([`common::cpu_work::yield_point`]): without that, Linux lets them finish
//! their tick (up to 4 ms) before a waiting light query runs.
//!
//! Nice 19 rather than `SCHED_IDLE`: it still gets a small share when other
//! work keeps every core busy, so a background thread holding a series lock
//! is never starved for long; with the yield points the two isolated light
//! queries about as well (loaded p99 2.5 ms against 1.9 ms, one run each).
//!
//! The threads are marked as dedicated to CPU work
//! ([`common::cpu_work`]): head scans and PromQL evaluation run inline on
//! them instead of hopping to a blocking thread and back.

use std::future::Future;

use common::cpu_work::{QUERY_THREAD_STACK_BYTES, mark_background_thread, mark_dedicated_thread};
use tokio::runtime::{Builder, Runtime};
use tokio::task::JoinHandle;

use super::queue::Priority;
use crate::promql::QueryError;

/// Niceness of the background threads (0 is normal, 19 the lowest).
#[cfg(target_os = "linux")]
const BACKGROUND_NICENESS: libc::c_int = 19;

/// Dedicated multi-threaded runtimes for query executions.
pub(crate) struct QueryPool {
    /// `None` if the threads could not be started: executions then run on
    /// the caller's runtime, as they would without a pool.
    normal: Option<Runtime>,
    background: Option<Runtime>,
}

impl QueryPool {
    /// A pool with `threads` workers (and as many blocking threads) per
    /// priority.
    pub(crate) fn new(threads: usize) -> Self {
        let build = |name: &str, on_start: fn()| {
            let threads = threads.max(1);
            Builder::new_multi_thread()
                .worker_threads(threads)
                .max_blocking_threads(threads)
                .thread_name(name)
                .thread_stack_size(QUERY_THREAD_STACK_BYTES)
                .on_thread_start(on_start)
                .enable_all()
                .build()
                .ok()
        };
        Self {
            normal: build("cairn-query", mark_dedicated_thread),
            background: build("cairn-query-bg", || {
                mark_background_thread();
                lower_thread_priority();
            }),
        }
    }

    /// Runs `fut` on the pool of `priority`; dropping the returned guard
    /// aborts it. Must be called within a Tokio runtime.
    pub(crate) fn spawn<F>(&self, priority: Priority, fut: F) -> AbortOnDrop<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let runtime = match priority {
            Priority::Normal => &self.normal,
            Priority::Background => &self.background,
        };
        AbortOnDrop(match runtime {
            Some(rt) => rt.spawn(fut),
            None => tokio::spawn(fut),
        })
    }
}

impl Drop for QueryPool {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which is not allowed inside async code
        // (where a querier may well be dropped); let them wind down on their own.
        for rt in [self.normal.take(), self.background.take()]
            .into_iter()
            .flatten()
        {
            rt.shutdown_background();
        }
    }
}

/// Lowers the calling thread's CPU priority. Linux applies `setpriority`
/// to a single thread when given its thread ID; elsewhere this does nothing.
fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `gettid` and `setpriority` take and return plain integers
        // and touch no memory of ours; a failure only leaves the priority as
        // it was.
        let rc = unsafe {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, BACKGROUND_NICENESS)
        };
        if rc != 0 {
            tracing::debug!("could not lower a background query thread's priority");
        }
    }
}

/// A spawned execution, aborted if whoever waits for it goes away.
pub(crate) struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    /// Waits for the execution; an execution error if it panicked or was
    /// aborted.
    pub(crate) async fn join(mut self) -> Result<T, QueryError> {
        (&mut self.0)
            .await
            .map_err(|e| QueryError::Execution(format!("query execution aborted: {e}")))
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
