//! What bindings hand out: serde-serialisable views of the engine's types, with camelCase field
//! names, ids and hashes as strings, times and seqs as numbers, and every enum by its stable
//! name (`as_str`), never by its `Debug` form.
//!
//! Views borrow from what they show; building one copies no state bytes and serialising one
//! allocates only the output. Hosts whose convention is snake_case serialise them through
//! [`SnakeCase`](super::SnakeCase).

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::annotation::Annotation;
use crate::checkpoint::{Checkpoint, Trigger};
use crate::compact::{CompactionPlan, CompactionReport, KeepReason, RemovalReason};
use crate::diff::Diff;
use crate::event::Event;
use crate::export::ImportReport;
use crate::id::{CheckpointId, Hash, SessionId};
use crate::json_patch::PatchOp;
use crate::metrics::{Health, Metrics, OpCounters};
use crate::query::Page;
use crate::session::Session;
use crate::store::{VerifyError, VerifyReport};

fn hex<S: Serializer>(hash: &Hash, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(hash)
}

fn hex_opt<S: Serializer>(hash: &Option<Hash>, s: S) -> Result<S::Ok, S::Error> {
    match hash {
        Some(h) => s.collect_str(h),
        None => s.serialize_none(),
    }
}

/// A checkpoint, without its state bytes.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointView<'a> {
    /// Unique id.
    pub id: CheckpointId,
    /// Its session.
    pub session: SessionId,
    /// Namespace within the session.
    pub namespace: &'a str,
    /// Store-wide sequence number.
    pub seq: u64,
    /// The checkpoint it continues from.
    pub parent: Option<CheckpointId>,
    /// The parent's hash when it was made (hex).
    #[serde(serialize_with = "hex_opt")]
    pub parent_hash: Option<Hash>,
    /// Unix ms.
    pub created_at: u64,
    /// What this moment is.
    pub message: &'a str,
    /// Tags, sorted.
    pub tags: &'a [String],
    /// Why it was taken.
    pub trigger: TriggerView<'a>,
    /// Metadata (a JSON object).
    pub metadata: &'a Map<String, Value>,
    /// Media type of the state.
    pub content_type: &'a str,
    /// State size in bytes.
    pub state_len: u64,
    /// The checkpoint's hash (hex).
    #[serde(serialize_with = "hex")]
    pub hash: Hash,
}

impl<'a> From<&'a Checkpoint> for CheckpointView<'a> {
    fn from(cp: &'a Checkpoint) -> Self {
        CheckpointView {
            id: cp.id,
            session: cp.session,
            namespace: &cp.namespace,
            seq: cp.seq,
            parent: cp.parent,
            parent_hash: cp.parent_hash,
            created_at: cp.created_at,
            message: &cp.message,
            tags: &cp.tags,
            trigger: TriggerView::from(&cp.trigger),
            metadata: &cp.metadata,
            content_type: &cp.content_type,
            state_len: cp.state_len,
            hash: cp.hash,
        }
    }
}

/// A trigger: `{ "kind": "manual" }`, `{ "kind": "automatic", "reason": ".." }`,
/// `{ "kind": "scheduled" }`.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TriggerView<'a> {
    /// Asked for explicitly.
    Manual,
    /// Taken automatically.
    Automatic {
        /// What prompted it.
        reason: &'a str,
    },
    /// Taken on a schedule.
    Scheduled,
}

impl<'a> From<&'a Trigger> for TriggerView<'a> {
    fn from(t: &'a Trigger) -> Self {
        match t {
            Trigger::Manual => TriggerView::Manual,
            Trigger::Automatic { reason } => TriggerView::Automatic { reason },
            Trigger::Scheduled => TriggerView::Scheduled,
        }
    }
}

/// A session.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionView<'a> {
    /// Unique id.
    pub id: SessionId,
    /// Name.
    pub name: &'a str,
    /// Metadata (a JSON object).
    pub metadata: &'a Map<String, Value>,
    /// Unix ms.
    pub created_at: u64,
    /// Where the next checkpoint continues from.
    pub head: Option<CheckpointId>,
    /// Number of checkpoints.
    pub checkpoints: u64,
}

impl<'a> From<&'a Session> for SessionView<'a> {
    fn from(s: &'a Session) -> Self {
        SessionView {
            id: s.id,
            name: &s.name,
            metadata: &s.metadata,
            created_at: s.created_at,
            head: s.head,
            checkpoints: s.checkpoints,
        }
    }
}

/// An annotation.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnnotationView<'a> {
    /// The note.
    pub note: &'a str,
    /// `info`, `warning` or `critical`.
    pub severity: &'static str,
    /// Unix ms.
    pub created_at: u64,
}

impl<'a> From<&'a Annotation> for AnnotationView<'a> {
    fn from(a: &'a Annotation) -> Self {
        AnnotationView {
            note: &a.note,
            severity: a.severity.as_str(),
            created_at: a.created_at,
        }
    }
}

/// One page of a listing.
#[derive(Clone, Debug, Serialize)]
pub struct PageView<'a> {
    /// The checkpoints, in the query's order.
    pub items: Vec<CheckpointView<'a>>,
    /// Cursor of the next page; `null` on the last.
    pub next: Option<String>,
}

impl<'a> From<&Page<'a>> for PageView<'a> {
    fn from(page: &Page<'a>) -> Self {
        PageView {
            items: page
                .items
                .iter()
                .map(|c| CheckpointView::from(*c))
                .collect(),
            next: page.next.map(|c| alloc::string::ToString::to_string(&c)),
        }
    }
}

/// What changed between two checkpoints.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffView<'a> {
    /// The older side.
    pub from: CheckpointId,
    /// The newer side.
    pub to: CheckpointId,
    /// Seq difference.
    pub seq_delta: i64,
    /// Time difference, ms.
    pub time_delta_ms: i64,
    /// The two messages, when they differ.
    pub message: Option<MessageChange<'a>>,
    /// Tags only on the newer.
    pub tags_added: &'a [String],
    /// Tags only on the older.
    pub tags_removed: &'a [String],
    /// RFC 6902 JSON Patch from the older metadata to the newer.
    pub metadata_patch: &'a [PatchOp],
    /// Older state size.
    pub from_len: u64,
    /// Newer state size.
    pub to_len: u64,
    /// Fraction of the newer state's bytes in chunks the older has.
    pub shared_ratio: f64,
    /// Whether the states are byte-identical.
    pub same_state: bool,
    /// RFC 6902 JSON Patch between the states, when both are JSON.
    pub state_patch: Option<&'a [PatchOp]>,
}

/// A changed message.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct MessageChange<'a> {
    /// The older message.
    pub from: &'a str,
    /// The newer message.
    pub to: &'a str,
}

impl<'a> From<&'a Diff> for DiffView<'a> {
    fn from(d: &'a Diff) -> Self {
        DiffView {
            from: d.from,
            to: d.to,
            seq_delta: d.seq_delta,
            time_delta_ms: d.time_delta_ms,
            message: d
                .message
                .as_ref()
                .map(|(from, to)| MessageChange { from, to }),
            tags_added: &d.tags_added,
            tags_removed: &d.tags_removed,
            metadata_patch: &d.metadata,
            from_len: d.from_len,
            to_len: d.to_len,
            shared_ratio: d.shared_ratio,
            same_state: d.same_state,
            state_patch: d.state_patch.as_deref(),
        }
    }
}

/// What a compaction would do.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanView<'a> {
    /// Checkpoints it removes, oldest first, and why.
    pub remove: Vec<Removal>,
    /// Checkpoints a rule selected that stay, and why.
    pub protected: Vec<Kept<'a>>,
    /// Checkpoints in the store when planned.
    pub checkpoints_before: u64,
    /// Stored chunk bytes when planned.
    pub stored_bytes_before: u64,
    /// Stored chunk bytes after the removals.
    pub stored_bytes_after: u64,
}

/// A checkpoint a plan removes: the reason's stable name, in words, and its figures.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Removal {
    /// The checkpoint.
    pub id: CheckpointId,
    /// `beyondKeepLast`, `untagged`, `tooOld` or `overBudget`.
    pub reason: &'static str,
    /// The reason in words.
    pub detail: String,
    /// For `beyondKeepLast`: how many newest checkpoints each session keeps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<usize>,
    /// For `tooOld`: the checkpoint's age, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_ms: Option<u64>,
}

/// A checkpoint a plan keeps although a rule selected it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Kept<'a> {
    /// The checkpoint.
    pub id: CheckpointId,
    /// `head`, `critical` or `tagged`.
    pub reason: &'static str,
    /// The reason in words.
    pub detail: String,
    /// For `tagged`: the kept tag it carries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<&'a str>,
}

impl Removal {
    /// The view of one removal.
    pub fn new(id: CheckpointId, why: &RemovalReason) -> Self {
        Removal {
            id,
            reason: why.as_str(),
            detail: alloc::string::ToString::to_string(why),
            keep_last: match why {
                RemovalReason::BeyondKeepLast(n) => Some(*n),
                _ => None,
            },
            age_ms: match why {
                RemovalReason::TooOld { age_ms } => Some(*age_ms),
                _ => None,
            },
        }
    }
}

impl<'a> Kept<'a> {
    /// The view of one kept checkpoint.
    pub fn new(id: CheckpointId, why: &'a KeepReason) -> Self {
        Kept {
            id,
            reason: why.as_str(),
            detail: alloc::string::ToString::to_string(why),
            tag: match why {
                KeepReason::Tagged(tag) => Some(tag),
                _ => None,
            },
        }
    }
}

impl<'a> From<&'a CompactionPlan> for PlanView<'a> {
    fn from(p: &'a CompactionPlan) -> Self {
        PlanView {
            remove: p
                .remove
                .iter()
                .map(|(id, why)| Removal::new(*id, why))
                .collect(),
            protected: p
                .protected
                .iter()
                .map(|(id, why)| Kept::new(*id, why))
                .collect(),
            checkpoints_before: p.checkpoints_before,
            stored_bytes_before: p.stored_bytes_before,
            stored_bytes_after: p.stored_bytes_after,
        }
    }
}

/// What a compaction did.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CompactionReportView {
    /// Checkpoints removed.
    pub removed: u64,
    /// Log size before.
    pub log_bytes_before: u64,
    /// Log size after.
    pub log_bytes_after: u64,
}

impl From<&CompactionReport> for CompactionReportView {
    fn from(r: &CompactionReport) -> Self {
        CompactionReportView {
            removed: r.removed,
            log_bytes_before: r.log_bytes_before,
            log_bytes_after: r.log_bytes_after,
        }
    }
}

/// Counts and sizes.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricsView {
    /// Live sessions.
    pub sessions: u64,
    /// Live checkpoints.
    pub checkpoints: u64,
    /// Annotations on live checkpoints.
    pub annotations: u64,
    /// Attachments on live checkpoints.
    pub attachments: u64,
    /// Sum of live state and attachment sizes.
    pub logical_bytes: u64,
    /// Bytes of distinct live chunks.
    pub stored_bytes: u64,
    /// Distinct live chunks.
    pub chunks: u64,
    /// Size of the log.
    pub log_bytes: u64,
    /// The seq the next checkpoint gets.
    pub next_seq: u64,
    /// `logicalBytes / storedBytes`.
    pub dedup_ratio: f64,
    /// Events dropped because nobody drained them.
    pub events_dropped: u64,
    /// Operations since the store was opened.
    pub ops: OpsView,
}

/// Operation counters.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpsView {
    /// Sessions created.
    pub sessions_created: u64,
    /// Checkpoints created.
    pub checkpoints_created: u64,
    /// Automatic checkpoints throttled away.
    pub auto_skipped: u64,
    /// Restores.
    pub restores: u64,
    /// Checkpoints deleted.
    pub deletes: u64,
    /// Annotations added.
    pub annotations: u64,
    /// Attachments written.
    pub attachments: u64,
    /// Compactions applied.
    pub compactions: u64,
    /// Imports applied.
    pub imports: u64,
    /// Backend failures returned to callers.
    pub backend_errors: u64,
}

impl From<&OpCounters> for OpsView {
    fn from(o: &OpCounters) -> Self {
        OpsView {
            sessions_created: o.sessions_created,
            checkpoints_created: o.checkpoints_created,
            auto_skipped: o.auto_skipped,
            restores: o.restores,
            deletes: o.deletes,
            annotations: o.annotations,
            attachments: o.attachments,
            compactions: o.compactions,
            imports: o.imports,
            backend_errors: o.backend_errors,
        }
    }
}

impl From<&Metrics> for MetricsView {
    fn from(m: &Metrics) -> Self {
        MetricsView {
            sessions: m.sessions,
            checkpoints: m.checkpoints,
            annotations: m.annotations,
            attachments: m.attachments,
            logical_bytes: m.logical_bytes,
            stored_bytes: m.stored_bytes,
            chunks: m.chunks,
            log_bytes: m.log_bytes,
            next_seq: m.next_seq,
            dedup_ratio: m.dedup_ratio(),
            events_dropped: m.events_dropped,
            ops: OpsView::from(&m.ops),
        }
    }
}

/// Whether the store takes writes.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthView<'a> {
    /// True when writes are accepted and nothing needs attention.
    pub ok: bool,
    /// Why writes are refused, after a failed sync.
    pub write_error: Option<&'a str>,
    /// Fraction of the log taken by deleted data.
    pub dead_ratio: f64,
    /// Events dropped because nobody drained them.
    pub events_dropped: u64,
}

impl<'a> From<&'a Health> for HealthView<'a> {
    fn from(h: &'a Health) -> Self {
        HealthView {
            ok: h.ok,
            write_error: h.write_error.as_deref(),
            dead_ratio: h.dead_ratio,
            events_dropped: h.events_dropped,
        }
    }
}

/// What verification found.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyView {
    /// Whether everything checked out.
    pub ok: bool,
    /// Checkpoints checked.
    pub checkpoints: u64,
    /// Chunks re-hashed.
    pub chunks: u64,
    /// The first problem, in seq order.
    pub first_error: Option<VerifyErrorView>,
}

/// A checkpoint that failed verification.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyErrorView {
    /// The checkpoint.
    pub checkpoint: CheckpointId,
    /// Its seq.
    pub seq: u64,
    /// `hashMismatch`, `parentHashMismatch`, `chunkMismatch` or `unreadable`.
    pub problem: &'static str,
    /// The problem in words.
    pub detail: String,
}

impl From<&VerifyError> for VerifyErrorView {
    fn from(e: &VerifyError) -> Self {
        VerifyErrorView {
            checkpoint: e.checkpoint,
            seq: e.seq,
            problem: e.problem.as_str(),
            detail: alloc::string::ToString::to_string(&e.problem),
        }
    }
}

impl From<&VerifyReport> for VerifyView {
    fn from(v: &VerifyReport) -> Self {
        VerifyView {
            ok: v.is_ok(),
            checkpoints: v.checkpoints,
            chunks: v.chunks,
            first_error: v.first_error.as_ref().map(VerifyErrorView::from),
        }
    }
}

/// What an import did.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReportView<'a> {
    /// Sessions created.
    pub sessions_added: u64,
    /// Checkpoints added.
    pub checkpoints_added: u64,
    /// Checkpoints already present with the same hash.
    pub skipped: u64,
    /// Checkpoints whose id the store has with another hash (not imported).
    pub conflicts: &'a [CheckpointId],
    /// Annotations added.
    pub annotations_added: u64,
    /// Attachments added.
    pub attachments_added: u64,
}

impl<'a> From<&'a ImportReport> for ImportReportView<'a> {
    fn from(r: &'a ImportReport) -> Self {
        ImportReportView {
            sessions_added: r.sessions_added,
            checkpoints_added: r.checkpoints_added,
            skipped: r.skipped,
            conflicts: &r.conflicts,
            annotations_added: r.annotations_added,
            attachments_added: r.attachments_added,
        }
    }
}

/// An event, tagged by its stable name in `type`.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum EventView {
    /// A session was created.
    SessionCreated {
        /// The session.
        session: SessionId,
    },
    /// A checkpoint was created.
    Created {
        /// Its session.
        session: SessionId,
        /// The checkpoint.
        checkpoint: CheckpointId,
        /// Its seq.
        seq: u64,
    },
    /// A session's head moved.
    Restored {
        /// The session.
        session: SessionId,
        /// The new head.
        checkpoint: CheckpointId,
    },
    /// A checkpoint was deleted.
    Deleted {
        /// Its session.
        session: SessionId,
        /// The checkpoint.
        checkpoint: CheckpointId,
    },
    /// A session was deleted.
    SessionDeleted {
        /// The session.
        session: SessionId,
    },
    /// A compaction rewrote the log.
    Compacted {
        /// Checkpoints removed.
        removed: u64,
        /// Log bytes before.
        bytes_before: u64,
        /// Log bytes after.
        bytes_after: u64,
    },
    /// A checkpoint was annotated.
    Annotated {
        /// The checkpoint.
        checkpoint: CheckpointId,
        /// `info`, `warning` or `critical`.
        severity: &'static str,
    },
}

impl From<&Event> for EventView {
    fn from(e: &Event) -> Self {
        match *e {
            Event::SessionCreated { session } => EventView::SessionCreated { session },
            Event::Created {
                session,
                checkpoint,
                seq,
            } => EventView::Created {
                session,
                checkpoint,
                seq,
            },
            Event::Restored {
                session,
                checkpoint,
            } => EventView::Restored {
                session,
                checkpoint,
            },
            Event::Deleted {
                session,
                checkpoint,
            } => EventView::Deleted {
                session,
                checkpoint,
            },
            Event::SessionDeleted { session } => EventView::SessionDeleted { session },
            Event::Compacted {
                removed,
                bytes_before,
                bytes_after,
            } => EventView::Compacted {
                removed,
                bytes_before,
                bytes_after,
            },
            Event::Annotated {
                checkpoint,
                severity,
            } => EventView::Annotated {
                checkpoint,
                severity: severity.as_str(),
            },
        }
    }
}
