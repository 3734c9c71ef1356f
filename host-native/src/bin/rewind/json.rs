//! The `--json` shapes: stable field names, ids as strings, times as Unix ms plus RFC 3339.

use rewind::{Annotation, Checkpoint, Diff, Session, Trigger, VerifyReport};
use serde_json::{Value, json};

use crate::output::rfc3339;

pub fn checkpoint(cp: &Checkpoint) -> Value {
    json!({
        "id": cp.id.to_string(),
        "session": cp.session.to_string(),
        "namespace": cp.namespace,
        "seq": cp.seq,
        "parent": cp.parent.map(|p| p.to_string()),
        "parent_hash": cp.parent_hash.map(|h| h.to_string()),
        "created_at": cp.created_at,
        "created": rfc3339(cp.created_at),
        "message": cp.message,
        "tags": cp.tags,
        "trigger": trigger(&cp.trigger),
        "metadata": cp.metadata,
        "content_type": cp.content_type,
        "state_len": cp.state_len,
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
        "created_at": s.created_at,
        "created": rfc3339(s.created_at),
        "head": s.head.map(|h| h.to_string()),
        "checkpoints": s.checkpoints,
    })
}

pub fn annotation(a: &Annotation) -> Value {
    json!({
        "note": a.note,
        "severity": a.severity.as_str(),
        "created_at": a.created_at,
        "created": rfc3339(a.created_at),
    })
}

pub fn diff(d: &Diff) -> Value {
    json!({
        "from": d.from.to_string(),
        "to": d.to.to_string(),
        "seq_delta": d.seq_delta,
        "time_delta_ms": d.time_delta_ms,
        "message": d.message.as_ref().map(|(a, b)| json!({"from": a, "to": b})),
        "tags_added": d.tags_added,
        "tags_removed": d.tags_removed,
        "metadata_patch": d.metadata,
        "from_len": d.from_len,
        "to_len": d.to_len,
        "shared_ratio": d.shared_ratio,
        "same_state": d.same_state,
        "state_patch": d.state_patch,
    })
}

pub fn verify(v: &VerifyReport) -> Value {
    json!({
        "ok": v.is_ok(),
        "checkpoints": v.checkpoints,
        "chunks": v.chunks,
        "first_error": v.first_error.as_ref().map(|e| json!({
            "checkpoint": e.checkpoint.to_string(),
            "seq": e.seq,
            "problem": format!("{:?}", e.problem),
        })),
    })
}

/// Prints a JSON value on one line.
pub fn print(value: &Value) {
    println!("{}", serde_json::to_string(value).unwrap_or_default());
}
