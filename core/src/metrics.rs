//! Metrics and health: what a store holds and how it is doing, in O(1).
//!
//! Every figure is maintained incrementally as records are applied, so reading metrics costs the
//! same for ten checkpoints as for ten million.

/// Counts of what a store holds and what it has done since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(
    feature = "api",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
#[non_exhaustive]
pub struct Metrics {
    /// Live sessions.
    pub sessions: u64,
    /// Live checkpoints.
    pub checkpoints: u64,
    /// Annotations on live checkpoints.
    pub annotations: u64,
    /// Attachments on live checkpoints.
    pub attachments: u64,
    /// Sum of the sizes of all live states and attachments, as if each were stored whole.
    pub logical_bytes: u64,
    /// Bytes of distinct chunks that live states and attachments reference.
    pub stored_bytes: u64,
    /// Number of distinct live chunks.
    pub chunks: u64,
    /// Size of the log, including records of deleted data not yet compacted away.
    pub log_bytes: u64,
    /// The seq the next checkpoint will get.
    pub next_seq: u64,
    /// Operation counters since open.
    pub ops: OpCounters,
    /// Events dropped because the queue was full.
    pub events_dropped: u64,
}

impl Metrics {
    /// `logical_bytes / stored_bytes`: how many times over deduplication saves (1.0 when empty).
    pub fn dedup_ratio(&self) -> f64 {
        if self.stored_bytes == 0 {
            1.0
        } else {
            self.logical_bytes as f64 / self.stored_bytes as f64
        }
    }
}

/// Counters of mutating operations since the store was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "api",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
#[non_exhaustive]
pub struct OpCounters {
    /// Sessions created.
    pub sessions_created: u64,
    /// Checkpoints created (manual, automatic, scheduled).
    pub checkpoints_created: u64,
    /// Automatic checkpoints skipped by the throttling policy.
    pub auto_skipped: u64,
    /// Restores (head moves).
    pub restores: u64,
    /// Checkpoints deleted (directly, with their session, or by compaction).
    pub deletes: u64,
    /// Annotations added.
    pub annotations: u64,
    /// Attachments written.
    pub attachments: u64,
    /// Compactions applied.
    pub compactions: u64,
    /// Imports applied.
    pub imports: u64,
    /// Backend failures returned to callers.
    pub backend_errors: u64,
    /// Whole index snapshots this store wrote (see [`crate::snapshot`]).
    pub snapshots_written: u64,
    /// Snapshot deltas this store wrote.
    pub snapshot_deltas_written: u64,
    /// Whole snapshots merged away from the writer and installed (see
    /// [`Store::finish_snapshot_merge`](crate::Store::finish_snapshot_merge)).
    pub snapshots_merged: u64,
    /// Writes planned again because another writer of a shared log (see
    /// [`Backend::is_shared`](crate::Backend::is_shared)) appended first.
    pub write_retries: u64,
}

/// Whether a store can take writes, and what needs attention.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(
    feature = "api",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
#[non_exhaustive]
pub struct Health {
    /// True when writes are accepted and nothing needs attention.
    pub ok: bool,
    /// Set when a sync failed: the store refuses writes until it is reopened, because what the
    /// medium holds is unknown.
    pub write_error: Option<alloc::string::String>,
    /// Fraction of the log taken by deleted data (0.0–1.0): compaction reclaims it.
    pub dead_ratio: f64,
    /// Events dropped because nobody drained the queue.
    pub events_dropped: u64,
}
