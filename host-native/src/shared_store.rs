//! `SharedStore`: one file store used from many threads.
//!
//! Readers share a read lock and run in parallel; they never wait for a disk sync. A writer
//! holds the write lock only while the engine updates memory and hands the record to the
//! operating system (`pwrite`); durability is reached afterwards, outside the lock:
//!
//! - [`Durability::Always`]: the call returns once its record is synced. Writers that arrive
//!   while a sync runs wait for the next one and share it (**group commit**): one `fdatasync`
//!   covers every record written before it started.
//! - [`Durability::Batched`]: calls return at once; a background thread syncs within
//!   `max_delay` of the first unsynced write.
//! - [`Durability::Never`]: syncs only on [`flush`](SharedStore::flush) and when the store
//!   closes.
//!
//! **Index snapshots** are not written by the writer once the store is large: writes leave
//! small deltas of what changed since the last snapshot, and when a whole new snapshot is due
//! (the deltas have grown as large as the snapshot) a background thread merges snapshot and
//! delta into one and writes it beside the store, while writers go on; the next write puts it
//! in place (a rename) and replays onto it what was written meanwhile (the file backend runs
//! the merge, see [`rewind_core::Backend::runs_snapshot_merges`]; a [`FileStore`](crate::FileStore)
//! does the same).
//!
//! A failed sync leaves what the disk holds unknown, so the store then refuses writes (reads go
//! on) until it is reopened. Events reach subscribers after the write lock is released, through
//! `std::sync::mpsc` channels or callbacks.
//!
//! A **read-only** `SharedStore` ([`open_read_only`](SharedStore::open_read_only)) follows a
//! writer in another process (or another handle): [`refresh`](SharedStore::refresh) applies
//! what it wrote since, and [`follow_every`](SharedStore::follow_every) does so on a timer, so
//! subscribers hear of another process's writes as they land.

use std::path::Path;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};
use std::thread;
use std::time::Duration;

use rewind_core::{
    Checkpoint, CheckpointId, Event, Metrics, NewCheckpoint, Refreshed, Restored, RetentionPolicy,
    SessionId, Store,
};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::file_backend::{FileBackend, OpenReport};
use crate::file_store::{Durability, FileOptions, open_engine, open_engine_read_only};
use crate::subscribers::Subscribers;
use crate::system_env::SystemEnv;

/// The engine store inside a [`SharedStore`].
pub type Engine = Store<FileBackend, SystemEnv>;

#[derive(Default)]
struct SyncState {
    /// Writes handed to the OS so far (a ticket per write call).
    written: u64,
    /// Every write with a ticket up to this is durable.
    synced: u64,
    /// A sync is running.
    syncing: bool,
    /// Write calls between entering and getting their ticket (queued on the write lock or
    /// updating the engine).
    writing: u64,
    /// How long the last sync took (bounds how long the next waits for writers to join).
    last_sync: Duration,
    /// Set by a failed sync: writes are refused from then on.
    error: Option<String>,
}

struct Inner {
    store: RwLock<Engine>,
    report: OpenReport,
    durability: Durability,
    sync: Mutex<SyncState>,
    synced: Condvar,
    /// Signalled when a write gets its ticket (a sync may be waiting for it).
    quiet: Condvar,
    subscribers: Subscribers,
    signal: Arc<Signal>,
}

/// Wakes background threads early when the store closes.
#[derive(Default)]
struct Signal {
    stop: Mutex<bool>,
    wake: Condvar,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Background threads hold the store only while they work; tell them to stop.
        *lock(&self.signal.stop) = true;
        self.signal.wake.notify_all();
        close_with_snapshot(self.store.get_mut().unwrap_or_else(|e| e.into_inner()));
    }
}

/// A writer closing leaves an index snapshot when the log has grown since the last one, so the
/// next open replays little (see `rewind_core::snapshot`); a merge still running is waited for
/// and installed first, so the two never write the snapshot at once. A failure costs the next
/// open a longer replay, nothing else.
pub(crate) fn close_with_snapshot(store: &mut Engine) {
    store.settle_snapshot_merge();
    if store.snapshot_due() {
        let _ = store.write_snapshot();
    }
}

/// A thread-safe, cheaply cloneable handle on a file store. See the module docs.
#[derive(Clone)]
pub struct SharedStore {
    handle: Arc<Handle>,
}

/// What the user's clones share. When the last one goes, background threads are stopped and
/// joined before the store closes, so the directory can be reopened at once.
struct Handle {
    inner: Arc<Inner>,
    threads: Mutex<Vec<thread::JoinHandle<()>>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        *lock(&self.inner.signal.stop) = true;
        self.inner.signal.wake.notify_all();
        for t in lock(&self.threads).drain(..) {
            // A thread finishes its current tick (a compaction, a sync) and exits.
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for SharedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedStore")
            .field("durability", &self.handle.inner.durability)
            .finish_non_exhaustive()
    }
}

impl SharedStore {
    /// Opens (or creates) the store in `dir`. Fails with [`Error::Locked`] when another handle,
    /// in this process or another, holds it.
    pub fn open(dir: impl AsRef<Path>, options: FileOptions) -> Result<SharedStore> {
        // Syncing is this handle's job (group commit), not the engine's.
        let (store, report) = open_engine(dir.as_ref(), &options, false)?;
        SharedStore::start(store, report, options.durability)
    }

    /// Opens the store in `dir` for reading only, beside its writer (another process, or a
    /// handle in this one): no lock, nothing written (see
    /// [`FileStore::open_read_only`](crate::FileStore::open_read_only)). Keep it current with
    /// [`refresh`](SharedStore::refresh) or [`follow_every`](SharedStore::follow_every); the
    /// events of what each refresh applied reach subscribers as a writer's own do.
    pub fn open_read_only(dir: impl AsRef<Path>, options: FileOptions) -> Result<SharedStore> {
        let (store, report) = open_engine_read_only(dir.as_ref(), &options)?;
        SharedStore::start(store, report, Durability::Never)
    }

    fn start(store: Engine, report: OpenReport, durability: Durability) -> Result<SharedStore> {
        let inner = Arc::new(Inner {
            store: RwLock::new(store),
            report,
            durability,
            sync: Mutex::new(SyncState::default()),
            synced: Condvar::new(),
            quiet: Condvar::new(),
            subscribers: Subscribers::default(),
            signal: Arc::default(),
        });
        let store = SharedStore {
            handle: Arc::new(Handle {
                inner,
                threads: Mutex::new(Vec::new()),
            }),
        };
        if let Durability::Batched { max_delay } = durability {
            store.spawn_periodic(max_delay, "rewind-sync", |inner| {
                let pending = {
                    let s = lock(&inner.sync);
                    s.written > s.synced && s.error.is_none()
                };
                if pending {
                    let target = lock(&inner.sync).written;
                    let _ = inner.wait_durable(target);
                }
            })?;
        }
        Ok(store)
    }

    fn inner(&self) -> &Inner {
        &self.handle.inner
    }

    /// What opening found (truncated torn tail, stale files removed).
    pub fn open_report(&self) -> &OpenReport {
        &self.inner().report
    }

    /// Runs `f` with shared read access. Many readers run at once.
    pub fn read<T>(&self, f: impl FnOnce(&Engine) -> T) -> T {
        f(&self.inner().read_guard())
    }

    /// Runs `f` with exclusive access, then waits for durability as configured and delivers the
    /// events it produced. Do not call back into the same `SharedStore` from `f`.
    pub fn write<T>(&self, f: impl FnOnce(&mut Engine) -> rewind_core::Result<T>) -> Result<T> {
        self.inner().write(f)
    }

    /// Makes every write so far durable, whatever the durability setting.
    pub fn flush(&self) -> Result<()> {
        let target = lock(&self.inner().sync).written;
        self.inner().wait_durable(target)
    }

    /// Creates a session.
    pub fn create_session(&self, name: &str, metadata: Map<String, Value>) -> Result<SessionId> {
        self.write(|s| s.create_session(name, metadata))
    }

    /// Creates a checkpoint and returns it.
    pub fn checkpoint(&self, new: NewCheckpoint<'_>) -> Result<Checkpoint> {
        self.write(|s| s.checkpoint(new).cloned())
    }

    /// A checkpoint by id.
    pub fn get(&self, id: CheckpointId) -> Result<Checkpoint> {
        Ok(self.read(|s| s.get(id).cloned())?)
    }

    /// A checkpoint's state bytes.
    pub fn state(&self, id: CheckpointId) -> Result<Vec<u8>> {
        Ok(self.read(|s| s.state(id))?)
    }

    /// Returns a checkpoint's state and moves its session's head there.
    pub fn restore(&self, id: CheckpointId) -> Result<Restored> {
        self.write(|s| s.restore(id))
    }

    /// Counts and sizes.
    pub fn metrics(&self) -> Metrics {
        self.read(|s| s.metrics())
    }

    /// A channel that receives every event from now on.
    pub fn subscribe(&self) -> Receiver<Event> {
        self.inner().subscribers.channel()
    }

    /// Calls `callback` with every event from now on, on the writing thread, after the write
    /// lock is released. Keep it short; it must not write to this store.
    pub fn on_event(&self, callback: impl Fn(&Event) + Send + Sync + 'static) {
        self.inner().subscribers.callback(callback);
    }

    /// Whether the store was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.read(|s| s.backend().read_only())
    }

    /// A read-only store: applies what the writer wrote since the last refresh, and delivers
    /// its events to subscribers (see [`Store::refresh`]). A writer's store is always current:
    /// there this does nothing.
    pub fn refresh(&self) -> Result<Refreshed> {
        self.write(|s| s.refresh())
    }

    /// A read-only store: refreshes every `interval` on a background thread until the store
    /// closes, so subscribers hear of another process's writes as they land. A refresh that
    /// fails (a file the writer was replacing) is tried again at the next tick.
    pub fn follow_every(&self, interval: Duration) -> Result<()> {
        self.spawn_periodic(interval, "rewind-follow", |inner| {
            let _ = inner.write(|s| s.refresh());
        })
    }

    /// Applies `policy` every `interval` on a background thread until the store closes.
    /// Compaction holds the write lock while it rewrites the log.
    pub fn compact_every(&self, policy: RetentionPolicy, interval: Duration) -> Result<()> {
        self.spawn_periodic(interval, "rewind-compact", move |inner| {
            let _ = inner.write(|s| s.compact(&policy));
        })
    }

    /// Runs `tick` every `interval` on a named thread until the last handle is dropped. The
    /// thread holds the store only during a tick; dropping the last handle waits for a running
    /// tick to end, then closes the store.
    fn spawn_periodic(
        &self,
        interval: Duration,
        name: &str,
        tick: impl Fn(&Inner) + Send + 'static,
    ) -> Result<()> {
        let weak: Weak<Inner> = Arc::downgrade(&self.handle.inner);
        let signal = self.handle.inner.signal.clone();
        let thread = thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                loop {
                    {
                        let stop = lock(&signal.stop);
                        if *stop {
                            return;
                        }
                        let (stop, _) = signal
                            .wake
                            .wait_timeout(stop, interval)
                            .unwrap_or_else(|poisoned| poisoned.into_inner());
                        if *stop {
                            return;
                        }
                    }
                    let Some(inner) = weak.upgrade() else {
                        return;
                    };
                    tick(&inner);
                }
            })
            .map_err(|e| Error::io(".", "start a background thread", e))?;
        lock(&self.handle.threads).push(thread);
        Ok(())
    }
}

impl Inner {
    fn write<T>(&self, f: impl FnOnce(&mut Engine) -> rewind_core::Result<T>) -> Result<T> {
        lock(&self.sync).writing += 1;
        // Counted out even if `f` panics, so a sync never waits for a write that is gone.
        let mut entered = Entered(Some(self));
        let (result, ticket, events) = {
            let mut store = self.write_guard();
            let failed = lock(&self.sync).error.clone();
            let result = match failed {
                Some(err) => Err(Error::Store(rewind_core::Error::Backend(
                    rewind_core::BackendError::Io(format!(
                        "an earlier sync failed ({err}); reopen the store"
                    )),
                ))),
                None => f(&mut store).map_err(Error::Store),
            };
            let ticket = {
                let mut s = lock(&self.sync);
                s.written += 1;
                s.writing -= 1;
                entered.0 = None;
                // A sync may be waiting for this write to join it.
                self.quiet.notify_all();
                s.written
            };
            (result, ticket, store.drain_events())
        };
        self.deliver(events);
        let value = result?;
        if self.durability == Durability::Always {
            self.wait_durable(ticket)?;
        }
        Ok(value)
    }

    fn read_guard(&self) -> RwLockReadGuard<'_, Engine> {
        // The engine never panics mid-update, so a poisoned lock still guards a sound store.
        self.store
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_guard(&self) -> RwLockWriteGuard<'_, Engine> {
        self.store
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Returns once every write up to `ticket` is durable, running the sync itself when no other
    /// thread is (group commit).
    fn wait_durable(&self, ticket: u64) -> Result<()> {
        let inner = self;
        let mut state = lock(&inner.sync);
        loop {
            if let Some(err) = &state.error {
                return Err(sync_failed(err));
            }
            if state.synced >= ticket {
                return Ok(());
            }
            if state.syncing {
                state = inner
                    .synced
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                continue;
            }
            state.syncing = true;
            // Writers already queued on the write lock join this sync rather than the next: a
            // few microseconds each, against a sync that costs a hundred or more. At most half
            // a sync: a lone writer never waits, and a steady stream cannot hold a sync back.
            let deadline = std::time::Instant::now() + (state.last_sync / 2).min(GROUP_WAIT);
            while state.writing > 0 {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    break;
                }
                state = inner
                    .quiet
                    .wait_timeout(state, left)
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .0;
            }
            drop(state);
            // Capture what to sync under the write lock (briefly), then sync without any lock:
            // readers and writers go on while the disk works. The sync covers every write made
            // before the capture, so the count is read under the same lock: writers that got in
            // while this thread waited for it share this sync instead of waiting for the next.
            let (pending, target) = {
                let mut store = self.write_guard();
                let pending = store.backend_mut().take_pending_sync();
                (pending, lock(&inner.sync).written)
            };
            let started = std::time::Instant::now();
            let result = pending.run();
            let took = started.elapsed();
            state = lock(&inner.sync);
            state.syncing = false;
            match result {
                Ok(()) => {
                    state.last_sync = took;
                    state.synced = state.synced.max(target);
                }
                Err(err) => state.error = Some(err.to_string()),
            }
            inner.synced.notify_all();
        }
    }

    fn deliver(&self, events: Vec<Event>) {
        self.subscribers.deliver(events);
    }
}

/// A write call counted in `SyncState::writing`; dropping it while armed counts it out.
struct Entered<'a>(Option<&'a Inner>);

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        if let Some(inner) = self.0 {
            lock(&inner.sync).writing -= 1;
            inner.quiet.notify_all();
        }
    }
}

/// The longest a sync waits for writers already on their way to join it.
const GROUP_WAIT: Duration = Duration::from_millis(1);

fn sync_failed(err: &str) -> Error {
    Error::Store(rewind_core::Error::Backend(rewind_core::BackendError::Io(
        format!("sync failed: {err}; the store refuses writes until reopened"),
    )))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
