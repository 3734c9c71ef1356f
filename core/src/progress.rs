//! Progress of long operations, for hosts that show it (the CLI's progress bars).
//!
//! A host hands the store a callback with [`Store::set_progress`](crate::Store::set_progress);
//! `verify`, imports, exports and log rewrites (compaction, vacuum, removals) then call it as
//! they go, with how many checkpoints of how many they have handled (a host's own long work,
//! such as a repair's scan, counts bytes). Without a callback they pay one branch per
//! checkpoint.

use alloc::boxed::Box;

/// What a [`Progress`] counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unit {
    /// Checkpoints (the engine's operations).
    Checkpoints,
    /// Bytes (a scan of a log's files).
    Bytes,
}

/// How far a long operation has come: `done` of `total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Handled so far.
    pub done: u64,
    /// Handled in all, when the operation is over.
    pub total: u64,
    /// What is counted.
    pub unit: Unit,
}

impl Progress {
    /// `done` of `total` checkpoints.
    pub fn checkpoints(done: u64, total: u64) -> Progress {
        Progress {
            done,
            total,
            unit: Unit::Checkpoints,
        }
    }

    /// `done` of `total` bytes.
    pub fn bytes(done: u64, total: u64) -> Progress {
        Progress {
            done,
            total,
            unit: Unit::Bytes,
        }
    }
}

/// A progress callback: called from the thread running the operation.
pub type ProgressFn = Box<dyn Fn(Progress) + Send + Sync>;
