//! An object store wrapper that records every GET and listing and can make
//! GETs fail: how tests prove what a query reads (and does not read) and
//! that reads survive transient storage errors.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetRange, GetResult, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use parking_lot::Mutex;

/// Wraps a store, logging each GET (path and range) and failing the next
/// GETs on request with a transient error.
#[derive(Debug)]
pub struct InstrumentedStore {
    inner: Arc<dyn ObjectStore>,
    gets: Mutex<Vec<(Path, Option<GetRange>)>>,
    lists: Mutex<Vec<Option<Path>>>,
    /// GETs still to fail, and which objects they apply to (a path
    /// substring; empty = any).
    failures: Mutex<(u32, String)>,
    /// Added latency per GET, GETs in flight now and the most seen.
    delay: Mutex<Duration>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl InstrumentedStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self {
            inner,
            gets: Mutex::new(Vec::new()),
            lists: Mutex::new(Vec::new()),
            failures: Mutex::new((0, String::new())),
            delay: Mutex::new(Duration::ZERO),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        }
    }

    /// Removes and returns the GETs recorded so far.
    pub fn take_gets(&self) -> Vec<(Path, Option<GetRange>)> {
        std::mem::take(&mut *self.gets.lock())
    }

    /// Removes and returns the prefixes of the listings recorded so far.
    pub fn take_lists(&self) -> Vec<Option<Path>> {
        std::mem::take(&mut *self.lists.lock())
    }

    /// Delays every GET by `delay`, so concurrent GETs overlap measurably.
    pub fn set_get_delay(&self, delay: Duration) {
        *self.delay.lock() = delay;
    }

    /// The most GETs that were in flight at once, and resets the count.
    pub fn take_max_in_flight(&self) -> usize {
        self.max_in_flight.swap(0, Ordering::SeqCst)
    }

    /// Makes the next `n` GETs of objects whose path contains `path_part`
    /// fail with a transient (`Generic`) error.
    pub fn fail_next_gets(&self, n: u32, path_part: &str) {
        *self.failures.lock() = (n, path_part.to_string());
    }
}

impl fmt::Display for InstrumentedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InstrumentedStore({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for InstrumentedStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.gets
            .lock()
            .push((location.clone(), options.range.clone()));
        {
            let mut failures = self.failures.lock();
            if failures.0 > 0 && location.as_ref().contains(failures.1.as_str()) {
                failures.0 -= 1;
                return Err(object_store::Error::Generic {
                    store: "InstrumentedStore",
                    source: format!("injected transient failure reading {location}").into(),
                });
            }
        }
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let delay = *self.delay.lock();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let result = self.inner.get_opts(location, options).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        result
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.lists.lock().push(prefix.cloned());
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.lists.lock().push(prefix.cloned());
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}
