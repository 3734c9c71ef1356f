//! The store: a backend that keeps bytes, an index that keeps meaning, and the operations that
//! turn one into the other.
//!
//! - [`index`]: everything a replay of the log builds, and `apply`, the one way it changes;
//! - [`entries`] and [`seqs`]: the index's checkpoints (by seq and id) and its per-checkpoint
//!   sets (a session's checkpoints, times and branch tips, a tag's checkpoints), each a
//!   snapshot's tables read in place with the changes since on top;
//! - [`tables`]: a snapshot's tables and their checked blocks;
//! - [`snapshot`]: the snapshot's encoding, how an open uses it, and when one is written;
//! - [`validate`]: the input checks every write path shares;
//! - [`blob`]: how a state or attachment is chunked and listed in its record;
//! - [`write`]: the operations that append records (and the commit they share);
//! - [`read`]: lookups and state bytes;
//! - [`verify`]: recomputing every hash;
//! - [`rewrite`]: writing the live store as a fresh log (compaction, vacuum, binary export).
//!
//! Queries, compaction policies, diffs and imports are operations on the store too, in their
//! own modules at the crate root (`query.rs`, `compact.rs`, `diff.rs`, `export.rs`).

use alloc::vec::Vec;

use crate::backend::{Backend, LoadReport};
use crate::chain::Version;
use crate::env::Env;
use crate::error::{BackendError, CorruptKind, Error, Result};
use crate::event::{Event, EventQueue};
use crate::frame::FRAME_HEADER_LEN;
use crate::id::Hash;
use crate::metrics::{Health, Metrics, OpCounters};
use crate::options::Options;
use crate::progress::{Progress, ProgressFn};
use crate::record::{self, Record};

pub(crate) mod blob;
pub(crate) mod entries;
mod follow;
pub(crate) mod index;
mod read;
pub(crate) mod rewrite;
pub(crate) mod seqs;
pub mod snapshot;
pub(crate) mod tables;
pub(crate) mod validate;
mod verify;
pub(crate) mod wire;
mod write;

pub use follow::Refreshed;
pub use read::History;
pub use snapshot::{SnapshotProblem, SnapshotUse};
pub use verify::{VerifyError, VerifyProblem, VerifyReport};
pub use write::Restored;

use index::Index;

/// What [`Store::open_salvaging`] skipped.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct SalvageReport {
    /// Records that could not be decoded or applied and were left out.
    pub skipped_records: u64,
    /// The first of those problems.
    pub first_problem: Option<Error>,
    /// Sessions whose record was lost, recreated (named `recovered session <id>`) so that their
    /// surviving checkpoints are kept.
    pub recovered_sessions: Vec<crate::SessionId>,
    /// Version 3 logs: checkpoints whose parent's record was lost, kept as roots, with the seq
    /// the parent had. A version 3 record names its parent by seq and does not repeat the
    /// parent's hash, so their hashes (an input of which is the parent's hash) are computed
    /// without it.
    pub lost_parents: Vec<(crate::CheckpointId, u64)>,
    /// Version 3 logs: checkpoints whose hash changed for that reason — the ones in
    /// `lost_parents` and their descendants.
    pub rehashed: u64,
}

/// A checkpoint store over a [`Backend`] with a host [`Env`].
///
/// ```
/// use rewind_core::{DeterministicEnv, MemoryBackend, NewCheckpoint, Options, Store};
///
/// let (mut store, _report) =
///     Store::open(MemoryBackend::new(), DeterministicEnv::new(), Options::default())?;
/// let session = store.create_session("research agent", Default::default())?;
/// let first = store
///     .checkpoint(NewCheckpoint::new(session, "plan drafted", br#"{"step":1}"#).tag("plan"))?
///     .id;
/// let second = store
///     .checkpoint(NewCheckpoint::new(session, "tool called", br#"{"step":2}"#))?
///     .id;
/// assert_eq!(store.get(second)?.parent, Some(first));
///
/// // Travel back and fork: the next checkpoint continues from `first`.
/// let restored = store.restore(first)?;
/// assert_eq!(restored.state, br#"{"step":1}"#);
/// let fork = store
///     .checkpoint(NewCheckpoint::new(session, "other approach", br#"{"step":2,"alt":true}"#))?
///     .id;
/// assert_eq!(store.get(fork)?.parent, Some(first));
/// assert_eq!(store.branches(session)?.len(), 2);
/// assert!(store.verify().is_ok());
/// # Ok::<(), rewind_core::Error>(())
/// ```
pub struct Store<B: Backend, E: Env> {
    pub(crate) backend: B,
    pub(crate) env: E,
    pub(crate) options: Options,
    pub(crate) index: Index,
    pub(crate) events: EventQueue,
    pub(crate) ops: OpCounters,
    /// Size of the log in the backend.
    pub(crate) log_bytes: u64,
    /// Set when a sync failed: writes are refused until the store is reopened.
    pub(crate) write_error: Option<BackendError>,
    /// The frames of the write in progress; kept between writes so a write does not grow a
    /// fresh buffer from nothing.
    write_buf: Vec<u8>,
    /// Told how far long operations have come (see [`crate::progress`]).
    progress: Option<ProgressFn>,
    /// The log's size when the last index snapshot was written or read (0: none), and that
    /// snapshot's size: when the next one is due (see [`snapshot`]).
    snapshot_at: u64,
    snapshot_len: u64,
    /// The size of the last snapshot delta written (0: none since the last snapshot).
    delta_len: u64,
    /// A whole snapshot left to the host to build (see
    /// [`Options::snapshot_in_background`]), and the frames written since its point.
    merge: Option<snapshot::PendingMerge>,
}

impl<B: Backend, E: Env> core::fmt::Debug for Store<B, E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Store")
            .field("sessions", &self.index.sessions.len())
            .field("checkpoints", &self.index.checkpoints.len())
            .field("next_seq", &self.index.next_seq)
            .finish_non_exhaustive()
    }
}

/// The checks at the end of a replay: the records agree with the header's version, and the
/// frames after the last seal are one write.
fn check_structure(index: &mut Index, report: &LoadReport) -> Result<()> {
    let chain = &mut index.chain;
    if chain.salvage {
        // A salvaged store is written anew, in the newest version.
        chain.version = Version::V3;
        return Ok(());
    }
    let end = report.log_bytes;
    let mismatch = |what| Error::Corrupt {
        at: end,
        kind: CorruptKind::Inconsistent(what),
    };
    match (chain.version, report.format_version) {
        (Version::V1, 2..) => {
            return Err(mismatch(
                "a version 2 or 3 log without its log-start record",
            ));
        }
        (Version::V2 | Version::V3, 1) => {
            return Err(mismatch("version 2 records in a version 1 log"));
        }
        // Replay tells sealed logs (2 and 3) from version 1; the header tells 2 from 3, and
        // where there is none, the records do (a version 3 log starts with its own log-start
        // kind); a refresh that saw neither keeps what the open found.
        (Version::V2 | Version::V3, 0) => {
            if chain.compact {
                chain.version = Version::V3;
            } else if chain.wide {
                chain.version = Version::V2;
            }
        }
        (Version::V2 | Version::V3, 2) => chain.version = Version::V2,
        (Version::V2 | Version::V3, _) => chain.version = Version::V3,
        // An empty log is written as the header says; a new one in the newest version.
        (Version::Unknown, 1) => chain.version = Version::V1,
        (Version::Unknown, 2) => chain.version = Version::V2,
        (Version::Unknown, _) => chain.version = Version::V3,
        _ => {}
    }
    if chain.version == Version::V3 && chain.wide {
        return Err(mismatch("version 2 records in a version 3 log"));
    }
    if chain.version != Version::V3 && chain.compact {
        return Err(mismatch("version 3 records in a version 1 or 2 log"));
    }
    chain
        .check_tail()
        .map_err(|(at, kind)| Error::Corrupt { at, kind })
}

/// Replays `backend`'s log into a new index: the part of an open that reads (and, for a
/// refresh that finds the log replaced, the whole of it).
pub(crate) fn replay<B: Backend>(
    backend: &mut B,
    options: &Options,
    salvage: bool,
) -> Result<(Index, LoadReport, SalvageReport)> {
    let (mut index, mut report, salvaged) = load_index(backend, options, salvage)?;
    finish_replay(&mut index, &mut report)?;
    Ok((index, report, salvaged))
}

/// Reads the log into a new index (the backend's part of a replay).
pub(crate) fn load_index<B: Backend>(
    backend: &mut B,
    options: &Options,
    salvage: bool,
) -> Result<(Index, LoadReport, SalvageReport)> {
    let mut index = Index::default();
    index.recover_sessions = salvage;
    index.chain.salvage = salvage;
    index.chain.watch = options.expect_head;
    let mut salvaged = SalvageReport::default();
    let report = backend.load(&mut |pos, payload| match index.replay_frame(pos, payload) {
        Err(err) if salvage => {
            salvaged.skipped_records += 1;
            if salvaged.first_problem.is_none() {
                salvaged.first_problem = Some(err);
            }
            Ok(())
        }
        other => other,
    })?;
    salvaged.recovered_sessions = core::mem::take(&mut index.recovered_sessions);
    salvaged.lost_parents = core::mem::take(&mut index.lost_parents);
    salvaged.rehashed = core::mem::take(&mut index.rehashed).len() as u64;
    Ok((index, report, salvaged))
}

/// The checks and clean-up after a log was read: its structure, the expected head, and a
/// transaction it ends inside.
pub(crate) fn finish_replay(index: &mut Index, report: &mut LoadReport) -> Result<()> {
    check_structure(index, report)?;
    report.unsealed_frames = index.chain.unsealed_frames();
    report.expected_head_found = index
        .chain
        .watch
        .map(|head| index.chain.watch_found || index.chain.previous_head == Some(head));
    // A transaction the log ends inside was cut by a crash: none of it happened. A writer says
    // so in the log too (see `open_inner`), or later records would be read as its missing
    // ones; a read-only open voids it in memory only: the writer, maybe still writing it, owns
    // the log.
    if let Some(discarded) = index.void_open_transaction() {
        report.discarded_records = discarded;
        report.unfinished_transaction = true;
    }
    Ok(())
}

impl<B: Backend, E: Env> Store<B, E> {
    /// Opens a store on `backend`, replaying its log. Returns the store and what loading found
    /// (a dropped torn tail, frames replayed).
    pub fn open(backend: B, env: E, options: Options) -> Result<(Self, LoadReport)> {
        let (store, report, _) = Self::open_inner(backend, env, options, false)?;
        Ok((store, report))
    }

    /// Opens a store while skipping records that cannot be applied (decoding errors, records
    /// referring to things a damaged log lost) instead of failing: the salvage step of a
    /// repair. Frames the backend cannot read at all are the backend's to skip.
    pub fn open_salvaging(
        backend: B,
        env: E,
        options: Options,
    ) -> Result<(Self, LoadReport, SalvageReport)> {
        Self::open_inner(backend, env, options, true)
    }

    fn open_inner(
        mut backend: B,
        env: E,
        options: Options,
        salvage: bool,
    ) -> Result<(Self, LoadReport, SalvageReport)> {
        let mut snapshot_at = 0;
        let mut snapshot_len = 0;
        let whole = salvage || options.expect_head.is_some() || !options.use_snapshot;
        let (mut index, report, salvaged) = if whole {
            replay(&mut backend, &options, salvage)?
        } else {
            match snapshot::load(&mut backend, &options) {
                Ok(mut loaded) => {
                    finish_replay(&mut loaded.index, &mut loaded.report)?;
                    snapshot_at = loaded.snapshot_at;
                    snapshot_len = loaded.snapshot_len;
                    (loaded.index, loaded.report, SalvageReport::default())
                }
                Err(used) => {
                    let (index, mut report, salvaged) = replay(&mut backend, &options, false)?;
                    report.snapshot = used;
                    (index, report, salvaged)
                }
            }
        };
        let mut log_bytes = report.log_bytes;
        if backend.is_read_only() && index.resume_at().is_some() {
            // The view ends at the last sealed write; a refresh reads on from there.
            log_bytes -= index.end_at_last_seal();
        }
        if !backend.is_read_only() {
            // Close what a crash left open, so the log goes on from a clean point: a voided
            // transaction is marked so, and (version 2) unsealed frames are sealed.
            let v2 = index.chain.version.sealed();
            let mut frame = Vec::new();
            if report.unfinished_transaction {
                record::write(&mut frame, &Record::TxnAbort, &[]);
                if v2 {
                    let payload = &frame[FRAME_HEADER_LEN..];
                    index.chain.absorb(0, payload.len(), payload, None, false);
                }
            }
            if v2 && index.chain.has_unsealed() {
                let seal = index.chain.seal();
                record::write(&mut frame, &Record::Seal(seal), &[]);
            }
            if !frame.is_empty() {
                let at = backend.append_closing(&frame)?;
                backend.sync()?;
                log_bytes += frame.len() as u64;
                index.note_appended(at, &frame);
            }
        }
        let store = Store {
            backend,
            env,
            events: EventQueue::new(options.event_capacity),
            options,
            index,
            ops: OpCounters::default(),
            log_bytes,
            write_error: None,
            write_buf: Vec::new(),
            progress: None,
            snapshot_at,
            snapshot_len,
            delta_len: 0,
            merge: None,
        };
        Ok((store, report, salvaged))
    }

    /// Sets (or, with `None`, removes) the callback that long operations — `verify`, imports,
    /// exports, compaction, vacuum — call as they go (see [`crate::progress`]).
    pub fn set_progress(&mut self, progress: Option<ProgressFn>) {
        self.progress = progress;
    }

    /// Tells the progress callback, if there is one.
    pub(crate) fn report_progress(&self, done: u64, total: u64) {
        if let Some(progress) = &self.progress {
            progress(Progress::checkpoints(done, total));
        }
    }

    /// The log's head hash: the running hash of a version 2 log after its last seal (see
    /// [`crate::chain`]); `None` for a version 1 log, which has no chain.
    pub fn log_head(&self) -> Option<Hash> {
        (self.index.chain.version != Version::V1).then(|| self.index.chain.head())
    }

    /// The format version of the log as this store writes it: 3, or the version of an older
    /// log not yet rewritten (a compaction or [`vacuum`](Store::vacuum) upgrades it).
    pub fn format_version(&self) -> u16 {
        self.index.chain.version.number()
    }

    /// The head of the log this one replaced, when a compaction wrote it (its log-start record
    /// says so): a head kept from before the compaction is checked against this.
    pub fn previous_log_head(&self) -> Option<Hash> {
        self.index.chain.previous_head
    }

    /// The backend (for hosts that need to reach it, e.g. to flush).
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The backend, mutably. Writing to it behind the store's back corrupts the store.
    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }

    /// The host environment.
    pub fn env_mut(&mut self) -> &mut E {
        &mut self.env
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Consumes the store and returns its backend.
    pub fn into_backend(self) -> B {
        self.backend
    }

    /// Counts and sizes, in O(1).
    pub fn metrics(&self) -> Metrics {
        let index = &self.index;
        Metrics {
            sessions: index.sessions.len() as u64,
            checkpoints: index.checkpoints.len() as u64,
            annotations: index.annotation_count,
            attachments: index.attachment_count,
            logical_bytes: index.logical_bytes,
            stored_bytes: index.chunks.stored_bytes(),
            chunks: index.chunks.len() as u64,
            log_bytes: self.log_bytes,
            next_seq: index.next_seq,
            ops: self.ops,
            events_dropped: self.events.dropped(),
        }
    }

    /// Whether the store accepts writes and what needs attention.
    pub fn health(&self) -> Health {
        let dead_ratio = if self.log_bytes == 0 {
            0.0
        } else {
            (self.index.dead_bytes.min(self.log_bytes)) as f64 / self.log_bytes as f64
        };
        Health {
            ok: self.write_error.is_none(),
            write_error: self
                .write_error
                .as_ref()
                .map(alloc::string::ToString::to_string),
            dead_ratio,
            events_dropped: self.events.dropped(),
        }
    }

    /// Takes the queued events, oldest first.
    pub fn drain_events(&mut self) -> Vec<Event> {
        self.events.drain()
    }

    /// Makes every write so far durable (calls the backend's `sync`).
    pub fn flush(&mut self) -> Result<()> {
        if let Some(err) = &self.write_error {
            return Err(Error::Backend(err.clone()));
        }
        self.backend.sync().map_err(|err| self.poison(err))
    }
}
