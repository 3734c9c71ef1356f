//! Store options: limits, the automatic-checkpoint policy, event queue size, write syncing.

use crate::checkpoint::TriggerKind;
use crate::limits::Limits;

/// Throttling for [`Store::auto_checkpoint`](crate::Store::auto_checkpoint): an automatic
/// checkpoint is skipped when the session already has a checkpoint of a counting trigger kind
/// younger than `min_interval_ms`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AutoPolicy {
    /// Minimum time between checkpoints, in milliseconds (default 30 s).
    pub min_interval_ms: u64,
    /// Which earlier checkpoints count as recent (default: manual and automatic; a scheduled
    /// checkpoint does not suppress an automatic one).
    pub counts: [bool; 3],
}

impl AutoPolicy {
    /// A policy with the given interval and the default counting kinds.
    pub fn every(min_interval_ms: u64) -> Self {
        AutoPolicy {
            min_interval_ms,
            ..Self::default()
        }
    }

    /// Sets whether checkpoints of `kind` count as recent.
    pub fn counting(mut self, kind: TriggerKind, counts: bool) -> Self {
        self.counts[kind as usize] = counts;
        self
    }

    /// Whether checkpoints of `kind` count as recent.
    pub fn counts(&self, kind: TriggerKind) -> bool {
        self.counts[kind as usize]
    }
}

impl Default for AutoPolicy {
    fn default() -> Self {
        AutoPolicy {
            min_interval_ms: 30_000,
            counts: [true, true, false],
        }
    }
}

/// How a store behaves. `Options::default()` suits most uses.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// Input limits.
    pub limits: Limits,
    /// Automatic checkpoint throttling.
    pub auto: AutoPolicy,
    /// Most events kept for [`Store::drain_events`](crate::Store::drain_events) (default 4096;
    /// 0 turns events off).
    pub event_capacity: usize,
    /// Call [`Backend::sync`](crate::Backend::sync) after every write before returning (default
    /// false: hosts with group commit sync on their own schedule).
    pub sync_every_write: bool,
    /// A log head to look for while the log is replayed (`verify --expect-head`): the load
    /// report's [`expected_head_found`](crate::LoadReport::expected_head_found) says whether a
    /// seal of the log reached it (default `None`).
    pub expect_head: Option<crate::Hash>,
    /// A writer persists an index snapshot (see [`crate::snapshot`]) after a write once
    /// the log has grown by this many bytes, and by the size of its last snapshot, since the
    /// last one (default 8 MiB; 0: only when asked, at close and after compactions).
    pub snapshot_every: u64,
    /// Open from the backend's index snapshot when it has a good one (default true). False
    /// replays the whole log, checking every seal of its hash chain (what `verify` needs to
    /// prove the log's order from its start).
    pub use_snapshot: bool,
    /// An index snapshot up to this size is checked whole at open — every block's checksum,
    /// and every part against the others, as a replay would have built them; a larger one is
    /// checked block by block as it is read, so an open costs what it reads (default 8 MiB,
    /// a few milliseconds of checking; see [`crate::snapshot`]).
    pub snapshot_check_whole: u64,
    /// Leave whole snapshots that fall due while the store is written to the host, to build
    /// away from the writer (default false: the write that makes one due writes it, unless the
    /// backend runs merges itself, see
    /// [`Backend::runs_snapshot_merges`](crate::Backend::runs_snapshot_merges), as the native
    /// file backend does). The writer then writes only deltas of what changed since the
    /// snapshot, and [`Store::take_snapshot_merge`](crate::Store::take_snapshot_merge) hands out
    /// the work of merging snapshot and delta into a new snapshot, which the host does while
    /// writes go on. The first snapshot of a store that has none, and those after a
    /// compaction, are still written by the writer.
    pub snapshot_in_background: bool,
}

impl Options {
    /// Sets the input limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the automatic checkpoint policy.
    pub fn auto(mut self, auto: AutoPolicy) -> Self {
        self.auto = auto;
        self
    }

    /// Sets how many events are kept for draining (0 turns events off).
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity;
        self
    }

    /// Sets after how many bytes of log growth a writer persists an index snapshot (0: only
    /// when asked, at close and after compactions).
    pub fn snapshot_every(mut self, bytes: u64) -> Self {
        self.snapshot_every = bytes;
        self
    }

    /// Sets whether an open may start from the backend's index snapshot (false: replay the
    /// whole log).
    pub fn use_snapshot(mut self, use_snapshot: bool) -> Self {
        self.use_snapshot = use_snapshot;
        self
    }

    /// Sets up to which size an index snapshot is checked whole at open (0: every snapshot is
    /// checked as it is read; `u64::MAX`: every snapshot is checked whole).
    pub fn snapshot_check_whole(mut self, bytes: u64) -> Self {
        self.snapshot_check_whole = bytes;
        self
    }

    /// Sets whether whole snapshots due during writes are left to the host to build away from
    /// the writer (see [`Options::snapshot_in_background`]).
    pub fn snapshot_in_background(mut self, background: bool) -> Self {
        self.snapshot_in_background = background;
        self
    }

    /// Sets whether every write syncs the backend before returning.
    pub fn sync_every_write(mut self, sync: bool) -> Self {
        self.sync_every_write = sync;
        self
    }

    /// Sets a log head to look for while the log is replayed.
    pub fn expect_head(mut self, head: Option<crate::Hash>) -> Self {
        self.expect_head = head;
        self
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            limits: Limits::default(),
            auto: AutoPolicy::default(),
            event_capacity: 4096,
            sync_every_write: false,
            expect_head: None,
            snapshot_every: 8 << 20,
            use_snapshot: true,
            snapshot_check_whole: 8 << 20,
            snapshot_in_background: false,
        }
    }
}
