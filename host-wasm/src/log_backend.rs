//! The backend of JavaScript stores: the log in memory — all of it, or the parts fetched so
//! far — plus what still has to reach persistent storage.
//!
//! Browsers only offer asynchronous storage (IndexedDB), while the engine is synchronous. So the
//! engine writes to this in-memory log, and the JavaScript side drains [`Persist`] after every
//! operation and writes it to IndexedDB — awaiting it (`durability: "strict"`) or batching it
//! (`"relaxed"`). A compaction replaces the whole log, which IndexedDB then replaces in one
//! transaction.
//!
//! **Fetched on demand.** A store opened through an index snapshot does not need the log
//! before the snapshot's point, so the JavaScript side hands over only the log's first row
//! (its header) and the rows from the snapshot's anchor on ([`LogBackend::new`]'s `tail_at`).
//! A read of bytes not held fails with [`BackendError::OutOfRange`] at the first missing
//! position; the JavaScript side fetches the row that holds it, adds it
//! ([`LogBackend::add`]) and asks again. Reads that know what they need (a state, an
//! attachment) say so first ([`rewind_core::Store::state_extents`]), so one fetch brings it all.
//! Rows are stored keyed by their log position, and split at frame boundaries
//! ([`row_ends`]), so a read never fetches much more than it needs.
//!
//! Index snapshots (see `rewind_core::snapshot`) travel the same way: the one a store opened
//! with comes from IndexedDB, and one the engine writes waits in [`Persist`] for the JavaScript
//! side to store in the same IndexedDB transaction as the log rows it describes (which come
//! before it in the same batch or in earlier ones), so a stored snapshot never describes rows
//! that are not stored.

use std::collections::BTreeMap;
use std::sync::Arc;

use rewind_core::backend::{LoadReport, Visitor, replay_part};
use rewind_core::frame::{FrameHeader, HEADER_LEN};
use rewind_core::{Backend, BackendError, SnapshotBytes};

/// The size a stored row grows to before the next frame starts a new one (a frame larger than
/// this is a row of its own).
pub const ROW_BYTES: usize = 256 * 1024;

/// What the last operations changed in the log.
#[derive(Debug, PartialEq, Eq)]
pub enum Persist {
    /// Nothing new.
    Nothing,
    /// These frames were appended at this log position (then the snapshot and its delta,
    /// when they were written).
    Append(u64, Vec<u8>, Snapshot),
    /// The whole log was replaced (by a compaction): this is the new log, header included
    /// (then the snapshot and delta; `Keep` stands for "delete the stored one": it describes
    /// the old log).
    Replace(Vec<u8>, Snapshot),
}

/// What becomes of the stored index snapshot and its delta.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The snapshot: `None` keeps it as it is, else it is replaced by these bytes.
    pub whole: Option<Vec<u8>>,
    /// The delta: `None` keeps it as it is, else it is replaced by these bytes (empty:
    /// deleted).
    pub delta: Option<Vec<u8>>,
}

impl Snapshot {
    fn is_kept(&self) -> bool {
        self.whole.is_none() && self.delta.is_none()
    }
}

/// Where the rows of `bytes` end (offsets in `bytes`, the last one its length): frames in
/// log order, a new row started when the current one reached [`ROW_BYTES`]. `bytes` holds
/// whole frames, after the log's header when `with_header`. A row therefore holds whole
/// frames, so every read of a frame's bytes (a chunk, the anchor of a snapshot) finds them
/// in one row.
pub fn row_ends(bytes: &[u8], with_header: bool) -> Vec<u32> {
    let mut ends = Vec::new();
    let mut row_start = 0usize;
    let mut at = if with_header {
        HEADER_LEN.min(bytes.len())
    } else {
        0
    };
    while at < bytes.len() {
        let len = bytes
            .get(at..)
            .and_then(FrameHeader::read)
            .map_or(bytes.len() - at, |h| h.frame_len())
            .min(bytes.len() - at);
        if at > row_start && at + len - row_start > ROW_BYTES {
            ends.push(at as u32);
            row_start = at;
        }
        at += len;
    }
    if !bytes.is_empty() {
        ends.push(bytes.len() as u32);
    }
    ends
}

/// The log, held whole or in parts, and what is not persisted yet.
pub struct LogBackend {
    /// Log bytes held, by the position of their first byte. They do not overlap; together
    /// they cover the whole log `0..len`, or (a store opened through a snapshot) its header
    /// and the parts fetched so far.
    parts: BTreeMap<u64, Vec<u8>>,
    len: u64,
    rewrite: Option<Vec<u8>>,
    /// The stored index snapshot (shared with the index that reads it in place: never
    /// copied whole; one an open was given stays in JavaScript memory, see
    /// [`JsSnapshot`](crate::js_snapshot::JsSnapshot)), and its delta.
    stored_snapshot: Option<Arc<dyn SnapshotBytes>>,
    stored_delta: Option<Vec<u8>>,
    pending: Vec<u8>,
    pending_at: u64,
    replaced: bool,
    /// The snapshot and delta written since the last `take_persist`.
    snapshot: Snapshot,
    /// False for stores nothing persists (memory stores): appends are not copied to `pending`,
    /// and no snapshot is kept.
    track: bool,
}

impl std::fmt::Debug for LogBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogBackend")
            .field("len", &self.len)
            .field("parts", &self.parts.len())
            .field(
                "snapshot_bytes",
                &self.stored_snapshot.as_ref().map(|s| s.len()),
            )
            .field("pending_bytes", &self.pending.len())
            .field("track", &self.track)
            .finish_non_exhaustive()
    }
}

impl LogBackend {
    /// A backend over a log (empty for a new store) and the index snapshot and delta stored
    /// with it, if any; `track`: remember what must be persisted (false for memory stores, whose
    /// `take_persist` is always `Nothing`).
    ///
    /// `head` holds the log from its start, and `tail` the log from position `tail_at` to its
    /// end; when they meet (or `tail` is empty and `tail_at` 0) the log is whole. Otherwise
    /// the bytes between are fetched when a read asks for them.
    pub fn new(
        head: Vec<u8>,
        tail: Vec<u8>,
        tail_at: u64,
        snapshot: Option<Arc<dyn SnapshotBytes>>,
        delta: Option<Vec<u8>>,
        track: bool,
    ) -> Self {
        let mut backend = LogBackend {
            parts: BTreeMap::new(),
            len: 0,
            rewrite: None,
            stored_snapshot: snapshot,
            stored_delta: delta.filter(|d| !d.is_empty()),
            pending: Vec::new(),
            pending_at: 0,
            replaced: false,
            snapshot: Snapshot::default(),
            track,
        };
        let tail_end = if tail.is_empty() {
            0
        } else {
            tail_at + tail.len() as u64
        };
        backend.len = tail_end.max(head.len() as u64);
        backend.insert(0, head);
        // Where the two overlap, the head's bytes are kept.
        backend.add(tail_at, tail);
        backend
    }

    /// Adds log bytes fetched from storage: `bytes` are the log's from position `at`. Bytes
    /// already held are kept as they are. Returns whether any were new.
    pub fn add(&mut self, at: u64, bytes: Vec<u8>) -> bool {
        let end = at + bytes.len() as u64;
        if bytes.is_empty() || end > self.len || self.covers(at, bytes.len() as u64) {
            return false;
        }
        // Keep only what no part holds: the fetched row may overlap parts on either side.
        let mut fresh = Vec::new();
        let mut pos = at;
        while pos < end {
            match self.part_at(pos) {
                Some((start, part)) => pos = start + part.len() as u64,
                None => {
                    let next = self
                        .parts
                        .range(pos..)
                        .next()
                        .map_or(end, |(start, _)| (*start).min(end));
                    let from = (pos - at) as usize;
                    fresh.push((pos, bytes[from..(next - at) as usize].to_vec()));
                    pos = next;
                }
            }
        }
        for (start, part) in fresh {
            self.insert(start, part);
        }
        true
    }

    /// Whether the whole log is held.
    pub fn is_whole(&self) -> bool {
        self.covers(0, self.len)
    }

    /// The log's length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the log is empty (a new store).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Takes what must be persisted since the last call.
    pub fn take_persist(&mut self) -> Persist {
        let snapshot = std::mem::take(&mut self.snapshot);
        if std::mem::take(&mut self.replaced) {
            self.pending.clear();
            return Persist::Replace(self.whole().unwrap_or_default(), snapshot);
        }
        if self.pending.is_empty() && snapshot.is_kept() {
            return Persist::Nothing;
        }
        Persist::Append(self.pending_at, std::mem::take(&mut self.pending), snapshot)
    }

    /// The whole log, when it is all held.
    pub fn whole(&self) -> Option<Vec<u8>> {
        if !self.is_whole() {
            return None;
        }
        let mut log = Vec::with_capacity(self.len as usize);
        for part in self.parts.values() {
            log.extend_from_slice(part);
        }
        Some(log)
    }

    /// The part holding position `pos`, with its start.
    fn part_at(&self, pos: u64) -> Option<(u64, &Vec<u8>)> {
        self.parts
            .range(..=pos)
            .next_back()
            .filter(|(start, part)| pos < **start + part.len() as u64)
            .map(|(start, part)| (*start, part))
    }

    /// The first position of `pos..pos + len` that no part holds (`None`: all are held).
    pub fn first_missing(&self, pos: u64, len: u64) -> Option<u64> {
        let end = pos + len;
        let mut at = pos;
        while at < end {
            at = match self.part_at(at) {
                Some((start, part)) => start + part.len() as u64,
                None => return Some(at),
            };
        }
        None
    }

    fn covers(&self, pos: u64, len: u64) -> bool {
        self.first_missing(pos, len).is_none()
    }

    fn insert(&mut self, at: u64, bytes: Vec<u8>) {
        if !bytes.is_empty() {
            self.parts.insert(at, bytes);
        }
    }

    /// Joins the parts from the one holding `from` to the log's end into one, when they are
    /// all there; returns its start.
    fn join_from(&mut self, from: u64) -> Result<u64, BackendError> {
        let start = match self.part_at(from) {
            Some((start, _)) => start,
            // The log ends exactly at `from`: nothing to replay.
            None if from == self.len => return Ok(from),
            None => return Err(self.missing(from, self.len.saturating_sub(from))),
        };
        if let Some(gap) = self.first_missing(start, self.len - start) {
            return Err(self.missing(gap, self.len - gap));
        }
        let rest: Vec<u64> = self.parts.range(start + 1..).map(|(k, _)| *k).collect();
        if !rest.is_empty() {
            let mut joined = self.parts.remove(&start).unwrap_or_default();
            for key in rest {
                joined.extend(self.parts.remove(&key).unwrap_or_default());
            }
            self.parts.insert(start, joined);
        }
        Ok(start)
    }

    fn missing(&self, pos: u64, len: u64) -> BackendError {
        BackendError::OutOfRange { pos, len }
    }

    /// Replays from `from` (`HEADER_LEN` for the whole log) and drops a torn tail.
    fn replay(
        &mut self,
        from: u64,
        visit: &mut Visitor<'_>,
    ) -> Result<LoadReport, rewind_core::Error> {
        if self.len == 0 {
            return Ok(LoadReport::default());
        }
        let start = self.join_from(from.min(self.len))?;
        let header = match self.part_at(0) {
            Some((_, part)) if part.len() >= HEADER_LEN.min(self.len as usize) => {
                part[..HEADER_LEN.min(part.len())].to_vec()
            }
            _ => return Err(self.missing(0, HEADER_LEN as u64).into()),
        };
        let empty = Vec::new();
        let part = self.parts.get(&start).unwrap_or(&empty);
        let (report, valid) = replay_part(&header, part, start, from, visit)?;
        // Drop a torn tail so later appends follow the last whole frame.
        if let Some(part) = self.parts.get_mut(&start) {
            part.truncate((valid - start) as usize);
        }
        self.len = valid.max(HEADER_LEN as u64).min(self.len);
        Ok(report)
    }
}

impl Backend for LogBackend {
    fn append(&mut self, frames: &[u8]) -> Result<u64, BackendError> {
        let mut joined = frames;
        let header;
        if self.len == 0 {
            // The first append also writes the log header: persist the log whole.
            header = [rewind_core::frame::header().as_slice(), frames].concat();
            joined = &header;
            self.replaced = self.track;
        } else if self.track && !self.replaced {
            if self.pending.is_empty() {
                self.pending_at = self.len;
            }
            self.pending.extend_from_slice(frames);
        }
        let at = self.len;
        // Extend the last part when it ends where the log does, else start one.
        match self.parts.iter_mut().next_back() {
            Some((start, part)) if *start + part.len() as u64 == at => {
                part.extend_from_slice(joined)
            }
            _ => self.insert(at, joined.to_vec()),
        }
        self.len += joined.len() as u64;
        Ok(if at == 0 { HEADER_LEN as u64 } else { at })
    }
    fn sync(&mut self) -> Result<(), BackendError> {
        Ok(())
    }
    fn load(&mut self, visit: &mut Visitor<'_>) -> Result<LoadReport, rewind_core::Error> {
        let mut report = self.replay(HEADER_LEN as u64, visit)?;
        if self.len > 0 {
            report.log_bytes += HEADER_LEN as u64;
        }
        Ok(report)
    }
    fn load_from(
        &mut self,
        from: u64,
        visit: &mut Visitor<'_>,
    ) -> Result<Option<LoadReport>, rewind_core::Error> {
        self.replay(from, visit).map(Some)
    }
    fn keeps_snapshots(&self) -> bool {
        self.track
    }
    fn open_snapshot(&mut self) -> Result<Option<Arc<dyn SnapshotBytes>>, BackendError> {
        Ok(self.stored_snapshot.clone())
    }
    fn read_snapshot(&mut self) -> Result<Option<Vec<u8>>, BackendError> {
        let Some(snapshot) = &self.stored_snapshot else {
            return Ok(None);
        };
        let len = usize::try_from(snapshot.len()).map_err(|_| BackendError::OutOfRange {
            pos: 0,
            len: snapshot.len(),
        })?;
        let mut bytes = vec![0u8; len];
        snapshot.read_at(0, &mut bytes)?;
        Ok(Some(bytes))
    }
    fn write_snapshot(&mut self, bytes: &[u8]) -> Result<bool, BackendError> {
        if !self.track {
            return Ok(false);
        }
        self.stored_snapshot = Some(Arc::new(bytes.to_vec()));
        self.snapshot.whole = Some(bytes.to_vec());
        Ok(true)
    }
    fn read_snapshot_delta(&mut self) -> Result<Option<Vec<u8>>, BackendError> {
        Ok(self.stored_delta.clone())
    }
    fn write_snapshot_delta(&mut self, bytes: &[u8]) -> Result<bool, BackendError> {
        if !self.track {
            return Ok(false);
        }
        self.stored_delta = (!bytes.is_empty()).then(|| bytes.to_vec());
        self.snapshot.delta = Some(bytes.to_vec());
        Ok(true)
    }
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> Result<(), BackendError> {
        let len = buf.len() as u64;
        let end = pos.checked_add(len).filter(|end| *end <= self.len);
        if end.is_none() {
            return Err(self.missing(pos, len));
        }
        let mut at = pos;
        let mut filled = 0usize;
        while filled < buf.len() {
            let Some((start, part)) = self.part_at(at) else {
                return Err(self.missing(at, len - filled as u64));
            };
            let from = (at - start) as usize;
            let n = (part.len() - from).min(buf.len() - filled);
            buf[filled..filled + n].copy_from_slice(&part[from..from + n]);
            filled += n;
            at += n as u64;
        }
        Ok(())
    }
    fn begin_rewrite(&mut self) -> Result<(), BackendError> {
        self.rewrite = Some(rewind_core::frame::header().to_vec());
        Ok(())
    }
    fn rewrite_append(&mut self, frames: &[u8]) -> Result<u64, BackendError> {
        let log = self
            .rewrite
            .as_mut()
            .ok_or(BackendError::RewriteState("append without begin"))?;
        let pos = log.len() as u64;
        log.extend_from_slice(frames);
        Ok(pos)
    }
    fn commit_rewrite(&mut self) -> Result<(), BackendError> {
        let log = self
            .rewrite
            .take()
            .ok_or(BackendError::RewriteState("commit without begin"))?;
        self.len = log.len() as u64;
        self.parts.clear();
        self.insert(0, log);
        self.stored_snapshot = None;
        self.stored_delta = None;
        self.snapshot = Snapshot::default();
        self.pending.clear();
        self.replaced = self.track;
        Ok(())
    }
    fn abort_rewrite(&mut self) {
        self.rewrite = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rewind_core::{
        CheckpointId, DeterministicEnv, Error, NewCheckpoint, Options, RetentionPolicy,
        SnapshotUse, Store,
    };

    type Engine = Store<LogBackend, DeterministicEnv>;

    /// A snapshot's bytes as the backend is given them.
    fn shared(bytes: Vec<u8>) -> Arc<dyn SnapshotBytes> {
        Arc::new(bytes)
    }

    /// Stores what `take_persist` hands out as rows keyed by position, the way IndexedDB does.
    #[derive(Default)]
    struct Rows(BTreeMap<u64, Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>);

    impl Rows {
        fn drain(&mut self, store: &mut Engine) {
            let (at, bytes, snapshot) = match store.backend_mut().take_persist() {
                Persist::Nothing => return,
                Persist::Append(at, bytes, snapshot) => (at, bytes, snapshot),
                Persist::Replace(bytes, snapshot) => {
                    self.0.clear();
                    self.1 = None;
                    self.2 = None;
                    (0, bytes, snapshot)
                }
            };
            let mut start = 0usize;
            for end in row_ends(&bytes, at == 0) {
                let end = end as usize;
                self.0.insert(at + start as u64, bytes[start..end].to_vec());
                start = end;
            }
            if let Some(bytes) = snapshot.whole {
                self.1 = Some(bytes);
            }
            if let Some(bytes) = snapshot.delta {
                self.2 = (!bytes.is_empty()).then_some(bytes);
            }
        }
        fn log(&self) -> Vec<u8> {
            self.0.values().flatten().copied().collect()
        }
        /// The row holding `pos`, as a lookup of IndexedDB keys does.
        fn row_at(&self, pos: u64) -> (u64, Vec<u8>) {
            let (at, row) = self.0.range(..=pos).next_back().unwrap();
            (*at, row.clone())
        }
        /// Opens as the package does: the first row, and the rows from the snapshot's anchor.
        fn open_lazily(&self) -> Engine {
            let snapshot = self.1.clone().unwrap();
            let anchor = rewind_core::snapshot::log_anchor(&snapshot).unwrap();
            let (tail_at, _) = self.row_at(anchor);
            let tail: Vec<u8> = self
                .0
                .range(tail_at..)
                .flat_map(|(_, r)| r.clone())
                .collect();
            let head = self.0.get(&0).unwrap().clone();
            let backend = LogBackend::new(
                head,
                tail,
                tail_at,
                Some(shared(snapshot)),
                self.2.clone(),
                true,
            );
            let (store, report) =
                Store::open(backend, DeterministicEnv::new(), Options::default()).unwrap();
            assert!(matches!(report.snapshot, SnapshotUse::Used { .. }));
            store
        }
    }

    /// A new store on a tracking backend, as the package opens one.
    fn fresh_store() -> Engine {
        Store::open(
            LogBackend::new(Vec::new(), Vec::new(), 0, None, None, true),
            DeterministicEnv::new(),
            Options::default(),
        )
        .unwrap()
        .0
    }

    /// Reads a state as the package does: fetch what the engine says is missing, then read,
    /// fetching on `OutOfRange` until nothing new comes.
    fn state(store: &mut Engine, rows: &Rows, id: CheckpointId) -> (Vec<u8>, usize) {
        let mut fetched = 0;
        for pos in store.state_extents(id).unwrap() {
            if let Some(at) = store.backend().first_missing(pos.0, pos.1) {
                let (row_at, row) = rows.row_at(at);
                assert!(store.backend_mut().add(row_at, row));
                fetched += 1;
            }
        }
        loop {
            match store.state(id) {
                Ok(bytes) => return (bytes, fetched),
                Err(Error::Backend(BackendError::OutOfRange { pos, .. })) => {
                    let (row_at, row) = rows.row_at(pos);
                    assert!(store.backend_mut().add(row_at, row), "no progress at {pos}");
                    fetched += 1;
                }
                Err(err) => panic!("{err}"),
            }
        }
    }

    #[test]
    fn pending_bytes_rebuild_the_same_log() {
        let mut store = fresh_store();
        let mut rows = Rows::default();
        let s = store.create_session("s", Default::default()).unwrap();
        rows.drain(&mut store);
        assert_eq!(rows.log(), store.backend().whole().unwrap());
        for i in 0..5 {
            let state = format!("{{\"i\":{i}}}");
            store
                .checkpoint(NewCheckpoint::new(s, "c", state.as_bytes()))
                .unwrap();
            rows.drain(&mut store);
            assert_eq!(rows.log(), store.backend().whole().unwrap());
        }
        store.compact(&RetentionPolicy::keep_last(2)).unwrap();
        rows.drain(&mut store);
        assert_eq!(rows.log(), store.backend().whole().unwrap());
        assert_eq!(store.backend_mut().take_persist(), Persist::Nothing);
    }

    #[test]
    fn a_store_opened_through_its_snapshot_fetches_only_what_reads_need() {
        let mut store = fresh_store();
        let mut rows = Rows::default();
        let s = store.create_session("s", Default::default()).unwrap();
        let mut ids = Vec::new();
        let mut conversation = String::new();
        for i in 0..300 {
            conversation.push_str(&format!("message {i} {}; ", "x".repeat(i % 97)));
            let id = store
                .checkpoint(NewCheckpoint::new(s, "c", conversation.as_bytes()))
                .unwrap()
                .id;
            ids.push(id);
            rows.drain(&mut store);
        }
        store.write_snapshot().unwrap();
        rows.drain(&mut store);
        // Writes after the snapshot: the tail an open replays.
        for i in 0..3 {
            let id = store
                .checkpoint(NewCheckpoint::new(s, "tail", format!("{i}").as_bytes()))
                .unwrap()
                .id;
            ids.push(id);
            rows.drain(&mut store);
        }

        let mut lazy = rows.open_lazily();
        assert!(!lazy.backend().is_whole());
        assert_eq!(lazy.metrics().checkpoints, ids.len() as u64);
        // An old state: its chunks lie in rows the open did not fetch.
        let old = ids[40];
        assert!(matches!(
            lazy.state(old),
            Err(Error::Backend(BackendError::OutOfRange { .. }))
        ));
        let (bytes, fetched) = state(&mut lazy, &rows, old);
        assert_eq!(bytes, store.state(old).unwrap());
        assert!(fetched > 0);
        // Read again: nothing more to fetch.
        assert_eq!(state(&mut lazy, &rows, old).1, 0);
        // Every state reads back the same, and the log stays what it was: nothing a read
        // fetched is persisted again.
        for id in &ids {
            assert_eq!(state(&mut lazy, &rows, *id).0, store.state(*id).unwrap());
        }
        assert_eq!(lazy.backend_mut().take_persist(), Persist::Nothing);

        // Writes after a lazy open append after the log's end, and a compaction that
        // needs the whole log fails cleanly until the rest is fetched.
        let mut lazy = rows.open_lazily();
        let after = lazy
            .checkpoint(NewCheckpoint::new(s, "after", b"after".as_slice()))
            .unwrap()
            .id;
        rows.drain(&mut lazy);
        let err = lazy.compact(&RetentionPolicy::keep_last(5)).unwrap_err();
        assert!(
            matches!(err, Error::Backend(BackendError::OutOfRange { .. })),
            "{err}"
        );
        assert_eq!(lazy.metrics().checkpoints, ids.len() as u64 + 1);
        for (at, row) in &rows.0 {
            lazy.backend_mut().add(*at, row.clone());
        }
        assert!(lazy.backend().is_whole());
        lazy.compact(&RetentionPolicy::keep_last(5)).unwrap();
        rows.drain(&mut lazy);
        assert_eq!(rows.log(), lazy.backend().whole().unwrap());
        let (reopened, _) = Store::open(
            LogBackend::new(rows.log(), Vec::new(), 0, None, None, true),
            DeterministicEnv::new(),
            Options::default(),
        )
        .unwrap();
        assert_eq!(reopened.state(after).unwrap(), b"after");
        assert!(reopened.verify().is_ok());
    }

    #[test]
    fn a_delta_travels_with_the_rows_and_an_open_starts_from_it() {
        let mut store = fresh_store();
        let mut rows = Rows::default();
        let s = store.create_session("s", Default::default()).unwrap();
        for i in 0..2000 {
            let state = format!("{{\"i\":{i}}}");
            store
                .checkpoint(NewCheckpoint::new(s, "c", state.as_bytes()))
                .unwrap();
        }
        store.write_snapshot().unwrap();
        rows.drain(&mut store);
        let whole = rows.1.clone().unwrap();
        assert!(rows.2.is_none());
        for i in 0..20 {
            let state = format!("{{\"after\":{i}}}");
            store
                .checkpoint(NewCheckpoint::new(s, "after", state.as_bytes()))
                .unwrap();
        }
        // Little changed since the snapshot: a delta is written, the snapshot stays.
        assert!(store.write_snapshot().unwrap());
        rows.drain(&mut store);
        assert_eq!(rows.1.as_ref(), Some(&whole));
        assert!(rows.2.is_some());

        let lazy = rows.open_lazily();
        assert_eq!(lazy.metrics().checkpoints, 2020);
        let newest = lazy.get_by_seq(lazy.metrics().next_seq - 1).unwrap();
        assert_eq!(newest.message, "after");
        // The delta's point is the log's end: nothing was replayed after it.
        let (_, report) = Store::open(
            LogBackend::new(
                rows.log(),
                Vec::new(),
                0,
                rows.1.clone().map(shared),
                rows.2.clone(),
                true,
            ),
            DeterministicEnv::new(),
            Options::default(),
        )
        .unwrap();
        assert_eq!(report.snapshot, SnapshotUse::Used { tail_frames: 0 });

        // A compaction replaces the log: snapshot and delta describe the old one and go.
        store.compact(&RetentionPolicy::keep_last(5)).unwrap();
        let Persist::Replace(_, snapshot) = store.backend_mut().take_persist() else {
            panic!("a compaction replaces the log");
        };
        assert!(snapshot.delta.is_none_or(|d| d.is_empty()));
    }

    #[test]
    fn rows_hold_whole_frames_of_bounded_size() {
        let mut store = fresh_store();
        let s = store.create_session("s", Default::default()).unwrap();
        // Fresh bytes (nothing to deduplicate) of 100 KB per checkpoint.
        let mut x = 1u64;
        for _ in 0..40 {
            let state: Vec<u8> = (0..100_000)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (x >> 56) as u8
                })
                .collect();
            store
                .checkpoint(NewCheckpoint::new(s, "c", &state))
                .unwrap();
        }
        let log = store.backend().whole().unwrap();
        let ends = row_ends(&log, true);
        assert!(ends.len() > 10);
        assert_eq!(*ends.last().unwrap() as usize, log.len());
        let mut start = 0usize;
        for end in ends {
            let row = &log[start..end as usize];
            // Each row is whole frames (after the header, in the first).
            let mut at = if start == 0 { HEADER_LEN } else { 0 };
            let mut frames = 0;
            while at < row.len() {
                at += FrameHeader::read(&row[at..]).unwrap().frame_len();
                frames += 1;
            }
            assert_eq!(at, row.len());
            assert!(row.len() <= ROW_BYTES || frames == 1);
            start = end as usize;
        }
    }
}
