//! A store kept in a directory: open, durability settings, and repair of a damaged store.
//!
//! [`FileStore`] is the single-threaded handle: the engine's [`Store`] over a [`FileBackend`]
//! with the system [`Env`](rewind_core::Env), reachable through `Deref`/`DerefMut` so every
//! engine operation is available. For threads, group commit, a sync timer and subscribers, use
//! [`SharedStore`](crate::SharedStore).

use std::fs;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rewind_core::frame::{self, HEADER_LEN};
use rewind_core::log;
use rewind_core::{Backend, MemoryBackend, Options, Store};

use crate::error::{Error, Result};
use crate::file_backend::{CURRENT_FILE, FileBackend, OpenReport};
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
}

impl Default for FileOptions {
    fn default() -> Self {
        FileOptions {
            durability: Durability::Always,
            segment_bytes: 64 << 20,
            store: Options::default(),
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
    /// [`Error::Locked`] when another handle holds it, and with [`Error::Corrupt`] naming the file
    /// and offset when a segment is damaged before its end.
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
        let dir = dir.as_ref();
        let (store, report) = load_engine(dir, FileBackend::open_read_only(dir)?, &options, false)?;
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
    load_engine(
        dir,
        FileBackend::open(dir, options.segment_bytes)?,
        options,
        sync_every_write,
    )
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

/// What [`repair`] salvaged and what it had to leave behind.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct RepairReport {
    /// Frames read intact.
    pub frames_kept: u64,
    /// Byte ranges skipped as damaged: (file, offset, length).
    pub damaged: Vec<(PathBuf, u64, u64)>,
    /// Intact records the engine could not apply (they depended on damaged ones).
    pub records_dropped: u64,
    /// Checkpoints in the repaired store.
    pub checkpoints: u64,
    /// Sessions in the repaired store.
    pub sessions: u64,
}

/// Copies every valid record of the (possibly damaged) store in `src` into a new store in `dst`,
/// which must not exist or be empty. `src` is only read, without its writer lock (a store a live
/// writer holds can be salvaged as it stands). Ids, seqs and hashes are kept; what was lost is
/// reported. The salvage runs in memory, so it needs RAM for the store's live content.
pub fn repair(src: &Path, dst: &Path) -> Result<RepairReport> {
    if dst.exists()
        && fs::read_dir(dst)
            .map_err(|e| Error::io(dst, "list", e))?
            .next()
            .is_some()
    {
        return Err(Error::NotAStore {
            path: dst.to_path_buf(),
            reason: "the repair target must be a new or empty directory".into(),
        });
    }
    let mut report = RepairReport::default();
    let mut salvaged = frame::header().to_vec();
    for path in segments_to_salvage(src)? {
        let bytes = fs::read(&path).map_err(|e| Error::io(&path, "read", e))?;
        let mut offset = HEADER_LEN.min(bytes.len());
        if frame::check_header(&bytes).is_err() {
            report
                .damaged
                .push((path.clone(), 0, HEADER_LEN.min(bytes.len()) as u64));
        }
        let mut damage_start: Option<usize> = None;
        while offset < bytes.len() {
            match log::frame_len_at(&bytes, offset) {
                Some(len) => {
                    if let Some(start) = damage_start.take() {
                        report
                            .damaged
                            .push((path.clone(), start as u64, (offset - start) as u64));
                    }
                    salvaged.extend_from_slice(&bytes[offset..offset + len]);
                    report.frames_kept += 1;
                    offset += len;
                }
                None => {
                    // Resynchronise byte by byte: the next intact frame is somewhere after.
                    damage_start.get_or_insert(offset);
                    offset += 1;
                }
            }
        }
        if let Some(start) = damage_start {
            report
                .damaged
                .push((path.clone(), start as u64, (bytes.len() - start) as u64));
        }
    }
    let (store, _, salvage) = Store::open_salvaging(
        MemoryBackend::from_bytes(salvaged),
        SystemEnv::new(),
        Options::default(),
    )?;
    report.records_dropped = salvage.skipped_records;
    let export = store.export_binary(None)?;
    let metrics = store.metrics();
    report.checkpoints = metrics.checkpoints;
    report.sessions = metrics.sessions;
    let mut target = FileBackend::open(dst, FileOptions::default().segment_bytes)?;
    target.append(&export[HEADER_LEN..])?;
    target.sync()?;
    drop(target);
    // Prove the result opens before reporting success.
    FileStore::open(dst, FileOptions::default())?;
    Ok(report)
}

/// The live generation's segments, or every segment when `CURRENT` is unreadable.
fn segments_to_salvage(dir: &Path) -> Result<Vec<PathBuf>> {
    let generation = fs::read_to_string(dir.join(CURRENT_FILE))
        .ok()
        .and_then(|t| {
            t.split_whitespace()
                .last()
                .and_then(|g| g.parse::<u32>().ok())
        });
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, "list", e))? {
        let entry = entry.map_err(|e| Error::io(dir, "list", e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".seg") else {
            continue;
        };
        let Some((g, s)) = stem.split_once('-') else {
            continue;
        };
        let (Ok(g), Ok(s)) = (u32::from_str_radix(g, 16), u32::from_str_radix(s, 16)) else {
            continue;
        };
        if generation.is_none_or(|cur| cur == g) {
            found.push((g, s, entry.path()));
        }
    }
    found.sort();
    Ok(found.into_iter().map(|(_, _, p)| p).collect())
}
