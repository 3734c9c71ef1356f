//! Compaction: retention policies, a plan you can read before anything goes, and a log rewrite
//! that really gives the space back.
//!
//! [`Store::plan_compaction`] says which checkpoints a [`RetentionPolicy`] would remove and why,
//! and which it would have removed but keeps because they are protected (session heads,
//! checkpoints with a critical annotation, kept tags). [`Store::apply_compaction`] deletes them
//! and rewrites the log with live records only: chunks nobody references are gone from the
//! medium, not just hidden. Removing a checkpoint never damages its children: every state is
//! complete on its own.
//!
//! The rewrite itself (shared with vacuum and binary export) is `store/rewrite.rs`.

use alloc::string::String;
use alloc::vec::Vec;

use hashbrown::{HashMap, HashSet};

use crate::backend::Backend;
use crate::env::Env;
use crate::error::Result;
use crate::event::Event;
use crate::id::{CheckpointId, SessionId};
use crate::store::Store;

/// Which checkpoints to keep. Rules combine: a checkpoint goes when any removal rule selects it
/// and nothing protects it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetentionPolicy {
    /// Keep the N newest checkpoints of each session; older ones go.
    pub keep_last: Option<usize>,
    /// Checkpoints with any of these tags are kept. On its own (no `keep_last`, `max_age_ms`),
    /// everything untagged goes.
    pub keep_tags: Vec<String>,
    /// Checkpoints older than this (ms before now) go.
    pub max_age_ms: Option<u64>,
    /// After the other rules, the oldest unprotected checkpoints go until the stored chunk bytes
    /// are at most this.
    pub max_bytes: Option<u64>,
    /// Only these sessions (all when empty).
    pub sessions: Vec<SessionId>,
    /// Keep session heads (default true).
    pub protect_heads: bool,
    /// Keep checkpoints with a critical annotation (default true).
    pub protect_critical: bool,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy {
            keep_last: None,
            keep_tags: Vec::new(),
            max_age_ms: None,
            max_bytes: None,
            sessions: Vec::new(),
            protect_heads: true,
            protect_critical: true,
        }
    }
}

impl RetentionPolicy {
    /// Keep the `n` newest checkpoints of each session.
    pub fn keep_last(n: usize) -> Self {
        RetentionPolicy {
            keep_last: Some(n),
            ..Self::default()
        }
    }

    /// Keep only checkpoints carrying one of `tags`.
    pub fn keep_tagged<I: IntoIterator<Item = T>, T: Into<String>>(tags: I) -> Self {
        RetentionPolicy {
            keep_tags: tags.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// Keep the `n` newest of each session and every checkpoint carrying one of `tags`.
    pub fn hybrid<I: IntoIterator<Item = T>, T: Into<String>>(n: usize, tags: I) -> Self {
        RetentionPolicy {
            keep_last: Some(n),
            keep_tags: tags.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// Remove checkpoints older than `ms`.
    pub fn max_age(ms: u64) -> Self {
        RetentionPolicy {
            max_age_ms: Some(ms),
            ..Self::default()
        }
    }

    /// Remove the oldest checkpoints until stored bytes are at most `bytes`.
    pub fn max_bytes(bytes: u64) -> Self {
        RetentionPolicy {
            max_bytes: Some(bytes),
            ..Self::default()
        }
    }

    /// Restricts the policy to `session` (call again for more).
    pub fn session(mut self, session: SessionId) -> Self {
        self.sessions.push(session);
        self
    }

    /// Sets whether session heads are protected.
    pub fn protect_heads(mut self, protect: bool) -> Self {
        self.protect_heads = protect;
        self
    }

    /// Sets whether critically annotated checkpoints are protected.
    pub fn protect_critical(mut self, protect: bool) -> Self {
        self.protect_critical = protect;
        self
    }
}

/// Why a checkpoint is in a plan's removals.
#[derive(Clone, Debug, PartialEq, Eq)]
// Exhaustive on purpose: every binding maps each variant, so a new one must reach them all.
pub enum RemovalReason {
    /// Beyond the N newest of its session.
    BeyondKeepLast(usize),
    /// Not carrying a kept tag.
    Untagged,
    /// Older than the maximum age.
    TooOld {
        /// Its age in ms.
        age_ms: u64,
    },
    /// Removed to get under the byte budget.
    OverBudget,
}

impl RemovalReason {
    /// A stable name for the reason: `beyondKeepLast`, `untagged`, `tooOld`, `overBudget`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RemovalReason::BeyondKeepLast(_) => "beyondKeepLast",
            RemovalReason::Untagged => "untagged",
            RemovalReason::TooOld { .. } => "tooOld",
            RemovalReason::OverBudget => "overBudget",
        }
    }
}

impl core::fmt::Display for RemovalReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RemovalReason::BeyondKeepLast(n) => {
                write!(f, "older than the {n} newest of its session")
            }
            RemovalReason::Untagged => f.write_str("carries none of the kept tags"),
            RemovalReason::TooOld { age_ms } => {
                write!(f, "older than the maximum age ({age_ms} ms old)")
            }
            RemovalReason::OverBudget => f.write_str("over the stored-bytes budget"),
        }
    }
}

/// Why a checkpoint a rule selected stays.
#[derive(Clone, Debug, PartialEq, Eq)]
// Exhaustive on purpose: every binding maps each variant, so a new one must reach them all.
pub enum KeepReason {
    /// It is its session's head.
    Head,
    /// It has a critical annotation.
    Critical,
    /// It carries this kept tag.
    Tagged(String),
}

impl KeepReason {
    /// A stable name for the reason: `head`, `critical`, `tagged`.
    pub fn as_str(&self) -> &'static str {
        match self {
            KeepReason::Head => "head",
            KeepReason::Critical => "critical",
            KeepReason::Tagged(_) => "tagged",
        }
    }
}

impl core::fmt::Display for KeepReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            KeepReason::Head => f.write_str("its session's head"),
            KeepReason::Critical => f.write_str("has a critical annotation"),
            KeepReason::Tagged(tag) => write!(f, "carries the kept tag {tag:?}"),
        }
    }
}

/// What a compaction would do. Produced by [`Store::plan_compaction`] (the dry run), carried out
/// by [`Store::apply_compaction`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompactionPlan {
    /// Checkpoints to remove, oldest first, with the reason.
    pub remove: Vec<(CheckpointId, RemovalReason)>,
    /// Checkpoints a rule selected but that stay, with the reason.
    pub protected: Vec<(CheckpointId, KeepReason)>,
    /// Checkpoints in the store when planned.
    pub checkpoints_before: u64,
    /// Stored chunk bytes when planned.
    pub stored_bytes_before: u64,
    /// Stored chunk bytes after the removals.
    pub stored_bytes_after: u64,
}

/// What [`Store::apply_compaction`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "api",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
#[non_exhaustive]
pub struct CompactionReport {
    /// Checkpoints removed.
    pub removed: u64,
    /// Log size before.
    pub log_bytes_before: u64,
    /// Log size after the rewrite.
    pub log_bytes_after: u64,
}

impl<B: Backend, E: Env> Store<B, E> {
    /// The dry run: what `policy` would remove and why, and what it keeps despite a rule.
    pub fn plan_compaction(&mut self, policy: &RetentionPolicy) -> Result<CompactionPlan> {
        for s in &policy.sessions {
            self.session(*s)?;
        }
        let now = self.env.now_ms();
        let mut remove = Vec::new();
        let mut protected = Vec::new();
        let in_scope = |s: &SessionId| policy.sessions.is_empty() || policy.sessions.contains(s);
        let pure_tag_rule = !policy.keep_tags.is_empty()
            && policy.keep_last.is_none()
            && policy.max_age_ms.is_none();
        // Rank within session: 0 = newest.
        let mut rank: HashMap<SessionId, usize> = HashMap::new();
        let mut removed_set = HashSet::new();
        let mut selectable = Vec::new();
        for entry in self.index.checkpoints.iter().rev() {
            let id = &entry.cp.id;
            let cp = &entry.cp;
            if !in_scope(&cp.session) {
                continue;
            }
            let r = rank.entry(cp.session).or_insert(0);
            let my_rank = *r;
            *r += 1;
            let reason = if let Some(n) = policy.keep_last.filter(|n| my_rank >= *n) {
                Some(RemovalReason::BeyondKeepLast(n))
            } else if let Some(age) = policy
                .max_age_ms
                .map(|_| now.saturating_sub(cp.created_at))
                .filter(|age| Some(*age) > policy.max_age_ms)
            {
                Some(RemovalReason::TooOld { age_ms: age })
            } else if pure_tag_rule {
                Some(RemovalReason::Untagged)
            } else {
                None
            };
            let keep = self.keep_reason(policy, *id);
            match (reason, keep) {
                (Some(_), Some(k)) => protected.push((*id, k)),
                (Some(reason), None) => {
                    remove.push((*id, reason));
                    removed_set.insert(*id);
                }
                (None, None) => selectable.push(*id),
                (None, Some(_)) => {}
            }
        }
        remove.reverse();
        protected.reverse();
        // Simulate reference counts to know the stored bytes after removal: references lost
        // per slot (slots are dense indexes, so a vector beats a map).
        let mut lost: Vec<u32> = alloc::vec![0; self.index.chunks.slot_count()];
        let mut freed = 0u64;
        let mut release = |store: &Self, id: &CheckpointId, freed: &mut u64| {
            let entry = &store.index.checkpoints[id];
            let blobs = core::iter::once(&entry.state).chain(entry.attachments.values());
            for blob in blobs {
                for &slot in &blob.chunks {
                    let info = store.index.chunks.get(slot);
                    let count = &mut lost[slot as usize];
                    *count += 1;
                    if *count == info.refs {
                        *freed += info.len as u64;
                    }
                }
            }
        };
        for (id, _) in &remove {
            release(self, id, &mut freed);
        }
        let before = self.index.chunks.stored_bytes();
        if let Some(budget) = policy.max_bytes {
            // Oldest first among the unselected, unprotected ones.
            for id in selectable.iter().rev() {
                if before - freed <= budget {
                    break;
                }
                release(self, id, &mut freed);
                remove.push((*id, RemovalReason::OverBudget));
            }
            remove.sort_by_key(|(id, _)| self.index.checkpoints[id].cp.seq);
        }
        Ok(CompactionPlan {
            remove,
            protected,
            checkpoints_before: self.index.checkpoints.len() as u64,
            stored_bytes_before: before,
            stored_bytes_after: before - freed,
        })
    }

    fn keep_reason(&self, policy: &RetentionPolicy, id: CheckpointId) -> Option<KeepReason> {
        let entry = &self.index.checkpoints[&id];
        if policy.protect_heads && self.index.sessions[&entry.cp.session].session.head == Some(id) {
            return Some(KeepReason::Head);
        }
        if policy.protect_critical && entry.has_critical() {
            return Some(KeepReason::Critical);
        }
        policy
            .keep_tags
            .iter()
            .find(|t| entry.cp.has_tag(t))
            .map(|t| KeepReason::Tagged(t.clone()))
    }

    /// Carries out a plan: removes its checkpoints (skipping any already gone) by rewriting the
    /// log without them, so their space is reclaimed. All or nothing: if the rewrite fails, the
    /// old log and every checkpoint stay as they were.
    pub fn apply_compaction(&mut self, plan: &CompactionPlan) -> Result<CompactionReport> {
        let ids: Vec<CheckpointId> = plan.remove.iter().map(|(id, _)| *id).collect();
        self.remove_checkpoints(&ids)
    }

    /// Removes these checkpoints (skipping ids already gone) and rewrites the log without them,
    /// all or nothing — what [`apply_compaction`](Store::apply_compaction) does with a plan's
    /// removals. For hosts that carry a plan across a boundary as a list of ids.
    pub fn remove_checkpoints(&mut self, ids: &[CheckpointId]) -> Result<CompactionReport> {
        self.retrying(|store| store.remove_checkpoints_once(ids))
    }

    fn remove_checkpoints_once(&mut self, ids: &[CheckpointId]) -> Result<CompactionReport> {
        let mut ids: Vec<CheckpointId> = ids
            .iter()
            .copied()
            .filter(|id| self.index.checkpoints.contains(id))
            .collect();
        ids.sort_by_key(|id| self.index.checkpoints[id].cp.seq);
        ids.dedup();
        let log_bytes_before = self.log_bytes;
        self.rewrite_log(ids.iter().copied().collect())?;
        // The new log does not hold the removed checkpoints, and has their sessions' heads
        // where removing them leaves them; memory follows it.
        let mut removed_from = Vec::with_capacity(ids.len());
        for id in &ids {
            let session = self.index.checkpoints[id].cp.session;
            self.index.remove_checkpoint(*id)?;
            removed_from.push((session, *id));
        }
        self.index.reset_dead_bytes();
        self.snapshot_rewritten();
        self.ops.deletes += ids.len() as u64;
        self.ops.compactions += 1;
        for (session, checkpoint) in removed_from {
            self.events.push(Event::Deleted {
                session,
                checkpoint,
            });
        }
        self.events.push(Event::Compacted {
            removed: ids.len() as u64,
            bytes_before: log_bytes_before,
            bytes_after: self.log_bytes,
        });
        Ok(CompactionReport {
            removed: ids.len() as u64,
            log_bytes_before,
            log_bytes_after: self.log_bytes,
        })
    }

    /// Plans and applies in one call.
    pub fn compact(&mut self, policy: &RetentionPolicy) -> Result<CompactionReport> {
        // On a shared log a compaction is planned again after catching up: others may have
        // written what the policy now keeps or removes.
        self.retrying(|store| {
            let plan = store.plan_compaction(policy)?;
            let ids: Vec<CheckpointId> = plan.remove.iter().map(|(id, _)| *id).collect();
            store.remove_checkpoints_once(&ids)
        })
    }
}
