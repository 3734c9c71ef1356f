//! Checkpoints: what a saved moment holds, how it is described, and how it is hashed.
//!
//! A checkpoint's `hash` is blake3 over a canonical postcard encoding of everything that
//! describes it — id, session, namespace, parent and the parent's hash, time, message, tags,
//! trigger, metadata, content type, state length and the *state root* (blake3 over the state's
//! chunk hashes). Chaining the parent's hash makes history tamper-evident: changing any
//! checkpoint changes its hash and breaks every descendant's link. `seq` is store-local (an
//! import renumbers) and is therefore not hashed; annotations and attachments arrive after the
//! checkpoint and are not hashed either (attachment chunks are still content-verified).

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::id::{CheckpointId, Hash, SessionId};

/// Why a checkpoint was taken.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Trigger {
    /// Asked for explicitly by the agent or a person.
    Manual,
    /// Taken by [`auto_checkpoint`](crate::Store::auto_checkpoint), with the reason given.
    Automatic {
        /// What prompted it ("before tool call", "context compaction", ...).
        reason: String,
    },
    /// Taken on a schedule.
    Scheduled,
}

impl Trigger {
    /// The kind of trigger, without its reason.
    pub fn kind(&self) -> TriggerKind {
        match self {
            Trigger::Manual => TriggerKind::Manual,
            Trigger::Automatic { .. } => TriggerKind::Automatic,
            Trigger::Scheduled => TriggerKind::Scheduled,
        }
    }
}

/// The kind of a [`Trigger`], for queries and policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TriggerKind {
    /// [`Trigger::Manual`].
    Manual,
    /// [`Trigger::Automatic`].
    Automatic,
    /// [`Trigger::Scheduled`].
    Scheduled,
}

impl TriggerKind {
    /// Lower-case name: `manual`, `automatic`, `scheduled`.
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::Manual => "manual",
            TriggerKind::Automatic => "automatic",
            TriggerKind::Scheduled => "scheduled",
        }
    }

    /// Parses the lower-case name.
    pub fn parse(s: &str) -> Option<TriggerKind> {
        match s {
            "manual" => Some(TriggerKind::Manual),
            "automatic" | "auto" => Some(TriggerKind::Automatic),
            "scheduled" => Some(TriggerKind::Scheduled),
            _ => None,
        }
    }
}

impl core::fmt::Display for TriggerKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A saved moment of a session. Returned by reference from the store; the state bytes are not
/// part of it (read them with [`Store::state`](crate::Store::state)).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Checkpoint {
    /// Unique id (UUID v7 unless supplied by the caller).
    pub id: CheckpointId,
    /// The session it belongs to.
    pub session: SessionId,
    /// Namespace within the session (LangGraph's `checkpoint_ns`); empty by default.
    pub namespace: String,
    /// Store-wide sequence number: strictly increasing, never reused.
    pub seq: u64,
    /// The checkpoint this one continues from, if any.
    pub parent: Option<CheckpointId>,
    /// The parent's hash at the time this checkpoint was made (kept when the parent is removed).
    pub parent_hash: Option<Hash>,
    /// Creation time, Unix milliseconds from the host clock.
    pub created_at: u64,
    /// What this moment is.
    pub message: String,
    /// Tags, sorted and unique.
    pub tags: Vec<String>,
    /// Why it was taken.
    pub trigger: Trigger,
    /// Free-form JSON metadata (an object).
    pub metadata: Map<String, Value>,
    /// Media type of the state (`application/json` by default).
    pub content_type: String,
    /// Length of the state in bytes.
    pub state_len: u64,
    /// blake3 over the state's chunk hashes.
    pub state_root: Hash,
    /// blake3 over the canonical encoding (see the module docs).
    pub hash: Hash,
}

impl Checkpoint {
    /// Whether the checkpoint carries `tag`.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.binary_search_by(|t| t.as_str().cmp(tag)).is_ok()
    }

    /// Recomputes the hash from the checkpoint's fields.
    pub fn compute_hash(&self) -> Hash {
        let metadata = canonical_metadata(&self.metadata);
        hash_fields(&HashFields {
            id: self.id,
            session: self.session,
            namespace: &self.namespace,
            parent: self.parent,
            parent_hash: self.parent_hash,
            created_at: self.created_at,
            message: &self.message,
            tags: &self.tags,
            trigger: &self.trigger,
            metadata: &metadata,
            content_type: &self.content_type,
            state_len: self.state_len,
            state_root: self.state_root,
        })
    }
}

/// Domain separation for checkpoint hashes, versioned with the hash input's layout.
const HASH_DOMAIN: &str = "rewind.checkpoint.v1";

#[derive(Serialize)]
pub(crate) struct HashFields<'a> {
    pub id: CheckpointId,
    pub session: SessionId,
    pub namespace: &'a str,
    pub parent: Option<CheckpointId>,
    pub parent_hash: Option<Hash>,
    pub created_at: u64,
    pub message: &'a str,
    pub tags: &'a [String],
    pub trigger: &'a Trigger,
    pub metadata: &'a str,
    pub content_type: &'a str,
    pub state_len: u64,
    pub state_root: Hash,
}

pub(crate) fn hash_fields(fields: &HashFields<'_>) -> Hash {
    // Encoding into a buffer first: feeding blake3 byte by byte costs more than the copy.
    let mut buf = Vec::with_capacity(256);
    buf.extend_from_slice(HASH_DOMAIN.as_bytes());
    let buf = postcard::to_extend(fields, buf).unwrap_or_default();
    Hash::of(&buf)
}

/// blake3 over the concatenated chunk hashes of a state.
pub(crate) fn state_root<H: core::borrow::Borrow<Hash>>(
    chunk_hashes: impl Iterator<Item = H>,
) -> Hash {
    let mut hasher = blake3::Hasher::new();
    for h in chunk_hashes {
        hasher.update(&h.borrow().0);
    }
    Hash(*hasher.finalize().as_bytes())
}

/// The canonical JSON text of a metadata object: compact, keys sorted (serde_json's map is a
/// BTreeMap without the `preserve_order` feature).
pub(crate) fn canonical_metadata(metadata: &Map<String, Value>) -> String {
    serde_json::to_string(metadata).unwrap_or_default()
}

/// The content type assumed when a caller gives none.
pub const DEFAULT_CONTENT_TYPE: &str = "application/json";

/// Whether a content type denotes JSON (`application/json`, `application/x+json`, with or
/// without parameters).
pub fn is_json_content_type(content_type: &str) -> bool {
    let base = content_type.split(';').next().unwrap_or("").trim();
    base.eq_ignore_ascii_case("application/json") || base.to_ascii_lowercase().ends_with("+json")
}

/// Everything needed to create a checkpoint. Build it with [`NewCheckpoint::new`] and the
/// chained setters, then pass it to [`Store::checkpoint`](crate::Store::checkpoint).
#[derive(Clone, Debug)]
pub struct NewCheckpoint<'a> {
    pub(crate) session: SessionId,
    pub(crate) message: String,
    pub(crate) state: &'a [u8],
    pub(crate) content_type: String,
    pub(crate) tags: Vec<String>,
    pub(crate) metadata: Map<String, Value>,
    pub(crate) trigger: Trigger,
    pub(crate) parent: ParentChoice,
    pub(crate) namespace: String,
    pub(crate) id: Option<CheckpointId>,
    pub(crate) created_at: Option<u64>,
    pub(crate) attachments: Vec<NewAttachment<'a>>,
}

/// An attachment written together with its checkpoint (see [`NewCheckpoint::attach`]).
#[derive(Clone, Debug)]
pub struct NewAttachment<'a> {
    pub(crate) key: String,
    pub(crate) content_type: String,
    pub(crate) bytes: &'a [u8],
    /// The checkpoint whose attachment with the same key this one's chunk list may start from
    /// (when it exists); `None`: the new checkpoint's parent.
    pub(crate) base: Option<CheckpointId>,
}

/// Which parent a new checkpoint gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ParentChoice {
    /// The session's head (the default).
    Head,
    /// No parent: a new root in the session.
    Root,
    /// This checkpoint.
    Of(CheckpointId),
}

impl<'a> NewCheckpoint<'a> {
    /// A manual checkpoint of `session` with `message` and JSON `state`, parented on the
    /// session's head.
    pub fn new(session: SessionId, message: impl Into<String>, state: &'a [u8]) -> Self {
        NewCheckpoint {
            session,
            message: message.into(),
            state,
            content_type: String::from(DEFAULT_CONTENT_TYPE),
            tags: Vec::new(),
            metadata: Map::new(),
            trigger: Trigger::Manual,
            parent: ParentChoice::Head,
            namespace: String::new(),
            id: None,
            created_at: None,
            attachments: Vec::new(),
        }
    }

    /// Sets the media type of the state.
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = content_type.into();
        self
    }

    /// Adds a tag (duplicates are merged).
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Adds several tags.
    pub fn tags<I, T>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// Sets the metadata object.
    pub fn metadata(mut self, metadata: Map<String, Value>) -> Self {
        self.metadata = metadata;
        self
    }

    /// Sets one metadata key.
    pub fn meta(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Sets the trigger (manual by default).
    pub fn trigger(mut self, trigger: Trigger) -> Self {
        self.trigger = trigger;
        self
    }

    /// Parents the checkpoint on `parent` instead of the session head (a fork).
    pub fn parent(mut self, parent: CheckpointId) -> Self {
        self.parent = ParentChoice::Of(parent);
        self
    }

    /// Makes the checkpoint a root: no parent, whatever the head is.
    pub fn root(mut self) -> Self {
        self.parent = ParentChoice::Root;
        self
    }

    /// Sets the namespace (LangGraph's `checkpoint_ns`).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Uses a caller-supplied id instead of a new UUID v7. It must be unique in the store.
    pub fn id(mut self, id: CheckpointId) -> Self {
        self.id = Some(id);
        self
    }

    /// Uses a caller-supplied creation time (Unix ms) instead of the host clock.
    pub fn created_at(mut self, ms: u64) -> Self {
        self.created_at = Some(ms);
        self
    }

    /// Adds an attachment written in the same transaction as the checkpoint: after a crash the
    /// log holds both or neither. When the parent has an attachment with the same key, the new
    /// one's chunk list shares their common prefix (a value that grows logs its tail only).
    /// Keys must be distinct within one checkpoint.
    pub fn attach(
        mut self,
        key: impl Into<String>,
        content_type: impl Into<String>,
        bytes: &'a [u8],
    ) -> Self {
        self.attachments.push(NewAttachment {
            key: key.into(),
            content_type: content_type.into(),
            bytes,
            base: None,
        });
        self
    }

    /// Like [`attach`](Self::attach), sharing the chunk-list prefix with the attachment of the
    /// same key on checkpoint `base` instead of the parent's: for values last written further
    /// up the history. The base is a hint: if it no longer exists (a compaction removed it),
    /// the parent's attachment is used, and the bytes stored are the same either way.
    pub fn attach_based_on(
        mut self,
        key: impl Into<String>,
        content_type: impl Into<String>,
        bytes: &'a [u8],
        base: CheckpointId,
    ) -> Self {
        self.attachments.push(NewAttachment {
            key: key.into(),
            content_type: content_type.into(),
            bytes,
            base: Some(base),
        });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        assert!(is_json_content_type("application/json"));
        assert!(is_json_content_type("application/json; charset=utf-8"));
        assert!(is_json_content_type("application/vnd.agent+json"));
        assert!(!is_json_content_type("application/octet-stream"));
        assert!(!is_json_content_type("text/plain"));
    }
}
