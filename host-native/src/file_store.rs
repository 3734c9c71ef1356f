//! A store kept in a directory: open (for writing or read-only) and durability settings.
//!
//! [`FileStore`] is the single-threaded handle: the engine's [`Store`] over a [`FileBackend`]
//! with the system [`Env`](rewind_core::Env), reachable through `Deref`/`DerefMut` so every
//! engine operation is available. For threads, group commit, a sync timer and subscribers, use
//! [`SharedStore`](crate::SharedStore).

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rewind_core::{Options, Store};

use crate::error::{Error, Result};
use crate::file_backend::{FileBackend, OpenReport};
use crate::file_system::FileSystem;
use crate::os_file_system::OsFileSystem;
use crate::system_env::SystemEnv;

/// When a write becomes durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// A write call returns only after its record is on disk (fdatasync). Concurrent writers on
    /// a [`SharedStore`](crate::SharedStore) share one sync (group commit).
    #[default]
    Always,
    /// Writes return at once; a [`SharedStore`](crate::SharedStore) syncs within `max_delay`
    /// (a [`FileStore`] at its next write after `max_delay`, at `flush` and when closed). A
    /// crash can lose up to `max_delay` of acknowledged writes.
    Batched {
        /// Longest time a write stays unsynced.
        max_delay: Duration,
    },
    /// Sync only at `flush` and when the store closes.
    Never,
}

/// How a file store is opened.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FileOptions {
    /// When writes become durable (default [`Durability::Always`]).
    pub durability: Durability,
    /// Size at which a segment file is closed and a new one started (default 64 MiB). A single
    /// write larger than this gets a segment of its own.
    pub segment_bytes: u64,
    /// The engine's options (limits, automatic checkpoint policy, events).
    pub store: Options,
    /// The file system the store's files live on (default [`OsFileSystem`]; the crash tests
    /// use a simulated disk that loses power).
    pub file_system: Arc<dyn FileSystem>,
    /// How long a writer's open waits for another writer to release the store before failing
    /// with [`Error::Locked`] (default zero: fail at once). Like SQLite's busy timeout: the
    /// open retries with growing pauses (up to 50 ms) until the lock is free or the time is up.
    pub lock_timeout: Duration,
}

impl Default for FileOptions {
    fn default() -> Self {
        FileOptions {
            durability: Durability::Always,
            segment_bytes: 64 << 20,
            store: Options::default(),
            file_system: Arc::new(OsFileSystem),
            lock_timeout: Duration::ZERO,
        }
    }
}

impl FileOptions {
    /// Sets the durability.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Sets the segment size.
    pub fn segment_bytes(mut self, bytes: u64) -> Self {
        self.segment_bytes = bytes;
        self
    }

    /// Sets the engine options.
    pub fn store(mut self, options: Options) -> Self {
        self.store = options;
        self
    }

    /// Sets how long a writer's open waits for the writer lock.
    pub fn lock_timeout(mut self, wait: Duration) -> Self {
        self.lock_timeout = wait;
        self
    }

    /// Sets the file system.
    pub fn file_system(mut self, file_system: Arc<dyn FileSystem>) -> Self {
        self.file_system = file_system;
        self
    }
}

/// A store in a directory, for one thread. Derefs to the engine's [`Store`].
#[derive(Debug)]
pub struct FileStore {
    store: Store<FileBackend, SystemEnv>,
    report: OpenReport,
    durability: Durability,
    last_sync: std::time::Instant,
}

impl FileStore {
    /// Opens the store in `dir`, creating it if the directory is empty or missing. Fails with
    /// [`Error::Locked`] when another handle holds it (after waiting up to
    /// [`FileOptions::lock_timeout`]), and with [`Error::Corrupt`] naming the file and offset
    /// when a segment is damaged before its end.
    pub fn open(dir: impl AsRef<Path>, options: FileOptions) -> Result<FileStore> {
        let (store, report) = open_engine(
            dir.as_ref(),
            &options,
            options.durability == Durability::Always,
        )?;
        Ok(FileStore {
            store,
            report,
            durability: options.durability,
            last_sync: std::time::Instant::now(),
        })
    }

    /// Opens the store in `dir` for reading only: no writer lock is taken and nothing is written,
    /// created or deleted, so it works beside a live writer, on read-only media and without
    /// write permission. The view is the log as it stood when it was read, up to its last whole
    /// frame and without a transaction still open at its end. Every write fails with
    /// [`BackendError::ReadOnly`](rewind_core::BackendError::ReadOnly). Fails with
    /// [`Error::NotAStore`] when `dir` holds no store.
    pub fn open_read_only(dir: impl AsRef<Path>, options: FileOptions) -> Result<FileStore> {
        let (store, report) = open_engine_read_only(dir.as_ref(), &options)?;
        Ok(FileStore {
            store,
            report,
            durability: Durability::Never,
            last_sync: std::time::Instant::now(),
        })
    }

    /// Whether the store was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.store.backend().read_only()
    }

    /// What opening found: a torn tail (moved aside by a writer), stale files removed, segments.
    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    /// Makes every write so far durable.
    pub fn flush(&mut self) -> Result<()> {
        self.store.flush()?;
        self.last_sync = std::time::Instant::now();
        Ok(())
    }

    /// Syncs when the batching delay has passed (call after writes; `Batched` only).
    pub fn sync_if_due(&mut self) -> Result<()> {
        if let Durability::Batched { max_delay } = self.durability
            && self.last_sync.elapsed() >= max_delay
        {
            self.flush()?;
        }
        Ok(())
    }

    /// The engine store (also reachable through `Deref`).
    pub fn engine(&mut self) -> &mut Store<FileBackend, SystemEnv> {
        &mut self.store
    }
}

impl Drop for FileStore {
    fn drop(&mut self) {
        crate::shared_store::close_with_snapshot(&mut self.store);
    }
}

impl Deref for FileStore {
    type Target = Store<FileBackend, SystemEnv>;
    fn deref(&self) -> &Self::Target {
        &self.store
    }
}

impl DerefMut for FileStore {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.store
    }
}

/// Opens the engine on a directory, translating log positions in errors into file offsets.
pub(crate) fn open_engine(
    dir: &Path,
    options: &FileOptions,
    sync_every_write: bool,
) -> Result<(Store<FileBackend, SystemEnv>, OpenReport)> {
    let mut backend = lock_waiting(dir, options)?;
    let always = options.durability == Durability::Always;
    if always {
        // Readers then see a write only once it is synced.
        backend.announce_durable();
    }
    let (mut store, report) = load_engine(dir, backend, options, sync_every_write)?;
    if always {
        store.backend_mut().publish_durable()?;
    }
    Ok((store, report))
}

/// Opens the engine on a directory for reading only.
pub(crate) fn open_engine_read_only(
    dir: &Path,
    options: &FileOptions,
) -> Result<(Store<FileBackend, SystemEnv>, OpenReport)> {
    let backend = FileBackend::open_read_only_on(options.file_system.clone(), dir)?;
    load_engine(dir, backend, options, false)
}

/// Opens a writer's backend, waiting up to `options.lock_timeout` for the lock.
fn lock_waiting(dir: &Path, options: &FileOptions) -> Result<FileBackend> {
    let deadline = std::time::Instant::now() + options.lock_timeout;
    let mut pause = Duration::from_millis(2);
    loop {
        match FileBackend::open_on(options.file_system.clone(), dir, options.segment_bytes) {
            Err(Error::Locked { .. }) if std::time::Instant::now() < deadline => {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                std::thread::sleep(pause.min(left));
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            result => return result,
        }
    }
}

/// Replays the log of an opened backend into the engine.
fn load_engine(
    dir: &Path,
    backend: FileBackend,
    options: &FileOptions,
    sync_every_write: bool,
) -> Result<(Store<FileBackend, SystemEnv>, OpenReport)> {
    let generation = backend.generation();
    let engine_options = options.store.clone().sync_every_write(sync_every_write);
    match Store::open(backend, SystemEnv::new(), engine_options) {
        Ok((store, load)) => {
            let mut report = store.backend().report().clone();
            report.load = load;
            Ok((store, report))
        }
        Err(rewind_core::Error::Corrupt { at, kind }) => {
            let (file, offset) = FileBackend::segment_path(dir, generation, at);
            Err(Error::Corrupt { file, offset, kind })
        }
        Err(other) => Err(Error::Store(other)),
    }
}
