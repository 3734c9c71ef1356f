//! The log rewrite: the live store written as a fresh log, in batches.
//!
//! A compaction writes the store minus its removals and switches the backend to the new log;
//! a vacuum does the same with no removals (reclaiming what deletions left behind); a binary
//! export writes the same records into a standalone byte string. Chunks are written once each,
//! with the first checkpoint that uses them, and chunk lists share their prefix with the
//! parent's as in a live log, so the new log is as compact as a fresh run would make it.

use alloc::collections::BTreeSet;
use alloc::vec::Vec;

use hashbrown::{HashMap, HashSet};

use crate::backend::Backend;
use crate::chain::{Chain, RawMarks};
use crate::checkpoint::canonical_metadata;
use crate::chunks::Slot;
use crate::env::Env;
use crate::error::{BackendError, Error, Result};
use crate::frame::{self, FRAME_HEADER_LEN, HEADER_LEN};
use crate::id::{CheckpointId, Hash, SessionId};
use crate::record::{
    self, AnnotationRecord, BaseRef, BlobRecord, CheckpointRecord, ChunkRef, HeadRecord, NewChunk,
    Record, SessionRecord,
};
use crate::store::Store;
use crate::store::blob::attachment_record;
use crate::store::index::{Blob, Index, last_frame};
use crate::store::read::add_run;
use crate::store::wire::{Encoder, LogNames};

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
    /// Where removing `exclude` moves the heads it removes (see `Index::heads_after_removing`).
    moved_heads: HashMap<SessionId, Option<CheckpointId>>,
    /// Chunks placed in the current batch: (slot, offset in batch).
    pub batch_chunks: Vec<(Slot, usize)>,
    /// Frames written with chunk bytes, for the seal (which covers records and chunk hashes,
    /// not chunk bytes).
    pub raw_marks: RawMarks,
    /// Turns the records into their compact form (the new log is version 3).
    encoder: Encoder,
    /// The new log's chunk number of each slot written (by slot), and the slot of each number.
    slot_numbers: Vec<u64>,
    pub numbered: Vec<Slot>,
    /// Where the current batch starts in its buffer.
    batch_start: usize,
    /// The runs of chunk bytes the current record reads (kept for its allocation).
    runs: Vec<(u64, u32)>,
}

/// The new log as far as it is written, for encoding the next record against it.
struct NewLog<'a> {
    index: &'a Index,
    written_slots: &'a SlotSet,
    slot_numbers: &'a [u64],
    written_ids: &'a HashSet<CheckpointId>,
}

impl LogNames for NewLog<'_> {
    fn chunk_number(&self, hash: &Hash) -> Option<u64> {
        let slot = self.index.chunks.lookup(hash)?;
        if !self.written_slots.contains(slot) {
            return None;
        }
        self.slot_numbers.get(slot as usize).copied()
    }

    fn checkpoint(&self, id: &CheckpointId) -> Option<(u64, Hash)> {
        if !self.written_ids.contains(id) {
            return None;
        }
        self.index.checkpoint(id)
    }
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
const TXN_FRAME_MAX: usize = FRAME_HEADER_LEN + 1 + 5;

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
            .index
            .checkpoints
            .iter()
            .filter(|e| keep(&e.cp.session) && !exclude.contains(&e.cp.id))
            .map(|e| e.cp.id)
            .collect();
        let ordered: Vec<CheckpointId> = store
            .index
            .checkpoints
            .iter()
            .map(|e| e.cp.id)
            .filter(|id| exclude.contains(id))
            .collect();
        let moved_heads = store.index.heads_after_removing(&ordered);
        LiveLogWriter {
            stage: Stage::Start,
            sessions,
            checkpoints,
            idx: 0,
            written_slots: SlotSet::new(store.index.chunks.slot_count()),
            written_ids: HashSet::new(),
            exclude,
            moved_heads,
            batch_chunks: Vec::new(),
            raw_marks: RawMarks::default(),
            // What the new log holds is tracked here (`written_*`), not by the encoder.
            encoder: Encoder::new(0, false),
            slot_numbers: alloc::vec![0; store.index.chunks.slot_count()],
            numbered: Vec::new(),
            batch_start: 0,
            runs: Vec::new(),
        }
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
                    record::write(buf, &Record::SeqFloor(store.index.next_seq), &[]);
                    self.stage = Stage::Sessions;
                }
                Stage::Sessions => {
                    let Some(id) = self.sessions.get(self.idx) else {
                        self.stage = Stage::Checkpoints;
                        self.idx = 0;
                        continue;
                    };
                    let s = &store.index.sessions[id].session;
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
                        let total = self.checkpoints.len() as u64;
                        store.report_progress(total, total);
                        self.stage = Stage::Heads;
                        self.idx = 0;
                        continue;
                    };
                    store.report_progress(self.idx as u64, self.checkpoints.len() as u64);
                    self.write_checkpoint(store, id, buf, &mut chunk_buf)?;
                    self.idx += 1;
                }
                Stage::Heads => {
                    let Some(id) = self.sessions.get(self.idx) else {
                        self.stage = Stage::Done;
                        continue;
                    };
                    let entry = &store.index.sessions[id];
                    let latest = entry
                        .seqs
                        .iter()
                        .rev()
                        .filter_map(|seq| Some(store.index.checkpoints.at_seq(seq)?.cp.id))
                        .find(|c| !self.exclude.contains(c));
                    // A removed head is written where the removal moves it, in the same log:
                    // the new log and the store after the removal agree however a crash cuts.
                    let head = match self.moved_heads.get(id) {
                        Some(moved) => *moved,
                        None => entry.session.head,
                    };
                    if head != latest {
                        let rec = Record::Head(HeadRecord { session: *id, head });
                        record::write(buf, &rec, &[]);
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
        let entry = &store.index.checkpoints[&id];
        let cp = &entry.cp;
        let base = cp
            .parent
            .filter(|p| self.written_ids.contains(p))
            .and_then(|p| store.index.checkpoints.get(&p).map(|e| (p, e)));
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
        self.encoder.keep_check(entry.check);
        self.write_with_chunks(store, buf, chunk_buf, rec, &raw_slots)?;
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
            self.write_with_chunks(store, buf, chunk_buf, rec, &raw_slots)?;
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
            let info = store.index.chunks.get(slot);
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
        rec: Record,
        raw_slots: &[Slot],
    ) -> Result<()> {
        // The record's new chunks, those next to each other in the old log as one run, read
        // with one call.
        chunk_buf.clear();
        self.runs.clear();
        let mut total = 0usize;
        for &slot in raw_slots {
            let (pos, len) = store.index.chunks.extent(slot);
            total += len as usize;
            add_run(&mut self.runs, pos, len);
        }
        store.backend.read_runs(&self.runs, chunk_buf)?;
        if chunk_buf.len() != total {
            return Err(Error::Backend(BackendError::OutOfRange {
                pos: self.runs.first().map_or(0, |(pos, _)| *pos),
                len: total as u64,
            }));
        }
        let names = NewLog {
            index: &store.index,
            written_slots: &self.written_slots,
            slot_numbers: &self.slot_numbers,
            written_ids: &self.written_ids,
        };
        let first_new = self.encoder.next_number();
        let rec = self.encoder.encode(&names, rec)?;
        let frame_start = buf.len();
        let raw_at = record::write(buf, &rec, &[chunk_buf.as_slice()]);
        if raw_at < buf.len() {
            self.raw_marks.push(frame_start, raw_at, &rec);
        }
        for (i, &slot) in raw_slots.iter().enumerate() {
            if let Some(number) = self.slot_numbers.get_mut(slot as usize) {
                *number = first_new + i as u64;
            }
            self.numbered.push(slot);
        }
        // A survivor whose base went now carries all its chunks: it must still fit a frame.
        frame::check_frame_len(buf.len() - frame_start)?;
        let mut offset = raw_at - self.batch_start;
        for &slot in raw_slots {
            self.batch_chunks.push((slot, offset));
            offset += store.index.chunks.get(slot).len as usize;
            self.written_slots.insert(slot);
        }
        Ok(())
    }
}

impl<B: Backend, E: Env> Store<B, E> {
    /// Rewrites the log with live records only (no removals): reclaims the space of deleted
    /// checkpoints and unreferenced chunks. Atomic: on failure the old log is untouched.
    pub fn vacuum(&mut self) -> Result<()> {
        self.retrying(|store| store.rewrite_log(HashSet::new()))?;
        self.index.reset_dead_bytes();
        self.snapshot_rewritten();
        Ok(())
    }

    /// Replaces the log with the live store minus `exclude` (with the heads that removing them
    /// moves already moved).
    pub(crate) fn rewrite_log(&mut self, exclude: HashSet<CheckpointId>) -> Result<()> {
        // A snapshot being merged describes the log this replaces: it is not taken up.
        self.drop_snapshot_merge();
        if let Some(err) = &self.write_error {
            return Err(Error::Backend(err.clone()));
        }
        let mut writer = LiveLogWriter::new(self, None, exclude);
        let mut buf = Vec::new();
        let mut moves: Vec<(Slot, u64)> = Vec::new();
        let mut total = HEADER_LEN as u64;
        // The new log is version 3, whatever the old one was: it opens with a log start naming
        // the head it replaces, and every batch is a sealed write.
        let mut chain = Chain::fresh();
        chain.previous_head = self.log_head();
        // The new log's last frame.
        let mut end = None;
        // A begin that failed began nothing: there is nothing to abort (and a shared backend
        // that found others ahead may hold the log for this writer's next try).
        if let Err(err) = self.backend.begin_rewrite() {
            self.ops.backend_errors += 1;
            return Err(Error::Backend(err));
        }
        let result = (|| -> Result<()> {
            let mut first = true;
            loop {
                buf.clear();
                writer.raw_marks.clear();
                if first {
                    record::write(&mut buf, &Record::CompactLogStart(chain.previous_head), &[]);
                }
                let more = writer.append_batch(self, &mut buf)?;
                if !more && !first {
                    break;
                }
                first = false;
                let (head, seal) = chain.seal_of(&buf, &writer.raw_marks);
                record::write(&mut buf, &Record::Seal(seal), &[]);
                chain.advance(head);
                let base = self.backend.rewrite_append(&buf)?;
                end = last_frame(base, &buf).or(end);
                total += buf.len() as u64;
                let start = base + writer.batch_start as u64;
                moves.extend(
                    writer
                        .batch_chunks
                        .iter()
                        .map(|(slot, off)| (*slot, start + *off as u64)),
                );
                if !more {
                    break;
                }
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
            self.index.chunks.set_pos(slot, pos);
        }
        self.index.chunks.renumber(writer.numbered);
        self.index.chain = chain;
        self.index.last_frame = end;
        self.log_bytes = total;
        // The snapshot of the old log is of no use now (see `snapshot_rewritten`).
        self.snapshot_at = 0;
        self.snapshot_len = 0;
        Ok(())
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
        // The frames go straight into the output, after room for the header, the log start and
        // the opening transaction frame (whose size depends on the frame count); the live log's
        // size is a close estimate of what is written, so the buffer rarely grows.
        let mut log_start = Vec::new();
        record::write(&mut log_start, &Record::CompactLogStart(None), &[]);
        let room = HEADER_LEN + log_start.len() + TXN_FRAME_MAX;
        let mut out = Vec::new();
        if only.is_none() {
            // Exporting everything: the live log is about what gets written. Capped, and only
            // a hint: a failed reservation just leaves the buffer to grow as it fills.
            let live = self.log_bytes.saturating_sub(self.index.dead_bytes);
            let estimate = usize::try_from(live)
                .unwrap_or(usize::MAX)
                .min(EXPORT_PRESIZE_MAX);
            let _ = out.try_reserve(room + estimate);
        }
        out.resize(room, 0);
        while writer.append_batch(self, &mut out)? {}
        // One transaction around everything: an export cut short anywhere, even between two
        // frames, is recognisably incomplete and imports as nothing.
        let count = frame::count_frames(&out[room..]);
        let mut head = Vec::with_capacity(room);
        head.extend_from_slice(&frame::header());
        head.extend_from_slice(&log_start);
        record::write(&mut head, &Record::Txn(count), &[]);
        let unused = room - head.len();
        out[unused..room].copy_from_slice(&head);
        out.drain(..unused);
        // A log of its own (version 3): sealed as one write. The marks were taken before the
        // unused room was drained.
        let shift = unused + HEADER_LEN;
        let marks = writer.raw_marks.shifted_back(shift);
        let (_, seal) = Chain::fresh().seal_of(&out[HEADER_LEN..], &marks);
        record::write(&mut out, &Record::Seal(seal), &[]);
        Ok(out)
    }
}
