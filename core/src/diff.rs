//! Diff: what changed between two checkpoints.
//!
//! Compares descriptions (time, seq, message, tags, metadata) and states. For any states it
//! reports the size change and how many of the newer state's bytes sit in chunks the older one
//! also has (the shared-chunk ratio, cheap: no state bytes are read). When both states are JSON it
//! also gives an RFC 6902 JSON Patch that turns the first into the second.

use alloc::string::String;
use alloc::vec::Vec;

use hashbrown::HashSet;
use serde_json::Value;

use crate::backend::Backend;
use crate::checkpoint::is_json_content_type;
use crate::env::Env;
use crate::error::Result;
use crate::id::CheckpointId;
use crate::json_patch::{self, PatchOp};
use crate::store::Store;

/// The differences between checkpoint `from` and checkpoint `to`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Diff {
    /// The older side.
    pub from: CheckpointId,
    /// The newer side.
    pub to: CheckpointId,
    /// `to.seq - from.seq`.
    pub seq_delta: i64,
    /// `to.created_at - from.created_at`, in ms.
    pub time_delta_ms: i64,
    /// `(from, to)` messages when they differ.
    pub message: Option<(String, String)>,
    /// Tags on `to` only.
    pub tags_added: Vec<String>,
    /// Tags on `from` only.
    pub tags_removed: Vec<String>,
    /// JSON Patch from `from`'s metadata to `to`'s.
    pub metadata: Vec<PatchOp>,
    /// Size of `from`'s state.
    pub from_len: u64,
    /// Size of `to`'s state.
    pub to_len: u64,
    /// Fraction of `to`'s state bytes in chunks `from` also has (1.0 for identical states).
    pub shared_ratio: f64,
    /// Whether the two states are byte-identical.
    pub same_state: bool,
    /// JSON Patch from `from`'s state to `to`'s, when both are JSON.
    pub state_patch: Option<Vec<PatchOp>>,
}

impl<B: Backend, E: Env> Store<B, E> {
    /// Compares two checkpoints (of any sessions).
    pub fn diff(&self, from: CheckpointId, to: CheckpointId) -> Result<Diff> {
        let a = self.index.entry(from)?;
        let b = self.index.entry(to)?;
        let (ca, cb) = (&a.cp, &b.cp);
        let a_slots: HashSet<u32> = a.state.chunks.iter().copied().collect();
        let shared: u64 = b
            .state
            .chunks
            .iter()
            .filter(|s| a_slots.contains(*s))
            .map(|s| self.index.chunks.get(*s).len as u64)
            .sum();
        let shared_ratio = if cb.state_len == 0 {
            if ca.state_len == 0 { 1.0 } else { 0.0 }
        } else {
            shared as f64 / cb.state_len as f64
        };
        let same_state = ca.state_root == cb.state_root && ca.state_len == cb.state_len;
        let state_patch = if same_state && is_json_content_type(&ca.content_type) {
            Some(Vec::new())
        } else if is_json_content_type(&ca.content_type) && is_json_content_type(&cb.content_type) {
            let va = serde_json::from_slice::<Value>(&self.read_blob(&a.state)?);
            let vb = serde_json::from_slice::<Value>(&self.read_blob(&b.state)?);
            match (va, vb) {
                (Ok(va), Ok(vb)) => Some(json_patch::diff(&va, &vb)),
                _ => None,
            }
        } else {
            None
        };
        Ok(Diff {
            from,
            to,
            seq_delta: delta(ca.seq, cb.seq),
            time_delta_ms: delta(ca.created_at, cb.created_at),
            message: (ca.message != cb.message).then(|| (ca.message.clone(), cb.message.clone())),
            tags_added: cb.tags.iter().filter(|t| !ca.has_tag(t)).cloned().collect(),
            tags_removed: ca.tags.iter().filter(|t| !cb.has_tag(t)).cloned().collect(),
            metadata: json_patch::diff(
                &Value::Object(ca.metadata.clone()),
                &Value::Object(cb.metadata.clone()),
            ),
            from_len: ca.state_len,
            to_len: cb.state_len,
            shared_ratio,
            same_state,
            state_patch,
        })
    }
}

/// `to - from` as a signed number, saturating at the ends of `i64` (times are caller-supplied
/// and may be anywhere in `u64`).
fn delta(from: u64, to: u64) -> i64 {
    (to as i128 - from as i128).clamp(i64::MIN as i128, i64::MAX as i128) as i64
}
