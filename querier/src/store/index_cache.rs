//! A least-recently-used cache of open block readers, bounded by the bytes
//! their decoded indexes hold.
//!
//! A reader is cheap to keep and expensive to open (a GET of the whole
//! index plus decoding), but a tenant with years of blocks cannot keep all
//! of them in memory. Evicted readers are simply opened again on the next
//! query that needs them; queries already holding one keep it alive.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use common::block::BlockReader;
use common::logs::block::LogBlockReader;
use common::tenant::TenantId;
use common::traces::block::TraceBlockReader;
use parking_lot::Mutex;
use ulid::Ulid;

/// Which block a reader is for.
pub(crate) type BlockKey = (TenantId, Ulid);

/// A block reader worth caching: it knows how much memory it holds.
pub(crate) trait CachedReader: Send + Sync + 'static {
    /// Roughly the heap the reader holds.
    fn memory_bytes(&self) -> usize;
}

impl CachedReader for BlockReader {
    fn memory_bytes(&self) -> usize {
        BlockReader::memory_bytes(self)
    }
}

impl CachedReader for LogBlockReader {
    fn memory_bytes(&self) -> usize {
        LogBlockReader::memory_bytes(self)
    }
}

impl CachedReader for TraceBlockReader {
    fn memory_bytes(&self) -> usize {
        TraceBlockReader::memory_bytes(self)
    }
}

/// Byte-bounded LRU of block readers (metrics [`BlockReader`]s or logs
/// [`LogBlockReader`]s).
#[derive(Debug)]
pub(crate) struct IndexCache<R> {
    capacity: usize,
    inner: Mutex<Lru<R>>,
}

#[derive(Debug)]
struct Lru<R> {
    entries: HashMap<BlockKey, Entry<R>>,
    /// Last-use tick → key, oldest first.
    order: BTreeMap<u64, BlockKey>,
    tick: u64,
    bytes: usize,
}

impl<R> Default for Lru<R> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
            bytes: 0,
        }
    }
}

#[derive(Debug)]
struct Entry<R> {
    reader: Arc<R>,
    bytes: usize,
    tick: u64,
}

impl<R: CachedReader> IndexCache<R> {
    /// A cache holding readers of at most `capacity` index bytes in total.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Lru::default()),
        }
    }

    /// The cached reader for `key`, marked as just used.
    pub(crate) fn get(&self, key: &BlockKey) -> Option<Arc<R>> {
        let mut lru = self.inner.lock();
        lru.tick += 1;
        let tick = lru.tick;
        let entry = lru.entries.get_mut(key)?;
        let old = std::mem::replace(&mut entry.tick, tick);
        let reader = Arc::clone(&entry.reader);
        lru.order.remove(&old);
        lru.order.insert(tick, key.clone());
        Some(reader)
    }

    /// Caches `reader`, evicting the least recently used readers until the
    /// total fits the capacity. A reader larger than the whole capacity is
    /// not cached at all (the caller still uses it for its query).
    pub(crate) fn insert(&self, key: BlockKey, reader: Arc<R>) {
        let bytes = reader.memory_bytes();
        if bytes > self.capacity {
            tracing::debug!(block = %key.1, bytes, capacity = self.capacity, "block index larger than the whole index cache; not cached");
            return;
        }
        let mut lru = self.inner.lock();
        lru.remove(&key);
        while lru.bytes + bytes > self.capacity {
            let Some((_, oldest)) = lru.order.pop_first() else {
                break;
            };
            if let Some(e) = lru.entries.remove(&oldest) {
                lru.bytes -= e.bytes;
            }
        }
        lru.tick += 1;
        let tick = lru.tick;
        lru.order.insert(tick, key.clone());
        lru.bytes += bytes;
        lru.entries.insert(
            key,
            Entry {
                reader,
                bytes,
                tick,
            },
        );
    }

    /// Drops the reader for `key`, if cached.
    pub(crate) fn remove(&self, key: &BlockKey) {
        self.inner.lock().remove(key);
    }

    /// Index bytes currently cached.
    pub(crate) fn bytes(&self) -> usize {
        self.inner.lock().bytes
    }

    /// True when a reader for `key` is cached (without marking it used).
    #[cfg(test)]
    pub(crate) fn contains(&self, key: &BlockKey) -> bool {
        self.inner.lock().entries.contains_key(key)
    }
}

impl<R> Lru<R> {
    fn remove(&mut self, key: &BlockKey) {
        if let Some(e) = self.entries.remove(key) {
            self.order.remove(&e.tick);
            self.bytes -= e.bytes;
        }
    }
}
