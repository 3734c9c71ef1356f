//! The write path: every operation that appends records.
//!
//! Each one follows the same steps: check the input ([`validate`](super::validate)) and what it
//! refers to (sessions, parents, ids) against the index, build the records, append their frames
//! in one backend call, and only when the append (and, if configured, the sync) succeeded apply
//! them to the index. A failed append leaves the index unchanged: no phantom checkpoint.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::annotation::{Annotation, Severity};
use crate::backend::Backend;
use crate::chain::{RawMarks, Version};
use crate::checkpoint::{
    Checkpoint, HashFields, NewCheckpoint, ParentChoice, Trigger, TriggerKind, hash_fields,
    state_root,
};
use crate::env::Env;
use crate::error::{BackendError, Error, Result};
use crate::event::Event;
use crate::frame::{self, HEADER_LEN};
use crate::id::{CheckpointId, Hash, SessionId};
use crate::record::{self, AnnotationRecord, CheckpointRecord, HeadRecord, Record, SessionRecord};
use crate::store::Store;
use crate::store::blob::{BlobBase, Pending, attachment_record};
use crate::store::index::Known;
use crate::store::validate::{self, CheckpointFields};
use crate::store::wire::Encoder;

/// The largest write buffer kept between writes.
const KEPT_WRITE_BUF: usize = 1 << 20;

/// How many times a write to a [shared](Backend::is_shared) log is planned before it gives up
/// with [`BackendError::Behind`]: each failed try means another writer's write landed, so the
/// store as a whole made progress.
pub(crate) const SHARED_WRITE_TRIES: u32 = 1000;

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

/// A new checkpoint that passed every check: what the records are built from.
struct Checked {
    /// The metadata as canonical JSON text.
    metadata: String,
    parent: Option<CheckpointId>,
    parent_hash: Option<Hash>,
}

impl<B: Backend, E: Env> Store<B, E> {
    // ----- sessions -------------------------------------------------------------------------

    /// Creates a session.
    pub fn create_session(
        &mut self,
        name: impl Into<String>,
        metadata: Map<String, Value>,
    ) -> Result<SessionId> {
        self.retrying_with(name.into(), |store, name| {
            let id = store
                .unused_id(|index, id| index.sessions.contains_key(&SessionId::from_uuid(id)))?;
            store.write_session(SessionId::from_uuid(id), name, &metadata)
        })
    }

    /// Creates a session with a caller-chosen id (LangGraph thread ids, imports).
    pub fn create_session_with_id(
        &mut self,
        id: SessionId,
        name: impl Into<String>,
        metadata: Map<String, Value>,
    ) -> Result<SessionId> {
        self.retrying_with(name.into(), |store, name| {
            store.write_session(id, name, &metadata)
        })
    }

    fn write_session(
        &mut self,
        id: SessionId,
        name: String,
        metadata: &Map<String, Value>,
    ) -> Result<SessionId> {
        let metadata = validate::session(&self.options.limits, &name, metadata)?;
        if self.index.sessions.contains_key(&id) {
            return Err(Error::DuplicateId(id.to_string()));
        }
        let created_at = self.env.now_ms();
        let record = Record::Session(SessionRecord {
            id,
            name,
            metadata,
            created_at,
        });
        self.commit(alloc::vec![(record, &[])], None)?;
        self.ops.sessions_created += 1;
        self.events.push(Event::SessionCreated { session: id });
        Ok(id)
    }

    /// Deletes a session and all its checkpoints.
    pub fn delete_session(&mut self, id: SessionId) -> Result<u64> {
        let count = self.retrying(|store| {
            let count = store.session(id)?.checkpoints;
            store.commit(alloc::vec![(Record::DeleteSession(id), &[])], None)?;
            Ok(count)
        })?;
        self.ops.deletes += count;
        self.events.push(Event::SessionDeleted { session: id });
        Ok(count)
    }

    // ----- checkpoints ----------------------------------------------------------------------

    /// Creates a checkpoint. Its parent is the session head unless the builder says otherwise;
    /// afterwards the head is the new checkpoint.
    pub fn checkpoint(&mut self, new: NewCheckpoint<'_>) -> Result<&Checkpoint> {
        let id = self.retrying_with(new, Self::write_checkpoint)?;
        Ok(&self.index.checkpoints[&id].cp)
    }

    /// Creates an automatic checkpoint unless the session has a recent one (see
    /// [`AutoPolicy`](crate::AutoPolicy)). Returns `None` when throttled.
    pub fn auto_checkpoint(
        &mut self,
        new: NewCheckpoint<'_>,
        reason: impl Into<String>,
    ) -> Result<Option<&Checkpoint>> {
        let id = self.retrying_with((new, reason.into()), |store, (new, reason)| {
            store.write_auto_checkpoint(new, reason)
        })?;
        Ok(id.map(|id| &self.index.checkpoints[&id].cp))
    }

    fn write_auto_checkpoint(
        &mut self,
        new: NewCheckpoint<'_>,
        reason: String,
    ) -> Result<Option<CheckpointId>> {
        let now = new.created_at.unwrap_or_else(|| self.env.now_ms());
        let mut new = new.trigger(Trigger::Automatic { reason }).created_at(now);
        // Bad input is an error even when the checkpoint would be throttled away, and the same
        // error `checkpoint` gives.
        let checked = self.check_checkpoint(&mut new)?;
        let entry = self.index.session(new.session)?;
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
            self.ops.auto_skipped += 1;
            return Ok(None);
        }
        self.write_checked(new, checked).map(Some)
    }

    /// Everything a new checkpoint is checked for before anything is written: its fields and
    /// attachments, its session, its parent and a caller-supplied id. Normalises its tags.
    fn check_checkpoint(&self, new: &mut NewCheckpoint<'_>) -> Result<Checked> {
        validate::normalise_tags(&mut new.tags);
        let limits = &self.options.limits;
        let metadata = validate::checkpoint(
            limits,
            &CheckpointFields {
                message: &new.message,
                state_len: new.state.len(),
                namespace: &new.namespace,
                content_type: &new.content_type,
                tags: &new.tags,
                metadata: &new.metadata,
                trigger: &new.trigger,
            },
        )?;
        validate::attachments(
            limits,
            new.attachments
                .iter()
                .map(|a| (a.key.as_str(), a.content_type.as_str(), a.bytes.len())),
        )?;
        let session = self.index.session(new.session)?;
        let parent = match new.parent {
            ParentChoice::Head => session.session.head,
            ParentChoice::Root => None,
            ParentChoice::Of(parent) => Some(parent),
        };
        let parent_hash = match parent {
            Some(parent) => {
                let entry = self.index.entry(parent)?;
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
        if let Some(id) = new.id
            && self.index.checkpoints.contains(&id)
        {
            return Err(Error::DuplicateId(id.to_string()));
        }
        Ok(Checked {
            metadata,
            parent,
            parent_hash,
        })
    }

    fn write_checkpoint(&mut self, mut new: NewCheckpoint<'_>) -> Result<CheckpointId> {
        let checked = self.check_checkpoint(&mut new)?;
        self.write_checked(new, checked)
    }

    /// Writes a checkpoint `check_checkpoint` accepted.
    fn write_checked(&mut self, new: NewCheckpoint<'_>, checked: Checked) -> Result<CheckpointId> {
        let Checked {
            metadata,
            parent,
            parent_hash,
        } = checked;
        let id =
            match new.id {
                Some(id) => id,
                None => CheckpointId::from_uuid(self.unused_id(|index, id| {
                    index.checkpoints.contains(&CheckpointId::from_uuid(id))
                })?),
            };
        let created_at = new.created_at.unwrap_or_else(|| self.env.now_ms());
        let state_base = parent.map_or(BlobBase::None, BlobBase::State);
        let blob = self
            .index
            .plan_blob(new.state, new.content_type, state_base, None);
        // Attachments of the same transaction: chunks new in the state (or in an earlier
        // attachment) are not in the table yet, so `pending` keeps them from being logged twice.
        let mut attachments = Vec::with_capacity(new.attachments.len());
        let mut attachment_raw = Vec::with_capacity(new.attachments.len());
        if !new.attachments.is_empty() {
            let mut pending = Pending::default();
            pending.add(&blob);
            for a in new.attachments {
                // A base that is gone (compacted, deleted) is only a missed saving.
                let named = a.base.filter(|b| self.index.checkpoints.contains(b));
                let base = match named.or(parent) {
                    Some(b) => BlobBase::Attachment(b, &a.key),
                    None => BlobBase::None,
                };
                let plan = self
                    .index
                    .plan_blob(a.bytes, a.content_type, base, Some(&pending));
                pending.add(&plan);
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
            message: &new.message,
            tags: &new.tags,
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
            seq: self.index.next_seq,
            parent,
            parent_hash,
            created_at,
            message: new.message,
            tags: new.tags,
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
        let known = Known {
            id,
            metadata: new.metadata,
            root,
            hash,
        };
        self.commit(records, Some(known))?;
        self.ops.checkpoints_created += 1;
        self.ops.attachments += attached;
        let cp = &self.index.checkpoints[&id].cp;
        self.events.push(Event::Created {
            session: cp.session,
            checkpoint: id,
            seq: cp.seq,
        });
        Ok(id)
    }

    /// Returns a checkpoint's state and moves its session's head there, so the next checkpoint
    /// of the session forks from it.
    pub fn restore(&mut self, id: CheckpointId) -> Result<Restored> {
        let session = self.head_to(id)?;
        // Read once the head moved: a write planned again does not read the state again.
        let entry = self.index.entry(id)?;
        let state = self.read_blob(&entry.state)?;
        let content_type = entry.cp.content_type.clone();
        self.restored(session, id);
        Ok(Restored {
            checkpoint: id,
            session,
            state,
            content_type,
        })
    }

    /// [`restore`](Store::restore) for a caller that reads the state itself: moves the head
    /// the same way and returns the runs the state is read from
    /// ([`state_runs`](Store::state_runs)). The sandbox component's host reads them from its
    /// own backend, so the state's bytes are copied once, as natively.
    pub fn restore_runs(&mut self, id: CheckpointId) -> Result<Vec<(u64, u32)>> {
        let session = self.head_to(id)?;
        let runs = self.blob_runs(&self.index.entry(id)?.state)?;
        self.restored(session, id);
        Ok(runs)
    }

    /// Moves `id`'s session head to it; returns the session.
    fn head_to(&mut self, id: CheckpointId) -> Result<SessionId> {
        self.retrying(|store| {
            let session = store.index.entry(id)?.cp.session;
            store.move_head(session, Some(id))?;
            Ok(session)
        })
    }

    /// Counts a restore and tells subscribers.
    fn restored(&mut self, session: SessionId, checkpoint: CheckpointId) {
        self.ops.restores += 1;
        self.events.push(Event::Restored {
            session,
            checkpoint,
        });
    }

    /// Moves a session's head without reading the state (`None`: the next checkpoint is a root).
    pub fn set_head(&mut self, session: SessionId, head: Option<CheckpointId>) -> Result<()> {
        self.retrying(|store| {
            store.session(session)?;
            if let Some(id) = head
                && store.index.entry(id)?.cp.session != session
            {
                return Err(Error::ParentInOtherSession {
                    parent: id,
                    session,
                });
            }
            store.move_head(session, head)
        })
    }

    fn move_head(&mut self, session: SessionId, head: Option<CheckpointId>) -> Result<()> {
        if self.index.session(session)?.session.head == head {
            return Ok(());
        }
        let record = Record::Head(HeadRecord { session, head });
        self.commit(alloc::vec![(record, &[])], None)
    }

    /// Deletes a checkpoint. Its children stay readable (every state is complete on its own);
    /// their `parent` keeps naming the deleted id and `history` stops there. If it was the
    /// session head, the head moves to its parent, or else to the newest remaining checkpoint.
    /// Space is reclaimed by the next [`compact`](Store::compact) or [`vacuum`](Store::vacuum).
    pub fn delete(&mut self, id: CheckpointId) -> Result<()> {
        let session = self.retrying(|store| {
            let session = store.index.entry(id)?.cp.session;
            store.commit(alloc::vec![(Record::DeleteCheckpoint(id), &[])], None)?;
            Ok(session)
        })?;
        self.ops.deletes += 1;
        self.events.push(Event::Deleted {
            session,
            checkpoint: id,
        });
        Ok(())
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
        validate::annotation(&self.options.limits, &note)?;
        self.retrying_with(note, |store, note| {
            store.index.entry(id)?;
            let annotation = Annotation::new(note, severity, store.env.now_ms());
            let record = Record::Annotation(AnnotationRecord {
                checkpoint: id,
                annotation,
            });
            store.commit(alloc::vec![(record, &[])], None)
        })?;
        self.ops.annotations += 1;
        self.events.push(Event::Annotated {
            checkpoint: id,
            severity,
        });
        self.index.checkpoints[&id]
            .annotations
            .last()
            .ok_or(Error::CheckpointNotFound(id))
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
        validate::attachment(&self.options.limits, &key, &content_type, bytes.len())?;
        self.retrying_with((key, content_type), |store, (key, content_type)| {
            let parent = store.index.entry(id)?.cp.parent;
            let base = match parent.filter(|p| store.index.checkpoints.contains(p)) {
                Some(p) => BlobBase::Attachment(p, &key),
                None => BlobBase::None,
            };
            let blob = store.index.plan_blob(bytes, content_type, base, None);
            let record = attachment_record(id, key, blob.record);
            store.commit(alloc::vec![(record, &blob.raw)], None)
        })?;
        self.ops.attachments += 1;
        Ok(())
    }

    // ----- the commit -----------------------------------------------------------------------

    /// [`retrying`](Store::retrying) a write that consumes `arg`: a store whose backend is its
    /// log's only writer runs it once on `arg` itself; a shared log's gives each try a copy.
    fn retrying_with<A: Clone, T>(
        &mut self,
        arg: A,
        mut write: impl FnMut(&mut Self, A) -> Result<T>,
    ) -> Result<T> {
        if !self.backend.is_shared() {
            return write(self, arg);
        }
        self.retrying(|store| write(store, arg.clone()))
    }

    /// Runs a write; on a [shared](Backend::is_shared) log, when another writer appended first,
    /// catches up on what it wrote and runs the write again — planned anew against the store
    /// as it now is (a new checkpoint's parent is then the session head the other writer
    /// left), as if the writes had been made one after another. Gives up with
    /// [`BackendError::Behind`] after [`SHARED_WRITE_TRIES`] tries.
    pub(crate) fn retrying<T>(
        &mut self,
        mut write: impl FnMut(&mut Self) -> Result<T>,
    ) -> Result<T> {
        if !self.backend.is_shared() {
            return write(self);
        }
        let result = self.retry_shared(&mut write);
        self.backend.end_write();
        result
    }

    fn retry_shared<T>(&mut self, write: &mut impl FnMut(&mut Self) -> Result<T>) -> Result<T> {
        let mut tries = 1;
        loop {
            match write(self) {
                Err(Error::Backend(BackendError::Behind)) if tries < SHARED_WRITE_TRIES => {
                    tries += 1;
                    self.ops.write_retries += 1;
                    self.catch_up()?;
                }
                // What the write names may be another writer's, not seen yet: it fails only
                // if it is missing from the whole log.
                Err(err @ (Error::SessionNotFound(_) | Error::CheckpointNotFound(_)))
                    if tries < SHARED_WRITE_TRIES =>
                {
                    if self.catch_up()?.writes == 0 {
                        return Err(err);
                    }
                    tries += 1;
                    self.ops.write_retries += 1;
                }
                other => return other,
            }
        }
    }

    /// Appends records as one backend call and applies them (the records move into the index,
    /// so nothing is copied twice). More than one record is wrapped in a transaction, so a
    /// crash mid-append replays none of them. `known` is what the write already computed for
    /// the checkpoint among the records.
    pub(crate) fn commit(
        &mut self,
        records: Vec<(Record, &[&[u8]])>,
        known: Option<Known>,
    ) -> Result<()> {
        if let Some(err) = &self.write_error {
            return Err(Error::Backend(err.clone()));
        }
        // A write planned on an index that may be incomplete is not written (a writer of a
        // shared log reads the log again first: see `catch_up`).
        self.index.intact()?;
        if self.index.stale {
            return Err(Error::Backend(BackendError::Behind));
        }
        // Version 3: the records in their compact form, named against the log.
        let records = if self.index.chain.version == Version::V3 {
            let mut encoder = Encoder::new(self.index.chunks.next_number(), records.len() > 1);
            let index = &self.index;
            // Collected in place: the records' own allocation is reused.
            records
                .into_iter()
                .map(|(rec, raw)| Ok((encoder.encode(index, rec)?, raw)))
                .collect::<Result<Vec<_>>>()?
        } else {
            records
        };
        let mut buf = core::mem::take(&mut self.write_buf);
        buf.clear();
        // Per record: where its chunk bytes start in `buf`, and its frame's size.
        let mut placed: Vec<(usize, u64)> = Vec::with_capacity(records.len());
        let v2 = self.index.chain.version.sealed();
        // Frames carrying chunk bytes, for the seal.
        let mut raw_marks = RawMarks::default();
        if v2 && !self.index.chain.started {
            // A new log's first write opens it.
            let start = if self.index.chain.version == Version::V3 {
                Record::CompactLogStart(None)
            } else {
                Record::LogStart(None)
            };
            record::write(&mut buf, &start, &[]);
        }
        if records.len() > 1 {
            record::write(&mut buf, &Record::Txn(records.len() as u32), &[]);
        }
        for (rec, raw) in &records {
            let start = buf.len();
            let raw_at = record::write(&mut buf, rec, raw);
            // A frame over the limit would make the log unreadable: refuse it before it is
            // written.
            if let Err(err) = frame::check_frame_len(buf.len() - start) {
                self.keep_write_buf(buf);
                return Err(err);
            }
            placed.push((raw_at, (buf.len() - start) as u64));
            if v2 && raw_at < buf.len() {
                raw_marks.push(start, raw_at, rec);
            }
        }
        // Version 2: the write ends with its seal.
        let sealed = v2.then(|| {
            let (head, seal) = self.index.chain.seal_of(&buf, &raw_marks);
            record::write(&mut buf, &Record::Seal(seal), &[]);
            head
        });
        let appended = self.backend.append(&buf);
        let written = buf.len() as u64;
        let base = match appended {
            Ok(pos) => pos,
            Err(err) => {
                self.keep_write_buf(buf);
                self.ops.backend_errors += 1;
                return Err(Error::Backend(err));
            }
        };
        self.index.note_appended(base, &buf);
        if let Some(merge) = &mut self.merge {
            merge.appended(base, &buf);
        }
        self.keep_write_buf(buf);
        if let Some(head) = sealed {
            self.index.chain.advance(head);
        }
        if self.options.sync_every_write
            && let Err(err) = self.backend.sync()
        {
            return Err(self.poison(err));
        }
        if self.log_bytes == 0 {
            // The first write into an empty log also wrote its header.
            self.log_bytes = HEADER_LEN as u64;
        }
        self.log_bytes += written;
        let mut known = known;
        for ((rec, raw), (offset, size)) in records.into_iter().zip(placed) {
            let raw_len: u64 = raw.iter().map(|r| r.len() as u64).sum();
            let known = match rec {
                Record::Checkpoint(_) | Record::CompactCheckpoint(_) => known.take(),
                _ => None,
            };
            self.index
                .apply(rec, base + offset as u64, size - raw_len, known)?;
        }
        self.snapshot_if_grown();
        Ok(())
    }

    /// Keeps the write buffer for the next write, unless a large write grew it.
    fn keep_write_buf(&mut self, buf: Vec<u8>) {
        if buf.capacity() <= KEPT_WRITE_BUF {
            self.write_buf = buf;
        }
    }

    /// A new id that `taken` says no session or checkpoint has. Generated ids count up from the
    /// newest id seen, but ids callers supply can sit anywhere, even at the top of the range.
    fn unused_id(
        &mut self,
        taken: impl Fn(&crate::store::index::Index, Uuid) -> bool,
    ) -> Result<Uuid> {
        for _ in 0..64 {
            let id = self.index.ids.next(&mut self.env);
            if !taken(&self.index, id) {
                return Ok(id);
            }
        }
        Err(Error::InvalidInput(
            "no unused id found: the environment's clock and randomness repeat".into(),
        ))
    }

    /// A failed sync leaves the medium in an unknown state: refuse writes until reopened.
    pub(crate) fn poison(&mut self, err: BackendError) -> Error {
        self.ops.backend_errors += 1;
        self.write_error = Some(err.clone());
        Error::Backend(err)
    }
}
