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
use crate::compact::{CompactionPlan, KeepReason, RemovalReason};
use crate::diff::Diff;
use crate::event::Event;
use crate::id::{CheckpointId, Hash, SessionId};
use crate::json_patch::PatchOp;
use crate::metrics::Metrics;
use crate::query::Page;
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

/// A checkpoint in brief: what a caller that keeps its own catalogue of checkpoints reads
/// (LangGraph's saver), a fraction of [`CheckpointView`]'s text.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BriefView<'a> {
    /// The checkpoint id.
    pub id: CheckpointId,
    /// Its namespace.
    pub namespace: &'a str,
    /// The state's media type.
    pub content_type: &'a str,
    /// Its metadata.
    pub metadata: &'a Map<String, Value>,
}

impl<'a> From<&'a Checkpoint> for BriefView<'a> {
    fn from(c: &'a Checkpoint) -> Self {
        BriefView {
            id: c.id,
            namespace: &c.namespace,
            content_type: &c.content_type,
            metadata: &c.metadata,
        }
    }
}

/// One page of a listing in brief.
#[derive(Clone, Debug, Serialize)]
pub struct BriefPageView<'a> {
    /// The checkpoints, in the query's order.
    pub items: Vec<BriefView<'a>>,
    /// Cursor of the next page; `null` on the last.
    pub next: Option<String>,
}

impl<'a> From<&Page<'a>> for BriefPageView<'a> {
    fn from(page: &Page<'a>) -> Self {
        BriefPageView {
            items: page.items.iter().map(|c| BriefView::from(*c)).collect(),
            next: page.next.map(|c| alloc::string::ToString::to_string(&c)),
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

/// Counts and sizes: the metrics, and the deduplication ratio they give.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricsView<'a> {
    /// The counts and sizes.
    #[serde(flatten)]
    pub metrics: &'a Metrics,
    /// `logicalBytes / storedBytes`.
    pub dedup_ratio: f64,
}

impl<'a> From<&'a Metrics> for MetricsView<'a> {
    fn from(m: &'a Metrics) -> Self {
        MetricsView {
            metrics: m,
            dedup_ratio: m.dedup_ratio(),
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
    /// The log's format version.
    pub format_version: u16,
    /// The log's head hash, hex (format version 2).
    pub log_head: Option<String>,
    /// Checkpoints whose parent is not in the store.
    pub dangling_parents: u64,
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
            format_version: v.format_version,
            log_head: v.log_head.map(|h| h.to_hex()),
            dangling_parents: v.dangling_parents,
        }
    }
}

/// An event: its stable name in `type`, and the fields it has.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    /// `sessionCreated`, `created`, `restored`, `deleted`, `sessionDeleted`, `compacted` or
    /// `annotated`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The session (all but `compacted` and `annotated`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionId>,
    /// The checkpoint (`created`, `restored`, `deleted`, `annotated`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointId>,
    /// A new checkpoint's seq (`created`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// Checkpoints a compaction removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed: Option<u64>,
    /// Log bytes before a compaction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_before: Option<u64>,
    /// Log bytes after a compaction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_after: Option<u64>,
    /// An annotation's severity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<&'static str>,
}

impl From<&Event> for EventView {
    fn from(e: &Event) -> Self {
        let mut v = EventView {
            kind: e.as_str(),
            session: None,
            checkpoint: None,
            seq: None,
            removed: None,
            bytes_before: None,
            bytes_after: None,
            severity: None,
        };
        match *e {
            Event::SessionCreated { session } | Event::SessionDeleted { session } => {
                v.session = Some(session);
            }
            Event::Created {
                session,
                checkpoint,
                seq,
            } => {
                (v.session, v.checkpoint, v.seq) = (Some(session), Some(checkpoint), Some(seq));
            }
            Event::Restored {
                session,
                checkpoint,
            }
            | Event::Deleted {
                session,
                checkpoint,
            } => (v.session, v.checkpoint) = (Some(session), Some(checkpoint)),
            Event::Compacted {
                removed,
                bytes_before,
                bytes_after,
            } => {
                v.removed = Some(removed);
                (v.bytes_before, v.bytes_after) = (Some(bytes_before), Some(bytes_after));
            }
            Event::Annotated {
                checkpoint,
                severity,
            } => (v.checkpoint, v.severity) = (Some(checkpoint), Some(severity.as_str())),
        }
        v
    }
}
