//! Index snapshots: what a replay of the log builds, persisted, so that an open reads it and
//! replays only the log's tail.
//!
//! The log stays the truth. A snapshot is a cache of one point of it — a *sealed point*, where
//! a whole write ends — and says which: the log's format, its size there, the running hash of
//! the chain (version 2) and the **anchor**, the last frame before that point, by position,
//! length and blake3 hash. An open that finds a snapshot reads the anchor frame from the log
//! and uses the snapshot only when the bytes there hash the same: in a version 2 log that
//! frame is a seal, which carries the chain's running hash, so the match ties the snapshot to
//! everything the log holds up to that point (a snapshot of another store, of a log a
//! compaction replaced, or of bytes a power cut lost does not match). Then the frames after
//! the point are replayed on top, as a replay would have applied them.
//!
//! **Read in place.** An open does not decode a snapshot: it reads its summary (counters,
//! sessions, tag names, and where each table is) and then reads the tables where a lookup
//! needs them (`store/tables.rs`): a count, a session's head or the newest page of a
//! listing reads a few blocks of a store of any size, and a checkpoint is decoded the first
//! time it is read. What changes after the open is kept in memory on top of the snapshot's
//! tables (`store/entries.rs`, `store/seqs.rs`, `chunks.rs`) until the next snapshot.
//!
//! A snapshot that does not check out — absent, damaged (a checksum), of another encoding
//! version, stale beyond its log (the anchor is not there or differs), inconsistent in itself
//! (tables whose sizes disagree with the summary, counts or references that do not agree), or
//! whose tail does not apply — is ignored, never trusted: the store replays the whole log, and
//! the load report says why ([`SnapshotUse::Ignored`]). A snapshot up to
//! [`Options::snapshot_check_whole`](crate::Options::snapshot_check_whole) bytes (8 MiB by
//! default) is checked whole at open: every block, and every part against the others as a
//! replay would have built them. A larger one is checked as it is read, each block against
//! its checksum the first time it is read: a block that does not match is never used — the
//! operation that met it fails with [`CorruptKind::Snapshot`](crate::CorruptKind::Snapshot)
//! (at open, the snapshot is ignored and the log replayed), so does every later read or write
//! of that store, and a writer makes the snapshot unusable so the next open replays the log.
//! What block checksums cannot see — a snapshot rewritten with valid checksums but contents
//! that do not match its log — only a whole check finds (and `verify`, which replays the log,
//! never uses a snapshot).
//!
//! An open that looks for a head (`verify --expect-head`), that salvages a damaged log, or
//! whose options say not to ([`Options::use_snapshot`](crate::Options::use_snapshot), which
//! `rewind verify` sets so that every seal of the chain is checked) replays the whole log.
//!
//! **Encoding** (version 4): `RWNDIDX\0` (8 bytes) and the encoding version (u16 LE); the
//! heap of checkpoints (each encoded on its own with postcard: its fields, its chunk slots,
//! annotations and attachments, in seq order); the tables, each rows of a fixed width that do
//! not cross a 4 KiB block, sorted by their key (`TableId` in `store/tables.rs`): checkpoints by seq (with
//! where each is in the heap) and by id, each session's seqs, times and branch tips, each
//! tag's seqs, and the chunk table by slot, by hash and by chunk number; then the summary
//! (postcard), its length (u32 LE), and the blake3 hash of the first 10 bytes and the summary
//! with its length (32 bytes). The summary lists every region's blocks' checksums, and the
//! regions cover every byte between the prefix and the summary, so no byte goes unchecked.
//! The live chunks are numbered 0.. afresh in every snapshot (it has no free slots).
//! Versions 1 to 3 (never read now) were one postcard body decoded whole at open. A snapshot
//! is never the only copy of anything, so its encoding may change between releases: one of
//! another version is ignored and replaced.
//!
//! **What an open with a snapshot does not do**: it does not read the log before the point,
//! so damage there is found by `verify` (which reads everything) and by reads of the bytes
//! concerned, not at open.
//!
//! **Deltas.** A whole snapshot costs as much to write as the store is large. So while what
//! changed since the snapshot the index reads from is smaller than that snapshot (the log has
//! grown since by less than its size), a writer writes a **delta** instead: everything the
//! index holds in memory on top of the snapshot's tables — the checkpoints added or changed
//! and the snapshot's seqs removed or changed, each session's and tag's keys added and
//! removed, the chunk table's changed and new slots and numbers, the sessions and counters —
//! with the point it reflects and the checksum of the snapshot it is on top of. Encoding:
//! `RWNDDLT\0`, the encoding version (u16 LE), the delta (postcard) and the blake3 hash of all
//! before it. An open reads the snapshot, then the delta when it names that snapshot and the
//! log holds its point, and replays the log after the delta's point; a delta that does not
//! check out is not used (the log after the snapshot's point is replayed instead). Once the
//! log has grown past the snapshot's size, the next write is a whole snapshot again, which the
//! writer then reads its index from, as an open would (so its memory holds what changed since,
//! not the store), and the delta goes.
//!
//! **Merged away from the writer.** When the backend runs merges
//! ([`Backend::runs_snapshot_merges`], as the native file backend does on a thread) or with
//! [`Options::snapshot_in_background`](crate::Options::snapshot_in_background), a writer that
//! reads from a snapshot never writes a whole one itself: when one falls due it writes a delta
//! anyway and keeps a copy of what it appends from then on, and a [`SnapshotMerge`] — the
//! snapshot and that delta — is turned into the whole snapshot (the snapshot read, the delta
//! applied, encoded) while writes go on: handed to the backend's
//! [`start_snapshot_merge`](Backend::start_snapshot_merge) and polled after each write, or
//! handed to the host by [`Store::take_snapshot_merge`]. [`Store::finish_snapshot_merge`]
//! (which the store calls itself for a backend's merge) puts it in place and rebases the index
//! on it: the new snapshot read as an open would, and the frames
//! appended since its point replayed on top (kept only if that gives the same store). A
//! compaction meanwhile drops the merge (it describes a log that is gone). Until the merge is
//! installed, deltas still name the old snapshot; once it is, they name the new one, whose
//! point is the merged delta's.
//!
//! **When they are written** (writers only; a read-only open never writes one): by
//! [`Store::write_snapshot`]; by a writer once the log has grown past
//! [`Options::snapshot_every`](crate::Options::snapshot_every) bytes and the size of the last
//! snapshot or delta since it was written; after every compaction or vacuum (a whole snapshot:
//! the old one describes a log that is gone); and by hosts when a writer closes
//! ([`Store::snapshot_due`]: once the log has grown by 64 KiB — a delta while the growth since
//! the snapshot is at most 8 MiB or a 64th of its size, since an open decodes a delta whole,
//! else a whole snapshot — or, past the snapshot's size, by an eighth of it). The log is synced
//! first, so neither describes writes that a power cut could still take away.

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;

use hashbrown::HashMap;
use serde::{Deserialize, Serialize};

use super::Store;
use super::entries::{Change, Entries};
use super::index::{Blob, CHECK_LEN, Entry, Index, SessionEntry, check_of, parse_metadata};
use super::seqs::{BaseRows, KeyDelta, KeySet, SeqSet, StoredKey, TimeSet};
use super::tables::{Persisted, RegionSnap, TableId, push_row};
use crate::annotation::Annotation;
use crate::backend::{Backend, SnapshotBytes};
use crate::chain::{Chain, Version};
use crate::checkpoint::{Checkpoint, Trigger};
use crate::chunks::{ChunkDelta, ChunkTable, NO_SLOT, Slot};
use crate::env::Env;
use crate::error::{BackendError, Error, Result};
use crate::frame::FRAME_HEADER_LEN;
use crate::id::{CheckpointId, Hash, IdGen, SessionId};
use crate::session::Session;

const MAGIC: [u8; 8] = *b"RWNDIDX\0";
/// The encoding version this build writes and reads.
pub const SNAPSHOT_VERSION: u16 = 4;
const PREFIX_LEN: usize = MAGIC.len() + 2;
const CHECKSUM_LEN: usize = 32;
/// The trailer: the summary's length (u32 LE) and the checksum.
const TRAILER_LEN: usize = 4 + CHECKSUM_LEN;
/// Log growth since the snapshot up to which an explicit snapshot (at close) may be a delta
/// whatever the snapshot's size (see `Store::write_snapshot`).
const SMALL_DELTA_GROWTH: u64 = 8 << 20;

/// Whether an open used an index snapshot (see [`crate::snapshot`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SnapshotUse {
    /// There was none (or none was looked for): the whole log was replayed.
    #[default]
    None,
    /// The snapshot was used; these log frames after its point were replayed on top.
    Used {
        /// Frames replayed after the snapshot's point.
        tail_frames: u64,
    },
    /// A snapshot was found but not used: the whole log was replayed.
    Ignored(SnapshotProblem),
}

/// Why a snapshot was not used.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SnapshotProblem {
    /// Its checksum does not match, it is cut short, or it does not decode.
    Damaged,
    /// It was written in an encoding version this build does not read.
    Version(u16),
    /// The log does not hold the point it describes (a snapshot of another store, of a log a
    /// compaction replaced, or of writes that were lost).
    Stale,
    /// Its content contradicts itself.
    Inconsistent(&'static str),
    /// The log after its point did not apply on top of it.
    Tail(String),
    /// The backend could not read it.
    Unreadable(String),
}

impl core::fmt::Display for SnapshotProblem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SnapshotProblem::Damaged => f.write_str("the index snapshot is damaged"),
            SnapshotProblem::Version(v) => {
                write!(
                    f,
                    "the index snapshot is of encoding version {v}, not {SNAPSHOT_VERSION}"
                )
            }
            SnapshotProblem::Stale => {
                f.write_str("the index snapshot does not match the log (stale or of another store)")
            }
            SnapshotProblem::Inconsistent(what) => {
                write!(f, "the index snapshot is inconsistent: {what}")
            }
            SnapshotProblem::Tail(err) => {
                write!(
                    f,
                    "the log after the index snapshot does not apply to it: {err}"
                )
            }
            SnapshotProblem::Unreadable(err) => {
                write!(f, "the index snapshot cannot be read: {err}")
            }
        }
    }
}

/// The log's point a snapshot reflects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Point {
    /// 1, 2 or 3.
    format: u16,
    /// The store's log size there.
    pub log_bytes: u64,
    /// The last frame before the point: where it starts, its length and its bytes' hash.
    anchor_at: u64,
    anchor_len: u32,
    anchor_hash: Hash,
    /// The chain there (version 2).
    head: Hash,
    previous_head: Option<Hash>,
    seals: u64,
}

impl Point {
    /// Where the log after the point starts.
    pub fn end(&self) -> u64 {
        self.anchor_at + u64::from(self.anchor_len)
    }

    /// The log's format version there.
    fn version(&self) -> Option<Version> {
        match self.format {
            1 => Some(Version::V1),
            2 => Some(Version::V2),
            3 => Some(Version::V3),
            _ => None,
        }
    }
}

/// The index's counters, which a snapshot and a delta both keep.
#[derive(Serialize, Deserialize)]
struct Counters {
    next_seq: u64,
    /// The newest v7 id seen (the id generator's state).
    ids: u128,
    logical_bytes: u64,
    annotation_count: u64,
    attachment_count: u64,
    dead_bytes: u64,
    sessions_removed: u64,
}

impl Counters {
    fn of(index: &Index) -> Self {
        Counters {
            next_seq: index.next_seq,
            ids: index.ids.last(),
            logical_bytes: index.logical_bytes,
            annotation_count: index.annotation_count,
            attachment_count: index.attachment_count,
            dead_bytes: index.dead_bytes,
            sessions_removed: index.sessions_removed(),
        }
    }

    /// Puts the counters into `index`, whose sessions are read, and resumes its chain at
    /// `point`; `None` when a session's id is newer than the id generator says (or the point's
    /// log format is unknown).
    fn restore(self, index: &mut Index, point: &Point) -> Option<()> {
        let version = point.version()?;
        if index.ids.last() > self.ids {
            return None;
        }
        index.ids = IdGen::from_last(self.ids);
        index.next_seq = self.next_seq;
        index.logical_bytes = self.logical_bytes;
        index.annotation_count = self.annotation_count;
        index.attachment_count = self.attachment_count;
        index.dead_bytes = self.dead_bytes;
        index.resume_from_snapshot(
            Chain::resume(version, point.head, point.previous_head, point.seals),
            self.sessions_removed,
            point.end(),
            point.log_bytes,
        );
        Some(())
    }
}

/// What a snapshot's summary holds: everything but the tables and the heap, and where those
/// are with their blocks' checksums.
#[derive(Serialize, Deserialize)]
struct Summary<'a> {
    point: Point,
    counters: Counters,
    /// In id order; a session's rows in the session tables come in this order.
    #[serde(borrow)]
    sessions: Vec<SessionSnap<'a>>,
    /// Tags in name order, with how many checkpoints each has (rows of [`TableId::Tags`]).
    #[serde(borrow)]
    tags: Vec<(Cow<'a, str>, u64)>,
    checkpoints: u64,
    /// Live chunks: the slots `0..chunks`.
    chunks: u32,
    stored_bytes: u64,
    /// The chunk numbers handed out in the log so far.
    next_chunk_number: u64,
    /// The tables, in [`TableId::ALL`]'s order, then the heap of checkpoint entries.
    tables: Vec<RegionSnap>,
    heap: RegionSnap,
}

#[derive(Serialize, Deserialize)]
struct SessionSnap<'a> {
    #[serde(borrow)]
    info: SessionInfo<'a>,
    /// Its branch tips: its rows of [`TableId::SessionLeaves`] (its checkpoints, `info`'s
    /// count, are its rows of [`TableId::SessionSeqs`] and [`TableId::SessionTimes`]).
    leaves: u64,
}

/// What a snapshot and a delta keep of a session besides its sets.
#[derive(Serialize, Deserialize)]
struct SessionInfo<'a> {
    id: SessionId,
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    metadata: Cow<'a, str>,
    created_at: u64,
    head: Option<CheckpointId>,
    checkpoints: u64,
    last_by_kind: [Option<u64>; 3],
    order: u64,
}

impl<'a> SessionInfo<'a> {
    fn of(s: &'a SessionEntry) -> Self {
        SessionInfo {
            id: s.session.id,
            name: Cow::Borrowed(&s.session.name),
            metadata: Cow::Owned(serde_json::to_string(&s.session.metadata).unwrap_or_default()),
            created_at: s.session.created_at,
            head: s.session.head,
            checkpoints: s.session.checkpoints,
            last_by_kind: s.last_by_kind,
            order: s.order,
        }
    }

    /// The session entry with these fields and sets; `None` when its metadata is not a JSON
    /// object.
    fn entry(self, seqs: SeqSet, by_time: TimeSet, leaves: SeqSet) -> Option<SessionEntry> {
        Some(SessionEntry {
            session: Session {
                id: self.id,
                name: self.name.into_owned(),
                metadata: parse_metadata(&self.metadata).ok()?,
                created_at: self.created_at,
                head: self.head,
                checkpoints: self.checkpoints,
            },
            seqs,
            by_time,
            leaves,
            last_by_kind: self.last_by_kind,
            order: self.order,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct BlobSnap<'a> {
    #[serde(borrow)]
    content_type: Cow<'a, str>,
    len: u64,
    chunks: Cow<'a, [Slot]>,
}

/// A checkpoint in the heap.
#[derive(Serialize, Deserialize)]
struct EntrySnap<'a> {
    id: CheckpointId,
    session: SessionId,
    #[serde(borrow)]
    namespace: Cow<'a, str>,
    seq: u64,
    parent: Option<CheckpointId>,
    parent_hash: Option<Hash>,
    created_at: u64,
    #[serde(borrow)]
    message: Cow<'a, str>,
    tags: Vec<Cow<'a, str>>,
    trigger: Cow<'a, Trigger>,
    #[serde(borrow)]
    metadata: Cow<'a, str>,
    state_root: Hash,
    hash: Hash,
    #[serde(borrow)]
    state: BlobSnap<'a>,
    annotations: Cow<'a, [Annotation]>,
    #[serde(borrow)]
    attachments: Vec<(Cow<'a, str>, BlobSnap<'a>)>,
    children: u32,
    record_bytes: u64,
    /// The check its record keeps, when it is not the hash's (a log changed after writing).
    check: Option<[u8; CHECK_LEN]>,
}

/// A blob with its chunk slots renumbered as the snapshot numbers them (`None`: as they are,
/// in a delta).
fn blob_snap<'a>(blob: &'a Blob, remap: Option<&[Slot]>) -> BlobSnap<'a> {
    BlobSnap {
        content_type: Cow::Borrowed(&blob.content_type),
        len: blob.len,
        chunks: match remap {
            Some(remap) => Cow::Owned(
                blob.chunks
                    .iter()
                    .map(|s| remap.get(*s as usize).copied().unwrap_or(NO_SLOT))
                    .collect(),
            ),
            None => Cow::Borrowed(&blob.chunks),
        },
    }
}

/// What a snapshot keeps of a checkpoint.
fn entry_snap<'a>(e: &'a Entry, remap: Option<&[Slot]>) -> EntrySnap<'a> {
    let cp = &e.cp;
    EntrySnap {
        id: cp.id,
        session: cp.session,
        namespace: Cow::Borrowed(&cp.namespace),
        seq: cp.seq,
        parent: cp.parent,
        parent_hash: cp.parent_hash,
        created_at: cp.created_at,
        message: Cow::Borrowed(&cp.message),
        tags: cp.tags.iter().map(|t| Cow::Borrowed(t.as_str())).collect(),
        trigger: Cow::Borrowed(&cp.trigger),
        metadata: Cow::Owned(serde_json::to_string(&cp.metadata).unwrap_or_default()),
        state_root: cp.state_root,
        hash: cp.hash,
        state: blob_snap(&e.state, remap),
        annotations: Cow::Borrowed(&e.annotations),
        attachments: e
            .attachments
            .iter()
            .map(|(k, b)| (Cow::Borrowed(k.as_str()), blob_snap(b, remap)))
            .collect(),
        children: e.children,
        record_bytes: e.record_bytes,
        check: (e.check != check_of(&cp.hash)).then_some(e.check),
    }
}

/// Appends table `id`: `rows` hands each row to the function it is given.
fn table(
    out: &mut Vec<u8>,
    tables: &mut Vec<RegionSnap>,
    id: TableId,
    rows: impl FnOnce(&mut dyn FnMut(&[u8])),
) {
    let start = out.len();
    rows(&mut |row: &[u8]| push_row(out, start, id.width(), row));
    tables.push(RegionSnap::of(out, start));
}

/// The rows of one key set (see [`TableId::SessionSeqs`] and the like): group number, key.
fn key_rows<K: StoredKey>(
    push: &mut dyn FnMut(&[u8]),
    group: usize,
    keys: impl Iterator<Item = K>,
) {
    let mut row = Vec::with_capacity(20);
    for key in keys {
        row.clear();
        row.extend_from_slice(&(group as u32).to_le_bytes());
        key.write(&mut row);
        push(&row);
    }
}

/// Encodes `index` as a snapshot of the point `log_bytes` into the log, where the frame
/// `anchor` (its position and bytes) ends. `None` when the index is not at a sealed point (a
/// write or transaction is open), or a snapshot it was read from turned out damaged.
pub(crate) fn encode(index: &Index, log_bytes: u64, anchor: (u64, &[u8])) -> Option<Vec<u8>> {
    if !index.at_sealed_point() || index.damaged() {
        return None;
    }
    encode_at(index, point_of(index, log_bytes, anchor)?)
}

/// Encodes `index` as a snapshot of `point`.
fn encode_at(index: &Index, point: Point) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(PREFIX_LEN + 300 * index.checkpoints.len() + 1024);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());

    // Live chunks take the slots 0.. in slot order: the snapshot has no free slots.
    let chunks = &index.chunks;
    let mut remap = alloc::vec![NO_SLOT; chunks.slot_count()];
    let mut live = 0u32;
    for (slot, new) in remap.iter_mut().enumerate() {
        if chunks.get(slot as Slot).refs > 0 {
            *new = live;
            live += 1;
        }
    }

    // The heap first: the checkpoint table says where each entry is in it.
    let heap_start = out.len();
    let mut seq_rows = Vec::with_capacity(index.checkpoints.len() * TableId::Seqs.width());
    let mut ids: Vec<([u8; 16], u32)> = Vec::with_capacity(index.checkpoints.len());
    let mut written = true;
    index.checkpoints.scan(|entry| {
        let at = out.len() - heap_start;
        out = match postcard::to_extend(&entry_snap(entry, Some(&remap)), core::mem::take(&mut out))
        {
            Ok(out) => out,
            Err(_) => {
                written = false;
                return false;
            }
        };
        let (Ok(row), Ok(len)) = (
            u32::try_from(ids.len()),
            u32::try_from(out.len() - heap_start - at),
        ) else {
            written = false;
            return false;
        };
        seq_rows.extend_from_slice(&entry.cp.seq.to_le_bytes());
        seq_rows.extend_from_slice(&(at as u64).to_le_bytes());
        seq_rows.extend_from_slice(&len.to_le_bytes());
        ids.push((*entry.cp.id.as_bytes(), row));
        true
    });
    if !written || ids.len() != index.checkpoints.len() || index.damaged() {
        return None;
    }
    let heap = RegionSnap::of(&out, heap_start);
    ids.sort_unstable();

    let mut tables = Vec::with_capacity(TableId::ALL.len());
    table(&mut out, &mut tables, TableId::Seqs, |push| {
        for row in seq_rows.chunks(TableId::Seqs.width()) {
            push(row);
        }
    });
    drop(seq_rows);
    table(&mut out, &mut tables, TableId::Ids, |push| {
        for (id, row) in &ids {
            let mut r = [0u8; 20];
            r[..16].copy_from_slice(id);
            r[16..].copy_from_slice(&row.to_le_bytes());
            push(&r);
        }
    });
    drop(ids);
    let sessions: Vec<&SessionEntry> = index.sessions.values().collect();
    table(&mut out, &mut tables, TableId::SessionSeqs, |push| {
        for (n, s) in sessions.iter().enumerate() {
            key_rows(push, n, s.seqs.iter());
        }
    });
    table(&mut out, &mut tables, TableId::SessionTimes, |push| {
        for (n, s) in sessions.iter().enumerate() {
            key_rows(push, n, s.by_time.iter());
        }
    });
    table(&mut out, &mut tables, TableId::SessionLeaves, |push| {
        for (n, s) in sessions.iter().enumerate() {
            key_rows(push, n, s.leaves.iter());
        }
    });
    let mut tags: Vec<(&str, &SeqSet)> = index.tags.iter().map(|(t, s)| (t.as_str(), s)).collect();
    tags.sort_unstable_by_key(|(t, _)| *t);
    table(&mut out, &mut tables, TableId::Tags, |push| {
        for (n, (_, set)) in tags.iter().enumerate() {
            key_rows(push, n, set.iter());
        }
    });
    let mut hashes: Vec<(Hash, u32)> = Vec::with_capacity(live as usize);
    table(&mut out, &mut tables, TableId::ChunkSlots, |push| {
        let mut row = Vec::with_capacity(TableId::ChunkSlots.width());
        for (slot, new) in remap.iter().enumerate() {
            if *new != NO_SLOT {
                let info = chunks.get(slot as Slot);
                row.clear();
                info.write(&mut row);
                push(&row);
                hashes.push((info.hash, *new));
            }
        }
    });
    hashes.sort_unstable_by_key(|(h, _)| *h);
    table(&mut out, &mut tables, TableId::ChunkHashes, |push| {
        for (hash, slot) in &hashes {
            let mut r = [0u8; 36];
            r[..32].copy_from_slice(&hash.0);
            r[32..].copy_from_slice(&slot.to_le_bytes());
            push(&r);
        }
    });
    drop(hashes);
    table(&mut out, &mut tables, TableId::ChunkNumbers, |push| {
        for slot in chunks.numbers() {
            let new = remap.get(slot as usize).copied().unwrap_or(NO_SLOT);
            push(&new.to_le_bytes());
        }
    });

    let summary = Summary {
        point,
        counters: Counters::of(index),
        sessions: sessions
            .iter()
            .map(|s| SessionSnap {
                info: SessionInfo {
                    checkpoints: s.seqs.len() as u64,
                    ..SessionInfo::of(s)
                },
                leaves: s.leaves.len() as u64,
            })
            .collect(),
        tags: tags
            .iter()
            .map(|(t, set)| (Cow::Borrowed(*t), set.len() as u64))
            .collect(),
        checkpoints: index.checkpoints.len() as u64,
        chunks: live,
        stored_bytes: chunks.stored_bytes(),
        next_chunk_number: chunks.next_number(),
        tables,
        heap,
    };
    let summary_start = out.len();
    let mut out = postcard::to_extend(&summary, out).ok()?;
    let summary_len = u32::try_from(out.len() - summary_start).ok()?;
    out.extend_from_slice(&summary_len.to_le_bytes());
    let sum = checksum(&out[..PREFIX_LEN], &out[summary_start..]);
    out.extend_from_slice(&sum.0);
    Some(out)
}

/// The point `log_bytes` into the log, where the frame `anchor` (its position and bytes) ends,
/// with `index`'s chain there.
fn point_of(index: &Index, log_bytes: u64, anchor: (u64, &[u8])) -> Option<Point> {
    let chain = &index.chain;
    Some(Point {
        format: chain.version.number(),
        log_bytes,
        anchor_at: anchor.0,
        anchor_len: u32::try_from(anchor.1.len()).ok()?,
        anchor_hash: Hash::of(anchor.1),
        head: chain.head(),
        previous_head: chain.previous_head,
        seals: chain.seals,
    })
}

/// The checksum of a snapshot: over its prefix, its summary and the summary's length (the
/// summary holds the checksums of every block of the rest).
fn checksum(prefix: &[u8], summary_and_len: &[u8]) -> Hash {
    let mut hasher = blake3::Hasher::new();
    hasher.update(prefix);
    hasher.update(summary_and_len);
    Hash(*hasher.finalize().as_bytes())
}

/// A snapshot of this encoding version around `body` (its tables, heap, summary and the
/// summary's length), with every checksum made valid: the summary's blocks checksums when the
/// summary decodes, and the snapshot's. How fuzzing and forgery tests reach past the
/// checksums.
#[cfg(feature = "conformance")]
pub(crate) fn seal(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(PREFIX_LEN + body.len() + CHECKSUM_LEN);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
    out.extend_from_slice(body);
    let summary_start = summary_range(&out, out.len()).map(|r| r.start);
    if let Some(start) = summary_start
        && let Ok(mut summary) = postcard::from_bytes::<Summary<'_>>(&out[start..out.len() - 4])
    {
        for region in summary.tables.iter_mut().chain([&mut summary.heap]) {
            let (at, len) = (region.at as usize, region.len as usize);
            if let Some(bytes) = at.checked_add(len).and_then(|end| out.get(at..end)) {
                region.sums = RegionSnap::of(bytes, 0).sums;
            }
        }
        if let Ok(resummed) = postcard::to_allocvec(&summary) {
            let mut sealed = out[..start].to_vec();
            sealed.extend_from_slice(&resummed);
            sealed.extend_from_slice(&(resummed.len() as u32).to_le_bytes());
            out = sealed;
        }
    }
    let start = summary_range(&out, out.len()).map_or(out.len(), |r| r.start);
    let sum = checksum(&out[..PREFIX_LEN], &out[start.max(PREFIX_LEN)..]);
    out.extend_from_slice(&sum.0);
    out
}

/// The body of a snapshot: what [`seal`] wraps.
#[cfg(feature = "conformance")]
pub(crate) fn body(snapshot: &[u8]) -> Option<&[u8]> {
    snapshot.get(PREFIX_LEN..snapshot.len().checked_sub(CHECKSUM_LEN)?)
}

/// Where the summary is in a snapshot whose summary length ends at `end`.
#[cfg(feature = "conformance")]
fn summary_range(bytes: &[u8], end: usize) -> Option<core::ops::Range<usize>> {
    let len_at = end.checked_sub(4)?;
    let len = u32::from_le_bytes(bytes.get(len_at..end)?.try_into().ok()?) as usize;
    let start = len_at.checked_sub(len).filter(|s| *s >= PREFIX_LEN)?;
    Some(start..len_at)
}

/// Reads a snapshot's prefix and trailer, checks its magic, version and checksum, and returns
/// its summary's bytes (with the summary's length after them) and where they start.
fn read_summary(file: &dyn SnapshotBytes) -> core::result::Result<(Vec<u8>, u64), SnapshotProblem> {
    let damaged = |_| SnapshotProblem::Damaged;
    let len = file.len();
    if len < (PREFIX_LEN + TRAILER_LEN) as u64 {
        return Err(SnapshotProblem::Damaged);
    }
    let mut prefix = [0u8; PREFIX_LEN];
    file.read_at(0, &mut prefix).map_err(damaged)?;
    if prefix[..MAGIC.len()] != MAGIC {
        return Err(SnapshotProblem::Damaged);
    }
    let version = u16::from_le_bytes([prefix[8], prefix[9]]);
    if version != SNAPSHOT_VERSION {
        return Err(SnapshotProblem::Version(version));
    }
    let mut trailer = [0u8; TRAILER_LEN];
    file.read_at(len - TRAILER_LEN as u64, &mut trailer)
        .map_err(damaged)?;
    let summary_len = u64::from(u32::from_le_bytes([
        trailer[0], trailer[1], trailer[2], trailer[3],
    ]));
    let start = (len - TRAILER_LEN as u64)
        .checked_sub(summary_len)
        .filter(|s| *s >= PREFIX_LEN as u64)
        .ok_or(SnapshotProblem::Damaged)?;
    let mut summary = alloc::vec![0u8; summary_len as usize + 4];
    file.read_at(start, &mut summary).map_err(damaged)?;
    if checksum(&prefix, &summary).0[..] != trailer[4..] {
        return Err(SnapshotProblem::Damaged);
    }
    summary.truncate(summary_len as usize);
    Ok((summary, start))
}

/// Decodes a snapshot's summary (which starts at `summary_start`) and checks that the regions
/// it lists cover the snapshot.
fn parse(bytes: &[u8], summary_start: u64) -> core::result::Result<Summary<'_>, SnapshotProblem> {
    let summary: Summary<'_> = postcard::from_bytes(bytes).map_err(|_| SnapshotProblem::Damaged)?;
    // The regions tile the bytes between the prefix and the summary: no byte goes unchecked.
    let mut regions: Vec<(u64, u64)> = summary
        .tables
        .iter()
        .chain([&summary.heap])
        .map(|r| (r.at, r.len))
        .collect();
    regions.sort_unstable();
    let mut at = PREFIX_LEN as u64;
    for (start, len) in regions {
        if start != at {
            return Err(SnapshotProblem::Damaged);
        }
        at = start.checked_add(len).ok_or(SnapshotProblem::Damaged)?;
    }
    if at != summary_start {
        return Err(SnapshotProblem::Damaged);
    }
    Ok(summary)
}

/// Where the log bytes that an open through `snapshot` reads begin: the position of its
/// anchor frame, which the open reads before it replays the frames after it. `None` when the
/// snapshot's prefix, checksum or summary do not check out (an open ignores such a snapshot
/// and replays the whole log). Reads the snapshot's first bytes and its summary at the end,
/// nothing else.
///
/// For backends that fetch the log on demand (a browser's IndexedDB): they fetch the log from
/// there on before the open, and the rest as reads ask for it. A delta written after the
/// snapshot has its point further on, so it needs nothing before this position either.
pub fn log_anchor(snapshot: &dyn SnapshotBytes) -> Option<u64> {
    let (summary, start) = read_summary(snapshot).ok()?;
    Some(parse(&summary, start).ok()?.point.anchor_at)
}

/// Why a snapshot is written, which decides between a delta and a whole snapshot.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Due {
    /// Asked for (at close, by the user): a delta only while it is small.
    Asked,
    /// The log grew during writes: a delta while what changed is smaller than the snapshot.
    Grown,
    /// The same, by a writer whose whole snapshots are merged away from it: a delta whenever
    /// the index reads from a snapshot of this log (the merge makes the whole one).
    GrownInBackground,
}

/// A whole snapshot due while a store is written, to build away from its writer: the snapshot
/// the store's index reads from, and the delta written of what changed since (see
/// [`Store::take_snapshot_merge`]). `Send`: built on another thread.
pub struct SnapshotMerge {
    base: Arc<dyn SnapshotBytes>,
    delta: Arc<Vec<u8>>,
    check_whole: u64,
}

impl core::fmt::Debug for SnapshotMerge {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SnapshotMerge")
            .field("base_bytes", &self.base.len())
            .field("delta_bytes", &self.delta.len())
            .finish()
    }
}

impl SnapshotMerge {
    /// The new snapshot: the base with the delta applied, encoded whole (what a writer would
    /// have written at the delta's point). `None` when they do not fit together (nothing is to
    /// be stored then). Costs as much as the snapshot is large, and reads the base's blocks.
    pub fn build(&self) -> Option<Vec<u8>> {
        let (summary, start) = read_summary(&*self.base).ok()?;
        let summary = parse(&summary, start).ok()?;
        let (mut index, _) = build(self.base.clone(), summary, self.check_whole).ok()?;
        let bytes = &self.delta;
        let delta = parse_delta(bytes)?;
        if index.persisted.as_ref()?.checksum != delta.base {
            return None;
        }
        let point = apply_delta(&mut index, delta, bytes)?;
        if index.damaged() {
            return None;
        }
        encode_at(&index, point)
    }
}

/// A merge handed out (or about to be): where its delta's point is, and the frames appended
/// since, as appended (their log position and bytes).
pub(crate) struct PendingMerge {
    point: u64,
    frames: Vec<(u64, Vec<u8>)>,
    taken: bool,
}

impl PendingMerge {
    pub(crate) fn appended(&mut self, at: u64, frames: &[u8]) {
        self.frames.push((at, frames.to_vec()));
    }
}

/// Whether the log holds the frame a snapshot's point names: its header first (so a forged
/// length allocates nothing), then the whole frame's hash.
fn anchor_matches<B: Backend>(backend: &B, point: &Point) -> bool {
    let mut head = [0u8; FRAME_HEADER_LEN];
    if backend.read_at(point.anchor_at, &mut head).is_err() {
        return false;
    }
    let Some(header) = crate::frame::FrameHeader::read(&head) else {
        return false;
    };
    if header.frame_len() != point.anchor_len as usize {
        return false;
    }
    let mut frame = alloc::vec![0u8; header.frame_len()];
    backend.read_at(point.anchor_at, &mut frame).is_ok() && Hash::of(&frame) == point.anchor_hash
}

fn bad(what: &'static str) -> SnapshotProblem {
    SnapshotProblem::Inconsistent(what)
}

/// Decodes a checkpoint of the heap, in a snapshot of `slots` live chunks; `None` when it
/// does not decode or names a chunk slot that is not there.
fn decode_entry(bytes: &[u8], slots: u32) -> Option<Entry> {
    let (e, rest): (EntrySnap<'_>, _) = postcard::take_from_bytes(bytes).ok()?;
    if !rest.is_empty() {
        return None;
    }
    entry_of(e, slots)
}

/// The entry a snapshot or delta keeps, in a table of `slots` chunk slots; `None` when it names
/// a slot that is not there or its metadata is not a JSON object.
fn entry_of(e: EntrySnap<'_>, slots: u32) -> Option<Entry> {
    let blob = |b: BlobSnap<'_>| {
        b.chunks.iter().all(|s| *s < slots).then(|| Blob {
            content_type: b.content_type.into_owned(),
            len: b.len,
            chunks: b.chunks.into_owned(),
        })
    };
    let state = blob(e.state)?;
    let mut attachments = BTreeMap::new();
    for (key, b) in e.attachments {
        attachments.insert(key.into_owned(), blob(b)?);
    }
    let cp = Checkpoint {
        id: e.id,
        session: e.session,
        namespace: e.namespace.into_owned(),
        seq: e.seq,
        parent: e.parent,
        parent_hash: e.parent_hash,
        created_at: e.created_at,
        message: e.message.into_owned(),
        tags: e.tags.into_iter().map(Cow::into_owned).collect(),
        trigger: e.trigger.into_owned(),
        metadata: parse_metadata(&e.metadata).ok()?,
        content_type: state.content_type.clone(),
        state_len: state.len,
        state_root: e.state_root,
        hash: e.hash,
    };
    let check = e.check.unwrap_or(check_of(&cp.hash));
    Some(Entry {
        cp,
        state,
        annotations: e.annotations.into_owned(),
        attachments,
        children: e.children,
        record_bytes: e.record_bytes,
        check,
    })
}

/// Builds the index a snapshot describes over its bytes: the summary's parts in memory, the
/// tables read in place. What can be checked without reading the tables is checked here; a
/// snapshot up to [`Options::snapshot_check_whole`](crate::Options::snapshot_check_whole) is checked whole ([`check_whole`]). A hostile or
/// buggy snapshot must be refused here or reported when read, never panic later.
fn build(
    file: Arc<dyn SnapshotBytes>,
    summary: Summary<'_>,
    check_whole_up_to: u64,
) -> core::result::Result<(Index, Point), SnapshotProblem> {
    let point = summary.point;
    if point.version().is_none() {
        return Err(bad("unknown log format"));
    }
    // Every chunk number took at least a byte of the log: a larger count is not a snapshot of
    // it.
    if summary.next_chunk_number > point.log_bytes {
        return Err(bad("more chunk numbers than log bytes"));
    }
    let small = file.len() <= check_whole_up_to;
    let mut sum = [0u8; CHECKSUM_LEN];
    file.read_at(file.len() - CHECKSUM_LEN as u64, &mut sum)
        .map_err(|_| SnapshotProblem::Damaged)?;
    let snap = Arc::new(
        Persisted::new(
            file,
            (Hash(sum), point.log_bytes),
            summary.tables,
            summary.heap,
        )
        .ok_or(SnapshotProblem::Damaged)?,
    );
    if small && !snap.check_all() {
        return Err(SnapshotProblem::Damaged);
    }
    let rows = |id| snap.rows(id) as u64;
    // Saturating: a forged count cannot wrap round to the table's size.
    let total = |counts: &mut dyn Iterator<Item = u64>| counts.fold(0u64, u64::saturating_add);
    let session_rows = total(&mut summary.sessions.iter().map(|s| s.info.checkpoints));
    let leaf_rows = total(&mut summary.sessions.iter().map(|s| s.leaves));
    let tag_rows = total(&mut summary.tags.iter().map(|(_, n)| *n));
    if rows(TableId::Seqs) != summary.checkpoints
        || rows(TableId::Ids) != summary.checkpoints
        || rows(TableId::SessionSeqs) != session_rows
        || rows(TableId::SessionTimes) != session_rows
        || session_rows != summary.checkpoints
        || rows(TableId::SessionLeaves) != leaf_rows
        || rows(TableId::Tags) != tag_rows
        || rows(TableId::ChunkSlots) != u64::from(summary.chunks)
        || rows(TableId::ChunkHashes) != u64::from(summary.chunks)
        || rows(TableId::ChunkNumbers) != summary.next_chunk_number
    {
        return Err(bad("table sizes disagree with the summary"));
    }
    let mut index = Index::default();
    let base = |table, start: &mut usize, len: u64| {
        let rows = BaseRows {
            snap: snap.clone(),
            table,
            start: *start,
            end: *start + len as usize,
        };
        *start = rows.end;
        rows
    };
    let (mut seqs_at, mut leaves_at) = (0, 0);
    for s in summary.sessions {
        let (id, count) = (s.info.id, s.info.checkpoints);
        let mut times_at = seqs_at;
        let entry = s
            .info
            .entry(
                SeqSet::persisted(base(TableId::SessionSeqs, &mut seqs_at, count)),
                TimeSet::persisted(base(TableId::SessionTimes, &mut times_at, count)),
                SeqSet::persisted(base(TableId::SessionLeaves, &mut leaves_at, s.leaves)),
            )
            .ok_or(bad("session metadata"))?;
        index.ids.observe(id.as_uuid());
        if index.sessions.insert(id, entry).is_some() {
            return Err(bad("a session listed twice"));
        }
    }
    let mut tags_at = 0;
    let mut last_tag: Option<&str> = None;
    for (tag, count) in &summary.tags {
        if last_tag.is_some_and(|t| t >= &**tag) || *count == 0 {
            return Err(bad("tags out of order"));
        }
        last_tag = Some(tag);
        index.tags.insert(
            tag.to_string(),
            KeySet::persisted(base(TableId::Tags, &mut tags_at, *count)),
        );
    }
    let slots = summary.chunks;
    index.checkpoints = Entries::persisted(
        snap.clone(),
        Box::new(move |bytes| decode_entry(bytes, slots)),
    );
    index.chunks = ChunkTable::persisted(
        snap.clone(),
        slots,
        summary.next_chunk_number,
        summary.stored_bytes,
    );
    index.persisted = Some(snap);
    summary
        .counters
        .restore(&mut index, &point)
        .ok_or(bad("the id generator"))?;
    Ok((index, point))
}

/// Checks every part of an index read from a snapshot against the others, as a replay would
/// have built them: checkpoints in seq order and found by id, each session's and tag's sets,
/// branch tips and head, the chunk table's counts, hashes and numbers, and the counters.
fn check_whole(index: &Index) -> core::result::Result<(), SnapshotProblem> {
    let chunks = &index.chunks;
    let mut refs = alloc::vec![0u32; chunks.slot_count()];
    // Each session's seqs, and (created_at, seq) pairs.
    type Expected = (Vec<u64>, Vec<(u64, u64)>);
    let mut by_session: HashMap<SessionId, Expected> = HashMap::new();
    let mut by_tag: HashMap<&str, Vec<u64>> = HashMap::new();
    let (mut count, mut last_seq) = (0usize, None);
    let (mut annotations, mut attachments, mut logical) = (0u64, 0u64, 0u64);
    for e in index.checkpoints.iter() {
        let cp = &e.cp;
        if last_seq.is_some_and(|l| l >= cp.seq) || cp.seq >= index.next_seq {
            return Err(bad("checkpoint seqs out of order"));
        }
        last_seq = Some(cp.seq);
        count += 1;
        if index.checkpoints.seq_of(&cp.id) != Some(cp.seq) {
            return Err(bad("a checkpoint not found by its id"));
        }
        if index.ids.last() < cp.id.as_uuid().as_u128() && cp.id.as_uuid().get_version_num() == 7 {
            return Err(bad("the id generator"));
        }
        let s = by_session.entry(cp.session).or_default();
        s.0.push(cp.seq);
        s.1.push((cp.created_at, cp.seq));
        for tag in &cp.tags {
            by_tag.entry(tag.as_str()).or_default().push(cp.seq);
        }
        for blob in e.blobs() {
            for &slot in &blob.chunks {
                refs[slot as usize] += 1;
            }
            logical += blob.len;
        }
        annotations += e.annotations.len() as u64;
        attachments += e.attachments.len() as u64;
    }
    if index.damaged() || count != index.checkpoints.len() {
        return Err(SnapshotProblem::Damaged);
    }
    if (annotations, attachments, logical)
        != (
            index.annotation_count,
            index.attachment_count,
            index.logical_bytes,
        )
    {
        return Err(bad("the counters"));
    }
    for (id, s) in &index.sessions {
        let (seqs, times) = by_session.remove(id).unwrap_or_default();
        if !s.seqs.iter().eq(seqs.iter().copied())
            || !s.by_time.iter().eq(sorted(times))
            || s.session.checkpoints != seqs.len() as u64
            || s.leaves.iter().any(|seq| !s.seqs.contains(&seq))
            || !is_sorted(s.leaves.iter())
            || s.session.head.is_some_and(|h| {
                index
                    .checkpoints
                    .get(&h)
                    .is_none_or(|e| e.cp.session != *id)
            })
        {
            return Err(bad("a session's checkpoints, branches or head"));
        }
    }
    if !by_session.is_empty() {
        return Err(bad("a checkpoint of an unknown session"));
    }
    for (tag, set) in &index.tags {
        let seqs = by_tag.remove(tag.as_str()).unwrap_or_default();
        if !set.iter().eq(seqs) {
            return Err(bad("a tag's checkpoints"));
        }
    }
    if !by_tag.is_empty() {
        return Err(bad("a tag's checkpoints"));
    }
    let mut stored = 0;
    for (slot, refs) in refs.iter().enumerate() {
        let info = chunks.get(slot as Slot);
        // A free slot (freed since the snapshot, under a delta) is referenced by nothing.
        if *refs == 0 && info.refs == 0 {
            continue;
        }
        if info.refs != *refs
            || chunks.lookup(&info.hash) != Some(slot as Slot)
            || chunks.by_number(info.number) != Some(slot as Slot)
        {
            return Err(bad("the chunk table's counts, hashes or numbers"));
        }
        stored += u64::from(info.len);
    }
    // Numbers are handed out in log order, and a chunk's bytes sit where the log was then:
    // in number order, positions only grow.
    let mut last_pos = None;
    for slot in chunks.numbers() {
        if slot == NO_SLOT {
            continue;
        }
        if slot as usize >= refs.len() {
            return Err(bad("a chunk number names no chunk"));
        }
        let pos = chunks.get(slot).pos;
        if last_pos.is_some_and(|last| last >= pos) {
            return Err(bad("chunk numbers out of the order of their positions"));
        }
        last_pos = Some(pos);
    }
    if stored != chunks.stored_bytes() || index.damaged() {
        return Err(bad("the chunk table's counts, hashes or numbers"));
    }
    Ok(())
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort_unstable();
    v
}

fn is_sorted<T: Ord>(mut keys: impl Iterator<Item = T>) -> bool {
    let Some(mut last) = keys.next() else {
        return true;
    };
    for key in keys {
        if key <= last {
            return false;
        }
        last = key;
    }
    true
}

// ----- deltas ---------------------------------------------------------------------------

const DELTA_MAGIC: [u8; 8] = *b"RWNDDLT\0";

/// What changed since a snapshot, written instead of a whole new snapshot (see the module
/// docs): everything the index holds in memory on top of the snapshot's tables.
#[derive(Serialize, Deserialize)]
struct Delta<'a> {
    /// The checksum of the snapshot this delta is on top of.
    base: Hash,
    point: Point,
    counters: Counters,
    #[serde(borrow)]
    sessions: Vec<SessionDelta<'a>>,
    #[serde(borrow)]
    tags: Vec<(Cow<'a, str>, KeyDelta<u64>)>,
    /// Checkpoints added or changed since the snapshot (each encoded on its own, so an open
    /// decodes one when it is first read), and the snapshot's seqs removed or changed.
    #[serde(borrow)]
    entries: Vec<DeltaEntry<'a>>,
    hidden: Vec<u64>,
    chunks: ChunkDelta,
}

/// A checkpoint of a delta: its seq and id, and its entry as the heap of a snapshot encodes it
/// (with the slots of the table in memory).
#[derive(Serialize, Deserialize)]
struct DeltaEntry<'a> {
    seq: u64,
    id: CheckpointId,
    #[serde(borrow, with = "borrowed_bytes")]
    entry: Cow<'a, [u8]>,
}

/// Bytes as postcard's byte strings, borrowed from the input when decoded.
mod borrowed_bytes {
    use alloc::borrow::Cow;

    use serde::{Deserialize, Deserializer, Serializer};

    // serde's `with` hands over a reference to the field as it is.
    #[allow(clippy::ptr_arg)]
    pub fn serialize<S: Serializer>(bytes: &Cow<'_, [u8]>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Cow<'de, [u8]>, D::Error> {
        <&'de [u8]>::deserialize(d).map(Cow::Borrowed)
    }
}

#[derive(Serialize, Deserialize)]
struct SessionDelta<'a> {
    #[serde(borrow)]
    info: SessionInfo<'a>,
    seqs: KeyDelta<u64>,
    times: KeyDelta<(u64, u64)>,
    leaves: KeyDelta<u64>,
}

/// Encodes what `index` changed since the snapshot it reads from, as a delta of the point
/// `point`; `None` when it reads from none, or is not at a sealed point.
fn encode_delta(index: &Index, point: Point) -> Option<Vec<u8>> {
    let base = index.persisted.as_ref()?;
    if !index.at_sealed_point() || index.damaged() {
        return None;
    }
    let (entries, hidden) = index.checkpoints.changes();
    // In name order, so a delta's bytes depend on the index alone.
    let mut tags: Vec<(Cow<'_, str>, KeyDelta<u64>)> = index
        .tags
        .iter()
        .map(|(t, set)| (Cow::Borrowed(t.as_str()), set.delta()))
        .collect();
    tags.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let delta = Delta {
        base: base.checksum,
        point,
        counters: Counters::of(index),
        sessions: index
            .sessions
            .values()
            .map(|s| SessionDelta {
                info: SessionInfo::of(s),
                seqs: s.seqs.delta(),
                times: s.by_time.delta(),
                leaves: s.leaves.delta(),
            })
            .collect(),
        tags,
        entries: entries
            .map(|(seq, id, change)| {
                let entry = match change {
                    Change::Entry(e) => {
                        Cow::Owned(postcard::to_allocvec(&entry_snap(e, None)).ok()?)
                    }
                    Change::Encoded(bytes) => Cow::Borrowed(bytes),
                };
                Some(DeltaEntry { seq, id, entry })
            })
            .collect::<Option<Vec<_>>>()?,
        hidden,
        chunks: index.chunks.delta()?,
    };
    let mut out = Vec::new();
    out.extend_from_slice(&DELTA_MAGIC);
    out.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
    let mut out = postcard::to_extend(&delta, out).ok()?;
    let sum = Hash::of(&out);
    out.extend_from_slice(&sum.0);
    Some(out)
}

/// A delta of this encoding version around `body`, on top of `snapshot`: when the body
/// decodes, it is made to name that snapshot and the snapshot's point (so an open goes on to
/// apply it); then its checksum is made valid. How fuzzing reaches past the checks.
#[cfg(feature = "conformance")]
pub(crate) fn seal_delta(body: &[u8], snapshot: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    let base = (|| {
        let (summary, _) = read_summary(&snapshot.to_vec()).ok()?;
        let point = postcard::from_bytes::<Summary<'_>>(&summary).ok()?.point;
        let sum = snapshot.get(snapshot.len().checked_sub(CHECKSUM_LEN)?..)?;
        Some((Hash(sum.try_into().ok()?), point))
    })();
    if let Some((sum, point)) = base
        && let Ok(mut delta) = postcard::from_bytes::<Delta<'_>>(&body)
    {
        delta.base = sum;
        delta.point = point;
        if let Ok(bytes) = postcard::to_allocvec(&delta) {
            body = bytes;
        }
    }
    let mut out = Vec::with_capacity(PREFIX_LEN + body.len() + CHECKSUM_LEN);
    out.extend_from_slice(&DELTA_MAGIC);
    out.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
    out.extend_from_slice(&body);
    let sum = Hash::of(&out);
    out.extend_from_slice(&sum.0);
    out
}

/// Checks a delta's magic, version and checksum, and decodes it.
fn parse_delta(bytes: &[u8]) -> Option<Delta<'_>> {
    if bytes.len() < PREFIX_LEN + CHECKSUM_LEN || bytes[..DELTA_MAGIC.len()] != DELTA_MAGIC {
        return None;
    }
    if u16::from_le_bytes([bytes[8], bytes[9]]) != SNAPSHOT_VERSION {
        return None;
    }
    let (covered, sum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
    if Hash::of(covered).0[..] != *sum {
        return None;
    }
    postcard::from_bytes(&covered[PREFIX_LEN..]).ok()
}

/// Puts what `delta` (decoded from `file`) changed on top of `index`, just built from the
/// snapshot the delta names; `None` when it does not fit (then `index` is half changed: the
/// caller builds it again). The delta's checkpoints stay encoded in `file` until read.
fn apply_delta(index: &mut Index, delta: Delta<'_>, file: &Arc<Vec<u8>>) -> Option<Point> {
    delta.point.version()?;
    index.chunks.apply_delta(delta.chunks)?;
    let slots_now = u32::try_from(index.chunks.slot_count()).ok()?;
    let start = file.as_ptr() as usize;
    let mut entries = Vec::with_capacity(delta.entries.len());
    for e in &delta.entries {
        let Cow::Borrowed(bytes) = &e.entry else {
            return None;
        };
        entries.push((e.seq, e.id, bytes.as_ptr() as usize - start, bytes.len()));
    }
    index.checkpoints.apply_changes(
        entries,
        delta.hidden,
        file.clone(),
        Box::new(move |bytes| decode_entry(bytes, slots_now)),
    )?;
    let mut before = core::mem::take(&mut index.sessions);
    for s in delta.sessions {
        // A session deleted and created again since the snapshot has no snapshot layer.
        let id = s.info.id;
        let old = before.remove(&id);
        let rows = |f: fn(&SessionEntry) -> Option<BaseRows>, based: bool| {
            old.as_ref().and_then(f).filter(|_| based)
        };
        let entry = s.info.entry(
            KeySet::with_delta(rows(|o| o.seqs.base_rows(), s.seqs.based), s.seqs)?,
            KeySet::with_delta(rows(|o| o.by_time.base_rows(), s.times.based), s.times)?,
            KeySet::with_delta(rows(|o| o.leaves.base_rows(), s.leaves.based), s.leaves)?,
        )?;
        index.ids.observe(id.as_uuid());
        if index.sessions.insert(id, entry).is_some() {
            return None;
        }
    }
    let mut tags_before = core::mem::take(&mut index.tags);
    for (tag, d) in delta.tags {
        let rows = tags_before
            .remove(&*tag)
            .and_then(|t| t.base_rows())
            .filter(|_| d.based);
        if index
            .tags
            .insert(tag.into_owned(), KeySet::with_delta(rows, d)?)
            .is_some()
        {
            return None;
        }
    }
    delta.counters.restore(index, &delta.point)?;
    Some(delta.point)
}

/// The snapshot in `file` read as an index: built, with the backend's delta on top when it
/// names this snapshot and the log holds its point, and checked whole when it is small
/// enough. Returns the index, the point it stands at and whether a delta was used.
fn open_persisted<B: Backend>(
    backend: &mut B,
    file: &Arc<dyn SnapshotBytes>,
    options: &crate::Options,
) -> core::result::Result<(Index, Point, bool), SnapshotProblem> {
    let (summary, summary_start) = read_summary(&**file)?;
    let summary = parse(&summary, summary_start)?;
    // The anchor before the content: a stale snapshot costs a few reads, not a decode.
    if !anchor_matches(backend, &summary.point) {
        return Err(SnapshotProblem::Stale);
    }
    let build_base = || {
        let (summary, start) = read_summary(&**file)?;
        let summary = parse(&summary, start)?;
        build(file.clone(), summary, options.snapshot_check_whole)
    };
    let (mut index, mut point) = build(file.clone(), summary, options.snapshot_check_whole)?;
    let mut with_delta = false;
    if let Ok(Some(bytes)) = backend.read_snapshot_delta()
        && let bytes = Arc::new(bytes)
        && let Some(delta) = parse_delta(&bytes)
        && index
            .persisted
            .as_ref()
            .is_some_and(|p| p.checksum == delta.base)
        && anchor_matches(backend, &delta.point)
    {
        match apply_delta(&mut index, delta, &bytes) {
            Some(at) => {
                point = at;
                with_delta = true;
            }
            // A delta that does not fit its snapshot is not used: the log after the
            // snapshot's point is replayed instead.
            None => (index, point) = build_base()?,
        }
    }
    if file.len() <= options.snapshot_check_whole {
        check_whole(&index)?;
    }
    Ok((index, point, with_delta))
}

/// An index loaded from a snapshot and the log after it.
pub(crate) struct Loaded {
    pub index: Index,
    pub report: crate::LoadReport,
    /// The log's size at the snapshot's point, and the snapshot's size.
    pub snapshot_at: u64,
    pub snapshot_len: u64,
}

/// Finds, checks and loads `backend`'s snapshot, then replays the log after its point. When
/// there is none or it cannot be used, says so (the backend is then ready for a whole replay).
pub(crate) fn load<B: Backend>(
    backend: &mut B,
    options: &crate::Options,
) -> core::result::Result<Loaded, SnapshotUse> {
    let file = match backend.open_snapshot() {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Err(SnapshotUse::None),
        Err(err) => {
            return Err(SnapshotUse::Ignored(SnapshotProblem::Unreadable(
                err.to_string(),
            )));
        }
    };
    let ignored = SnapshotUse::Ignored;
    let snapshot_len = file.len();
    let (mut index, point, _) = open_persisted(backend, &file, options).map_err(ignored)?;
    index.chain.watch = options.expect_head;
    index.last_frame = Some((point.anchor_at, point.anchor_len));
    let tail = backend.load_from(point.end(), &mut |pos, payload| {
        index.replay_frame(pos, payload)
    });
    let mut report = match tail {
        // What the tail met may be the snapshot's damage rather than the log's.
        _ if index.damaged() => return Err(ignored(SnapshotProblem::Damaged)),
        Ok(Some(report)) => report,
        Ok(None) => return Err(SnapshotUse::None),
        Err(err) => return Err(ignored(SnapshotProblem::Tail(err.to_string()))),
    };
    report.snapshot = SnapshotUse::Used {
        tail_frames: report.frames,
    };
    report.log_bytes += point.log_bytes;
    Ok(Loaded {
        index,
        report,
        snapshot_at: point.log_bytes,
        snapshot_len,
    })
}

impl<B: Backend, E: Env> Store<B, E> {
    /// Persists the index as a snapshot (see [`crate::snapshot`]) so the next open
    /// replays only what is written after it: a delta of what changed since the snapshot the
    /// index reads from while that is small (the log has grown since by at most 8 MiB or a
    /// 64th of the snapshot's size: an open decodes a delta whole), else a whole new snapshot.
    /// Syncs the log first. Returns whether one was written: not by a read-only store, a
    /// backend that keeps none, or in the middle of a write.
    pub fn write_snapshot(&mut self) -> Result<bool> {
        self.write_snapshot_as(Due::Asked)
    }

    /// [`write_snapshot`](Store::write_snapshot), with the choice between a delta and a whole
    /// snapshot made as `due` says.
    fn write_snapshot_as(&mut self, due: Due) -> Result<bool> {
        if self.backend.is_read_only()
            || !self.backend.keeps_snapshots()
            || self.write_error.is_some()
        {
            return Ok(false);
        }
        if self.index.damaged() {
            // The snapshot read from turned out damaged: it is made unusable (an empty one is
            // ignored as damaged), so the next open replays the log, and the writer after that
            // writes a good one.
            self.backend.write_snapshot(&[])?;
            let _ = self.backend.write_snapshot_delta(&[]);
            return Ok(false);
        }
        let Some((at, len)) = self.index.last_frame else {
            return Ok(false);
        };
        let mut anchor = alloc::vec![0u8; len as usize];
        self.backend.read_at(at, &mut anchor)?;
        let based = self.snapshot_len > 0 && self.index.persisted.is_some();
        // Asked for one (at close, after a merge, by the user): a delta only while it is small,
        // since an open decodes a delta whole; a writer in the middle of writes leaves larger
        // ones, up to the snapshot's size, and merges them (see `snapshot_if_grown`).
        let delta = match due {
            Due::Asked => self.delta_is_small(),
            Due::Grown => self.delta_is_due(),
            Due::GrownInBackground => based,
        };
        let delta_only = due == Due::GrownInBackground;
        if delta
            && let Some(point) = point_of(&self.index, self.log_bytes, (at, &anchor))
            && let Some(bytes) = encode_delta(&self.index, point)
        {
            self.backend.sync().map_err(|err| self.poison(err))?;
            match self.backend.write_snapshot_delta(&bytes) {
                Ok(true) => {
                    self.snapshot_at = self.log_bytes;
                    self.delta_len = bytes.len() as u64;
                    self.ops.snapshot_deltas_written += 1;
                    if let Some(merge) = self.merge.as_mut().filter(|m| !m.taken) {
                        // A merge not handed out yet merges this later delta.
                        merge.point = self.log_bytes;
                        merge.frames.clear();
                    } else if delta_only && !self.delta_is_due() && self.merge.is_none() {
                        // The whole snapshot is due: merging this delta into the snapshot
                        // makes it, and the frames written meanwhile are kept to rebase on it.
                        self.merge = Some(PendingMerge {
                            point: self.log_bytes,
                            frames: Vec::new(),
                            taken: false,
                        });
                    }
                    return Ok(true);
                }
                // A backend that keeps no deltas gets a whole snapshot.
                Ok(false) | Err(BackendError::ReadOnly) => {}
                Err(err) => {
                    self.ops.backend_errors += 1;
                    return Err(Error::Backend(err));
                }
            }
        }
        let Some(bytes) = encode(&self.index, self.log_bytes, (at, &anchor)) else {
            return Ok(false);
        };
        self.backend.sync().map_err(|err| self.poison(err))?;
        let written = match self.backend.write_snapshot(&bytes) {
            Ok(written) => written,
            Err(BackendError::ReadOnly) => false,
            Err(err) => {
                self.ops.backend_errors += 1;
                return Err(Error::Backend(err));
            }
        };
        if written {
            self.ops.snapshots_written += 1;
            // A merge not handed out yet would merge into the snapshot this replaces (one
            // handed out is refused when it ends, see `finish_snapshot_merge`).
            self.merge.take_if(|m| !m.taken);
            self.snapshot_at = self.log_bytes;
            self.snapshot_len = bytes.len() as u64;
            self.delta_len = 0;
            drop(bytes);
            // A delta of the snapshot replaced names it, so no open would use it; it goes.
            let _ = self.backend.write_snapshot_delta(&[]);
            self.continue_from_snapshot();
        }
        Ok(written)
    }

    /// Whether the next snapshot is a delta: the index reads from a snapshot that describes
    /// this log (a rewrite replaced the log the snapshot describes, and says so by forgetting
    /// its size), and the log has grown since that snapshot by less than the snapshot's size
    /// (what changed since, which a delta holds, is then smaller than a whole snapshot).
    fn delta_is_due(&self) -> bool {
        self.snapshot_len > 0
            && self
                .index
                .persisted
                .as_ref()
                .is_some_and(|p| self.log_bytes.saturating_sub(p.log_bytes) < p.len())
    }

    /// Whether a delta written now would be small enough for an open to decode at once: the
    /// log has grown since the snapshot by at most [`SMALL_DELTA_GROWTH`] or a 64th of the
    /// snapshot's size, whichever is more (else an explicit snapshot is a whole one).
    fn delta_is_small(&self) -> bool {
        self.delta_is_due()
            && self.index.persisted.as_ref().is_some_and(|p| {
                self.log_bytes.saturating_sub(p.log_bytes) <= SMALL_DELTA_GROWTH.max(p.len() / 64)
            })
    }

    /// After writing a snapshot: the index reads its content from it, as an open would, so
    /// memory holds what changes from now on rather than everything written so far. Should the
    /// snapshot not read back, the index stays as it is (it is the same content).
    fn continue_from_snapshot(&mut self) {
        let Ok(Some(file)) = self.backend.open_snapshot() else {
            return;
        };
        // On a shared log the snapshot read back may be another writer's, of a later point
        // of the log than this store has reached: only its own point is this content.
        if let Ok((index, _, false)) = open_persisted(&mut self.backend, &file, &self.options)
            && index
                .persisted
                .as_ref()
                .is_some_and(|p| p.log_bytes == self.log_bytes)
        {
            self.index.replace_content(index);
        }
    }

    /// Whether the log has grown enough since the last snapshot or delta (or the open) that a
    /// writer closing now should write one: by at least 64 KiB, and — once the log has grown
    /// past the snapshot's size — by an eighth of the last snapshot's size. Hosts call
    /// [`write_snapshot`](Store::write_snapshot) at close when it is (a delta while small, else
    /// a whole snapshot: a writer closes leaving a store that opens fast).
    pub fn snapshot_due(&self) -> bool {
        let grown = self.log_bytes.saturating_sub(self.snapshot_at);
        let enough = if self.delta_is_due() {
            64 << 10
        } else {
            (64 << 10).max(self.snapshot_len / 8)
        };
        !self.backend.is_read_only() && self.backend.keeps_snapshots() && grown >= enough
    }

    /// After a log rewrite, once memory follows the new log: a snapshot of it, worth its cost
    /// beside a rewrite's. Failing to write it fails nothing: the log holds the store.
    pub(crate) fn snapshot_rewritten(&mut self) {
        let _ = self.write_snapshot();
    }

    /// After the log was read again whole: no snapshot or delta was written of it yet.
    pub(crate) fn reset_snapshot_schedule(&mut self) {
        self.snapshot_at = 0;
        self.snapshot_len = 0;
        self.delta_len = 0;
    }

    /// After a write: a snapshot once the log grew past [`Options::snapshot_every`](crate::Options::snapshot_every) and the
    /// last snapshot's size since the last one. A snapshot that cannot be written is not the
    /// write's failure (the log holds the write): the next one tries again.
    pub(crate) fn snapshot_if_grown(&mut self) {
        let every = self.options.snapshot_every;
        let grown = self.log_bytes.saturating_sub(self.snapshot_at);
        // Each snapshot or delta written costs its size: the next comes after as much growth
        // (so the cost of keeping them stays in proportion to what is written).
        let last = if self.delta_is_due() {
            self.delta_len
        } else {
            self.snapshot_len
        };
        if every > 0 && grown >= every.max(last) {
            // Whatever happens, the next try comes after as much growth again, not at every
            // write.
            let background =
                self.options.snapshot_in_background || self.backend.runs_snapshot_merges();
            let _ = self.write_snapshot_as(if background {
                Due::GrownInBackground
            } else {
                Due::Grown
            });
            self.snapshot_at = self.log_bytes;
        }
        self.tend_snapshot_merge();
    }

    /// After a write, when the backend runs merges (see [`Backend::runs_snapshot_merges`]):
    /// installs the merge it finished, and hands it the next one due.
    fn tend_snapshot_merge(&mut self) {
        if self.merge.is_none() || !self.backend.runs_snapshot_merges() {
            return;
        }
        if self.snapshot_merge_pending() {
            match self.backend.snapshot_merge_done(false) {
                Some(built) => self.end_backend_merge(built),
                None => return,
            }
        }
        if let Some(merge) = self.take_snapshot_merge()
            && !self.backend.start_snapshot_merge(merge)
        {
            self.merge = None;
        }
    }

    /// Waits for the merge the backend runs, if one does, and installs its snapshot. Hosts call
    /// it before closing a writer (then [`snapshot_due`](Store::snapshot_due)), so the two
    /// never write the snapshot at once and the next open starts from the newest one.
    pub fn settle_snapshot_merge(&mut self) {
        if self.snapshot_merge_pending() && self.backend.runs_snapshot_merges() {
            let built = self.backend.snapshot_merge_done(true).unwrap_or(false);
            self.end_backend_merge(built);
        }
    }

    /// Before the log is replaced: a merge describes the old log, so it is not taken up (one
    /// the backend runs is waited for and its result removed).
    pub(crate) fn drop_snapshot_merge(&mut self) {
        if self.snapshot_merge_pending()
            && self.backend.runs_snapshot_merges()
            && self.backend.snapshot_merge_done(true) == Some(true)
        {
            self.backend.discard_merged_snapshot();
        }
        self.merge = None;
    }

    /// Ends the merge the backend ran: its snapshot installed when it was built and still
    /// describes this log, else removed.
    fn end_backend_merge(&mut self, built: bool) {
        let installed = self.finish_snapshot_merge(|backend| {
            if built {
                backend.install_merged_snapshot()
            } else {
                Ok(false)
            }
        });
        if built && !matches!(installed, Ok(true)) {
            self.backend.discard_merged_snapshot();
        }
    }

    /// The whole snapshot left to the host (see
    /// [`Options::snapshot_in_background`](crate::Options::snapshot_in_background)): the
    /// snapshot the index reads from and the delta just written of what changed since, to
    /// merge into a new snapshot with [`SnapshotMerge::build`] on another thread, store beside
    /// the backend's snapshot by the backend's means, and put in place with
    /// [`finish_snapshot_merge`](Store::finish_snapshot_merge). Handed out once; `None` when
    /// none is due. Until it is finished the store keeps a copy of what it appends.
    pub fn take_snapshot_merge(&mut self) -> Option<SnapshotMerge> {
        let merge = self.merge.as_mut().filter(|m| !m.taken)?;
        let base = self
            .index
            .persisted
            .as_ref()
            .map(|p| p.file().clone())
            .filter(|_| self.snapshot_at == merge.point);
        let delta = self.backend.read_snapshot_delta().ok().flatten();
        match (base, delta) {
            (Some(base), Some(delta)) => {
                merge.taken = true;
                Some(SnapshotMerge {
                    base,
                    delta: Arc::new(delta),
                    check_whole: self.options.snapshot_check_whole,
                })
            }
            // The delta was replaced since (a later one, or a whole snapshot): nothing to
            // merge; the next one that falls due starts again.
            _ => {
                self.merge = None;
                None
            }
        }
    }

    /// Whether a merge handed out by [`take_snapshot_merge`](Store::take_snapshot_merge) still
    /// waits for [`finish_snapshot_merge`](Store::finish_snapshot_merge) (false once a
    /// compaction replaced the log it describes: finishing it then installs nothing).
    pub fn snapshot_merge_pending(&self) -> bool {
        self.merge.as_ref().is_some_and(|m| m.taken)
    }

    /// Ends the merge handed out by [`take_snapshot_merge`](Store::take_snapshot_merge):
    /// `install` puts the snapshot it built in place as the backend's snapshot (atomically;
    /// `Ok(false)`: it was not built or not stored, and nothing changes). It is called only
    /// while the merge still describes this log (not after a compaction, which replaced it).
    /// The index then reads from the new snapshot, with the writes made since replayed on top,
    /// so the next deltas are small again. Returns whether the snapshot was installed.
    pub fn finish_snapshot_merge<F>(&mut self, install: F) -> Result<bool>
    where
        F: FnOnce(&mut B) -> core::result::Result<bool, BackendError>,
    {
        let Some(merge) = self.merge.take_if(|m| m.taken) else {
            return Ok(false);
        };
        // A whole snapshot written since (an explicit `write_snapshot`) is newer than this one.
        let superseded = self
            .index
            .persisted
            .as_ref()
            .is_some_and(|p| p.log_bytes >= merge.point);
        if superseded || !self.index.at_sealed_point() || self.write_error.is_some() {
            return Ok(false);
        }
        if !install(&mut self.backend).map_err(Error::Backend)? {
            return Ok(false);
        }
        self.ops.snapshots_merged += 1;
        self.rebase_on_merged(merge);
        Ok(true)
    }

    /// After a merged snapshot was installed: the index reads from it, with the frames
    /// appended since its point replayed on top — unless that does not give the same store
    /// (then the index stays as it is: the snapshot on disk is sound either way).
    fn rebase_on_merged(&mut self, merge: PendingMerge) {
        // As an open reads it (the delta on disk names the old snapshot, so it is not used).
        let Ok(Some(file)) = self.backend.open_snapshot() else {
            return;
        };
        let snapshot_len = file.len();
        let Ok((mut index, point, false)) = open_persisted(&mut self.backend, &file, &self.options)
        else {
            return;
        };
        if point.log_bytes != merge.point {
            return;
        }
        index.chain.watch = self.options.expect_head;
        index.last_frame = Some((point.anchor_at, point.anchor_len));
        for (pos, bytes) in &merge.frames {
            for frame in crate::log::frames(bytes, 0) {
                let Ok(frame) = frame else {
                    return;
                };
                if index
                    .replay_frame(pos + frame.payload_offset() as u64, frame.payload)
                    .is_err()
                {
                    return;
                }
            }
        }
        // The same store, read another way: anything else is a bug, and the index stays.
        if index.damaged()
            || index.next_seq != self.index.next_seq
            || index.checkpoints.len() != self.index.checkpoints.len()
            || index.chain.head() != self.index.chain.head()
        {
            return;
        }
        self.index.replace_content(index);
        self.snapshot_len = snapshot_len;
        self.delta_len = 0;
    }
}
