//! The store: the state machine that turns operations into records and records into indexes.
//!
//! Every mutation follows one path: validate the input against the limits, build a
//! [record](crate::record), append its frame to the backend, and only when the append (and, if
//! configured, the sync) succeeded apply the record to the in-memory indexes. Replaying a log at
//! open runs the very same `apply` functions, which is why a replayed store is identical to the
//! one that wrote the log (same ids, seqs, hashes, heads, indexes and metrics).
//!
//! Reads never touch the backend except to fetch state bytes, and listing never copies them.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use hashbrown::HashMap;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::annotation::{Annotation, Severity};
use crate::backend::{Backend, LoadReport};
use crate::checkpoint::{
    Checkpoint, HashFields, NewAttachment, NewCheckpoint, ParentChoice, Trigger, TriggerKind,
    canonical_metadata, hash_fields, state_root,
};
use crate::chunker;
use crate::chunks::{ChunkTable, Slot};
use crate::env::Env;
use crate::error::{BackendError, CorruptKind, Error, LimitKind, Result};
use crate::event::{Event, EventQueue};
use crate::id::{CheckpointId, Hash, IdGen, SessionId};
use crate::limits::{Limits, check_metadata_depth};
use crate::metrics::{Health, Metrics, OpCounters};
use crate::options::Options;
use crate::record::{
    self, AnnotationRecord, AttachmentRecord, BaseRef, BlobRecord, CheckpointRecord, ChunkRef,
    HeadRecord, NewChunk, Record, SessionRecord,
};
use crate::session::Session;

/// A stored blob (a state or an attachment): its chunks, in order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Blob {
    pub content_type: String,
    pub len: u64,
    pub chunks: Vec<Slot>,
}

/// What the store keeps per checkpoint.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub cp: Checkpoint,
    pub state: Blob,
    pub annotations: Vec<Annotation>,
    pub attachments: BTreeMap<String, Blob>,
    /// Live children (checkpoints whose parent is this one).
    pub children: u32,
    /// Bytes of this checkpoint's own record, chunk bytes aside (for the dead-bytes estimate).
    pub record_bytes: u64,
}

impl Entry {
    pub(crate) fn has_critical(&self) -> bool {
        self.annotations
            .iter()
            .any(|a| a.severity == Severity::Critical)
    }
}

/// What the store keeps per session.
#[derive(Clone, Debug)]
pub(crate) struct SessionEntry {
    pub session: Session,
    /// Seqs of the session's checkpoints, with their ids.
    pub seqs: BTreeMap<u64, CheckpointId>,
    /// (created_at, seq) of the session's checkpoints, for `at(time)`.
    pub by_time: BTreeSet<(u64, u64)>,
    /// Seqs of checkpoints without live children: the tips of the session's branches.
    pub leaves: BTreeSet<u64>,
    /// Creation time of the newest checkpoint of each trigger kind (throttling).
    pub last_by_kind: [Option<u64>; 3],
    /// Position in creation order (replay applies records in log order, which keeps it).
    pub order: u64,
}

/// What [`Store::restore`] returns: the state and where the head now is.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Restored {
    /// The checkpoint restored (now the session head).
    pub checkpoint: CheckpointId,
    /// Its session.
    pub session: SessionId,
    /// The state bytes.
    pub state: Vec<u8>,
    /// The state's content type.
    pub content_type: String,
}

/// What [`Store::open_salvaging`] skipped.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct SalvageReport {
    /// Records that could not be decoded or applied and were left out.
    pub skipped_records: u64,
    /// The first of those problems.
    pub first_problem: Option<Error>,
}

/// Result of [`Store::verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Checkpoints checked.
    pub checkpoints: u64,
    /// Chunks whose bytes were re-hashed.
    pub chunks: u64,
    /// The first problem found (in seq order), if any.
    pub first_error: Option<VerifyError>,
}

impl VerifyReport {
    /// Whether everything checked out.
    pub fn is_ok(&self) -> bool {
        self.first_error.is_none()
    }
}

/// A verification failure.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyError {
    /// The checkpoint at fault.
    pub checkpoint: CheckpointId,
    /// Its seq.
    pub seq: u64,
    /// What does not match.
    pub problem: VerifyProblem,
}

/// What verification found wrong with a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyProblem {
    /// The recorded hash does not match the checkpoint's contents.
    HashMismatch,
    /// The recorded parent hash does not match the parent's hash.
    ParentHashMismatch,
    /// A chunk's bytes do not hash to its key.
    ChunkMismatch(Hash),
    /// A chunk could not be read back.
    Unreadable(String),
}

impl core::fmt::Display for VerifyProblem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            VerifyProblem::HashMismatch => {
                f.write_str("its recorded hash does not match its contents")
            }
            VerifyProblem::ParentHashMismatch => {
                f.write_str("its recorded parent hash does not match the parent")
            }
            VerifyProblem::ChunkMismatch(hash) => {
                write!(f, "the bytes of chunk {} do not hash to it", hash.to_hex())
            }
            VerifyProblem::Unreadable(why) => write!(f, "a chunk could not be read: {why}"),
        }
    }
}

/// A checkpoint store over a [`Backend`] with a host [`Env`].
///
/// ```
/// use rewind_core::{DeterministicEnv, MemoryBackend, NewCheckpoint, Options, Store};
///
/// let (mut store, _report) =
///     Store::open(MemoryBackend::new(), DeterministicEnv::new(), Options::default())?;
/// let session = store.create_session("research agent", Default::default())?;
/// let first = store
///     .checkpoint(NewCheckpoint::new(session, "plan drafted", br#"{"step":1}"#).tag("plan"))?
///     .id;
/// let second = store
///     .checkpoint(NewCheckpoint::new(session, "tool called", br#"{"step":2}"#))?
///     .id;
/// assert_eq!(store.get(second)?.parent, Some(first));
///
/// // Travel back and fork: the next checkpoint continues from `first`.
/// let restored = store.restore(first)?;
/// assert_eq!(restored.state, br#"{"step":1}"#);
/// let fork = store
///     .checkpoint(NewCheckpoint::new(session, "other approach", br#"{"step":2,"alt":true}"#))?
///     .id;
/// assert_eq!(store.get(fork)?.parent, Some(first));
/// assert_eq!(store.branches(session)?.len(), 2);
/// assert!(store.verify().is_ok());
/// # Ok::<(), rewind_core::Error>(())
/// ```
pub struct Store<B: Backend, E: Env> {
    pub(crate) backend: B,
    pub(crate) env: E,
    pub(crate) options: Options,
    pub(crate) sessions: BTreeMap<SessionId, SessionEntry>,
    /// Boxed: growing the table moves pointers, not ~500-byte entries (a million-checkpoint
    /// replay spent most of its time rehashing them).
    pub(crate) checkpoints: HashMap<CheckpointId, Box<Entry>>,
    pub(crate) by_seq: BTreeMap<u64, CheckpointId>,
    pub(crate) tags: HashMap<String, BTreeSet<u64>>,
    pub(crate) chunks: ChunkTable,
    pub(crate) next_seq: u64,
    pub(crate) ids: IdGen,
    pub(crate) events: EventQueue,
    pub(crate) ops: OpCounters,
    pub(crate) logical_bytes: u64,
    pub(crate) annotation_count: u64,
    pub(crate) attachment_count: u64,
    pub(crate) log_bytes: u64,
    pub(crate) dead_bytes: u64,
    pub(crate) write_error: Option<BackendError>,
    /// Sessions deleted so far (keeps creation-order numbers unique).
    pub(crate) sessions_removed: u64,
    /// Records of an open transaction during replay.
    replay_txn: Option<(u32, Vec<Buffered>)>,
    /// The frames of the write in progress; kept between writes so a write does not grow a
    /// fresh buffer from nothing (released when a write left it larger than `KEPT_WRITE_BUF`).
    write_buf: Vec<u8>,
    /// What a live write already knows of the checkpoint it is committing (its metadata as an
    /// object and its state root), so applying the record neither parses nor hashes again.
    /// Replay has no such thing and derives both from the record.
    live: Option<LiveCheckpoint>,
}

/// A live write's checkpoint, as the `live` field of [`Store`] holds it.
struct LiveCheckpoint {
    id: CheckpointId,
    metadata: Map<String, Value>,
    root: Hash,
}

/// New chunks of one blob searched linearly for repeats before a hash map is built.
const LINEAR_NEW_CHUNKS: usize = 32;

/// The largest write buffer kept between writes.
const KEPT_WRITE_BUF: usize = 1 << 20;

/// A record of an open transaction during replay, with where its chunk bytes start and the
/// size of its frame without them.
type Buffered = (Record, u64, u64);

impl<B: Backend, E: Env> core::fmt::Debug for Store<B, E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Store")
            .field("sessions", &self.sessions.len())
            .field("checkpoints", &self.checkpoints.len())
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

/// Where a blob's chunks come from while a record is being built.
pub(crate) struct BlobPlan<'a> {
    pub record: BlobRecord,
    pub raw: Vec<&'a [u8]>,
    pub hashes: Vec<Hash>,
}

/// Chunks and chunk lists of records planned earlier in one commit but not applied yet.
#[derive(Default)]
pub(crate) struct Pending {
    pub chunks: hashbrown::HashSet<Hash>,
    /// State chunk lists by checkpoint.
    pub lists: HashMap<CheckpointId, Vec<Hash>>,
    /// Attachment chunk lists by checkpoint and key.
    pub attachments: HashMap<(CheckpointId, String), Vec<Hash>>,
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

impl<B: Backend, E: Env> Store<B, E> {
    /// Opens a store on `backend`, replaying its log. Returns the store and what loading found
    /// (a dropped torn tail, frames replayed).
    pub fn open(backend: B, env: E, options: Options) -> Result<(Self, LoadReport)> {
        let (store, report, _) = Self::open_inner(backend, env, options, false)?;
        Ok((store, report))
    }

    /// Opens a store while skipping records that cannot be applied (decoding errors, records
    /// referring to things a damaged log lost) instead of failing: the salvage step of a
    /// repair. Frames the backend cannot read at all are the backend's to skip.
    pub fn open_salvaging(
        backend: B,
        env: E,
        options: Options,
    ) -> Result<(Self, LoadReport, SalvageReport)> {
        Self::open_inner(backend, env, options, true)
    }

    fn open_inner(
        mut backend: B,
        env: E,
        options: Options,
        salvage: bool,
    ) -> Result<(Self, LoadReport, SalvageReport)> {
        let mut store = Store {
            backend: NoBackend,
            env,
            events: EventQueue::new(options.event_capacity),
            options,
            sessions: BTreeMap::new(),
            checkpoints: HashMap::new(),
            by_seq: BTreeMap::new(),
            tags: HashMap::new(),
            chunks: ChunkTable::default(),
            next_seq: 1,
            ids: IdGen::default(),
            ops: OpCounters::default(),
            logical_bytes: 0,
            annotation_count: 0,
            attachment_count: 0,
            log_bytes: 0,
            dead_bytes: 0,
            write_error: None,
            sessions_removed: 0,
            replay_txn: None,
            write_buf: Vec::new(),
            live: None,
        };
        let mut salvaged = SalvageReport::default();
        let mut report =
            backend.load(&mut |pos, payload| match store.replay_frame(pos, payload) {
                Err(err) if salvage => {
                    salvaged.skipped_records += 1;
                    if salvaged.first_problem.is_none() {
                        salvaged.first_problem = Some(err);
                    }
                    Ok(())
                }
                other => other,
            })?;
        store.log_bytes = report.log_bytes;
        // A transaction the log ends inside was cut by a crash: none of it happened. Say so in
        // the log too, or later records would be read as its missing ones.
        if let Some((_, buffered)) = store.replay_txn.take() {
            report.discarded_records = buffered.len() as u64;
            report.unfinished_transaction = true;
            let mut frame = Vec::new();
            record::write(&mut frame, &Record::TxnAbort, &[]);
            backend.append(&frame)?;
            backend.sync()?;
            store.log_bytes += frame.len() as u64;
        }
        // Replay emitted no events and counted no operations: they describe this process.
        store.events = EventQueue::new(store.options.event_capacity);
        store.ops = OpCounters::default();
        Ok((store.with_backend(backend), report, salvaged))
    }

    /// The backend (for hosts that need to reach it, e.g. to flush).
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The backend, mutably. Writing to it behind the store's back corrupts the store.
    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }

    /// The host environment.
    pub fn env_mut(&mut self) -> &mut E {
        &mut self.env
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Consumes the store and returns its backend.
    pub fn into_backend(self) -> B {
        self.backend
    }

    // ----- sessions -------------------------------------------------------------------------

    /// Creates a session.
    pub fn create_session(
        &mut self,
        name: impl Into<String>,
        metadata: Map<String, Value>,
    ) -> Result<SessionId> {
        let id =
            self.unused_id(|store, id| store.sessions.contains_key(&SessionId::from_uuid(id)))?;
        self.create_session_with_id(SessionId::from_uuid(id), name, metadata)
    }

    /// Creates a session with a caller-chosen id (LangGraph thread ids, imports).
    pub fn create_session_with_id(
        &mut self,
        id: SessionId,
        name: impl Into<String>,
        metadata: Map<String, Value>,
    ) -> Result<SessionId> {
        let name = name.into();
        if name.trim().is_empty() {
            return Err(Error::InvalidInput("session name is empty".into()));
        }
        let limits = self.options.limits;
        Limits::check(
            LimitKind::NameBytes,
            limits.max_name_bytes,
            name.len() as u64,
        )?;
        check_metadata_depth(&metadata)?;
        let metadata = canonical_metadata(&metadata);
        Limits::check(
            LimitKind::MetadataBytes,
            limits.max_metadata_bytes,
            metadata.len() as u64,
        )?;
        if self.sessions.contains_key(&id) {
            return Err(Error::DuplicateId(id.to_string()));
        }
        let created_at = self.env.now_ms();
        let record = Record::Session(SessionRecord {
            id,
            name,
            metadata,
            created_at,
        });
        self.commit(alloc::vec![(record, &[])])?;
        self.ops.sessions_created += 1;
        self.events.push(Event::SessionCreated { session: id });
        Ok(id)
    }

    /// A session by id.
    pub fn session(&self, id: SessionId) -> Result<&Session> {
        self.sessions
            .get(&id)
            .map(|s| &s.session)
            .ok_or(Error::SessionNotFound(id))
    }

    /// All sessions, oldest first: by creation time, and sessions with the same creation time in
    /// the order this store received them (created or imported).
    pub fn sessions(&self) -> impl Iterator<Item = &Session> {
        let mut all: Vec<&SessionEntry> = self.sessions.values().collect();
        // Generated ids sort by creation already; caller-chosen ids (LangGraph thread ids,
        // imports) need the creation order kept apart.
        all.sort_by_key(|s| (s.session.created_at, s.order));
        all.into_iter().map(|s| &s.session)
    }

    // ----- checkpoints ----------------------------------------------------------------------

    /// Creates a checkpoint. Its parent is the session head unless the builder says otherwise;
    /// afterwards the head is the new checkpoint.
    pub fn checkpoint(&mut self, new: NewCheckpoint<'_>) -> Result<&Checkpoint> {
        let id = self.write_checkpoint(new)?;
        Ok(&self.checkpoints[&id].cp)
    }

    /// Creates an automatic checkpoint unless the session has a recent one (see
    /// [`AutoPolicy`](crate::AutoPolicy)). Returns `None` when throttled.
    pub fn auto_checkpoint(
        &mut self,
        new: NewCheckpoint<'_>,
        reason: impl Into<String>,
    ) -> Result<Option<&Checkpoint>> {
        // Bad input is an error even when the checkpoint would be throttled away.
        if new.message.trim().is_empty() {
            return Err(Error::InvalidInput("checkpoint message is empty".into()));
        }
        let entry = self
            .sessions
            .get(&new.session)
            .ok_or(Error::SessionNotFound(new.session))?;
        let now = new.created_at.unwrap_or_else(|| self.env.now_ms());
        let policy = &self.options.auto;
        let recent = [
            TriggerKind::Manual,
            TriggerKind::Automatic,
            TriggerKind::Scheduled,
        ]
        .iter()
        .filter(|k| policy.counts(**k))
        .filter_map(|k| entry.last_by_kind[*k as usize])
        .any(|t| now.saturating_sub(t) < policy.min_interval_ms);
        if recent {
            self.check_new(&new)?;
            self.ops.auto_skipped += 1;
            return Ok(None);
        }
        let new = new
            .trigger(Trigger::Automatic {
                reason: reason.into(),
            })
            .created_at(now);
        let id = self.write_checkpoint(new)?;
        Ok(Some(&self.checkpoints[&id].cp))
    }

    /// Everything `write_checkpoint` would refuse, checked without writing: a throttled
    /// automatic checkpoint still reports bad input.
    fn check_new(&self, new: &NewCheckpoint<'_>) -> Result<()> {
        let limits = self.options.limits;
        let check = |kind, limit, actual: usize| Limits::check(kind, limit, actual as u64);
        check(
            LimitKind::MessageBytes,
            limits.max_message_bytes,
            new.message.len(),
        )?;
        check(
            LimitKind::StateBytes,
            limits.max_state_bytes,
            new.state.len(),
        )?;
        check(
            LimitKind::NamespaceBytes,
            limits.max_namespace_bytes,
            new.namespace.len(),
        )?;
        check(
            LimitKind::ContentTypeBytes,
            limits.max_content_type_bytes,
            new.content_type.len(),
        )?;
        let mut tags: Vec<&String> = new.tags.iter().collect();
        tags.sort_unstable();
        tags.dedup();
        check(LimitKind::TagCount, limits.max_tags, tags.len())?;
        for tag in tags {
            check(LimitKind::TagBytes, limits.max_tag_bytes, tag.len())?;
            if tag.is_empty() {
                return Err(Error::InvalidInput("empty tag".into()));
            }
        }
        check_metadata_depth(&new.metadata)?;
        check(
            LimitKind::MetadataBytes,
            limits.max_metadata_bytes,
            canonical_metadata(&new.metadata).len(),
        )?;
        if let ParentChoice::Of(parent) = new.parent {
            let entry = self.entry(parent)?;
            if entry.cp.session != new.session {
                return Err(Error::ParentInOtherSession {
                    parent,
                    session: new.session,
                });
            }
        }
        if let Some(id) = new.id
            && self.checkpoints.contains_key(&id)
        {
            return Err(Error::DuplicateId(id.to_string()));
        }
        self.check_new_attachments(&new.attachments)
    }

    /// Limits, distinct keys and existing bases of the attachments of a new checkpoint.
    fn check_new_attachments(&self, attachments: &[NewAttachment<'_>]) -> Result<()> {
        for (i, a) in attachments.iter().enumerate() {
            self.check_attachment(&a.key, &a.content_type, a.bytes.len())?;
            if attachments[..i].iter().any(|b| b.key == a.key) {
                return Err(Error::InvalidInput(alloc::format!(
                    "attachment key {:?} given twice",
                    a.key
                )));
            }
        }
        Ok(())
    }

    /// The limits on one attachment (live writes and imports).
    pub(crate) fn check_attachment(&self, key: &str, content_type: &str, len: usize) -> Result<()> {
        let limits = self.options.limits;
        Limits::check(
            LimitKind::AttachmentKeyBytes,
            limits.max_attachment_key_bytes,
            key.len() as u64,
        )?;
        Limits::check(
            LimitKind::AttachmentBytes,
            limits.max_attachment_bytes,
            len as u64,
        )?;
        Limits::check(
            LimitKind::ContentTypeBytes,
            limits.max_content_type_bytes,
            content_type.len() as u64,
        )
    }

    fn write_checkpoint(&mut self, new: NewCheckpoint<'_>) -> Result<CheckpointId> {
        let limits = self.options.limits;
        let message = new.message;
        if message.trim().is_empty() {
            return Err(Error::InvalidInput("checkpoint message is empty".into()));
        }
        Limits::check(
            LimitKind::MessageBytes,
            limits.max_message_bytes,
            message.len() as u64,
        )?;
        Limits::check(
            LimitKind::StateBytes,
            limits.max_state_bytes,
            new.state.len() as u64,
        )?;
        Limits::check(
            LimitKind::NamespaceBytes,
            limits.max_namespace_bytes,
            new.namespace.len() as u64,
        )?;
        Limits::check(
            LimitKind::ContentTypeBytes,
            limits.max_content_type_bytes,
            new.content_type.len() as u64,
        )?;
        let mut tags = new.tags;
        tags.sort_unstable();
        tags.dedup();
        Limits::check(LimitKind::TagCount, limits.max_tags, tags.len() as u64)?;
        for tag in &tags {
            Limits::check(LimitKind::TagBytes, limits.max_tag_bytes, tag.len() as u64)?;
            if tag.is_empty() {
                return Err(Error::InvalidInput("empty tag".into()));
            }
        }
        check_metadata_depth(&new.metadata)?;
        let metadata = canonical_metadata(&new.metadata);
        Limits::check(
            LimitKind::MetadataBytes,
            limits.max_metadata_bytes,
            metadata.len() as u64,
        )?;
        if let Trigger::Automatic { reason } = &new.trigger {
            Limits::check(
                LimitKind::MessageBytes,
                limits.max_message_bytes,
                reason.len() as u64,
            )?;
        }
        self.check_new_attachments(&new.attachments)?;
        let session = self
            .sessions
            .get(&new.session)
            .ok_or(Error::SessionNotFound(new.session))?;
        let parent = match new.parent {
            ParentChoice::Head => session.session.head,
            ParentChoice::Root => None,
            ParentChoice::Of(parent) => Some(parent),
        };
        let parent_hash = match parent {
            Some(parent) => {
                let entry = self
                    .checkpoints
                    .get(&parent)
                    .ok_or(Error::CheckpointNotFound(parent))?;
                if entry.cp.session != new.session {
                    return Err(Error::ParentInOtherSession {
                        parent,
                        session: new.session,
                    });
                }
                Some(entry.cp.hash)
            }
            None => None,
        };
        let id = match new.id {
            Some(id) => {
                if self.checkpoints.contains_key(&id) {
                    return Err(Error::DuplicateId(id.to_string()));
                }
                id
            }
            None => CheckpointId::from_uuid(self.unused_id(|store, id| {
                store.checkpoints.contains_key(&CheckpointId::from_uuid(id))
            })?),
        };
        let created_at = new.created_at.unwrap_or_else(|| self.env.now_ms());
        let state_base = parent.map_or(BlobBase::None, BlobBase::State);
        let blob = self.plan_blob(new.state, new.content_type, state_base, None);
        // Attachments of the same transaction: chunks new in the state (or in an earlier
        // attachment) are not in the table yet, so `pending` keeps them from being logged twice.
        let mut attachments = Vec::with_capacity(new.attachments.len());
        let mut attachment_raw = Vec::with_capacity(new.attachments.len());
        if !new.attachments.is_empty() {
            let mut pending = Pending::default();
            pending.chunks.extend(blob.hashes.iter().copied());
            for a in new.attachments {
                // A base that is gone (compacted, deleted) is only a missed saving.
                let named = a.base.filter(|b| self.checkpoints.contains_key(b));
                let base = match named.or(parent) {
                    Some(b) => BlobBase::Attachment(b, &a.key),
                    None => BlobBase::None,
                };
                let plan = self.plan_blob(a.bytes, a.content_type, base, Some(&pending));
                pending.chunks.extend(plan.hashes.iter().copied());
                attachments.push(attachment_record(id, a.key, plan.record));
                attachment_raw.push(plan.raw);
            }
        }
        let root = state_root(blob.hashes.iter());
        let hash = hash_fields(&HashFields {
            id,
            session: new.session,
            namespace: &new.namespace,
            parent,
            parent_hash,
            created_at,
            message: &message,
            tags: &tags,
            trigger: &new.trigger,
            metadata: &metadata,
            content_type: &blob.record.content_type,
            state_len: blob.record.len,
            state_root: root,
        });
        let record = Record::Checkpoint(CheckpointRecord {
            id,
            session: new.session,
            namespace: new.namespace,
            seq: self.next_seq,
            parent,
            parent_hash,
            created_at,
            message,
            tags,
            trigger: new.trigger,
            metadata,
            hash,
            state: blob.record,
        });
        let attached = attachments.len() as u64;
        let mut records: Vec<(Record, &[&[u8]])> = Vec::with_capacity(1 + attachments.len());
        records.push((record, &blob.raw));
        records.extend(
            attachments
                .into_iter()
                .zip(attachment_raw.iter().map(Vec::as_slice)),
        );
        self.live = Some(LiveCheckpoint {
            id,
            metadata: new.metadata,
            root,
        });
        let committed = self.commit(records);
        self.live = None;
        committed?;
        self.ops.checkpoints_created += 1;
        self.ops.attachments += attached;
        let cp = &self.checkpoints[&id].cp;
        self.events.push(Event::Created {
            session: cp.session,
            checkpoint: id,
            seq: cp.seq,
        });
        Ok(id)
    }

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

    /// A checkpoint by id.
    pub fn get(&self, id: CheckpointId) -> Result<&Checkpoint> {
        self.entry(id).map(|e| &e.cp)
    }

    pub(crate) fn entry(&self, id: CheckpointId) -> Result<&Entry> {
        self.checkpoints
            .get(&id)
            .map(|e| &**e)
            .ok_or(Error::CheckpointNotFound(id))
    }

    /// A checkpoint by seq.
    pub fn get_by_seq(&self, seq: u64) -> Option<&Checkpoint> {
        self.by_seq.get(&seq).map(|id| &self.checkpoints[id].cp)
    }

    /// The state bytes of a checkpoint.
    pub fn state(&self, id: CheckpointId) -> Result<Vec<u8>> {
        let entry = self.entry(id)?;
        self.read_blob(&entry.state)
    }

    pub(crate) fn read_blob(&self, blob: &Blob) -> Result<Vec<u8>> {
        let mut out = alloc::vec![0u8; blob.len as usize];
        // Chunks that follow each other in the log (the new chunks of one record do) are read
        // with one call: one pread on files, one host call from a sandbox.
        let mut at = 0usize;
        let mut run: Option<(u64, usize, usize)> = None; // (log position, start in out, length)
        for &slot in &blob.chunks {
            let info = self.chunks.get(slot);
            let len = info.len as usize;
            run = match run {
                Some((pos, start, n)) if pos + n as u64 == info.pos => Some((pos, start, n + len)),
                Some(done) => {
                    self.read_run(done, &mut out)?;
                    Some((info.pos, at, len))
                }
                None => Some((info.pos, at, len)),
            };
            at += len;
        }
        if let Some(done) = run {
            self.read_run(done, &mut out)?;
        }
        if at != out.len() {
            return Err(Error::Corrupt {
                at: 0,
                kind: CorruptKind::Inconsistent("chunk lengths do not add up to the blob length"),
            });
        }
        Ok(out)
    }

    /// Reads `len` bytes at log position `pos` into `out[start..]`.
    fn read_run(&self, (pos, start, len): (u64, usize, usize), out: &mut [u8]) -> Result<()> {
        let dst = out.get_mut(start..start + len).ok_or(Error::Corrupt {
            at: pos,
            kind: CorruptKind::Inconsistent("chunk lengths exceed the state length"),
        })?;
        self.backend.read_at(pos, dst)?;
        Ok(())
    }

    /// Returns a checkpoint's state and moves its session's head there, so the next checkpoint
    /// of the session forks from it.
    pub fn restore(&mut self, id: CheckpointId) -> Result<Restored> {
        let entry = self.entry(id)?;
        let state = self.read_blob(&entry.state)?;
        let session = entry.cp.session;
        let content_type = entry.cp.content_type.clone();
        self.move_head(session, Some(id))?;
        self.ops.restores += 1;
        self.events.push(Event::Restored {
            session,
            checkpoint: id,
        });
        Ok(Restored {
            checkpoint: id,
            session,
            state,
            content_type,
        })
    }

    /// Moves a session's head without reading the state (`None`: the next checkpoint is a root).
    pub fn set_head(&mut self, session: SessionId, head: Option<CheckpointId>) -> Result<()> {
        self.session(session)?;
        if let Some(id) = head
            && self.entry(id)?.cp.session != session
        {
            return Err(Error::ParentInOtherSession {
                parent: id,
                session,
            });
        }
        self.move_head(session, head)
    }

    fn move_head(&mut self, session: SessionId, head: Option<CheckpointId>) -> Result<()> {
        if self.sessions[&session].session.head == head {
            return Ok(());
        }
        self.commit(alloc::vec![(
            Record::Head(HeadRecord { session, head }),
            &[]
        )])
    }

    /// The newest checkpoint (highest seq) of a session, if any.
    pub fn latest(&self, session: SessionId) -> Result<Option<&Checkpoint>> {
        let entry = self
            .sessions
            .get(&session)
            .ok_or(Error::SessionNotFound(session))?;
        Ok(entry
            .seqs
            .last_key_value()
            .and_then(|(_, id)| self.checkpoints.get(id).map(|e| &e.cp)))
    }

    /// What the session knew at `time_ms`: its newest checkpoint created at or before then.
    pub fn at(&self, session: SessionId, time_ms: u64) -> Result<Option<&Checkpoint>> {
        let entry = self
            .sessions
            .get(&session)
            .ok_or(Error::SessionNotFound(session))?;
        Ok(entry
            .by_time
            .range(..=(time_ms, u64::MAX))
            .next_back()
            .and_then(|(_, seq)| self.get_by_seq(*seq)))
    }

    /// The checkpoint and its ancestors, newest first, up to the root or the first ancestor that
    /// was deleted.
    pub fn history(&self, id: CheckpointId) -> Result<History<'_, B, E>> {
        self.entry(id)?;
        Ok(History {
            store: self,
            next: Some(id),
        })
    }

    /// The tips of a session's branches (checkpoints without children), newest first.
    pub fn branches(&self, session: SessionId) -> Result<Vec<&Checkpoint>> {
        let entry = self
            .sessions
            .get(&session)
            .ok_or(Error::SessionNotFound(session))?;
        Ok(entry
            .leaves
            .iter()
            .rev()
            .filter_map(|seq| self.get_by_seq(*seq))
            .collect())
    }

    /// Direct children of a checkpoint, oldest first.
    pub fn children(&self, id: CheckpointId) -> Result<Vec<&Checkpoint>> {
        let entry = self.entry(id)?;
        let session = &self.sessions[&entry.cp.session];
        if entry.children == 0 {
            return Ok(Vec::new());
        }
        Ok(session
            .seqs
            .range(entry.cp.seq + 1..)
            .filter_map(|(_, id)| self.checkpoints.get(id).map(|e| &e.cp))
            .filter(|cp| cp.parent == Some(id))
            .collect())
    }

    // ----- annotations and attachments -----------------------------------------------------

    /// Attaches a note to a checkpoint.
    pub fn annotate(
        &mut self,
        id: CheckpointId,
        note: impl Into<String>,
        severity: Severity,
    ) -> Result<&Annotation> {
        let note = note.into();
        Limits::check(
            LimitKind::NoteBytes,
            self.options.limits.max_note_bytes,
            note.len() as u64,
        )?;
        if note.trim().is_empty() {
            return Err(Error::InvalidInput("annotation note is empty".into()));
        }
        self.entry(id)?;
        let annotation = Annotation::new(note, severity, self.env.now_ms());
        let record = Record::Annotation(AnnotationRecord {
            checkpoint: id,
            annotation,
        });
        self.commit(alloc::vec![(record, &[])])?;
        self.ops.annotations += 1;
        self.events.push(Event::Annotated {
            checkpoint: id,
            severity,
        });
        Ok(self.checkpoints[&id]
            .annotations
            .last()
            .expect("annotation just applied"))
    }

    /// The annotations of a checkpoint, oldest first.
    pub fn annotations(&self, id: CheckpointId) -> Result<&[Annotation]> {
        Ok(&self.entry(id)?.annotations)
    }

    /// Stores a keyed blob on a checkpoint (replacing an earlier one with the same key).
    /// Attachment bytes are chunked and deduplicated like states; when the checkpoint's parent
    /// has an attachment with the same key, the log holds only what differs after their common
    /// prefix of chunks. To write attachments atomically with their checkpoint, use
    /// [`NewCheckpoint::attach`].
    pub fn attach(
        &mut self,
        id: CheckpointId,
        key: impl Into<String>,
        content_type: impl Into<String>,
        bytes: &[u8],
    ) -> Result<()> {
        let key = key.into();
        let content_type = content_type.into();
        self.check_attachment(&key, &content_type, bytes.len())?;
        let parent = self.entry(id)?.cp.parent;
        let base = match parent.filter(|p| self.checkpoints.contains_key(p)) {
            Some(p) => BlobBase::Attachment(p, &key),
            None => BlobBase::None,
        };
        let blob = self.plan_blob(bytes, content_type, base, None);
        let record = attachment_record(id, key, blob.record);
        self.commit(alloc::vec![(record, &blob.raw)])?;
        self.ops.attachments += 1;
        Ok(())
    }

    /// An attachment's content type and bytes.
    pub fn attachment(&self, id: CheckpointId, key: &str) -> Result<Option<(&str, Vec<u8>)>> {
        let entry = self.entry(id)?;
        match entry.attachments.get(key) {
            Some(blob) => Ok(Some((blob.content_type.as_str(), self.read_blob(blob)?))),
            None => Ok(None),
        }
    }

    /// The attachment keys of a checkpoint, sorted.
    pub fn attachment_keys(&self, id: CheckpointId) -> Result<impl Iterator<Item = &str>> {
        Ok(self.entry(id)?.attachments.keys().map(String::as_str))
    }

    // ----- deletion -------------------------------------------------------------------------

    /// Deletes a checkpoint. Its children stay readable (every state is complete on its own);
    /// their `parent` keeps naming the deleted id and `history` stops there. If it was the
    /// session head, the head moves to its parent, or else to the newest remaining checkpoint.
    /// Space is reclaimed by the next [`compact`](Store::compact) or [`vacuum`](Store::vacuum).
    pub fn delete(&mut self, id: CheckpointId) -> Result<()> {
        let session = self.entry(id)?.cp.session;
        self.commit(alloc::vec![(Record::DeleteCheckpoint(id), &[])])?;
        self.ops.deletes += 1;
        self.events.push(Event::Deleted {
            session,
            checkpoint: id,
        });
        Ok(())
    }

    /// Deletes a session and all its checkpoints.
    pub fn delete_session(&mut self, id: SessionId) -> Result<u64> {
        let count = self.session(id)?.checkpoints;
        self.commit(alloc::vec![(Record::DeleteSession(id), &[])])?;
        self.ops.deletes += count;
        self.events.push(Event::SessionDeleted { session: id });
        Ok(count)
    }

    // ----- verification, metrics, events ---------------------------------------------------

    /// Recomputes every checkpoint's hash, every parent link and every chunk's hash, reporting
    /// the first problem in seq order.
    pub fn verify(&self) -> VerifyReport {
        let mut report = VerifyReport {
            checkpoints: 0,
            chunks: 0,
            first_error: None,
        };
        let mut checked: hashbrown::HashSet<Slot> = hashbrown::HashSet::new();
        let mut buf = Vec::new();
        for id in self.by_seq.values() {
            let entry = &self.checkpoints[id];
            let cp = &entry.cp;
            report.checkpoints += 1;
            let mut problem = None;
            // Chunks first, each once, in the order the checkpoints use them.
            let blobs = core::iter::once(&entry.state).chain(entry.attachments.values());
            'chunks: for blob in blobs {
                for &slot in &blob.chunks {
                    if !checked.insert(slot) {
                        continue;
                    }
                    report.chunks += 1;
                    let info = self.chunks.get(slot);
                    buf.resize(info.len as usize, 0);
                    problem = match self.backend.read_at(info.pos, &mut buf) {
                        Err(err) => Some(VerifyProblem::Unreadable(err.to_string())),
                        Ok(()) if Hash::of(&buf) != info.hash => {
                            Some(VerifyProblem::ChunkMismatch(info.hash))
                        }
                        Ok(()) => None,
                    };
                    if problem.is_some() {
                        break 'chunks;
                    }
                }
            }
            if problem.is_none() {
                let root = state_root(entry.state.chunks.iter().map(|s| &self.chunks.get(*s).hash));
                problem = if root != cp.state_root || cp.compute_hash() != cp.hash {
                    Some(VerifyProblem::HashMismatch)
                } else {
                    match (cp.parent, cp.parent_hash) {
                        (Some(_), Some(ph)) => match self.linked_parent(cp) {
                            Some(parent) if parent.cp.hash != ph => {
                                Some(VerifyProblem::ParentHashMismatch)
                            }
                            _ => None,
                        },
                        (Some(_), None) | (None, Some(_)) => {
                            Some(VerifyProblem::ParentHashMismatch)
                        }
                        (None, None) => None,
                    }
                };
            }
            // Keep checking (the counts say how much was covered); report the first problem.
            if let Some(problem) = problem
                && report.first_error.is_none()
            {
                report.first_error = Some(VerifyError {
                    checkpoint: *id,
                    seq: cp.seq,
                    problem,
                });
            }
        }
        report
    }

    /// Counts and sizes, in O(1).
    pub fn metrics(&self) -> Metrics {
        Metrics {
            sessions: self.sessions.len() as u64,
            checkpoints: self.checkpoints.len() as u64,
            annotations: self.annotation_count,
            attachments: self.attachment_count,
            logical_bytes: self.logical_bytes,
            stored_bytes: self.chunks.stored_bytes(),
            chunks: self.chunks.len() as u64,
            log_bytes: self.log_bytes,
            next_seq: self.next_seq,
            ops: self.ops,
            events_dropped: self.events.dropped(),
        }
    }

    /// Whether the store accepts writes and what needs attention.
    pub fn health(&self) -> Health {
        let dead_ratio = if self.log_bytes == 0 {
            0.0
        } else {
            (self.dead_bytes.min(self.log_bytes)) as f64 / self.log_bytes as f64
        };
        Health {
            ok: self.write_error.is_none(),
            write_error: self.write_error.as_ref().map(ToString::to_string),
            dead_ratio,
            events_dropped: self.events.dropped(),
        }
    }

    /// Takes the queued events, oldest first.
    pub fn drain_events(&mut self) -> Vec<Event> {
        self.events.drain()
    }

    /// Makes every write so far durable (calls the backend's `sync`).
    pub fn flush(&mut self) -> Result<()> {
        if let Some(err) = &self.write_error {
            return Err(Error::Backend(err.clone()));
        }
        self.backend.sync().map_err(|err| self.poison(err))
    }

    // ----- the write path -------------------------------------------------------------------

    /// Appends records as one backend call and applies them (the records move into memory, so
    /// nothing is copied twice). More than one record is wrapped in a transaction, so a crash
    /// mid-append replays none of them.
    pub(crate) fn commit(&mut self, records: Vec<(Record, &[&[u8]])>) -> Result<()> {
        if let Some(err) = &self.write_error {
            return Err(Error::Backend(err.clone()));
        }
        let mut buf = core::mem::take(&mut self.write_buf);
        buf.clear();
        // Per record: where its chunk bytes start in `buf`, and its frame's size.
        let mut placed: Vec<(usize, u64)> = Vec::with_capacity(records.len());
        if records.len() > 1 {
            record::write(&mut buf, &Record::Txn(records.len() as u32), &[]);
        }
        for (rec, raw) in &records {
            let start = buf.len();
            let raw_at = record::write(&mut buf, rec, raw);
            // A frame over the limit would make the log unreadable: refuse it before it is
            // written.
            if let Err(err) = crate::log::check_frame_len(buf.len() - start) {
                if buf.capacity() <= KEPT_WRITE_BUF {
                    self.write_buf = buf;
                }
                return Err(err);
            }
            placed.push((raw_at, (buf.len() - start) as u64));
        }
        let appended = self.backend.append(&buf);
        let written = buf.len() as u64;
        if buf.capacity() <= KEPT_WRITE_BUF {
            self.write_buf = buf;
        }
        let base = match appended {
            Ok(pos) => pos,
            Err(err) => {
                self.ops.backend_errors += 1;
                return Err(Error::Backend(err));
            }
        };
        if self.options.sync_every_write
            && let Err(err) = self.backend.sync()
        {
            return Err(self.poison(err));
        }
        if self.log_bytes == 0 {
            // The first write into an empty log also wrote its header.
            self.log_bytes = crate::log::HEADER_LEN as u64;
        }
        self.log_bytes += written;
        for ((rec, raw), (offset, size)) in records.into_iter().zip(placed) {
            let raw_len: u64 = raw.iter().map(|r| r.len() as u64).sum();
            self.apply(rec, base + offset as u64, size - raw_len)?;
        }
        Ok(())
    }

    /// A new id that `taken` says no session or checkpoint has. Generated ids count up from the
    /// newest id seen, but ids callers supply can sit anywhere, even at the top of the range.
    fn unused_id(&mut self, taken: impl Fn(&Self, Uuid) -> bool) -> Result<Uuid> {
        for _ in 0..64 {
            let id = self.ids.next(&mut self.env);
            if !taken(self, id) {
                return Ok(id);
            }
        }
        Err(Error::InvalidInput(
            "no unused id found: the environment's clock and randomness repeat".into(),
        ))
    }

    /// A failed sync leaves the medium in an unknown state: refuse writes until reopened.
    fn poison(&mut self, err: BackendError) -> Error {
        self.ops.backend_errors += 1;
        self.write_error = Some(err.clone());
        Error::Backend(err)
    }

    fn replay_frame(&mut self, pos: u64, payload: &[u8]) -> Result<()> {
        let frame_start = pos.saturating_sub(crate::log::FRAME_HEADER_LEN as u64);
        let (rec, raw) = record::read(payload).map_err(|kind| Error::Corrupt {
            at: frame_start,
            kind,
        })?;
        let raw_pos = pos + (payload.len() - raw.len()) as u64;
        let meta_bytes = (crate::log::FRAME_HEADER_LEN + payload.len() - raw.len()) as u64;
        if matches!(rec, Record::TxnAbort) {
            self.replay_txn = None;
            return Ok(());
        }
        if let Some((remaining, buffered)) = &mut self.replay_txn {
            buffered.push((rec, raw_pos, meta_bytes));
            *remaining -= 1;
            if *remaining == 0 {
                let (_, buffered) = self.replay_txn.take().unwrap_or_default();
                for (rec, raw_pos, meta_bytes) in buffered {
                    self.apply(rec, raw_pos, meta_bytes)
                        .map_err(|e| locate(e, frame_start))?;
                }
            }
            return Ok(());
        }
        if let Record::Txn(n) = rec {
            if n > 0 {
                self.replay_txn = Some((n, Vec::new()));
            }
            return Ok(());
        }
        self.apply(rec, raw_pos, meta_bytes)
            .map_err(|e| locate(e, frame_start))
    }

    /// Applies one record to memory. `raw_pos` is where the record's chunk bytes start in the
    /// backend; `meta_bytes` is the frame's size without them.
    pub(crate) fn apply(&mut self, rec: Record, raw_pos: u64, meta_bytes: u64) -> Result<()> {
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
                        seqs: BTreeMap::new(),
                        by_time: BTreeSet::new(),
                        leaves: BTreeSet::new(),
                        last_by_kind: [None; 3],
                        order: self.sessions.len() as u64 + self.sessions_removed,
                    },
                );
            }
            Record::Checkpoint(c) => self.apply_checkpoint(c, raw_pos, meta_bytes)?,
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
            Record::DeleteCheckpoint(id) => {
                self.remove_checkpoint(id)?;
                self.dead_bytes += meta_bytes;
            }
            Record::DeleteSession(id) => {
                let entry = self
                    .sessions
                    .get(&id)
                    .ok_or(inconsistent("deletion of an unknown session"))?;
                let ids: Vec<CheckpointId> = entry.seqs.values().rev().copied().collect();
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
        if !self.checkpoints.contains_key(&a.checkpoint) {
            return Err(inconsistent("attachment of an unknown checkpoint"));
        }
        let base_key = derived.then_some(a.key.as_str());
        let blob = self.resolve_blob(a.blob, base_key, raw_pos)?;
        self.logical_bytes += blob.len;
        self.attachment_count += 1;
        let entry = self
            .checkpoints
            .get_mut(&a.checkpoint)
            .ok_or(inconsistent("attachment of an unknown checkpoint"))?;
        entry.record_bytes += meta_bytes;
        if let Some(old) = entry.attachments.insert(a.key, blob) {
            self.attachment_count -= 1;
            self.logical_bytes -= old.len;
            self.dead_bytes += self.release_blob(&old);
        }
        Ok(())
    }

    fn apply_checkpoint(&mut self, c: CheckpointRecord, raw_pos: u64, meta: u64) -> Result<()> {
        if self.checkpoints.contains_key(&c.id) {
            return Err(inconsistent("checkpoint created twice"));
        }
        if !self.sessions.contains_key(&c.session) {
            return Err(inconsistent("checkpoint of an unknown session"));
        }
        if c.seq < self.next_seq && self.by_seq.contains_key(&c.seq) {
            return Err(inconsistent("seq used twice"));
        }
        let (metadata, known_root) = match self.live.take().filter(|l| l.id == c.id) {
            Some(l) => (l.metadata, Some(l.root)),
            None => (parse_metadata(&c.metadata)?, None),
        };
        let state = self.resolve_blob(c.state, None, raw_pos)?;
        let root = known_root
            .unwrap_or_else(|| state_root(state.chunks.iter().map(|s| &self.chunks.get(*s).hash)));
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
        self.ids.observe(cp.id.as_uuid());
        self.next_seq = self.next_seq.max(cp.seq + 1);
        self.logical_bytes += cp.state_len;
        self.by_seq.insert(cp.seq, cp.id);
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
        session.seqs.insert(cp.seq, cp.id);
        session.by_time.insert((cp.created_at, cp.seq));
        session.leaves.insert(cp.seq);
        session.session.head = Some(cp.id);
        session.session.checkpoints += 1;
        let kind = cp.trigger.kind() as usize;
        session.last_by_kind[kind] = session.last_by_kind[kind].max(Some(cp.created_at));
        self.checkpoints.insert(
            cp.id,
            Box::new(Entry {
                cp,
                state,
                annotations: Vec::new(),
                attachments: BTreeMap::new(),
                children: 0,
                record_bytes: meta,
            }),
        );
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
            let entry = self
                .checkpoints
                .get(&base.checkpoint)
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
            let prefix = chunks
                .get(..base.prefix as usize)
                .ok_or(inconsistent("chunk list prefix longer than its base"))?;
            slots.extend_from_slice(prefix);
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
        let total: u64 = slots.iter().map(|s| self.chunks.get(*s).len as u64).sum();
        if total != blob.len {
            self.chunks.drop_unreferenced(&new_slots);
            return Err(inconsistent(
                "chunk lengths do not add up to the blob length",
            ));
        }
        self.chunks.retain(&slots);
        Ok(Blob {
            content_type: blob.content_type,
            len: blob.len,
            chunks: slots,
        })
    }

    /// Releases a blob's chunks; returns the chunk bytes that became garbage.
    fn release_blob(&mut self, blob: &Blob) -> u64 {
        let before = self.chunks.stored_bytes();
        self.chunks.release(&blob.chunks);
        before - self.chunks.stored_bytes()
    }

    pub(crate) fn remove_checkpoint(&mut self, id: CheckpointId) -> Result<()> {
        let entry = self
            .checkpoints
            .remove(&id)
            .ok_or(inconsistent("deletion of an unknown checkpoint"))?;
        let cp = &entry.cp;
        self.by_seq.remove(&cp.seq);
        for tag in &cp.tags {
            if let Some(set) = self.tags.get_mut(tag.as_str()) {
                set.remove(&cp.seq);
                if set.is_empty() {
                    self.tags.remove(tag.as_str());
                }
            }
        }
        let mut freed = self.release_blob(&entry.state);
        for blob in entry.attachments.values() {
            freed += self.release_blob(blob);
        }
        self.dead_bytes += freed + entry.record_bytes;
        self.logical_bytes -= cp.state_len;
        self.logical_bytes -= entry.attachments.values().map(|b| b.len).sum::<u64>();
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
        session.by_time.remove(&(cp.created_at, cp.seq));
        session.leaves.remove(&cp.seq);
        if let Some(seq) = parent_seq {
            session.leaves.insert(seq);
        }
        session.session.checkpoints -= 1;
        if session.session.head == Some(id) {
            session.session.head =
                parent_alive.or_else(|| session.seqs.last_key_value().map(|(_, id)| *id));
        }
        // Throttling remembers the newest checkpoint of each kind still in the store, as a
        // replay of the log (or of a compacted log) does.
        let kind = cp.trigger.kind();
        if session.last_by_kind[kind as usize] == Some(cp.created_at) {
            let checkpoints = &self.checkpoints;
            session.last_by_kind[kind as usize] = session
                .by_time
                .iter()
                .rev()
                .find(|(_, seq)| {
                    session
                        .seqs
                        .get(seq)
                        .and_then(|id| checkpoints.get(id))
                        .is_some_and(|e| e.cp.trigger.kind() == kind)
                })
                .map(|(time, _)| *time);
        }
        Ok(())
    }

    /// The parent a checkpoint is linked to: alive, in the same session, and older. A parent id
    /// that was deleted and later reused by a caller-supplied id is not a link (the newer
    /// checkpoint has a higher seq), which also makes cycles impossible, even in a hostile log.
    pub(crate) fn linked_parent(&self, cp: &Checkpoint) -> Option<&Entry> {
        let parent = self.checkpoints.get(&cp.parent?)?;
        (parent.cp.session == cp.session && parent.cp.seq < cp.seq).then_some(parent)
    }

    pub(crate) fn with_backend<B2: Backend>(self, backend: B2) -> Store<B2, E> {
        Store {
            backend,
            env: self.env,
            options: self.options,
            sessions: self.sessions,
            checkpoints: self.checkpoints,
            by_seq: self.by_seq,
            tags: self.tags,
            chunks: self.chunks,
            next_seq: self.next_seq,
            ids: self.ids,
            events: self.events,
            ops: self.ops,
            logical_bytes: self.logical_bytes,
            annotation_count: self.annotation_count,
            attachment_count: self.attachment_count,
            log_bytes: self.log_bytes,
            dead_bytes: self.dead_bytes,
            write_error: self.write_error,
            sessions_removed: self.sessions_removed,
            replay_txn: self.replay_txn,
            write_buf: self.write_buf,
            live: None,
        }
    }
}

/// Iterator over a checkpoint and its ancestors; see [`Store::history`].
pub struct History<'a, B: Backend, E: Env> {
    store: &'a Store<B, E>,
    next: Option<CheckpointId>,
}

impl<'a, B: Backend, E: Env> Iterator for History<'a, B, E> {
    type Item = &'a Checkpoint;

    fn next(&mut self) -> Option<&'a Checkpoint> {
        let id = self.next.take()?;
        let cp = &self.store.checkpoints.get(&id)?.cp;
        self.next = self.store.linked_parent(cp).map(|p| p.cp.id);
        Some(cp)
    }
}

/// Placeholder backend used while replaying, so `open` can borrow the real backend for `load`
/// while the store under construction receives the records.
pub(crate) struct NoBackend;

impl Backend for NoBackend {
    fn append(&mut self, _: &[u8]) -> Result<u64, BackendError> {
        Err(BackendError::RewriteState("store is still opening"))
    }
    fn sync(&mut self) -> Result<(), BackendError> {
        Ok(())
    }
    fn load(&mut self, _: &mut crate::backend::Visitor<'_>) -> Result<LoadReport> {
        Ok(LoadReport::default())
    }
    fn read_at(&self, _: u64, _: &mut [u8]) -> Result<(), BackendError> {
        Err(BackendError::RewriteState("store is still opening"))
    }
    fn begin_rewrite(&mut self) -> Result<(), BackendError> {
        Err(BackendError::RewriteState("store is still opening"))
    }
    fn rewrite_append(&mut self, _: &[u8]) -> Result<u64, BackendError> {
        Err(BackendError::RewriteState("store is still opening"))
    }
    fn commit_rewrite(&mut self) -> Result<(), BackendError> {
        Err(BackendError::RewriteState("store is still opening"))
    }
    fn abort_rewrite(&mut self) {}
}

fn inconsistent(what: &'static str) -> Error {
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

pub(crate) fn parse_metadata(text: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(inconsistent("metadata is not a JSON object")),
    }
}
