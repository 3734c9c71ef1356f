//! [`PgStore`]: a thread-safe handle on a store on PostgreSQL.
//!
//! Many processes (on many machines) open the same store, each with its own handle and its own
//! index in memory; every one of them may write. A write that finds that others wrote first
//! catches up on their writes and is planned again (see [`PgBackend`]), so each handle's writes
//! land as if all writes had been made one after another. Between its own writes a handle
//! sees the store as of its last write or [`refresh`](PgStore::refresh); [`follow`](PgStore::follow)
//! refreshes on a background thread whenever the server announces a write (LISTEN/NOTIFY), and
//! at least every poll interval (servers that speak PostgreSQL but lack NOTIFY get polling
//! alone), delivering the other processes' writes to subscribers as events.
//!
//! Within a process, readers share a read lock; a writer holds the write lock for its round
//! trip to the server.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread;
use std::time::Duration;

use rewind_core::{
    Checkpoint, CheckpointId, CompactionReport, Event, LoadReport, Metrics, NewCheckpoint, Options,
    Refreshed, Restored, RetentionPolicy, SessionId, Store,
};
use serde_json::{Map, Value};

use postgres::fallible_iterator::FallibleIterator;

use super::backend::{PgBackend, PgOptions};
use super::location::PgLocation;
use crate::error::{Error, Result};
use crate::subscribers::Subscribers;
use crate::system_env::SystemEnv;

/// The engine store inside a [`PgStore`].
pub type PgEngine = Store<PgBackend, SystemEnv>;

struct Inner {
    store: RwLock<PgEngine>,
    report: LoadReport,
    subscribers: Subscribers,
    stop: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // A writer closing leaves an index snapshot when the log grew since the last one, so
        // the next process to open the store replays little.
        let store = self.store.get_mut().unwrap_or_else(|e| e.into_inner());
        if store.snapshot_due() {
            let _ = store.write_snapshot();
        }
    }
}

/// What the user's clones share: background threads are stopped and joined when the last goes.
struct Handle {
    inner: Arc<Inner>,
    threads: Mutex<Vec<thread::JoinHandle<()>>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        for t in lock(&self.threads).drain(..) {
            let _ = t.join();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A thread-safe, cheaply cloneable handle on a store on PostgreSQL. See the module docs.
#[derive(Clone)]
pub struct PgStore {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("backend", self.inner().read_guard().backend())
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Opens the store a `postgres://` URL names (creating the schema and the store when
    /// missing), with default options. See [`PgLocation`] for the URL.
    pub fn open_url(url: &str) -> Result<PgStore> {
        PgStore::open(
            &PgLocation::parse(url)?,
            PgOptions::default(),
            Options::default(),
        )
    }

    /// Opens the store at `location`: for writing, or read-only with
    /// [`PgOptions::read_only`]. The open reads the newest index snapshot the store's writers
    /// left and replays only the log written after it.
    pub fn open(location: &PgLocation, pg: PgOptions, options: Options) -> Result<PgStore> {
        let (store, report) = open_engine(location, pg, options)?;
        let inner = Arc::new(Inner {
            store: RwLock::new(store),
            report,
            subscribers: Subscribers::default(),
            stop: AtomicBool::new(false),
        });
        Ok(PgStore {
            handle: Arc::new(Handle {
                inner,
                threads: Mutex::new(Vec::new()),
            }),
        })
    }

    fn inner(&self) -> &Inner {
        &self.handle.inner
    }

    /// What the open replayed (and whether it used an index snapshot).
    pub fn load_report(&self) -> &LoadReport {
        &self.inner().report
    }

    /// Runs `f` with shared read access to the store as this handle last saw it.
    pub fn read<T>(&self, f: impl FnOnce(&PgEngine) -> T) -> T {
        f(&self.inner().read_guard())
    }

    /// Runs `f` with exclusive access, then delivers the events it produced (another
    /// process's writes that a write caught up on among them). Do not call back into the same
    /// `PgStore` from `f`.
    pub fn write<T>(&self, f: impl FnOnce(&mut PgEngine) -> rewind_core::Result<T>) -> Result<T> {
        self.inner().write(f)
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

    /// Applies a retention policy: the store's log is rewritten into a new generation and the
    /// old one dropped, while other processes go on writing (their writes wait for the switch).
    pub fn compact(&self, policy: &RetentionPolicy) -> Result<CompactionReport> {
        self.write(|s| s.compact(policy))
    }

    /// Counts and sizes.
    pub fn metrics(&self) -> Metrics {
        self.read(|s| s.metrics())
    }

    /// A channel that receives every event from now on.
    pub fn subscribe(&self) -> Receiver<Event> {
        self.inner().subscribers.channel()
    }

    /// Calls `callback` with every event from now on, after the write lock is released. Keep
    /// it short; it must not write to this store.
    pub fn on_event(&self, callback: impl Fn(&Event) + Send + Sync + 'static) {
        self.inner().subscribers.callback(callback);
    }

    /// Applies what other processes wrote since this handle's last write or refresh, and
    /// delivers their events. Costs what was written (or, after a compaction elsewhere, a
    /// read of the new log).
    pub fn refresh(&self) -> Result<Refreshed> {
        self.write(|s| s.refresh())
    }

    /// Refreshes on a background thread until the store closes: at once when the server
    /// announces a write to this store (LISTEN on its channel, from a connection of its own),
    /// and at least every `poll` (alone, when the server has no NOTIFY). A refresh that fails
    /// (the server restarting) is tried again at the next wake-up.
    pub fn follow(&self, poll: Duration) -> Result<()> {
        let weak = Arc::downgrade(&self.handle.inner);
        let (location, channel) = self.read(|s| {
            let backend = s.backend();
            (backend.location().clone(), backend.channel())
        });
        let thread = thread::Builder::new()
            .name("rewind-follow".into())
            .spawn(move || follow_loop(&weak, &location, &channel, poll))
            .map_err(|e| Error::io("rewind-follow", "start a thread", e))?;
        lock(&self.handle.threads).push(thread);
        Ok(())
    }
}

/// The follower thread: waits for a NOTIFY (or the poll interval), then refreshes.
fn follow_loop(
    weak: &std::sync::Weak<Inner>,
    location: &PgLocation,
    channel: &str,
    poll: Duration,
) {
    // The wait is cut in slices so a closing store is noticed within one.
    let slice = poll.min(Duration::from_millis(200));
    let mut listener: Option<postgres::Client> = None;
    loop {
        if listener.as_ref().is_none_or(postgres::Client::is_closed) {
            let config = location.config();
            let connected = match location.connector() {
                Ok(Some(tls)) => config.connect(tls),
                Ok(None) => config.connect(postgres::NoTls),
                Err(_) => return,
            };
            listener = connected.ok().and_then(|mut client| {
                client
                    .batch_execute(&format!("LISTEN {channel}"))
                    .ok()
                    .map(|()| client)
            });
        }
        let mut waited = Duration::ZERO;
        let mut woken = false;
        while waited < poll && !woken {
            if weak
                .upgrade()
                .is_none_or(|inner| inner.stop.load(Ordering::SeqCst))
            {
                return;
            }
            match &mut listener {
                Some(client) => {
                    let got = client.notifications().timeout_iter(slice).next();
                    match got {
                        Ok(Some(_)) => {
                            woken = true;
                            // Take what else arrived: one refresh covers them all.
                            let mut notifications = client.notifications();
                            let mut pending = notifications.iter();
                            while let Ok(Some(_)) = pending.next() {}
                        }
                        Ok(None) => {}
                        Err(_) => listener = None,
                    }
                }
                None => thread::sleep(slice),
            }
            waited += slice;
        }
        let Some(inner) = weak.upgrade() else {
            return;
        };
        if inner.stop.load(Ordering::SeqCst) {
            return;
        }
        let _ = inner.write(|s| s.refresh());
    }
}

impl Inner {
    fn read_guard(&self) -> RwLockReadGuard<'_, PgEngine> {
        self.store.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_guard(&self) -> RwLockWriteGuard<'_, PgEngine> {
        self.store.write().unwrap_or_else(|e| e.into_inner())
    }

    fn write<T>(&self, f: impl FnOnce(&mut PgEngine) -> rewind_core::Result<T>) -> Result<T> {
        let (result, events) = {
            let mut store = self.write_guard();
            let result = f(&mut store);
            (result, store.drain_events())
        };
        self.subscribers.deliver(events);
        Ok(result?)
    }
}

/// Opens the engine over a [`PgBackend`].
pub fn open_engine(
    location: &PgLocation,
    pg: PgOptions,
    options: Options,
) -> Result<(PgEngine, LoadReport)> {
    let backend = PgBackend::open(location, pg)?;
    Ok(Store::open(backend, SystemEnv::new(), options)?)
}
