//! Reads: lookups answered from the index, and state bytes fetched from the backend.
//!
//! Nothing here changes the store. Descriptions are borrowed from the index; only state and
//! attachment bytes are read from the backend, and chunks that lie together in the log are read
//! with one call.

use alloc::string::String;
use alloc::vec::Vec;

use crate::annotation::Annotation;
use crate::backend::Backend;
use crate::checkpoint::Checkpoint;
use crate::env::Env;
use crate::error::{BackendError, CorruptKind, Error, Result};
use crate::id::{CheckpointId, SessionId};
use crate::session::Session;
use crate::store::Store;
use crate::store::index::{Blob, Index};

/// Iterator over a checkpoint and its ancestors; see [`Store::history`].
pub struct History<'a> {
    index: &'a Index,
    next: Option<CheckpointId>,
}

impl<'a> Iterator for History<'a> {
    type Item = &'a Checkpoint;

    fn next(&mut self) -> Option<&'a Checkpoint> {
        let id = self.next.take()?;
        let cp = &self.index.checkpoints.get(&id)?.cp;
        self.next = self.index.linked_parent(cp).map(|p| p.cp.id);
        Some(cp)
    }
}

impl<B: Backend, E: Env> Store<B, E> {
    /// A session by id.
    pub fn session(&self, id: SessionId) -> Result<&Session> {
        self.index.session(id).map(|s| &s.session)
    }

    /// All sessions, oldest first: by creation time, and sessions with the same creation time in
    /// the order this store received them (created or imported).
    pub fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.index
            .sessions_in_order()
            .into_iter()
            .map(|s| &s.session)
    }

    /// A checkpoint by id.
    pub fn get(&self, id: CheckpointId) -> Result<&Checkpoint> {
        self.index.entry(id).map(|e| &e.cp)
    }

    /// A checkpoint by seq.
    pub fn get_by_seq(&self, seq: u64) -> Option<&Checkpoint> {
        self.index.get_by_seq(seq)
    }

    /// How many leading hex digits of `id` tell it apart from every other checkpoint id of the
    /// store (at least 1): a prefix that long, typed back, names this checkpoint alone
    /// (see [`checkpoints_with_prefix`](Store::checkpoints_with_prefix)). Costs a lookup, not a
    /// pass over the store.
    pub fn unique_prefix_digits(&self, id: CheckpointId) -> usize {
        let key = id.as_bytes();
        let shared = |other: Option<[u8; 16]>| {
            other.map_or(0, |o| {
                let bytes = key.iter().zip(o.iter()).take_while(|(a, b)| a == b).count();
                let nibble = key
                    .get(bytes)
                    .zip(o.get(bytes))
                    .is_some_and(|(a, b)| a >> 4 == b >> 4);
                bytes * 2 + usize::from(nibble)
            })
        };
        let (below, above) = self.index.checkpoints.id_neighbours(&id);
        (shared(below).max(shared(above)) + 1).min(32)
    }

    /// The checkpoints whose ids start with the hex digits `prefix` (hyphens skipped, either
    /// case), in id order, at most `limit` of them. Costs a lookup and the ids found.
    pub fn checkpoints_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<CheckpointId>> {
        let digits: Vec<u8> = prefix
            .chars()
            .filter(|c| *c != '-')
            .map(|c| c.to_digit(16).map(|d| d as u8))
            .collect::<Option<_>>()
            .filter(|d: &Vec<u8>| d.len() <= 32)
            .ok_or_else(|| Error::InvalidInput(alloc::format!("{prefix:?} is not a hex prefix")))?;
        let bound = |fill: u8| {
            let mut id = [0u8; 16];
            for (i, byte) in id.iter_mut().enumerate() {
                let hi = digits.get(2 * i).copied().unwrap_or(fill);
                let lo = digits.get(2 * i + 1).copied().unwrap_or(fill);
                *byte = hi << 4 | lo;
            }
            id
        };
        let found = self
            .index
            .checkpoints
            .ids_between(bound(0), bound(0xf), limit);
        self.index.intact()?;
        Ok(found)
    }

    /// The state bytes of a checkpoint.
    pub fn state(&self, id: CheckpointId) -> Result<Vec<u8>> {
        let entry = self.index.entry(id)?;
        self.read_blob(&entry.state)
    }

    /// The newest checkpoint (highest seq) of a session, if any.
    pub fn latest(&self, session: SessionId) -> Result<Option<&Checkpoint>> {
        let entry = self.index.session(session)?;
        let latest = entry.seqs.last().and_then(|seq| self.index.get_by_seq(seq));
        self.index.intact()?;
        Ok(latest)
    }

    /// What the session knew at `time_ms`: its newest checkpoint created at or before then.
    pub fn at(&self, session: SessionId, time_ms: u64) -> Result<Option<&Checkpoint>> {
        let entry = self.index.session(session)?;
        let at = entry
            .by_time
            .range((0, 0)..=(time_ms, u64::MAX))
            .next_back()
            .and_then(|(_, seq)| self.index.get_by_seq(seq));
        self.index.intact()?;
        Ok(at)
    }

    /// The checkpoint and its ancestors, newest first, up to the root or the first ancestor that
    /// was deleted.
    pub fn history(&self, id: CheckpointId) -> Result<History<'_>> {
        self.index.entry(id)?;
        Ok(History {
            index: &self.index,
            next: Some(id),
        })
    }

    /// The tips of a session's branches (checkpoints without children), newest first.
    pub fn branches(&self, session: SessionId) -> Result<Vec<&Checkpoint>> {
        let entry = self.index.session(session)?;
        let tips = entry
            .leaves
            .iter()
            .rev()
            .filter_map(|seq| self.index.get_by_seq(seq))
            .collect();
        self.index.intact()?;
        Ok(tips)
    }

    /// Direct children of a checkpoint, oldest first.
    pub fn children(&self, id: CheckpointId) -> Result<Vec<&Checkpoint>> {
        let entry = self.index.entry(id)?;
        if entry.children == 0 {
            return Ok(Vec::new());
        }
        let session = self.index.session(entry.cp.session)?;
        let children = session
            .seqs
            .range(entry.cp.seq + 1..=u64::MAX)
            .filter_map(|seq| self.index.get_by_seq(seq))
            .filter(|cp| cp.parent == Some(id))
            .collect();
        self.index.intact()?;
        Ok(children)
    }

    /// The annotations of a checkpoint, oldest first.
    pub fn annotations(&self, id: CheckpointId) -> Result<&[Annotation]> {
        Ok(&self.index.entry(id)?.annotations)
    }

    /// An attachment's content type and bytes.
    pub fn attachment(&self, id: CheckpointId, key: &str) -> Result<Option<(&str, Vec<u8>)>> {
        let entry = self.index.entry(id)?;
        match entry.attachments.get(key) {
            Some(blob) => Ok(Some((blob.content_type.as_str(), self.read_blob(blob)?))),
            None => Ok(None),
        }
    }

    /// The attachment keys of a checkpoint, sorted.
    pub fn attachment_keys(&self, id: CheckpointId) -> Result<impl Iterator<Item = &str>> {
        Ok(self.index.entry(id)?.attachments.keys().map(String::as_str))
    }

    /// Where in the log the bytes of a checkpoint's state lie, as `(position, length)` runs in
    /// log order (chunks that follow each other in the log make one run). For backends that
    /// fetch log bytes on demand (a browser's IndexedDB), so that one fetch brings everything a
    /// [`state`](Store::state) reads; other backends have no use for it.
    pub fn state_extents(&self, id: CheckpointId) -> Result<Vec<(u64, u64)>> {
        let entry = self.index.entry(id)?;
        let extents = self.blob_extents(&entry.state);
        self.index.intact()?;
        Ok(extents)
    }

    /// Where in the log the bytes of an attachment lie (empty when the checkpoint has no
    /// attachment `key`); see [`state_extents`](Store::state_extents).
    pub fn attachment_extents(&self, id: CheckpointId, key: &str) -> Result<Vec<(u64, u64)>> {
        let entry = self.index.entry(id)?;
        let extents = entry
            .attachments
            .get(key)
            .map(|blob| self.blob_extents(blob))
            .unwrap_or_default();
        self.index.intact()?;
        Ok(extents)
    }

    fn blob_extents(&self, blob: &Blob) -> Vec<(u64, u64)> {
        let mut runs: Vec<(u64, u64)> = blob
            .chunks
            .iter()
            .map(|&slot| {
                let (pos, len) = self.index.chunks.extent(slot);
                (pos, u64::from(len))
            })
            .collect();
        runs.sort_unstable();
        runs.dedup();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(runs.len());
        for (pos, len) in runs {
            match merged.last_mut() {
                Some((at, n)) if *at + *n >= pos => *n = (*n).max(pos + len - *at),
                _ => merged.push((pos, len)),
            }
        }
        merged
    }

    /// The runs (log position, length) a checkpoint's state is read from, in the state's order:
    /// [`Backend::read_runs`] over them gives the state's bytes. For a host that keeps the
    /// backend and reads the bytes itself (the sandbox component's host, so the state crosses
    /// no boundary): [`state`](Store::state) is this and the read together.
    pub fn state_runs(&self, id: CheckpointId) -> Result<Vec<(u64, u32)>> {
        self.blob_runs(&self.index.entry(id)?.state)
    }

    /// The runs a blob's bytes are read from, in its order. Chunks that follow each other in
    /// the log (the new chunks of one record do) are one run. The lengths are checked against
    /// the blob's before anything is allocated for it (a blob read from a snapshot, whose
    /// contents no replay checked).
    pub(crate) fn blob_runs(&self, blob: &Blob) -> Result<Vec<(u64, u32)>> {
        let mut runs: Vec<(u64, u32)> = Vec::new();
        let mut total = 0u64;
        for &slot in &blob.chunks {
            let (at, len) = self.index.chunks.extent(slot);
            total += u64::from(len);
            add_run(&mut runs, at, len);
        }
        self.index.intact()?;
        if total != blob.len {
            return Err(Error::Corrupt {
                at: 0,
                kind: CorruptKind::Inconsistent("chunk lengths do not add up to the blob length"),
            });
        }
        Ok(runs)
    }

    /// A blob's bytes, read from the backend: all its runs with one call (a pread each on
    /// files, one host call from a sandbox).
    pub(crate) fn read_blob(&self, blob: &Blob) -> Result<Vec<u8>> {
        let runs = self.blob_runs(blob)?;
        if runs.len() > 1 {
            let starts: Vec<u64> = runs.iter().map(|(pos, _)| *pos).collect();
            self.backend.prefetch(&starts);
        }
        let mut out = Vec::new();
        self.backend.read_runs(&runs, &mut out)?;
        if out.len() as u64 != blob.len {
            return Err(Error::Backend(BackendError::OutOfRange {
                pos: runs.first().map_or(0, |(pos, _)| *pos),
                len: blob.len,
            }));
        }
        Ok(out)
    }
}

/// Adds the `len` bytes at `pos` to `runs`: to the last run when they follow it in the log.
pub(crate) fn add_run(runs: &mut Vec<(u64, u32)>, pos: u64, len: u32) {
    match runs.last_mut() {
        Some((at, n)) if *at + u64::from(*n) == pos && n.checked_add(len).is_some() => *n += len,
        _ => runs.push((pos, len)),
    }
}
