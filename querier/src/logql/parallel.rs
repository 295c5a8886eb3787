//! Splitting per-line work over the two halves of a query's streams, on two
//! threads, when there are enough lines for it to pay off.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::logs::{LogEntry, StreamEntries};

use super::LogqlError;

/// Sets its flag when dropped: when the future awaiting blocking work is
/// dropped (the request timed out or went away), the work stops early.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs CPU-heavy `f` on the blocking pool, so a large query neither
/// stalls the async workers serving other requests nor keeps its request
/// timeout from firing.
/// `f` gets a flag that is set once nobody waits for its result any more.
pub(crate) async fn off_runtime<T: Send + 'static>(
    f: impl FnOnce(&AtomicBool) -> T + Send + 'static,
) -> Result<T, LogqlError> {
    let cancel = Arc::new(AtomicBool::new(false));
    let _guard = CancelOnDrop(Arc::clone(&cancel));
    match tokio::task::spawn_blocking(move || f(&cancel)).await {
        Ok(v) => Ok(v),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Cancelled: the runtime is shutting down.
        Err(_) => Err(LogqlError::Timeout),
    }
}

/// Every line of `streams` with its stream, ending early once `cancel` is
/// set (checked every 1024 lines); only abandoned work is ever cut short.
pub(crate) fn lines<'a>(
    streams: &'a [StreamEntries],
    cancel: &'a AtomicBool,
) -> impl Iterator<Item = (&'a StreamEntries, &'a LogEntry)> {
    streams
        .iter()
        .flat_map(|s| s.entries.iter().map(move |e| (s, e)))
        .enumerate()
        .take_while(move |(i, _)| i % 1024 != 0 || !cancel.load(Ordering::Relaxed))
        .map(|(_, line)| line)
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
