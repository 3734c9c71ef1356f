//! Verification: every checkpoint's hash, every parent link and every chunk recomputed.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use hashbrown::HashSet;

use crate::backend::Backend;
use crate::checkpoint::state_root;
use crate::chunks::Slot;
use crate::env::Env;
use crate::id::{CheckpointId, Hash};
use crate::store::Store;
use crate::store::index::check_of;

/// Result of [`Store::verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Checkpoints checked.
    pub checkpoints: u64,
    /// Chunks whose bytes were re-hashed.
    pub chunks: u64,
    /// The first problem found (in seq order), if any.
    pub first_error: Option<VerifyError>,
    /// The log's format version (1 has no hash chain; see [`crate::chain`]).
    pub format_version: u16,
    /// The log's head hash (version 2): keep it to show later that nothing was cut off the end.
    /// Every seal of the log was checked against the records before it when the store opened.
    pub log_head: Option<Hash>,
    /// Checkpoints whose parent is not in the store: removed by a deletion or a compaction (a
    /// child stays readable), or lost. Not a failure; repair annotates the ones it orphaned.
    pub dangling_parents: u64,
}

impl VerifyReport {
    /// Whether everything checked out.
    pub fn is_ok(&self) -> bool {
        self.first_error.is_none()
    }
}

/// A verification failure.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyError {
    /// The checkpoint at fault.
    pub checkpoint: CheckpointId,
    /// Its seq.
    pub seq: u64,
    /// What does not match.
    pub problem: VerifyProblem,
}

/// What verification found wrong with a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
// Exhaustive on purpose: every binding maps each variant, so a new one must reach them all.
pub enum VerifyProblem {
    /// The recorded hash does not match the checkpoint's contents.
    HashMismatch,
    /// The recorded parent hash does not match the parent's hash.
    ParentHashMismatch,
    /// A chunk's bytes do not hash to its key.
    ChunkMismatch(Hash),
    /// A chunk could not be read back.
    Unreadable(String),
}

impl VerifyProblem {
    /// A stable name for the kind of problem: `hashMismatch`, `parentHashMismatch`,
    /// `chunkMismatch`, `unreadable`.
    pub fn as_str(&self) -> &'static str {
        match self {
            VerifyProblem::HashMismatch => "hashMismatch",
            VerifyProblem::ParentHashMismatch => "parentHashMismatch",
            VerifyProblem::ChunkMismatch(_) => "chunkMismatch",
            VerifyProblem::Unreadable(_) => "unreadable",
        }
    }
}

impl core::fmt::Display for VerifyProblem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            VerifyProblem::HashMismatch => {
                f.write_str("its recorded hash does not match its contents")
            }
            VerifyProblem::ParentHashMismatch => {
                f.write_str("its recorded parent hash does not match the parent")
            }
            VerifyProblem::ChunkMismatch(hash) => {
                write!(f, "the bytes of chunk {} do not hash to it", hash.to_hex())
            }
            VerifyProblem::Unreadable(why) => write!(f, "a chunk could not be read: {why}"),
        }
    }
}

impl<B: Backend, E: Env> Store<B, E> {
    /// Recomputes every checkpoint's hash, every parent link and every chunk's hash, reporting
    /// the first problem in seq order. (The order of the log itself — nothing removed,
    /// inserted, reordered or changed — was checked against its seals when the store opened:
    /// all of them when the open replayed the whole log, only those after its point when it
    /// started from an index snapshot. Open with
    /// [`Options::use_snapshot`](crate::Options::use_snapshot) false to check every seal, as
    /// `rewind verify` does.)
    pub fn verify(&self) -> VerifyReport {
        let index = &self.index;
        let mut report = VerifyReport {
            checkpoints: 0,
            chunks: 0,
            first_error: None,
            format_version: self.format_version(),
            log_head: self.log_head(),
            dangling_parents: 0,
        };
        let mut checked: HashSet<Slot> = HashSet::new();
        let mut buf = Vec::new();
        let total = index.checkpoints.len() as u64;
        for entry in index.checkpoints.iter() {
            let id = &entry.cp.id;
            let cp = &entry.cp;
            self.report_progress(report.checkpoints, total);
            report.checkpoints += 1;
            if cp.parent.is_some() && index.linked_parent(cp).is_none() {
                report.dangling_parents += 1;
            }
            let mut problem = None;
            // Chunks first, each once, in the order the checkpoints use them.
            'chunks: for blob in entry.blobs() {
                for &slot in &blob.chunks {
                    if !checked.insert(slot) {
                        continue;
                    }
                    report.chunks += 1;
                    let info = index.chunks.get(slot);
                    buf.resize(info.len as usize, 0);
                    problem = match self.backend.read_at(info.pos, &mut buf) {
                        Err(err) => Some(VerifyProblem::Unreadable(err.to_string())),
                        Ok(()) if Hash::of(&buf) != info.hash => {
                            Some(VerifyProblem::ChunkMismatch(info.hash))
                        }
                        Ok(()) => None,
                    };
                    if problem.is_some() {
                        break 'chunks;
                    }
                }
            }
            if problem.is_none() {
                let root = state_root(entry.state.chunks.iter().map(|s| index.chunks.get(*s).hash));
                let hash = cp.compute_hash();
                problem =
                    if root != cp.state_root || hash != cp.hash || check_of(&hash) != entry.check {
                        Some(VerifyProblem::HashMismatch)
                    } else {
                        match (cp.parent, cp.parent_hash) {
                            (Some(_), Some(ph)) => match index.linked_parent(cp) {
                                Some(parent) if parent.cp.hash != ph => {
                                    Some(VerifyProblem::ParentHashMismatch)
                                }
                                _ => None,
                            },
                            (Some(_), None) | (None, Some(_)) => {
                                Some(VerifyProblem::ParentHashMismatch)
                            }
                            (None, None) => None,
                        }
                    };
            }
            // Keep checking (the counts say how much was covered); report the first problem.
            if let Some(problem) = problem
                && report.first_error.is_none()
            {
                report.first_error = Some(VerifyError {
                    checkpoint: *id,
                    seq: cp.seq,
                    problem,
                });
            }
        }
        self.report_progress(total, total);
        report
    }
}
