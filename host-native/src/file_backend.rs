//! File storage: a directory of append-only segment files holding rewind's framed records.
//!
//! ```text
//! store/
//!   LOCK                       flocked by the writer: the lock's second guard (see `lock.rs`)
//!   DURABLE                    where the writer's log is synced, for readers (`durable_mark.rs`)
//!   CURRENT                    which generation of segments is live, and (version 2) its last
//!                              segment: "rewind-generation <G>\nlast-segment <S>\n"
//!   <G:08x>-<S:08x>.seg        segments of generation G, in order of S
//!   INDEX                      the writer's index snapshot (`rewind_core::snapshot`)
//! ```
//!
//! Every segment starts with the log header and holds whole frames; in a version 2 generation
//! the first frame is a segment start naming the segment and the one before it (see
//! `rewind_core::chain`), and `CURRENT` is rewritten at each rotation to name the newest
//! segment, so a missing segment — first, middle or last — stops the open, named. Segments rotate between
//! appends when the active one passes [`FileOptions::segment_bytes`](crate::FileOptions); one
//! append never spans two segments, so positions are `S << 40 | offset` and a chunk is read back
//! with one `pread` — memory holds indexes, not state bytes.
//!
//! **Durability.** `append` writes with `pwrite` and does not sync; `sync` runs `fdatasync` on
//! every segment written since the last sync (and `fsync` on the directory when a segment was
//! created). A failed append truncates the segment back, so the log never keeps half a call.
//!
//! **Recovery.** A bad frame at the end of the last segment with nothing intact after it is
//! what a crash mid-write leaves (a *torn tail*). A bad frame with anything intact after it is
//! damage: a crash cuts a write short, it does not leave whole frames behind a bad one. In a
//! version 2 log every write ends with its seal, so damage anywhere inside the last
//! acknowledged write (its records) is followed by that intact seal and is told apart from a
//! tear; only damage to the 25-byte seal itself still looks like one.
//! A writer's open moves it aside before cutting it — the bytes go to
//! `<segment>.torn-<offset>`, synced, and the report names that file — so nothing is ever
//! destroyed; a read-only open leaves it in place and reads the log up to it. Anything else
//! that does not check out — a bad frame with data after it, a torn frame in an earlier
//! segment, a bad header — stops the open with an error naming the file and byte offset.
//!
//! **Read-only opens** ([`FileBackend::open_read_only`]) take no lock and write, create or
//! delete nothing, so they work on read-only media, without write permission, and beside a
//! live writer: they see the log as it was when it was read, up to its last sealed write (a
//! write in progress looks like a torn tail or an unsealed write and is not part of the view).
//!
//! **Following a writer.** A read-only backend's `refresh` reads on from where the store's
//! view ends: it reads `CURRENT` (a few bytes), opens the segments it names that are new, and
//! reads the bytes appended since — nothing else, so it costs what was appended. When
//! `CURRENT` names a new generation (a compaction), the next `load` reads that generation
//! whole, and the switch happens only if it reads. The old generation's files stay open until
//! then: the writer deletes them after its switch, and on POSIX an open file stays readable
//! after its name is gone, so a reader's view never breaks under it and readers never need to
//! write anything (no reader registry, no shared locks), which is what read-only media and
//! Node.js readers need. A reader that opens while a compaction switches generations reads
//! `CURRENT` again and retries.
//!
//! **I/O.** Every read, write, sync, create, rename, removal and the lock go through a
//! [`FileSystem`] ([`OsFileSystem`] unless [`FileOptions::file_system`](crate::FileOptions)
//! says otherwise), so the crash tests run this code on a simulated disk that loses power.
//! What the backend relies on is only what POSIX promises (see `file_system.rs`): in
//! particular it never lets a length change and a write race to the disk (a power cut can
//! keep either without the other), and a new segment, a new `CURRENT` and a torn tail's
//! copy are synced, file and directory, before anything depends on them.
//!
//! **Compaction.** A rewrite writes generation `G+1` into new segments, syncs them, then
//! replaces `CURRENT` atomically (write a temporary file, fsync, rename, fsync the directory) and
//! only then deletes generation `G`. A crash at any moment leaves either the old generation or
//! the new one live; leftovers of the other are deleted at the next open.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;

use rewind_core::backend::{LoadReport, Refresh, Visitor};
use rewind_core::frame::{self, FRAME_HEADER_LEN, FrameHeader, HEADER_LEN, MAX_PAYLOAD};
use rewind_core::log;
use rewind_core::snapshot::SnapshotMerge;
use rewind_core::{Backend, BackendError, CorruptKind, SnapshotBytes};

use crate::durable_mark::{DURABLE_FILE, MarkReader, MarkWriter};
use crate::error::{Error, Result};
use crate::file_system::{DirLock, FileSystem, OpenMode, StoreFile};
#[cfg(unix)]
use crate::os_file_system::OsFileSystem;

/// Name of the file that names the live generation.
pub const CURRENT_FILE: &str = "CURRENT";
/// Name of the file holding the writer's index snapshot: a cache of the log, replaced whole
/// (written beside it and renamed), checked against the log at every open and ignored when it
/// does not match (see `rewind_core::snapshot`). Deleting it only makes the next open
/// replay the log.
pub const INDEX_FILE: &str = "INDEX";
/// Name of the file whose `flock` is a native writer's second guard beside its lock socket
/// (see `lock.rs`); never read or written through the backend.
pub const LOCK_FILE: &str = "LOCK";
/// Name of the file holding the delta of the index snapshot: what changed since it, written
/// (beside it and renamed) instead of a whole new snapshot, and used only with the snapshot it
/// names (see `rewind_core::snapshot`).
pub const INDEX_DELTA_FILE: &str = "INDEX.delta";
/// Name of the file a snapshot built away from the writer (a merge of the snapshot and its
/// delta, see `Backend::start_snapshot_merge`) is written to before it is renamed over
/// [`INDEX_FILE`]. One left by a crash is overwritten by the next merge.
pub const INDEX_MERGE_FILE: &str = "INDEX.merge.tmp";
const CURRENT_PREFIX: &str = "rewind-generation ";
const LAST_SEGMENT_PREFIX: &str = "last-segment ";
const OFFSET_BITS: u32 = 40;
const OFFSET_MASK: u64 = (1 << OFFSET_BITS) - 1;

/// Splits a position into (segment number, offset within the segment file).
pub fn split_position(pos: u64) -> (u32, u64) {
    ((pos >> OFFSET_BITS) as u32, pos & OFFSET_MASK)
}

fn position(segment: u32, offset: u64) -> u64 {
    ((segment as u64) << OFFSET_BITS) | offset
}

fn segment_name(generation: u32, segment: u32) -> String {
    format!("{generation:08x}-{segment:08x}.seg")
}

pub(crate) fn parse_segment_name(name: &str) -> Option<(u32, u32)> {
    let stem = name.strip_suffix(".seg")?;
    let (g, s) = stem.split_once('-')?;
    if g.len() != 8 || s.len() != 8 {
        return None;
    }
    Some((
        u32::from_str_radix(g, 16).ok()?,
        u32::from_str_radix(s, 16).ok()?,
    ))
}

#[derive(Debug)]
struct Segment {
    file: Arc<dyn StoreFile>,
    path: PathBuf,
    len: u64,
}

/// A set of segments: the live log, or a rewrite being built.
#[derive(Debug, Default)]
struct SegmentSet {
    generation: u32,
    /// The log format of the generation's segments (every segment has the same).
    version: u16,
    segments: BTreeMap<u32, Segment>,
    /// Segments written since the last sync.
    dirty: Vec<u32>,
    /// A segment was created since the last directory sync.
    dir_dirty: bool,
}

/// What opening a file store found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpenReport {
    /// The engine's load report (frames, bytes, dropped torn tail, voided transaction).
    pub load: LoadReport,
    /// A bad frame at the end of the log, if one was found (see [`TornTail`]).
    pub torn_tail: Option<TornTail>,
    /// Files of an abandoned generation (an interrupted compaction) that were removed. A
    /// read-only open removes nothing and leaves this empty.
    pub removed_stale_files: Vec<PathBuf>,
    /// Segments in the live generation.
    pub segments: usize,
}

/// Bytes at the end of the last segment that do not form a whole, valid frame and have nothing
/// intact after them: a write a crash cut short — or damage to the last record, which looks the
/// same. They are not part of the store.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TornTail {
    /// The segment file.
    pub file: PathBuf,
    /// Where the bad bytes start.
    pub offset: u64,
    /// How many bytes there are.
    pub len: u64,
    /// Where a writer's open moved them before cutting the segment (`None` for a read-only
    /// open, which leaves them in place).
    pub moved_to: Option<PathBuf>,
}

/// Files synced together by [`FileBackend::sync`], also usable without the backend (group
/// commit syncs outside the store lock).
#[derive(Debug, Default)]
pub struct PendingSync {
    files: Vec<(Arc<dyn StoreFile>, PathBuf)>,
    dir: Option<(Arc<dyn FileSystem>, PathBuf)>,
    /// Where to say the log is durable once the sync is done: the `DURABLE` file, the
    /// generation and the end position.
    mark: Option<(Arc<MarkWriter>, u32, u64)>,
}

impl PendingSync {
    /// Whether there is nothing to sync.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.dir.is_none()
    }

    /// Makes the captured writes durable.
    pub fn run(&self) -> Result<()> {
        for (file, path) in &self.files {
            file.sync_data().map_err(|e| Error::io(path, "sync", e))?;
        }
        if let Some((fs, dir)) = &self.dir {
            sync_dir(fs.as_ref(), dir)?;
        }
        if let Some((marks, generation, end)) = &self.mark {
            marks
                .advance((*generation, *end))
                .map_err(|e| Error::io(Path::new(DURABLE_FILE), "write", e))?;
        }
        Ok(())
    }
}

/// Builds a merged index snapshot (see `rewind_core::snapshot::SnapshotMerge`) on a thread
/// and writes it beside the store as [`INDEX_MERGE_FILE`], synced, while the writer goes on;
/// `install_merged_snapshot` then renames it over the snapshot, under the writer's lock.
/// Returns whether the file was written.
fn build_merged_snapshot(
    merge: SnapshotMerge,
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
) -> std::io::Result<thread::JoinHandle<bool>> {
    thread::Builder::new()
        .name("rewind-snapshot".into())
        .spawn(move || {
            let Some(bytes) = merge.build() else {
                return false;
            };
            fs.open(&dir.join(INDEX_MERGE_FILE), OpenMode::Replace)
                .and_then(|file| {
                    file.write_all_at(&bytes, 0)?;
                    file.sync_all()
                })
                .is_ok()
        })
}

/// The file backend. Open it through [`FileStore`](crate::FileStore) or
/// [`SharedStore`](crate::SharedStore).
#[derive(Debug)]
pub struct FileBackend {
    /// The writer lock; `None` for a read-only open.
    lock: Option<Box<dyn DirLock>>,
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    live: SegmentSet,
    rewrite: Option<SegmentSet>,
    next_segment: u32,
    segment_bytes: u64,
    report: OpenReport,
    /// Set when the log may hold bytes that were never acknowledged (a failed rollback): every
    /// further write is refused.
    broken: Option<String>,
    /// The newest segment `CURRENT` names (version 2).
    claimed_last: Option<u32>,
    /// A read-only backend's next generation (and its claimed last segment), found by a
    /// refresh and read by the next `load`.
    switch_to: Option<(SegmentSet, Option<u32>)>,
    /// A writer's `DURABLE` file (see `durable_mark.rs`), opened at its first mark or clear.
    marks: Option<Arc<MarkWriter>>,
    /// This writer keeps `DURABLE` current (see [`FileBackend::announce_durable`]).
    announcing: bool,
    /// This (non-announcing) writer has cleared any earlier writer's mark.
    marks_cleared: bool,
    /// A reader's view of `DURABLE`.
    mark_reader: MarkReader,
    /// A reader's last reading of `CURRENT`: its stamp, when, and what it said.
    current_seen: Option<(u64, std::time::Instant, (u32, Option<u32>))>,
    /// The thread building a merged index snapshot, if one runs (its result: whether the
    /// snapshot was built and written as [`INDEX_MERGE_FILE`]).
    merge: Option<thread::JoinHandle<bool>>,
}

/// A file of the store's directory open for reading, with its path.
type OpenFile = (Arc<dyn StoreFile>, PathBuf);

impl FileBackend {
    /// File `name` in the store's directory, open for reading, with its path; `None` when it
    /// is not there.
    fn open_existing(&self, name: &str) -> Result<Option<OpenFile>, BackendError> {
        let path = self.dir.join(name);
        if !self.fs.exists(&path) {
            return Ok(None);
        }
        match self.fs.open(&path, OpenMode::Read) {
            Ok(file) => Ok(Some((file, path))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_to_backend(&path, e)),
        }
    }

    /// The whole of file `name` in the store's directory, if it is there.
    fn read_whole(&self, name: &str) -> Result<Option<Vec<u8>>, BackendError> {
        let Some((file, path)) = self.open_existing(name)? else {
            return Ok(None);
        };
        let len = file.size().map_err(|e| io_to_backend(&path, e))?;
        let len = usize::try_from(len).map_err(|_| BackendError::OutOfRange { pos: 0, len })?;
        let mut bytes = vec![0u8; len];
        file.read_exact_at(&mut bytes, 0)
            .map_err(|e| io_to_backend(&path, e))?;
        Ok(Some(bytes))
    }

    /// Opens (or creates) the store directory `dir`, taking its writer lock for the backend's
    /// lifetime. The log is read when a store opens on the backend.
    #[cfg(unix)]
    pub fn open(dir: &Path, segment_bytes: u64) -> Result<FileBackend> {
        FileBackend::open_on(Arc::new(OsFileSystem), dir, segment_bytes)
    }

    /// [`open`](FileBackend::open) on the file system `fs`.
    pub fn open_on(fs: Arc<dyn FileSystem>, dir: &Path, segment_bytes: u64) -> Result<FileBackend> {
        fs.create_dir_all(dir)
            .map_err(|e| Error::io(dir, "create directory", e))?;
        let lock = fs.lock(dir)?;
        let (generation, claimed_last) = match read_current(fs.as_ref(), dir)? {
            Some(current) => current,
            None => {
                if list_segments(fs.as_ref(), dir)?.is_empty() {
                    // A new store only in an empty directory: never adopt someone's files.
                    let foreign = fs
                        .list(dir)
                        .map_err(|e| Error::io(dir, "list", e))?
                        .into_iter()
                        .find(|n| {
                            ![
                                LOCK_FILE,
                                "CURRENT.tmp",
                                DURABLE_FILE,
                                INDEX_FILE,
                                "INDEX.tmp",
                                INDEX_DELTA_FILE,
                                "INDEX.delta.tmp",
                                INDEX_MERGE_FILE,
                            ]
                            .contains(&n.to_string_lossy().as_ref())
                        });
                    if let Some(name) = foreign {
                        return Err(Error::NotAStore {
                            path: dir.to_path_buf(),
                            reason: format!(
                                "the directory is not empty ({} is not a store file)",
                                name.to_string_lossy()
                            ),
                        });
                    }
                    write_current(fs.as_ref(), dir, 1, None)?;
                    (1, None)
                } else {
                    return Err(Error::NotAStore {
                        path: dir.to_path_buf(),
                        reason: format!("segment files without a {CURRENT_FILE} file"),
                    });
                }
            }
        };
        let mut backend = FileBackend::empty(fs, dir, Some(lock), generation, segment_bytes);
        backend.claimed_last = claimed_last;
        backend.open_segments()?;
        if backend.live.segments.is_empty() {
            backend.new_segment(false)?;
            backend.sync_now()?;
        }
        backend.report.segments = backend.live.segments.len();
        Ok(backend)
    }

    /// Opens the store in `dir` for reading only: no lock is taken and nothing is written,
    /// created or deleted (see the module docs). Fails with [`Error::NotAStore`] when `dir` holds
    /// no store — a reader never creates one.
    #[cfg(unix)]
    pub fn open_read_only(dir: &Path) -> Result<FileBackend> {
        FileBackend::open_read_only_on(Arc::new(OsFileSystem), dir)
    }

    /// [`open_read_only`](FileBackend::open_read_only) on the file system `fs`.
    pub fn open_read_only_on(fs: Arc<dyn FileSystem>, dir: &Path) -> Result<FileBackend> {
        // A compaction can switch generations (and delete the old one) between reading
        // CURRENT and opening its segments: then CURRENT has changed, and reading it again
        // finds the new generation.
        let mut tries = 0;
        loop {
            let current = read_current(fs.as_ref(), dir)?;
            match FileBackend::open_generation_read_only(fs.clone(), dir, current) {
                Err(_) if tries < 5 && read_current(fs.as_ref(), dir)? != current => tries += 1,
                result => return result,
            }
        }
    }

    fn open_generation_read_only(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        current: Option<(u32, Option<u32>)>,
    ) -> Result<FileBackend> {
        let (generation, claimed_last) = match current {
            Some(current) => current,
            None if !fs.exists(dir) => {
                return Err(Error::NotAStore {
                    path: dir.to_path_buf(),
                    reason: "there is no such directory".into(),
                });
            }
            None => {
                return Err(Error::NotAStore {
                    path: dir.to_path_buf(),
                    reason: format!("the directory has no {CURRENT_FILE} file"),
                });
            }
        };
        let mut backend = FileBackend::empty(fs, dir, None, generation, 0);
        backend.claimed_last = claimed_last;
        backend.open_segments()?;
        backend.report.segments = backend.live.segments.len();
        Ok(backend)
    }

    fn empty(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        lock: Option<Box<dyn DirLock>>,
        generation: u32,
        segment_bytes: u64,
    ) -> FileBackend {
        FileBackend {
            lock,
            fs,
            dir: dir.to_path_buf(),
            live: SegmentSet {
                generation,
                version: frame::FORMAT_VERSION,
                ..SegmentSet::default()
            },
            claimed_last: None,
            rewrite: None,
            next_segment: 1,
            segment_bytes: segment_bytes.max(HEADER_LEN as u64 + 1),
            report: OpenReport::default(),
            broken: None,
            switch_to: None,
            marks: None,
            announcing: false,
            marks_cleared: false,
            mark_reader: MarkReader::default(),
            current_seen: None,
            merge: None,
        }
    }

    /// Whether this backend was opened read-only.
    pub fn read_only(&self) -> bool {
        self.lock.is_none()
    }

    /// Finds the live generation's segments; a writer also deletes other generations' files.
    fn open_segments(&mut self) -> Result<()> {
        let dir = self.dir.clone();
        let dir = dir.as_path();
        let generation = self.live.generation;
        let writer = !self.read_only();
        let segments = list_segments(self.fs.as_ref(), dir)?;
        if !segments.is_empty() && segments.iter().all(|(_, g, _)| *g != generation) {
            // Stale generations are deleted below; with none of the live one, that would delete
            // the store's only data.
            return Err(Error::NotAStore {
                path: dir.to_path_buf(),
                reason: format!(
                    "{CURRENT_FILE} names generation {generation}, which has no segment files \
                     (other generations' segments are here: restore the files or CURRENT)"
                ),
            });
        }
        if segments.is_empty() && generation > 1 {
            // A generation after the first was written by a compaction, with segments: they are
            // gone, not yet to be made.
            return Err(Error::NotAStore {
                path: dir.to_path_buf(),
                reason: format!(
                    "{CURRENT_FILE} names generation {generation}, whose segment files are missing"
                ),
            });
        }
        for (path, g, s) in segments {
            self.next_segment = self.next_segment.max(s.saturating_add(1));
            if g != generation {
                // An interrupted compaction's new generation, or an old one not yet deleted.
                if writer {
                    self.fs
                        .remove(&path)
                        .map_err(|e| Error::io(&path, "remove", e))?;
                    self.report.removed_stale_files.push(path);
                }
                continue;
            }
            let mode = if writer {
                OpenMode::ReadWrite
            } else {
                OpenMode::Read
            };
            let file = self
                .fs
                .open(&path, mode)
                .map_err(|e| Error::io(&path, "open", e))?;
            let len = file.size().map_err(|e| Error::io(&path, "stat", e))?;
            self.live.segments.insert(s, Segment { file, path, len });
        }
        if !self.report.removed_stale_files.is_empty() {
            sync_dir(self.fs.as_ref(), dir)?;
        }
        Ok(())
    }

    /// The live generation (named in `CURRENT`).
    pub fn generation(&self) -> u32 {
        self.live.generation
    }

    /// The file a position's segment lives in.
    pub fn segment_path(dir: &Path, generation: u32, pos: u64) -> (PathBuf, u64) {
        let (seg, offset) = split_position(pos);
        (dir.join(segment_name(generation, seg)), offset)
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the open found (valid after the store has loaded).
    pub fn report(&self) -> &OpenReport {
        &self.report
    }

    /// Number of live segments.
    pub fn segment_count(&self) -> usize {
        self.live.segments.len()
    }

    /// Total bytes of the live segments.
    pub fn disk_bytes(&self) -> u64 {
        self.live.segments.values().map(|s| s.len).sum()
    }

    /// The file and in-file offset of a position, for error messages.
    pub fn locate(&self, pos: u64) -> (PathBuf, u64) {
        let (seg, offset) = split_position(pos);
        let path = self
            .live
            .segments
            .get(&seg)
            .map(|s| s.path.clone())
            .unwrap_or_else(|| self.dir.join(segment_name(self.live.generation, seg)));
        (path, offset)
    }

    /// Takes what the next sync must make durable, leaving the backend clean. Used by group
    /// commit, which runs the sync without holding the store.
    pub fn take_pending_sync(&mut self) -> PendingSync {
        let set = &mut self.live;
        let mut pending = PendingSync::default();
        set.dirty.sort_unstable();
        set.dirty.dedup();
        for seg in set.dirty.drain(..) {
            if let Some(s) = set.segments.get(&seg) {
                pending.files.push((s.file.clone(), s.path.clone()));
            }
        }
        if std::mem::take(&mut set.dir_dirty) {
            pending.dir = Some((self.fs.clone(), self.dir.clone()));
        }
        if let Some(marks) = self.marks.as_ref().filter(|_| self.announcing) {
            pending.mark = Some((marks.clone(), self.live.generation, self.end_position()));
        }
        pending
    }

    fn sync_now(&mut self) -> Result<()> {
        self.take_pending_sync().run()
    }

    /// Makes this writer tell readers where its log is durable (the `DURABLE` file, see
    /// `durable_mark.rs`), so they read no further: what `Durability::Always` promises a reader
    /// (a write shows only once it is synced). Call it before the store loads (so nothing this
    /// writer writes clears an earlier mark), then [`FileBackend::publish_durable`] once it
    /// has. Does nothing on a read-only backend.
    pub fn announce_durable(&mut self) {
        self.announcing = !self.read_only();
    }

    /// Syncs everything there is and writes the first mark (after
    /// [`FileBackend::announce_durable`], once the store has loaded). That first mark is synced
    /// too: later ones are not, so after a power cut the file holds this one or a later one,
    /// which a recovering writer trusts (see `load_segments`).
    pub fn publish_durable(&mut self) -> Result<()> {
        if !self.announcing {
            return Ok(());
        }
        let marks = self.mark_writer()?;
        let all: Vec<u32> = self.live.segments.keys().copied().collect();
        self.live.dirty.extend(all);
        self.sync_now()?;
        marks
            .sync()
            .map_err(|e| Error::io(self.dir.join(DURABLE_FILE), "sync", e))
    }

    /// The writer's `DURABLE` file, opened on first use.
    fn mark_writer(&mut self) -> Result<Arc<MarkWriter>> {
        if let Some(marks) = &self.marks {
            return Ok(marks.clone());
        }
        let marks = Arc::new(
            MarkWriter::open(self.fs.as_ref(), &self.dir)
                .map_err(|e| Error::io(self.dir.join(DURABLE_FILE), "open", e))?,
        );
        // The file's name outlives a power cut: a recovering writer reads its mark (see
        // `load_segments`).
        sync_dir(self.fs.as_ref(), &self.dir)?;
        self.marks = Some(marks.clone());
        Ok(marks)
    }

    /// Before a writer that does not announce durability writes anything: a mark an earlier
    /// writer left must not hold readers back behind this one. (Not at open: an open that
    /// fails changes nothing.)
    fn clear_marks_once(&mut self) -> Result<()> {
        if self.announcing || self.marks_cleared || self.read_only() {
            return Ok(());
        }
        self.mark_writer()?
            .clear()
            .map_err(|e| Error::io(self.dir.join(DURABLE_FILE), "write", e))?;
        self.marks_cleared = true;
        Ok(())
    }

    /// The live log's end: the last segment and its length, as a position.
    fn end_position(&self) -> u64 {
        self.live
            .segments
            .iter()
            .next_back()
            .map_or(0, |(seg, s)| position(*seg, s.len))
    }

    /// A reader's limit: where the writer says the log is durable, in this generation (see
    /// `durable_mark.rs` for why a mark of another generation sets none).
    fn durable_limit(&mut self) -> Result<Option<(u32, u64)>> {
        let mark = self
            .mark_reader
            .read(self.fs.as_ref(), &self.dir)
            .map_err(|e| Error::io(self.dir.join(DURABLE_FILE), "read", e))?;
        Ok(mark
            .filter(|(generation, _)| *generation == self.live.generation)
            .map(|(_, pos)| split_position(pos)))
    }

    /// Creates the next segment in the live set (or the rewrite set).
    fn new_segment(&mut self, rewrite: bool) -> Result<u32> {
        let seg = self.next_segment;
        self.next_segment = self
            .next_segment
            .checked_add(1)
            .ok_or_else(|| Error::NotAStore {
                path: self.dir.clone(),
                reason: "segment numbers exhausted".into(),
            })?;
        let set = if rewrite {
            self.rewrite.as_mut().ok_or_else(|| Error::NotAStore {
                path: self.dir.clone(),
                reason: "no rewrite in progress".into(),
            })?
        } else {
            &mut self.live
        };
        // The segment this one follows is durable before this one exists — also what a group
        // sync running outside the store lock has not synced yet — so after a power cut a torn
        // write is only ever in the last segment.
        if let Some(previous) = set.segments.values().next_back() {
            previous
                .file
                .sync_data()
                .map_err(|e| Error::io(&previous.path, "sync", e))?;
        }
        let path = self.dir.join(segment_name(set.generation, seg));
        let file = self
            .fs
            .open(&path, OpenMode::CreateNew)
            .map_err(|e| Error::io(&path, "create", e))?;
        let opening = segment_opening(set.version, seg, set.segments.keys().next_back().copied());
        file.write_all_at(&opening, 0)
            .map_err(|e| Error::io(&path, "write", e))?;
        set.segments.insert(
            seg,
            Segment {
                file,
                path,
                len: opening.len() as u64,
            },
        );
        set.dirty.push(seg);
        set.dir_dirty = true;
        if !rewrite && set.version >= 2 {
            // CURRENT names the newest segment, so losing it is noticed: the segment (and its
            // directory entry) first, then the claim. No durable mark: a sync of earlier
            // segments may still be running outside the store lock (group commit); the next
            // full sync says how far the log is durable.
            let mut pending = self.take_pending_sync();
            pending.mark = None;
            pending.run()?;
            write_current(self.fs.as_ref(), &self.dir, self.live.generation, Some(seg))?;
        }
        Ok(seg)
    }

    fn append_to(&mut self, rewrite: bool, frames: &[u8]) -> Result<u64, BackendError> {
        self.append_in(rewrite, frames, true)
    }

    /// A writer's first write clears an earlier writer's durable mark (unless it announces
    /// its own).
    fn before_writing(&mut self) -> Result<(), BackendError> {
        self.clear_marks_once().map_err(to_backend)
    }

    /// Appends to the live set's (or the rewrite's) last segment, first starting a new segment
    /// when `may_rotate` and the last one is full.
    fn append_in(
        &mut self,
        rewrite: bool,
        frames: &[u8],
        may_rotate: bool,
    ) -> Result<u64, BackendError> {
        if let Some(reason) = &self.broken {
            return Err(BackendError::Io(reason.clone()));
        }
        let (active, len) = {
            let set = if rewrite {
                self.rewrite
                    .as_ref()
                    .ok_or(BackendError::RewriteState("append before begin_rewrite"))?
            } else {
                &self.live
            };
            let (seg, s) = set
                .segments
                .iter()
                .next_back()
                .ok_or(BackendError::RewriteState("no segment"))?;
            (*seg, s.len)
        };
        let version = if rewrite {
            self.rewrite
                .as_ref()
                .map_or(frame::FORMAT_VERSION, |r| r.version)
        } else {
            self.live.version
        };
        let fresh = len <= segment_opening_max(version);
        let active = if may_rotate && !fresh && len + frames.len() as u64 > self.segment_bytes {
            self.new_segment(rewrite).map_err(to_backend)?
        } else {
            active
        };
        let set = if rewrite {
            self.rewrite
                .as_mut()
                .ok_or(BackendError::RewriteState("append before begin_rewrite"))?
        } else {
            &mut self.live
        };
        let seg = set
            .segments
            .get_mut(&active)
            .ok_or(BackendError::RewriteState("no segment"))?;
        let offset = seg.len;
        if let Err(e) = seg.file.write_all_at(frames, offset) {
            // Leave the log exactly as before the call.
            if let Err(undo) = seg.file.set_len(offset) {
                self.broken = Some(format!(
                    "{}: append failed ({e}) and could not be undone ({undo})",
                    seg.path.display()
                ));
            }
            return Err(io_to_backend(&seg.path, e));
        }
        seg.len += frames.len() as u64;
        set.dirty.push(active);
        Ok(position(active, offset))
    }

    /// Reads the live segments' frames, from the start or (a refresh) from `from`, a segment
    /// and an offset in it where a sealed write ended.
    fn load_segments(
        &mut self,
        from: Option<(u32, u64)>,
        visit: &mut Visitor<'_>,
    ) -> Result<LoadReport> {
        let mut report = LoadReport::default();
        report.format_version = self.live.version;
        let first = self.live.segments.keys().next().copied();
        let last = self.live.segments.keys().next_back().copied();
        if let Some(claimed) = self.claimed_last
            && last.is_none_or(|l| l < claimed)
        {
            // CURRENT says the log reaches a segment that is not here: it was removed.
            return Err(Error::Corrupt {
                file: self.dir.join(segment_name(self.live.generation, claimed)),
                offset: 0,
                kind: CorruptKind::SegmentMissing(claimed),
            });
        }
        // Beside a writer that says where its log is durable, a reader reads no further (asked
        // once there is something to read).
        let mut limit: Option<Option<(u32, u64)>> = None;
        let from_segment = from.map_or(0, |(seg, _)| seg);
        let segs: Vec<u32> = self
            .live
            .segments
            .range(from_segment..)
            .map(|(s, _)| *s)
            .collect();
        let mut payload = Vec::new();
        let mut previous: Option<u32> = None;
        for seg in segs {
            let resume_at = from.filter(|(s, _)| *s == seg).map(|(_, offset)| offset);
            let (file, path, mut len) = {
                let s = &self.live.segments[&seg];
                (s.file.clone(), s.path.clone(), s.len)
            };
            let is_last = Some(seg) == last;
            let corrupt = |offset: u64, kind: CorruptKind| Error::Corrupt {
                file: path.clone(),
                offset,
                kind,
            };
            // A buffer as large as what is to be read, up to 1 MiB; a refresh usually reads
            // little, and measures the segment by reading it: a short first read is its end.
            let capacity = match resume_at {
                Some(_) => 64 << 10,
                None => len.clamp(64, 1 << 20) as usize,
            };
            let mut reader = BufReader::with_capacity(
                capacity,
                ReadAt {
                    file: file.as_ref(),
                    pos: resume_at.unwrap_or(0),
                },
            );
            if let Some(offset) = resume_at {
                let got = reader
                    .fill_buf()
                    .map_err(|e| Error::io(&path, "read", e))?
                    .len();
                len = if got < capacity {
                    offset + got as u64
                } else {
                    file.size().map_err(|e| Error::io(&path, "stat", e))?
                };
                self.live_segment(seg)?.len = len;
                if len == offset && is_last {
                    break; // nothing new
                }
            }
            if self.read_only() {
                let limit = match limit {
                    Some(limit) => limit,
                    None => *limit.insert(self.durable_limit()?),
                };
                match limit {
                    Some((limit, _)) if seg > limit => break,
                    Some((limit, offset)) if seg == limit => len = len.min(offset),
                    _ => {}
                }
            }
            let mut offset = match resume_at {
                // A refresh goes on where the last sealed write it saw ended.
                Some(offset) => offset,
                None => {
                    let mut header = [0u8; HEADER_LEN];
                    let got = read_full(&mut reader, &mut header)
                        .map_err(|e| Error::io(&path, "read", e))?;
                    let version = self.live.version;
                    if got < HEADER_LEN {
                        if is_last && header[..got] == frame::header_of(version)[..got] {
                            // Created but its header never fully landed: a writer writes its
                            // opening again.
                            if got > 0 {
                                self.torn_tail(seg, 0, &mut report)?;
                            }
                            if !self.read_only() {
                                self.reopen_segment(seg, previous, &mut report, visit)?;
                            }
                            continue;
                        }
                        return Err(corrupt(0, CorruptKind::Truncated));
                    }
                    let found = frame::check_header(&header).map_err(|kind| corrupt(0, kind))?;
                    if Some(seg) == first && from.is_none() {
                        self.live.version = found;
                        report.format_version = found;
                    } else if found != version {
                        return Err(corrupt(
                            0,
                            CorruptKind::Inconsistent(
                                "segments of one log in different format versions",
                            ),
                        ));
                    }
                    report.log_bytes += HEADER_LEN as u64;
                    HEADER_LEN as u64
                }
            };
            let frames_before = report.frames;
            loop {
                if offset >= len {
                    // The view ends here (more may have been appended since it was measured).
                    break;
                }
                let mut fh = [0u8; FRAME_HEADER_LEN];
                let got =
                    read_full(&mut reader, &mut fh).map_err(|e| Error::io(&path, "read", e))?;
                if got == 0 {
                    break;
                }
                // A bad frame is a torn tail only when it is in the last segment and nothing
                // intact follows it (a crash cuts writes short; it does not leave whole frames
                // behind a damaged one), or — for a writer's open — when it lies past where the
                // last writer said its log was synced (its durable mark): writes that share one
                // sync (group commit) can reach the disk in any order when the power goes, and
                // none of them was acknowledged. Anything else is corruption.
                let bad = |this: &mut Self,
                           report: &mut LoadReport,
                           kind: CorruptKind|
                 -> Result<()> {
                    let follows =
                        intact_frame_after(file.as_ref(), offset + FRAME_HEADER_LEN as u64, len)
                            .map_err(|e| Error::io(&path, "read", e))?;
                    let unsynced = is_last
                        && follows
                        && !this.read_only()
                        && this
                            .durable_limit()?
                            .is_some_and(|(mark_seg, mark_offset)| {
                                seg > mark_seg || (seg == mark_seg && offset >= mark_offset)
                            });
                    if is_last && (!follows || unsynced) {
                        this.torn_tail(seg, offset, report)
                    } else if follows {
                        Err(corrupt(offset, kind))
                    } else {
                        Err(corrupt(offset, CorruptKind::Truncated))
                    }
                };
                if got < FRAME_HEADER_LEN {
                    bad(self, &mut report, CorruptKind::Truncated)?;
                    break;
                }
                let head = FrameHeader::from_bytes(&fh);
                let plen = head.len;
                let end = offset + head.frame_len() as u64;
                if plen > MAX_PAYLOAD {
                    bad(self, &mut report, CorruptKind::FrameTooLarge(plen))?;
                    break;
                }
                if end > len {
                    bad(self, &mut report, CorruptKind::Checksum)?;
                    break;
                }
                payload.resize(plen as usize, 0);
                let got = read_full(&mut reader, &mut payload)
                    .map_err(|e| Error::io(&path, "read", e))?;
                if got < plen as usize {
                    bad(self, &mut report, CorruptKind::Truncated)?;
                    break;
                }
                if plen == 0 || !head.matches(&payload) {
                    if !is_last && end == len {
                        // Whole but damaged, at the end of an earlier segment.
                        return Err(corrupt(offset, CorruptKind::Checksum));
                    }
                    bad(self, &mut report, CorruptKind::Checksum)?;
                    break;
                }
                let payload_pos = position(seg, offset + FRAME_HEADER_LEN as u64);
                visit(payload_pos, &payload).map_err(|err| match err {
                    rewind_core::Error::Corrupt { kind, .. } => corrupt(offset, kind),
                    other => Error::Store(other),
                })?;
                report.frames += 1;
                report.log_bytes = report.log_bytes.saturating_add(end - offset);
                offset = end;
            }
            if is_last
                && self.live.version >= 2
                && report.frames == frames_before
                && resume_at.is_none()
                && !self.read_only()
            {
                // A version 2 segment whose opening frame was cut off with a torn tail: a
                // writer writes it again before appending. (Not one read from a point inside
                // it, an index snapshot's: the frames before that point are its opening.)
                self.reopen_segment(seg, previous, &mut report, visit)?;
            }
            previous = Some(seg);
        }
        Ok(report)
    }

    /// A read-only backend's refresh: reads what was appended after `from` (`Some`), or
    /// prepares the generation `CURRENT` now names for the next `load` (`None`) when it changed
    /// or `from` is 0 (read everything again). The files of the old generation stay open, so
    /// the view they hold stays readable after the writer deletes them.
    fn refresh_segments(
        &mut self,
        from: u64,
        visit: &mut Visitor<'_>,
    ) -> Result<Option<LoadReport>> {
        let dir = self.dir.clone();
        let (generation, claimed_last) = self.current_now()?;
        if generation != self.live.generation || from == 0 {
            let old = std::mem::replace(
                &mut self.live,
                SegmentSet {
                    generation,
                    version: frame::FORMAT_VERSION,
                    ..SegmentSet::default()
                },
            );
            let opened = self.open_segments();
            let next = std::mem::replace(&mut self.live, old);
            opened?;
            self.switch_to = Some((next, claimed_last));
            return Ok(None);
        }
        // Segments the writer started since the last look (CURRENT names the newest before
        // anything is written into it).
        let last = self.live.segments.keys().next_back().copied();
        if claimed_last.is_some_and(|claimed| last.is_none_or(|l| claimed > l)) {
            for (path, g, seg) in list_segments(self.fs.as_ref(), &dir)? {
                if g != generation || last.is_some_and(|l| seg <= l) {
                    continue;
                }
                let file = self
                    .fs
                    .open(&path, OpenMode::Read)
                    .map_err(|e| Error::io(&path, "open", e))?;
                self.live
                    .segments
                    .insert(seg, Segment { file, path, len: 0 });
            }
        }
        self.claimed_last = claimed_last;
        // Later segments are measured here; the one the view ends in, by reading on in it.
        let (from_segment, offset) = split_position(from);
        for s in self
            .live
            .segments
            .range_mut(from_segment.saturating_add(1)..)
            .map(|(_, s)| s)
        {
            s.len = s.file.size().map_err(|e| Error::io(&s.path, "stat", e))?;
        }
        self.report.torn_tail = None;
        self.report.segments = self.live.segments.len();
        let report = self.load_segments(Some((from_segment, offset)), visit)?;
        Ok(Some(report))
    }

    /// What `CURRENT` says now, for a refresh. It is read again only when its stamp changed
    /// (it is replaced, never edited), or a second has passed — a stamp can in theory repeat
    /// (a reused inode number within the clock's granularity), so a change is noticed within a
    /// second at worst; until then the reader's view is older, never inconsistent.
    fn current_now(&mut self) -> Result<(u32, Option<u32>)> {
        let path = self.dir.join(CURRENT_FILE);
        let stamp = self
            .fs
            .stamp(&path)
            .map_err(|e| Error::io(&path, "stat", e))?;
        if let (Some(stamp), Some((seen, when, said))) = (stamp, &self.current_seen)
            && stamp == *seen
            && when.elapsed() < std::time::Duration::from_secs(1)
        {
            return Ok(*said);
        }
        let said = read_current(self.fs.as_ref(), &self.dir)?.ok_or_else(|| Error::NotAStore {
            path: self.dir.clone(),
            reason: format!("the {CURRENT_FILE} file is gone"),
        })?;
        self.current_seen = stamp.map(|stamp| (stamp, std::time::Instant::now(), said));
        Ok(said)
    }

    /// Writes a segment's opening (header, and the segment start in version 2) over a segment
    /// that has nothing else, and replays the segment start. The segment holds at most a
    /// prefix of the opening (a torn tail was cut first), so the write alone sets its length: a
    /// separate length change could reach the disk without the write and leave zeros where
    /// the header belongs.
    fn reopen_segment(
        &mut self,
        seg: u32,
        previous: Option<u32>,
        report: &mut LoadReport,
        visit: &mut Visitor<'_>,
    ) -> Result<()> {
        let opening = segment_opening(self.live.version, seg, previous);
        let s = self.live_segment(seg)?;
        s.file
            .write_all_at(&opening, 0)
            .and_then(|_| s.file.sync_all())
            .map_err(|e| Error::io(&s.path, "write", e))?;
        s.len = opening.len() as u64;
        if opening.len() > HEADER_LEN {
            let payload = &opening[HEADER_LEN + FRAME_HEADER_LEN..];
            visit(
                position(seg, (HEADER_LEN + FRAME_HEADER_LEN) as u64),
                payload,
            )
            .map_err(Error::Store)?;
            report.frames += 1;
        }
        report.log_bytes += opening.len() as u64;
        Ok(())
    }

    /// A live segment being opened.
    fn live_segment(&mut self, seg: u32) -> Result<&mut Segment> {
        self.live
            .segments
            .get_mut(&seg)
            .ok_or_else(|| Error::NotAStore {
                path: self.dir.clone(),
                reason: "segment vanished during open".into(),
            })
    }

    /// Deals with a torn tail at `offset` of the last segment: a read-only open notes it and
    /// reads no further; a writer moves the bytes aside (synced) and then cuts the segment.
    fn torn_tail(&mut self, seg: u32, offset: u64, report: &mut LoadReport) -> Result<()> {
        let read_only = self.read_only();
        let fs = self.fs.clone();
        let s = self.live_segment(seg)?;
        let len = s.len.saturating_sub(offset);
        report.truncated_bytes += len;
        let moved_to = if read_only {
            None
        } else {
            let aside = move_aside(fs.as_ref(), s.file.as_ref(), &s.path, offset, s.len)?;
            s.file
                .set_len(offset)
                .and_then(|_| s.file.sync_all())
                .map_err(|e| Error::io(&s.path, "truncate", e))?;
            s.len = offset;
            Some(aside)
        };
        self.report.torn_tail = Some(TornTail {
            file: s.path.clone(),
            offset,
            len,
            moved_to,
        });
        Ok(())
    }
}

impl Backend for FileBackend {
    fn append(&mut self, frames: &[u8]) -> Result<u64, BackendError> {
        if self.read_only() {
            return Err(BackendError::ReadOnly);
        }
        self.before_writing()?;
        self.append_to(false, frames)
    }

    fn append_closing(&mut self, frames: &[u8]) -> Result<u64, BackendError> {
        if self.read_only() {
            return Err(BackendError::ReadOnly);
        }
        self.before_writing()?;
        self.append_in(false, frames, false)
    }

    fn sync(&mut self) -> Result<(), BackendError> {
        self.sync_now().map_err(to_backend)
    }

    fn is_read_only(&self) -> bool {
        self.read_only()
    }

    fn load(&mut self, visit: &mut Visitor<'_>) -> Result<LoadReport, rewind_core::Error> {
        let Some((next, claimed)) = self.switch_to.take() else {
            return match self.load_segments(None, visit) {
                Ok(report) => {
                    self.report.load = report.clone();
                    Ok(report)
                }
                Err(err) => {
                    if matches!(err, Error::Corrupt { .. }) {
                        self.report.torn_tail = None;
                        self.broken = Some(err.to_string());
                    }
                    Err(engine_error(err))
                }
            };
        };
        // A refresh found the log replaced: read the new generation, and keep it only if it
        // reads (a reader's old view stays whole otherwise).
        let old = std::mem::replace(&mut self.live, next);
        let old_claim = std::mem::replace(&mut self.claimed_last, claimed);
        let old_report = std::mem::take(&mut self.report);
        match self.load_segments(None, visit) {
            Ok(report) => {
                self.report.segments = self.live.segments.len();
                self.report.load = report.clone();
                Ok(report)
            }
            Err(err) => {
                self.live = old;
                self.claimed_last = old_claim;
                self.report = old_report;
                Err(engine_error(err))
            }
        }
    }

    fn load_from(
        &mut self,
        from: u64,
        visit: &mut Visitor<'_>,
    ) -> Result<Option<LoadReport>, rewind_core::Error> {
        if self.switch_to.is_some() {
            return Ok(None);
        }
        // The segments before `from` are not read: the format version comes from the first
        // one's header.
        let first = self.live.segments.values().next();
        if let Some(first) = first {
            let mut header = [0u8; HEADER_LEN];
            first
                .file
                .read_exact_at(&mut header, 0)
                .map_err(|e| engine_error(Error::io(&first.path, "read", e)))?;
            self.live.version = frame::check_header(&header).map_err(|kind| {
                engine_error(Error::Corrupt {
                    file: first.path.clone(),
                    offset: 0,
                    kind,
                })
            })?;
        }
        let report = self
            .load_segments(Some(split_position(from)), visit)
            .map_err(engine_error)?;
        self.report.load = report.clone();
        self.report.segments = self.live.segments.len();
        Ok(Some(report))
    }

    fn keeps_snapshots(&self) -> bool {
        !self.read_only()
    }

    /// The snapshot file, read a block at a time as the store needs it: an open holds the
    /// file, not its bytes. A writer replacing it renames a new file over it, so the file
    /// held stays as it was.
    fn open_snapshot(&mut self) -> Result<Option<Arc<dyn SnapshotBytes>>, BackendError> {
        let Some((file, path)) = self.open_existing(INDEX_FILE)? else {
            return Ok(None);
        };
        let len = file.size().map_err(|e| io_to_backend(&path, e))?;
        Ok(Some(Arc::new(SnapshotFile { file, len, path })))
    }

    fn read_snapshot(&mut self) -> Result<Option<Vec<u8>>, BackendError> {
        self.read_whole(INDEX_FILE)
    }

    fn read_snapshot_delta(&mut self) -> Result<Option<Vec<u8>>, BackendError> {
        self.read_whole(INDEX_DELTA_FILE)
    }

    fn write_snapshot_delta(&mut self, bytes: &[u8]) -> Result<bool, BackendError> {
        if self.read_only() {
            return Err(BackendError::ReadOnly);
        }
        if bytes.is_empty() {
            let path = self.dir.join(INDEX_DELTA_FILE);
            match self.fs.remove(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(io_to_backend(&path, e)),
            }
            return Ok(true);
        }
        replace_file(self.fs.as_ref(), &self.dir, INDEX_DELTA_FILE, bytes).map_err(to_backend)?;
        Ok(true)
    }

    fn write_snapshot(&mut self, bytes: &[u8]) -> Result<bool, BackendError> {
        if self.read_only() {
            return Err(BackendError::ReadOnly);
        }
        replace_file(self.fs.as_ref(), &self.dir, INDEX_FILE, bytes).map_err(to_backend)?;
        Ok(true)
    }

    /// A writer merges whole snapshots on a thread (`build_merged_snapshot`). Built
    /// for WebAssembly, which has no threads, it leaves them to the store, which writes them.
    fn runs_snapshot_merges(&self) -> bool {
        cfg!(unix) && !self.read_only()
    }

    fn start_snapshot_merge(&mut self, merge: SnapshotMerge) -> bool {
        if self.read_only() {
            return false;
        }
        // One at a time: they write the same file.
        if let Some(running) = self.merge.take() {
            let _ = running.join();
        }
        match build_merged_snapshot(merge, self.fs.clone(), self.dir.clone()) {
            Ok(thread) => {
                self.merge = Some(thread);
                true
            }
            Err(_) => false,
        }
    }

    fn snapshot_merge_done(&mut self, wait: bool) -> Option<bool> {
        if !wait && !self.merge.as_ref()?.is_finished() {
            return None;
        }
        Some(self.merge.take()?.join().unwrap_or(false))
    }

    /// Renames the merged snapshot over the index snapshot, then syncs the directory.
    fn install_merged_snapshot(&mut self) -> Result<bool, BackendError> {
        if self.read_only() {
            return Err(BackendError::ReadOnly);
        }
        let from = self.dir.join(INDEX_MERGE_FILE);
        let to = self.dir.join(INDEX_FILE);
        self.fs
            .rename(&from, &to)
            .map_err(|e| Error::io(&to, "replace", e))
            .and_then(|()| sync_dir(self.fs.as_ref(), &self.dir))
            .map_err(to_backend)?;
        Ok(true)
    }

    fn discard_merged_snapshot(&mut self) {
        let _ = self.fs.remove(&self.dir.join(INDEX_MERGE_FILE));
    }

    fn refresh(
        &mut self,
        from: u64,
        visit: &mut Visitor<'_>,
    ) -> Result<Refresh, rewind_core::Error> {
        if !self.read_only() {
            return Ok(Refresh::Appended(LoadReport::default()));
        }
        match self.refresh_segments(from, visit) {
            Ok(Some(report)) => Ok(Refresh::Appended(report)),
            Ok(None) => Ok(Refresh::Replaced {
                rewritten: self
                    .switch_to
                    .as_ref()
                    .is_some_and(|(next, _)| next.generation != self.live.generation),
            }),
            Err(err) => Err(engine_error(err)),
        }
    }

    fn read_at(&self, pos: u64, buf: &mut [u8]) -> Result<(), BackendError> {
        let (seg, offset) = split_position(pos);
        let s = self
            .live
            .segments
            .get(&seg)
            .or_else(|| self.rewrite.as_ref().and_then(|r| r.segments.get(&seg)))
            .ok_or(BackendError::OutOfRange {
                pos,
                len: buf.len() as u64,
            })?;
        if offset + buf.len() as u64 > s.len {
            return Err(BackendError::OutOfRange {
                pos,
                len: buf.len() as u64,
            });
        }
        s.file
            .read_exact_at(buf, offset)
            .map_err(|e| io_to_backend(&s.path, e))
    }

    fn begin_rewrite(&mut self) -> Result<(), BackendError> {
        if self.read_only() {
            return Err(BackendError::ReadOnly);
        }
        self.before_writing()?;
        if self.rewrite.is_some() {
            self.abort_rewrite();
        }
        self.rewrite = Some(SegmentSet {
            generation: self.live.generation.wrapping_add(1),
            version: frame::FORMAT_VERSION,
            ..SegmentSet::default()
        });
        // A begin that fails cleans up after itself: the store does not abort what it never
        // saw begin.
        if let Err(err) = self.new_segment(true) {
            self.abort_rewrite();
            return Err(to_backend(err));
        }
        Ok(())
    }

    fn rewrite_append(&mut self, frames: &[u8]) -> Result<u64, BackendError> {
        self.append_to(true, frames)
    }

    fn commit_rewrite(&mut self) -> Result<(), BackendError> {
        let mut next = self
            .rewrite
            .take()
            .ok_or(BackendError::RewriteState("commit before begin_rewrite"))?;
        // 1. The new generation is durable before anything points at it.
        let synced = next
            .segments
            .values()
            .try_for_each(|s| s.file.sync_all().map_err(|e| io_to_backend(&s.path, e)))
            .and_then(|_| sync_dir(self.fs.as_ref(), &self.dir).map_err(to_backend));
        if let Err(e) = synced {
            self.rewrite = Some(next);
            self.abort_rewrite();
            return Err(e);
        }
        // 2. The atomic switch.
        let newest = next.segments.keys().next_back().copied();
        if let Err(e) = write_current(self.fs.as_ref(), &self.dir, next.generation, newest) {
            self.rewrite = Some(next);
            self.abort_rewrite();
            return Err(to_backend(e));
        }
        // 3. The old generation is garbage; a crash before it is gone leaves it for the next
        // open to delete.
        next.dirty.clear();
        next.dir_dirty = false;
        let old = std::mem::replace(&mut self.live, next);
        if let Some(marks) = self.marks.as_ref().filter(|_| self.announcing) {
            // Synced in step 1, and nothing is appended before this mark: readers that see
            // the new generation first read it without a limit, safely. If the mark cannot be
            // written, later writes could show unsynced: refuse them.
            if let Err(e) = marks.advance((self.live.generation, self.end_position())) {
                self.broken = Some(format!("{DURABLE_FILE} could not be written: {e}"));
            }
        }
        for s in old.segments.values() {
            let _ = self.fs.remove(&s.path);
        }
        // The old generation's index snapshot describes a log that is gone (an open would
        // find it stale; the store writes one of the new log next).
        let _ = self.fs.remove(&self.dir.join(INDEX_FILE));
        let _ = self.fs.remove(&self.dir.join(INDEX_DELTA_FILE));
        let _ = sync_dir(self.fs.as_ref(), &self.dir);
        Ok(())
    }

    fn abort_rewrite(&mut self) {
        if let Some(set) = self.rewrite.take() {
            for s in set.segments.values() {
                let _ = self.fs.remove(&s.path);
            }
        }
    }
}

impl Drop for FileBackend {
    fn drop(&mut self) {
        if self.read_only() {
            return;
        }
        // A merge still running ends before the lock is released, so it never writes beside
        // the next writer's (what it wrote is overwritten by the next merge).
        if let Some(running) = self.merge.take() {
            let _ = running.join();
        }
        // Whatever was appended reaches the disk when the store closes normally, whatever the
        // durability setting; only a crash can lose unsynced writes.
        self.abort_rewrite();
        let _ = self.sync_now();
    }
}

/// A `Read` over a file using positional reads, so concurrent readers of the same `File` (which
/// use `pread` too) are not disturbed by a shared cursor.
struct ReadAt<'a> {
    file: &'a dyn StoreFile,
    pos: u64,
}

impl Read for ReadAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Copies bytes `from..len` of a segment to a new file beside it, `<segment>.torn-<from>` (with
/// a counter when that exists), synced with its directory entry; returns its path.
fn move_aside(
    fs: &dyn FileSystem,
    file: &dyn StoreFile,
    path: &Path,
    from: u64,
    len: u64,
) -> Result<PathBuf> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let mut n = 0u32;
    let (aside, out) = loop {
        let candidate = match n {
            0 => path.with_file_name(format!("{name}.torn-{from}")),
            n => path.with_file_name(format!("{name}.torn-{from}.{n}")),
        };
        match fs.open(&candidate, OpenMode::CreateNew) {
            Ok(out) => break (candidate, out),
            Err(e) if e.kind() == ErrorKind::AlreadyExists && n < 1000 => n += 1,
            Err(e) => return Err(Error::io(&candidate, "create", e)),
        }
    };
    let mut bytes = vec![0u8; len.saturating_sub(from) as usize];
    file.read_exact_at(&mut bytes, from)
        .and_then(|_| out.write_all_at(&bytes, 0))
        .and_then(|_| out.sync_all())
        .map_err(|e| Error::io(&aside, "write", e))?;
    if let Some(dir) = path.parent() {
        sync_dir(fs, dir)?;
    }
    Ok(aside)
}

/// Whether an intact frame starts anywhere in `file` between `from` and `len`.
fn intact_frame_after(file: &dyn StoreFile, from: u64, len: u64) -> io::Result<bool> {
    if from >= len {
        return Ok(false);
    }
    let mut rest = vec![0u8; (len - from) as usize];
    file.read_exact_at(&mut rest, from)?;
    Ok(log::valid_frame_within(&rest))
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// The generation `CURRENT` names and (version 2) the newest segment it claims, or `None` when
/// there is no `CURRENT` file.
pub(crate) fn read_current(fs: &dyn FileSystem, dir: &Path) -> Result<Option<(u32, Option<u32>)>> {
    let current = dir.join(CURRENT_FILE);
    let file = match fs.open(&current, OpenMode::Read) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&current, "read", e)),
    };
    // CURRENT is a few dozen bytes; anything much longer is not one.
    let mut bytes = vec![0u8; 256];
    let mut got = 0;
    while got < bytes.len() {
        match file.read_at(&mut bytes[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(&current, "read", e)),
        }
    }
    bytes.truncate(got);
    let text = String::from_utf8_lossy(&bytes);
    let bad = || Error::NotAStore {
        path: dir.to_path_buf(),
        reason: format!("{CURRENT_FILE} does not name a generation"),
    };
    let mut lines = text.lines();
    let generation = lines
        .next()
        .and_then(|l| l.strip_prefix(CURRENT_PREFIX))
        .and_then(|g| g.trim().parse::<u32>().ok())
        .ok_or_else(bad)?;
    let last = match lines.next() {
        None => None,
        Some(line) => Some(
            line.strip_prefix(LAST_SEGMENT_PREFIX)
                .and_then(|s| s.trim().parse::<u32>().ok())
                .ok_or_else(bad)?,
        ),
    };
    Ok(Some((generation, last)))
}

/// What a new segment starts with: the log header and, in version 2, its segment start.
fn segment_opening(version: u16, segment: u32, previous: Option<u32>) -> Vec<u8> {
    let mut out = frame::header_of(version).to_vec();
    if version >= 2 {
        out.extend_from_slice(&log::segment_start_frame(segment, previous));
    }
    out
}

/// The most a segment holding its opening only can measure: a segment no longer than this has
/// no records yet. (Version 2: the segment start with the largest numbers — a kind byte, a
/// 5-byte varint, an option tag and another 5-byte varint.)
fn segment_opening_max(version: u16) -> u64 {
    const V2: usize = HEADER_LEN + FRAME_HEADER_LEN + 1 + 5 + 1 + 5;
    if version >= 2 {
        V2 as u64
    } else {
        HEADER_LEN as u64
    }
}

fn list_segments(fs: &dyn FileSystem, dir: &Path) -> Result<Vec<(PathBuf, u32, u32)>> {
    let mut out = Vec::new();
    for name in fs.list(dir).map_err(|e| Error::io(dir, "list", e))? {
        if let Some((g, s)) = name.to_str().and_then(parse_segment_name) {
            out.push((dir.join(name), g, s));
        }
    }
    out.sort_by_key(|(_, g, s)| (*g, *s));
    Ok(out)
}

fn write_current(
    fs: &dyn FileSystem,
    dir: &Path,
    generation: u32,
    last: Option<u32>,
) -> Result<()> {
    let text = match last {
        Some(last) => format!("{CURRENT_PREFIX}{generation}\n{LAST_SEGMENT_PREFIX}{last}\n"),
        None => format!("{CURRENT_PREFIX}{generation}\n"),
    };
    replace_file(fs, dir, CURRENT_FILE, text.as_bytes())
}

/// Replaces the file `name` in `dir` with `bytes` atomically: written and synced as
/// `<name>.tmp`, renamed over it, and the directory synced.
fn replace_file(fs: &dyn FileSystem, dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    fs.open(&tmp, OpenMode::Replace)
        .and_then(|file| {
            file.write_all_at(bytes, 0)?;
            file.sync_all()
        })
        .map_err(|e| Error::io(&tmp, "write", e))?;
    fs.rename(&tmp, &path)
        .map_err(|e| Error::io(&path, "replace", e))?;
    sync_dir(fs, dir)
}

fn sync_dir(fs: &dyn FileSystem, dir: &Path) -> Result<()> {
    fs.sync_dir(dir)
        .map_err(|e| Error::io(dir, "sync directory", e))
}

/// The engine's form of a backend error. A corrupt file's position becomes a log position;
/// the host keeps the file-level detail (it reports the error from the open instead).
fn engine_error(err: Error) -> rewind_core::Error {
    match err {
        Error::Store(err) => err,
        Error::Corrupt { file, offset, kind } => {
            let seg = parse_segment_name(
                file.file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default(),
            )
            .map_or(0, |(_, s)| s);
            rewind_core::Error::Corrupt {
                at: position(seg, offset),
                kind,
            }
        }
        other => rewind_core::Error::Backend(BackendError::Io(other.to_string())),
    }
}

fn io_to_backend(path: &Path, e: io::Error) -> BackendError {
    let msg = format!("{}: {e}", path.display());
    match e.kind() {
        // ENOSPC and EDQUOT; also what a file system supplied by a host says.
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => BackendError::Full(msg),
        _ => BackendError::Io(msg),
    }
}

fn to_backend(e: Error) -> BackendError {
    match e {
        Error::Io { path, source, .. } => io_to_backend(&path, source),
        other => BackendError::Io(other.to_string()),
    }
}

/// An index snapshot file the store reads a block at a time (see
/// [`FileBackend::open_snapshot`](Backend::open_snapshot)).
struct SnapshotFile {
    file: Arc<dyn StoreFile>,
    len: u64,
    path: PathBuf,
}

impl SnapshotBytes for SnapshotFile {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, pos: u64, buf: &mut [u8]) -> Result<(), BackendError> {
        self.file
            .read_exact_at(buf, pos)
            .map_err(|e| io_to_backend(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_split_back() {
        let pos = position(7, 123_456);
        assert_eq!(split_position(pos), (7, 123_456));
    }

    #[test]
    fn the_longest_opening_is_what_fresh_segments_are_measured_against() {
        for version in [1, 2] {
            let longest = segment_opening(version, u32::MAX, Some(u32::MAX)).len() as u64;
            assert_eq!(segment_opening_max(version), longest);
        }
    }

    #[test]
    fn segment_names_round_trip() {
        assert_eq!(parse_segment_name(&segment_name(3, 258)), Some((3, 258)));
        assert_eq!(parse_segment_name("CURRENT"), None);
        assert_eq!(parse_segment_name("0000000g-00000001.seg"), None);
    }
}
