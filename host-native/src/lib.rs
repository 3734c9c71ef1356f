#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod durable_mark;
mod error;
mod file_backend;
mod file_store;
mod file_system;
mod lock;
mod repair;
mod shared_store;
mod system_env;

pub use durable_mark::DURABLE_FILE;
pub use error::{Error, Result};
pub use file_backend::{
    CURRENT_FILE, FileBackend, INDEX_DELTA_FILE, INDEX_FILE, INDEX_MERGE_FILE, OpenReport,
    PendingSync, TornTail, split_position,
};
pub use file_store::{Durability, FileOptions, FileStore};
pub use file_system::{DirLock, FileSystem, OpenMode, OsFileSystem, StoreFile};
pub use lock::{Holder, LOCK_FILE, StoreLock};
pub use repair::{RepairReport, repair, repair_with_progress};
pub use rewind_core::{
    Annotation, AutoPolicy, Backend, BackendError, Checkpoint, CheckpointId, CompactionPlan,
    CompactionReport, CorruptKind, Cursor, DeterministicEnv, Diff, Env, ErrorKind, Event, Hash,
    Health, ImportReport, KeepReason, LimitKind, Limits, LoadReport, MemoryBackend, Metrics,
    NewCheckpoint, OpCounters, Options, Order, Page, Progress, ProgressFn, Query, RemovalReason,
    Restored, RetentionPolicy, SalvageReport, Session, SessionId, Severity, SnapshotProblem,
    SnapshotUse, Store, Trigger, TriggerKind, VerifyError, VerifyProblem, VerifyReport,
};
pub use shared_store::{Engine, SharedStore};
pub use system_env::SystemEnv;

/// The engine crate, for what is not re-exported here (`json_patch`, `log`, `chunker`, ...).
pub use rewind_core as core;

/// A store kept in memory, with the system clock and OS randomness.
pub type MemoryStore = Store<MemoryBackend, SystemEnv>;

/// Opens an empty in-memory store with default options.
pub fn memory_store() -> Result<MemoryStore> {
    let (store, _) = Store::open(MemoryBackend::new(), SystemEnv::new(), Options::default())?;
    Ok(store)
}
