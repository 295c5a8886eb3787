//! Whether the ingester can write its WALs. A failed WAL write refuses the
//! push with a message naming the WAL and the fix, counts
//! `cairn_ingester_wal_write_failures_total` and drops
//! `cairn_ingester_wal_writable` to 0, which makes `/ready` answer 503.
//! The next successful write — or, when no push comes, a probe file written
//! by `/ready` — brings it back: a full disk needs no restart.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use common::push::PushError;
use common::wal::WalError;
use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

/// The probe `/ready` writes in the WAL directory while writes fail; `@`
/// is not a tenant ID character, so no tenant's directory has this name.
const PROBE_FILE: &str = "write-probe@cairn";

/// The WAL's writability, shared by every tenant's WALs (they live on one
/// filesystem under `ingester.wal_dir`).
pub(crate) struct WalHealth {
    dir: PathBuf,
    writable: AtomicBool,
    /// Why the last write failed, while it is failing.
    failure: Mutex<Option<String>>,
    writable_gauge: Gauge,
    failures: Counter,
}

impl WalHealth {
    /// Writable until a write fails; `writable_gauge` and `failures` are the
    /// registered `cairn_ingester_wal_writable` and
    /// `cairn_ingester_wal_write_failures_total`.
    pub(crate) fn new(dir: &Path, writable_gauge: Gauge, failures: Counter) -> Self {
        writable_gauge.set(1);
        Self {
            dir: dir.to_path_buf(),
            writable: AtomicBool::new(true),
            failure: Mutex::new(None),
            writable_gauge,
            failures,
        }
    }

    /// Notes the outcome of a push: `Ok(n)` with `n` items written to the
    /// WAL, or the refusal. A WAL refusal marks the WAL unwritable; a
    /// successful write marks it writable again.
    pub(crate) fn record(&self, outcome: Result<usize, &PushError>) {
        match outcome {
            Err(PushError::Wal(why)) => {
                self.failures.inc();
                self.writable.store(false, Ordering::Relaxed);
                self.writable_gauge.set(0);
                *self.failure.lock() = Some(why.clone());
            }
            Ok(written) if written > 0 => self.recovered(),
            Ok(_) | Err(_) => {}
        }
    }

    fn recovered(&self) {
        if !self.writable.load(Ordering::Relaxed) {
            self.writable.store(true, Ordering::Relaxed);
            self.writable_gauge.set(1);
            *self.failure.lock() = None;
            tracing::info!(dir = %self.dir.display(), "the WAL is writable again");
        }
    }

    /// `Ok` while the WAL is writable. While writes fail, probes the WAL
    /// directory with a small fsynced file and reports writable again once
    /// that succeeds; otherwise returns the last failure.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.writable.load(Ordering::Relaxed) {
            return Ok(());
        }
        match self.probe() {
            Ok(()) => {
                self.recovered();
                Ok(())
            }
            Err(e) => Err(self.failure.lock().clone().unwrap_or_else(|| {
                format!(
                    "the WAL directory {} is not writable: {e}",
                    self.dir.display()
                )
            })),
        }
    }

    fn probe(&self) -> std::io::Result<()> {
        let path = self.dir.join(PROBE_FILE);
        let written = std::fs::File::create(&path).and_then(|mut f| {
            f.write_all(&[0u8; 4096])?;
            f.sync_data()
        });
        let removed = std::fs::remove_file(&path);
        written.and(removed)
    }
}

/// The push refusal for a failed WAL write: names the WAL file and error,
/// says nothing of the request was stored and how to fix it.
pub(crate) fn refusal(e: WalError) -> PushError {
    PushError::Wal(message(&e, "; nothing of this request was stored"))
}

/// `e` with its `err-cairn-*` ID and the fix, for operators (a failed cut
/// or flush).
pub(crate) fn describe(e: &WalError) -> String {
    message(e, "")
}

fn message(e: &WalError, consequence: &str) -> String {
    let hint = if e.is_out_of_space() {
        "free space on the filesystem of ingester.wal_dir; writes resume by themselves, no restart needed"
    } else {
        "check the filesystem of ingester.wal_dir (permissions, health); writes resume once it accepts them"
    };
    format!(
        "err-cairn-wal-unwritable: the ingester could not write its write-ahead log ({e}){consequence}: {hint}"
    )
}
