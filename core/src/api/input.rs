//! What bindings pass in: serde-deserialisable inputs (camelCase field names, ids and enum
//! names as strings) and their conversions into the engine's types.
//!
//! A binding that receives JSON deserialises these directly; one with typed records of its own
//! (the WIT component) fills them field by field. Either way every default, every name and
//! the conversion into the engine's types come from here, so a filter or option added here
//! exists on every host.

use alloc::string::String;
use alloc::vec::Vec;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::annotation::Severity;
use crate::checkpoint::{NewCheckpoint, Trigger, TriggerKind};
use crate::compact::RetentionPolicy;
use crate::error::{Error, Result};
use crate::id::{CheckpointId, SessionId};
use crate::options::Options;
use crate::query::{Order, Query};

/// A checkpoint to create. Its bytes travel apart from it (see [`CheckpointInput::split`]).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct CheckpointInput {
    /// The session (an id).
    pub session: String,
    /// What this moment is.
    pub message: String,
    /// Media type of the state (default `application/json`).
    pub content_type: Option<String>,
    /// Tags (a set: sorted and deduplicated when stored).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Metadata (a JSON object).
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// Why it was taken (default manual).
    pub trigger: Option<TriggerInput>,
    /// Fork from this checkpoint instead of the session head.
    pub parent: Option<String>,
    /// No parent at all: a new root in the session (ignored when `parent` is given).
    #[serde(default)]
    pub root: bool,
    /// Namespace within the session (default empty).
    pub namespace: Option<String>,
    /// A caller-chosen id (default: a new UUID v7).
    pub id: Option<String>,
    /// A caller-chosen creation time, Unix ms (default: the host clock).
    pub created_at: Option<u64>,
    /// When the bytes hold attachments too: how many of them are the state.
    pub state_len: Option<usize>,
    /// Attachments written in the checkpoint's transaction, their bytes after the state's.
    #[serde(default)]
    pub attachments: Vec<AttachmentInput>,
}

/// An attachment written with its checkpoint.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct AttachmentInput {
    /// Its key (distinct within the checkpoint).
    pub key: String,
    /// Its media type.
    pub content_type: String,
    /// Its length in the bytes that follow the state.
    pub len: usize,
    /// A checkpoint whose attachment of the same key this one grew from (default: the
    /// parent's); only what follows their common prefix is logged.
    pub base: Option<String>,
}

/// Why a checkpoint was taken: `{ "kind": "manual" | "automatic" | "scheduled", "reason"? }`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TriggerInput {
    /// `manual`, `automatic` or `scheduled`.
    pub kind: String,
    /// What prompted an automatic checkpoint.
    pub reason: Option<String>,
}

impl CheckpointInput {
    /// A manual checkpoint of `session` with `message`, everything else by default.
    pub fn new(session: impl Into<String>, message: impl Into<String>) -> Self {
        CheckpointInput {
            session: session.into(),
            message: message.into(),
            ..Self::default()
        }
    }

    /// Splits one byte array laid out as the state (`state_len` bytes, or all of them) followed
    /// by each attachment's `len` bytes, in order.
    pub fn split<'a>(&self, bytes: &'a [u8]) -> Result<(&'a [u8], Vec<&'a [u8]>)> {
        let state_len = self.state_len.unwrap_or(bytes.len());
        let (state, mut rest) = bytes.split_at_checked(state_len).ok_or_else(|| {
            Error::InvalidInput("checkpoint: stateLen is longer than the bytes".into())
        })?;
        let mut attachments = Vec::with_capacity(self.attachments.len());
        for a in &self.attachments {
            let (value, tail) = rest.split_at_checked(a.len).ok_or_else(|| {
                Error::InvalidInput("checkpoint: the attachments' lengths exceed the bytes".into())
            })?;
            attachments.push(value);
            rest = tail;
        }
        if !rest.is_empty() {
            return Err(Error::InvalidInput(
                "checkpoint: bytes left over after the state and the attachments".into(),
            ));
        }
        Ok((state, attachments))
    }

    /// The checkpoint to create, with `state` and each attachment's bytes (one per entry of
    /// `attachments`, in order).
    pub fn into_new<'a>(
        self,
        state: &'a [u8],
        attachments: &[&'a [u8]],
    ) -> Result<NewCheckpoint<'a>> {
        if attachments.len() != self.attachments.len() {
            return Err(Error::InvalidInput(alloc::format!(
                "checkpoint: {} attachments described, {} given",
                self.attachments.len(),
                attachments.len()
            )));
        }
        let mut new = NewCheckpoint::new(parse_session_id(&self.session)?, self.message, state)
            .tags(self.tags)
            .metadata(self.metadata);
        for (a, bytes) in self.attachments.into_iter().zip(attachments) {
            new = match a.base {
                Some(base) => {
                    new.attach_based_on(a.key, a.content_type, bytes, parse_checkpoint_id(&base)?)
                }
                None => new.attach(a.key, a.content_type, bytes),
            };
        }
        if let Some(ct) = self.content_type {
            new = new.content_type(ct);
        }
        if let Some(t) = self.trigger {
            new = new.trigger(Trigger::try_from(t)?);
        }
        if let Some(p) = self.parent {
            new = new.parent(parse_checkpoint_id(&p)?);
        } else if self.root {
            new = new.root();
        }
        if let Some(ns) = self.namespace {
            new = new.namespace(ns);
        }
        if let Some(id) = self.id {
            new = new.id(parse_checkpoint_id(&id)?);
        }
        if let Some(t) = self.created_at {
            new = new.created_at(t);
        }
        Ok(new)
    }
}

impl TryFrom<TriggerInput> for Trigger {
    type Error = Error;
    fn try_from(t: TriggerInput) -> Result<Trigger> {
        Ok(match parse_trigger_kind(&t.kind)? {
            TriggerKind::Manual => Trigger::Manual,
            TriggerKind::Scheduled => Trigger::Scheduled,
            TriggerKind::Automatic => Trigger::Automatic {
                reason: t.reason.unwrap_or_default(),
            },
        })
    }
}

/// What to list; every given condition must hold.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct QueryInput {
    /// Only this session (an id).
    pub session: Option<String>,
    /// Only this namespace (`""` is the root namespace).
    pub namespace: Option<String>,
    /// All of these tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// At least one of these tags.
    #[serde(default)]
    pub tags_any: Vec<String>,
    /// Only these trigger kinds (`manual`, `automatic`, `scheduled`).
    #[serde(default)]
    pub triggers: Vec<String>,
    /// Top-level metadata keys that must equal these values.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// Lowest seq (inclusive).
    pub seq_min: Option<u64>,
    /// Highest seq (inclusive).
    pub seq_max: Option<u64>,
    /// Created at or after (Unix ms).
    pub time_from: Option<u64>,
    /// Created before (Unix ms, exclusive).
    pub time_to: Option<u64>,
    /// Only checkpoints older than this one (an id).
    pub before: Option<String>,
    /// `desc` (newest first, the default) or `asc`.
    pub order: Option<String>,
    /// Page size.
    pub limit: Option<usize>,
    /// Continue after this cursor (a page's `next`).
    pub cursor: Option<String>,
}

impl TryFrom<QueryInput> for Query {
    type Error = Error;
    fn try_from(input: QueryInput) -> Result<Query> {
        let mut q = Query::new();
        if let Some(s) = input.session {
            q = q.session(parse_session_id(&s)?);
        }
        q.namespace = input.namespace;
        q.tags_all = input.tags;
        q.tags_any = input.tags_any;
        for t in &input.triggers {
            q = q.trigger(parse_trigger_kind(t)?);
        }
        q.metadata = input.metadata.into_iter().collect();
        q.seq_min = input.seq_min;
        q.seq_max = input.seq_max;
        q.time_from = input.time_from;
        q.time_to = input.time_to;
        if let Some(b) = input.before {
            q = q.before(parse_checkpoint_id(&b)?);
        }
        if let Some(order) = input.order {
            q = q.order(Order::parse(&order).ok_or_else(|| {
                Error::InvalidInput(alloc::format!("order {order:?} (asc, desc)"))
            })?);
        }
        q.limit = input.limit;
        if let Some(c) = input.cursor {
            q = q.after(c.parse()?);
        }
        Ok(q)
    }
}

/// Which checkpoints a compaction keeps.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct RetentionInput {
    /// Keep the N newest checkpoints of each session.
    pub keep_last: Option<usize>,
    /// Keep checkpoints with any of these tags.
    #[serde(default)]
    pub keep_tags: Vec<String>,
    /// Remove checkpoints older than this (ms).
    pub max_age_ms: Option<u64>,
    /// Remove the oldest until stored chunk bytes are at most this.
    pub max_bytes: Option<u64>,
    /// Only these sessions (ids; all when empty).
    #[serde(default)]
    pub sessions: Vec<String>,
    /// Keep session heads (default true).
    pub protect_heads: Option<bool>,
    /// Keep checkpoints with a critical annotation (default true).
    pub protect_critical: Option<bool>,
}

impl TryFrom<RetentionInput> for RetentionPolicy {
    type Error = Error;
    fn try_from(input: RetentionInput) -> Result<RetentionPolicy> {
        let mut p = RetentionPolicy {
            keep_last: input.keep_last,
            keep_tags: input.keep_tags,
            max_age_ms: input.max_age_ms,
            max_bytes: input.max_bytes,
            ..RetentionPolicy::default()
        };
        for s in &input.sessions {
            p = p.session(parse_session_id(s)?);
        }
        if let Some(v) = input.protect_heads {
            p = p.protect_heads(v);
        }
        if let Some(v) = input.protect_critical {
            p = p.protect_critical(v);
        }
        Ok(p)
    }
}

/// How a store behaves: its limits, automatic-checkpoint throttling and event queue. Every
/// field is optional; what is not given keeps its default.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct OptionsInput {
    /// Largest state of one checkpoint.
    pub max_state_bytes: Option<u64>,
    /// Longest checkpoint message.
    pub max_message_bytes: Option<u64>,
    /// Most tags on one checkpoint.
    pub max_tags: Option<u64>,
    /// Longest tag.
    pub max_tag_bytes: Option<u64>,
    /// Largest metadata object, as compact JSON.
    pub max_metadata_bytes: Option<u64>,
    /// Longest namespace.
    pub max_namespace_bytes: Option<u64>,
    /// Longest session name.
    pub max_name_bytes: Option<u64>,
    /// Longest content type.
    pub max_content_type_bytes: Option<u64>,
    /// Longest annotation note.
    pub max_note_bytes: Option<u64>,
    /// Largest attachment.
    pub max_attachment_bytes: Option<u64>,
    /// Longest attachment key.
    pub max_attachment_key_bytes: Option<u64>,
    /// Largest import.
    pub max_import_bytes: Option<u64>,
    /// Minimum time between automatic checkpoints of a session, ms.
    pub auto_min_interval_ms: Option<u64>,
    /// Which earlier checkpoints throttle an automatic one (trigger kinds; default manual and
    /// automatic).
    pub auto_counts: Option<Vec<String>>,
    /// Most events kept for draining (0 turns events off).
    pub event_capacity: Option<usize>,
}

impl TryFrom<OptionsInput> for Options {
    type Error = Error;
    fn try_from(input: OptionsInput) -> Result<Options> {
        let mut o = Options::default();
        let l = &mut o.limits;
        let limits = [
            (input.max_state_bytes, &mut l.max_state_bytes),
            (input.max_message_bytes, &mut l.max_message_bytes),
            (input.max_tags, &mut l.max_tags),
            (input.max_tag_bytes, &mut l.max_tag_bytes),
            (input.max_metadata_bytes, &mut l.max_metadata_bytes),
            (input.max_namespace_bytes, &mut l.max_namespace_bytes),
            (input.max_name_bytes, &mut l.max_name_bytes),
            (input.max_content_type_bytes, &mut l.max_content_type_bytes),
            (input.max_note_bytes, &mut l.max_note_bytes),
            (input.max_attachment_bytes, &mut l.max_attachment_bytes),
            (
                input.max_attachment_key_bytes,
                &mut l.max_attachment_key_bytes,
            ),
            (input.max_import_bytes, &mut l.max_import_bytes),
        ];
        for (given, field) in limits {
            if let Some(v) = given {
                *field = v;
            }
        }
        if let Some(v) = input.auto_min_interval_ms {
            o.auto.min_interval_ms = v;
        }
        if let Some(kinds) = input.auto_counts {
            let mut counts = [false; 3];
            for k in &kinds {
                counts[parse_trigger_kind(k)? as usize] = true;
            }
            o.auto.counts = counts;
        }
        if let Some(v) = input.event_capacity {
            o.event_capacity = v;
        }
        Ok(o)
    }
}

/// A session id from its text.
pub fn parse_session_id(text: &str) -> Result<SessionId> {
    Ok(text.parse()?)
}

/// A checkpoint id from its text.
pub fn parse_checkpoint_id(text: &str) -> Result<CheckpointId> {
    Ok(text.parse()?)
}

/// A trigger kind from its name (`manual`, `automatic`, `scheduled`).
pub fn parse_trigger_kind(name: &str) -> Result<TriggerKind> {
    TriggerKind::parse(name).ok_or_else(|| {
        Error::InvalidInput(alloc::format!(
            "trigger kind {name:?} (manual, automatic, scheduled)"
        ))
    })
}

/// A severity from its name (`info`, `warning`, `critical`).
pub fn parse_severity(name: &str) -> Result<Severity> {
    Severity::parse(name).ok_or_else(|| {
        Error::InvalidInput(alloc::format!(
            "severity {name:?} (info, warning, critical)"
        ))
    })
}

/// A list of session ids (export's selection); `None` when empty (everything).
pub fn parse_session_list(ids: &[String]) -> Result<Option<Vec<SessionId>>> {
    if ids.is_empty() {
        return Ok(None);
    }
    ids.iter()
        .map(|s| parse_session_id(s))
        .collect::<Result<_>>()
        .map(Some)
}
