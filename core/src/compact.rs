//! Compaction: retention policies, a plan you can read before anything goes, and a log rewrite
//! that really gives the space back.
//!
//! [`Store::plan_compaction`] says which checkpoints a [`RetentionPolicy`] would remove and why,
//! and which it would have removed but keeps because they are protected (session heads,
//! checkpoints with a critical annotation, kept tags). [`Store::apply_compaction`] deletes them
//! and rewrites the log with live records only: chunks nobody references are gone from the
//! medium, not just hidden. Removing a checkpoint never damages its children: every state is
//! complete on its own.
//!
//! The rewrite is also what binary export writes: a fresh log holding the live store.

use alloc::collections::BTreeSet;
use alloc::string::String;
use alloc::vec::Vec;

use hashbrown::{HashMap, HashSet};

use crate::backend::Backend;
use crate::checkpoint::canonical_metadata;
use crate::chunks::Slot;
use crate::env::Env;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::id::{CheckpointId, SessionId};
use crate::log;
use crate::record::{
    self, AnnotationRecord, BaseRef, BlobRecord, CheckpointRecord, ChunkRef, HeadRecord, NewChunk,
    Record, SessionRecord,
};
use crate::store::{Blob, Store, attachment_record};

/// Which checkpoints to keep. Rules combine: a checkpoint goes when any removal rule selects it
/// and nothing protects it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetentionPolicy {
    /// Keep the N newest checkpoints of each session; older ones go.
    pub keep_last: Option<usize>,
    /// Checkpoints with any of these tags are kept. On its own (no `keep_last`, `max_age_ms`),
    /// everything untagged goes.
    pub keep_tags: Vec<String>,
    /// Checkpoints older than this (ms before now) go.
    pub max_age_ms: Option<u64>,
    /// After the other rules, the oldest unprotected checkpoints go until the stored chunk bytes
    /// are at most this.
    pub max_bytes: Option<u64>,
    /// Only these sessions (all when empty).
    pub sessions: Vec<SessionId>,
    /// Keep session heads (default true).
    pub protect_heads: bool,
    /// Keep checkpoints with a critical annotation (default true).
    pub protect_critical: bool,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy {
            keep_last: None,
            keep_tags: Vec::new(),
            max_age_ms: None,
            max_bytes: None,
            sessions: Vec::new(),
            protect_heads: true,
            protect_critical: true,
        }
    }
}

impl RetentionPolicy {
    /// Keep the `n` newest checkpoints of each session.
    pub fn keep_last(n: usize) -> Self {
        RetentionPolicy {
            keep_last: Some(n),
            ..Self::default()
        }
    }

    /// Keep only checkpoints carrying one of `tags`.
    pub fn keep_tagged<I: IntoIterator<Item = T>, T: Into<String>>(tags: I) -> Self {
        RetentionPolicy {
            keep_tags: tags.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// Keep the `n` newest of each session and every checkpoint carrying one of `tags`.
    pub fn hybrid<I: IntoIterator<Item = T>, T: Into<String>>(n: usize, tags: I) -> Self {
        RetentionPolicy {
            keep_last: Some(n),
            keep_tags: tags.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// Remove checkpoints older than `ms`.
    pub fn max_age(ms: u64) -> Self {
        RetentionPolicy {
            max_age_ms: Some(ms),
            ..Self::default()
        }
    }

    /// Remove the oldest checkpoints until stored bytes are at most `bytes`.
    pub fn max_bytes(bytes: u64) -> Self {
        RetentionPolicy {
            max_bytes: Some(bytes),
            ..Self::default()
        }
    }

    /// Restricts the policy to `session` (call again for more).
    pub fn session(mut self, session: SessionId) -> Self {
        self.sessions.push(session);
        self
    }

    /// Sets whether session heads are protected.
    pub fn protect_heads(mut self, protect: bool) -> Self {
        self.protect_heads = protect;
        self
    }

    /// Sets whether critically annotated checkpoints are protected.
    pub fn protect_critical(mut self, protect: bool) -> Self {
        self.protect_critical = protect;
        self
    }
}

/// Why a checkpoint is in a plan's removals.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemovalReason {
    /// Beyond the N newest of its session.
    BeyondKeepLast(usize),
    /// Not carrying a kept tag.
    Untagged,
    /// Older than the maximum age.
    TooOld {
        /// Its age in ms.
        age_ms: u64,
    },
    /// Removed to get under the byte budget.
    OverBudget,
}

/// Why a checkpoint a rule selected stays.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeepReason {
    /// It is its session's head.
    Head,
    /// It has a critical annotation.
    Critical,
    /// It carries this kept tag.
    Tagged(String),
}

/// What a compaction would do. Produced by [`Store::plan_compaction`] (the dry run), carried out
/// by [`Store::apply_compaction`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompactionPlan {
    /// Checkpoints to remove, oldest first, with the reason.
    pub remove: Vec<(CheckpointId, RemovalReason)>,
    /// Checkpoints a rule selected but that stay, with the reason.
    pub protected: Vec<(CheckpointId, KeepReason)>,
    /// Checkpoints in the store when planned.
    pub checkpoints_before: u64,
    /// Stored chunk bytes when planned.
    pub stored_bytes_before: u64,
    /// Stored chunk bytes after the removals.
    pub stored_bytes_after: u64,
}

/// What [`Store::apply_compaction`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompactionReport {
    /// Checkpoints removed.
    pub removed: u64,
    /// Log size before.
    pub log_bytes_before: u64,
    /// Log size after the rewrite.
    pub log_bytes_after: u64,
}

/// Writes the live store as a fresh log, in batches, without holding it whole in memory.
pub(crate) struct LiveLogWriter {
    stage: Stage,
    sessions: Vec<SessionId>,
    checkpoints: Vec<CheckpointId>,
    idx: usize,
    /// Chunks already in the new log: one bit per slot.
    written_slots: SlotSet,
    written_ids: HashSet<CheckpointId>,
    exclude: HashSet<CheckpointId>,
    /// Head records written, per session.
    pub written_heads: HashMap<SessionId, Option<CheckpointId>>,
    /// Chunks placed in the current batch: (slot, offset in batch).
    pub batch_chunks: Vec<(Slot, usize)>,
    /// Where the current batch starts in its buffer.
    batch_start: usize,
}

/// A set of chunk slots as a bitmap (slots are dense indexes into the chunk table).
struct SlotSet(Vec<u64>);

impl SlotSet {
    fn new(slots: usize) -> Self {
        SlotSet(alloc::vec![0; slots.div_ceil(64)])
    }

    fn contains(&self, slot: Slot) -> bool {
        let slot = slot as usize;
        self.0
            .get(slot / 64)
            .is_some_and(|word| word & (1 << (slot % 64)) != 0)
    }

    fn insert(&mut self, slot: Slot) {
        let slot = slot as usize;
        if slot / 64 >= self.0.len() {
            self.0.resize(slot / 64 + 1, 0);
        }
        self.0[slot / 64] |= 1 << (slot % 64);
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Start,
    Sessions,
    Checkpoints,
    Heads,
    Done,
}

/// Size at which a batch is handed to the backend.
const BATCH_BYTES: usize = 1 << 20;

/// The most an export reserves up front.
const EXPORT_PRESIZE_MAX: usize = 64 << 20;

/// The largest a transaction frame can be: the frame header, then the record kind and a u32
/// count as postcard varints.
const TXN_FRAME_MAX: usize = log::FRAME_HEADER_LEN + 1 + 5;

impl LiveLogWriter {
    /// Writes the sessions in `only` (all when `None`), leaving out the checkpoints in
    /// `exclude` (a compaction's removals, which then never reach the new log).
    pub(crate) fn new<B: Backend, E: Env>(
        store: &Store<B, E>,
        only: Option<&BTreeSet<SessionId>>,
        exclude: HashSet<CheckpointId>,
    ) -> Self {
        let keep = |s: &SessionId| only.is_none_or(|o| o.contains(s));
        // In creation order, so a rewritten log lists sessions as the original did.
        let sessions: Vec<SessionId> = store.sessions().map(|s| s.id).filter(keep).collect();
        let checkpoints = store
            .by_seq
            .values()
            .copied()
            .filter(|id| keep(&store.checkpoints[id].cp.session) && !exclude.contains(id))
            .collect();
        LiveLogWriter {
            stage: Stage::Start,
            sessions,
            checkpoints,
            idx: 0,
            written_slots: SlotSet::new(store.chunks.slot_count()),
            written_ids: HashSet::new(),
            exclude,
            written_heads: HashMap::new(),
            batch_chunks: Vec::new(),
            batch_start: 0,
        }
    }

    /// Fills `buf` (cleared first) with the next frames. Returns false when nothing is left.
    pub(crate) fn next_batch<B: Backend, E: Env>(
        &mut self,
        store: &Store<B, E>,
        buf: &mut Vec<u8>,
    ) -> Result<bool> {
        buf.clear();
        self.append_batch(store, buf)
    }

    /// Appends the next frames to `buf` (chunk offsets in `batch_chunks` count from where
    /// they start). Returns false when nothing is left.
    pub(crate) fn append_batch<B: Backend, E: Env>(
        &mut self,
        store: &Store<B, E>,
        buf: &mut Vec<u8>,
    ) -> Result<bool> {
        self.batch_start = buf.len();
        self.batch_chunks.clear();
        let mut chunk_buf = Vec::new();
        while buf.len() - self.batch_start < BATCH_BYTES {
            match self.stage {
                Stage::Start => {
                    record::write(buf, &Record::SeqFloor(store.next_seq), &[]);
                    self.stage = Stage::Sessions;
                }
                Stage::Sessions => {
                    let Some(id) = self.sessions.get(self.idx) else {
                        self.stage = Stage::Checkpoints;
                        self.idx = 0;
                        continue;
                    };
                    let s = &store.sessions[id].session;
                    let rec = Record::Session(SessionRecord {
                        id: s.id,
                        name: s.name.clone(),
                        metadata: canonical_metadata(&s.metadata),
                        created_at: s.created_at,
                    });
                    record::write(buf, &rec, &[]);
                    self.idx += 1;
                }
                Stage::Checkpoints => {
                    let Some(id) = self.checkpoints.get(self.idx).copied() else {
                        self.stage = Stage::Heads;
                        self.idx = 0;
                        continue;
                    };
                    self.write_checkpoint(store, id, buf, &mut chunk_buf)?;
                    self.idx += 1;
                }
                Stage::Heads => {
                    let Some(id) = self.sessions.get(self.idx) else {
                        self.stage = Stage::Done;
                        continue;
                    };
                    let entry = &store.sessions[id];
                    let latest = entry
                        .seqs
                        .values()
                        .rev()
                        .copied()
                        .find(|c| !self.exclude.contains(c));
                    let head = entry.session.head;
                    // A removed head is left to the engine to move (see `apply_compaction`).
                    let head_removed = head.is_some_and(|h| self.exclude.contains(&h));
                    if head != latest && !head_removed {
                        let rec = Record::Head(HeadRecord { session: *id, head });
                        record::write(buf, &rec, &[]);
                        self.written_heads.insert(*id, head);
                    }
                    self.idx += 1;
                }
                Stage::Done => break,
            }
        }
        Ok(buf.len() > self.batch_start)
    }

    fn write_checkpoint<B: Backend, E: Env>(
        &mut self,
        store: &Store<B, E>,
        id: CheckpointId,
        buf: &mut Vec<u8>,
        chunk_buf: &mut Vec<u8>,
    ) -> Result<()> {
        let entry = &store.checkpoints[&id];
        let cp = &entry.cp;
        let base = cp
            .parent
            .filter(|p| self.written_ids.contains(p))
            .and_then(|p| store.checkpoints.get(&p).map(|e| (p, e)));
        let prefix = base.map_or(0, |(_, e)| {
            e.state
                .chunks
                .iter()
                .zip(&entry.state.chunks)
                .take_while(|(a, b)| a == b)
                .count()
        });
        let (state, raw_slots) = self.blob_record(store, &entry.state, prefix);
        let mut state = state;
        if prefix > 0 {
            state.base = base.map(|(p, _)| BaseRef {
                checkpoint: p,
                prefix: prefix as u32,
            });
        }
        let rec = Record::Checkpoint(CheckpointRecord {
            id,
            session: cp.session,
            namespace: cp.namespace.clone(),
            seq: cp.seq,
            parent: cp.parent,
            parent_hash: cp.parent_hash,
            created_at: cp.created_at,
            message: cp.message.clone(),
            tags: cp.tags.clone(),
            trigger: cp.trigger.clone(),
            metadata: canonical_metadata(&cp.metadata),
            hash: cp.hash,
            state,
        });
        self.write_with_chunks(store, buf, chunk_buf, &rec, &raw_slots)?;
        self.written_ids.insert(id);
        for annotation in &entry.annotations {
            let rec = Record::Annotation(AnnotationRecord {
                checkpoint: id,
                annotation: annotation.clone(),
            });
            record::write(buf, &rec, &[]);
        }
        for (key, blob) in &entry.attachments {
            // Like the state: the prefix shared with the written parent's attachment of the
            // same key is referenced, not listed again.
            let based = base.and_then(|(p, e)| e.attachments.get(key).map(|b| (p, b)));
            let prefix = based.map_or(0, |(_, b)| {
                b.chunks
                    .iter()
                    .zip(&blob.chunks)
                    .take_while(|(a, b)| a == b)
                    .count()
            });
            let (mut blob_rec, raw_slots) = self.blob_record(store, blob, prefix);
            if prefix > 0 {
                blob_rec.base = based.map(|(p, _)| BaseRef {
                    checkpoint: p,
                    prefix: prefix as u32,
                });
            }
            let rec = attachment_record(id, key.clone(), blob_rec);
            self.write_with_chunks(store, buf, chunk_buf, &rec, &raw_slots)?;
        }
        Ok(())
    }

    /// Lists a blob's chunks after `prefix`, marking chunks not yet written as new.
    fn blob_record<B: Backend, E: Env>(
        &mut self,
        store: &Store<B, E>,
        blob: &Blob,
        prefix: usize,
    ) -> (BlobRecord, Vec<Slot>) {
        let mut rec = BlobRecord {
            content_type: blob.content_type.clone(),
            len: blob.len,
            base: None,
            chunks: Vec::new(),
            new: Vec::new(),
        };
        let mut raw_slots: Vec<Slot> = Vec::new();
        let mut new_index: HashMap<Slot, u32> = HashMap::new();
        for &slot in blob.chunks.iter().skip(prefix) {
            let info = store.chunks.get(slot);
            if self.written_slots.contains(slot) {
                rec.chunks.push(ChunkRef::Known(info.hash));
            } else if let Some(n) = new_index.get(&slot) {
                rec.chunks.push(ChunkRef::New(*n));
            } else {
                new_index.insert(slot, rec.new.len() as u32);
                rec.chunks.push(ChunkRef::New(rec.new.len() as u32));
                rec.new.push(NewChunk {
                    hash: info.hash,
                    len: info.len,
                });
                raw_slots.push(slot);
            }
        }
        (rec, raw_slots)
    }

    fn write_with_chunks<B: Backend, E: Env>(
        &mut self,
        store: &Store<B, E>,
        buf: &mut Vec<u8>,
        chunk_buf: &mut Vec<u8>,
        rec: &Record,
        raw_slots: &[Slot],
    ) -> Result<()> {
        chunk_buf.clear();
        for &slot in raw_slots {
            let info = store.chunks.get(slot);
            let at = chunk_buf.len();
            chunk_buf.resize(at + info.len as usize, 0);
            store.backend.read_at(info.pos, &mut chunk_buf[at..])?;
        }
        let frame_start = buf.len();
        let raw_at = record::write(buf, rec, &[chunk_buf.as_slice()]);
        // A survivor whose base went now carries all its chunks: it must still fit a frame.
        crate::log::check_frame_len(buf.len() - frame_start)?;
        let mut offset = raw_at - self.batch_start;
        for &slot in raw_slots {
            self.batch_chunks.push((slot, offset));
            offset += store.chunks.get(slot).len as usize;
            self.written_slots.insert(slot);
        }
        Ok(())
    }
}

impl<B: Backend, E: Env> Store<B, E> {
    /// The dry run: what `policy` would remove and why, and what it keeps despite a rule.
    pub fn plan_compaction(&mut self, policy: &RetentionPolicy) -> Result<CompactionPlan> {
        for s in &policy.sessions {
            self.session(*s)?;
        }
        let now = self.env.now_ms();
        let mut remove = Vec::new();
        let mut protected = Vec::new();
        let in_scope = |s: &SessionId| policy.sessions.is_empty() || policy.sessions.contains(s);
        let pure_tag_rule = !policy.keep_tags.is_empty()
            && policy.keep_last.is_none()
            && policy.max_age_ms.is_none();
        // Rank within session: 0 = newest.
        let mut rank: HashMap<SessionId, usize> = HashMap::new();
        let mut removed_set = HashSet::new();
        let mut selectable = Vec::new();
        for (_, id) in self.by_seq.iter().rev() {
            let entry = &self.checkpoints[id];
            let cp = &entry.cp;
            if !in_scope(&cp.session) {
                continue;
            }
            let r = rank.entry(cp.session).or_insert(0);
            let my_rank = *r;
            *r += 1;
            let reason = if let Some(n) = policy.keep_last.filter(|n| my_rank >= *n) {
                Some(RemovalReason::BeyondKeepLast(n))
            } else if let Some(age) = policy
                .max_age_ms
                .map(|_| now.saturating_sub(cp.created_at))
                .filter(|age| Some(*age) > policy.max_age_ms)
            {
                Some(RemovalReason::TooOld { age_ms: age })
            } else if pure_tag_rule {
                Some(RemovalReason::Untagged)
            } else {
                None
            };
            let keep = self.keep_reason(policy, *id);
            match (reason, keep) {
                (Some(_), Some(k)) => protected.push((*id, k)),
                (Some(reason), None) => {
                    remove.push((*id, reason));
                    removed_set.insert(*id);
                }
                (None, None) => selectable.push(*id),
                (None, Some(_)) => {}
            }
        }
        remove.reverse();
        protected.reverse();
        // Simulate reference counts to know the stored bytes after removal: references lost
        // per slot (slots are dense indexes, so a vector beats a map).
        let mut lost: Vec<u32> = alloc::vec![0; self.chunks.slot_count()];
        let mut freed = 0u64;
        let mut release = |store: &Self, id: &CheckpointId, freed: &mut u64| {
            let entry = &store.checkpoints[id];
            let blobs = core::iter::once(&entry.state).chain(entry.attachments.values());
            for blob in blobs {
                for &slot in &blob.chunks {
                    let info = store.chunks.get(slot);
                    let count = &mut lost[slot as usize];
                    *count += 1;
                    if *count == info.refs {
                        *freed += info.len as u64;
                    }
                }
            }
        };
        for (id, _) in &remove {
            release(self, id, &mut freed);
        }
        let before = self.chunks.stored_bytes();
        if let Some(budget) = policy.max_bytes {
            // Oldest first among the unselected, unprotected ones.
            for id in selectable.iter().rev() {
                if before - freed <= budget {
                    break;
                }
                release(self, id, &mut freed);
                remove.push((*id, RemovalReason::OverBudget));
            }
            remove.sort_by_key(|(id, _)| self.checkpoints[id].cp.seq);
        }
        Ok(CompactionPlan {
            remove,
            protected,
            checkpoints_before: self.checkpoints.len() as u64,
            stored_bytes_before: before,
            stored_bytes_after: before - freed,
        })
    }

    fn keep_reason(&self, policy: &RetentionPolicy, id: CheckpointId) -> Option<KeepReason> {
        let entry = &self.checkpoints[&id];
        if policy.protect_heads && self.sessions[&entry.cp.session].session.head == Some(id) {
            return Some(KeepReason::Head);
        }
        if policy.protect_critical && entry.has_critical() {
            return Some(KeepReason::Critical);
        }
        policy
            .keep_tags
            .iter()
            .find(|t| entry.cp.has_tag(t))
            .map(|t| KeepReason::Tagged(t.clone()))
    }

    /// Carries out a plan: removes its checkpoints (skipping any already gone) by rewriting the
    /// log without them, so their space is reclaimed. All or nothing: if the rewrite fails, the
    /// old log and every checkpoint stay as they were.
    pub fn apply_compaction(&mut self, plan: &CompactionPlan) -> Result<CompactionReport> {
        let ids: Vec<CheckpointId> = plan.remove.iter().map(|(id, _)| *id).collect();
        self.remove_checkpoints(&ids)
    }

    /// Removes these checkpoints (skipping ids already gone) and rewrites the log without them,
    /// all or nothing — what [`apply_compaction`](Store::apply_compaction) does with a plan's
    /// removals. For hosts that carry a plan across a boundary as a list of ids.
    pub fn remove_checkpoints(&mut self, ids: &[CheckpointId]) -> Result<CompactionReport> {
        let mut ids: Vec<CheckpointId> = ids
            .iter()
            .copied()
            .filter(|id| self.checkpoints.contains_key(id))
            .collect();
        ids.sort_by_key(|id| self.checkpoints[id].cp.seq);
        ids.dedup();
        let log_bytes_before = self.log_bytes;
        let written_heads = self.rewrite_log(ids.iter().copied().collect())?;
        // The new log does not hold the removed checkpoints; memory follows it.
        let mut removed_from = Vec::with_capacity(ids.len());
        for id in &ids {
            let session = self.checkpoints[id].cp.session;
            self.remove_checkpoint(*id)?;
            removed_from.push((session, *id));
        }
        self.dead_bytes = 0;
        // Where a removed head moved, the new log must say so too: a replay would otherwise put
        // the head on the session's newest checkpoint.
        let sessions: Vec<SessionId> = self.sessions.keys().copied().collect();
        for session in sessions {
            let entry = &self.sessions[&session];
            let on_replay = match written_heads.get(&session) {
                Some(head) => *head,
                None => entry.seqs.last_key_value().map(|(_, id)| *id),
            };
            let head = entry.session.head;
            if head != on_replay {
                let record = Record::Head(HeadRecord { session, head });
                if self.commit(alloc::vec![(record, &[][..])]).is_err() {
                    // Memory must match the log: take the head a replay would give.
                    if let Some(entry) = self.sessions.get_mut(&session) {
                        entry.session.head = on_replay;
                    }
                }
            }
        }
        self.ops.deletes += ids.len() as u64;
        self.ops.compactions += 1;
        for (session, checkpoint) in removed_from {
            self.events.push(Event::Deleted {
                session,
                checkpoint,
            });
        }
        self.events.push(Event::Compacted {
            removed: ids.len() as u64,
            bytes_before: log_bytes_before,
            bytes_after: self.log_bytes,
        });
        Ok(CompactionReport {
            removed: ids.len() as u64,
            log_bytes_before,
            log_bytes_after: self.log_bytes,
        })
    }

    /// Plans and applies in one call.
    pub fn compact(&mut self, policy: &RetentionPolicy) -> Result<CompactionReport> {
        let plan = self.plan_compaction(policy)?;
        self.apply_compaction(&plan)
    }

    /// Rewrites the log with live records only (no removals): reclaims the space of deleted
    /// checkpoints and unreferenced chunks. Atomic: on failure the old log is untouched.
    pub fn vacuum(&mut self) -> Result<()> {
        self.rewrite_log(HashSet::new())?;
        self.dead_bytes = 0;
        Ok(())
    }

    /// Replaces the log with the live store minus `exclude`. Returns the head records written.
    fn rewrite_log(
        &mut self,
        exclude: HashSet<CheckpointId>,
    ) -> Result<HashMap<SessionId, Option<CheckpointId>>> {
        if let Some(err) = &self.write_error {
            return Err(Error::Backend(err.clone()));
        }
        let mut writer = LiveLogWriter::new(self, None, exclude);
        let mut buf = Vec::new();
        let mut moves: Vec<(Slot, u64)> = Vec::new();
        let mut total = log::HEADER_LEN as u64;
        let result = (|| -> Result<()> {
            self.backend.begin_rewrite()?;
            while writer.next_batch(self, &mut buf)? {
                let base = self.backend.rewrite_append(&buf)?;
                total += buf.len() as u64;
                moves.extend(
                    writer
                        .batch_chunks
                        .iter()
                        .map(|(slot, off)| (*slot, base + *off as u64)),
                );
            }
            self.backend.commit_rewrite()?;
            Ok(())
        })();
        if let Err(err) = result {
            self.backend.abort_rewrite();
            self.ops.backend_errors += 1;
            return Err(err);
        }
        for (slot, pos) in moves {
            self.chunks.set_pos(slot, pos);
        }
        self.log_bytes = total;
        Ok(writer.written_heads)
    }

    /// The live store (or some sessions of it) as a standalone binary log: the records a
    /// rewrite produces, header included, wrapped in one transaction so that a truncated export
    /// is never mistaken for a complete one. Open it with [`MemoryBackend::from_bytes`] or import it.
    ///
    /// [`MemoryBackend::from_bytes`]: crate::MemoryBackend::from_bytes
    pub fn export_binary(&self, sessions: Option<&[SessionId]>) -> Result<Vec<u8>> {
        let only: Option<BTreeSet<SessionId>> = match sessions {
            Some(list) => {
                for s in list {
                    self.session(*s)?;
                }
                Some(list.iter().copied().collect())
            }
            None => None,
        };
        let mut writer = LiveLogWriter::new(self, only.as_ref(), HashSet::new());
        // The frames go straight into the output, after room for the header and the opening
        // transaction frame (whose size depends on the frame count); the live log's size is a
        // close estimate of what is written, so the buffer rarely grows.
        let room = log::HEADER_LEN + TXN_FRAME_MAX;
        let mut out = Vec::new();
        if only.is_none() {
            // Exporting everything: the live log is about what gets written. Capped, and only
            // a hint: a failed reservation just leaves the buffer to grow as it fills.
            let live = self.log_bytes.saturating_sub(self.dead_bytes);
            let estimate = usize::try_from(live)
                .unwrap_or(usize::MAX)
                .min(EXPORT_PRESIZE_MAX);
            let _ = out.try_reserve(room + estimate);
        }
        out.resize(room, 0);
        while writer.append_batch(self, &mut out)? {}
        // One transaction around everything: an export cut short anywhere, even between two
        // frames, is recognisably incomplete and imports as nothing.
        let count = log::count_frames(&out[room..]);
        let mut head = Vec::with_capacity(room);
        head.extend_from_slice(&log::header());
        record::write(&mut head, &Record::Txn(count), &[]);
        let unused = room - head.len();
        out[unused..room].copy_from_slice(&head);
        out.drain(..unused);
        Ok(out)
    }
}
