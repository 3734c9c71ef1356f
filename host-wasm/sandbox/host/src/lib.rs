#![doc = include_str!("../../README.md")]
#![warn(missing_docs)]
//!
//! ## The host crate
//!
//! Runs rewind's WebAssembly component (world `rewind:store`, `host-wasm/sandbox/wit`) in
//! wasmtime, the way a plugin host would.
//!
//! The host decides everything the component can reach: its log goes to the
//! [`Backend`](rewind_core::Backend) you give (a native file store, memory, anything), its
//! clock and randomness come from the [`Env`](rewind_core::Env) you give, and nothing else is
//! linked (the WASI imports the Rust standard library declares trap if called). Every call runs
//! under a fuel budget and the instance under a memory cap, so a runaway plugin is stopped with
//! [`SandboxError::Trap`] and the host goes on: open a fresh [`SandboxStore`] (the backend can
//! be taken back with [`SandboxStore::into_backend`]).
//!
//! ```no_run
//! use rewind_sandbox::{Limits, Sandbox};
//! use rewind_core::{MemoryBackend, DeterministicEnv};
//!
//! let sandbox = Sandbox::from_file("rewind_store.wasm", Limits::default())?;
//! // Outer errors: the sandbox (traps, loading); inner: what the store refused.
//! let mut store = sandbox
//!     .open(MemoryBackend::new(), DeterministicEnv::new(), &rewind_sandbox::options())?
//!     .expect("an empty store opens");
//! let session = store.create_session("plugin", "{}")?.expect("a session");
//! # Ok::<(), rewind_sandbox::SandboxError>(())
//! ```

use std::path::Path;

use std::sync::Arc;

use rewind_core::{Backend, Env, SnapshotBytes};
use wasmtime::component::{Component, HasSelf, Linker, ResourceAny};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder};

mod bindings {
    wasmtime::component::bindgen!({
        world: "rewind-store",
        path: "../wit",
    });
}

pub use bindings::exports::rewind::store::store::{
    Annotation, Checkpoint, CheckpointInput, CompactionPlan, CompactionReport, Diff,
    Error as StoreError, ErrorKind, Event, Health, ImportReport, KeepReason, Kept, LoadReport,
    Metrics, NewAttachment, Options as StoreOptions, Order, Page, Query, Removal, RemovalReason,
    Retention, Session, SummaryFields, SummaryPage, Trigger, TriggerKind, VerifyError,
    VerifyProblem, VerifyReport,
};
use bindings::rewind::store::{backend, host_env};
/// A page of `list_summaries` read in place ([`summaries`]), a checkpoint of it borrowed from the
/// page, and the same checkpoint as owned values.
pub use rewind_core::api::{Summaries, Summary, SummaryRef};

/// Resource limits for the component.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest linear memory the instance may grow to, in bytes (default 512 MiB).
    pub memory_bytes: usize,
    /// Fuel per call (roughly, WebAssembly instructions; default 20 billion).
    pub fuel_per_call: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 512 << 20,
            fuel_per_call: 20_000_000_000,
        }
    }
}

/// What can go wrong around the component (its own errors are [`StoreError`]s, returned inside
/// `Ok`).
#[derive(Debug)]
#[non_exhaustive]
pub enum SandboxError {
    /// The component trapped: out of fuel, out of memory, or a bug. This instance is unusable;
    /// open a new one.
    Trap(String),
    /// The component could not be loaded, linked or instantiated.
    Load(String),
    /// An earlier trap left this instance unusable.
    Poisoned,
}

impl std::fmt::Display for SandboxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SandboxError::Trap(why) => write!(f, "the rewind component trapped: {why}"),
            SandboxError::Load(why) => write!(f, "cannot load the rewind component: {why}"),
            SandboxError::Poisoned => {
                f.write_str("this component instance trapped earlier; open a new one")
            }
        }
    }
}

impl std::error::Error for SandboxError {}

/// What the host keeps for one instance: the capabilities it granted.
struct HostState {
    backend: Box<dyn Backend + Send>,
    /// The backend's index snapshot while the component reads it (until it writes a new one).
    snapshot: Option<Arc<dyn SnapshotBytes>>,
    env: Box<dyn Env + Send>,
    limits: StoreLimits,
    /// The instance's memory limit: no read asks for more.
    max_read: usize,
    logs: Vec<String>,
}

impl backend::Host for HostState {
    fn append(&mut self, frames: Vec<u8>) -> Result<u64, String> {
        self.backend.append(&frames).map_err(|e| e.to_string())
    }
    fn sync(&mut self) -> Result<(), String> {
        self.backend.sync().map_err(|e| e.to_string())
    }
    fn load(&mut self) -> Result<backend::Loaded, String> {
        let mut frames = Vec::new();
        let report = self
            .backend
            .load(&mut |pos, payload| {
                frames.push(backend::Frame {
                    pos,
                    payload: payload.to_vec(),
                });
                Ok(())
            })
            .map_err(|e| e.to_string())?;
        Ok(loaded(frames, report))
    }
    fn load_from(&mut self, from: u64) -> Result<Option<backend::Loaded>, String> {
        let mut frames = Vec::new();
        let report = self
            .backend
            .load_from(from, &mut |pos, payload| {
                frames.push(backend::Frame {
                    pos,
                    payload: payload.to_vec(),
                });
                Ok(())
            })
            .map_err(|e| e.to_string())?;
        Ok(report.map(|report| loaded(frames, report)))
    }
    fn keeps_snapshots(&mut self) -> bool {
        self.backend.keeps_snapshots()
    }
    fn snapshot_len(&mut self) -> Result<Option<u64>, String> {
        self.snapshot = self.backend.open_snapshot().map_err(|e| e.to_string())?;
        Ok(self.snapshot.as_ref().map(|s| s.len()))
    }
    fn read_snapshot(&mut self, pos: u64, len: u32) -> Result<Vec<u8>, String> {
        let snapshot = self
            .snapshot
            .as_ref()
            .ok_or("no index snapshot is open (ask snapshot-len first)")?;
        // Within the snapshot before anything is allocated for it.
        if pos
            .checked_add(u64::from(len))
            .is_none_or(|end| end > snapshot.len())
        {
            return Err(format!(
                "{len} bytes at {pos} are outside the index snapshot"
            ));
        }
        let mut buf = vec![0u8; len as usize];
        snapshot.read_at(pos, &mut buf).map_err(|e| e.to_string())?;
        Ok(buf)
    }
    fn write_snapshot(&mut self, bytes: Vec<u8>) -> Result<bool, String> {
        self.backend
            .write_snapshot(&bytes)
            .map_err(|e| e.to_string())
    }
    fn read_snapshot_delta(&mut self) -> Result<Option<Vec<u8>>, String> {
        self.backend
            .read_snapshot_delta()
            .map_err(|e| e.to_string())
    }
    fn write_snapshot_delta(&mut self, bytes: Vec<u8>) -> Result<bool, String> {
        self.backend
            .write_snapshot_delta(&bytes)
            .map_err(|e| e.to_string())
    }
    fn read_at(&mut self, pos: u64, len: u32) -> Result<Vec<u8>, String> {
        self.read(&[(pos, len)]).map_err(|e| e.to_string())
    }
    fn read_runs(&mut self, runs: Vec<(u64, u32)>) -> Result<Vec<u8>, String> {
        self.read(&runs).map_err(|e| e.to_string())
    }
    fn begin_rewrite(&mut self) -> Result<(), String> {
        self.backend.begin_rewrite().map_err(|e| e.to_string())
    }
    fn rewrite_append(&mut self, frames: Vec<u8>) -> Result<u64, String> {
        self.backend
            .rewrite_append(&frames)
            .map_err(|e| e.to_string())
    }
    fn commit_rewrite(&mut self) -> Result<(), String> {
        self.backend.commit_rewrite().map_err(|e| e.to_string())
    }
    fn abort_rewrite(&mut self) {
        self.backend.abort_rewrite()
    }
}

impl HostState {
    /// The bytes of `runs`, one after another. No more than the instance's memory limit: a read
    /// asking for more (which no state of the instance's could need) fails before the host
    /// allocates for it.
    fn read(&self, runs: &[(u64, u32)]) -> Result<Vec<u8>, rewind_core::BackendError> {
        let total: u64 = runs.iter().map(|(_, len)| u64::from(*len)).sum();
        if total > self.max_read as u64 {
            return Err(rewind_core::BackendError::OutOfRange {
                pos: runs.first().map_or(0, |(pos, _)| *pos),
                len: total,
            });
        }
        let mut out = Vec::with_capacity(total as usize);
        self.backend.read_runs(runs, &mut out)?;
        Ok(out)
    }
}

fn loaded(frames: Vec<backend::Frame>, report: rewind_core::LoadReport) -> backend::Loaded {
    backend::Loaded {
        frames,
        truncated_bytes: report.truncated_bytes,
        log_bytes: report.log_bytes,
        format_version: report.format_version,
    }
}

impl host_env::Host for HostState {
    fn now_ms(&mut self) -> u64 {
        self.env.now_ms()
    }
    fn random_bytes(&mut self, len: u32) -> Vec<u8> {
        // A plugin asks for ids' worth of entropy; cap what one call can make the host allocate.
        let mut buf = vec![0u8; (len as usize).min(1 << 16)];
        self.env.fill_random(&mut buf);
        buf
    }
    fn log(&mut self, message: String) {
        if self.logs.len() < 100 {
            self.logs.push(message);
        }
    }
}

/// A compiled component, ready to instantiate many times.
pub struct Sandbox {
    engine: Engine,
    component: Component,
    linker: Linker<HostState>,
    limits: Limits,
}

impl Sandbox {
    /// Compiles the component in `path` (`rewind_store.wasm`).
    pub fn from_file(path: impl AsRef<Path>, limits: Limits) -> Result<Sandbox, SandboxError> {
        let bytes = std::fs::read(path.as_ref())
            .map_err(|e| SandboxError::Load(format!("{}: {e}", path.as_ref().display())))?;
        Self::from_bytes(&bytes, limits)
    }

    /// Compiles a component from its bytes.
    pub fn from_bytes(bytes: &[u8], limits: Limits) -> Result<Sandbox, SandboxError> {
        let load = |e: wasmtime::Error| SandboxError::Load(format!("{e:#}"));
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.consume_fuel(true);
        #[cfg(feature = "perf")]
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        let engine = Engine::new(&config).map_err(load)?;
        let component = Component::new(&engine, bytes).map_err(load)?;
        let mut linker = Linker::new(&engine);
        bindings::RewindStore::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(load)?;
        // Nothing else is granted: whatever else the component imports traps when called.
        linker
            .define_unknown_imports_as_traps(&component)
            .map_err(load)?;
        Ok(Sandbox {
            engine,
            component,
            linker,
            limits,
        })
    }

    fn instantiate(
        &self,
        backend: Box<dyn Backend + Send>,
        env: Box<dyn Env + Send>,
    ) -> Result<(Store<HostState>, bindings::RewindStore), SandboxError> {
        let state = HostState {
            backend,
            snapshot: None,
            env,
            limits: StoreLimitsBuilder::new()
                .memory_size(self.limits.memory_bytes)
                .trap_on_grow_failure(true)
                .build(),
            max_read: self.limits.memory_bytes,
            logs: Vec::new(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store
            .set_fuel(self.limits.fuel_per_call)
            .map_err(|e| SandboxError::Load(e.to_string()))?;
        let bindings =
            bindings::RewindStore::instantiate(&mut store, &self.component, &self.linker)
                .map_err(|e| SandboxError::Load(format!("{e:#}")))?;
        Ok((store, bindings))
    }

    /// Opens a store inside a fresh instance, on `backend`, with `env` as its clock and
    /// randomness, and `options` (limits and policies; [`options`] gives the defaults).
    pub fn open<B, E>(
        &self,
        backend: B,
        env: E,
        options: &StoreOptions,
    ) -> Result<Result<SandboxStore, StoreError>, SandboxError>
    where
        B: Backend + Send + 'static,
        E: Env + Send + 'static,
    {
        let (mut store, bindings) = self.instantiate(Box::new(backend), Box::new(env))?;
        let opened = bindings
            .rewind_store_store()
            .store()
            .call_open(&mut store, options);
        let handle = match trap_to_error(&store, opened)? {
            Ok(handle) => handle,
            Err(err) => return Ok(Err(err)),
        };
        Ok(Ok(SandboxStore {
            store,
            bindings,
            handle,
            poisoned: false,
            fuel_per_call: self.limits.fuel_per_call,
        }))
    }

    /// A fresh instance over an empty memory log (the conformance calls).
    fn scratch(&self) -> Result<(Store<HostState>, bindings::RewindStore), SandboxError> {
        self.instantiate(
            Box::new(rewind_core::MemoryBackend::new()),
            Box::new(rewind_core::DeterministicEnv::new()),
        )
    }

    /// Runs one of the engine's conformance scenarios inside a fresh instance.
    pub fn run_conformance(&self, name: &str) -> Result<Result<(), String>, SandboxError> {
        let (mut store, bindings) = self.scratch()?;
        let result = bindings
            .rewind_store_conformance()
            .call_run_scenario(&mut store, name);
        trap_to_error(&store, result)
    }

    /// The names of the conformance scenarios the component carries.
    pub fn conformance_scenarios(&self) -> Result<Vec<String>, SandboxError> {
        let (mut store, bindings) = self.scratch()?;
        let result = bindings
            .rewind_store_conformance()
            .call_scenarios(&mut store);
        trap_to_error(&store, result)
    }

    /// The scripted run every host must reproduce byte for byte.
    pub fn conformance_transcript(&self) -> Result<String, SandboxError> {
        let (mut store, bindings) = self.scratch()?;
        let result = bindings
            .rewind_store_conformance()
            .call_transcript(&mut store);
        trap_to_error(&store, result)
    }
}

fn trap_to_error<T>(
    store: &Store<HostState>,
    result: wasmtime::Result<T>,
) -> Result<T, SandboxError> {
    result.map_err(|trap| {
        let logs = store.data().logs.join("\n");
        SandboxError::Trap(if logs.is_empty() {
            format!("{trap:#}")
        } else {
            format!("{trap:#}: {logs}")
        })
    })
}

/// A store running inside a component instance. Methods mirror the engine's; each returns
/// `Err(SandboxError)` when the instance trapped and `Ok(Err(StoreError))` when the store
/// refused the operation.
pub struct SandboxStore {
    store: Store<HostState>,
    bindings: bindings::RewindStore,
    handle: ResourceAny,
    poisoned: bool,
    fuel_per_call: u64,
}

macro_rules! forward {
    ($(#[$doc:meta])* $name:ident => $call:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty) => {
        $(#[$doc])*
        pub fn $name(&mut self, $($arg: $ty),*) -> Result<$ret, SandboxError> {
            self.prepare()?;
            let result = self
                .bindings
                .rewind_store_store()
                .store()
                .$call(&mut self.store, self.handle, $($arg),*);
            self.finish(result)
        }
    };
}

impl SandboxStore {
    fn prepare(&mut self) -> Result<(), SandboxError> {
        if self.poisoned {
            return Err(SandboxError::Poisoned);
        }
        self.store
            .set_fuel(self.fuel_per_call)
            .map_err(|e| SandboxError::Load(e.to_string()))
    }

    fn finish<T>(&mut self, result: wasmtime::Result<T>) -> Result<T, SandboxError> {
        let out = trap_to_error(&self.store, result);
        if out.is_err() {
            self.poisoned = true;
        }
        out
    }

    /// Ends the instance and hands the backend back (for example to reopen it elsewhere).
    pub fn into_backend(self) -> Box<dyn Backend + Send> {
        self.store.into_data().backend
    }

    /// Messages the component logged (failed assertions before a trap).
    pub fn logs(&self) -> &[String] {
        &self.store.data().logs
    }

    forward!(/// Creates a session; returns its id.
        create_session => call_create_session(name: &str, metadata: &str) -> Result<String, StoreError>);
    forward!(/// A session.
        session => call_session(id: &str) -> Result<Session, StoreError>);
    forward!(/// Every session, oldest first.
        sessions => call_sessions() -> Vec<Session>);
    forward!(/// Deletes a session; returns how many checkpoints went.
        delete_session => call_delete_session(id: &str) -> Result<u64, StoreError>);
    forward!(/// Creates a checkpoint.
        checkpoint => call_checkpoint(input: &CheckpointInput, state: &[u8]) -> Result<Checkpoint, StoreError>);
    forward!(/// Creates a checkpoint and its attachments in one transaction.
        checkpoint_with => call_checkpoint_with(input: &CheckpointInput, state: &[u8], attachments: &[NewAttachment]) -> Result<Checkpoint, StoreError>);
    forward!(/// An automatic checkpoint unless throttled.
        auto_checkpoint => call_auto_checkpoint(input: &CheckpointInput, state: &[u8], reason: &str) -> Result<Option<Checkpoint>, StoreError>);
    forward!(/// A checkpoint.
        get => call_get(id: &str) -> Result<Checkpoint, StoreError>);
    forward!(/// [`state`](Self::state), with the bytes read by the component and copied out of it.
        state_copied => call_state(id: &str) -> Result<Vec<u8>, StoreError>);
    forward!(/// [`restore`](Self::restore), with the bytes read by the component and copied out of it.
        restore_copied => call_restore(id: &str) -> Result<Vec<u8>, StoreError>);
    forward!(/// Where a checkpoint's state lies in the backend: runs (position, length) in order.
        state_runs => call_state_runs(id: &str) -> Result<Vec<(u64, u32)>, StoreError>);
    forward!(/// Moves the session head to a checkpoint; where its state lies, as [`state_runs`](Self::state_runs).
        restore_runs => call_restore_runs(id: &str) -> Result<Vec<(u64, u32)>, StoreError>);

    /// A checkpoint's state bytes. The component says where they lie and the host reads them
    /// from the backend it keeps, so they are copied once, as in the native engine, instead of
    /// into the component and out again.
    pub fn state(&mut self, id: &str) -> Result<Result<Vec<u8>, StoreError>, SandboxError> {
        let runs = self.state_runs(id)?;
        Ok(runs.and_then(|runs| self.read_runs(&runs)))
    }

    /// Returns the state and moves the session head there (the bytes read as by
    /// [`state`](Self::state)).
    pub fn restore(&mut self, id: &str) -> Result<Result<Vec<u8>, StoreError>, SandboxError> {
        let runs = self.restore_runs(id)?;
        Ok(runs.and_then(|runs| self.read_runs(&runs)))
    }

    fn read_runs(&self, runs: &[(u64, u32)]) -> Result<Vec<u8>, StoreError> {
        self.store
            .data()
            .read(runs)
            .map_err(|e| store_error(rewind_core::Error::Backend(e)))
    }

    forward!(/// The newest checkpoint of a session.
        latest => call_latest(session: &str) -> Result<Option<Checkpoint>, StoreError>);
    forward!(/// The newest checkpoint created at or before `time_ms`.
        at => call_at(session: &str, time_ms: u64) -> Result<Option<Checkpoint>, StoreError>);
    forward!(/// The checkpoint and its ancestors.
        history => call_history(id: &str) -> Result<Vec<Checkpoint>, StoreError>);
    forward!(/// Branch tips of a session.
        branches => call_branches(session: &str) -> Result<Vec<Checkpoint>, StoreError>);
    forward!(/// One page of a query.
        list => call_list(q: &Query) -> Result<Page, StoreError>);
    forward!(/// One page of a query with each checkpoint's id, seq and creation time, and the
        /// `fields` asked for (message, tags), packed into one buffer (read it in place with
        /// [`summaries`]): a fraction of `list`'s cost.
        list_summaries => call_list_summaries(q: &Query, fields: SummaryFields) -> Result<SummaryPage, StoreError>);
    forward!(/// What changed between two checkpoints.
        diff => call_diff(from: &str, to: &str) -> Result<Diff, StoreError>);
    forward!(/// Adds a note (info, warning, critical).
        annotate => call_annotate(id: &str, note: &str, severity: &str) -> Result<(), StoreError>);
    forward!(/// A checkpoint's notes.
        annotations => call_annotations(id: &str) -> Result<Vec<Annotation>, StoreError>);
    forward!(/// Direct children, oldest first.
        children => call_children(id: &str) -> Result<Vec<Checkpoint>, StoreError>);
    forward!(/// The dry run of a retention policy: what would go, and why.
        plan_compaction => call_plan_compaction(policy: &Retention) -> Result<CompactionPlan, StoreError>);
    forward!(/// What opening found in the log.
        load_report => call_load_report() -> LoadReport);
    forward!(/// Whether the store accepts writes.
        health => call_health() -> Health);
    forward!(/// Events since the last call.
        drain_events => call_drain_events() -> Vec<Event>);
    forward!(/// Stores a keyed blob on a checkpoint.
        attach => call_attach(id: &str, key: &str, content_type: &str, bytes: &[u8]) -> Result<(), StoreError>);
    forward!(/// An attachment's bytes.
        attachment => call_attachment(id: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>);
    forward!(/// Deletes a checkpoint.
        delete => call_delete(id: &str) -> Result<(), StoreError>);
    forward!(/// Applies a retention policy.
        compact => call_compact(policy: &Retention) -> Result<CompactionReport, StoreError>);
    forward!(/// The store as a binary log.
        export_binary => call_export_binary() -> Result<Vec<u8>, StoreError>);
    forward!(/// The store as JSON.
        export_json => call_export_json() -> Result<String, StoreError>);
    forward!(/// Imports a binary export.
        import_binary => call_import_binary(bytes: &[u8]) -> Result<ImportReport, StoreError>);
    forward!(/// Imports a JSON export.
        import_json => call_import_json(text: &str) -> Result<ImportReport, StoreError>);
    forward!(/// Recomputes every hash.
        verify => call_verify() -> VerifyReport);
    forward!(/// Counts and sizes.
        metrics => call_metrics() -> Metrics);
    forward!(/// Makes everything durable.
        flush => call_flush() -> Result<(), StoreError>);
    forward!(/// Writes the index snapshot (or its delta) when the log grew since the last one, so
        /// the next open replays little (backends that keep snapshots: a file store, or
        /// [`MemoryBackend::with_snapshot`](rewind_core::MemoryBackend::with_snapshot)); returns
        /// whether it wrote one. Call it before dropping a store you will open again.
        persist_index => call_persist_index() -> Result<bool, StoreError>);
}

/// The checkpoints of a [`SummaryPage`], read in place: the page owns its bytes, and each
/// [`SummaryRef`] borrows its message and tags from them (`to_owned` makes a [`Summary`]). Bytes
/// the component did not pack as documented are an [`rewind_core::Error::InvalidInput`].
pub fn summaries(page: &SummaryPage) -> Result<Summaries<'_>, rewind_core::Error> {
    Summaries::new(&page.items)
}

/// An engine error as the component reports it.
fn store_error(err: rewind_core::Error) -> StoreError {
    use rewind_core::ErrorKind as K;
    let kind = match err.kind() {
        K::NotFound => ErrorKind::NotFound,
        K::InvalidInput => ErrorKind::InvalidInput,
        K::LimitExceeded => ErrorKind::LimitExceeded,
        K::Corrupt => ErrorKind::Corrupt,
        K::HashMismatch => ErrorKind::HashMismatch,
        K::ImportRejected => ErrorKind::ImportRejected,
        K::Storage => ErrorKind::Storage,
    };
    StoreError {
        kind,
        code: err.code().into(),
        message: err.to_string(),
    }
}

/// A [`CheckpointInput`] for `session` with `message` and default everything else.
pub fn input(session: &str, message: &str) -> CheckpointInput {
    CheckpointInput {
        session: session.into(),
        message: message.into(),
        content_type: None,
        tags: Vec::new(),
        metadata: String::new(),
        trigger: Trigger::Manual,
        parent: None,
        root: false,
        namespace: String::new(),
        id: None,
        created_at: None,
    }
}

/// A [`Query`] matching everything, newest first.
pub fn query() -> Query {
    Query {
        session: None,
        namespace: None,
        tags_all: Vec::new(),
        tags_any: Vec::new(),
        triggers: Vec::new(),
        metadata: Vec::new(),
        seq_min: None,
        seq_max: None,
        time_from: None,
        time_to: None,
        before: None,
        order: Order::Descending,
        limit: None,
        cursor: None,
    }
}

/// A [`Retention`] that removes nothing, with heads and critical checkpoints protected.
pub fn retention() -> Retention {
    Retention {
        keep_last: None,
        keep_tags: Vec::new(),
        max_age_ms: None,
        max_bytes: None,
        sessions: Vec::new(),
        protect_heads: true,
        protect_critical: true,
    }
}

/// [`StoreOptions`] with every default.
pub fn options() -> StoreOptions {
    StoreOptions {
        max_state_bytes: None,
        max_message_bytes: None,
        max_tags: None,
        max_tag_bytes: None,
        max_metadata_bytes: None,
        max_namespace_bytes: None,
        max_name_bytes: None,
        max_content_type_bytes: None,
        max_note_bytes: None,
        max_attachment_bytes: None,
        max_attachment_key_bytes: None,
        max_import_bytes: None,
        auto_min_interval_ms: None,
        auto_counts: None,
        event_capacity: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rewind_core::{Backend, BackendError, DeterministicEnv, MemoryBackend};

    fn host(log: &[u8], max_read: usize) -> HostState {
        let mut backend = MemoryBackend::new();
        backend.append(log).unwrap();
        HostState {
            backend: Box::new(backend),
            snapshot: None,
            env: Box::new(DeterministicEnv::new()),
            limits: StoreLimitsBuilder::new().build(),
            max_read,
            logs: Vec::new(),
        }
    }

    #[test]
    fn reads_for_the_component_are_whole_and_within_its_memory() {
        let state = host(b"abcdefgh", 1 << 20);
        // The memory log starts with its header: find the bytes appended after it.
        let mut at = None;
        for pos in 0..64u64 {
            if let Ok(bytes) = state.read(&[(pos, 8)])
                && bytes == b"abcdefgh"
            {
                at = Some(pos);
                break;
            }
        }
        let at = at.expect("the appended bytes are readable");
        assert_eq!(state.read(&[(at + 4, 2), (at, 3)]).unwrap(), b"efabc");
        assert!(matches!(
            state.read(&[(at + 6, 4)]),
            Err(BackendError::OutOfRange { .. })
        ));
        // A read larger than the instance could hold fails before anything is allocated.
        let small = host(b"abcdefgh", 4);
        assert!(matches!(
            small.read(&[(at, 3), (at, 3)]),
            Err(BackendError::OutOfRange { len: 6, .. })
        ));
        assert!(matches!(
            small.read(&[(0, u32::MAX); 4]),
            Err(BackendError::OutOfRange { .. })
        ));
    }
}
