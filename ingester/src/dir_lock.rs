//! One ingester per WAL directory. Two processes appending to the same
//! segments would corrupt each other's WAL, and a second one replays and
//! creates segments before it fails; so, like Prometheus's `lock` file, the
//! ingester holds an exclusive `flock` on a file in `ingester.wal_dir`
//! before it reads or writes anything there, for as long as it runs. The
//! kernel drops the lock when the process dies, `kill -9` included, so a
//! stale file never blocks a restart.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

use crate::error::IngesterError;

/// The lock file's name: `@` is not a tenant ID character, so no tenant's
/// WAL directory can be called this.
pub(crate) const LOCK_FILE: &str = "lock@cairn";

/// The held lock; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Creates `dir` if needed and locks it, writing this process's PID in
    /// the lock file. Fails at once, naming the holder's PID, when another
    /// process holds it.
    pub(crate) fn acquire(dir: &Path) -> Result<Self, IngesterError> {
        let io = |what: &str, e: std::io::Error| {
            IngesterError::Io(format!("{what} {}: {e}", dir.display()))
        };
        std::fs::create_dir_all(dir).map_err(|e| io("creating", e))?;
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io("opening the lock file in", e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(IngesterError::Locked {
                    dir: dir.to_path_buf(),
                    holder: holder.trim().to_string(),
                    lock_file: path,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io("locking", e)),
        }
        // Best effort: the PID only helps the operator; a full disk must
        // not stop the start-up.
        let _ = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()));
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let held = DirLock::acquire(dir.path()).unwrap();
        let err = DirLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(err.contains(&dir.path().display().to_string()), "{err}");
        assert!(err.contains(&std::process::id().to_string()), "{err}");
        drop(held);
        DirLock::acquire(dir.path()).unwrap();
    }
}
