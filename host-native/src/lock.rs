//! The writer lock: one process (and one handle within it) writes a store at a time.
//!
//! An exclusive `flock` on `LOCK` in the store directory, held for the store's lifetime and
//! released by the operating system when the process dies, so a crash never leaves a stale
//! lock. The holder writes its pid into the file so a refused opener can say who holds it.
//! Locks belong to open file descriptions, so a second open within the same process is refused
//! too.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Name of the lock file inside a store directory.
pub const LOCK_FILE: &str = "LOCK";

/// A held writer lock; dropping it releases the lock.
#[derive(Debug)]
pub struct StoreLock {
    file: File,
    path: PathBuf,
}

impl StoreLock {
    /// Takes the lock of the store in `dir`, or fails with [`Error::Locked`] naming the holder.
    pub fn acquire(dir: &Path) -> Result<StoreLock> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::io(&path, "open lock file", e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(Error::Locked {
                    path: dir.to_path_buf(),
                    pid: text.trim().parse().ok(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(&path, "lock", e)),
        }
        let pid = std::process::id().to_string();
        file.set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(pid.as_bytes()))
            .map_err(|e| Error::io(&path, "write pid to", e))?;
        Ok(StoreLock { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        // The pid would mislead the next refused opener if left behind.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}
