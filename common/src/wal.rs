//! Write-ahead log framing: how the ingester makes acknowledged writes
//! survive `kill -9`.
//!
//! The WAL stores opaque byte records (the ingester decides what they mean)
//! in numbered segment files in one directory, and replays them in order on
//! start-up. It knows nothing of series or tenants.
//!
//! # Format
//!
//! Segment files are named by their number, zero-padded to 8 digits like
//! Prometheus (`00000001`, `00000002`, …). Each segment is
//!
//! ```text
//! segment := header record*
//! header  := "CWAL" version:u8(=1) reserved:[u8; 3]
//! record  := len:u32le crc:u32le payload:[u8; len]
//!            crc = CRC-32 (IEEE) over the 4 length bytes and the payload
//! ```
//!
//! Covering the length with the checksum means a zero-filled or torn tail
//! never parses as a record. A process only ever appends to the segment it
//! created: the first append after [`Wal::open`] starts a new segment, so a
//! segment torn by a crash is never written to again, and a torn or corrupt
//! record simply ends its segment during [`Wal::replay`]. All records of one
//! [`Wal::append`] call go out in a single `write(2)` into a single segment.
//!
//! # A full disk
//!
//! A failed write (`ENOSPC`, a quota) is cut back off the segment, so the
//! segment stays whole and the next append retries in it; a segment whose
//! header cannot be written is removed again. Opening writes nothing, so a
//! restart on a full disk adds no file. Once space returns, appends succeed
//! again without a restart, and nothing refused was half-logged.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

const MAGIC: [u8; 4] = *b"CWAL";
const VERSION: u8 = 1;
const HEADER: [u8; 8] = [MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3], VERSION, 0, 0, 0];
const HEADER_LEN: u64 = HEADER.len() as u64;
const RECORD_HEADER_LEN: usize = 8;

/// When appended records are forced to disk with `fsync`.
///
/// In YAML/JSON it is written `always`, `never` or a duration such as `1s`
/// or `200ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum FsyncPolicy {
    /// Every [`Wal::append`] returns only once its records are on disk.
    Always,
    /// Never fsync; the OS writes back when it likes. Survives a process
    /// crash, not a machine crash.
    Never,
    /// A background thread fsyncs at this interval when there were writes: a
    /// machine crash loses at most this much acknowledged data. A zero
    /// interval behaves like [`FsyncPolicy::Always`].
    Interval(Duration),
}

impl Default for FsyncPolicy {
    fn default() -> Self {
        Self::Interval(Duration::from_secs(1))
    }
}

impl fmt::Display for FsyncPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Always => f.write_str("always"),
            Self::Never => f.write_str("never"),
            Self::Interval(d) => {
                write!(f, "{}", humantime_serde::re::humantime::format_duration(*d))
            }
        }
    }
}

impl FromStr for FsyncPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "always" => Ok(Self::Always),
            "never" => Ok(Self::Never),
            other => humantime_serde::re::humantime::parse_duration(other)
                .map(Self::Interval)
                .map_err(|e| format!("invalid WAL fsync policy {other:?} ({e}): use `always`, `never` or a duration like `1s`")),
        }
    }
}

impl TryFrom<String> for FsyncPolicy {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<FsyncPolicy> for String {
    fn from(p: FsyncPolicy) -> String {
        p.to_string()
    }
}

/// How a [`Wal`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WalOptions {
    /// A segment is closed and the next one started once a write would take
    /// it past this many bytes (default 128 MiB). One append's records are
    /// never split, so a segment can exceed this by one append.
    pub segment_size: u64,
    /// When to fsync (default every 1 s).
    pub fsync: FsyncPolicy,
}

impl Default for WalOptions {
    fn default() -> Self {
        Self {
            segment_size: 128 << 20,
            fsync: FsyncPolicy::default(),
        }
    }
}

/// What a [`Wal::replay`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Records handed to the callback.
    pub records: u64,
    /// Segment files read.
    pub segments: u64,
    /// Segments that ended in a torn or corrupt record (the records before
    /// it were replayed, the rest of that segment skipped).
    pub corrupt_segments: u64,
    /// Whole records the callback could not use (it returned an error):
    /// logged and skipped, the replay went on.
    pub skipped_records: u64,
}

/// Why a WAL operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// A file or directory operation failed.
    #[error("WAL I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A record does not fit the 32-bit length field.
    #[error("WAL record of {len} bytes exceeds the 4 GiB record limit")]
    RecordTooLarge {
        /// The record's length.
        len: usize,
    },
    /// A segment was written by a newer, incompatible Cairn.
    #[error(
        "WAL segment {} has format version {version}, this Cairn reads version {VERSION}: run a newer Cairn or move the WAL directory aside",
        path.display()
    )]
    UnsupportedVersion {
        /// The segment.
        path: PathBuf,
        /// The version found.
        version: u8,
    },
}

impl WalError {
    /// True when the write failed for lack of space (`ENOSPC`) or quota
    /// (`EDQUOT`): freeing space on the WAL's filesystem fixes it.
    pub fn is_out_of_space(&self) -> bool {
        const ENOSPC: i32 = 28;
        const EDQUOT: i32 = 122;
        matches!(self, WalError::Io { source, .. }
            if matches!(source.raw_os_error(), Some(ENOSPC | EDQUOT))
                || source.kind() == io::ErrorKind::StorageFull
                || source.kind() == io::ErrorKind::QuotaExceeded)
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> WalError + '_ {
    move |source| WalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// An open write-ahead log. Cheap to share: all methods take `&self`.
///
/// ```
/// use cairn_common::wal::{Wal, WalOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
/// wal.append(&[b"one", b"two"]).unwrap();
/// drop(wal);
/// let mut seen = Vec::new();
/// Wal::replay(dir.path(), |r| { seen.push(r.to_vec()); Ok(()) }).unwrap();
/// assert_eq!(seen, [b"one".to_vec(), b"two".to_vec()]);
/// ```
pub struct Wal {
    shared: Arc<Shared>,
    /// Dropping this stops the background fsync thread.
    stop: Option<mpsc::Sender<()>>,
    syncer: Option<JoinHandle<()>>,
}

impl fmt::Debug for Wal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.shared.dir)
            .field("opts", &self.shared.opts)
            .field("segment", &self.shared.state.lock().seg)
            .finish()
    }
}

struct Shared {
    dir: PathBuf,
    opts: WalOptions,
    state: Mutex<State>,
    /// Test hook: while set, every write to a segment stores half its bytes
    /// and fails with `ENOSPC`, as a full disk does.
    #[cfg(test)]
    disk_full: std::sync::atomic::AtomicBool,
}

struct State {
    /// Number of the open segment or, while none is open, of the segment
    /// the next append creates (no file of that number exists then).
    seg: u64,
    /// The open segment; `None` until the first append, after a cut, and
    /// after a failed fsync, so the next append starts a fresh segment.
    file: Option<Arc<File>>,
    /// Bytes in the open segment.
    size: u64,
    /// Written since the last fsync (Interval policy).
    dirty: bool,
}

impl Wal {
    /// Opens the WAL in `dir` (created if missing) for appending; the first
    /// append starts a new segment numbered after the highest existing one.
    /// Replay first with [`Wal::replay`]; old segments are left untouched.
    /// Writes nothing, so it succeeds on a full disk.
    pub fn open(dir: &Path, mut opts: WalOptions) -> Result<Wal, WalError> {
        if opts.fsync == FsyncPolicy::Interval(Duration::ZERO) {
            opts.fsync = FsyncPolicy::Always;
        }
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let last = list_segments(dir)?.last().map_or(0, |(n, _)| *n);
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            opts,
            state: Mutex::new(State {
                seg: last + 1,
                file: None,
                size: 0,
                dirty: false,
            }),
            #[cfg(test)]
            disk_full: std::sync::atomic::AtomicBool::new(false),
        });
        let (stop, syncer) = match opts.fsync {
            FsyncPolicy::Interval(every) => {
                let (tx, rx) = mpsc::channel::<()>();
                let bg = Arc::clone(&shared);
                let handle = std::thread::Builder::new()
                    .name("cairn-wal-fsync".into())
                    .spawn(move || {
                        while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                            if let Err(e) = bg.sync() {
                                tracing::warn!(error = %e, "periodic WAL fsync failed; will retry");
                            }
                        }
                    })
                    .map_err(io_err(dir))?;
                (Some(tx), Some(handle))
            }
            FsyncPolicy::Always | FsyncPolicy::Never => (None, None),
        };
        Ok(Wal {
            shared,
            stop,
            syncer,
        })
    }

    /// Feeds every record of every segment in `dir` to `f`, oldest first.
    ///
    /// A torn or checksum-failing record ends its segment: it is logged,
    /// counted in [`ReplayStats::corrupt_segments`] and replay goes on with
    /// the next segment. A missing directory is an empty WAL. A record `f`
    /// returns an error for is logged at warn with its segment, counted in
    /// [`ReplayStats::skipped_records`] and skipped (as Prometheus's WAL
    /// repair does): one bad record never stops a start-up.
    pub fn replay(
        dir: &Path,
        mut f: impl FnMut(&[u8]) -> Result<(), String>,
    ) -> Result<ReplayStats, WalError> {
        let mut stats = ReplayStats::default();
        if !dir.exists() {
            return Ok(stats);
        }
        for (_, path) in list_segments(dir)? {
            stats.segments += 1;
            match replay_segment(&path, &mut f, &mut stats)? {
                SegmentEnd::Clean => {}
                SegmentEnd::Corrupt(why) => {
                    tracing::warn!(segment = %path.display(), reason = %why, "WAL segment ends in a torn or corrupt record; skipping the rest of it");
                    stats.corrupt_segments += 1;
                }
            }
        }
        Ok(stats)
    }

    /// Appends `records` with one write into the current segment (starting
    /// the next segment first if they would overflow it), then fsyncs as the
    /// policy says.
    pub fn append(&self, records: &[&[u8]]) -> Result<(), WalError> {
        if records.is_empty() {
            return Ok(());
        }
        let total: usize = records.iter().map(|r| r.len() + RECORD_HEADER_LEN).sum();
        let mut buf = Vec::with_capacity(total);
        for r in records {
            let len =
                u32::try_from(r.len()).map_err(|_| WalError::RecordTooLarge { len: r.len() })?;
            let len = len.to_le_bytes();
            let mut crc = crc32fast::Hasher::new();
            crc.update(&len);
            crc.update(r);
            buf.extend_from_slice(&len);
            buf.extend_from_slice(&crc.finalize().to_le_bytes());
            buf.extend_from_slice(r);
        }

        let shared = &self.shared;
        let (file, path) = {
            let mut st = shared.state.lock();
            let full = st.size > HEADER_LEN
                && st.size.saturating_add(buf.len() as u64) > shared.opts.segment_size;
            if full {
                shared.close_segment(&mut st)?;
            }
            let file = match &st.file {
                Some(file) => Arc::clone(file),
                None => shared.open_segment(&mut st)?,
            };
            let path = shared.segment_path(st.seg);
            if let Err(e) = shared.write(&file, &buf) {
                // Cut the partial records back off so the segment stays
                // whole and the next append can retry in it; if even that
                // fails, never write after the torn record again.
                if file.set_len(st.size).is_err() {
                    st.file = None;
                    st.seg += 1;
                }
                return Err(WalError::Io { path, source: e });
            }
            st.size += buf.len() as u64;
            st.dirty = true;
            (file, path)
        };
        if shared.opts.fsync == FsyncPolicy::Always {
            // Outside the lock, so concurrent appenders share fsyncs; ours
            // covers everything written to the file before it.
            if let Err(e) = file.sync_data() {
                shared.abandon(&file);
                return Err(WalError::Io { path, source: e });
            }
        }
        Ok(())
    }

    /// Closes the current segment, returning the number of the segment the
    /// next append goes to: every record appended before this call is in a
    /// lower-numbered segment.
    pub fn cut_segment(&self) -> Result<u64, WalError> {
        let mut st = self.shared.state.lock();
        self.shared.close_segment(&mut st)?;
        Ok(st.seg)
    }

    /// Deletes the segment files numbered below `segment` (never the one
    /// being written), returning how many were removed.
    pub fn remove_segments_before(&self, segment: u64) -> Result<usize, WalError> {
        let current = self.shared.state.lock().seg;
        let limit = segment.min(current);
        let mut removed = 0;
        for (n, path) in list_segments(&self.shared.dir)? {
            if n >= limit {
                break;
            }
            fs::remove_file(&path).map_err(io_err(&path))?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Forces everything appended so far to disk.
    pub fn sync(&self) -> Result<(), WalError> {
        self.shared.sync()
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(handle) = self.syncer.take() {
            let _ = handle.join();
        }
        if self.shared.opts.fsync != FsyncPolicy::Never
            && let Err(e) = self.shared.sync()
        {
            tracing::warn!(error = %e, "final WAL fsync on close failed");
        }
    }
}

impl Shared {
    fn segment_path(&self, n: u64) -> PathBuf {
        self.dir.join(format!("{n:08}"))
    }

    /// Closes the open segment (fsynced unless the policy is `Never`); the
    /// next append starts the next number. Numbering moves on even when the
    /// fsync fails, so no name is ever created twice.
    fn close_segment(&self, st: &mut State) -> Result<(), WalError> {
        let Some(old) = st.file.take() else {
            return Ok(());
        };
        let path = self.segment_path(st.seg);
        st.seg += 1;
        st.size = 0;
        st.dirty = false;
        if self.opts.fsync != FsyncPolicy::Never {
            old.sync_data().map_err(io_err(&path))?;
        }
        Ok(())
    }

    /// Creates segment `st.seg` with its header and makes it the open one.
    /// A segment whose header cannot be written (a full disk) is removed
    /// again, so the next try can create the same name.
    fn open_segment(&self, st: &mut State) -> Result<Arc<File>, WalError> {
        let path = self.segment_path(st.seg);
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let durable = self.opts.fsync != FsyncPolicy::Never;
        let written = self
            .write(&file, &HEADER)
            .and_then(|()| if durable { file.sync_data() } else { Ok(()) })
            .map_err(io_err(&path))
            .and_then(|()| if durable { sync_dir(&self.dir) } else { Ok(()) });
        if let Err(e) = written {
            drop(file);
            if fs::remove_file(&path).is_err() && path.exists() {
                st.seg += 1;
            }
            return Err(e);
        }
        let file = Arc::new(file);
        st.file = Some(Arc::clone(&file));
        st.size = HEADER_LEN;
        st.dirty = false;
        Ok(file)
    }

    /// Writes `buf` at the end of a segment.
    fn write(&self, file: &File, buf: &[u8]) -> io::Result<()> {
        #[cfg(test)]
        if self.disk_full.load(std::sync::atomic::Ordering::Relaxed) {
            let mut f = file;
            f.write_all(&buf[..buf.len() / 2])?;
            return Err(io::Error::from_raw_os_error(28));
        }
        let mut f = file;
        f.write_all(buf)
    }

    /// Fsyncs the open segment if anything was written since the last sync.
    fn sync(&self) -> Result<(), WalError> {
        let (file, seg) = {
            let mut st = self.state.lock();
            match &st.file {
                Some(f) if st.dirty => {
                    let f = Arc::clone(f);
                    st.dirty = false;
                    (f, st.seg)
                }
                _ => return Ok(()),
            }
        };
        file.sync_data().map_err(|e| {
            self.abandon(&file);
            WalError::Io {
                path: self.segment_path(seg),
                source: e,
            }
        })
    }

    /// After a failed fsync the file's on-disk state is unknown: stop
    /// writing to it (if it is still the open segment).
    fn abandon(&self, file: &Arc<File>) {
        let mut st = self.state.lock();
        if st.file.as_ref().is_some_and(|f| Arc::ptr_eq(f, file)) {
            st.file = None;
            st.seg += 1;
        }
    }
}

/// Makes a new directory entry durable.
fn sync_dir(dir: &Path) -> Result<(), WalError> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// The segment files in `dir` (names of all digits), sorted by number.
fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, WalError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(n) = name.parse::<u64>() else { continue };
        if entry.file_type().map_err(io_err(&entry.path()))?.is_file() {
            out.push((n, entry.path()));
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// How a segment's replay ended.
enum SegmentEnd {
    Clean,
    Corrupt(String),
}

fn replay_segment(
    path: &Path,
    f: &mut impl FnMut(&[u8]) -> Result<(), String>,
    stats: &mut ReplayStats,
) -> Result<SegmentEnd, WalError> {
    let file = File::open(path).map_err(io_err(path))?;
    let len = file.metadata().map_err(io_err(path))?.len();
    if len == 0 {
        // Created, then the process died before the header hit the disk.
        return Ok(SegmentEnd::Clean);
    }
    let mut r = BufReader::with_capacity(1 << 20, file);
    if len < HEADER_LEN {
        return Ok(SegmentEnd::Corrupt(format!("torn header ({len} bytes)")));
    }
    let mut header = [0u8; HEADER.len()];
    r.read_exact(&mut header).map_err(io_err(path))?;
    if header[..4] != MAGIC {
        return Ok(SegmentEnd::Corrupt(
            "not a Cairn WAL segment (bad magic)".into(),
        ));
    }
    if header[4] != VERSION {
        return Err(WalError::UnsupportedVersion {
            path: path.to_path_buf(),
            version: header[4],
        });
    }
    let mut left = len - HEADER_LEN;
    let mut payload = Vec::new();
    let mut index = 0u64;
    while left > 0 {
        if left < RECORD_HEADER_LEN as u64 {
            return Ok(SegmentEnd::Corrupt(format!(
                "torn header of record {index}"
            )));
        }
        let mut rec = [0u8; RECORD_HEADER_LEN];
        r.read_exact(&mut rec).map_err(io_err(path))?;
        left -= RECORD_HEADER_LEN as u64;
        let len_bytes = [rec[0], rec[1], rec[2], rec[3]];
        let n = u64::from(u32::from_le_bytes(len_bytes));
        let want = u32::from_le_bytes([rec[4], rec[5], rec[6], rec[7]]);
        if n > left {
            return Ok(SegmentEnd::Corrupt(format!(
                "record {index} of {n} bytes is torn ({left} bytes left)"
            )));
        }
        payload.resize(n as usize, 0);
        r.read_exact(&mut payload).map_err(io_err(path))?;
        left -= n;
        let mut crc = crc32fast::Hasher::new();
        crc.update(&len_bytes);
        crc.update(&payload);
        if crc.finalize() != want {
            return Ok(SegmentEnd::Corrupt(format!("record {index} fails its CRC")));
        }
        match f(&payload) {
            Ok(()) => stats.records += 1,
            Err(reason) => {
                tracing::warn!(segment = %path.display(), record = index, %reason, "skipping a WAL record that cannot be replayed");
                stats.skipped_records += 1;
            }
        }
        index += 1;
    }
    Ok(SegmentEnd::Clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(segment_size: u64) -> WalOptions {
        WalOptions {
            segment_size,
            fsync: FsyncPolicy::Never,
        }
    }

    fn replay_all(dir: &Path) -> (Vec<Vec<u8>>, ReplayStats) {
        let mut out = Vec::new();
        let stats = Wal::replay(dir, |r| {
            out.push(r.to_vec());
            Ok(())
        })
        .unwrap();
        (out, stats)
    }

    fn record(i: usize) -> Vec<u8> {
        format!("record-{i}-{}", "x".repeat(i % 17)).into_bytes()
    }

    fn segments(dir: &Path) -> Vec<u64> {
        list_segments(dir)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    }

    #[test]
    fn appended_records_replay_in_order_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), opts(200)).unwrap();
        let all: Vec<Vec<u8>> = (0..100).map(record).collect();
        for batch in all.chunks(3) {
            let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
            wal.append(&refs).unwrap();
        }
        wal.append(&[b""]).unwrap();
        drop(wal);
        let (got, stats) = replay_all(dir.path());
        let mut want = all.clone();
        want.push(Vec::new());
        assert_eq!(got, want);
        assert!(stats.segments > 5, "{stats:?}");
        assert_eq!(stats.records, 101);
        assert_eq!(stats.corrupt_segments, 0);
        assert_eq!(segments(dir.path())[0], 1);
    }

    #[test]
    fn segment_files_are_named_with_eight_digits() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
        wal.append(&[b"x"]).unwrap();
        assert!(dir.path().join("00000001").is_file());
    }

    #[test]
    fn torn_tail_keeps_earlier_records() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
        wal.append(&[b"first", b"second"]).unwrap();
        wal.append(&[b"third-and-torn"]).unwrap();
        drop(wal);
        let path = dir.path().join("00000001");
        let len = fs::metadata(&path).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let (got, stats) = replay_all(dir.path());
        assert_eq!(got, vec![b"first".to_vec(), b"second".to_vec()]);
        assert_eq!(
            stats,
            ReplayStats {
                records: 2,
                segments: 1,
                corrupt_segments: 1,
                skipped_records: 0,
            }
        );
    }

    #[test]
    fn crc_mismatch_ends_the_segment_but_later_segments_replay() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
        wal.append(&[b"a1", b"a2", b"a3"]).unwrap();
        assert_eq!(wal.cut_segment().unwrap(), 2);
        wal.append(&[b"b1"]).unwrap();
        drop(wal);
        let path = dir.path().join("00000001");
        let mut bytes = fs::read(&path).unwrap();
        // Second record's payload: header 8 + (8 + 2) + 8 → flip its first byte.
        bytes[8 + 10 + 8] ^= 0x40;
        fs::write(&path, bytes).unwrap();
        let (got, stats) = replay_all(dir.path());
        assert_eq!(got, vec![b"a1".to_vec(), b"b1".to_vec()]);
        assert_eq!(
            stats,
            ReplayStats {
                records: 2,
                segments: 2,
                corrupt_segments: 1,
                skipped_records: 0,
            }
        );
    }

    #[test]
    fn zeroed_tail_is_not_a_record() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
        wal.append(&[b"kept"]).unwrap();
        drop(wal);
        let path = dir.path().join("00000001");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[0u8; 64]).unwrap();
        let (got, stats) = replay_all(dir.path());
        assert_eq!(got, vec![b"kept".to_vec()]);
        assert_eq!(stats.corrupt_segments, 1);
    }

    #[test]
    fn reopen_writes_a_new_segment_after_the_highest() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
        wal.append(&[b"one"]).unwrap();
        assert_eq!(wal.cut_segment().unwrap(), 2);
        wal.append(&[b"two"]).unwrap();
        drop(wal);
        let wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
        wal.append(&[b"three"]).unwrap();
        assert_eq!(wal.cut_segment().unwrap(), 4);
        drop(wal);
        // Segment 4 was never written to, so it was never created.
        assert_eq!(segments(dir.path()), vec![1, 2, 3]);
        let (got, _) = replay_all(dir.path());
        assert_eq!(
            got,
            vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
        );
    }

    #[test]
    fn remove_segments_before_deletes_only_older_whole_segments() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
        wal.append(&[b"old"]).unwrap();
        let cut = wal.cut_segment().unwrap();
        wal.append(&[b"new"]).unwrap();
        assert_eq!(wal.remove_segments_before(cut).unwrap(), 1);
        assert_eq!(segments(dir.path()), vec![2]);
        // Never deletes the segment being written.
        assert_eq!(wal.remove_segments_before(100).unwrap(), 0);
        wal.append(&[b"newer"]).unwrap();
        drop(wal);
        let (got, _) = replay_all(dir.path());
        assert_eq!(got, vec![b"new".to_vec(), b"newer".to_vec()]);
    }

    #[test]
    fn missing_directory_replays_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let (got, stats) = replay_all(&dir.path().join("nope"));
        assert!(got.is_empty());
        assert_eq!(stats, ReplayStats::default());
    }

    #[test]
    fn a_record_the_callback_refuses_is_skipped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
        wal.append(&[b"ok", b"bad", b"after"]).unwrap();
        drop(wal);
        let mut kept = Vec::new();
        let stats = Wal::replay(dir.path(), |r| {
            if r == b"bad" {
                return Err("cannot decode".into());
            }
            kept.push(r.to_vec());
            Ok(())
        })
        .unwrap();
        assert_eq!(kept, vec![b"ok".to_vec(), b"after".to_vec()]);
        assert_eq!(stats.records, 2);
        assert_eq!(stats.skipped_records, 1);
        assert_eq!(stats.corrupt_segments, 0);
    }

    fn disk_full(wal: &Wal, full: bool) {
        wal.shared
            .disk_full
            .store(full, std::sync::atomic::Ordering::Relaxed);
    }

    #[test]
    fn appends_resume_after_a_full_disk_without_reopening() {
        for fsync in [FsyncPolicy::Always, FsyncPolicy::Never] {
            let dir = tempfile::tempdir().unwrap();
            let opts = WalOptions {
                segment_size: 4096,
                fsync,
            };
            let wal = Wal::open(dir.path(), opts).unwrap();
            wal.append(&[b"before"]).unwrap();
            disk_full(&wal, true);
            // Half-written records in the open segment, then (after a cut)
            // new segments whose header cannot be written.
            for i in 0..5 {
                let err = wal.append(&[&[b'x'; 40][..], b"y"]).unwrap_err();
                assert!(err.is_out_of_space(), "{err}");
                if i == 1 {
                    assert_eq!(wal.cut_segment().unwrap(), 2);
                }
            }
            disk_full(&wal, false);
            wal.append(&[b"after"]).unwrap();
            wal.cut_segment().unwrap();
            wal.append(&[b"next segment"]).unwrap();
            drop(wal);
            let (got, stats) = replay_all(dir.path());
            assert_eq!(
                got,
                vec![
                    b"before".to_vec(),
                    b"after".to_vec(),
                    b"next segment".to_vec()
                ],
                "{fsync}"
            );
            assert_eq!(stats.corrupt_segments, 0, "{fsync}");
            // Numbering has no gap a failed header left behind.
            assert_eq!(segments(dir.path()), vec![1, 2, 3], "{fsync}");
        }
    }

    #[test]
    fn opening_on_a_full_disk_creates_no_segment() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
        wal.append(&[b"kept"]).unwrap();
        drop(wal);
        for _ in 0..3 {
            let wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
            disk_full(&wal, true);
            assert!(wal.append(&[b"refused"]).unwrap_err().is_out_of_space());
        }
        assert_eq!(segments(dir.path()), vec![1]);
        let (got, _) = replay_all(dir.path());
        assert_eq!(got, vec![b"kept".to_vec()]);
    }

    #[test]
    fn newer_format_version_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("00000001"), b"CWAL\x09\0\0\0").unwrap();
        assert!(matches!(
            Wal::replay(dir.path(), |_| Ok(())),
            Err(WalError::UnsupportedVersion { version: 9, .. })
        ));
    }

    #[test]
    fn every_fsync_policy_round_trips_and_concurrent_appends_are_all_kept() {
        for fsync in [
            FsyncPolicy::Always,
            FsyncPolicy::Never,
            FsyncPolicy::Interval(Duration::from_millis(5)),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let wal = Arc::new(
                Wal::open(
                    dir.path(),
                    WalOptions {
                        segment_size: 4096,
                        fsync,
                    },
                )
                .unwrap(),
            );
            let threads: Vec<_> = (0..4)
                .map(|t| {
                    let wal = Arc::clone(&wal);
                    std::thread::spawn(move || {
                        for i in 0..50 {
                            wal.append(&[format!("{t}:{i}").as_bytes()]).unwrap();
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            std::thread::sleep(Duration::from_millis(20));
            wal.sync().unwrap();
            drop(wal);
            let (got, stats) = replay_all(dir.path());
            assert_eq!(got.len(), 200, "{fsync}");
            assert_eq!(stats.corrupt_segments, 0);
            // Each writer's records stay in its own order.
            for t in 0..4 {
                let mine: Vec<_> = got
                    .iter()
                    .filter(|r| r.starts_with(format!("{t}:").as_bytes()))
                    .collect();
                let want: Vec<Vec<u8>> = (0..50).map(|i| format!("{t}:{i}").into_bytes()).collect();
                assert_eq!(mine, want.iter().collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn fsync_policy_is_yaml_friendly() {
        let cases = [
            ("always", FsyncPolicy::Always),
            ("never", FsyncPolicy::Never),
            ("1s", FsyncPolicy::Interval(Duration::from_secs(1))),
            ("250ms", FsyncPolicy::Interval(Duration::from_millis(250))),
        ];
        for (text, policy) in cases {
            let json = format!("\"{text}\"");
            assert_eq!(serde_json::from_str::<FsyncPolicy>(&json).unwrap(), policy);
            assert_eq!(serde_json::to_string(&policy).unwrap(), json);
        }
        assert!(serde_json::from_str::<FsyncPolicy>("\"sometimes\"").is_err());
        let opts: WalOptions = serde_saphyr::from_str("fsync: always\n").unwrap();
        assert_eq!(
            opts,
            WalOptions {
                fsync: FsyncPolicy::Always,
                ..WalOptions::default()
            }
        );
        assert_eq!(
            WalOptions::default().fsync,
            FsyncPolicy::Interval(Duration::from_secs(1))
        );
        assert_eq!(WalOptions::default().segment_size, 128 << 20);
    }

    #[test]
    fn wal_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Wal>();
    }
}
