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
use std::time::{Duration, Instant};

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
}
