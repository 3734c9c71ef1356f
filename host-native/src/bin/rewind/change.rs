//! Commands that write: session new, checkpoint, restore, annotate, compact, import, repair.
//! Each takes the opened store (repair: the damaged one's directory) and returns what it shows.

use crate::Engine;
use rewind::Backend;
use std::io::Read;
use std::path::PathBuf;

use rewind::core::Limits;
use rewind::core::api::{PlanView, RetentionInput};
use rewind::core::checkpoint::is_json_content_type;
use rewind::core::frame::{FORMAT_VERSION, MAGIC};
use rewind::{
    Annotation, Checkpoint, CheckpointId, CompactionPlan, CompactionReport, ImportReport,
    NewCheckpoint, RepairReport, RetentionPolicy, Session, Severity,
};
use serde_json::{Map, Value, json};

use crate::args::{AnnotateArgs, CheckpointArgs, CompactArgs, RepairArgs, StateArgs};
use crate::failure::Failure;
use crate::inspect::State;
use crate::output::{Style, Table, clean, parse_duration_ms, parse_size, size};
use crate::render::{self, Render};
use crate::{Ctx, json, progress, resolve};

/// `key=value` pairs into a metadata object; values that parse as JSON are kept as JSON.
fn metadata(pairs: &[String]) -> Result<Map<String, Value>, Failure> {
    let mut map = Map::new();
    for pair in pairs {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| Failure::usage(format!("--meta {pair:?}: expected KEY=VALUE")))?;
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
        map.insert(k.to_string(), value);
    }
    Ok(map)
}

/// Reads a file, or stdin for `-`, refusing past `limit` bytes (`what` names the limit) without
/// reading further: `--state /dev/zero` must not fill memory before the store says no.
pub fn read_input(path: &str, limit: u64, what: &str) -> Result<Vec<u8>, Failure> {
    let mut buf = Vec::new();
    let read = if path == "-" {
        std::io::stdin()
            .take(limit.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(|e| Failure::io("stdin", e))
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(limit.saturating_add(1)).read_to_end(&mut buf))
            .map_err(|e| Failure::io(path, e))
    };
    read?;
    if buf.len() as u64 > limit {
        return Err(Failure::invalid(format!(
            "{path}: more than the {what} limit of {limit} bytes"
        )));
    }
    Ok(buf)
}

/// A new session.
pub struct SessionCreated<'s>(&'s Session);

pub fn session_new<'s, B: Backend>(
    store: &'s mut Engine<B>,
    name: &str,
    meta: &[String],
) -> Result<SessionCreated<'s>, Failure> {
    let id = store.create_session(name, metadata(meta)?)?;
    Ok(SessionCreated(store.session(id)?))
}

impl Render for SessionCreated<'_> {
    fn text(&self, _: &Style) {
        println!("{}", self.0.id);
    }
    fn json(&self) -> Option<Value> {
        Some(json::session(self.0))
    }
}

/// A new checkpoint.
pub struct Saved<'s>(&'s Checkpoint);

/// A checkpoint's state (`--state FILE|-`, or `{}`), read and checked before the store is
/// opened: a slow pipe into `rewind checkpoint --state -` must not hold the writer lock.
pub fn read_state(args: &CheckpointArgs) -> Result<Vec<u8>, Failure> {
    let state = match &args.state {
        Some(path) => read_input(path, Limits::default().max_state_bytes, "state size")?,
        None => b"{}".to_vec(),
    };
    if is_json_content_type(&args.content_type)
        && let Err(e) = serde_json::from_slice::<Value>(&state)
    {
        return Err(Failure::invalid(format!(
            "the state is not valid JSON ({e}); pass --content-type for other formats"
        )));
    }
    Ok(state)
}

pub fn checkpoint<B: Backend>(
    store: &mut Engine<B>,
    args: CheckpointArgs,
    state: Vec<u8>,
) -> Result<Saved<'_>, Failure> {
    let session = resolve::session(store, args.session.as_deref())?;
    let mut new = NewCheckpoint::new(session, args.message, &state)
        .content_type(args.content_type)
        .tags(args.tags)
        .metadata(metadata(&args.meta)?)
        .namespace(args.namespace);
    if let Some(parent) = &args.parent {
        new = new.parent(resolve::checkpoint(store, parent)?);
    }
    Ok(Saved(store.checkpoint(new)?))
}

impl Render for Saved<'_> {
    fn text(&self, _: &Style) {
        println!("@{} {}", self.0.seq, self.0.id);
    }
    fn json(&self) -> Option<Value> {
        Some(json::checkpoint(self.0))
    }
}

/// A restored checkpoint: its state is shown first (if that fails, the head has not moved),
/// then the head moves and the confirmation goes to stderr, so stdout carries only the state.
pub fn restore<B: Backend>(
    ctx: &Ctx,
    store: &mut Engine<B>,
    args: StateArgs,
) -> Result<(), Failure> {
    let id = resolve::checkpoint(store, &args.id)?;
    let state = store.state(id)?;
    let content_type = store.get(id)?.content_type.clone();
    let shown = State::write(ctx.json, id, content_type, state, args.output.as_deref())?;
    render::show(ctx, &shown)?;
    let restored = store.restore(id)?;
    let session = store.session(restored.session)?.name.clone();
    if !ctx.json {
        eprintln!("head of session {session:?} is now {id}: the next checkpoint forks from here");
    }
    Ok(())
}

/// A new annotation.
pub struct Annotated {
    annotation: Annotation,
    id: CheckpointId,
}

pub fn annotate<B: Backend>(
    store: &mut Engine<B>,
    args: AnnotateArgs,
) -> Result<Annotated, Failure> {
    let id = resolve::checkpoint(store, &args.id)?;
    let severity = Severity::parse(&args.severity)
        .ok_or_else(|| Failure::usage(format!("unknown severity {:?}", args.severity)))?;
    let annotation = store.annotate(id, args.note, severity)?.clone();
    Ok(Annotated { annotation, id })
}

impl Render for Annotated {
    fn text(&self, _: &Style) {
        println!(
            "annotated {} ({})",
            self.id,
            self.annotation.severity.as_str()
        );
    }
    fn json(&self) -> Option<Value> {
        let mut value = json::annotation(&self.annotation);
        value["checkpoint"] = json!(self.id.to_string());
        Some(value)
    }
}

/// A compaction plan, and what applying it did (none on a dry run).
pub struct Compacted {
    plan: CompactionPlan,
    /// Seq and message of every checkpoint the plan names.
    described: std::collections::HashMap<CheckpointId, (u64, String)>,
    digits: usize,
    report: Option<CompactionReport>,
}

/// Refuses a compaction that says nothing about what to keep (checked before the store opens).
pub fn check_compact(args: &CompactArgs) -> Result<(), Failure> {
    if args.keep.is_none()
        && args.keep_tags.is_empty()
        && args.max_age.is_none()
        && args.max_bytes.is_none()
    {
        return Err(Failure::usage(
            "say what to keep: --keep N, --keep-tag T, --max-age DURATION or --max-bytes SIZE",
        ));
    }
    Ok(())
}

pub fn compact<B: Backend>(store: &mut Engine<B>, args: CompactArgs) -> Result<Compacted, Failure> {
    let mut input = RetentionInput::default();
    input.keep_last = args.keep;
    input.keep_tags = args.keep_tags;
    input.max_age_ms = args
        .max_age
        .as_deref()
        .map(parse_duration_ms)
        .transpose()
        .map_err(Failure::usage)?;
    input.max_bytes = args
        .max_bytes
        .as_deref()
        .map(parse_size)
        .transpose()
        .map_err(Failure::usage)?;
    if let Some(s) = &args.session {
        input.sessions = vec![resolve::session(store, Some(s))?.to_string()];
    }
    let plan = store.plan_compaction(&RetentionPolicy::try_from(input)?)?;
    let named = plan
        .remove
        .iter()
        .map(|(id, _)| *id)
        .chain(plan.protected.iter().map(|(id, _)| *id));
    let described = named
        .filter_map(|id| store.get(id).ok().map(|c| (id, (c.seq, c.message.clone()))))
        .collect();
    let digits = resolve::abbrev_digits(
        store,
        plan.remove
            .iter()
            .map(|(id, _)| *id)
            .chain(plan.protected.iter().map(|(id, _)| *id)),
    );
    let report = if args.dry_run {
        None
    } else {
        Some(progress::on_store("compacting", store, |s| {
            s.apply_compaction(&plan)
        })?)
    };
    Ok(Compacted {
        plan,
        described,
        digits,
        report,
    })
}

impl Compacted {
    fn described(&self, id: &CheckpointId) -> (u64, &str) {
        self.described
            .get(id)
            .map(|(seq, msg)| (*seq, msg.as_str()))
            .unwrap_or((0, ""))
    }

    /// Plan entries as JSON, each with its checkpoint's seq.
    fn entries<T: serde::Serialize>(&self, views: Vec<T>, ids: Vec<CheckpointId>) -> Vec<Value> {
        views
            .into_iter()
            .zip(ids)
            .map(|(view, id)| {
                let mut value = json::view(view);
                value["seq"] = json!(self.described(&id).0);
                value
            })
            .collect()
    }
}

impl Render for Compacted {
    fn text(&self, style: &Style) {
        let plan = &self.plan;
        let mut table = Table::new(["ACTION", "SEQ", "ID", "WHY", "MESSAGE"]);
        let rows = plan
            .remove
            .iter()
            .map(|(id, why)| (style.red("remove"), id, why.as_str()))
            .chain(
                plan.protected
                    .iter()
                    .map(|(id, why)| (style.green("keep"), id, why.as_str())),
            );
        for (action, id, why) in rows {
            let (seq, msg) = self.described(id);
            table.row(vec![
                action,
                seq.to_string(),
                resolve::abbrev(id, self.digits),
                why.to_string(),
                clean(msg).into_owned(),
            ]);
        }
        if plan.remove.is_empty() && plan.protected.is_empty() {
            println!("nothing to remove");
        } else {
            table.print(style);
        }
        println!(
            "{} of {} checkpoints would go; stored bytes {} -> {}",
            plan.remove.len(),
            plan.checkpoints_before,
            size(plan.stored_bytes_before),
            size(plan.stored_bytes_after)
        );
        if let Some(report) = &self.report {
            println!(
                "removed {} checkpoints; log {} -> {}",
                report.removed,
                size(report.log_bytes_before),
                size(report.log_bytes_after)
            );
        }
    }

    fn json(&self) -> Option<Value> {
        let view = PlanView::from(&self.plan);
        let remove = self.entries(view.remove, self.plan.remove.iter().map(|r| r.0).collect());
        let protected = self.entries(
            view.protected,
            self.plan.protected.iter().map(|k| k.0).collect(),
        );
        Some(match &self.report {
            None => json!({
                "dry_run": true,
                "remove": remove,
                "protected": protected,
                "stored_bytes_before": self.plan.stored_bytes_before,
                "stored_bytes_after": self.plan.stored_bytes_after,
            }),
            Some(report) => json!({
                "dry_run": false,
                "remove": remove,
                "protected": protected,
                "removed": report.removed,
                "log_bytes_before": report.log_bytes_before,
                "log_bytes_after": report.log_bytes_after,
            }),
        })
    }
}

/// An import's bytes, read before the store is opened (a missing file creates no store). A file
/// over the limit is refused from its size, before a byte of it is read.
pub fn read_import(file: &str) -> Result<Vec<u8>, Failure> {
    let limit = Limits::default().max_import_bytes;
    if file != "-" {
        let len = std::fs::metadata(file)
            .map_err(|e| Failure::io(file, e))?
            .len();
        if len > limit {
            return Err(Failure::invalid(format!(
                "{file}: {len} bytes, more than the import size limit of {limit} bytes"
            )));
        }
    }
    read_input(file, limit, "import size")
}

/// What an import did.
pub struct Imported {
    report: ImportReport,
    binary: bool,
}

pub fn import<B: Backend>(store: &mut Engine<B>, bytes: &[u8]) -> Result<Imported, Failure> {
    let binary = bytes.starts_with(&MAGIC);
    let report = progress::on_store("importing", store, |s| {
        if binary {
            s.import_binary(bytes)
        } else {
            s.import_json(bytes)
        }
    })?;
    Ok(Imported { report, binary })
}

impl Render for Imported {
    fn text(&self, _: &Style) {
        let r = &self.report;
        println!(
            "imported {} checkpoints in {} new sessions ({} already present{}); every hash verified",
            r.checkpoints_added,
            r.sessions_added,
            r.skipped,
            if r.conflicts.is_empty() {
                String::new()
            } else {
                format!(", {} conflicting ids skipped", r.conflicts.len())
            }
        );
    }
    fn json(&self) -> Option<Value> {
        let mut value = json::view(&self.report);
        value["format"] = json!(if self.binary { "binary" } else { "json" });
        Some(value)
    }
}

/// What a repair salvaged.
pub struct Repaired {
    report: RepairReport,
    into: PathBuf,
}

pub fn repair(ctx: &Ctx, args: RepairArgs) -> Result<Repaired, Failure> {
    let busy = std::fs::read_dir(&args.into)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if busy {
        return Err(Failure::usage(format!(
            "{} is not empty; repair writes a new store into a new or empty directory",
            args.into.display()
        )));
    }
    let bar = progress::Bar::new(
        "scanning the damaged store",
        rewind::core::progress::Unit::Bytes,
    );
    let report = rewind::repair_with_progress(&ctx.store, &args.into, &|p| bar.show(p))?;
    drop(bar);
    Ok(Repaired {
        report,
        into: args.into,
    })
}

impl Render for Repaired {
    fn text(&self, _: &Style) {
        let r = &self.report;
        if r.current.is_none() {
            println!(
                "CURRENT is missing or names no segment files: salvaged generation {}, the one \
                 holding the most checkpoints",
                r.generation
            );
        }
        println!(
            "repaired into {}: {} checkpoints in {} sessions; {} intact records kept, {} dropped",
            self.into.display(),
            r.checkpoints,
            r.sessions,
            r.frames_kept,
            r.records_dropped
        );
        if r.recovered_sessions > 0 {
            println!(
                "  {} sessions whose record was lost were recreated as \"recovered session <id>\"",
                r.recovered_sessions
            );
        }
        if r.orphans > 0 {
            println!(
                "  {} checkpoints whose parent was lost are kept as roots (annotated)",
                r.orphans
            );
        }
        if r.rehashed > 0 {
            println!(
                "  {} checkpoints have new hashes: their parent's record, whose hash theirs \
                 covers, was lost",
                r.rehashed
            );
        }
        for (file, offset, len) in &r.damaged {
            println!(
                "  skipped {len} damaged bytes at {}:{offset}",
                file.display()
            );
        }
    }
    fn json(&self) -> Option<Value> {
        let r = &self.report;
        Some(json!({
            "into": self.into.display().to_string(),
            "generation": r.generation,
            "current": r.current,
            "frames_kept": r.frames_kept,
            "records_dropped": r.records_dropped,
            "checkpoints": r.checkpoints,
            "sessions": r.sessions,
            "recovered_sessions": r.recovered_sessions,
            "orphans": r.orphans,
            "rehashed": r.rehashed,
            "damaged": r.damaged.iter().map(|(f, o, l)| json!({
                "file": f.display().to_string(), "offset": o, "bytes": l,
            })).collect::<Vec<_>>(),
        }))
    }
}

/// What `upgrade` did.
pub struct Upgraded {
    from: u16,
    head: Option<rewind::Hash>,
}

/// Rewrites an older log in the newest format version (a vacuum: the live records, sealed,
/// in their compact form).
pub fn upgrade<B: Backend>(store: &mut Engine<B>) -> Result<Upgraded, Failure> {
    let from = store.format_version();
    if from < FORMAT_VERSION {
        progress::on_store("rewriting the log", store, |s| s.vacuum())?;
    }
    Ok(Upgraded {
        from,
        head: store.log_head(),
    })
}

impl Render for Upgraded {
    fn text(&self, _: &Style) {
        let head = self.head.map(|h| h.to_string()).unwrap_or_default();
        if self.from < FORMAT_VERSION {
            println!(
                "upgraded from format version {} to {FORMAT_VERSION}; log head {head}",
                self.from
            );
        } else {
            println!("already format version {FORMAT_VERSION}; log head {head}");
        }
    }
    fn json(&self) -> Option<Value> {
        Some(json!({
            "from": self.from,
            "format_version": FORMAT_VERSION,
            "log_head": self.head.map(|h| h.to_hex()),
        }))
    }
}
