//! An object store wrapper that records every GET and listing and can make
//! GETs, PUTs and deletes fail (a block upload that stops half-way), throttle
//! requests the way S3 does under load (`503 SlowDown`) and slow GETs down:
//! how tests prove what a query reads (and does not read), that
//! reads and uploads survive transient storage errors, and that a
//! compaction failing at any step loses and double-counts nothing.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetRange, GetResult, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use parking_lot::Mutex;

/// Wraps a store, logging each GET (path and range) and failing the next
/// GETs, PUTs or deletes on request.
#[derive(Debug)]
pub struct InstrumentedStore {
    inner: Arc<dyn ObjectStore>,
    gets: Mutex<Vec<(Path, Option<GetRange>)>>,
    lists: Mutex<Vec<Option<Path>>>,
    /// GETs still to fail, and which objects they apply to (a path
    /// substring; empty = any).
    failures: Mutex<Fault>,
    /// The same for PUTs and for deletes.
    put_failures: Mutex<Fault>,
    delete_failures: Arc<Mutex<Fault>>,
    /// Added latency per GET, GETs in flight now and the most seen.
    delay: Mutex<Duration>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// Requests still to refuse with S3's 503 SlowDown.
    throttled: AtomicUsize,
}

impl InstrumentedStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self {
            inner,
            gets: Mutex::new(Vec::new()),
            lists: Mutex::new(Vec::new()),
            failures: Mutex::default(),
            put_failures: Mutex::default(),
            delete_failures: Arc::default(),
            delay: Mutex::new(Duration::ZERO),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            throttled: AtomicUsize::new(0),
        }
    }

    /// Refuses the next `n` requests (GETs, PUTs, multipart upload starts,
    /// listings) as S3 does under load: `503 SlowDown`.
    pub fn throttle_next(&self, n: usize) {
        self.throttled.store(n, Ordering::SeqCst);
    }

    fn throttled(&self, op: &str, location: Option<&Path>) -> object_store::Result<()> {
        let refused = self
            .throttled
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if !refused {
            return Ok(());
        }
        let what = location.map_or_else(String::new, |l| format!(" {l}"));
        Err(object_store::Error::Generic {
            store: "S3",
            source: format!(
                "{op}{what}: 503 Service Unavailable: SlowDown: Please reduce your request rate."
            )
            .into(),
        })
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
        *self.failures.lock() = Fault::new(0, n, path_part);
    }

    /// Lets `skip` PUTs of objects whose path contains `path_part` succeed,
    /// then makes the next `n` of them fail with a transient error (the
    /// object is not written): a crash or outage at a chosen upload.
    pub fn fail_puts(&self, skip: u32, n: u32, path_part: &str) {
        *self.put_failures.lock() = Fault::new(skip, n, path_part);
    }

    /// [`InstrumentedStore::fail_puts`] for deletes (the object stays).
    pub fn fail_deletes(&self, skip: u32, n: u32, path_part: &str) {
        *self.delete_failures.lock() = Fault::new(skip, n, path_part);
    }
}

/// Injected failures of one kind of operation.
#[derive(Debug, Default)]
struct Fault {
    /// Matching operations still to let through before failing.
    skip: u32,
    /// Matching operations still to fail.
    left: u32,
    /// Which objects match (a path substring; empty = any).
    part: String,
}

impl Fault {
    fn new(skip: u32, left: u32, part: &str) -> Self {
        Self {
            skip,
            left,
            part: part.to_string(),
        }
    }
}

/// Takes one injected failure from `fault` if it applies to `location`.
fn injected(fault: &Mutex<Fault>, op: &str, location: &Path) -> Option<object_store::Error> {
    let mut fault = fault.lock();
    if fault.left == 0 || !location.as_ref().contains(fault.part.as_str()) {
        return None;
    }
    if fault.skip > 0 {
        fault.skip -= 1;
        return None;
    }
    fault.left -= 1;
    Some(object_store::Error::Generic {
        store: "InstrumentedStore",
        source: format!("injected failure: {op} {location}").into(),
    })
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
        self.throttled("put", Some(location))?;
        if let Some(e) = injected(&self.put_failures, "put", location) {
            return Err(e);
        }
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.throttled("multipart upload", Some(location))?;
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
        self.throttled("get", Some(location))?;
        if let Some(e) = injected(&self.failures, "get", location) {
            return Err(e);
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
        let failures = Arc::clone(&self.delete_failures);
        let inner = Arc::clone(&self.inner);
        // One path at a time, so a failed one never reaches the inner store.
        locations
            .then(move |location| {
                let failures = Arc::clone(&failures);
                let inner = Arc::clone(&inner);
                async move {
                    let path = location?;
                    if let Some(e) = injected(&failures, "delete", &path) {
                        return Err(e);
                    }
                    let one = futures::stream::once(futures::future::ready(Ok(path.clone())));
                    match inner.delete_stream(one.boxed()).next().await {
                        Some(result) => result,
                        None => Ok(path),
                    }
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.lists.lock().push(prefix.cloned());
        if let Err(e) = self.throttled("list", prefix) {
            return futures::stream::once(futures::future::ready(Err(e))).boxed();
        }
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.lists.lock().push(prefix.cloned());
        self.throttled("list", prefix)?;
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
