//! The file system under the file backend: the few calls [`FileBackend`](crate::FileBackend)
//! makes ([`FileSystem`], [`StoreFile`]). The operating system's is `OsFileSystem`
//! (`os_file_system.rs`); the npm package supplies one over Node.js's `fs` when the crate is
//! built for WebAssembly.
//!
//! Every byte the backend reads or writes, every sync, create, rename, removal and the writer
//! lock go through these traits, so the same backend code runs on a simulated disk that loses
//! power — the crash tests (`tests/src/power_loss.rs`) keep a durable and a volatile image of
//! each file and directory and reopen from what a power cut would leave. The traits describe
//! what the backend relies on, in POSIX terms:
//!
//! - a write is durable once its file is synced ([`StoreFile::sync_data`]/[`sync_all`]);
//!   before that, a power cut may drop it, keep part of it or keep a later one without an
//!   earlier one;
//! - a created, renamed or removed name is durable once its directory is synced
//!   ([`FileSystem::sync_dir`]); a rename replaces its target atomically;
//! - a lock is released when its holder is dropped (or its process dies).
//!
//! [`sync_all`]: StoreFile::sync_all

use std::ffi::OsString;
use std::fmt;
use std::io::{self, ErrorKind};
use std::path::Path;
use std::sync::Arc;

use crate::error::Result;

/// How [`FileSystem::open`] opens a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// An existing file, for reading.
    Read,
    /// An existing file, for reading and writing.
    ReadWrite,
    /// A new file (fails with `AlreadyExists` when the name is taken), for reading and writing,
    /// readable by its owner only.
    CreateNew,
    /// A file created or emptied, for writing, readable by its owner only.
    Replace,
}

/// The directory operations, file opening and locking the file backend uses. `dyn`-usable; see
/// the module docs for what the backend assumes of each call.
pub trait FileSystem: fmt::Debug + Send + Sync {
    /// Opens `path` as `mode` says.
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StoreFile>>;
    /// The names in directory `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<OsString>>;
    /// Whether `path` exists.
    fn exists(&self, path: &Path) -> bool;
    /// A number that changes when the file at `path` is replaced or changed (its identity,
    /// size and times), so a reader can skip reading a small file that did not change; `None`
    /// when the file system cannot say (then the file is read every time, the default).
    fn stamp(&self, path: &Path) -> io::Result<Option<u64>> {
        let _ = path;
        Ok(None)
    }
    /// Creates directory `dir` and its missing parents (owner-only permissions).
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Renames `from` to `to`, atomically replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes the file `path`.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes the names created, renamed or removed in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Takes the writer lock of the store in `dir`, or fails with
    /// [`Error::Locked`](crate::Error::Locked).
    fn lock(&self, dir: &Path) -> Result<Box<dyn DirLock>>;
}

/// An open file, read and written at explicit offsets (no shared cursor), so readers on other
/// threads can use it at the same time.
pub trait StoreFile: fmt::Debug + Send + Sync {
    /// Reads into `buf` from `offset`; returns how many bytes were read (0 at the end).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Writes all of `buf` at `offset`.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Cuts or extends the file to `len` bytes.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// The file's length in bytes.
    fn size(&self) -> io::Result<u64>;
    /// Makes the file's data (and its length) durable.
    fn sync_data(&self) -> io::Result<()>;
    /// Makes the file's data and all its metadata durable.
    fn sync_all(&self) -> io::Result<()>;

    /// Fills `buf` from `offset`, failing with `UnexpectedEof` when the file ends first.
    fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read_at(buf, offset) {
                Ok(0) => return Err(io::Error::from(ErrorKind::UnexpectedEof)),
                Ok(n) => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// A held writer lock; dropping it releases the lock.
pub trait DirLock: fmt::Debug + Send + Sync {}
