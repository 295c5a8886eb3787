//! Splitting per-line work over the two halves of a query's streams, on two
//! threads, when there are enough lines for it to pay off.

use common::logs::StreamEntries;

use super::LogqlError;

/// Runs CPU-heavy `f` on the blocking pool, so a large query neither
/// stalls the async workers serving other requests nor keeps its request
/// timeout from firing.
pub(crate) async fn off_runtime<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, LogqlError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => Ok(v),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Cancelled: the runtime is shutting down.
        Err(_) => Err(LogqlError::Timeout),
    }
}

/// Lines above which the work runs on two threads.
const PARALLEL_LINES: usize = 20_000;

/// `f` over `streams`, split by line count into two halves run on two
/// threads (results combined with `merge`) when there are many lines.
pub(crate) fn split_run<T: Send>(
    streams: &[StreamEntries],
    f: impl Fn(&[StreamEntries]) -> T + Sync,
    merge: impl FnOnce(T, T) -> T,
) -> T {
    let total: usize = streams.iter().map(|s| s.entries.len()).sum();
    if total < PARALLEL_LINES || streams.len() < 2 {
        return f(streams);
    }
    let (a, b) = streams.split_at(split_point(streams, total));
    let (ra, rb) = std::thread::scope(|scope| {
        let ha = scope.spawn(|| f(a));
        let rb = f(b);
        (
            ha.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
            rb,
        )
    });
    merge(ra, rb)
}

/// The index splitting `streams` (at least two) into two non-empty halves
/// of about equal line counts.
fn split_point(streams: &[StreamEntries], total: usize) -> usize {
    let mut seen = 0;
    for (i, s) in streams.iter().enumerate() {
        seen += s.entries.len();
        if seen * 2 >= total {
            return (i + 1).clamp(1, streams.len() - 1);
        }
    }
    1
}
