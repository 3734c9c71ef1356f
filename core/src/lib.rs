#![doc = include_str!("../README.md")]
#![no_std]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod annotation;
#[cfg(feature = "api")]
pub mod api;
pub mod backend;
pub mod chain;
pub mod checkpoint;
pub mod chunker;
mod chunks;
pub mod compact;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod diff;
pub mod env;
pub mod error;
pub mod event;
pub mod export;
pub mod frame;
pub mod id;
pub mod json_patch;
pub mod limits;
pub mod log;
pub mod metrics;
pub mod options;
pub mod progress;
pub mod query;
mod record;
pub mod session;
mod store;

pub use annotation::{Annotation, Severity};
pub use backend::{Backend, LoadReport, MemoryBackend, Refresh, SnapshotBytes};
pub use checkpoint::{Checkpoint, NewAttachment, NewCheckpoint, Trigger, TriggerKind};
pub use compact::{CompactionPlan, CompactionReport, KeepReason, RemovalReason, RetentionPolicy};
pub use diff::Diff;
pub use env::{DeterministicEnv, Env};
pub use error::{BackendError, CorruptKind, Error, ErrorKind, LimitKind, Result};
pub use event::Event;
pub use export::ImportReport;
pub use id::{CheckpointId, Hash, ParseIdError, SessionId};
pub use limits::{Limits, MAX_BLOB_BYTES, MAX_METADATA_DEPTH};
pub use metrics::{Health, Metrics, OpCounters};
pub use options::{AutoPolicy, Options};
pub use progress::{Progress, ProgressFn, Unit};
pub use query::{Cursor, Order, Page, Query};
pub use session::Session;
pub use store::snapshot;
pub use store::{
    History, Refreshed, Restored, SalvageReport, SnapshotProblem, SnapshotUse, Store, VerifyError,
    VerifyProblem, VerifyReport,
};
