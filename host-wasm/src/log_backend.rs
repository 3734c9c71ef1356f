//! The backend of JavaScript stores: the log in memory, plus what still has to reach
//! persistent storage.
//!
//! Browsers only offer asynchronous storage (IndexedDB), while the engine is synchronous. So the
//! engine writes to this in-memory log, and the JavaScript side drains [`Persist`] after every
//! operation and writes it to IndexedDB — awaiting it (`durability: "strict"`) or batching it
//! (`"relaxed"`). A compaction replaces the whole log, which IndexedDB then replaces in one
//! transaction.
//!
//! Index snapshots (see `rewind_core::snapshot`) travel the same way: the one a store opened
//! with comes from IndexedDB, and one the engine writes waits in [`Persist`] for the JavaScript
//! side to store in the same IndexedDB transaction as the log rows it describes (which come
//! before it in the same batch or in earlier ones), so a stored snapshot never describes rows
//! that are not stored.

use rewind_core::backend::{LoadReport, Visitor};
use rewind_core::{Backend, BackendError, MemoryBackend};

/// What the last operations changed in the log.
#[derive(Debug, PartialEq, Eq)]
pub enum Persist {
    /// Nothing new.
    Nothing,
    /// These frames were appended (then the snapshot, when one was written).
    Append(Vec<u8>, Snapshot),
    /// The whole log was replaced (by a compaction): this is the new log, header included
    /// (then the snapshot; `Snapshot::Keep` stands for "delete the stored one": it describes
    /// the old log).
    Replace(Vec<u8>, Snapshot),
}

/// What becomes of the stored index snapshot.
#[derive(Debug, PartialEq, Eq)]
pub enum Snapshot {
    /// It stays as it is.
    Keep,
    /// It is replaced by these bytes.
    Write(Vec<u8>),
}

/// [`MemoryBackend`] that remembers what is not persisted yet.
#[derive(Debug)]
pub struct LogBackend {
    inner: MemoryBackend,
    pending: Vec<u8>,
    replaced: bool,
    /// A snapshot written since the last `take_persist`.
    snapshot: Option<Vec<u8>>,
    /// False for stores nothing persists (memory stores): appends are not copied to `pending`,
    /// and no snapshot is kept.
    track: bool,
}

impl LogBackend {
    /// A backend over an existing log (empty for a new store) and the index snapshot stored
    /// with it, if any; `track`: remember what must be persisted (false for memory stores,
    /// whose `take_persist` is always `Nothing`).
    pub fn new(log: Vec<u8>, snapshot: Option<Vec<u8>>, track: bool) -> Self {
        LogBackend {
            inner: MemoryBackend::with_snapshot(log, snapshot),
            pending: Vec::new(),
            replaced: false,
            snapshot: None,
            track,
        }
    }

    /// Takes what must be persisted since the last call.
    pub fn take_persist(&mut self) -> Persist {
        let snapshot = match self.snapshot.take() {
            Some(bytes) => Snapshot::Write(bytes),
            None => Snapshot::Keep,
        };
        if std::mem::take(&mut self.replaced) {
            self.pending.clear();
            return Persist::Replace(self.inner.bytes().to_vec(), snapshot);
        }
        if self.pending.is_empty() && snapshot == Snapshot::Keep {
            return Persist::Nothing;
        }
        Persist::Append(std::mem::take(&mut self.pending), snapshot)
    }

    /// The whole log.
    pub fn bytes(&self) -> &[u8] {
        self.inner.bytes()
    }
}

impl Backend for LogBackend {
    fn append(&mut self, frames: &[u8]) -> Result<u64, BackendError> {
        let was_empty = self.inner.bytes().is_empty();
        let pos = self.inner.append(frames)?;
        if !self.track {
            return Ok(pos);
        }
        if was_empty {
            // The first append also wrote the log header: persist the log whole.
            self.replaced = true;
        } else {
            self.pending.extend_from_slice(frames);
        }
        Ok(pos)
    }
    fn sync(&mut self) -> Result<(), BackendError> {
        Ok(())
    }
    fn load(&mut self, visit: &mut Visitor<'_>) -> Result<LoadReport, rewind_core::Error> {
        self.inner.load(visit)
    }
    fn load_from(
        &mut self,
        from: u64,
        visit: &mut Visitor<'_>,
    ) -> Result<Option<LoadReport>, rewind_core::Error> {
        self.inner.load_from(from, visit)
    }
    fn keeps_snapshots(&self) -> bool {
        self.track
    }
    fn read_snapshot(&mut self) -> Result<Option<Vec<u8>>, BackendError> {
        self.inner.read_snapshot()
    }
    fn write_snapshot(&mut self, bytes: &[u8]) -> Result<bool, BackendError> {
        if !self.track {
            return Ok(false);
        }
        self.inner.write_snapshot(bytes)?;
        self.snapshot = Some(bytes.to_vec());
        Ok(true)
    }
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> Result<(), BackendError> {
        self.inner.read_at(pos, buf)
    }
    fn begin_rewrite(&mut self) -> Result<(), BackendError> {
        self.inner.begin_rewrite()
    }
    fn rewrite_append(&mut self, frames: &[u8]) -> Result<u64, BackendError> {
        self.inner.rewrite_append(frames)
    }
    fn commit_rewrite(&mut self) -> Result<(), BackendError> {
        self.inner.commit_rewrite()?;
        self.replaced = self.track;
        Ok(())
    }
    fn abort_rewrite(&mut self) {
        self.inner.abort_rewrite()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rewind_core::{DeterministicEnv, NewCheckpoint, Options, RetentionPolicy, Store};

    #[test]
    fn pending_bytes_rebuild_the_same_log() {
        let (mut store, _) = Store::open(
            LogBackend::new(Vec::new(), None, true),
            DeterministicEnv::new(),
            Options::default(),
        )
        .unwrap();
        let mut persisted = Vec::new();
        let mut drain = |store: &mut Store<LogBackend, DeterministicEnv>| {
            match store.backend_mut().take_persist() {
                Persist::Nothing => {}
                Persist::Append(frames, _) => persisted.extend_from_slice(&frames),
                Persist::Replace(log, _) => persisted = log,
            }
            assert_eq!(persisted, store.backend().bytes());
        };
        let s = store.create_session("s", Default::default()).unwrap();
        drain(&mut store);
        for i in 0..5 {
            let state = format!("{{\"i\":{i}}}");
            store
                .checkpoint(NewCheckpoint::new(s, "c", state.as_bytes()))
                .unwrap();
            drain(&mut store);
        }
        store.compact(&RetentionPolicy::keep_last(2)).unwrap();
        drain(&mut store);
        assert_eq!(store.backend_mut().take_persist(), Persist::Nothing);
    }
}
