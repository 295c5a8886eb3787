//! Which threads may run CPU-heavy work inline.
//!
//! Code that does a lot of CPU work inside an async function (a head scan
//! decoding chunks) moves it to a blocking thread so that it does not hold an
//! async worker that other requests need. On the threads of a runtime that
//! exists only for such work (the querier's query pool) that move is pure
//! overhead: two thread hand-offs per scan, each of which can wait for a CPU
//! when the machine is busy. Those threads mark themselves, and
//! [`run_cpu_heavy`] runs the work inline there.
//!
//! Background threads (the query pool's low-priority ones) also offer the
//! CPU back regularly ([`yield_point`]). A lower priority alone does not get
//! a waiting normal-priority thread onto the CPU quickly: Linux with lazy or
//! no preemption switches away from a thread running user code only at the
//! next timer tick (up to 4 ms at 250 Hz), whatever the two priorities. A
//! thread that enters the kernel every [`YIELD_EVERY`] lets it switch there.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Stack size of every thread that parses, prints, evaluates or drops a
/// query (the HTTP runtime's workers and blocking threads, the query pool's
/// threads). The query languages bound a query's syntax tree to about 1,300
/// levels (`querier::promql::complexity`); the recursive code over a tree
/// that deep needs about 6 MiB in a debug build and far less in a release
/// one. Only the pages a thread touches are ever backed by memory.
pub const QUERY_THREAD_STACK_BYTES: usize = 16 << 20;

/// How long a background thread computes between two offers of the CPU.
pub const YIELD_EVERY: Duration = Duration::from_micros(200);

thread_local! {
    static DEDICATED: Cell<bool> = const { Cell::new(false) };
    /// On background threads, when the CPU was last offered.
    static LAST_YIELD: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Marks the calling thread as one that exists for CPU-heavy work (call it
/// from a runtime's `on_thread_start`).
pub fn mark_dedicated_thread() {
    DEDICATED.with(|d| d.set(true));
}

/// Marks the calling thread as a dedicated one (see
/// [`mark_dedicated_thread`]) whose work yields to every other thread: its
/// [`yield_point`]s offer the CPU.
pub fn mark_background_thread() {
    mark_dedicated_thread();
    LAST_YIELD.with(|l| l.set(Some(Instant::now())));
}

/// Called between units of long CPU work (an evaluation step, a series
/// decoded): on a background thread that has computed for [`YIELD_EVERY`]
/// since its last offer, offers the CPU to waiting threads
/// (`sched_yield`); elsewhere it does nothing.
pub fn yield_point() {
    LAST_YIELD.with(|l| {
        if let Some(last) = l.get()
            && last.elapsed() >= YIELD_EVERY
        {
            std::thread::yield_now();
            l.set(Some(Instant::now()));
        }
    });
}

/// Tells long CPU work that nobody waits for its result any more (the
/// client went away), so it stops where it checks its deadline instead of
/// running to the end. Clones share one flag.
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    /// A flag not set yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the flag.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether the flag is set.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// A guard that sets the flag when dropped: held by the future that
    /// waits for the work, it cancels the work when that future is dropped
    /// (the request went away or timed out) and, harmlessly, once the work
    /// is done.
    pub fn cancel_on_drop(&self) -> CancelOnDrop {
        CancelOnDrop(self.clone())
    }
}

/// Sets its [`CancelFlag`] when dropped (see [`CancelFlag::cancel_on_drop`]).
#[derive(Debug)]
pub struct CancelOnDrop(CancelFlag);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Runs `work` inline on a thread marked by [`mark_dedicated_thread`], else
/// on a blocking thread; `Err` carries why the blocking task did not finish
/// (it panicked or the runtime shut down).
pub async fn run_cpu_heavy<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, tokio::task::JoinError> {
    if DEDICATED.with(Cell::get) {
        return Ok(work());
    }
    tokio::task::spawn_blocking(work).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn runs_inline_only_on_marked_threads() {
        let caller = std::thread::current().id();
        let elsewhere = run_cpu_heavy(move || std::thread::current().id() != caller)
            .await
            .unwrap();
        assert!(elsewhere, "an unmarked thread hands the work off");

        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .on_thread_start(mark_dedicated_thread)
            .build()
            .unwrap();
        let inline = rt
            .spawn(async {
                let worker = std::thread::current().id();
                run_cpu_heavy(move || std::thread::current().id() == worker).await
            })
            .await
            .unwrap()
            .unwrap();
        assert!(inline, "a marked thread runs the work itself");
        rt.shutdown_background();
    }

    #[test]
    fn dropping_the_guard_cancels_every_clone() {
        let flag = CancelFlag::new();
        let seen_by_work = flag.clone();
        let guard = flag.cancel_on_drop();
        assert!(!seen_by_work.is_cancelled());
        drop(guard);
        assert!(seen_by_work.is_cancelled());
    }
}
