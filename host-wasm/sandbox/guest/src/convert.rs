//! WIT records to and from the engine's binding-neutral API (`rewind_core::api`): inputs are
//! filled into the API's inputs, which do every parse and default; results are the API's views,
//! copied into WIT records. Nothing else in the component maps a type. The WIT records name
//! their fields as the engine does, so most fields are copied by name (`fill!`, `record!`).

use rewind_core::api::{self, CheckpointView, PlanView, VerifyView};
use rewind_core::{CompactionReport, ImportReport, KeepReason, RemovalReason, VerifyProblem};
use serde_json::{Map, Value};

use crate::exports::rewind::store::store as wit;

/// `$dst.f = $src.f` for each field named.
macro_rules! fill {
    ($dst:ident <- $src:ident: $($field:ident),* $(,)?) => { $( $dst.$field = $src.$field; )* };
}

/// A `$ty` whose named fields are `$src`'s fields of the same names, the rest given after `;`.
macro_rules! record {
    ($ty:path { $($field:ident),* $(,)? ; $($rest:tt)* } from $src:expr) => {{
        let src = $src;
        $ty { $($field: src.$field.clone(),)* $($rest)* }
    }};
}

/// An engine error as the WIT error record.
pub fn error(err: rewind_core::Error) -> wit::Error {
    use rewind_core::ErrorKind as K;
    let kind = match err.kind() {
        K::NotFound => wit::ErrorKind::NotFound,
        K::InvalidInput => wit::ErrorKind::InvalidInput,
        K::LimitExceeded => wit::ErrorKind::LimitExceeded,
        K::Corrupt => wit::ErrorKind::Corrupt,
        K::HashMismatch => wit::ErrorKind::HashMismatch,
        K::ImportRejected => wit::ErrorKind::ImportRejected,
        K::Storage => wit::ErrorKind::Storage,
    };
    let (code, message) = (err.code().into(), err.to_string());
    wit::Error {
        kind,
        code,
        message,
    }
}

fn invalid(message: String) -> wit::Error {
    error(rewind_core::Error::InvalidInput(message))
}

/// A JSON object given as text (empty: none).
fn object(text: &str, what: &str) -> Result<Map<String, Value>, wit::Error> {
    match serde_json::from_str::<Value>(text) {
        _ if text.is_empty() => Ok(Map::new()),
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(invalid(format!("{what} is not a JSON object: {text}"))),
    }
}

fn trigger_kind(kind: wit::TriggerKind) -> String {
    let name = match kind {
        wit::TriggerKind::Manual => "manual",
        wit::TriggerKind::Automatic => "automatic",
        wit::TriggerKind::Scheduled => "scheduled",
    };
    name.into()
}

// ----- inputs ----------------------------------------------------------------------------

pub fn options(o: wit::Options) -> api::OptionsInput {
    let mut input = api::OptionsInput::default();
    fill!(input <- o: max_state_bytes, max_message_bytes, max_tags, max_tag_bytes,
        max_metadata_bytes, max_namespace_bytes, max_name_bytes, max_content_type_bytes,
        max_note_bytes, max_attachment_bytes, max_attachment_key_bytes, max_import_bytes,
        auto_min_interval_ms);
    input.auto_counts = (o.auto_counts).map(|kinds| kinds.into_iter().map(trigger_kind).collect());
    input.event_capacity = o.event_capacity.map(|n| n as usize);
    input
}

pub fn checkpoint_input(
    i: wit::CheckpointInput,
    attachments: &[wit::NewAttachment],
) -> Result<api::CheckpointInput, wit::Error> {
    let mut input = api::CheckpointInput::new(i.session, i.message);
    fill!(input <- i: content_type, tags, parent, root, id, created_at);
    input.metadata = object(&i.metadata, "metadata")?;
    input.namespace = Some(i.namespace);
    let mut trigger = api::TriggerInput::default();
    (trigger.kind, trigger.reason) = match i.trigger {
        wit::Trigger::Manual => ("manual".into(), None),
        wit::Trigger::Automatic(reason) => ("automatic".into(), Some(reason)),
        wit::Trigger::Scheduled => ("scheduled".into(), None),
    };
    input.trigger = Some(trigger);
    for a in attachments {
        let mut out = api::AttachmentInput::default();
        (out.key, out.content_type) = (a.key.clone(), a.content_type.clone());
        (out.len, out.base) = (a.bytes.len(), a.base.clone());
        input.attachments.push(out);
    }
    Ok(input)
}

pub fn query(q: wit::Query) -> Result<api::QueryInput, wit::Error> {
    let mut input = api::QueryInput::default();
    fill!(input <- q: session, namespace, tags_any, seq_min, seq_max, time_from, time_to,
        before, cursor);
    input.tags = q.tags_all;
    input.triggers = q.triggers.into_iter().map(trigger_kind).collect();
    for (key, value) in q.metadata {
        let value = serde_json::from_str(&value)
            .map_err(|e| invalid(format!("metadata filter {key:?}: not JSON: {e}")))?;
        input.metadata.insert(key, value);
    }
    let order = match q.order {
        wit::Order::Ascending => "asc",
        wit::Order::Descending => "desc",
    };
    input.order = Some(order.into());
    input.limit = q.limit.map(|n| n as usize);
    Ok(input)
}

pub fn retention(r: wit::Retention) -> api::RetentionInput {
    let mut input = api::RetentionInput::default();
    fill!(input <- r: keep_tags, max_age_ms, max_bytes, sessions);
    input.keep_last = r.keep_last.map(|n| n as usize);
    (input.protect_heads, input.protect_critical) =
        (Some(r.protect_heads), Some(r.protect_critical));
    input
}

// ----- results ---------------------------------------------------------------------------

pub fn checkpoint(cp: &rewind_core::Checkpoint) -> wit::Checkpoint {
    let v = CheckpointView::from(cp);
    let trigger = match v.trigger {
        api::TriggerView::Manual => wit::Trigger::Manual,
        api::TriggerView::Automatic { reason } => wit::Trigger::Automatic(reason.into()),
        api::TriggerView::Scheduled => wit::Trigger::Scheduled,
    };
    record!(wit::Checkpoint { seq, created_at, state_len;
        id: v.id.to_string(), session: v.session.to_string(), namespace: v.namespace.into(),
        parent: v.parent.map(|p| p.to_string()), parent_hash: v.parent_hash.map(|h| h.to_string()),
        message: v.message.into(), tags: v.tags.to_vec(), trigger, metadata: json(v.metadata),
        content_type: v.content_type.into(), hash: v.hash.to_string(),
    } from &v)
}

pub fn checkpoints<'a>(
    items: impl IntoIterator<Item = &'a rewind_core::Checkpoint>,
) -> Vec<wit::Checkpoint> {
    items.into_iter().map(checkpoint).collect()
}

pub fn session(s: &rewind_core::Session) -> wit::Session {
    record!(wit::Session { name, created_at, checkpoints;
        id: s.id.to_string(), metadata: json(&s.metadata), head: s.head.map(|h| h.to_string()),
    } from s)
}

pub fn annotation(a: &rewind_core::Annotation) -> wit::Annotation {
    let v = api::AnnotationView::from(a);
    record!(wit::Annotation { created_at;
        note: v.note.into(), severity: v.severity.into() } from &v)
}

pub fn diff(d: &rewind_core::Diff) -> wit::Diff {
    let v = api::DiffView::from(d);
    record!(wit::Diff { seq_delta, time_delta_ms, from_len, to_len, shared_ratio, same_state;
        from: v.from.to_string(), to: v.to.to_string(),
        message: v.message.map(|m| (m.from.into(), m.to.into())),
        tags_added: v.tags_added.to_vec(), tags_removed: v.tags_removed.to_vec(),
        metadata_patch: json(v.metadata_patch), state_patch: v.state_patch.map(json),
    } from &v)
}

pub fn plan(p: &rewind_core::CompactionPlan) -> wit::CompactionPlan {
    let v = PlanView::from(p);
    let remove = v.remove.iter().zip(&p.remove).map(|(r, (_, why))| {
        let reason = match why {
            RemovalReason::BeyondKeepLast(_) => wit::RemovalReason::BeyondKeepLast,
            RemovalReason::Untagged => wit::RemovalReason::Untagged,
            RemovalReason::TooOld { .. } => wit::RemovalReason::TooOld,
            RemovalReason::OverBudget => wit::RemovalReason::OverBudget,
        };
        record!(wit::Removal { detail, age_ms;
            id: r.id.to_string(), reason, keep_last: r.keep_last.map(|n| n as u64) } from r)
    });
    let protected = v.protected.iter().zip(&p.protected).map(|(k, (_, why))| {
        let reason = match why {
            KeepReason::Head => wit::KeepReason::Head,
            KeepReason::Critical => wit::KeepReason::Critical,
            KeepReason::Tagged(_) => wit::KeepReason::Tagged,
        };
        record!(wit::Kept { detail;
            id: k.id.to_string(), reason, tag: k.tag.map(String::from) } from k)
    });
    record!(wit::CompactionPlan { checkpoints_before, stored_bytes_before, stored_bytes_after;
        remove: remove.collect(), protected: protected.collect() } from &v)
}

pub fn compaction_report(r: &CompactionReport) -> wit::CompactionReport {
    record!(wit::CompactionReport { removed, log_bytes_before, log_bytes_after; } from r)
}

pub fn import_report(r: &ImportReport) -> wit::ImportReport {
    record!(wit::ImportReport { sessions_added, checkpoints_added, skipped, annotations_added,
        attachments_added; conflicts: r.conflicts.iter().map(|c| c.to_string()).collect() } from r)
}

pub fn verify(r: &rewind_core::VerifyReport) -> wit::VerifyReport {
    let v = VerifyView::from(r);
    let first_error = v
        .first_error
        .as_ref()
        .zip(r.first_error.as_ref())
        .map(|(e, raw)| {
            let problem = match raw.problem {
                VerifyProblem::HashMismatch => wit::VerifyProblem::HashMismatch,
                VerifyProblem::ParentHashMismatch => wit::VerifyProblem::ParentHashMismatch,
                VerifyProblem::ChunkMismatch(_) => wit::VerifyProblem::ChunkMismatch,
                VerifyProblem::Unreadable(_) => wit::VerifyProblem::Unreadable,
            };
            record!(wit::VerifyError { seq, detail;
            checkpoint: e.checkpoint.to_string(), problem } from e)
        });
    record!(wit::VerifyReport {
        checkpoints, chunks, format_version, log_head, dangling_parents; first_error
    } from &v)
}

pub fn metrics(m: &rewind_core::Metrics) -> wit::Metrics {
    record!(wit::Metrics { sessions, checkpoints, annotations, attachments, logical_bytes,
        stored_bytes, chunks, log_bytes, next_seq, events_dropped; } from m)
}

pub fn health(h: &rewind_core::Health) -> wit::Health {
    record!(wit::Health { ok, write_error, dead_ratio; } from h)
}

/// An event as WIT has it; `None` for a kind this interface does not name.
pub fn event(e: &rewind_core::Event) -> Option<wit::Event> {
    use rewind_core::Event as E;
    Some(match *e {
        E::SessionCreated { session } => wit::Event::SessionCreated(session.to_string()),
        E::Created { checkpoint, .. } => wit::Event::Created(checkpoint.to_string()),
        E::Restored { checkpoint, .. } => wit::Event::Restored(checkpoint.to_string()),
        E::Deleted { checkpoint, .. } => wit::Event::Deleted(checkpoint.to_string()),
        E::SessionDeleted { session } => wit::Event::SessionDeleted(session.to_string()),
        E::Compacted { removed, .. } => wit::Event::Compacted(removed),
        E::Annotated { checkpoint, .. } => wit::Event::Annotated(checkpoint.to_string()),
        _ => return None,
    })
}

pub fn load_report(r: &rewind_core::LoadReport) -> wit::LoadReport {
    use rewind_core::SnapshotUse;
    let (snapshot_used, snapshot_problem) = match &r.snapshot {
        SnapshotUse::Used { .. } => (true, None),
        SnapshotUse::Ignored(problem) => (false, Some(problem.to_string())),
        _ => (false, None),
    };
    wit::LoadReport {
        frames: r.frames,
        log_bytes: r.log_bytes,
        truncated_bytes: r.truncated_bytes,
        discarded_records: r.discarded_records,
        unfinished_transaction: r.unfinished_transaction,
        snapshot_used,
        snapshot_problem,
    }
}

fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}
