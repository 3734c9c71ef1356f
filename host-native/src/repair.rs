//! Repair: salvage every readable record of a damaged store into a new store.
//!
//! [`repair`] reads its source without the writer lock and changes nothing in it (a store a
//! live writer holds can be salvaged as it stands). It
//!
//! 1. picks the generation to salvage: the one `CURRENT` names, or — when `CURRENT` is missing,
//!    unreadable or names a generation without segment files — each generation present in
//!    turn, keeping the one that yields the most checkpoints (the report says which, and that
//!    `CURRENT` was wrong);
//! 2. scans its segments frame by frame; after damage it resynchronises on the next intact
//!    frame (a plausible record with a matching checksum, tried at each byte: the record check
//!    rules out nearly every position before a checksum is computed, so a damaged frame of tens
//!    of megabytes costs one pass, not one checksum per byte);
//! 3. replays what it kept, skipping records that depend on lost ones; a checkpoint whose
//!    session record was lost is kept under a recreated session named
//!    `recovered session <id>`, and when anything was lost, a checkpoint whose parent is
//!    missing is kept as a root of what survives and annotated (warning) with the lost
//!    parent's id (in a version 3 log, which names a parent by seq, its seq);
//! 4. writes the result as a new store in a new or empty directory and reopens it before
//!    reporting.
//!
//! Ids, seqs and hashes are kept — except, in a version 3 log, the hashes of checkpoints whose
//! parent's record was lost and of their descendants: a checkpoint's hash covers its parent's,
//! which a version 3 record does not repeat, so the repaired store computes theirs anew and the
//! report counts them (`rehashed`). The salvage runs in memory, so it needs RAM for the store's
//! live content.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use rewind_core::frame::{self, HEADER_LEN};
use rewind_core::{
    Backend, CheckpointId, MemoryBackend, Options, Progress, Query, SalvageReport, Severity, Store,
    log,
};

use crate::error::{Error, Result};
use crate::file_backend::{FileBackend, parse_segment_name, read_current};
use crate::file_store::{FileOptions, FileStore};
use crate::os_file_system::OsFileSystem;
use crate::system_env::SystemEnv;

/// What [`repair`] salvaged and what it had to leave behind.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct RepairReport {
    /// The generation salvaged.
    pub generation: u32,
    /// The generation `CURRENT` named, when it named one that has segment files; `None` means
    /// `CURRENT` was missing or wrong and `generation` was chosen from the files.
    pub current: Option<u32>,
    /// Frames read intact.
    pub frames_kept: u64,
    /// Byte ranges skipped as damaged: (file, offset, length).
    pub damaged: Vec<(PathBuf, u64, u64)>,
    /// Intact records the engine could not apply (they depended on damaged ones).
    pub records_dropped: u64,
    /// Checkpoints in the repaired store.
    pub checkpoints: u64,
    /// Sessions in the repaired store.
    pub sessions: u64,
    /// Sessions whose record was lost, recreated to keep their checkpoints.
    pub recovered_sessions: u64,
    /// Checkpoints whose parent was lost, kept as roots and annotated.
    pub orphans: u64,
    /// Checkpoints whose hash the repaired store computes anew: in a version 3 log, those whose
    /// parent's record was lost (the parent's hash is an input of theirs and is not repeated
    /// in their record) and their descendants.
    pub rehashed: u64,
}

/// Copies every valid record of the (possibly damaged) store in `src` into a new store in `dst`,
/// which must not exist or be empty. `src` is only read, without its writer lock. See the module
/// docs for what is kept and how.
pub fn repair(src: &Path, dst: &Path) -> Result<RepairReport> {
    repair_with_progress(src, dst, &|_| {})
}

/// [`repair`], telling `progress` how many bytes of the source's segments it has scanned (the
/// long part) of how many.
pub fn repair_with_progress(
    src: &Path,
    dst: &Path,
    progress: &dyn Fn(Progress),
) -> Result<RepairReport> {
    if dst.exists()
        && fs::read_dir(dst)
            .map_err(|e| Error::io(dst, "list", e))?
            .next()
            .is_some()
    {
        return Err(Error::NotAStore {
            path: dst.to_path_buf(),
            reason: "the repair target must be a new or empty directory".into(),
        });
    }
    let generations = generations(src)?;
    if generations.is_empty() {
        return Err(Error::NotAStore {
            path: src.to_path_buf(),
            reason: "there are no segment files to salvage".into(),
        });
    }
    let named = read_current(&OsFileSystem, src)
        .ok()
        .flatten()
        .map(|(g, _)| g)
        .filter(|g| generations.contains_key(g));
    let candidates: Vec<u32> = match named {
        Some(g) => vec![g],
        None => generations.keys().rev().copied().collect(),
    };
    let mut best: Option<Salvaged> = None;
    for g in candidates {
        let salvaged = salvage(&generations[&g], progress)?;
        if best
            .as_ref()
            .is_none_or(|b| salvaged.store.metrics().checkpoints > b.store.metrics().checkpoints)
        {
            best = Some(Salvaged {
                generation: g,
                ..salvaged
            });
        }
    }
    let Some(Salvaged {
        generation,
        mut store,
        mut report,
        salvage,
    }) = best
    else {
        unreachable!("at least one generation was salvaged")
    };
    report.generation = generation;
    report.current = named;
    report.records_dropped = salvage.skipped_records;
    report.recovered_sessions = salvage.recovered_sessions.len() as u64;
    report.rehashed = salvage.rehashed;
    if !report.damaged.is_empty() || report.records_dropped > 0 {
        report.orphans = annotate_orphans(&mut store)?;
        for (id, seq) in &salvage.lost_parents {
            store.annotate(
                *id,
                format!(
                    "repair: its parent (seq {seq}) was lost with the damage; this checkpoint \
                     is kept as a root, and its hash and its descendants' are computed anew"
                ),
                Severity::Warning,
            )?;
            report.orphans += 1;
        }
    }
    let metrics = store.metrics();
    report.checkpoints = metrics.checkpoints;
    report.sessions = metrics.sessions;
    let export = store.export_binary(None)?;
    let mut target = FileBackend::open(dst, FileOptions::default().segment_bytes)?;
    target.append(&export[HEADER_LEN..])?;
    target.sync()?;
    drop(target);
    // Prove the result opens before reporting success.
    FileStore::open(dst, FileOptions::default())?;
    Ok(report)
}

struct Salvaged {
    generation: u32,
    store: Store<MemoryBackend, SystemEnv>,
    report: RepairReport,
    salvage: SalvageReport,
}

/// Salvages the frames of one generation's segments into an in-memory store.
fn salvage(segments: &[PathBuf], progress: &dyn Fn(Progress)) -> Result<Salvaged> {
    let mut report = RepairReport::default();
    let mut kept = frame::header().to_vec();
    let total: u64 = segments
        .iter()
        .map(|p| fs::metadata(p).map_or(0, |m| m.len()))
        .sum();
    let mut scanned = 0u64;
    for path in segments {
        progress(Progress::bytes(scanned, total));
        let bytes = fs::read(path).map_err(|e| Error::io(path, "read", e))?;
        scanned += bytes.len() as u64;
        let mut offset = HEADER_LEN.min(bytes.len());
        if frame::check_header(&bytes).is_err() {
            report.damaged.push((path.clone(), 0, offset as u64));
        }
        let mut damage_start: Option<usize> = None;
        while offset < bytes.len() {
            match log::frame_len_at(&bytes, offset) {
                Some(len) => {
                    if let Some(start) = damage_start.take() {
                        report
                            .damaged
                            .push((path.clone(), start as u64, (offset - start) as u64));
                    }
                    kept.extend_from_slice(&bytes[offset..offset + len]);
                    report.frames_kept += 1;
                    offset += len;
                }
                None => {
                    // Resynchronise: the next intact frame starts somewhere after.
                    damage_start.get_or_insert(offset);
                    offset += 1;
                    if offset % (1 << 20) == 0 {
                        progress(Progress::bytes(
                            (scanned - bytes.len() as u64) + offset as u64,
                            total,
                        ));
                    }
                }
            }
        }
        if let Some(start) = damage_start {
            report
                .damaged
                .push((path.clone(), start as u64, (bytes.len() - start) as u64));
        }
    }
    let (store, _, salvage) = Store::open_salvaging(
        MemoryBackend::from_bytes(kept),
        SystemEnv::new(),
        Options::default(),
    )?;
    Ok(Salvaged {
        generation: 0,
        store,
        report,
        salvage,
    })
}

/// Annotates every checkpoint whose parent is not in the salvaged store; returns how many.
fn annotate_orphans(store: &mut Store<MemoryBackend, SystemEnv>) -> Result<u64> {
    let orphans: Vec<(CheckpointId, CheckpointId)> = store
        .list(&Query::default())?
        .items
        .iter()
        .filter_map(|c| c.parent.map(|p| (c.id, p)))
        .filter(|(_, p)| store.get(*p).is_err())
        .collect();
    for (id, parent) in &orphans {
        store.annotate(
            *id,
            format!(
                "repair: parent {parent} is not in the salvaged store (lost with the damage, or \
                 removed earlier); this checkpoint is kept as a root"
            ),
            Severity::Warning,
        )?;
    }
    Ok(orphans.len() as u64)
}

/// Segment files by generation, each list in segment order.
fn generations(dir: &Path) -> Result<BTreeMap<u32, Vec<PathBuf>>> {
    let mut found: BTreeMap<u32, BTreeMap<u32, PathBuf>> = BTreeMap::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, "list", e))? {
        let entry = entry.map_err(|e| Error::io(dir, "list", e))?;
        if let Some((g, s)) = entry.file_name().to_str().and_then(parse_segment_name) {
            found.entry(g).or_default().insert(s, entry.path());
        }
    }
    Ok(found
        .into_iter()
        .map(|(g, segs)| (g, segs.into_values().collect()))
        .collect())
}
