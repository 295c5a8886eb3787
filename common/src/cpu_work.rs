//! Which threads may run CPU-heavy work inline.
//!
//! Code that does a lot of CPU work inside an async function (a head scan
//! decoding chunks) moves it to a blocking thread so that it does not hold an
//! async worker that other requests need. On the threads of a runtime that
//! exists only for such work (the querier's query pool) that move is pure
//! overhead: two thread hand-offs per scan, each of which can wait for a CPU
//! when the machine is busy. Those threads mark themselves, and
//! [`run_cpu_heavy`] runs the work inline there.

use std::cell::Cell;

thread_local! {
    static DEDICATED: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as one that exists for CPU-heavy work (call it
/// from a runtime's `on_thread_start`).
pub fn mark_dedicated_thread() {
    DEDICATED.with(|d| d.set(true));
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
