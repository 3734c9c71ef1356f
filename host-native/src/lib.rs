#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod durable_mark;
mod error;
mod file_backend;
#[cfg(unix)]
mod file_store;
mod file_system;
#[cfg(unix)]
mod lock;
#[cfg(unix)]
mod os_file_system;
#[cfg(all(unix, feature = "postgres"))]
pub mod postgres;
#[cfg(unix)]
mod repair;
#[cfg(unix)]
mod shared_store;
mod store_location;
#[cfg(unix)]
mod subscribers;
#[cfg(unix)]
mod system_env;

pub use durable_mark::DURABLE_FILE;
pub use error::{Error, Result};
pub use file_backend::{
    CURRENT_FILE, FileBackend, INDEX_DELTA_FILE, INDEX_FILE, INDEX_MERGE_FILE, LOCK_FILE,
    OpenReport, PendingSync, TornTail, split_position,
};
#[cfg(unix)]
pub use file_store::{Durability, FileOptions, FileStore};
pub use file_system::{DirLock, FileSystem, OpenMode, StoreFile};
#[cfg(unix)]
pub use lock::{Holder, StoreLock};
#[cfg(unix)]
pub use os_file_system::OsFileSystem;
#[cfg(all(unix, feature = "postgres"))]
pub use postgres::{PgBackend, PgEngine, PgLocation, PgOptions, PgStore};
#[cfg(unix)]
pub use repair::{RepairReport, repair, repair_with_progress};
pub use rewind_core::{
    Annotation, AutoPolicy, Backend, BackendError, Checkpoint, CheckpointId, CompactionPlan,
    CompactionReport, CorruptKind, Cursor, DeterministicEnv, Diff, Env, ErrorKind, Event, Hash,
    Health, ImportReport, KeepReason, LimitKind, Limits, LoadReport, MemoryBackend, Metrics,
    NewCheckpoint, OpCounters, Options, Order, Page, Progress, ProgressFn, Query, RemovalReason,
    Restored, RetentionPolicy, SalvageReport, Session, SessionId, Severity, SnapshotProblem,
    SnapshotUse, Store, Trigger, TriggerKind, VerifyError, VerifyProblem, VerifyReport,
};
#[cfg(unix)]
pub use shared_store::{Engine, SharedStore};
pub use store_location::{StoreLocation, url_scheme};
#[cfg(unix)]
pub use system_env::SystemEnv;

/// The engine crate, for what is not re-exported here (`json_patch`, `log`, `chunker`, ...).
pub use rewind_core as core;

/// A store kept in memory, with the system clock and OS randomness.
#[cfg(unix)]
pub type MemoryStore = Store<MemoryBackend, SystemEnv>;

/// Opens an empty in-memory store with default options.
#[cfg(unix)]
pub fn memory_store() -> Result<MemoryStore> {
    let (store, _) = Store::open(MemoryBackend::new(), SystemEnv::new(), Options::default())?;
    Ok(store)
}
