//! Blob planning: how a state or attachment about to be written is listed in its record.
//!
//! A blob is chunked, each chunk hashed, and the chunk list written relative to a base: the
//! longest prefix it shares with the base blob (the parent's state, or the parent's attachment
//! of the same key) is referenced, not repeated, and only chunks the store does not hold yet
//! carry their bytes. A growing conversation therefore logs its new tail only.

use alloc::string::String;
use alloc::vec::Vec;

use hashbrown::{HashMap, HashSet};

use crate::chunker;
use crate::id::{CheckpointId, Hash};
use crate::record::{AttachmentRecord, BaseRef, BlobRecord, ChunkRef, NewChunk, Record};
use crate::store::index::Index;

/// New chunks of one blob searched linearly for repeats before a hash map is built.
const LINEAR_NEW_CHUNKS: usize = 32;

/// Where a blob's chunks come from while a record is being built.
pub(crate) struct BlobPlan<'a> {
    pub record: BlobRecord,
    /// The bytes of the record's new chunks, in order.
    pub raw: Vec<&'a [u8]>,
    /// Every chunk's hash, in order.
    pub hashes: Vec<Hash>,
}

/// Chunks and chunk lists of records planned earlier in one commit but not applied yet.
#[derive(Default)]
pub(crate) struct Pending {
    pub chunks: HashSet<Hash>,
    /// State chunk lists by checkpoint.
    pub lists: HashMap<CheckpointId, Vec<Hash>>,
    /// Attachment chunk lists by checkpoint and key.
    pub attachments: HashMap<(CheckpointId, String), Vec<Hash>>,
}

impl Pending {
    /// Remembers a planned blob's chunks, so later records of the commit reference them.
    pub fn add(&mut self, plan: &BlobPlan<'_>) {
        self.chunks.extend(plan.hashes.iter().copied());
    }
}

/// What a new blob's chunk list may start from (the longest common prefix is referenced).
#[derive(Clone, Copy, Debug)]
pub(crate) enum BlobBase<'k> {
    /// Nothing: every chunk is listed.
    None,
    /// The state of this checkpoint.
    State(CheckpointId),
    /// The attachment with this key on this checkpoint.
    Attachment(CheckpointId, &'k str),
}

/// The record of an attachment: derived when its chunk list starts from another attachment's
/// (a blob planned with [`BlobBase::Attachment`] that found a shared prefix).
pub(crate) fn attachment_record(checkpoint: CheckpointId, key: String, blob: BlobRecord) -> Record {
    let derived = blob.base.is_some();
    let rec = AttachmentRecord {
        checkpoint,
        key,
        blob,
    };
    if derived {
        Record::DerivedAttachment(rec)
    } else {
        Record::Attachment(rec)
    }
}

impl Index {
    /// Chunks `bytes`, finds which chunks are new, and lists them relative to `base` (the
    /// longest shared prefix of chunks is referenced, not repeated). `pending` describes
    /// records planned earlier in the same commit, which are not applied yet.
    pub(crate) fn plan_blob<'a>(
        &self,
        bytes: &'a [u8],
        content_type: String,
        base: BlobBase<'_>,
        pending: Option<&Pending>,
    ) -> BlobPlan<'a> {
        let params = chunker::params_for_len(bytes.len());
        // Chunks come out a little above the average size: this is room for all of them in
        // most blobs, so the lists are allocated once.
        let expected = bytes.len() / params.avg as usize + 4;
        let mut hashes = Vec::with_capacity(expected);
        let mut pieces = Vec::with_capacity(expected);
        for range in chunker::chunks(bytes, params) {
            let piece = &bytes[range];
            hashes.push(Hash::of(piece));
            pieces.push(piece);
        }
        let (base_id, stored, planned) = match base {
            BlobBase::None => (None, None, None),
            BlobBase::State(b) => (
                Some(b),
                self.checkpoints.get(&b).map(|e| &e.state),
                pending.and_then(|p| p.lists.get(&b)),
            ),
            BlobBase::Attachment(b, key) => (
                Some(b),
                self.checkpoints
                    .get(&b)
                    .and_then(|e| e.attachments.get(key)),
                pending.and_then(|p| p.attachments.get(&(b, String::from(key)))),
            ),
        };
        let prefix = match (stored, planned) {
            (Some(blob), _) => blob
                .chunks
                .iter()
                .zip(&hashes)
                .take_while(|(slot, hash)| self.chunks.get(**slot).hash == **hash)
                .count(),
            (None, Some(list)) => list.iter().zip(&hashes).take_while(|(a, b)| a == b).count(),
            (None, None) => 0,
        };
        let mut record = BlobRecord {
            content_type,
            len: bytes.len() as u64,
            base: None,
            chunks: Vec::with_capacity(hashes.len() - prefix),
            new: Vec::new(),
        };
        if let Some(b) = base_id.filter(|_| prefix > 0) {
            record.base = Some(BaseRef {
                checkpoint: b,
                prefix: prefix as u32,
            });
        }
        let mut raw = Vec::new();
        // The same new chunk twice in one blob: its bytes go into the record once. Few blobs
        // have many new chunks, so a map is built only past `LINEAR_NEW_CHUNKS`.
        let mut new_index: HashMap<Hash, u32> = HashMap::new();
        for (i, hash) in hashes.iter().enumerate().skip(prefix) {
            let known = self.chunks.lookup(hash).is_some()
                || pending.is_some_and(|p| p.chunks.contains(hash));
            if known {
                record.chunks.push(ChunkRef::Known(*hash));
                continue;
            }
            let seen = if record.new.len() <= LINEAR_NEW_CHUNKS {
                record
                    .new
                    .iter()
                    .position(|c| c.hash == *hash)
                    .map(|n| n as u32)
            } else {
                if new_index.is_empty() {
                    new_index.extend(
                        record
                            .new
                            .iter()
                            .enumerate()
                            .map(|(n, c)| (c.hash, n as u32)),
                    );
                }
                new_index.get(hash).copied()
            };
            if let Some(n) = seen {
                record.chunks.push(ChunkRef::New(n));
                continue;
            }
            if record.new.is_empty() {
                // Room for every remaining chunk at once.
                record.new.reserve(hashes.len() - i);
                raw.reserve(hashes.len() - i);
            }
            let n = record.new.len() as u32;
            if !new_index.is_empty() {
                new_index.insert(*hash, n);
            }
            record.chunks.push(ChunkRef::New(n));
            record.new.push(NewChunk {
                hash: *hash,
                len: pieces[i].len() as u32,
            });
            raw.push(pieces[i]);
        }
        BlobPlan {
            record,
            raw,
            hashes,
        }
    }
}
