//! The JSON shapes that cross the JavaScript boundary (camelCase, ids as strings, times and
//! seqs as numbers), and the parsing of what JavaScript passes in.
//!
//! Seqs and times are JavaScript numbers: exact up to 2^53, which a store reaches only after
//! billions of years of checkpoints or milliseconds.

use rewind_core::json_patch::PatchOp;
use rewind_core::{
    Annotation, Checkpoint, CheckpointId, CompactionPlan, Diff, Event, Health, ImportReport,
    Metrics, Order, Query, RetentionPolicy, Session, SessionId, Trigger, TriggerKind, VerifyReport,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use wasm_bindgen::JsValue;

use crate::js_error::invalid;

pub fn checkpoint(cp: &Checkpoint) -> Value {
    json!({
        "id": cp.id.to_string(),
        "session": cp.session.to_string(),
        "namespace": cp.namespace,
        "seq": cp.seq,
        "parent": cp.parent.map(|p| p.to_string()),
        "parentHash": cp.parent_hash.map(|h| h.to_string()),
        "createdAt": cp.created_at,
        "message": cp.message,
        "tags": cp.tags,
        "trigger": trigger(&cp.trigger),
        "metadata": cp.metadata,
        "contentType": cp.content_type,
        "stateLen": cp.state_len,
        "hash": cp.hash.to_string(),
    })
}

pub fn trigger(t: &Trigger) -> Value {
    match t {
        Trigger::Automatic { reason } => json!({"kind": "automatic", "reason": reason}),
        other => json!({"kind": other.kind().as_str()}),
    }
}

pub fn session(s: &Session) -> Value {
    json!({
        "id": s.id.to_string(),
        "name": s.name,
        "metadata": s.metadata,
        "createdAt": s.created_at,
        "head": s.head.map(|h| h.to_string()),
        "checkpoints": s.checkpoints,
    })
}

pub fn annotation(a: &Annotation) -> Value {
    json!({"note": a.note, "severity": a.severity.as_str(), "createdAt": a.created_at})
}

pub fn diff(d: &Diff) -> Value {
    json!({
        "from": d.from.to_string(),
        "to": d.to.to_string(),
        "seqDelta": d.seq_delta,
        "timeDeltaMs": d.time_delta_ms,
        "message": d.message.as_ref().map(|(a, b)| json!({"from": a, "to": b})),
        "tagsAdded": d.tags_added,
        "tagsRemoved": d.tags_removed,
        "metadataPatch": patch(&d.metadata),
        "fromLen": d.from_len,
        "toLen": d.to_len,
        "sharedRatio": d.shared_ratio,
        "sameState": d.same_state,
        "statePatch": d.state_patch.as_deref().map(patch),
    })
}

fn patch(ops: &[PatchOp]) -> Value {
    serde_json::to_value(ops).unwrap_or(Value::Null)
}

pub fn metrics(m: &Metrics) -> Value {
    json!({
        "sessions": m.sessions,
        "checkpoints": m.checkpoints,
        "annotations": m.annotations,
        "attachments": m.attachments,
        "logicalBytes": m.logical_bytes,
        "storedBytes": m.stored_bytes,
        "chunks": m.chunks,
        "logBytes": m.log_bytes,
        "nextSeq": m.next_seq,
        "dedupRatio": m.dedup_ratio(),
        "eventsDropped": m.events_dropped,
        "ops": {
            "sessionsCreated": m.ops.sessions_created,
            "checkpointsCreated": m.ops.checkpoints_created,
            "autoSkipped": m.ops.auto_skipped,
            "restores": m.ops.restores,
            "deletes": m.ops.deletes,
            "annotations": m.ops.annotations,
            "attachments": m.ops.attachments,
            "compactions": m.ops.compactions,
            "imports": m.ops.imports,
            "backendErrors": m.ops.backend_errors,
        },
    })
}

pub fn health(h: &Health) -> Value {
    json!({
        "ok": h.ok,
        "writeError": h.write_error,
        "deadRatio": h.dead_ratio,
        "eventsDropped": h.events_dropped,
    })
}

pub fn verify(v: &VerifyReport) -> Value {
    json!({
        "ok": v.is_ok(),
        "checkpoints": v.checkpoints,
        "chunks": v.chunks,
        "firstError": v.first_error.as_ref().map(|e| json!({
            "checkpoint": e.checkpoint.to_string(),
            "seq": e.seq,
            "problem": format!("{:?}", e.problem),
        })),
    })
}

pub fn plan(p: &CompactionPlan) -> Value {
    json!({
        "remove": p.remove.iter().map(|(id, why)| json!({"id": id.to_string(), "reason": format!("{why:?}")})).collect::<Vec<_>>(),
        "protected": p.protected.iter().map(|(id, why)| json!({"id": id.to_string(), "reason": format!("{why:?}")})).collect::<Vec<_>>(),
        "checkpointsBefore": p.checkpoints_before,
        "storedBytesBefore": p.stored_bytes_before,
        "storedBytesAfter": p.stored_bytes_after,
    })
}

pub fn import_report(r: &ImportReport) -> Value {
    json!({
        "sessionsAdded": r.sessions_added,
        "checkpointsAdded": r.checkpoints_added,
        "skipped": r.skipped,
        "conflicts": r.conflicts.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        "annotationsAdded": r.annotations_added,
        "attachmentsAdded": r.attachments_added,
    })
}

pub fn event(e: &Event) -> Value {
    match e {
        Event::SessionCreated { session } => {
            json!({"type": "sessionCreated", "session": session.to_string()})
        }
        Event::Created {
            session,
            checkpoint,
            seq,
        } => {
            json!({"type": "created", "session": session.to_string(), "checkpoint": checkpoint.to_string(), "seq": seq})
        }
        Event::Restored {
            session,
            checkpoint,
        } => {
            json!({"type": "restored", "session": session.to_string(), "checkpoint": checkpoint.to_string()})
        }
        Event::Deleted {
            session,
            checkpoint,
        } => {
            json!({"type": "deleted", "session": session.to_string(), "checkpoint": checkpoint.to_string()})
        }
        Event::SessionDeleted { session } => {
            json!({"type": "sessionDeleted", "session": session.to_string()})
        }
        Event::Compacted {
            removed,
            bytes_before,
            bytes_after,
        } => {
            json!({"type": "compacted", "removed": removed, "bytesBefore": bytes_before, "bytesAfter": bytes_after})
        }
        Event::Annotated {
            checkpoint,
            severity,
        } => {
            json!({"type": "annotated", "checkpoint": checkpoint.to_string(), "severity": severity.as_str()})
        }
        _ => json!({"type": "unknown"}),
    }
}

pub fn to_string(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Parses a JSON argument into `T`, naming `what` in the error.
pub fn parse<'a, T: Deserialize<'a>>(text: &'a str, what: &str) -> Result<T, JsValue> {
    serde_json::from_str(text).map_err(|e| invalid(format!("{what}: {e}")))
}

pub fn checkpoint_id(text: &str) -> Result<CheckpointId, JsValue> {
    text.parse().map_err(|e: rewind_core::Error| invalid(e))
}

pub fn session_id(text: &str) -> Result<SessionId, JsValue> {
    text.parse().map_err(|e: rewind_core::Error| invalid(e))
}

/// What `checkpoint()` takes. The bytes travel separately, in one array: the state (the first
/// `stateLen` bytes, or all of them), then each attachment's `len` bytes in order.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckpointInput {
    pub session: String,
    pub message: String,
    pub content_type: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub metadata: Map<String, Value>,
    pub trigger: Option<TriggerInput>,
    pub parent: Option<String>,
    #[serde(default)]
    pub root: bool,
    pub namespace: Option<String>,
    pub id: Option<String>,
    pub created_at: Option<u64>,
    pub state_len: Option<usize>,
    #[serde(default)]
    pub attachments: Vec<AttachmentInput>,
}

/// An attachment written with its checkpoint; its bytes follow the state's.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttachmentInput {
    pub key: String,
    pub content_type: String,
    pub len: usize,
    /// The checkpoint whose attachment of the same key this one shares its chunk prefix with
    /// (default: the parent's).
    pub base: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerInput {
    pub kind: String,
    pub reason: Option<String>,
}

impl TriggerInput {
    pub fn into_trigger(self) -> Result<Trigger, JsValue> {
        match (self.kind.as_str(), self.reason) {
            ("manual", _) => Ok(Trigger::Manual),
            ("scheduled", _) => Ok(Trigger::Scheduled),
            ("automatic", reason) => Ok(Trigger::Automatic {
                reason: reason.unwrap_or_default(),
            }),
            (other, _) => Err(invalid(format!(
                "trigger kind {other:?} (manual, automatic, scheduled)"
            ))),
        }
    }
}

/// What `list()` takes.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueryInput {
    session: Option<String>,
    namespace: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    tags_any: Vec<String>,
    #[serde(default)]
    triggers: Vec<String>,
    #[serde(default)]
    metadata: Map<String, Value>,
    seq_min: Option<u64>,
    seq_max: Option<u64>,
    time_from: Option<u64>,
    time_to: Option<u64>,
    before: Option<String>,
    order: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

impl QueryInput {
    pub fn into_query(self) -> Result<Query, JsValue> {
        let mut q = Query::new();
        if let Some(s) = self.session {
            q = q.session(session_id(&s)?);
        }
        if let Some(ns) = self.namespace {
            q = q.namespace(ns);
        }
        for t in self.tags {
            q = q.tag(t);
        }
        q = q.any_tag(self.tags_any);
        for t in self.triggers {
            let kind = TriggerKind::parse(&t).ok_or_else(|| {
                invalid(format!("trigger kind {t:?} (manual, automatic, scheduled)"))
            })?;
            q = q.trigger(kind);
        }
        for (k, v) in self.metadata {
            q = q.meta(k, v);
        }
        q.seq_min = self.seq_min;
        q.seq_max = self.seq_max;
        q.time_from = self.time_from;
        q.time_to = self.time_to;
        if let Some(b) = self.before {
            q = q.before(checkpoint_id(&b)?);
        }
        q = q.order(match self.order.as_deref() {
            None | Some("desc") => Order::Descending,
            Some("asc") => Order::Ascending,
            Some(other) => return Err(invalid(format!("order {other:?} (asc, desc)"))),
        });
        if let Some(limit) = self.limit {
            q = q.limit(limit);
        }
        if let Some(c) = self.cursor {
            q = q.after(c.parse().map_err(|e: rewind_core::Error| invalid(e))?);
        }
        Ok(q)
    }
}

/// What `planCompaction()` and `compact()` take.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyInput {
    keep_last: Option<usize>,
    #[serde(default)]
    keep_tags: Vec<String>,
    max_age_ms: Option<u64>,
    max_bytes: Option<u64>,
    #[serde(default)]
    sessions: Vec<String>,
    protect_heads: Option<bool>,
    protect_critical: Option<bool>,
}

impl PolicyInput {
    pub fn into_policy(self) -> Result<RetentionPolicy, JsValue> {
        let mut p = RetentionPolicy::default();
        p.keep_last = self.keep_last;
        p.keep_tags = self.keep_tags;
        p.max_age_ms = self.max_age_ms;
        p.max_bytes = self.max_bytes;
        for s in self.sessions {
            p = p.session(session_id(&s)?);
        }
        if let Some(v) = self.protect_heads {
            p = p.protect_heads(v);
        }
        if let Some(v) = self.protect_critical {
            p = p.protect_critical(v);
        }
        Ok(p)
    }
}

/// What the store constructor takes.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OptionsInput {
    pub max_state_bytes: Option<u64>,
    pub max_message_bytes: Option<u64>,
    pub max_tags: Option<u64>,
    pub max_metadata_bytes: Option<u64>,
    pub auto_min_interval_ms: Option<u64>,
    pub event_capacity: Option<usize>,
    /// False for stores that are never persisted (memory): appended frames are not kept for
    /// `takePersist`.
    pub persist: Option<bool>,
}
