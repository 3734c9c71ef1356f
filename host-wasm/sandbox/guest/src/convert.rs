//! WIT records to and from the engine's binding-neutral API (`rewind_core::api`): inputs are
//! filled field by field into the API's inputs, which do every parse and default; results are
//! the API's views, copied into WIT records. Nothing else in the component maps a type.

use rewind_core::api::{self, CheckpointView, PlanView, SessionView, VerifyView};
use rewind_core::{CompactionReport, ImportReport, KeepReason, RemovalReason, VerifyProblem};
use serde_json::{Map, Value};

use crate::exports::rewind::store::store as wit;

/// An engine error as the WIT error record.
pub fn error(err: rewind_core::Error) -> wit::Error {
    use rewind_core::ErrorKind as K;
    wit::Error {
        kind: match err.kind() {
            K::NotFound => wit::ErrorKind::NotFound,
            K::InvalidInput => wit::ErrorKind::InvalidInput,
            K::LimitExceeded => wit::ErrorKind::LimitExceeded,
            K::Corrupt => wit::ErrorKind::Corrupt,
            K::HashMismatch => wit::ErrorKind::HashMismatch,
            K::ImportRejected => wit::ErrorKind::ImportRejected,
            K::Storage => wit::ErrorKind::Storage,
        },
        code: err.code().into(),
        message: err.to_string(),
    }
}

/// A JSON object given as text (empty: none).
fn object(text: &str, what: &str) -> Result<Map<String, Value>, wit::Error> {
    if text.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(error(rewind_core::Error::InvalidInput(format!(
            "{what} is not a JSON object: {text}"
        )))),
    }
}

fn trigger_kind(kind: wit::TriggerKind) -> String {
    match kind {
        wit::TriggerKind::Manual => "manual",
        wit::TriggerKind::Automatic => "automatic",
        wit::TriggerKind::Scheduled => "scheduled",
    }
    .into()
}

pub fn options(o: wit::Options) -> api::OptionsInput {
    let mut input = api::OptionsInput::default();
    input.max_state_bytes = o.max_state_bytes;
    input.max_message_bytes = o.max_message_bytes;
    input.max_tags = o.max_tags;
    input.max_tag_bytes = o.max_tag_bytes;
    input.max_metadata_bytes = o.max_metadata_bytes;
    input.max_namespace_bytes = o.max_namespace_bytes;
    input.max_name_bytes = o.max_name_bytes;
    input.max_content_type_bytes = o.max_content_type_bytes;
    input.max_note_bytes = o.max_note_bytes;
    input.max_attachment_bytes = o.max_attachment_bytes;
    input.max_attachment_key_bytes = o.max_attachment_key_bytes;
    input.max_import_bytes = o.max_import_bytes;
    input.auto_min_interval_ms = o.auto_min_interval_ms;
    input.auto_counts = o
        .auto_counts
        .map(|kinds| kinds.into_iter().map(trigger_kind).collect());
    input.event_capacity = o.event_capacity.map(|n| n as usize);
    input
}

pub fn checkpoint_input(
    i: wit::CheckpointInput,
    attachments: &[wit::NewAttachment],
) -> Result<api::CheckpointInput, wit::Error> {
    let mut input = api::CheckpointInput::new(i.session, i.message);
    input.content_type = i.content_type;
    input.tags = i.tags;
    input.metadata = object(&i.metadata, "metadata")?;
    input.trigger = Some(match i.trigger {
        wit::Trigger::Manual => trigger("manual", None),
        wit::Trigger::Automatic(reason) => trigger("automatic", Some(reason)),
        wit::Trigger::Scheduled => trigger("scheduled", None),
    });
    input.parent = i.parent;
    input.root = i.root;
    input.namespace = Some(i.namespace);
    input.id = i.id;
    input.created_at = i.created_at;
    input.attachments = attachments
        .iter()
        .map(|a| {
            let mut out = api::AttachmentInput::default();
            out.key = a.key.clone();
            out.content_type = a.content_type.clone();
            out.len = a.bytes.len();
            out.base = a.base.clone();
            out
        })
        .collect();
    Ok(input)
}

fn trigger(kind: &str, reason: Option<String>) -> api::TriggerInput {
    let mut t = api::TriggerInput::default();
    t.kind = kind.into();
    t.reason = reason;
    t
}

pub fn query(q: wit::Query) -> Result<api::QueryInput, wit::Error> {
    let mut input = api::QueryInput::default();
    input.session = q.session;
    input.namespace = q.namespace;
    input.tags = q.tags_all;
    input.tags_any = q.tags_any;
    input.triggers = q.triggers.into_iter().map(trigger_kind).collect();
    for (key, value) in q.metadata {
        let value = serde_json::from_str(&value).map_err(|e| {
            error(rewind_core::Error::InvalidInput(format!(
                "metadata filter {key:?}: not JSON: {e}"
            )))
        })?;
        input.metadata.insert(key, value);
    }
    input.seq_min = q.seq_min;
    input.seq_max = q.seq_max;
    input.time_from = q.time_from;
    input.time_to = q.time_to;
    input.before = q.before;
    input.order = Some(
        match q.order {
            wit::Order::Ascending => "asc",
            wit::Order::Descending => "desc",
        }
        .into(),
    );
    input.limit = q.limit.map(|n| n as usize);
    input.cursor = q.cursor;
    Ok(input)
}

pub fn retention(r: wit::Retention) -> api::RetentionInput {
    let mut input = api::RetentionInput::default();
    input.keep_last = r.keep_last.map(|n| n as usize);
    input.keep_tags = r.keep_tags;
    input.max_age_ms = r.max_age_ms;
    input.max_bytes = r.max_bytes;
    input.sessions = r.sessions;
    input.protect_heads = Some(r.protect_heads);
    input.protect_critical = Some(r.protect_critical);
    input
}

// ----- results ---------------------------------------------------------------------------

pub fn checkpoint(cp: &rewind_core::Checkpoint) -> wit::Checkpoint {
    let v = CheckpointView::from(cp);
    wit::Checkpoint {
        id: v.id.to_string(),
        session: v.session.to_string(),
        namespace: v.namespace.into(),
        seq: v.seq,
        parent: v.parent.map(|p| p.to_string()),
        parent_hash: v.parent_hash.map(|h| h.to_string()),
        created_at: v.created_at,
        message: v.message.into(),
        tags: v.tags.to_vec(),
        trigger: match v.trigger {
            api::TriggerView::Manual => wit::Trigger::Manual,
            api::TriggerView::Automatic { reason } => wit::Trigger::Automatic(reason.into()),
            api::TriggerView::Scheduled => wit::Trigger::Scheduled,
        },
        metadata: json(v.metadata),
        content_type: v.content_type.into(),
        state_len: v.state_len,
        hash: v.hash.to_string(),
    }
}

pub fn checkpoints<'a>(
    items: impl IntoIterator<Item = &'a rewind_core::Checkpoint>,
) -> Vec<wit::Checkpoint> {
    items.into_iter().map(checkpoint).collect()
}

pub fn session(s: &rewind_core::Session) -> wit::Session {
    let v = SessionView::from(s);
    wit::Session {
        id: v.id.to_string(),
        name: v.name.into(),
        metadata: json(v.metadata),
        created_at: v.created_at,
        head: v.head.map(|h| h.to_string()),
        checkpoints: v.checkpoints,
    }
}

pub fn annotation(a: &rewind_core::Annotation) -> wit::Annotation {
    let v = api::AnnotationView::from(a);
    wit::Annotation {
        note: v.note.into(),
        severity: v.severity.into(),
        created_at: v.created_at,
    }
}

pub fn diff(d: &rewind_core::Diff) -> wit::Diff {
    let v = api::DiffView::from(d);
    wit::Diff {
        from: v.from.to_string(),
        to: v.to.to_string(),
        seq_delta: v.seq_delta,
        time_delta_ms: v.time_delta_ms,
        message: v.message.map(|m| (m.from.into(), m.to.into())),
        tags_added: v.tags_added.to_vec(),
        tags_removed: v.tags_removed.to_vec(),
        metadata_patch: json(v.metadata_patch),
        from_len: v.from_len,
        to_len: v.to_len,
        shared_ratio: v.shared_ratio,
        same_state: v.same_state,
        state_patch: v.state_patch.map(json),
    }
}

pub fn plan(p: &rewind_core::CompactionPlan) -> wit::CompactionPlan {
    let v = PlanView::from(p);
    wit::CompactionPlan {
        remove: v
            .remove
            .into_iter()
            .zip(&p.remove)
            .map(|(r, (_, why))| wit::Removal {
                id: r.id.to_string(),
                reason: match why {
                    RemovalReason::BeyondKeepLast(_) => wit::RemovalReason::BeyondKeepLast,
                    RemovalReason::Untagged => wit::RemovalReason::Untagged,
                    RemovalReason::TooOld { .. } => wit::RemovalReason::TooOld,
                    RemovalReason::OverBudget => wit::RemovalReason::OverBudget,
                },
                detail: r.detail,
                keep_last: r.keep_last.map(|n| n as u64),
                age_ms: r.age_ms,
            })
            .collect(),
        protected: v
            .protected
            .into_iter()
            .zip(&p.protected)
            .map(|(k, (_, why))| wit::Kept {
                id: k.id.to_string(),
                reason: match why {
                    KeepReason::Head => wit::KeepReason::Head,
                    KeepReason::Critical => wit::KeepReason::Critical,
                    KeepReason::Tagged(_) => wit::KeepReason::Tagged,
                },
                detail: k.detail,
                tag: k.tag.map(String::from),
            })
            .collect(),
        checkpoints_before: v.checkpoints_before,
        stored_bytes_before: v.stored_bytes_before,
        stored_bytes_after: v.stored_bytes_after,
    }
}

pub fn compaction_report(r: &CompactionReport) -> wit::CompactionReport {
    let v = api::CompactionReportView::from(r);
    wit::CompactionReport {
        removed: v.removed,
        log_bytes_before: v.log_bytes_before,
        log_bytes_after: v.log_bytes_after,
    }
}

pub fn import_report(r: &ImportReport) -> wit::ImportReport {
    let v = api::ImportReportView::from(r);
    wit::ImportReport {
        sessions_added: v.sessions_added,
        checkpoints_added: v.checkpoints_added,
        skipped: v.skipped,
        conflicts: v.conflicts.iter().map(|c| c.to_string()).collect(),
        annotations_added: v.annotations_added,
        attachments_added: v.attachments_added,
    }
}

pub fn verify(r: &rewind_core::VerifyReport) -> wit::VerifyReport {
    let v = VerifyView::from(r);
    wit::VerifyReport {
        checkpoints: v.checkpoints,
        chunks: v.chunks,
        first_error: v
            .first_error
            .zip(r.first_error.as_ref())
            .map(|(e, raw)| wit::VerifyError {
                checkpoint: e.checkpoint.to_string(),
                seq: e.seq,
                problem: match raw.problem {
                    VerifyProblem::HashMismatch => wit::VerifyProblem::HashMismatch,
                    VerifyProblem::ParentHashMismatch => wit::VerifyProblem::ParentHashMismatch,
                    VerifyProblem::ChunkMismatch(_) => wit::VerifyProblem::ChunkMismatch,
                    VerifyProblem::Unreadable(_) => wit::VerifyProblem::Unreadable,
                },
                detail: e.detail,
            }),
    }
}

pub fn metrics(m: &rewind_core::Metrics) -> wit::Metrics {
    let v = api::MetricsView::from(m);
    wit::Metrics {
        sessions: v.sessions,
        checkpoints: v.checkpoints,
        annotations: v.annotations,
        attachments: v.attachments,
        logical_bytes: v.logical_bytes,
        stored_bytes: v.stored_bytes,
        chunks: v.chunks,
        log_bytes: v.log_bytes,
        next_seq: v.next_seq,
        events_dropped: v.events_dropped,
    }
}

pub fn health(h: &rewind_core::Health) -> wit::Health {
    let v = api::HealthView::from(h);
    wit::Health {
        ok: v.ok,
        write_error: v.write_error.map(String::from),
        dead_ratio: v.dead_ratio,
    }
}

pub fn event(e: &rewind_core::Event) -> wit::Event {
    match api::EventView::from(e) {
        api::EventView::SessionCreated { session } => {
            wit::Event::SessionCreated(session.to_string())
        }
        api::EventView::Created { checkpoint, .. } => wit::Event::Created(checkpoint.to_string()),
        api::EventView::Restored { checkpoint, .. } => wit::Event::Restored(checkpoint.to_string()),
        api::EventView::Deleted { checkpoint, .. } => wit::Event::Deleted(checkpoint.to_string()),
        api::EventView::SessionDeleted { session } => {
            wit::Event::SessionDeleted(session.to_string())
        }
        api::EventView::Compacted { removed, .. } => wit::Event::Compacted(removed),
        api::EventView::Annotated { checkpoint, .. } => {
            wit::Event::Annotated(checkpoint.to_string())
        }
    }
}

pub fn load_report(r: &rewind_core::LoadReport) -> wit::LoadReport {
    wit::LoadReport {
        frames: r.frames,
        log_bytes: r.log_bytes,
        truncated_bytes: r.truncated_bytes,
        discarded_records: r.discarded_records,
        unfinished_transaction: r.unfinished_transaction,
    }
}

fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}
