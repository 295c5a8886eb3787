//! The heads of one tenant's signal: the one being appended to, those cut
//! and waiting for their block upload, and those uploaded but still served
//! until queriers are sure to list the new block. Metrics and logs cut,
//! upload and expire heads the same way, so the bookkeeping lives here once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::tenant::TenantId;

use crate::error::IngesterError;

/// A head that was cut and waits for its block upload, with the first WAL
/// segment that does not belong to it.
struct Pending<H> {
    head: Arc<H>,
    next_segment: u64,
}

/// Current, pending and recently uploaded heads, oldest first.
pub(crate) struct HeadSet<H> {
    current: Arc<H>,
    pending: Vec<Pending<H>>,
    /// Heads whose blocks are uploaded, kept queryable (with when they were
    /// uploaded) until queriers are sure to have listed the new blocks.
    uploaded: Vec<(Arc<H>, Instant)>,
}

impl<H> HeadSet<H> {
    /// A set holding only `current`.
    pub(crate) fn new(current: H) -> Self {
        Self {
            current: Arc::new(current),
            pending: Vec::new(),
            uploaded: Vec::new(),
        }
    }

    /// The head appends go to.
    pub(crate) fn current(&self) -> &Arc<H> {
        &self.current
    }

    /// Makes `next` current and queues the old head for upload; its data
    /// lives in the WAL segments before `next_segment`.
    pub(crate) fn cut(&mut self, next: H, next_segment: u64) {
        let old = std::mem::replace(&mut self.current, Arc::new(next));
        self.pending.push(Pending {
            head: old,
            next_segment,
        });
    }

    /// The oldest head waiting for upload and its `next_segment`.
    pub(crate) fn first_pending(&self) -> Option<(Arc<H>, u64)> {
        self.pending
            .first()
            .map(|p| (Arc::clone(&p.head), p.next_segment))
    }

    /// Marks the oldest pending head as uploaded now.
    pub(crate) fn uploaded_first(&mut self) {
        if !self.pending.is_empty() {
            let done = self.pending.remove(0);
            self.uploaded.push((done.head, Instant::now()));
        }
    }

    /// Forgets uploaded heads older than `retain`.
    pub(crate) fn expire(&mut self, retain: Duration) {
        self.uploaded.retain(|(_, at)| at.elapsed() < retain);
    }

    /// Every head still served: uploaded, pending, then current.
    pub(crate) fn all(&self) -> Vec<Arc<H>> {
        let uploaded = self.uploaded.iter().map(|(h, _)| h);
        let pending = self.pending.iter().map(|p| &p.head);
        uploaded
            .chain(pending)
            .chain([&self.current])
            .map(Arc::clone)
            .collect()
    }
}

/// Between half and all of `d`, picked from the clock's nanoseconds (no
/// need for a real random source to spread retries).
fn jittered(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    d / 2 + d.mul_f64(f64::from(nanos % 1000) / 2000.0)
}

/// Runs `upload` up to `attempts` times with exponential backoff (200 ms
/// doubling to 30 s) and jitter (each wait between half and all of it, so
/// ingesters throttled together by the store do not retry in step),
/// logging each failure; the last error is returned.
pub(crate) async fn upload_with_retry<T, E, F, Fut>(
    tenant: &TenantId,
    attempts: u32,
    mut upload: F,
) -> Result<T, IngesterError>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut backoff = Duration::from_millis(200);
    let mut attempt = 1;
    loop {
        match upload().await {
            Ok(v) => return Ok(v),
            Err(e) if attempt >= attempts => {
                return Err(IngesterError::Upload(format!(
                    "tenant {tenant}: {e} (after {attempt} attempts)"
                )));
            }
            Err(e) => {
                tracing::warn!(%tenant, attempt, error = %e, "block upload failed, retrying");
                tokio::time::sleep(jittered(backoff)).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
                attempt += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_between_half_and_all_of_the_backoff() {
        let d = Duration::from_millis(800);
        for _ in 0..100 {
            let j = jittered(d);
            assert!(j >= d / 2 && j <= d, "{j:?}");
        }
    }
}
