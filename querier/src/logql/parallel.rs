//! Splitting per-line work over the two halves of a query's streams, on two
//! threads, when there are enough lines for it to pay off.

use common::cpu_work::{CancelFlag, QUERY_THREAD_STACK_BYTES};
use common::logs::{LogEntry, StreamEntries};

use super::LogqlError;

/// Runs CPU-heavy `f` on the blocking pool, so a large query neither
/// stalls the async workers serving other requests nor keeps its request
/// timeout from firing.
/// `f` gets a flag that is set once nobody waits for its result any more
/// (the request timed out or went away); work that ends with it set counts
/// as a cancelled query.
pub(crate) async fn off_runtime<T: Send + 'static>(
    f: impl FnOnce(&CancelFlag) -> T + Send + 'static,
) -> Result<T, LogqlError> {
    let cancel = CancelFlag::new();
    let _guard = cancel.cancel_on_drop();
    let work = move || {
        let value = f(&cancel);
        if cancel.is_cancelled() {
            crate::frontend::count_cancelled_query();
        }
        value
    };
    match tokio::task::spawn_blocking(work).await {
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
    cancel: &'a CancelFlag,
) -> impl Iterator<Item = (&'a StreamEntries, &'a LogEntry)> {
    streams
        .iter()
        .flat_map(|s| s.entries.iter().map(move |e| (s, e)))
        .enumerate()
        .take_while(move |(i, _)| i % 1024 != 0 || !cancel.is_cancelled())
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
        // Label filters nest as deep as a query allows: the helper thread
        // gets the stack of the threads that run queries.
        let helper = std::thread::Builder::new()
            .stack_size(QUERY_THREAD_STACK_BYTES)
            .spawn_scoped(scope, || f(a));
        let rb = f(b);
        let ra = match helper {
            Ok(h) => h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
            // No thread to be had: this one does both halves.
            Err(_) => f(a),
        };
        (ra, rb)
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
