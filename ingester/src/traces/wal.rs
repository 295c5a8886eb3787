//! A tenant's live traces behind its own write-ahead log, in
//! `<wal_dir>/<tenant>/traces/`: every newly stored span is logged (one
//! record per push, OTLP protobuf) before the push is acknowledged, and the
//! log is replayed into memory on start.

use std::path::Path;

use common::limits::Limits;
use common::traces::otlp::{decode_spans, encode_spans};
use common::traces::{Span, TracesPushOutcome};
use common::wal::{ReplayStats, Wal, WalOptions};
use parking_lot::Mutex;

use super::TenantTraces;
use crate::error::IngesterError;
use common::push::PushError;

/// One tenant's live traces and their WAL.
pub(crate) struct TracesDb {
    wal: Wal,
    live: Mutex<TenantTraces>,
}

impl TracesDb {
    /// Replays the WAL in `dir` (limits are not applied again: everything
    /// logged was acknowledged) and opens it for appending.
    pub(crate) fn open(dir: &Path, opts: WalOptions) -> Result<(Self, ReplayStats), IngesterError> {
        let mut live = TenantTraces::default();
        let unlimited = Limits {
            max_traces_per_user: 0,
            max_bytes_per_trace: 0,
            ..Limits::default()
        };
        let stats = Wal::replay(dir, |rec| {
            let spans = decode_spans(rec).map_err(|e| e.to_string())?;
            live.push(spans, &unlimited);
            Ok(())
        })
        .map_err(|e| IngesterError::Wal(format!("replaying {}: {e}", dir.display())))?;
        let wal = Wal::open(dir, opts)
            .map_err(|e| IngesterError::Wal(format!("opening {}: {e}", dir.display())))?;
        Ok((
            Self {
                wal,
                live: Mutex::new(live),
            },
            stats,
        ))
    }

    /// Stores `spans` under `limits` and logs the new ones; returns once
    /// they are in the WAL. The lock is held across the append so the log
    /// order is the memory order.
    pub(crate) fn push(
        &self,
        spans: Vec<Span>,
        limits: &Limits,
    ) -> Result<TracesPushOutcome, PushError> {
        let mut live = self.live.lock();
        let (outcome, stored) = live.push(spans, limits);
        if !stored.is_empty() {
            self.wal
                .append(&[&encode_spans(&stored)])
                .map_err(|e| PushError::Wal(e.to_string()))?;
        }
        Ok(outcome)
    }

    /// The live traces, for queries.
    pub(crate) fn live(&self) -> parking_lot::MutexGuard<'_, TenantTraces> {
        self.live.lock()
    }
}
