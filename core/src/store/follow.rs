//! Following a writer: a read-only store applies what another process appended since it
//! loaded.
//!
//! A read-only store's view ends where its last sealed write ends: a write still being written
//! (or cut short) is not part of it. [`Store::refresh`] asks the backend for the frames after
//! that point and replays them through the same [`Index::replay_frame`] an open uses, so the
//! view moves from one sealed write to a later one — never a torn record, never half a
//! transaction — at a cost that grows with what was appended, not with the store.
//!
//! When the writer replaced the log (a compaction switched to a new generation), or the log has
//! no seals to resume from (version 1, or nothing written yet), the refresh reads the current
//! log whole into a fresh index, and keeps the old view if that fails. Either way it queues the
//! events of what changed — created, deleted, annotated, restored, sessions; `compacted` when
//! a rewrite replaced the log — so a host delivers another process's writes like its own.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::backend::{Backend, Refresh};
use crate::env::Env;
use crate::error::Result;
use crate::event::Event;
use crate::id::{CheckpointId, SessionId};

use super::index::Index;
use super::{Store, check_structure, finish_replay, load_index};

/// What a [`Store::refresh`] applied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Refreshed {
    /// Writes applied: the writer's sealed writes since the last refresh (0: nothing new), or
    /// after the log was read again whole, every write in it.
    pub writes: u64,
    /// Events queued for what changed (see [`Store::drain_events`]).
    pub events: u64,
    /// The log was replaced by a compaction and read again whole.
    pub compacted: bool,
}

impl<B: Backend, E: Env> Store<B, E> {
    /// Brings a read-only store up to date with what the store's writer (another handle or
    /// process) wrote since it was opened or last refreshed, and queues events for it. Costs
    /// what was appended, not the store's size — except after a compaction replaced the log (or
    /// for a version 1 log), when the log is read again whole. A writer's own store is always
    /// current: there, this does nothing.
    ///
    /// On an error (damage in the new bytes, a file that vanished) the store keeps the view it
    /// has — which may hold part of the write the error was in — and the next refresh reads the
    /// log again whole.
    pub fn refresh(&mut self) -> Result<Refreshed> {
        if !self.backend.is_read_only() {
            if self.backend.is_shared() {
                return self.catch_up();
            }
            return Ok(Refreshed::default());
        }
        // 0: no seal to resume from (a version 1 log, or nothing written yet): read it all.
        let from = self.index.resume_at().unwrap_or(0);
        let seals = self.index.chain.seals;
        let (result, mut done) = self.replay_appended(from);
        let report = match result {
            Ok(Refresh::Appended(report)) => report,
            Ok(Refresh::Replaced { rewritten }) => return self.reload(rewritten),
            Err(err) => return Err(self.refresh_failed(err)),
        };
        let checked = check_structure(&mut self.index, &report);
        self.index.end_at_last_seal();
        self.log_bytes = self.index.sealed_bytes();
        if let Err(err) = checked {
            return Err(self.refresh_failed(err));
        }
        done.writes = self.index.chain.seals - seals;
        Ok(done)
    }

    /// Asks the backend for what was appended after `from`, replays it into the index, and
    /// queues the events of what it applied (counted in the `Refreshed` returned).
    fn replay_appended(&mut self, from: u64) -> (Result<Refresh>, Refreshed) {
        self.index.journal = Some(Vec::new());
        let index = &mut self.index;
        let result = self
            .backend
            .refresh(from, &mut |pos, payload| index.replay_frame(pos, payload));
        let applied = self.index.journal.take().unwrap_or_default();
        let mut done = Refreshed::default();
        for event in applied {
            self.events.push(event);
            done.events += 1;
        }
        (result, done)
    }

    /// A writer of a shared log applies what the other writers appended after its own last
    /// write. Every write in a shared log is whole (sealed), so the writer goes on from the
    /// log's end. After a failure part-way the index is read again whole at the next try (and
    /// no write is planned on it meanwhile: see `commit`).
    pub(crate) fn catch_up(&mut self) -> Result<Refreshed> {
        if self.index.stale {
            return self.reload_writer(false);
        }
        let from = self.log_bytes;
        let seals = self.index.chain.seals;
        let (result, mut done) = self.replay_appended(from);
        let report = match result {
            Ok(Refresh::Appended(report)) => report,
            Ok(Refresh::Replaced { rewritten }) => return self.reload_writer(rewritten),
            Err(err) => {
                self.index.stale = true;
                return Err(err);
            }
        };
        if !self.index.at_sealed_point() {
            self.index.stale = true;
            return Err(crate::Error::Corrupt {
                at: from + report.log_bytes,
                kind: crate::CorruptKind::Inconsistent(
                    "a write without its seal in a log shared by writers",
                ),
            });
        }
        if report.log_bytes > 0 {
            if self.log_bytes == 0 {
                // Others wrote the log's header with its first write.
                self.log_bytes = crate::frame::HEADER_LEN as u64;
            }
            self.log_bytes += report.log_bytes;
            // A snapshot merge in progress knows only this writer's frames.
            self.drop_snapshot_merge();
        }
        done.writes = self.index.chain.seals - seals;
        Ok(done)
    }

    /// A writer of a shared log reads it again whole: after another writer compacted it, or
    /// after a catch-up failed part-way.
    fn reload_writer(&mut self, compacted: bool) -> Result<Refreshed> {
        self.drop_snapshot_merge();
        self.index.stale = true;
        let done = self.reload(compacted)?;
        // The view a writer has is the whole log: every write in a shared log is sealed.
        self.index.stale = false;
        self.reset_snapshot_schedule();
        Ok(done)
    }

    /// After a refresh failed part-way (it may have applied part of a write, and moved the
    /// chain on): the view keeps what it has, and the next refresh reads the log again whole.
    fn refresh_failed(&mut self, err: crate::Error) -> crate::Error {
        self.index.end_at_last_seal();
        self.index.stale = true;
        self.log_bytes = self.index.sealed_bytes();
        err
    }

    /// Reads the backend's log whole into a fresh index, and swaps it in with the events that
    /// tell the old view from the new one.
    fn reload(&mut self, compacted: bool) -> Result<Refreshed> {
        // A failed read leaves the backend on the old log and the old view whole.
        let (mut index, mut report, _) = load_index(&mut self.backend, &self.options, false)?;
        if let Err(err) = finish_replay(&mut index, &mut report) {
            // The backend now shows a log that does not check out: the old view no longer
            // matches what it reads, so the store shows nothing until a refresh succeeds.
            self.index = Index::default();
            self.log_bytes = 0;
            return Err(err);
        }
        let mut log_bytes = report.log_bytes;
        // A read-only view ends at the last sealed write; a writer's (every write in a shared
        // log is sealed) at the log's end, where its next write goes.
        if index.resume_at().is_some() && self.backend.is_read_only() {
            index.end_at_last_seal();
            log_bytes = index.sealed_bytes();
        }
        let old = &self.index;
        let mut events = Vec::new();
        let sessions_gone: Vec<SessionId> = old
            .sessions
            .keys()
            .filter(|s| !index.sessions.contains_key(*s))
            .copied()
            .collect();
        // Checkpoints gone: deleted (or removed by the compaction), in seq order.
        let mut removed = 0;
        for (id, session) in old.checkpoints.iter().filter_map(|entry| {
            let id = entry.cp.id;
            (!index.checkpoints.contains(&id)).then_some((id, entry.cp.session))
        }) {
            removed += 1;
            events.push(Event::Deleted {
                session,
                checkpoint: id,
            });
        }
        for session in sessions_gone {
            events.push(Event::SessionDeleted { session });
        }
        for session in index.sessions.keys() {
            if !old.sessions.contains_key(session) {
                events.push(Event::SessionCreated { session: *session });
            }
        }
        let created: BTreeMap<u64, (CheckpointId, SessionId)> = index
            .checkpoints
            .iter()
            .filter(|e| !old.checkpoints.contains(&e.cp.id))
            .map(|e| (e.cp.seq, (e.cp.id, e.cp.session)))
            .collect();
        for (seq, (checkpoint, session)) in created {
            events.push(Event::Created {
                session,
                checkpoint,
                seq,
            });
        }
        if compacted {
            events.push(Event::Compacted {
                removed,
                bytes_before: self.log_bytes,
                bytes_after: log_bytes,
            });
        }
        let done = Refreshed {
            writes: index.chain.seals,
            events: events.len() as u64,
            compacted,
        };
        for event in events {
            self.events.push(event);
        }
        self.index = index;
        self.log_bytes = log_bytes;
        Ok(done)
    }
}
