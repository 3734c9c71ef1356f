//! The index: everything a replay of the log builds, and the one way it changes — applying a
//! record.
//!
//! An [`Index`] holds no backend and no clock. It is built by feeding it a log's frames in
//! order ([`Index::replay_frame`]), and a live store keeps it current by applying the records
//! it has just appended ([`Index::apply`]). Both paths run the same `apply` functions, which is
//! why a reopened store is identical to the one that wrote the log: same ids, seqs, hashes,
//! heads, indexes and counters. Nothing here depends on who wrote a frame, so frames appended
//! by someone else (another process sharing the log) can be applied the same way: the seam a
//! reader following a growing log builds on.
//!
//! The indexes kept here are what make reads cost O(result), not O(store): checkpoints by id
//! and by seq, each session's seqs, times and branch tips, tags to seqs, and the chunk table.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use hashbrown::HashMap;
use serde_json::{Map, Value};

use crate::annotation::{Annotation, Severity};
use crate::chain::Chain;
use crate::checkpoint::{Checkpoint, HashFields, hash_fields, state_root};
use crate::chunks::{ChunkTable, Slot};
use crate::error::{CorruptKind, Error, Result};
use crate::event::Event;
use crate::frame::FRAME_HEADER_LEN;
use crate::id::{CheckpointId, Hash, IdGen, SessionId};
use crate::record::{
    self, AttachmentRecord, BlobRecord, CheckpointRecord, ChunkRef, CompactAttachment,
    CompactCheckpoint, ParentRef, Record, SessionRecord,
};
use crate::session::Session;

use super::entries::Entries;
use super::seqs::{SeqSet, TimeSet};
use super::tables::Persisted;
use alloc::sync::Arc;

/// A stored blob (a state or an attachment): its chunks, in order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Blob {
    pub content_type: String,
    pub len: u64,
    pub chunks: Vec<Slot>,
}

/// What the index keeps per checkpoint.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub cp: Checkpoint,
    pub state: Blob,
    pub annotations: Vec<Annotation>,
    pub attachments: BTreeMap<String, Blob>,
    /// Live children (checkpoints whose parent is this one).
    pub children: u32,
    /// Bytes of this checkpoint's own records, chunk bytes aside (for the dead-bytes estimate).
    pub record_bytes: u64,
    /// The first bytes of the hash its writer recorded: `verify` compares the hash of the
    /// contents with it (in a version 3 log, which records only this, the hash is computed
    /// from the contents when the record is read), and a rewrite records it again as it was.
    pub check: [u8; CHECK_LEN],
}

/// Bytes of a checkpoint's hash a version 3 record keeps (see [`Entry::check`]).
pub(crate) const CHECK_LEN: usize = 8;

/// The check of a hash (see [`Entry::check`]).
pub(crate) fn check_of(hash: &Hash) -> [u8; CHECK_LEN] {
    let mut check = [0u8; CHECK_LEN];
    check.copy_from_slice(&hash.0[..CHECK_LEN]);
    check
}

impl Entry {
    pub(crate) fn has_critical(&self) -> bool {
        self.annotations
            .iter()
            .any(|a| a.severity == Severity::Critical)
    }

    /// The state, then the attachments in key order.
    pub(crate) fn blobs(&self) -> impl Iterator<Item = &Blob> {
        core::iter::once(&self.state).chain(self.attachments.values())
    }
}

/// What the index keeps per session.
#[derive(Clone, Debug)]
pub(crate) struct SessionEntry {
    pub session: Session,
    /// Seqs of the session's checkpoints.
    pub seqs: SeqSet,
    /// (created_at, seq) of the session's checkpoints, for `at(time)`.
    pub by_time: TimeSet,
    /// Seqs of checkpoints without live children: the tips of the session's branches.
    pub leaves: SeqSet,
    /// Creation time of the newest checkpoint of each trigger kind (throttling).
    pub last_by_kind: [Option<u64>; 3],
    /// Position in creation order (replay applies records in log order, which keeps it).
    pub order: u64,
}

/// What a live write already knows of the checkpoint it is committing (its metadata as an
/// object and its state root), so applying the record neither parses nor hashes again. Replay
/// has no such thing and derives both from the record.
pub(crate) struct Known {
    pub id: CheckpointId,
    pub metadata: Map<String, Value>,
    pub root: Hash,
    /// The checkpoint's hash (a compact record does not carry it).
    pub hash: Hash,
}

/// A record of an open transaction during replay, with where its chunk bytes start and the
/// size of its frame without them.
type Buffered = (Record, u64, u64);

/// Everything replay builds. See the module docs.
#[derive(Debug)]
pub(crate) struct Index {
    pub sessions: BTreeMap<SessionId, SessionEntry>,
    pub checkpoints: Entries,
    pub tags: HashMap<String, SeqSet>,
    pub chunks: ChunkTable,
    pub next_seq: u64,
    pub ids: IdGen,
    pub logical_bytes: u64,
    pub annotation_count: u64,
    pub attachment_count: u64,
    /// Log bytes that describe deleted things (what a rewrite would reclaim), estimated.
    pub dead_bytes: u64,
    /// Sessions deleted so far (keeps creation-order numbers unique).
    sessions_removed: u64,
    /// Records of a transaction whose frames have not all been replayed yet: how many are
    /// still to come, and those seen.
    txn: Option<(u32, Vec<Buffered>)>,
    /// Salvaging a damaged log: a checkpoint whose session record was lost gets a placeholder
    /// session (listed in `recovered_sessions`) instead of being dropped.
    pub recover_sessions: bool,
    pub recovered_sessions: Vec<SessionId>,
    /// Salvaging a version 3 log: checkpoints whose parent's record was lost (with the lost
    /// parent's seq), and every checkpoint whose hash had to be computed without its
    /// original parent hash (those and their descendants).
    pub lost_parents: Vec<(CheckpointId, u64)>,
    pub rehashed: hashbrown::HashSet<CheckpointId>,
    /// The log's hash chain and format version (see [`crate::chain`]).
    pub chain: Chain,
    /// Version 2: the records of the write being replayed, until its seal arrives (with where
    /// each chunk area and frame start).
    unsealed: Vec<(Record, u64, u64, u64)>,
    /// Where the last seal replayed ends (the position after its frame), and the segment it is
    /// in: where a read-only store's view ends and a refresh resumes.
    sealed_end: u64,
    sealed_segment: Option<u32>,
    /// Bytes replayed after the last seal, and up to it (frames, and the header before each
    /// segment start): a read-only store's log size.
    bytes_after_seal: u64,
    bytes_sealed: u64,
    /// A refresh failed part-way: the next one must read the log again whole.
    pub stale: bool,
    /// When set, what `apply` changes is noted here as events (a refresh reports another
    /// process's writes this way).
    pub journal: Option<Vec<Event>>,
    /// The log's last frame (replayed or written): where it starts and its length — the
    /// anchor of an index snapshot taken now (see [`super::snapshot`]).
    pub last_frame: Option<(u64, u32)>,
    /// The snapshot whose tables the index reads in place, if it was opened from one.
    pub persisted: Option<Arc<Persisted>>,
}

impl Default for Index {
    fn default() -> Self {
        Index {
            sessions: BTreeMap::new(),
            checkpoints: Entries::default(),
            tags: HashMap::new(),
            chunks: ChunkTable::default(),
            next_seq: 1,
            ids: IdGen::default(),
            logical_bytes: 0,
            annotation_count: 0,
            attachment_count: 0,
            dead_bytes: 0,
            sessions_removed: 0,
            txn: None,
            recover_sessions: false,
            recovered_sessions: Vec::new(),
            lost_parents: Vec::new(),
            rehashed: hashbrown::HashSet::new(),
            chain: Chain::default(),
            unsealed: Vec::new(),
            sealed_end: 0,
            sealed_segment: None,
            bytes_after_seal: 0,
            bytes_sealed: 0,
            stale: false,
            journal: None,
            last_frame: None,
            persisted: None,
        }
    }
}

impl Index {
    /// Applies the record framed at `pos` (the payload's first byte in the backend). In a
    /// version 2 log the records of a write are held back until its seal arrives (a write
    /// without its seal did not happen); records of a transaction are held back until its last
    /// one arrives; a [`Record::TxnAbort`] voids what is held back.
    pub fn replay_frame(&mut self, pos: u64, payload: &[u8]) -> Result<()> {
        let frame_start = pos.saturating_sub(FRAME_HEADER_LEN as u64);
        let (mut rec, raw) = record::read(payload).map_err(|kind| Error::Corrupt {
            at: frame_start,
            kind,
        })?;
        match rec.is_compact() {
            Some(true) => {
                self.chain.compact = true;
                rec.hash_new_chunks(raw);
            }
            Some(false) => self.chain.wide = true,
            None => {}
        }
        let raw_pos = pos + (payload.len() - raw.len()) as u64;
        let meta_bytes = (FRAME_HEADER_LEN + payload.len() - raw.len()) as u64;
        let corrupt = |kind| Error::Corrupt {
            at: frame_start,
            kind,
        };
        self.bytes_after_seal += (FRAME_HEADER_LEN + payload.len()) as u64;
        self.last_frame = Some((frame_start, (FRAME_HEADER_LEN + payload.len()) as u32));
        // The chain first: seals and segment starts are structure, not store content.
        match &rec {
            Record::Seal(seal) => {
                self.chain.check_seal(seal).map_err(corrupt)?;
                for (rec, raw_pos, meta_bytes, at) in core::mem::take(&mut self.unsealed) {
                    self.replay_record(rec, raw_pos, meta_bytes, at)?;
                }
                if self.txn.is_some() && !self.chain.salvage {
                    return Err(corrupt(CorruptKind::Inconsistent(
                        "a write sealed inside a transaction",
                    )));
                }
                self.sealed_end = pos + payload.len() as u64;
                self.sealed_segment = self.chain.last_segment();
                self.bytes_sealed += core::mem::take(&mut self.bytes_after_seal);
                return Ok(());
            }
            Record::SegmentStart(start) => {
                self.bytes_after_seal += crate::frame::HEADER_LEN as u64;
                return self.chain.segment(*start).map_err(corrupt);
            }
            Record::LogStart(previous) | Record::CompactLogStart(previous) => {
                self.chain.first_record(true).map_err(corrupt)?;
                self.chain.previous_head = *previous;
                self.chain
                    .absorb(frame_start, payload.len(), payload, None, true);
                return Ok(());
            }
            _ => {
                self.chain.first_record(false).map_err(corrupt)?;
                if self.chain.version.sealed() {
                    let txn = match rec {
                        Record::Txn(n) => Some(n),
                        _ => None,
                    };
                    let record = &payload[..payload.len() - raw.len()];
                    self.chain
                        .absorb(frame_start, payload.len(), record, txn, false);
                    self.chain.absorb_chunk_hashes(rec.chained_chunk_hashes());
                    if !self.chain.salvage {
                        if matches!(rec, Record::TxnAbort) {
                            self.chain.absorbed_abort();
                            self.unsealed.clear();
                            self.txn = None;
                        } else {
                            self.unsealed.push((rec, raw_pos, meta_bytes, frame_start));
                        }
                        return Ok(());
                    }
                }
            }
        }
        self.replay_record(rec, raw_pos, meta_bytes, frame_start)
    }

    /// Applies a replayed record, holding a transaction's records back until its last.
    fn replay_record(
        &mut self,
        rec: Record,
        raw_pos: u64,
        meta_bytes: u64,
        frame_start: u64,
    ) -> Result<()> {
        if matches!(rec, Record::TxnAbort) {
            self.txn = None;
            return Ok(());
        }
        if let Some((remaining, buffered)) = &mut self.txn {
            buffered.push((rec, raw_pos, meta_bytes));
            *remaining -= 1;
            if *remaining == 0 {
                let (_, buffered) = self.txn.take().unwrap_or_default();
                for (rec, raw_pos, meta_bytes) in buffered {
                    self.apply(rec, raw_pos, meta_bytes, None)
                        .map_err(|e| locate(e, frame_start))?;
                }
            }
            return Ok(());
        }
        if let Record::Txn(n) = rec {
            if n > 0 {
                self.txn = Some((n, Vec::new()));
            }
            return Ok(());
        }
        self.apply(rec, raw_pos, meta_bytes, None)
            .map_err(|e| locate(e, frame_start))
    }

    /// Where a refresh resumes: the end of the last sealed write, when the log has seals
    /// (version 2); `None` when it must be read again from its start.
    pub fn resume_at(&self) -> Option<u64> {
        (self.chain.version.sealed() && self.chain.seals > 0 && self.sealed_end > 0 && !self.stale)
            .then_some(self.sealed_end)
    }

    /// Whether the index stands at a sealed point of its log: no write or transaction open
    /// (where an index snapshot can be taken).
    pub fn at_sealed_point(&self) -> bool {
        !self.chain.has_unsealed() && self.txn.is_none() && self.unsealed.is_empty()
    }

    /// Notes that `frames` (whole frames) were appended at `at`: the last of them is the log's
    /// last frame.
    pub fn note_appended(&mut self, at: u64, frames: &[u8]) {
        self.last_frame = last_frame(at, frames).or(self.last_frame);
    }

    /// Whether the snapshot the index reads from turned out damaged where it was read (see
    /// [`super::tables`]): what the index says may then be incomplete.
    pub fn damaged(&self) -> bool {
        self.persisted.as_ref().is_some_and(|p| p.damaged())
    }

    /// Takes `other`'s content — sessions, checkpoints, their indexes, the chunk table, the
    /// counters and the snapshot they are read from — and keeps this index's place in the log
    /// (its chain, last frame and what a refresh or salvage noted). How a writer continues from
    /// a snapshot it has just written of this very content.
    pub fn replace_content(&mut self, other: Index) {
        let Index {
            sessions,
            checkpoints,
            tags,
            chunks,
            next_seq,
            ids,
            logical_bytes,
            annotation_count,
            attachment_count,
            dead_bytes,
            sessions_removed,
            persisted,
            ..
        } = other;
        self.sessions = sessions;
        self.checkpoints = checkpoints;
        self.tags = tags;
        self.chunks = chunks;
        self.next_seq = next_seq;
        self.ids = ids;
        self.logical_bytes = logical_bytes;
        self.annotation_count = annotation_count;
        self.attachment_count = attachment_count;
        self.dead_bytes = dead_bytes;
        self.sessions_removed = sessions_removed;
        self.persisted = persisted;
    }

    /// Sessions deleted so far.
    pub fn sessions_removed(&self) -> u64 {
        self.sessions_removed
    }

    /// Sets what an index snapshot restores besides content: the chain at its point, the
    /// sessions removed before it, and where the point is (`end`, with `log_bytes` of log
    /// before it): the end of the last sealed write, as replay would have left them.
    pub fn resume_from_snapshot(
        &mut self,
        chain: Chain,
        sessions_removed: u64,
        end: u64,
        log_bytes: u64,
    ) {
        self.chain = chain;
        self.sessions_removed = sessions_removed;
        self.sealed_end = end;
        self.sealed_segment = None;
        self.bytes_sealed = log_bytes;
        self.bytes_after_seal = 0;
    }

    /// The log's bytes up to the end of its last sealed write (version 2).
    pub fn sealed_bytes(&self) -> u64 {
        self.bytes_sealed
    }

    /// Ends the view at the last sealed write: what came after it (a write still being
    /// written, or cut short) is forgotten, and a refresh reads it again. Returns the bytes it
    /// had taken up.
    pub fn end_at_last_seal(&mut self) -> u64 {
        self.unsealed.clear();
        self.txn = None;
        self.chain.forget_pending(self.sealed_segment);
        core::mem::take(&mut self.bytes_after_seal)
    }

    /// Drops a transaction the log ended inside (a crash cut it short: none of it happened).
    /// Returns how many of its records had been read, or `None` when no transaction was open.
    pub fn void_open_transaction(&mut self) -> Option<u64> {
        // Version 2: the records of a write whose seal never landed, a transaction among them
        // or not.
        let unsealed = core::mem::take(&mut self.unsealed);
        let open = self.txn.take().map(|(_, buffered)| buffered.len() as u64);
        if !unsealed.is_empty() {
            let markers = unsealed
                .iter()
                .filter(|(r, ..)| matches!(r, Record::Txn(_)))
                .count();
            return Some((unsealed.len() - markers) as u64 + open.unwrap_or(0));
        }
        open
    }

    /// Applies one record. `raw_pos` is where the record's chunk bytes start in the backend;
    /// `meta_bytes` is the frame's size without them. `known` carries what a live write already
    /// computed for the checkpoint it is applying.
    pub fn apply(
        &mut self,
        rec: Record,
        raw_pos: u64,
        meta_bytes: u64,
        known: Option<Known>,
    ) -> Result<()> {
        if self.journal.is_some() {
            let event = self.event_of(&rec);
            self.apply_quietly(rec, raw_pos, meta_bytes, known)?;
            if let (Some(journal), Some(event)) = (&mut self.journal, event) {
                journal.push(event);
            }
            return Ok(());
        }
        self.apply_quietly(rec, raw_pos, meta_bytes, known)
    }

    /// The event a record applied makes (for the journal), read before it is applied.
    fn event_of(&self, rec: &Record) -> Option<Event> {
        Some(match rec {
            Record::Session(s) => Event::SessionCreated { session: s.id },
            Record::Checkpoint(c) => Event::Created {
                session: c.session,
                checkpoint: c.id,
                seq: c.seq,
            },
            Record::CompactCheckpoint(c) => Event::Created {
                session: SessionId::from_bytes(c.session),
                checkpoint: CheckpointId::from_bytes(c.id),
                seq: c.seq,
            },
            Record::Annotation(a) => Event::Annotated {
                checkpoint: a.checkpoint,
                severity: a.annotation.severity,
            },
            Record::DeleteCheckpoint(id) => Event::Deleted {
                session: self.checkpoints.get(id)?.cp.session,
                checkpoint: *id,
            },
            Record::DeleteSession(id) => Event::SessionDeleted { session: *id },
            Record::Head(h) => Event::Restored {
                session: h.session,
                checkpoint: h.head?,
            },
            _ => return None,
        })
    }

    fn apply_quietly(
        &mut self,
        rec: Record,
        raw_pos: u64,
        meta_bytes: u64,
        known: Option<Known>,
    ) -> Result<()> {
        match rec {
            Record::Session(s) => {
                if self.sessions.contains_key(&s.id) {
                    return Err(inconsistent("session created twice"));
                }
                let metadata = parse_metadata(&s.metadata)?;
                self.ids.observe(s.id.as_uuid());
                self.sessions.insert(
                    s.id,
                    SessionEntry {
                        session: Session {
                            id: s.id,
                            name: s.name,
                            metadata,
                            created_at: s.created_at,
                            head: None,
                            checkpoints: 0,
                        },
                        seqs: SeqSet::default(),
                        by_time: TimeSet::default(),
                        leaves: SeqSet::default(),
                        last_by_kind: [None; 3],
                        order: self.sessions.len() as u64 + self.sessions_removed,
                    },
                );
            }
            Record::Checkpoint(c) => self.apply_checkpoint(c, raw_pos, meta_bytes, known)?,
            Record::Annotation(a) => {
                let entry = self
                    .checkpoints
                    .get_mut(&a.checkpoint)
                    .ok_or(inconsistent("annotation of an unknown checkpoint"))?;
                entry.annotations.push(a.annotation);
                entry.record_bytes += meta_bytes;
                self.annotation_count += 1;
            }
            Record::Attachment(a) => self.apply_attachment(a, false, raw_pos, meta_bytes)?,
            Record::DerivedAttachment(a) => self.apply_attachment(a, true, raw_pos, meta_bytes)?,
            Record::CompactCheckpoint(c) => {
                self.apply_compact_checkpoint(c, raw_pos, meta_bytes, known)?
            }
            Record::CompactAttachment(a) => {
                self.apply_compact_attachment(a, false, raw_pos, meta_bytes)?
            }
            Record::CompactDerivedAttachment(a) => {
                self.apply_compact_attachment(a, true, raw_pos, meta_bytes)?
            }
            Record::DeleteCheckpoint(id) => {
                self.remove_checkpoint(id)?;
                self.dead_bytes += meta_bytes;
            }
            Record::DeleteSession(id) => {
                let entry = self
                    .sessions
                    .get(&id)
                    .ok_or(inconsistent("deletion of an unknown session"))?;
                let ids: Vec<CheckpointId> = entry
                    .seqs
                    .iter()
                    .rev()
                    .filter_map(|seq| Some(self.checkpoints.at_seq(seq)?.cp.id))
                    .collect();
                for cp in ids {
                    self.remove_checkpoint(cp)?;
                }
                self.sessions.remove(&id);
                self.sessions_removed += 1;
                self.dead_bytes += meta_bytes;
            }
            Record::Head(h) => {
                if let Some(head) = h.head {
                    match self.checkpoints.get(&head) {
                        Some(e) if e.cp.session == h.session => {}
                        _ => return Err(inconsistent("head moved to an unknown checkpoint")),
                    }
                }
                let entry = self
                    .sessions
                    .get_mut(&h.session)
                    .ok_or(inconsistent("head of an unknown session"))?;
                entry.session.head = h.head;
                self.dead_bytes += meta_bytes;
            }
            Record::SeqFloor(seq) => self.next_seq = self.next_seq.max(seq),
            Record::Txn(_) => return Err(inconsistent("nested transaction")),
            Record::TxnAbort => {}
            Record::Seal(_)
            | Record::LogStart(_)
            | Record::CompactLogStart(_)
            | Record::SegmentStart(_) => {
                return Err(inconsistent("log structure inside a transaction"));
            }
        }
        Ok(())
    }

    /// Applies an attachment record; `derived`: its chunk list starts from the attachment with
    /// the same key on its base checkpoint rather than that checkpoint's state.
    fn apply_attachment(
        &mut self,
        a: AttachmentRecord,
        derived: bool,
        raw_pos: u64,
        meta_bytes: u64,
    ) -> Result<()> {
        if !self.checkpoints.contains(&a.checkpoint) {
            return Err(inconsistent("attachment of an unknown checkpoint"));
        }
        let base_key = derived.then_some(a.key.as_str());
        let blob = self.resolve_blob(a.blob, base_key, raw_pos)?;
        self.attach_blob(a.checkpoint, a.key, blob, meta_bytes)
    }

    /// Applies an attachment record of format version 3.
    fn apply_compact_attachment(
        &mut self,
        a: CompactAttachment,
        derived: bool,
        raw_pos: u64,
        meta_bytes: u64,
    ) -> Result<()> {
        let owner = self
            .checkpoints
            .get(&a.checkpoint)
            .ok_or(inconsistent("attachment of an unknown checkpoint"))?
            .cp
            .seq;
        let base_key = derived.then_some(a.key.as_str());
        let blob = self.resolve_compact_blob(a.blob, owner, base_key, raw_pos)?;
        self.attach_blob(a.checkpoint, a.key, blob, meta_bytes)
    }

    fn attach_blob(
        &mut self,
        checkpoint: CheckpointId,
        key: String,
        blob: Blob,
        meta_bytes: u64,
    ) -> Result<()> {
        self.logical_bytes += blob.len;
        self.attachment_count += 1;
        let entry = self
            .checkpoints
            .get_mut(&checkpoint)
            .ok_or(inconsistent("attachment of an unknown checkpoint"))?;
        entry.record_bytes += meta_bytes;
        if let Some(old) = entry.attachments.insert(key, blob) {
            self.attachment_count -= 1;
            self.logical_bytes -= old.len;
            self.dead_bytes += self.release_blob(&old);
        }
        Ok(())
    }

    /// The checks every new checkpoint passes before its record is resolved: a new id, a
    /// known session (or, salvaging, a placeholder for a lost one), a seq not in use.
    fn admit_checkpoint(
        &mut self,
        id: CheckpointId,
        session: SessionId,
        seq: u64,
        created_at: u64,
    ) -> Result<()> {
        if self.checkpoints.contains(&id) {
            return Err(inconsistent("checkpoint created twice"));
        }
        if !self.sessions.contains_key(&session) {
            if !self.recover_sessions {
                return Err(inconsistent("checkpoint of an unknown session"));
            }
            self.apply(
                Record::Session(SessionRecord {
                    id: session,
                    name: alloc::format!("recovered session {session}"),
                    metadata: String::from("{}"),
                    created_at,
                }),
                0,
                0,
                None,
            )?;
            self.recovered_sessions.push(session);
        }
        if seq < self.next_seq && self.checkpoints.contains_seq(seq) {
            return Err(inconsistent("seq used twice"));
        }
        Ok(())
    }

    fn apply_checkpoint(
        &mut self,
        c: CheckpointRecord,
        raw_pos: u64,
        meta: u64,
        known: Option<Known>,
    ) -> Result<()> {
        self.admit_checkpoint(c.id, c.session, c.seq, c.created_at)?;
        let (metadata, known_root) = match known.filter(|k| k.id == c.id) {
            Some(k) => (k.metadata, Some(k.root)),
            None => (parse_metadata(&c.metadata)?, None),
        };
        let state = self.resolve_blob(c.state, None, raw_pos)?;
        let root = known_root
            .unwrap_or_else(|| state_root(state.chunks.iter().map(|s| self.chunks.get(*s).hash)));
        let cp = Checkpoint {
            id: c.id,
            session: c.session,
            namespace: c.namespace,
            seq: c.seq,
            parent: c.parent,
            parent_hash: c.parent_hash,
            created_at: c.created_at,
            message: c.message,
            tags: c.tags,
            trigger: c.trigger,
            metadata,
            content_type: state.content_type.clone(),
            state_len: state.len,
            state_root: root,
            hash: c.hash,
        };
        let check = check_of(&c.hash);
        self.insert_checkpoint(cp, state, meta, check)
    }

    /// Applies a checkpoint record of format version 3: its parent and chunks are resolved
    /// against the index, and its hash computed from its fields (or taken from what the live
    /// write computed from the same fields).
    fn apply_compact_checkpoint(
        &mut self,
        c: CompactCheckpoint,
        raw_pos: u64,
        meta: u64,
        known: Option<Known>,
    ) -> Result<()> {
        let id = CheckpointId::from_bytes(c.id);
        let session = SessionId::from_bytes(c.session);
        self.admit_checkpoint(id, session, c.seq, c.created_at)?;
        let mut lost_parent = None;
        let (parent, parent_hash) = match c.parent {
            ParentRef::None => (None, None),
            ParentRef::Back(back) => {
                let parent = c
                    .seq
                    .checked_sub(back)
                    .filter(|_| back > 0)
                    .and_then(|seq| self.checkpoints.at_seq(seq));
                match parent.map(|p| (p.cp.id, p.cp.hash)) {
                    Some((p, hash)) => (Some(p), Some(hash)),
                    // Salvaging: the parent's record was lost, and with it its id and hash.
                    None if self.chain.salvage => {
                        lost_parent = Some(c.seq.saturating_sub(back));
                        (None, None)
                    }
                    None => return Err(inconsistent("parent is not in the store")),
                }
            }
            ParentRef::Detached(id, hash) => (Some(id), hash),
        };
        let metadata_text: &str = if c.metadata.is_empty() {
            "{}"
        } else {
            &c.metadata
        };
        let (metadata, known_root, known_hash) = match known.filter(|k| k.id == id) {
            Some(k) => (k.metadata, Some(k.root), Some(k.hash)),
            None => (parse_metadata(metadata_text)?, None, None),
        };
        let state = self.resolve_compact_blob(c.state, c.seq, None, raw_pos)?;
        let root = known_root
            .unwrap_or_else(|| state_root(state.chunks.iter().map(|s| self.chunks.get(*s).hash)));
        let hash = known_hash.unwrap_or_else(|| {
            hash_fields(&HashFields {
                id,
                session,
                namespace: &c.namespace,
                parent,
                parent_hash,
                created_at: c.created_at,
                message: &c.message,
                tags: &c.tags,
                trigger: &c.trigger,
                metadata: metadata_text,
                content_type: &state.content_type,
                state_len: state.len,
                state_root: root,
            })
        });
        let cp = Checkpoint {
            id,
            session,
            namespace: c.namespace,
            seq: c.seq,
            parent,
            parent_hash,
            created_at: c.created_at,
            message: c.message,
            tags: c.tags,
            trigger: c.trigger,
            metadata,
            content_type: state.content_type.clone(),
            state_len: state.len,
            state_root: root,
            hash,
        };
        let mut check = c.check;
        if self.chain.salvage && check_of(&hash) != check {
            // A hash computed without the lost parent's (or from a parent whose own hash was
            // recomputed so) cannot be the one recorded: it is the salvaged store's hash now.
            // Any other difference is damage or tampering, and stays for `verify` to report.
            let parent_rehashed = parent.is_some_and(|p| self.rehashed.contains(&p));
            if lost_parent.is_some() || parent_rehashed {
                check = check_of(&hash);
                self.rehashed.insert(id);
                if let Some(seq) = lost_parent {
                    self.lost_parents.push((id, seq));
                }
            }
        }
        self.insert_checkpoint(cp, state, meta, check)
    }

    /// Puts a resolved checkpoint into every index.
    fn insert_checkpoint(
        &mut self,
        cp: Checkpoint,
        state: Blob,
        meta: u64,
        check: [u8; CHECK_LEN],
    ) -> Result<()> {
        self.ids.observe(cp.id.as_uuid());
        self.next_seq = self.next_seq.max(cp.seq + 1);
        self.logical_bytes += cp.state_len;
        for tag in &cp.tags {
            self.tags
                .entry_ref(tag.as_str())
                .or_default()
                .insert(cp.seq);
        }
        let parent_seq = self.linked_parent(&cp).map(|p| p.cp.seq);
        if let Some(p) = cp.parent.and_then(|p| self.checkpoints.get_mut(&p))
            && parent_seq.is_some()
        {
            p.children += 1;
        }
        let session = self
            .sessions
            .get_mut(&cp.session)
            .ok_or(inconsistent("checkpoint of an unknown session"))?;
        if let Some(pseq) = parent_seq {
            session.leaves.remove(&pseq);
        }
        session.seqs.insert(cp.seq);
        session.by_time.insert((cp.created_at, cp.seq));
        session.leaves.insert(cp.seq);
        session.session.head = Some(cp.id);
        session.session.checkpoints += 1;
        let kind = cp.trigger.kind() as usize;
        session.last_by_kind[kind] = session.last_by_kind[kind].max(Some(cp.created_at));
        self.checkpoints.insert(Box::new(Entry {
            cp,
            state,
            annotations: Vec::new(),
            attachments: BTreeMap::new(),
            children: 0,
            record_bytes: meta,
            check,
        }));
        Ok(())
    }

    /// Turns a blob record into slots, registering its new chunks at their positions. A base
    /// names a checkpoint's state, or with `base_key` its attachment with that key.
    fn resolve_blob(
        &mut self,
        blob: BlobRecord,
        base_key: Option<&str>,
        raw_pos: u64,
    ) -> Result<Blob> {
        let mut slots =
            Vec::with_capacity(blob.base.map_or(0, |b| b.prefix as usize) + blob.chunks.len());
        if let Some(base) = blob.base {
            slots.extend_from_slice(self.base_prefix(base.checkpoint, base_key, base.prefix)?);
        }
        let mut new_slots = Vec::with_capacity(blob.new.len());
        let mut offset = raw_pos;
        for chunk in &blob.new {
            new_slots.push(self.chunks.insert(chunk.hash, offset, chunk.len));
            offset += chunk.len as u64;
        }
        for r in &blob.chunks {
            let slot = match r {
                ChunkRef::Known(hash) => self.chunks.lookup(hash),
                ChunkRef::New(n) => new_slots.get(*n as usize).copied(),
            };
            match slot {
                Some(slot) => slots.push(slot),
                None => {
                    self.chunks.drop_unreferenced(&new_slots);
                    return Err(inconsistent("reference to an unknown chunk"));
                }
            }
        }
        self.finish_blob(blob.content_type, blob.len, slots, &new_slots)
    }

    /// The blob a resolved chunk list makes, once its chunks' lengths are checked to add up to
    /// `len` (if they do not, the chunks this record brought, `new_slots`, are dropped again):
    /// its chunks gain a reference each.
    pub(crate) fn finish_blob(
        &mut self,
        content_type: String,
        len: u64,
        slots: Vec<Slot>,
        new_slots: &[Slot],
    ) -> Result<Blob> {
        let total: u64 = slots.iter().map(|s| self.chunks.get(*s).len as u64).sum();
        if total != len {
            self.chunks.drop_unreferenced(new_slots);
            return Err(inconsistent(
                "chunk lengths do not add up to the blob length",
            ));
        }
        self.chunks.retain(&slots);
        Ok(Blob {
            content_type,
            len,
            chunks: slots,
        })
    }

    /// The first `prefix` chunks of a base blob: the state of checkpoint `id`, or with
    /// `base_key` its attachment with that key.
    pub(crate) fn base_prefix(
        &self,
        id: CheckpointId,
        base_key: Option<&str>,
        prefix: u32,
    ) -> Result<&[Slot]> {
        let entry = self
            .checkpoints
            .get(&id)
            .ok_or(inconsistent("chunk list based on an unknown checkpoint"))?;
        let chunks = match base_key {
            None => &entry.state.chunks,
            Some(key) => {
                &entry
                    .attachments
                    .get(key)
                    .ok_or(inconsistent("chunk list based on an unknown attachment"))?
                    .chunks
            }
        };
        chunks
            .get(..prefix as usize)
            .ok_or(inconsistent("chunk list prefix longer than its base"))
    }

    /// Releases a blob's chunks; returns the chunk bytes that became garbage.
    fn release_blob(&mut self, blob: &Blob) -> u64 {
        let before = self.chunks.stored_bytes();
        self.chunks.release(&blob.chunks);
        before - self.chunks.stored_bytes()
    }

    /// Where each session's head ends up when `ids` (in seq order) are removed one after
    /// another by [`remove_checkpoint`](Index::remove_checkpoint), for the sessions whose head
    /// is among them — so a rewrite can write the moved heads into the new log itself.
    pub fn heads_after_removing(
        &self,
        ids: &[CheckpointId],
    ) -> HashMap<SessionId, Option<CheckpointId>> {
        let mut heads: HashMap<SessionId, Option<CheckpointId>> = HashMap::new();
        let mut gone: hashbrown::HashSet<CheckpointId> = hashbrown::HashSet::new();
        for id in ids {
            let Some(entry) = self.checkpoints.get(id) else {
                continue;
            };
            gone.insert(*id);
            let session = entry.cp.session;
            let Some(s) = self.sessions.get(&session) else {
                continue;
            };
            let head = heads.get(&session).copied().unwrap_or(s.session.head);
            if head == Some(*id) {
                // As `remove_checkpoint` moves it: to the parent if that is still there, else
                // to the session's newest checkpoint still there.
                let parent = self
                    .linked_parent(&entry.cp)
                    .map(|p| p.cp.id)
                    .filter(|p| !gone.contains(p));
                let newest = || {
                    s.seqs
                        .iter()
                        .rev()
                        .filter_map(|seq| Some(self.checkpoints.at_seq(seq)?.cp.id))
                        .find(|c| !gone.contains(c))
                };
                heads.insert(session, parent.or_else(newest));
            }
        }
        heads
    }

    /// Takes a checkpoint out of every index, releasing its chunks.
    pub fn remove_checkpoint(&mut self, id: CheckpointId) -> Result<()> {
        let entry = self
            .checkpoints
            .remove(&id)
            .ok_or(inconsistent("deletion of an unknown checkpoint"))?;
        let cp = &entry.cp;
        for tag in &cp.tags {
            if let Some(set) = self.tags.get_mut(tag.as_str()) {
                set.remove(&cp.seq);
                if set.is_empty() {
                    self.tags.remove(tag.as_str());
                }
            }
        }
        let mut freed = 0;
        for blob in entry.blobs() {
            freed += self.release_blob(blob);
        }
        self.dead_bytes += freed + entry.record_bytes;
        self.logical_bytes -= entry.blobs().map(|b| b.len).sum::<u64>();
        self.attachment_count -= entry.attachments.len() as u64;
        self.annotation_count -= entry.annotations.len() as u64;
        let parent_alive = self.linked_parent(cp).map(|p| p.cp.id);
        let mut parent_seq = None;
        if let Some(p) = parent_alive.and_then(|p| self.checkpoints.get_mut(&p)) {
            p.children = p.children.saturating_sub(1);
            if p.children == 0 {
                parent_seq = Some(p.cp.seq);
            }
        }
        let session = self
            .sessions
            .get_mut(&cp.session)
            .ok_or(inconsistent("checkpoint of an unknown session"))?;
        session.seqs.remove(&cp.seq);
        let checkpoints = &self.checkpoints;
        session.by_time.remove(&(cp.created_at, cp.seq));
        session.leaves.remove(&cp.seq);
        if let Some(seq) = parent_seq {
            session.leaves.insert(seq);
        }
        session.session.checkpoints -= 1;
        if session.session.head == Some(id) {
            session.session.head = parent_alive.or_else(|| {
                session
                    .seqs
                    .last()
                    .and_then(|seq| Some(checkpoints.at_seq(seq)?.cp.id))
            });
        }
        // Throttling remembers the newest checkpoint of each kind still in the store, as a
        // replay of the log (or of a compacted log) does.
        let kind = cp.trigger.kind();
        if session.last_by_kind[kind as usize] == Some(cp.created_at) {
            session.last_by_kind[kind as usize] = session
                .by_time
                .iter()
                .rev()
                .find(|(_, seq)| {
                    checkpoints
                        .at_seq(*seq)
                        .is_some_and(|e| e.cp.trigger.kind() == kind)
                })
                .map(|(time, _)| time);
        }
        Ok(())
    }

    /// Forgets the estimate of dead log bytes (after a rewrite reclaimed them).
    pub fn reset_dead_bytes(&mut self) {
        self.dead_bytes = 0;
    }

    // ----- lookups ----------------------------------------------------------------------

    /// A checkpoint's entry.
    pub fn entry(&self, id: CheckpointId) -> Result<&Entry> {
        match self.checkpoints.get(&id) {
            Some(entry) => Ok(entry),
            None => {
                self.intact()?;
                Err(Error::CheckpointNotFound(id))
            }
        }
    }

    /// An error when the snapshot the index reads from turned out damaged (see
    /// [`CorruptKind::Snapshot`]).
    pub fn intact(&self) -> Result<()> {
        if self.damaged() {
            return Err(Error::Corrupt {
                at: 0,
                kind: CorruptKind::Snapshot,
            });
        }
        Ok(())
    }

    /// A session's entry.
    pub fn session(&self, id: SessionId) -> Result<&SessionEntry> {
        self.sessions.get(&id).ok_or(Error::SessionNotFound(id))
    }

    /// A checkpoint by seq.
    pub fn get_by_seq(&self, seq: u64) -> Option<&Checkpoint> {
        self.checkpoints.at_seq(seq).map(|e| &e.cp)
    }

    /// Sessions in creation order: by creation time, and sessions with the same creation time
    /// in the order this store received them (created or imported).
    pub fn sessions_in_order(&self) -> Vec<&SessionEntry> {
        let mut all: Vec<&SessionEntry> = self.sessions.values().collect();
        // Generated ids sort by creation already; caller-chosen ids (LangGraph thread ids,
        // imports) need the creation order kept apart.
        all.sort_by_key(|s| (s.session.created_at, s.order));
        all
    }

    /// The parent a checkpoint is linked to: alive, in the same session, and older. A parent id
    /// that was deleted and later reused by a caller-supplied id is not a link (the newer
    /// checkpoint has a higher seq), which also makes cycles impossible, even in a hostile log.
    pub fn linked_parent(&self, cp: &Checkpoint) -> Option<&Entry> {
        let parent = self.checkpoints.get(&cp.parent?)?;
        (parent.cp.session == cp.session && parent.cp.seq < cp.seq).then_some(parent)
    }
}

/// A record that contradicts what the index holds (a damaged or hostile log).
/// The last whole frame of `frames`, appended at `at`: where it starts and its length.
pub(crate) fn last_frame(at: u64, frames: &[u8]) -> Option<(u64, u32)> {
    let mut last = None;
    let mut pos = 0;
    while let Some(head) = frames.get(pos..).and_then(crate::frame::FrameHeader::read) {
        let len = head.frame_len();
        if pos + len > frames.len() {
            break;
        }
        last = Some((at + pos as u64, len as u32));
        pos += len;
    }
    last
}

pub(crate) fn inconsistent(what: &'static str) -> Error {
    Error::Corrupt {
        at: 0,
        kind: CorruptKind::Inconsistent(what),
    }
}

/// Puts the frame position into a replay error that did not know it.
fn locate(err: Error, at: u64) -> Error {
    match err {
        Error::Corrupt { at: 0, kind } => Error::Corrupt { at, kind },
        other => other,
    }
}

/// A session's or checkpoint's metadata as the log stores it (canonical JSON text).
pub(crate) fn parse_metadata(text: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(inconsistent("metadata is not a JSON object")),
    }
}
