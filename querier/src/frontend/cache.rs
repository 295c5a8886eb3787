//! The results cache: finished range-query splits in memory, bounded by an
//! estimate of their size in bytes, least recently used evicted first.
//!
//! Only splits that end before `now - max_freshness` are stored: older data is
//! assumed complete, newer data may still be arriving.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::series::{Sample, Series};
use parking_lot::Mutex;

/// Bytes charged per cache entry beyond its series (key, bookkeeping).
const ENTRY_OVERHEAD: usize = 128;

/// One cached split result.
pub(crate) type CachedMatrix = Arc<Vec<Series>>;

struct Entry {
    value: CachedMatrix,
    bytes: usize,
    /// Position in the recency order.
    tick: u64,
}

#[derive(Default)]
struct Lru {
    entries: HashMap<String, Entry>,
    /// tick → key, oldest first.
    recency: BTreeMap<u64, String>,
    bytes: usize,
    next_tick: u64,
}

impl Lru {
    fn touch(&mut self, key: &str) -> Option<CachedMatrix> {
        let tick = self.next_tick;
        let entry = self.entries.get_mut(key)?;
        self.recency.remove(&entry.tick);
        entry.tick = tick;
        self.recency.insert(tick, key.to_string());
        self.next_tick += 1;
        Some(Arc::clone(&entry.value))
    }

    fn remove(&mut self, key: &str) {
        if let Some(old) = self.entries.remove(key) {
            self.recency.remove(&old.tick);
            self.bytes -= old.bytes;
        }
    }
}

/// Counters a cache keeps about itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups of cacheable splits that had to be evaluated.
    pub misses: u64,
    /// Entries held now.
    pub entries: usize,
    /// Estimated bytes held now.
    pub bytes: usize,
}

/// An LRU map from split keys to matrices, bounded by estimated bytes.
pub(crate) struct ResultsCache {
    max_bytes: usize,
    lru: Mutex<Lru>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl ResultsCache {
    /// A cache holding at most `max_bytes` (zero disables it).
    pub(crate) fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            lru: Mutex::new(Lru::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Whether anything can be stored at all.
    pub(crate) fn enabled(&self) -> bool {
        self.max_bytes > 0
    }

    /// The cached result for `key`, counting a hit or a miss.
    pub(crate) fn get(&self, key: &str) -> Option<CachedMatrix> {
        let found = self.lru.lock().touch(key);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Stores `value` under `key`, evicting the least recently used entries
    /// to stay within the byte bound. Values larger than the bound are not
    /// stored.
    pub(crate) fn put(&self, key: String, value: CachedMatrix) {
        let bytes = ENTRY_OVERHEAD + key.len() + matrix_bytes(&value);
        if bytes > self.max_bytes {
            return;
        }
        let mut lru = self.lru.lock();
        lru.remove(&key);
        while lru.bytes + bytes > self.max_bytes {
            let Some((_, oldest)) = lru.recency.pop_first() else {
                break;
            };
            if let Some(old) = lru.entries.remove(&oldest) {
                lru.bytes -= old.bytes;
            }
        }
        let tick = lru.next_tick;
        lru.next_tick += 1;
        lru.recency.insert(tick, key.clone());
        lru.bytes += bytes;
        lru.entries.insert(key, Entry { value, bytes, tick });
    }

    /// Hits, misses and current size.
    pub(crate) fn stats(&self) -> CacheStats {
        let lru = self.lru.lock();
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: lru.entries.len(),
            bytes: lru.bytes,
        }
    }
}

/// Estimated heap bytes of a matrix.
fn matrix_bytes(m: &[Series]) -> usize {
    m.iter()
        .map(|s| {
            let labels: usize = s
                .labels
                .iter()
                .map(|l| l.name.len() + l.value.len() + 48)
                .sum();
            let histograms: usize = s.histograms.iter().map(|h| h.h.heap_bytes()).sum();
            std::mem::size_of::<Series>()
                + labels
                + s.samples.len() * std::mem::size_of::<Sample>()
                + histograms
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use common::labels::Labels;

    use super::*;

    fn matrix(points: usize) -> CachedMatrix {
        let samples = (0..points)
            .map(|i| Sample {
                t: i as i64,
                v: 1.0,
            })
            .collect();
        Arc::new(vec![Series::floats(
            Labels::from_pairs([("__name__", "m")]),
            samples,
        )])
    }

    #[test]
    fn least_recently_used_is_evicted_to_stay_under_the_bound() {
        let one = ENTRY_OVERHEAD + 1 + matrix_bytes(&matrix(100));
        let cache = ResultsCache::new(2 * one);
        cache.put("a".into(), matrix(100));
        cache.put("b".into(), matrix(100));
        assert!(cache.get("a").is_some()); // a is now the most recent
        cache.put("c".into(), matrix(100));
        assert!(cache.get("b").is_none());
        assert!(cache.get("a").is_some());
        assert!(cache.get("c").is_some());
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses, stats.entries), (3, 1, 2));
        assert!(stats.bytes <= 2 * one);
        cache.put("huge".into(), matrix(10_000));
        assert!(cache.get("huge").is_none());
    }
}
