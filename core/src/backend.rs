//! The storage contract: a backend keeps bytes, core keeps meaning.
//!
//! A backend holds one log (see [`crate::log`]) and knows nothing about records. Core
//! appends encoded frames, asks for durability with `sync`, replays the log at open, reads chunk
//! bytes back by position, and replaces the whole log when it compacts. Positions are opaque
//! `u64`s chosen by the backend, with one rule: within one `append` (or `rewrite_append`) call,
//! the byte at offset `k` of the given slice lives at `returned position + k`, so a backend must
//! not split one call's bytes across places that break that arithmetic (a segmented file store
//! rotates segments between calls, not within one).
//!
//! The log rewrite is streaming so that a large store is never held in memory: `begin_rewrite`,
//! any number of `rewrite_append`, then `commit_rewrite` switches atomically (or
//! `abort_rewrite` leaves the old log untouched). Until the commit, `read_at` keeps serving
//! the old log.
//!
//! [`MemoryBackend`] keeps the log in a `Vec<u8>`; it is the reference implementation.

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::error::{BackendError, Error};
use crate::frame::{self, HEADER_LEN};
use crate::log::{self, ScanStop};

/// Receives each record of a log during [`Backend::load`]: the position of the payload's first
/// byte and the payload.
pub type Visitor<'a> = dyn FnMut(u64, &[u8]) -> Result<(), Error> + 'a;

/// What a backend found while loading.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadReport {
    /// Bytes of a torn tail that were dropped (a frame cut short by a crash mid-write).
    pub truncated_bytes: u64,
    /// Number of frames replayed.
    pub frames: u64,
    /// Bytes of log read.
    pub log_bytes: u64,
    /// Records of a transaction that a crash cut short, replayed as if never written (set by
    /// the store, not the backend).
    pub discarded_records: u64,
    /// The log ended inside a transaction (even one none of whose records had landed yet).
    pub unfinished_transaction: bool,
    /// The format version in the log's header, when the backend keeps one (0 when it does
    /// not say: the records then tell).
    pub format_version: u16,
    /// Frames after the last seal of a version 2 log: a write a crash cut short before
    /// its seal (set by the store; a writer's open seals them).
    pub unsealed_frames: u32,
    /// Whether the head asked for with [`Options::expect_head`](crate::Options::expect_head)
    /// was reached by a seal of the log, or is the head of the log a compaction replaced
    /// (`None` when none was asked for; set by the store).
    pub expected_head_found: Option<bool>,
    /// Whether an index snapshot was used (set by the store; see [`crate::snapshot`]).
    pub snapshot: crate::SnapshotUse,
}

/// What a read-only backend found when asked to [`refresh`](Backend::refresh).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refresh {
    /// The frames appended after the position asked for were replayed (none when nothing
    /// was appended). `log_bytes` counts the bytes read from that position.
    Appended(LoadReport),
    /// The log was replaced (a compaction switched to a new one), or cannot be read on from
    /// the position asked for: the backend now shows the current log, to be read from its
    /// start with [`load`](Backend::load). `rewritten`: a compaction replaced it.
    Replaced {
        /// Whether the log was replaced by a rewrite (as opposed to read again whole).
        rewritten: bool,
    },
}

/// The bytes of a persisted index snapshot as a store reads them in place (see
/// [`crate::snapshot`]): held in memory, or read from a file a block at a time. They must not
/// change while the store holds them (a snapshot is replaced by writing a new one beside it
/// and renaming it over the old, never in place).
pub trait SnapshotBytes: Send + Sync {
    /// The snapshot's length.
    fn len(&self) -> u64;
    /// Whether it is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fills `buf` with the bytes at `pos`.
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> Result<(), BackendError>;
    /// All of it, when it is held in memory (then it is read in place, not copied).
    fn in_memory(&self) -> Option<&[u8]> {
        None
    }
}

/// How many bytes `runs` (position, length) hold together.
fn runs_len(runs: &[(u64, u32)]) -> usize {
    runs.iter().map(|(_, len)| *len as usize).sum()
}

/// Fills `buf` with the bytes of `bytes` at `pos`, or says the range is outside them: the
/// `read_at` of everything that holds a log or snapshot as one byte string.
pub fn read_slice(bytes: &[u8], pos: u64, buf: &mut [u8]) -> Result<(), BackendError> {
    let out_of_range = BackendError::OutOfRange {
        pos,
        len: buf.len() as u64,
    };
    let start = usize::try_from(pos).map_err(|_| out_of_range.clone())?;
    let found = start
        .checked_add(buf.len())
        .and_then(|end| bytes.get(start..end))
        .ok_or(out_of_range)?;
    buf.copy_from_slice(found);
    Ok(())
}

impl SnapshotBytes for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> Result<(), BackendError> {
        read_slice(self, pos, buf)
    }
    fn in_memory(&self) -> Option<&[u8]> {
        Some(self)
    }
}

/// Byte storage for one store. `dyn`-usable.
pub trait Backend {
    /// Adds `frames` (whole frames) at the end of the log and returns the position of its first
    /// byte. Not durable until [`sync`](Backend::sync).
    fn append(&mut self, frames: &[u8]) -> Result<u64, BackendError>;
    /// Appends `frames` that finish the log's last write — the abort and seal a writer's open
    /// appends after a write a crash cut short — beside that write: a backend that splits its
    /// log into segments must not start a new segment for them, since a segment ends on a
    /// sealed write. Other backends append as usual (the default).
    fn append_closing(&mut self, frames: &[u8]) -> Result<u64, BackendError> {
        self.append(frames)
    }
    /// Makes everything appended so far durable.
    fn sync(&mut self) -> Result<(), BackendError>;
    /// Replays the log: calls `visit` with each frame's payload in order. A torn tail is dropped
    /// (and reported); corruption before the tail is an error.
    fn load(&mut self, visit: &mut Visitor<'_>) -> Result<LoadReport, Error>;
    /// Reads `buf.len()` bytes starting at `pos`.
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> Result<(), BackendError>;
    /// Appends the bytes of each of `runs` (log position, length), one after another, to `out`:
    /// the pieces of one state or attachment (chunks next to each other in the log already
    /// merged into one run). The default reads each run with [`read_at`](Backend::read_at); a
    /// backend whose reads each cost a call across a boundary (the sandbox component's host)
    /// fetches them all with one, and may hand over the buffer it got when `out` is empty
    /// rather than copy it.
    fn read_runs(&self, runs: &[(u64, u32)], out: &mut Vec<u8>) -> Result<(), BackendError> {
        out.reserve(runs_len(runs));
        for &(pos, len) in runs {
            let at = out.len();
            out.resize(at + len as usize, 0);
            self.read_at(pos, &mut out[at..])?;
        }
        Ok(())
    }
    /// The store is about to read the bytes at each of `positions` (the chunks of one state
    /// or attachment): a backend whose reads each cost a round trip to a server may fetch
    /// them together now. The default does nothing.
    fn prefetch(&self, positions: &[u64]) {
        let _ = positions;
    }
    /// Starts building a replacement log. When it fails, nothing was begun (and
    /// [`abort_rewrite`](Backend::abort_rewrite) is not called). A [shared](Backend::is_shared)
    /// backend that finds others wrote first fails with [`BackendError::Behind`], and may keep
    /// the others from writing while this writer catches up, so that its next try is not
    /// overtaken again; it lets them go at its next `begin_rewrite` or `append`, or when the
    /// write is over ([`end_write`](Backend::end_write)).
    fn begin_rewrite(&mut self) -> Result<(), BackendError>;
    /// Adds frames to the replacement log; returns the position (in the new log) of the first.
    fn rewrite_append(&mut self, frames: &[u8]) -> Result<u64, BackendError>;
    /// Makes the replacement durable and switches to it atomically.
    fn commit_rewrite(&mut self) -> Result<(), BackendError>;
    /// Discards the replacement; the old log stays as it was.
    fn abort_rewrite(&mut self);
    /// Whether the backend was opened read-only: the store then writes nothing, not even at
    /// open (an unfinished transaction at the end of the log is voided in memory only), and
    /// every write fails with [`BackendError::ReadOnly`].
    fn is_read_only(&self) -> bool {
        false
    }
    /// Whether other writers may append to the same log (a log on a database server that many
    /// processes write). Such a backend appends only at the end it last saw — an
    /// [`append`](Backend::append) or [`begin_rewrite`](Backend::begin_rewrite) finding that
    /// others appended (or compacted) first fails with [`BackendError::Behind`] and writes
    /// nothing — and [`refresh`](Backend::refresh) brings it to the log's end. The store then
    /// catches up on what the others wrote and plans the write again, as if the writes had been
    /// made one after another. The default: no, the store's writer is the log's only one.
    fn is_shared(&self) -> bool {
        false
    }
    /// Called when a write to a [shared](Backend::is_shared) log is over — landed, refused or
    /// given up — so a backend that kept the others out while its writer caught up (see
    /// [`BackendError::Behind`]) lets them in again. The default does nothing.
    fn end_write(&mut self) {}
    /// For a read-only backend following a writer elsewhere, or a writer of a
    /// [shared](Backend::is_shared) log catching up on what others appended: replays what was appended after
    /// `from` — where the last sealed write the store saw ends, or 0 to read the log again from
    /// its start — or reports that the log was replaced. Never writes. The default (a backend
    /// nobody else writes): nothing new.
    fn refresh(&mut self, from: u64, visit: &mut Visitor<'_>) -> Result<Refresh, Error> {
        let _ = (from, visit);
        Ok(Refresh::Appended(LoadReport::default()))
    }
    /// Replays the log from `from` on, as [`load`](Backend::load) replays it from its start:
    /// `from` is where a whole frame ends (an index snapshot's point), the frames before it are
    /// not read, and a torn tail after it is handled as `load` handles one. `log_bytes` in the
    /// report counts from `from`. `Ok(None)` (the default): the backend cannot, and the store
    /// loads the whole log.
    fn load_from(
        &mut self,
        from: u64,
        visit: &mut Visitor<'_>,
    ) -> Result<Option<LoadReport>, Error> {
        let _ = (from, visit);
        Ok(None)
    }
    /// Whether the backend keeps an index snapshot (the default: no). A store asks before it
    /// encodes one.
    fn keeps_snapshots(&self) -> bool {
        false
    }
    /// The persisted index snapshot as the store reads it in place (see
    /// [`crate::snapshot`]): by default the bytes [`read_snapshot`](Backend::read_snapshot)
    /// returns; a backend of files may map the file instead, so that only the pages read take
    /// memory.
    fn open_snapshot(&mut self) -> Result<Option<Arc<dyn SnapshotBytes>>, BackendError> {
        Ok(self
            .read_snapshot()?
            .map(|bytes| Arc::new(bytes) as Arc<dyn SnapshotBytes>))
    }

    /// The persisted delta of the index snapshot, if the backend keeps one (the default keeps
    /// none): what changed since the snapshot, written instead of a whole new snapshot (see
    /// [`crate::snapshot`]).
    fn read_snapshot_delta(&mut self) -> Result<Option<Vec<u8>>, BackendError> {
        Ok(None)
    }

    /// Replaces the snapshot's delta with `bytes` (empty: no delta), atomically. Returns
    /// whether it was kept (the default keeps none, and the store writes whole snapshots).
    fn write_snapshot_delta(&mut self, bytes: &[u8]) -> Result<bool, BackendError> {
        let _ = bytes;
        Ok(false)
    }

    /// The persisted index snapshot, if the backend keeps one (the default keeps none).
    fn read_snapshot(&mut self) -> Result<Option<Vec<u8>>, BackendError> {
        Ok(None)
    }
    /// Replaces the persisted index snapshot with `bytes`, atomically: a crash leaves the old
    /// one or the new one. Returns false when the backend keeps none (the default).
    fn write_snapshot(&mut self, bytes: &[u8]) -> Result<bool, BackendError> {
        let _ = bytes;
        Ok(false)
    }

    /// Whether the backend builds whole index snapshots away from the writer (the default:
    /// no). When it does, a writer never writes a whole snapshot during writes: it writes a
    /// delta and hands the merge of snapshot and delta to
    /// [`start_snapshot_merge`](Backend::start_snapshot_merge), polls
    /// [`snapshot_merge_done`](Backend::snapshot_merge_done) after each write, and puts the
    /// result in place with [`install_merged_snapshot`](Backend::install_merged_snapshot) (see
    /// [`crate::snapshot`]). A file backend runs the merge on a thread.
    fn runs_snapshot_merges(&self) -> bool {
        false
    }

    /// Starts building `merge` ([`SnapshotMerge::build`](crate::snapshot::SnapshotMerge::build))
    /// and storing the result beside the snapshot, not in its place, while the writer goes on.
    /// At most one runs at a time. Returns false when it was not started (the store then drops
    /// the merge, and the next one that falls due tries again).
    fn start_snapshot_merge(&mut self, merge: crate::snapshot::SnapshotMerge) -> bool {
        let _ = merge;
        false
    }

    /// How the merge started last ended: `None` while it runs (or when none runs),
    /// `Some(true)` once its snapshot is built and stored, ready to install, `Some(false)` when
    /// it failed. `wait`: block until it ends.
    fn snapshot_merge_done(&mut self, wait: bool) -> Option<bool> {
        let _ = wait;
        None
    }

    /// Puts the snapshot a merge stored in place of the index snapshot, atomically (a crash
    /// leaves the old one or the new one). Returns whether it did.
    fn install_merged_snapshot(&mut self) -> Result<bool, BackendError> {
        Ok(false)
    }

    /// Removes the snapshot a merge stored, which will not be installed.
    fn discard_merged_snapshot(&mut self) {}
}

impl<B: Backend + ?Sized> Backend for &mut B {
    fn append(&mut self, frames: &[u8]) -> Result<u64, BackendError> {
        (**self).append(frames)
    }
    fn append_closing(&mut self, frames: &[u8]) -> Result<u64, BackendError> {
        (**self).append_closing(frames)
    }
    fn refresh(&mut self, from: u64, visit: &mut Visitor<'_>) -> Result<Refresh, Error> {
        (**self).refresh(from, visit)
    }
    fn load_from(
        &mut self,
        from: u64,
        visit: &mut Visitor<'_>,
    ) -> Result<Option<LoadReport>, Error> {
        (**self).load_from(from, visit)
    }
    fn keeps_snapshots(&self) -> bool {
        (**self).keeps_snapshots()
    }
    fn open_snapshot(&mut self) -> Result<Option<Arc<dyn SnapshotBytes>>, BackendError> {
        (**self).open_snapshot()
    }
    fn read_snapshot(&mut self) -> Result<Option<Vec<u8>>, BackendError> {
        (**self).read_snapshot()
    }
    fn read_snapshot_delta(&mut self) -> Result<Option<Vec<u8>>, BackendError> {
        (**self).read_snapshot_delta()
    }
    fn write_snapshot_delta(&mut self, bytes: &[u8]) -> Result<bool, BackendError> {
        (**self).write_snapshot_delta(bytes)
    }
    fn write_snapshot(&mut self, bytes: &[u8]) -> Result<bool, BackendError> {
        (**self).write_snapshot(bytes)
    }
    fn runs_snapshot_merges(&self) -> bool {
        (**self).runs_snapshot_merges()
    }
    fn start_snapshot_merge(&mut self, merge: crate::snapshot::SnapshotMerge) -> bool {
        (**self).start_snapshot_merge(merge)
    }
    fn snapshot_merge_done(&mut self, wait: bool) -> Option<bool> {
        (**self).snapshot_merge_done(wait)
    }
    fn install_merged_snapshot(&mut self) -> Result<bool, BackendError> {
        (**self).install_merged_snapshot()
    }
    fn discard_merged_snapshot(&mut self) {
        (**self).discard_merged_snapshot()
    }
    fn sync(&mut self) -> Result<(), BackendError> {
        (**self).sync()
    }
    fn load(&mut self, visit: &mut Visitor<'_>) -> Result<LoadReport, Error> {
        (**self).load(visit)
    }
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> Result<(), BackendError> {
        (**self).read_at(pos, buf)
    }
    fn read_runs(&self, runs: &[(u64, u32)], out: &mut Vec<u8>) -> Result<(), BackendError> {
        (**self).read_runs(runs, out)
    }
    fn prefetch(&self, positions: &[u64]) {
        (**self).prefetch(positions)
    }
    fn begin_rewrite(&mut self) -> Result<(), BackendError> {
        (**self).begin_rewrite()
    }
    fn rewrite_append(&mut self, frames: &[u8]) -> Result<u64, BackendError> {
        (**self).rewrite_append(frames)
    }
    fn commit_rewrite(&mut self) -> Result<(), BackendError> {
        (**self).commit_rewrite()
    }
    fn abort_rewrite(&mut self) {
        (**self).abort_rewrite()
    }
    fn is_read_only(&self) -> bool {
        (**self).is_read_only()
    }
    fn is_shared(&self) -> bool {
        (**self).is_shared()
    }
    fn end_write(&mut self) {
        (**self).end_write()
    }
}

/// Replays a whole log held in `bytes` (header included) through `visit`, positions being
/// offsets in `bytes`. Returns the report and the length of the valid prefix (a torn tail is
/// not part of it). Backends that keep a log as one byte string share this.
pub fn replay_bytes(bytes: &[u8], visit: &mut Visitor<'_>) -> Result<(LoadReport, usize), Error> {
    let (mut report, valid) = replay_bytes_from(bytes, HEADER_LEN, visit)?;
    report.log_bytes += if valid > 0 { HEADER_LEN as u64 } else { 0 };
    Ok((report, valid))
}

/// [`replay_bytes`] from offset `from` (where a whole frame ends, or the header does): the
/// report's `log_bytes` counts from there.
pub fn replay_bytes_from(
    bytes: &[u8],
    from: usize,
    visit: &mut Visitor<'_>,
) -> Result<(LoadReport, usize), Error> {
    let (report, valid) = replay_part(bytes, bytes, 0, from as u64, visit)?;
    Ok((report, valid as usize))
}

/// Replays the frames of a part of a log from log position `from` (where a whole frame ends,
/// or the header does) to the part's end: `part` holds the log's bytes from position `base`
/// on, and `header` the log's first bytes (its header, which says the format version), so a
/// backend that holds only some of a log (fetched on demand) need not join it. Positions given
/// to `visit` are log positions. Returns the report (`log_bytes` counts from `from`) and the
/// log position where the valid frames end (a torn tail is not part of them).
pub fn replay_part(
    header: &[u8],
    part: &[u8],
    base: u64,
    from: u64,
    visit: &mut Visitor<'_>,
) -> Result<(LoadReport, u64), Error> {
    if header.is_empty() {
        return Ok((LoadReport::default(), 0));
    }
    let version = frame::check_header(header).map_err(|kind| Error::Corrupt { at: 0, kind })?;
    let mut report = LoadReport {
        format_version: version,
        ..LoadReport::default()
    };
    let start = from
        .checked_sub(base)
        .and_then(|at| usize::try_from(at).ok())
        .filter(|at| *at <= part.len() && from >= HEADER_LEN as u64)
        .ok_or(Error::Corrupt {
            at: from,
            kind: crate::CorruptKind::Truncated,
        })?;
    let mut valid = start;
    for frame in log::frames(part, start) {
        match frame {
            Ok(frame) => {
                visit(base + frame.payload_offset() as u64, frame.payload)?;
                report.frames += 1;
                valid = frame.end();
            }
            Err(ScanStop::TornTail { offset }) => {
                report.truncated_bytes = (part.len() - offset) as u64;
                break;
            }
            Err(ScanStop::Corrupt { offset, kind }) => {
                return Err(Error::Corrupt {
                    at: base + offset as u64,
                    kind,
                });
            }
        }
    }
    report.log_bytes = (valid - start) as u64;
    Ok((report, base + valid as u64))
}

/// A backend that keeps the log in memory. Nothing survives the process; everything else behaves
/// as on disk, including torn-tail handling when opened on bytes from elsewhere.
#[derive(Clone, Debug, Default)]
pub struct MemoryBackend {
    log: Vec<u8>,
    rewrite: Option<Vec<u8>>,
    snapshot: Option<Vec<u8>>,
    delta: Option<Vec<u8>>,
    /// Made by [`MemoryBackend::with_snapshot`]: keeps index snapshots.
    keeps_snapshots: bool,
}

impl MemoryBackend {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// A backend holding an existing log (for example a binary export, or bytes from another
    /// host). It is checked when the store opens.
    pub fn from_bytes(log: Vec<u8>) -> Self {
        MemoryBackend {
            log,
            rewrite: None,
            snapshot: None,
            delta: None,
            keeps_snapshots: false,
        }
    }

    /// A backend holding an existing log and an index snapshot (see [`crate::snapshot`])
    /// of it — or of anything else: it is checked when the store opens. Unlike the other
    /// constructors' backends (whose stores live as long as the process, and never reopen),
    /// it keeps the snapshots a store writes, so a test can reopen through them.
    pub fn with_snapshot(log: Vec<u8>, snapshot: Option<Vec<u8>>) -> Self {
        MemoryBackend {
            log,
            rewrite: None,
            snapshot,
            delta: None,
            keeps_snapshots: true,
        }
    }

    /// The backend with `delta` as its snapshot's delta (see [`crate::snapshot`]).
    pub fn with_snapshot_delta(mut self, delta: Option<Vec<u8>>) -> Self {
        self.delta = delta;
        self
    }

    /// The index snapshot last written, if any.
    pub fn snapshot(&self) -> Option<&[u8]> {
        self.snapshot.as_deref()
    }

    /// The snapshot's delta last written, if any.
    pub fn snapshot_delta(&self) -> Option<&[u8]> {
        self.delta.as_deref()
    }

    /// The whole log, header included.
    pub fn bytes(&self) -> &[u8] {
        &self.log
    }

    /// Takes the log out of the backend.
    pub fn into_bytes(self) -> Vec<u8> {
        self.log
    }

    fn ensure_header(log: &mut Vec<u8>) {
        if log.is_empty() {
            log.extend_from_slice(&frame::header());
        }
    }
}

impl Backend for MemoryBackend {
    fn append(&mut self, frames: &[u8]) -> Result<u64, BackendError> {
        Self::ensure_header(&mut self.log);
        let pos = self.log.len() as u64;
        self.log.extend_from_slice(frames);
        Ok(pos)
    }

    fn sync(&mut self) -> Result<(), BackendError> {
        Ok(())
    }

    fn load(&mut self, visit: &mut Visitor<'_>) -> Result<LoadReport, Error> {
        let (report, valid) = replay_bytes(&self.log, visit)?;
        // Drop a torn tail so later appends follow the last whole frame.
        self.log.truncate(valid);
        Ok(report)
    }

    fn load_from(
        &mut self,
        from: u64,
        visit: &mut Visitor<'_>,
    ) -> Result<Option<LoadReport>, Error> {
        let from = usize::try_from(from).unwrap_or(usize::MAX);
        let (report, valid) = replay_bytes_from(&self.log, from, visit)?;
        self.log.truncate(valid);
        Ok(Some(report))
    }

    fn keeps_snapshots(&self) -> bool {
        self.keeps_snapshots
    }

    fn read_snapshot(&mut self) -> Result<Option<Vec<u8>>, BackendError> {
        Ok(self.snapshot.clone())
    }

    fn write_snapshot(&mut self, bytes: &[u8]) -> Result<bool, BackendError> {
        if !self.keeps_snapshots {
            return Ok(false);
        }
        self.snapshot = Some(bytes.to_vec());
        Ok(true)
    }

    fn read_snapshot_delta(&mut self) -> Result<Option<Vec<u8>>, BackendError> {
        Ok(self.delta.clone())
    }

    fn write_snapshot_delta(&mut self, bytes: &[u8]) -> Result<bool, BackendError> {
        if !self.keeps_snapshots {
            return Ok(false);
        }
        self.delta = (!bytes.is_empty()).then(|| bytes.to_vec());
        Ok(true)
    }

    fn read_at(&self, pos: u64, buf: &mut [u8]) -> Result<(), BackendError> {
        read_slice(&self.log, pos, buf)
    }

    fn read_runs(&self, runs: &[(u64, u32)], out: &mut Vec<u8>) -> Result<(), BackendError> {
        // Copied straight from the log, not zeroed first.
        out.reserve(runs_len(runs));
        for &(pos, len) in runs {
            let run = usize::try_from(pos)
                .ok()
                .and_then(|start| self.log.get(start..start.checked_add(len as usize)?))
                .ok_or(BackendError::OutOfRange {
                    pos,
                    len: u64::from(len),
                })?;
            out.extend_from_slice(run);
        }
        Ok(())
    }

    fn begin_rewrite(&mut self) -> Result<(), BackendError> {
        let mut fresh = Vec::new();
        Self::ensure_header(&mut fresh);
        self.rewrite = Some(fresh);
        Ok(())
    }

    fn rewrite_append(&mut self, frames: &[u8]) -> Result<u64, BackendError> {
        let log = self.rewrite.as_mut().ok_or(BackendError::RewriteState(
            "rewrite_append before begin_rewrite",
        ))?;
        let pos = log.len() as u64;
        log.extend_from_slice(frames);
        Ok(pos)
    }

    fn commit_rewrite(&mut self) -> Result<(), BackendError> {
        let log = self.rewrite.take().ok_or(BackendError::RewriteState(
            "commit_rewrite before begin_rewrite",
        ))?;
        self.log = log;
        // A snapshot of the old log describes positions the new one does not have.
        self.snapshot = None;
        self.delta = None;
        Ok(())
    }

    fn abort_rewrite(&mut self) {
        self.rewrite = None;
    }
}
