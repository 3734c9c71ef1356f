//! Export and import: moving history between stores and hosts.
//!
//! Two forms carry the same content:
//! - **binary**: a standalone record log ([`Store::export_binary`]), the bytes every host
//!   reads natively;
//! - **JSON**: a versioned document for people and scripts, schema below.
//!
//! ```text
//! {
//!   "format": "rewind.export", "version": 1, "exported_at": <unix ms>,
//!   "sessions": [ { "id", "name", "metadata": {..}, "created_at", "head": <id|null> } ],
//!   "checkpoints": [ {                               // in seq order
//!       "id", "session", "namespace", "seq", "parent": <id|null>, "parent_hash": <hex|null>,
//!       "created_at", "message", "tags": [..],
//!       "trigger": {"kind": "manual"|"automatic"|"scheduled", "reason"?: ".."},
//!       "metadata": {..}, "content_type", "state_len", "hash": <hex>,
//!       "state": { "encoding": "utf8"|"base64", "data": ".." },
//!       "annotations": [ { "note", "severity": "info"|"warning"|"critical", "created_at" } ],
//!       "attachments": [ { "key", "content_type", "encoding", "data" } ] } ]
//! }
//! ```
//!
//! States are carried byte-exact (UTF-8 text when they are valid UTF-8, base64 otherwise), never
//! re-serialised, because the hash covers the exact bytes.
//!
//! Import is all-or-nothing: everything is decoded and checked — limits, every checkpoint's hash
//! recomputed from its contents, every parent link, duplicate ids — before one transaction is
//! written. Checkpoints (and sessions) whose id the store already has are skipped. Imported
//! checkpoints get fresh seqs after the store's own, in their exported order, so seqs stay
//! strictly increasing and are never reused.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use base64::Engine as _;
use hashbrown::{HashMap, HashSet};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::annotation::{Annotation, Severity};
use crate::backend::{Backend, MemoryBackend};
use crate::checkpoint::{HashFields, Trigger, canonical_metadata, hash_fields, state_root};
use crate::env::{DeterministicEnv, Env};
use crate::error::{Error, Result};
use crate::id::{CheckpointId, Hash, SessionId};
use crate::options::Options;
use crate::record::{AnnotationRecord, CheckpointRecord, HeadRecord, Record, SessionRecord};
use crate::store::Store;
use crate::store::blob::{BlobBase, Pending, attachment_record};
use crate::store::index::check_of;
use crate::store::validate::{self, CheckpointFields};

/// The `format` field of a JSON export.
pub const JSON_FORMAT: &str = "rewind.export";
/// The JSON export schema version this build writes and reads.
pub const JSON_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonExport {
    format: String,
    version: u32,
    exported_at: u64,
    sessions: Vec<JsonSession>,
    checkpoints: Vec<JsonCheckpoint>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonSession {
    id: SessionIdText,
    name: String,
    metadata: Map<String, Value>,
    created_at: u64,
    head: Option<CheckpointIdText>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonCheckpoint {
    id: CheckpointIdText,
    session: SessionIdText,
    namespace: String,
    seq: u64,
    parent: Option<CheckpointIdText>,
    parent_hash: Option<String>,
    created_at: u64,
    message: String,
    tags: Vec<String>,
    trigger: JsonTrigger,
    metadata: Map<String, Value>,
    content_type: String,
    state_len: u64,
    hash: String,
    state: JsonBytes,
    #[serde(default)]
    annotations: Vec<JsonAnnotation>,
    #[serde(default)]
    attachments: Vec<JsonAttachment>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonTrigger {
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonBytes {
    encoding: String,
    data: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonAnnotation {
    note: String,
    severity: String,
    created_at: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonAttachment {
    key: String,
    content_type: String,
    encoding: String,
    data: String,
}

/// Ids as hyphenated strings in JSON (the serde impl of `Uuid` is human-readable there anyway;
/// the wrappers make the schema explicit and the errors clear).
#[derive(Serialize, Deserialize, Clone, Copy)]
#[serde(transparent)]
struct SessionIdText(SessionId);
#[derive(Serialize, Deserialize, Clone, Copy)]
#[serde(transparent)]
struct CheckpointIdText(CheckpointId);

impl JsonBytes {
    fn encode(bytes: &[u8]) -> JsonBytes {
        match core::str::from_utf8(bytes) {
            Ok(text) => JsonBytes {
                encoding: "utf8".into(),
                data: text.into(),
            },
            Err(_) => JsonBytes {
                encoding: "base64".into(),
                data: base64::engine::general_purpose::STANDARD.encode(bytes),
            },
        }
    }

    fn decode(encoding: &str, data: String) -> Result<Vec<u8>> {
        match encoding {
            "utf8" => Ok(data.into_bytes()),
            "base64" => base64::engine::general_purpose::STANDARD
                .decode(data.as_bytes())
                .map_err(|e| reject(alloc::format!("bad base64: {e}"))),
            other => Err(reject(alloc::format!("unknown encoding {other:?}"))),
        }
    }
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "api",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
#[non_exhaustive]
pub struct ImportReport {
    /// Sessions created.
    pub sessions_added: u64,
    /// Checkpoints added.
    pub checkpoints_added: u64,
    /// Checkpoints skipped because the store already has their id with the same hash.
    pub skipped: u64,
    /// Checkpoints skipped because the store has their id with a *different* hash.
    pub conflicts: Vec<CheckpointId>,
    /// Annotations added.
    pub annotations_added: u64,
    /// Attachments added.
    pub attachments_added: u64,
}

/// One checkpoint of an import, decoded and not yet checked.
struct Incoming {
    id: CheckpointId,
    session: SessionId,
    namespace: String,
    seq: u64,
    parent: Option<CheckpointId>,
    parent_hash: Option<Hash>,
    created_at: u64,
    message: String,
    tags: Vec<String>,
    trigger: Trigger,
    metadata: Map<String, Value>,
    content_type: String,
    state: Vec<u8>,
    hash: Hash,
    annotations: Vec<Annotation>,
    attachments: Vec<(String, String, Vec<u8>)>,
}

struct IncomingSession {
    id: SessionId,
    name: String,
    metadata: Map<String, Value>,
    created_at: u64,
    head: Option<CheckpointId>,
}

fn reject(msg: impl Into<String>) -> Error {
    Error::ImportRejected(msg.into())
}

impl<B: Backend, E: Env> Store<B, E> {
    /// The live store (or some sessions) as a JSON document (schema in the module docs).
    pub fn export_json(&mut self, sessions: Option<&[SessionId]>) -> Result<String> {
        if let Some(list) = sessions {
            for s in list {
                self.session(*s)?;
            }
        }
        let wanted = |s: &SessionId| sessions.is_none_or(|l| l.contains(s));
        let mut doc = JsonExport {
            format: JSON_FORMAT.into(),
            version: JSON_VERSION,
            exported_at: self.env.now_ms(),
            sessions: Vec::new(),
            checkpoints: Vec::new(),
        };
        for entry in self
            .index
            .sessions
            .values()
            .filter(|e| wanted(&e.session.id))
        {
            let s = &entry.session;
            doc.sessions.push(JsonSession {
                id: SessionIdText(s.id),
                name: s.name.clone(),
                metadata: s.metadata.clone(),
                created_at: s.created_at,
                head: s.head.map(CheckpointIdText),
            });
        }
        let total = self.index.checkpoints.len() as u64;
        for (done, entry) in self.index.checkpoints.iter().enumerate() {
            self.report_progress(done as u64, total);
            let cp = &entry.cp;
            if !wanted(&cp.session) {
                continue;
            }
            let state = self.read_blob(&entry.state)?;
            let mut attachments = Vec::new();
            for (key, blob) in &entry.attachments {
                let bytes = JsonBytes::encode(&self.read_blob(blob)?);
                attachments.push(JsonAttachment {
                    key: key.clone(),
                    content_type: blob.content_type.clone(),
                    encoding: bytes.encoding,
                    data: bytes.data,
                });
            }
            doc.checkpoints.push(JsonCheckpoint {
                id: CheckpointIdText(cp.id),
                session: SessionIdText(cp.session),
                namespace: cp.namespace.clone(),
                seq: cp.seq,
                parent: cp.parent.map(CheckpointIdText),
                parent_hash: cp.parent_hash.map(|h| h.to_hex()),
                created_at: cp.created_at,
                message: cp.message.clone(),
                tags: cp.tags.clone(),
                trigger: match &cp.trigger {
                    Trigger::Manual => JsonTrigger {
                        kind: "manual".into(),
                        reason: None,
                    },
                    Trigger::Automatic { reason } => JsonTrigger {
                        kind: "automatic".into(),
                        reason: Some(reason.clone()),
                    },
                    Trigger::Scheduled => JsonTrigger {
                        kind: "scheduled".into(),
                        reason: None,
                    },
                },
                metadata: cp.metadata.clone(),
                content_type: cp.content_type.clone(),
                state_len: cp.state_len,
                hash: cp.hash.to_hex(),
                state: JsonBytes::encode(&state),
                annotations: entry
                    .annotations
                    .iter()
                    .map(|a| JsonAnnotation {
                        note: a.note.clone(),
                        severity: a.severity.as_str().into(),
                        created_at: a.created_at,
                    })
                    .collect(),
                attachments,
            });
        }
        self.report_progress(total, total);
        serde_json::to_string(&doc).map_err(|e| Error::InvalidInput(e.to_string()))
    }

    /// Imports a JSON export (all-or-nothing; see the module docs).
    pub fn import_json(&mut self, bytes: &[u8]) -> Result<ImportReport> {
        self.retrying(|store| store.import_json_once(bytes))
    }

    fn import_json_once(&mut self, bytes: &[u8]) -> Result<ImportReport> {
        self.check_import_size(bytes.len())?;
        let doc: JsonExport = serde_json::from_slice(bytes)
            .map_err(|e| reject(alloc::format!("not a rewind JSON export: {e}")))?;
        if doc.format != JSON_FORMAT {
            return Err(reject(alloc::format!("unknown format {:?}", doc.format)));
        }
        if doc.version != JSON_VERSION {
            return Err(reject(alloc::format!(
                "export version {} is not supported (this build reads {JSON_VERSION})",
                doc.version
            )));
        }
        let sessions = doc
            .sessions
            .into_iter()
            .map(|s| IncomingSession {
                id: s.id.0,
                name: s.name,
                metadata: s.metadata,
                created_at: s.created_at,
                head: s.head.map(|h| h.0),
            })
            .collect();
        let mut checkpoints = Vec::with_capacity(doc.checkpoints.len());
        for c in doc.checkpoints {
            let id = c.id.0;
            let bad_hash = |what: &str| reject(alloc::format!("checkpoint {id}: bad {what}"));
            let trigger = match (c.trigger.kind.as_str(), c.trigger.reason) {
                ("manual", None) => Trigger::Manual,
                ("scheduled", None) => Trigger::Scheduled,
                ("automatic", Some(reason)) => Trigger::Automatic { reason },
                _ => return Err(bad_hash("trigger")),
            };
            let mut annotations = Vec::new();
            for a in c.annotations {
                let severity = Severity::parse(&a.severity).ok_or_else(|| bad_hash("severity"))?;
                annotations.push(Annotation::new(a.note, severity, a.created_at));
            }
            let mut attachments = Vec::new();
            for a in c.attachments {
                let data = JsonBytes::decode(&a.encoding, a.data)?;
                attachments.push((a.key, a.content_type, data));
            }
            let state = JsonBytes::decode(&c.state.encoding, c.state.data)?;
            if state.len() as u64 != c.state_len {
                return Err(bad_hash("state_len"));
            }
            checkpoints.push(Incoming {
                id,
                session: c.session.0,
                namespace: c.namespace,
                seq: c.seq,
                parent: c.parent.map(|p| p.0),
                parent_hash: match c.parent_hash {
                    Some(h) => Some(Hash::from_hex(&h).ok_or_else(|| bad_hash("parent_hash"))?),
                    None => None,
                },
                created_at: c.created_at,
                message: c.message,
                tags: c.tags,
                trigger,
                metadata: c.metadata,
                content_type: c.content_type,
                state,
                hash: Hash::from_hex(&c.hash).ok_or_else(|| bad_hash("hash"))?,
                annotations,
                attachments,
            });
        }
        self.import_all(sessions, checkpoints)
    }

    /// Imports a binary export (a record log from any host). All-or-nothing; corrupt frames are
    /// reported as [`Error::Corrupt`] with their offset.
    pub fn import_binary(&mut self, bytes: &[u8]) -> Result<ImportReport> {
        self.retrying(|store| store.import_binary_once(bytes))
    }

    fn import_binary_once(&mut self, bytes: &[u8]) -> Result<ImportReport> {
        self.check_import_size(bytes.len())?;
        if bytes.is_empty() {
            return Err(reject("empty input"));
        }
        let options = Options {
            limits: self.options.limits,
            event_capacity: 0,
            ..Options::default()
        };
        let backend = MemoryBackend::from_bytes(bytes.to_vec());
        let (source, report) = Store::open(backend, DeterministicEnv::new(), options)?;
        if report.truncated_bytes > 0 || report.unfinished_transaction || report.unsealed_frames > 0
        {
            return Err(reject(alloc::format!(
                "export is cut short ({} bytes of an incomplete frame, {} records of an \
                 unfinished transaction, {} frames after its last seal at the end)",
                report.truncated_bytes,
                report.discarded_records,
                report.unsealed_frames
            )));
        }
        let sessions = source
            .index
            .sessions
            .values()
            .map(|e| IncomingSession {
                id: e.session.id,
                name: e.session.name.clone(),
                metadata: e.session.metadata.clone(),
                created_at: e.session.created_at,
                head: e.session.head,
            })
            .collect();
        let mut checkpoints = Vec::new();
        for entry in source.index.checkpoints.iter() {
            let cp = &entry.cp;
            // A version 3 log records the first bytes of each hash, not the hash: contents
            // that no longer match them were changed after the hash was taken.
            if check_of(&cp.hash) != entry.check {
                return Err(Error::HashMismatch {
                    checkpoint: cp.id,
                    detail: "contents do not match the recorded hash",
                });
            }
            let mut attachments = Vec::new();
            for (key, blob) in &entry.attachments {
                attachments.push((
                    key.clone(),
                    blob.content_type.clone(),
                    source.read_blob(blob)?,
                ));
            }
            checkpoints.push(Incoming {
                id: cp.id,
                session: cp.session,
                namespace: cp.namespace.clone(),
                seq: cp.seq,
                parent: cp.parent,
                parent_hash: cp.parent_hash,
                created_at: cp.created_at,
                message: cp.message.clone(),
                tags: cp.tags.clone(),
                trigger: cp.trigger.clone(),
                metadata: cp.metadata.clone(),
                content_type: cp.content_type.clone(),
                state: source.read_blob(&entry.state)?,
                hash: cp.hash,
                annotations: entry.annotations.clone(),
                attachments,
            });
        }
        self.import_all(sessions, checkpoints)
    }

    fn check_import_size(&self, len: usize) -> Result<()> {
        validate::import_size(&self.options.limits, len)
    }

    fn import_all(
        &mut self,
        sessions: Vec<IncomingSession>,
        mut checkpoints: Vec<Incoming>,
    ) -> Result<ImportReport> {
        let limits = self.options.limits;
        let mut report = ImportReport::default();
        // Sessions: new ones are created, known ones reused.
        let mut incoming_sessions: BTreeMap<SessionId, &IncomingSession> = BTreeMap::new();
        for s in &sessions {
            if incoming_sessions.insert(s.id, s).is_some() {
                return Err(reject(alloc::format!("session {} appears twice", s.id)));
            }
            validate::session(&limits, &s.name, &s.metadata)
                .map_err(|err| rejected(alloc::format!("session {}", s.id), err))?;
        }
        checkpoints.sort_by_key(|c| c.seq);
        let mut seen = HashSet::new();
        for c in &checkpoints {
            if !seen.insert(c.id) {
                return Err(reject(alloc::format!("checkpoint {} appears twice", c.id)));
            }
        }
        // Parents come before their children (seq order): a parent that appears later in the
        // import, or a checkpoint that is its own parent, is a forged link that would otherwise
        // escape verification.
        let mut earlier = HashSet::new();
        for c in &checkpoints {
            if let Some(p) = c.parent
                && seen.contains(&p)
                && !earlier.contains(&p)
            {
                return Err(reject(alloc::format!(
                    "checkpoint {} comes before its parent {p}",
                    c.id
                )));
            }
            earlier.insert(c.id);
        }
        // Hashes of checkpoints the import brings, for parent links within it.
        let mut hashes: HashMap<CheckpointId, (Hash, SessionId)> = HashMap::new();
        let mut fresh = Vec::new();
        for c in checkpoints {
            if !incoming_sessions.contains_key(&c.session)
                && !self.index.sessions.contains_key(&c.session)
            {
                return Err(reject(alloc::format!(
                    "checkpoint {} belongs to session {}, which neither the import nor the store has",
                    c.id,
                    c.session
                )));
            }
            self.check_incoming(&c)?;
            if let Some(existing) = self.index.checkpoints.get(&c.id) {
                if existing.cp.hash == c.hash {
                    report.skipped += 1;
                } else {
                    report.conflicts.push(c.id);
                }
                hashes.insert(c.id, (existing.cp.hash, existing.cp.session));
                continue;
            }
            let parent = c.parent.map(|p| {
                hashes.get(&p).copied().or_else(|| {
                    self.index
                        .checkpoints
                        .get(&p)
                        .map(|e| (e.cp.hash, e.cp.session))
                })
            });
            match (parent, c.parent_hash) {
                (Some(Some((hash, session))), Some(claimed)) => {
                    if hash != claimed {
                        return Err(Error::HashMismatch {
                            checkpoint: c.id,
                            detail: "parent hash does not match the parent",
                        });
                    }
                    if session != c.session {
                        return Err(reject(alloc::format!(
                            "checkpoint {}: parent is in another session",
                            c.id
                        )));
                    }
                }
                // The parent was removed before the export: the recorded link stays unverifiable.
                (Some(None), Some(_)) | (None, None) => {}
                _ => {
                    return Err(Error::HashMismatch {
                        checkpoint: c.id,
                        detail: "parent and parent hash disagree",
                    });
                }
            }
            hashes.insert(c.id, (c.hash, c.session));
            fresh.push(c);
        }
        // Build one transaction: new sessions, then checkpoints with fresh seqs, then heads.
        let mut records: Vec<(Record, Vec<&[u8]>)> = Vec::new();
        for s in &sessions {
            if self.index.sessions.contains_key(&s.id) {
                continue;
            }
            records.push((
                Record::Session(SessionRecord {
                    id: s.id,
                    name: s.name.clone(),
                    metadata: canonical_metadata(&s.metadata),
                    created_at: s.created_at,
                }),
                Vec::new(),
            ));
            report.sessions_added += 1;
        }
        let mut pending = Pending::default();
        let total = fresh.len() as u64;
        for (done, (seq, c)) in (self.index.next_seq..).zip(&fresh).enumerate() {
            // Chunking and hashing the states is the work.
            self.report_progress(done as u64, total);
            let base = c
                .parent
                .filter(|p| self.index.checkpoints.contains(p) || pending.lists.contains_key(p));
            let base = base.map_or(BlobBase::None, BlobBase::State);
            let blob = self
                .index
                .plan_blob(&c.state, c.content_type.clone(), base, Some(&pending));
            let metadata = canonical_metadata(&c.metadata);
            let computed = hash_fields(&HashFields {
                id: c.id,
                session: c.session,
                namespace: &c.namespace,
                parent: c.parent,
                parent_hash: c.parent_hash,
                created_at: c.created_at,
                message: &c.message,
                tags: &c.tags,
                trigger: &c.trigger,
                metadata: &metadata,
                content_type: &c.content_type,
                state_len: c.state.len() as u64,
                state_root: state_root(blob.hashes.iter()),
            });
            if computed != c.hash {
                return Err(Error::HashMismatch {
                    checkpoint: c.id,
                    detail: "contents do not match the recorded hash",
                });
            }
            pending.add(&blob);
            pending.lists.insert(c.id, blob.hashes);
            records.push((
                Record::Checkpoint(CheckpointRecord {
                    id: c.id,
                    session: c.session,
                    namespace: c.namespace.clone(),
                    seq,
                    parent: c.parent,
                    parent_hash: c.parent_hash,
                    created_at: c.created_at,
                    message: c.message.clone(),
                    tags: c.tags.clone(),
                    trigger: c.trigger.clone(),
                    metadata,
                    hash: c.hash,
                    state: blob.record,
                }),
                blob.raw,
            ));
            for a in &c.annotations {
                records.push((
                    Record::Annotation(AnnotationRecord {
                        checkpoint: c.id,
                        annotation: a.clone(),
                    }),
                    Vec::new(),
                ));
            }
            for (key, content_type, bytes) in &c.attachments {
                // Like states, an attachment shares its chunk-list prefix with the parent's
                // attachment of the same key (stored or imported just before).
                let base = match c.parent {
                    Some(p)
                        if self.index.checkpoints.contains(&p)
                            || pending.attachments.contains_key(&(p, key.clone())) =>
                    {
                        BlobBase::Attachment(p, key)
                    }
                    _ => BlobBase::None,
                };
                let blob = self
                    .index
                    .plan_blob(bytes, content_type.clone(), base, Some(&pending));
                pending.add(&blob);
                pending.attachments.insert((c.id, key.clone()), blob.hashes);
                records.push((attachment_record(c.id, key.clone(), blob.record), blob.raw));
            }
            report.checkpoints_added += 1;
            report.annotations_added += c.annotations.len() as u64;
            report.attachments_added += c.attachments.len() as u64;
        }
        self.report_progress(total, total);
        for s in &sessions {
            if self.index.sessions.contains_key(&s.id) {
                continue;
            }
            if let Some(head) = s.head {
                if !fresh.iter().any(|c| c.id == head && c.session == s.id) {
                    return Err(reject(alloc::format!(
                        "session {} has head {head}, which is not one of its imported checkpoints",
                        s.id
                    )));
                }
                records.push((
                    Record::Head(HeadRecord {
                        session: s.id,
                        head: Some(head),
                    }),
                    Vec::new(),
                ));
            }
        }
        if records.is_empty() {
            return Ok(report);
        }
        let (records, raws): (Vec<Record>, Vec<Vec<&[u8]>>) = records.into_iter().unzip();
        let refs: Vec<(Record, &[&[u8]])> = records
            .into_iter()
            .zip(&raws)
            .map(|(r, raw)| (r, raw.as_slice()))
            .collect();
        self.commit(refs, None)?;
        self.ops.imports += 1;
        Ok(report)
    }

    /// The checks every write path shares, on one imported checkpoint: malformed input
    /// rejects the import naming the checkpoint, a limit is reported as such.
    fn check_incoming(&self, c: &Incoming) -> Result<()> {
        let limits = &self.options.limits;
        let reject = |err| rejected(alloc::format!("checkpoint {}", c.id), err);
        validate::checkpoint(
            limits,
            &CheckpointFields {
                message: &c.message,
                state_len: c.state.len(),
                namespace: &c.namespace,
                content_type: &c.content_type,
                tags: &c.tags,
                metadata: &c.metadata,
                trigger: &c.trigger,
            },
        )
        .map_err(reject)?;
        for a in &c.annotations {
            validate::annotation(limits, &a.note).map_err(reject)?;
        }
        validate::attachments(
            limits,
            c.attachments
                .iter()
                .map(|(key, ct, bytes)| (key.as_str(), ct.as_str(), bytes.len())),
        )
        .map_err(reject)
    }
}

/// An import refused for malformed input in `what` (a session, a checkpoint); limit errors
/// and the rest pass through as they are.
fn rejected(what: String, err: Error) -> Error {
    match err {
        Error::InvalidInput(msg) => reject(alloc::format!("{what}: {msg}")),
        other => other,
    }
}
