//! The ingester's memory limiter: once the process's resident memory
//! passes `ingester.max_memory_bytes`, pushes of every signal are refused
//! with 503 and a reason (clients retry; the data is not lost) instead of
//! growing until the kernel kills the process. Queries keep working.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use common::push::PushError;

/// How often the resident size is read again, in milliseconds.
const REFRESH_MS: i64 = 100;

/// Refuses pushes while the process is over its memory limit.
#[derive(Debug)]
pub(crate) struct MemoryLimit {
    /// Bytes of resident memory allowed; 0 = no limit.
    max_bytes: u64,
    /// The resident size last read, and when (ms).
    resident: AtomicU64,
    read_at_ms: AtomicI64,
}

impl MemoryLimit {
    /// A limiter allowing `max_bytes` of resident memory (0: unlimited).
    pub(crate) fn new(max_bytes: u64) -> Self {
        Self {
            max_bytes,
            resident: AtomicU64::new(0),
            read_at_ms: AtomicI64::new(i64::MIN),
        }
    }

    /// `Ok` while under the limit; the refusal names both sizes.
    pub(crate) fn check(&self) -> Result<(), PushError> {
        if self.max_bytes == 0 {
            return Ok(());
        }
        let now = common::time::now_ms();
        let resident = if now.saturating_sub(self.read_at_ms.load(Ordering::Relaxed)) >= REFRESH_MS
        {
            let r = resident_bytes().unwrap_or(0);
            self.resident.store(r, Ordering::Relaxed);
            self.read_at_ms.store(now, Ordering::Relaxed);
            r
        } else {
            self.resident.load(Ordering::Relaxed)
        };
        if resident > self.max_bytes {
            return Err(PushError::Unavailable(format!(
                "ingester memory limit reached: {} MiB resident, ingester.max_memory_bytes is {} MiB; retry later",
                resident >> 20,
                self.max_bytes >> 20
            )));
        }
        Ok(())
    }
}

/// The process's resident set size (`VmRSS` of `/proc/self/status`).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_over_the_limit_and_never_without_one() {
        assert!(MemoryLimit::new(0).check().is_ok());
        let err = MemoryLimit::new(1).check().unwrap_err();
        assert!(
            err.to_string().contains("ingester.max_memory_bytes"),
            "{err}"
        );
        assert!(MemoryLimit::new(u64::MAX).check().is_ok());
    }
}
