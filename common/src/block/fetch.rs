//! How block readers talk to object storage: retries with backoff and a
//! per-query cap on GETs in flight.
//!
//! `object_store` retries HTTP backends (S3, GCS, Azure) itself; the
//! filesystem and in-memory backends have no retry at all. Wrapping every
//! block read in [`RetryPolicy`] gives all backends the same behaviour:
//! transient failures are retried a few times with exponential backoff,
//! permanent ones (not found, permission denied, bad path) fail at once.
//! A connection or timeout failure the HTTP client already retried (under
//! `storage.s3`'s bounded retries) is not retried again: stacking both
//! would multiply the wait on an unavailable bucket.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use object_store::path::Path;
use tokio::sync::Semaphore;

/// Ranged GETs one query keeps in flight unless told otherwise.
pub const DEFAULT_FETCH_CONCURRENCY: usize = 16;

/// How often and how patiently a failed read is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 = fail on the first error).
    pub max_retries: u32,
    /// Wait before the first retry; doubled for each further one.
    pub backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            backoff: Duration::from_millis(50),
        }
    }
}

impl RetryPolicy {
    /// Runs `op` until it succeeds, fails permanently or runs out of
    /// retries. `path` is only for the log line.
    pub(crate) async fn run<T, F, Fut>(&self, path: &Path, mut op: F) -> object_store::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = object_store::Result<T>>,
    {
        let mut attempt = 0u32;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) if attempt < self.max_retries && is_transient(&e) && !client_retried(&e) => {
                    let wait = self.backoff.saturating_mul(1 << attempt.min(16));
                    attempt += 1;
                    tracing::warn!(object = %path, attempt, error = %e, ?wait, "retrying object storage read");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// True for errors worth retrying: everything except the ones that say the
/// request itself is wrong and would fail again. Exhausted retries of such
/// an error mean the store is unavailable.
pub fn is_transient(e: &object_store::Error) -> bool {
    matches!(
        e,
        object_store::Error::Generic { .. } | object_store::Error::JoinError { .. }
    )
}

/// True when `e` is a connection failure or timeout of an HTTP backend's
/// client, which retried it already within its own bounds.
fn client_retried(e: &object_store::Error) -> bool {
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        if c.is::<object_store::client::HttpError>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// How a query reads chunks: the retry policy and the GETs it may have in
/// flight. Clones share the concurrency budget, so one `FetchOptions` per
/// query, handed to every block it reads, caps the query as a whole.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    permits: Arc<Semaphore>,
    retry: RetryPolicy,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self::new(DEFAULT_FETCH_CONCURRENCY, RetryPolicy::default())
    }
}

impl FetchOptions {
    /// A fresh budget of `concurrency` GETs in flight (at least one).
    pub fn new(concurrency: usize, retry: RetryPolicy) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            retry,
        }
    }

    /// The retry policy.
    pub fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    /// Runs one read under the concurrency cap, with retries.
    pub(crate) async fn read<T, F, Fut>(&self, path: &Path, op: F) -> object_store::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = object_store::Result<T>>,
    {
        // The semaphore is never closed, so acquiring cannot fail; if it
        // somehow did, reading without a permit is the harmless fallback.
        let _permit = self.permits.acquire().await.ok();
        self.retry.run(path, op).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn transient() -> object_store::Error {
        object_store::Error::Generic {
            store: "test",
            source: "connection reset".into(),
        }
    }

    #[tokio::test]
    async fn transient_errors_are_retried_then_succeed() {
        let calls = AtomicU32::new(0);
        let policy = RetryPolicy {
            max_retries: 3,
            backoff: Duration::from_millis(1),
        };
        let got = policy
            .run(&Path::from("x"), || async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 | 1 => Err(transient()),
                    _ => Ok(7),
                }
            })
            .await
            .unwrap();
        assert_eq!(got, 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn permanent_errors_and_exhausted_retries_fail() {
        let calls = AtomicU32::new(0);
        let policy = RetryPolicy {
            max_retries: 2,
            backoff: Duration::from_millis(1),
        };
        let err = policy
            .run(&Path::from("x"), || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(object_store::Error::NotFound {
                    path: "x".into(),
                    source: "gone".into(),
                })
            })
            .await
            .unwrap_err();
        assert!(matches!(err, object_store::Error::NotFound { .. }));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "not found is not retried");

        calls.store(0, Ordering::SeqCst);
        policy
            .run(&Path::from("x"), || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(transient())
            })
            .await
            .unwrap_err();
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "first try plus two retries"
        );
    }
}
