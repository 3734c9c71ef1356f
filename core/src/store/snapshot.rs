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
//! A snapshot that does not check out — absent, damaged (its blake3 checksum), of another
//! encoding version, stale beyond its log (the anchor is not there or differs), inconsistent
//! in itself (a chunk slot out of range, counts that disagree), or whose tail does not apply —
//! is ignored, never trusted: the store replays the whole log, and the load report says why
//! ([`SnapshotUse::Ignored`]). An open that looks for a head (`verify --expect-head`), that
//! salvages a damaged log, or whose options say not to
//! ([`Options::use_snapshot`](crate::Options::use_snapshot), which `rewind verify` sets so that
//! every seal of the chain is checked) replays the whole log.
//!
//! **Encoding** (version 3): `RWNDIDX\0` (8 bytes), the encoding version (u16 LE), the body
//! (postcard: the point, the counters, the sessions, the chunk table slot by slot with its
//! free list and chunk numbers, and the number of checkpoints), then each checkpoint on its
//! own in seq order (postcard: its fields, its state's chunk slots, annotations and
//! attachments; decoded one at a time, so a load never holds them all decoded at once), and
//! the blake3 hash of everything before it (32 bytes). Versions 1 and 2 (never read now) kept the checkpoints inside the
//! body, and the chunks without their numbers.
//! Indexes that are derived (checkpoints by seq, tags, each session's seqs and times) are
//! rebuilt from the checkpoints. A snapshot is never the only copy of anything, so its
//! encoding may change between releases: one of another version is ignored and replaced.
//!
//! **What an open with a snapshot does not do**: it does not read the log before the point,
//! so damage there is found by `verify` (which reads everything) and by reads of the bytes
//! concerned, not at open.
//!
//! **When they are written** (writers only; a read-only open never writes one): by
//! [`Store::write_snapshot`], by a writer once the log has grown past
//! [`Options::snapshot_every`](crate::Options::snapshot_every) bytes and the size of its last snapshot since that snapshot,
//! after every compaction or vacuum, and by hosts when a writer closes
//! ([`Store::snapshot_due`]). The log is synced first, so a snapshot never describes writes
//! that a power cut could still take away.

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use super::Store;
use super::index::{Blob, CHECK_LEN, Entry, Index, SessionEntry, check_of, parse_metadata};
use super::seqs::{SeqSet, TimeSet};
use crate::annotation::Annotation;
use crate::backend::Backend;
use crate::chain::{Chain, Version};
use crate::checkpoint::{Checkpoint, Trigger};
use crate::chunks::{ChunkInfo, ChunkTable, Slot};
use crate::env::Env;
use crate::error::{BackendError, Error, Result};
use crate::frame::FRAME_HEADER_LEN;
use crate::id::{CheckpointId, Hash, IdGen, SessionId};
use crate::session::Session;

const MAGIC: [u8; 8] = *b"RWNDIDX\0";
/// The encoding version this build writes and reads.
pub const SNAPSHOT_VERSION: u16 = 3;
const PREFIX_LEN: usize = MAGIC.len() + 2;
const CHECKSUM_LEN: usize = 32;

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
}

#[derive(Serialize, Deserialize)]
struct Body<'a> {
    point: Point,
    next_seq: u64,
    ids: u128,
    logical_bytes: u64,
    annotation_count: u64,
    attachment_count: u64,
    dead_bytes: u64,
    sessions_removed: u64,
    #[serde(borrow)]
    sessions: Vec<SessionSnap<'a>>,
    /// How many checkpoints follow the body, each encoded on its own (decoded one at a time,
    /// never all at once).
    checkpoints: u64,
    chunks: Vec<ChunkSnap>,
    free: Cow<'a, [Slot]>,
    /// The chunk numbers handed out in the log so far.
    next_chunk_number: u64,
}

#[derive(Serialize, Deserialize)]
struct SessionSnap<'a> {
    id: SessionId,
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    metadata: Cow<'a, str>,
    created_at: u64,
    head: Option<CheckpointId>,
    checkpoints: u64,
    leaves: Vec<u64>,
    last_by_kind: [Option<u64>; 3],
    order: u64,
}

#[derive(Serialize, Deserialize)]
struct BlobSnap<'a> {
    #[serde(borrow)]
    content_type: Cow<'a, str>,
    len: u64,
    chunks: Cow<'a, [Slot]>,
}

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
    tags: Cow<'a, [String]>,
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

#[derive(Serialize, Deserialize)]
struct ChunkSnap {
    hash: Hash,
    pos: u64,
    len: u32,
    refs: u32,
    number: u64,
}

fn blob_snap(blob: &Blob) -> BlobSnap<'_> {
    BlobSnap {
        content_type: Cow::Borrowed(&blob.content_type),
        len: blob.len,
        chunks: Cow::Borrowed(&blob.chunks),
    }
}

/// What a snapshot keeps of a checkpoint.
fn entry_snap(e: &Entry) -> EntrySnap<'_> {
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
        tags: Cow::Borrowed(&cp.tags),
        trigger: Cow::Borrowed(&cp.trigger),
        metadata: Cow::Owned(serde_json::to_string(&cp.metadata).unwrap_or_default()),
        state_root: cp.state_root,
        hash: cp.hash,
        state: blob_snap(&e.state),
        annotations: Cow::Borrowed(&e.annotations),
        attachments: e
            .attachments
            .iter()
            .map(|(k, b)| (Cow::Borrowed(k.as_str()), blob_snap(b)))
            .collect(),
        children: e.children,
        record_bytes: e.record_bytes,
        check: (e.check != check_of(&cp.hash)).then_some(e.check),
    }
}

/// Encodes `index` as a snapshot of the point `log_bytes` into the log, where the frame
/// `anchor` (its position and bytes) ends. `None` when the index is not at a sealed point (a
/// write or transaction is open).
pub(crate) fn encode(index: &Index, log_bytes: u64, anchor: (u64, &[u8])) -> Option<Vec<u8>> {
    if !index.at_sealed_point() {
        return None;
    }
    let chain = &index.chain;
    let format = chain.version.number();
    let point = Point {
        format,
        log_bytes,
        anchor_at: anchor.0,
        anchor_len: u32::try_from(anchor.1.len()).ok()?,
        anchor_hash: Hash::of(anchor.1),
        head: chain.head(),
        previous_head: chain.previous_head,
        seals: chain.seals,
    };
    let sessions = index
        .sessions
        .values()
        .map(|s| SessionSnap {
            id: s.session.id,
            name: Cow::Borrowed(&s.session.name),
            metadata: Cow::Owned(serde_json::to_string(&s.session.metadata).unwrap_or_default()),
            created_at: s.session.created_at,
            head: s.session.head,
            checkpoints: s.session.checkpoints,
            leaves: s.leaves.iter().collect(),
            last_by_kind: s.last_by_kind,
            order: s.order,
        })
        .collect();
    let chunks = index
        .chunks
        .slots()
        .iter()
        .map(|c| ChunkSnap {
            hash: c.hash,
            pos: c.pos,
            len: c.len,
            refs: c.refs,
            number: c.number,
        })
        .collect();
    let body = Body {
        point,
        next_seq: index.next_seq,
        ids: index.ids.last(),
        logical_bytes: index.logical_bytes,
        annotation_count: index.annotation_count,
        attachment_count: index.attachment_count,
        dead_bytes: index.dead_bytes,
        sessions_removed: index.sessions_removed(),
        sessions,
        checkpoints: index.checkpoints.len() as u64,
        chunks,
        free: Cow::Borrowed(index.chunks.free_slots()),
        next_chunk_number: index.chunks.next_number(),
    };
    let mut out = Vec::with_capacity(PREFIX_LEN + 256 * index.checkpoints.len() + 1024);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
    let mut out = postcard::to_extend(&body, out).ok()?;
    for entry in index.checkpoints.iter() {
        out = postcard::to_extend(&entry_snap(entry), out).ok()?;
    }
    let sum = Hash::of(&out);
    out.extend_from_slice(&sum.0);
    Some(out)
}

/// A snapshot of this encoding version with `body` and its checksum (for fuzzing the decoder
/// past the checksum).
#[cfg(feature = "conformance")]
pub(crate) fn seal(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(PREFIX_LEN + body.len() + CHECKSUM_LEN);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
    out.extend_from_slice(body);
    let sum = Hash::of(&out);
    out.extend_from_slice(&sum.0);
    out
}

/// The body of a snapshot: what [`seal`] wraps.
#[cfg(feature = "conformance")]
pub(crate) fn body(snapshot: &[u8]) -> Option<&[u8]> {
    snapshot.get(PREFIX_LEN..snapshot.len().checked_sub(CHECKSUM_LEN)?)
}

/// Checks a snapshot's magic, version and checksum, and decodes its body; the checkpoints
/// after it are decoded by [`build`].
fn parse(bytes: &[u8]) -> core::result::Result<(Body<'_>, &[u8]), SnapshotProblem> {
    if bytes.len() < PREFIX_LEN + CHECKSUM_LEN || bytes[..MAGIC.len()] != MAGIC {
        return Err(SnapshotProblem::Damaged);
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version != SNAPSHOT_VERSION {
        return Err(SnapshotProblem::Version(version));
    }
    let (covered, sum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
    if Hash::of(covered).0[..] != *sum {
        return Err(SnapshotProblem::Damaged);
    }
    postcard::take_from_bytes(&covered[PREFIX_LEN..]).map_err(|_| SnapshotProblem::Damaged)
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

fn blob(
    snap: BlobSnap<'_>,
    live: &[bool],
    refs: &mut [u32],
) -> core::result::Result<Blob, SnapshotProblem> {
    for &slot in snap.chunks.iter() {
        if !live.get(slot as usize).copied().unwrap_or(false) {
            return Err(bad("a chunk list names a free or missing slot"));
        }
        refs[slot as usize] += 1;
    }
    Ok(Blob {
        content_type: snap.content_type.into_owned(),
        len: snap.len,
        chunks: snap.chunks.into_owned(),
    })
}

/// Builds the index a snapshot describes, with its derived indexes, checking that its parts
/// agree: a hostile or buggy snapshot must be refused here, not panic later.
fn build<'a>(
    body: Body<'a>,
    mut entries: &'a [u8],
) -> core::result::Result<(Index, Point), SnapshotProblem> {
    let point = body.point;
    let version = match point.format {
        1 => Version::V1,
        2 => Version::V2,
        3 => Version::V3,
        _ => return Err(bad("unknown log format")),
    };
    let slots: Vec<ChunkInfo> = body
        .chunks
        .into_iter()
        .map(|c| ChunkInfo {
            hash: c.hash,
            pos: c.pos,
            len: c.len,
            refs: c.refs,
            number: c.number,
        })
        .collect();
    // Every chunk number took at least a byte of the log: a larger count is not a snapshot of
    // it (and would ask for a huge list).
    if body.next_chunk_number > point.log_bytes {
        return Err(bad("more chunk numbers than log bytes"));
    }
    let chunks = ChunkTable::restore(slots, body.free.into_owned(), body.next_chunk_number)
        .ok_or(bad("the chunk table's free list, hashes or numbers"))?;
    let mut refs = alloc::vec![0u32; chunks.slot_count()];
    let mut live = alloc::vec![true; chunks.slot_count()];
    for &slot in chunks.free_slots() {
        live[slot as usize] = false;
    }
    let mut index = Index::default();
    for s in body.sessions {
        let metadata = parse_metadata(&s.metadata).map_err(|_| bad("session metadata"))?;
        let entry = SessionEntry {
            session: Session {
                id: s.id,
                name: s.name.into_owned(),
                metadata,
                created_at: s.created_at,
                head: s.head,
                checkpoints: s.checkpoints,
            },
            seqs: SeqSet::default(),
            by_time: TimeSet::default(),
            leaves: s.leaves.into_iter().collect(),
            last_by_kind: s.last_by_kind,
            order: s.order,
        };
        index.ids.observe(s.id.as_uuid());
        if index.sessions.insert(s.id, entry).is_some() {
            return Err(bad("a session listed twice"));
        }
    }
    // Reserved for at most as many entries as the bytes could hold (a forged count must not
    // allocate without bound).
    let count = body.checkpoints;
    index
        .checkpoints
        .reserve(count.min(entries.len() as u64 / 64) as usize);
    let mut last_seq = 0;
    for _ in 0..count {
        let (e, rest): (EntrySnap<'a>, _) =
            postcard::take_from_bytes(entries).map_err(|_| SnapshotProblem::Damaged)?;
        entries = rest;
        if e.seq <= last_seq || e.seq >= body.next_seq {
            return Err(bad("checkpoint seqs out of order"));
        }
        last_seq = e.seq;
        let session = index
            .sessions
            .get_mut(&e.session)
            .ok_or(bad("a checkpoint of an unknown session"))?;
        session.seqs.insert(e.seq);
        session.by_time.insert((e.created_at, e.seq));
        let state = blob(e.state, &live, &mut refs)?;
        let mut attachments = BTreeMap::new();
        for (key, b) in e.attachments {
            attachments.insert(key.into_owned(), blob(b, &live, &mut refs)?);
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
            tags: e.tags.into_owned(),
            trigger: e.trigger.into_owned(),
            metadata: parse_metadata(&e.metadata).map_err(|_| bad("checkpoint metadata"))?,
            content_type: state.content_type.clone(),
            state_len: state.len,
            state_root: e.state_root,
            hash: e.hash,
        };
        for tag in &cp.tags {
            index
                .tags
                .entry_ref(tag.as_str())
                .or_default()
                .insert(cp.seq);
        }
        let check = check_of(&cp.hash);
        let entry = Entry {
            cp,
            state,
            annotations: e.annotations.into_owned(),
            attachments,
            children: e.children,
            record_bytes: e.record_bytes,
            check: e.check.unwrap_or(check),
        };
        if index.checkpoints.contains(&e.id) || index.checkpoints.contains_seq(e.seq) {
            return Err(bad("a checkpoint listed twice"));
        }
        index.checkpoints.insert(Box::new(entry));
    }
    for (slot, info) in chunks.slots().iter().enumerate() {
        if live[slot] && info.refs != refs[slot] {
            return Err(bad("chunk reference counts"));
        }
    }
    for s in index.sessions.values() {
        if s.session.checkpoints != s.seqs.len() as u64
            || s.leaves.iter().any(|seq| !s.seqs.contains(&seq))
            || s.session
                .head
                .is_some_and(|h| !index.checkpoints.contains(&h))
        {
            return Err(bad("a session's checkpoints, branches or head"));
        }
    }
    for e in index.checkpoints.iter() {
        index.ids.observe(e.cp.id.as_uuid());
    }
    if index.ids.last() > body.ids {
        return Err(bad("the id generator"));
    }
    index.ids = IdGen::from_last(body.ids);
    index.chunks = chunks;
    index.next_seq = body.next_seq;
    index.logical_bytes = body.logical_bytes;
    index.annotation_count = body.annotation_count;
    index.attachment_count = body.attachment_count;
    index.dead_bytes = body.dead_bytes;
    index.resume_from_snapshot(
        Chain::resume(version, point.head, point.previous_head, point.seals),
        body.sessions_removed,
        point.end(),
        point.log_bytes,
    );
    Ok((index, point))
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
    let bytes = match backend.read_snapshot() {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Err(SnapshotUse::None),
        Err(err) => {
            return Err(SnapshotUse::Ignored(SnapshotProblem::Unreadable(
                err.to_string(),
            )));
        }
    };
    let ignored = SnapshotUse::Ignored;
    let snapshot_len = bytes.len() as u64;
    let (body, entries) = parse(&bytes).map_err(ignored)?;
    // The anchor before the content: a stale snapshot costs a few reads, not a decode.
    if !anchor_matches(backend, &body.point) {
        return Err(ignored(SnapshotProblem::Stale));
    }
    let (mut index, point) = build(body, entries).map_err(ignored)?;
    drop(bytes);
    index.chain.watch = options.expect_head;
    index.last_frame = Some((point.anchor_at, point.anchor_len));
    let tail = backend.load_from(point.end(), &mut |pos, payload| {
        index.replay_frame(pos, payload)
    });
    let mut report = match tail {
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
    /// replays only what is written after it. Syncs the log first. Returns whether one was
    /// written: not by a read-only store, a backend that keeps none, or in the middle of a
    /// write.
    pub fn write_snapshot(&mut self) -> Result<bool> {
        if self.backend.is_read_only()
            || !self.backend.keeps_snapshots()
            || self.write_error.is_some()
        {
            return Ok(false);
        }
        let Some((at, len)) = self.index.last_frame else {
            return Ok(false);
        };
        let mut anchor = alloc::vec![0u8; len as usize];
        self.backend.read_at(at, &mut anchor)?;
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
            self.snapshot_at = self.log_bytes;
            self.snapshot_len = bytes.len() as u64;
        }
        Ok(written)
    }

    /// Whether the log has grown enough since the last snapshot (or the open) that a writer
    /// closing now should write one: by at least 64 KiB and an eighth of the last snapshot's
    /// size. Hosts call [`write_snapshot`](Store::write_snapshot) at close when it is.
    pub fn snapshot_due(&self) -> bool {
        let grown = self.log_bytes.saturating_sub(self.snapshot_at);
        !self.backend.is_read_only()
            && self.backend.keeps_snapshots()
            && grown >= (64 << 10).max(self.snapshot_len / 8)
    }

    /// After a log rewrite, once memory follows the new log: a snapshot of it, worth its cost
    /// beside a rewrite's. Failing to write it fails nothing: the log holds the store.
    pub(crate) fn snapshot_rewritten(&mut self) {
        let _ = self.write_snapshot();
    }

    /// After a write: a snapshot once the log grew past [`Options::snapshot_every`](crate::Options::snapshot_every) and the
    /// last snapshot's size since the last one. A snapshot that cannot be written is not the
    /// write's failure (the log holds the write): the next one tries again.
    pub(crate) fn snapshot_if_grown(&mut self) {
        let every = self.options.snapshot_every;
        let grown = self.log_bytes.saturating_sub(self.snapshot_at);
        if every > 0 && grown >= every.max(self.snapshot_len) {
            // Whatever happens, the next try comes after as much growth again, not at every
            // write.
            let _ = self.write_snapshot();
            self.snapshot_at = self.log_bytes;
        }
    }
}
