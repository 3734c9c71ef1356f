//! Format version 3's compact records: how a write turns the records it planned into them, and
//! how the index resolves them when it applies them.
//!
//! The write path and the log rewrite plan records in their full form ([`CheckpointRecord`],
//! [`BlobRecord`]: parents by id, chunks by hash). In a version 3 log an [`Encoder`] turns each
//! into its compact form ([`CompactCheckpoint`], [`CompactBlob`]) against what the log already
//! holds: a parent in the log is named by how many seqs back it is, a chunk in the log by its
//! chunk number, and of the checkpoint's own hash only the first 8 bytes are kept (the
//! *check*). Applying a compact record — the live write's and the replayed one alike —
//! resolves those names against the index and recomputes the hash from the fields, so a store
//! reopened from a version 3 log has exactly the ids, hashes and chunk lists its writer had.
//!
//! What `verify` proves does not change: the chain covers every record and, in place of the
//! chunk bytes, their hashes (see [`crate::chain`]); each checkpoint's hash is recomputed from
//! its fields and chunk hashes and held to its check, so contents changed behind a re-sealed
//! chain are still reported.

use alloc::string::String;
use alloc::vec::Vec;

use hashbrown::HashMap;

use crate::chunker;
use crate::error::{Error, Result};
use crate::id::{CheckpointId, Hash};
use crate::record::{
    AttachmentRecord, BlobRecord, CheckpointRecord, ChunkRef, CompactAttachment, CompactBase,
    CompactBlob, CompactCheckpoint, ParentRef, Record, Run,
};
use crate::store::index::{Blob, CHECK_LEN, Index, check_of, inconsistent};

/// The most chunks one blob may list (16 Mi: far beyond the largest state a frame can bring,
/// and a bound on what a hostile list of runs can make a reader allocate).
const MAX_BLOB_CHUNKS: u64 = 1 << 24;

/// Where a log stands, for encoding a record against it: the number of each chunk it holds,
/// and the seq and hash of each checkpoint it holds.
pub(crate) trait LogNames {
    /// The number of the chunk with this hash, if the log holds it.
    fn chunk_number(&self, hash: &Hash) -> Option<u64>;
    /// The seq and hash of the checkpoint with this id, if the log holds it.
    fn checkpoint(&self, id: &CheckpointId) -> Option<(u64, Hash)>;
}

impl LogNames for Index {
    fn chunk_number(&self, hash: &Hash) -> Option<u64> {
        self.chunks
            .lookup(hash)
            .map(|slot| self.chunks.get(slot).number)
    }

    fn checkpoint(&self, id: &CheckpointId) -> Option<(u64, Hash)> {
        self.checkpoints.get(id).map(|e| (e.cp.seq, e.cp.hash))
    }
}

/// Turns planned records into compact ones, in log order. Records encoded earlier by the same
/// encoder count as in the log (a transaction's later records name chunks and parents its
/// earlier ones brought).
#[derive(Debug)]
pub(crate) struct Encoder {
    next_number: u64,
    chunks: HashMap<Hash, u64>,
    checkpoints: HashMap<CheckpointId, (u64, Hash)>,
    /// The check the next checkpoint records instead of its hash's (a rewrite records the
    /// check a checkpoint was written with, even when its contents no longer match it).
    check: Option<[u8; CHECK_LEN]>,
    /// Whether later records of the batch may name what earlier ones brought (false when
    /// there are none, or when the caller tracks the log itself): nothing is kept then.
    remember: bool,
}

impl Encoder {
    /// An encoder for records appended where the log's next chunk number is `next_number`;
    /// `remember`: later records may name chunks and checkpoints earlier ones brought (a
    /// transaction of several records).
    pub fn new(next_number: u64, remember: bool) -> Encoder {
        Encoder {
            next_number,
            chunks: HashMap::new(),
            checkpoints: HashMap::new(),
            check: None,
            remember,
        }
    }

    /// Makes the next checkpoint record `check` (see [`Entry::check`]).
    ///
    /// [`Entry::check`]: crate::store::index::Entry::check
    pub fn keep_check(&mut self, check: [u8; CHECK_LEN]) {
        self.check = Some(check);
    }

    /// The chunk number the next new chunk gets.
    pub fn next_number(&self) -> u64 {
        self.next_number
    }

    /// The compact form of `rec` (records without one are returned as they are).
    pub fn encode(&mut self, log: &impl LogNames, rec: Record) -> Result<Record> {
        Ok(match rec {
            Record::Checkpoint(c) => Record::CompactCheckpoint(self.checkpoint(log, c)?),
            Record::Attachment(a) => Record::CompactAttachment(self.attachment(log, a)?),
            Record::DerivedAttachment(a) => {
                Record::CompactDerivedAttachment(self.attachment(log, a)?)
            }
            other => other,
        })
    }

    fn checkpoint_in(&self, log: &impl LogNames, id: &CheckpointId) -> Option<(u64, Hash)> {
        self.checkpoints
            .get(id)
            .copied()
            .or_else(|| log.checkpoint(id))
    }

    fn checkpoint(
        &mut self,
        log: &impl LogNames,
        c: CheckpointRecord,
    ) -> Result<CompactCheckpoint> {
        let parent = match c.parent {
            None => ParentRef::None,
            // Named by seq only when that names exactly this parent: same hash, older.
            Some(p) => match self.checkpoint_in(log, &p) {
                Some((seq, hash)) if seq < c.seq && Some(hash) == c.parent_hash => {
                    ParentRef::Back(c.seq - seq)
                }
                _ => ParentRef::Detached(p, c.parent_hash),
            },
        };
        let state = self.blob(log, c.state, c.seq)?;
        if self.remember {
            self.checkpoints.insert(c.id, (c.seq, c.hash));
        }
        Ok(CompactCheckpoint {
            id: *c.id.as_bytes(),
            session: *c.session.as_bytes(),
            namespace: c.namespace,
            seq: c.seq,
            check: self.check.take().unwrap_or_else(|| check_of(&c.hash)),
            parent,
            created_at: c.created_at,
            message: c.message,
            tags: c.tags,
            trigger: c.trigger,
            metadata: if c.metadata == "{}" {
                String::new()
            } else {
                c.metadata
            },
            state,
        })
    }

    fn attachment(
        &mut self,
        log: &impl LogNames,
        a: AttachmentRecord,
    ) -> Result<CompactAttachment> {
        let (seq, _) = self
            .checkpoint_in(log, &a.checkpoint)
            .ok_or(inconsistent("attachment of an unknown checkpoint"))?;
        Ok(CompactAttachment {
            checkpoint: a.checkpoint,
            key: a.key,
            blob: self.blob(log, a.blob, seq)?,
        })
    }

    /// A blob of the checkpoint with seq `owner`.
    fn blob(&mut self, log: &impl LogNames, b: BlobRecord, owner: u64) -> Result<CompactBlob> {
        let base = match b.base {
            None => None,
            Some(base) => {
                let (seq, _) = self
                    .checkpoint_in(log, &base.checkpoint)
                    .ok_or(inconsistent("chunk list based on an unknown checkpoint"))?;
                Some(CompactBase {
                    back: owner as i64 - seq as i64,
                    prefix: base.prefix,
                })
            }
        };
        let first_new = self.next_number;
        let mut runs = Runs::new(first_new);
        for r in &b.chunks {
            runs.push(match r {
                ChunkRef::New(n) => first_new + u64::from(*n),
                ChunkRef::Known(hash) => self
                    .chunks
                    .get(hash)
                    .copied()
                    .or_else(|| log.chunk_number(hash))
                    .ok_or(inconsistent("reference to an unknown chunk"))?,
            });
        }
        if self.remember {
            for (i, chunk) in b.new.iter().enumerate() {
                self.chunks.insert(chunk.hash, first_new + i as u64);
            }
        }
        self.next_number += b.new.len() as u64;
        Ok(CompactBlob {
            content_type: b.content_type,
            len: b.len,
            base,
            first_new,
            new: b.new,
            runs: runs.finish(),
        })
    }
}

/// Builds the runs of a chunk list: consecutive numbers as one run, each run starting at an
/// offset from where the one before ended (the first from `first_new`).
struct Runs {
    runs: Vec<Run>,
    cursor: u64,
    current: Option<(u64, u32)>,
}

impl Runs {
    fn new(first_new: u64) -> Runs {
        Runs {
            runs: Vec::new(),
            cursor: first_new,
            current: None,
        }
    }

    fn push(&mut self, n: u64) {
        self.current = match self.current {
            Some((start, len)) if start + u64::from(len) == n && len < u32::MAX => {
                Some((start, len + 1))
            }
            Some(run) => {
                self.close(run);
                Some((n, 1))
            }
            None => Some((n, 1)),
        };
    }

    fn close(&mut self, (start, len): (u64, u32)) {
        self.runs.push(Run {
            offset: start as i64 - self.cursor as i64,
            len,
        });
        self.cursor = start + u64::from(len);
    }

    fn finish(mut self) -> Vec<Run> {
        if let Some(run) = self.current.take() {
            self.close(run);
        }
        self.runs
    }
}

/// The most chunks a blob of `len` bytes can have: the chunker never cuts below its minimum,
/// but for the last chunk.
fn max_chunks(len: u64) -> u64 {
    let min = chunker::params_for_len(usize::try_from(len).unwrap_or(usize::MAX)).min;
    (len / u64::from(min.max(1)) + 1).min(MAX_BLOB_CHUNKS)
}

impl Index {
    /// The checkpoint with seq `owner - back` (a compact blob's base).
    fn seq_back(&self, owner: u64, back: i64) -> Option<CheckpointId> {
        let seq = owner.checked_add_signed(back.checked_neg()?)?;
        self.checkpoints.at_seq(seq).map(|e| e.cp.id)
    }

    /// Turns a compact blob of the checkpoint with seq `owner` into slots, registering its new
    /// chunks with their numbers at their positions (`raw_pos` is where their bytes start). A
    /// base names a checkpoint's state, or with `base_key` its attachment with that key.
    pub(crate) fn resolve_compact_blob(
        &mut self,
        blob: CompactBlob,
        owner: u64,
        base_key: Option<&str>,
        raw_pos: u64,
    ) -> Result<Blob> {
        let limit = max_chunks(blob.len);
        let listed = blob
            .runs
            .iter()
            .fold(0u64, |n, run| n.saturating_add(u64::from(run.len)));
        let prefix = blob.base.map_or(0, |b| u64::from(b.prefix));
        let mut slots = Vec::with_capacity(listed.saturating_add(prefix).min(limit) as usize);
        if let Some(base) = blob.base {
            let id = self
                .seq_back(owner, base.back)
                .ok_or(inconsistent("chunk list based on an unknown checkpoint"))?;
            slots.extend_from_slice(self.base_prefix(id, base_key, base.prefix)?);
        }
        let next = self.chunks.next_number();
        if blob.first_new != next {
            // A salvage goes on past lost records, whose numbers are then skipped; each took at
            // least a byte of the log.
            let skipped = blob.first_new.checked_sub(next);
            if !self.chain.salvage || skipped.is_none_or(|s| s > raw_pos) {
                return Err(inconsistent("chunk numbers out of order"));
            }
            self.chunks.skip_numbers_to(blob.first_new);
        }
        let mut new_slots = Vec::with_capacity(blob.new.len());
        let mut offset = raw_pos;
        let fail = |index: &mut Index, new_slots: &[u32], what| {
            index.chunks.drop_unreferenced(new_slots);
            Err::<Blob, Error>(inconsistent(what))
        };
        for chunk in &blob.new {
            if chunk.len == 0 || self.chunks.lookup(&chunk.hash).is_some() {
                return fail(
                    self,
                    &new_slots,
                    "a new chunk that is empty or already stored",
                );
            }
            new_slots.push(self.chunks.insert(chunk.hash, offset, chunk.len));
            offset += u64::from(chunk.len);
        }
        let mut cursor = blob.first_new;
        for run in &blob.runs {
            let range = cursor
                .checked_add_signed(run.offset)
                .and_then(|start| Some(start..start.checked_add(u64::from(run.len))?));
            let Some(range) = range else {
                return fail(self, &new_slots, "a chunk number out of range");
            };
            if slots.len() as u64 + u64::from(run.len) > limit {
                return fail(
                    self,
                    &new_slots,
                    "more chunks than the blob's length allows",
                );
            }
            cursor = range.end;
            for n in range {
                match self.chunks.by_number(n) {
                    Some(slot) => slots.push(slot),
                    None => return fail(self, &new_slots, "reference to an unknown chunk"),
                }
            }
        }
        self.finish_blob(blob.content_type, blob.len, slots, &new_slots)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(first_new: u64, numbers: &[u64]) -> Vec<Run> {
        let mut runs = Runs::new(first_new);
        for n in numbers {
            runs.push(*n);
        }
        runs.finish()
    }

    #[test]
    fn runs_take_consecutive_numbers_together_and_go_back_by_offsets() {
        assert_eq!(
            runs(100, &[100, 101, 102, 40, 41, 7, 103]),
            [
                Run { offset: 0, len: 3 },
                Run {
                    offset: -63,
                    len: 2
                },
                Run {
                    offset: -35,
                    len: 1
                },
                Run { offset: 95, len: 1 },
            ]
        );
        assert!(runs(5, &[]).is_empty());
    }
}
