//! Commands that write: session new, checkpoint, restore, annotate, compact, import, repair.

use std::io::Read;

use rewind::core::Limits;
use rewind::core::checkpoint::is_json_content_type;
use rewind::core::frame::MAGIC;
use rewind::{NewCheckpoint, RetentionPolicy, Severity};
use serde_json::{Map, Value, json};

use crate::args::{AnnotateArgs, CheckpointArgs, CompactArgs, RepairArgs, StateArgs};
use crate::failure::Failure;
use crate::output::{Table, parse_duration_ms, parse_size, size};
use crate::{Ctx, inspect, json, progress, resolve};

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
fn read_input(path: &str, limit: u64, what: &str) -> Result<Vec<u8>, Failure> {
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

pub fn session_new(ctx: &Ctx, name: &str, meta: &[String]) -> Result<(), Failure> {
    let mut store = ctx.open()?;
    let id = store.create_session(name, metadata(meta)?)?;
    if ctx.json {
        json::print(&json::session(store.session(id)?));
    } else {
        println!("{id}");
    }
    Ok(())
}

pub fn checkpoint(ctx: &Ctx, args: CheckpointArgs) -> Result<(), Failure> {
    let mut store = ctx.open()?;
    let session = resolve::session(&store, args.session.as_deref())?;
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
    let mut new = NewCheckpoint::new(session, args.message, &state)
        .content_type(args.content_type)
        .tags(args.tags)
        .metadata(metadata(&args.meta)?)
        .namespace(args.namespace);
    if let Some(parent) = &args.parent {
        new = new.parent(resolve::checkpoint(&store, parent)?);
    }
    let cp = store.checkpoint(new)?;
    if ctx.json {
        json::print(&json::checkpoint(cp));
    } else {
        println!("@{} {}", cp.seq, cp.id);
    }
    Ok(())
}

pub fn restore(ctx: &Ctx, args: StateArgs) -> Result<(), Failure> {
    let mut store = ctx.open()?;
    let id = resolve::checkpoint(&store, &args.id)?;
    // The state is written out first: if that fails, the head has not moved.
    let state = store.state(id)?;
    let content_type = store.get(id)?.content_type.clone();
    inspect::emit_state(ctx, id, &content_type, &state, args.output.as_deref())?;
    let restored = store.restore(id)?;
    let session = store.session(restored.session)?.name.clone();
    // The confirmation goes to stderr so stdout carries only the state.
    if !ctx.json {
        eprintln!("head of session {session:?} is now {id}: the next checkpoint forks from here");
    }
    Ok(())
}

pub fn annotate(ctx: &Ctx, args: AnnotateArgs) -> Result<(), Failure> {
    let mut store = ctx.open()?;
    let id = resolve::checkpoint(&store, &args.id)?;
    let severity = Severity::parse(&args.severity)
        .ok_or_else(|| Failure::usage(format!("unknown severity {:?}", args.severity)))?;
    let annotation = store.annotate(id, args.note, severity)?.clone();
    if ctx.json {
        let mut value = json::annotation(&annotation);
        value["checkpoint"] = json!(id.to_string());
        json::print(&value);
    } else {
        println!("annotated {id} ({})", severity.as_str());
    }
    Ok(())
}

pub fn compact(ctx: &Ctx, args: CompactArgs) -> Result<(), Failure> {
    if args.keep.is_none()
        && args.keep_tags.is_empty()
        && args.max_age.is_none()
        && args.max_bytes.is_none()
    {
        return Err(Failure::usage(
            "say what to keep: --keep N, --keep-tag T, --max-age DURATION or --max-bytes SIZE",
        ));
    }
    let mut store = ctx.open()?;
    let mut policy = RetentionPolicy::default();
    policy.keep_last = args.keep;
    policy.keep_tags = args.keep_tags;
    policy.max_age_ms = args
        .max_age
        .as_deref()
        .map(parse_duration_ms)
        .transpose()
        .map_err(Failure::usage)?;
    policy.max_bytes = args
        .max_bytes
        .as_deref()
        .map(parse_size)
        .transpose()
        .map_err(Failure::usage)?;
    if let Some(s) = &args.session {
        policy = policy.session(resolve::session(&store, Some(s))?);
    }
    let plan = store.plan_compaction(&policy)?;
    let n = resolve::abbrev_digits(&store);
    let describe = |id: &rewind::CheckpointId| {
        store
            .get(*id)
            .map(|c| (c.seq, c.message.clone()))
            .unwrap_or((0, String::new()))
    };
    let remove: Vec<Value> = plan
        .remove
        .iter()
        .map(|(id, reason)| json!({"id": id.to_string(), "seq": describe(id).0, "reason": format!("{reason:?}")}))
        .collect();
    let protected: Vec<Value> = plan
        .protected
        .iter()
        .map(|(id, reason)| json!({"id": id.to_string(), "seq": describe(id).0, "reason": format!("{reason:?}")}))
        .collect();
    if !ctx.json {
        let mut table = Table::new(["ACTION", "SEQ", "ID", "WHY", "MESSAGE"]);
        for (id, reason) in &plan.remove {
            let (seq, msg) = describe(id);
            table.row(vec![
                ctx.style.red("remove"),
                seq.to_string(),
                resolve::abbrev(id, n),
                format!("{reason:?}"),
                msg,
            ]);
        }
        for (id, reason) in &plan.protected {
            let (seq, msg) = describe(id);
            table.row(vec![
                ctx.style.green("keep"),
                seq.to_string(),
                resolve::abbrev(id, n),
                format!("{reason:?}"),
                msg,
            ]);
        }
        if plan.remove.is_empty() && plan.protected.is_empty() {
            println!("nothing to remove");
        } else {
            table.print(&ctx.style);
        }
        println!(
            "{} of {} checkpoints would go; stored bytes {} -> {}",
            plan.remove.len(),
            plan.checkpoints_before,
            size(plan.stored_bytes_before),
            size(plan.stored_bytes_after)
        );
    }
    if args.dry_run {
        if ctx.json {
            json::print(&json!({
                "dry_run": true,
                "remove": remove,
                "protected": protected,
                "stored_bytes_before": plan.stored_bytes_before,
                "stored_bytes_after": plan.stored_bytes_after,
            }));
        }
        return Ok(());
    }
    let report = progress::spin("compacting", || store.apply_compaction(&plan))?;
    if ctx.json {
        json::print(&json!({
            "dry_run": false,
            "remove": remove,
            "protected": protected,
            "removed": report.removed,
            "log_bytes_before": report.log_bytes_before,
            "log_bytes_after": report.log_bytes_after,
        }));
    } else {
        println!(
            "removed {} checkpoints; log {} -> {}",
            report.removed,
            size(report.log_bytes_before),
            size(report.log_bytes_after)
        );
    }
    Ok(())
}

pub fn import(ctx: &Ctx, file: &str) -> Result<(), Failure> {
    let bytes = read_input(file, Limits::default().max_import_bytes, "import size")?;
    let mut store = ctx.open()?;
    let binary = bytes.starts_with(&MAGIC);
    let report = progress::spin("importing", || {
        if binary {
            store.import_binary(&bytes)
        } else {
            store.import_json(&bytes)
        }
    })?;
    if ctx.json {
        json::print(&json!({
            "format": if binary { "binary" } else { "json" },
            "sessions_added": report.sessions_added,
            "checkpoints_added": report.checkpoints_added,
            "skipped": report.skipped,
            "conflicts": report.conflicts.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "annotations_added": report.annotations_added,
            "attachments_added": report.attachments_added,
        }));
    } else {
        println!(
            "imported {} checkpoints in {} new sessions ({} already present{}); every hash verified",
            report.checkpoints_added,
            report.sessions_added,
            report.skipped,
            if report.conflicts.is_empty() {
                String::new()
            } else {
                format!(", {} conflicting ids skipped", report.conflicts.len())
            }
        );
    }
    Ok(())
}

pub fn repair(ctx: &Ctx, args: RepairArgs) -> Result<(), Failure> {
    let busy = std::fs::read_dir(&args.into)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if busy {
        return Err(Failure::usage(format!(
            "{} is not empty; repair writes a new store into a new or empty directory",
            args.into.display()
        )));
    }
    let report = progress::spin("salvaging records", || {
        rewind::repair(&ctx.store, &args.into)
    })?;
    if ctx.json {
        json::print(&json!({
            "into": args.into.display().to_string(),
            "frames_kept": report.frames_kept,
            "records_dropped": report.records_dropped,
            "checkpoints": report.checkpoints,
            "sessions": report.sessions,
            "damaged": report.damaged.iter().map(|(f, o, l)| json!({
                "file": f.display().to_string(), "offset": o, "bytes": l,
            })).collect::<Vec<_>>(),
        }));
    } else {
        println!(
            "repaired into {}: {} checkpoints in {} sessions; {} intact records kept, {} dropped",
            args.into.display(),
            report.checkpoints,
            report.sessions,
            report.frames_kept,
            report.records_dropped
        );
        for (file, offset, len) in &report.damaged {
            println!(
                "  skipped {len} damaged bytes at {}:{offset}",
                file.display()
            );
        }
    }
    Ok(())
}
