//! Commands that read: session list, log, show, state, diff, export, verify, stats.

use std::io::Write;

use rewind::core::json_patch::PatchOp;
use rewind::{Checkpoint, FileStore, Order, Query, SessionId, TriggerKind};
use serde_json::{Value, json};

use crate::args::{ExportArgs, ExportFormat, LogArgs, StateArgs, TriggerArg};
use crate::failure::Failure;
use crate::output::{Table, fit, parse_time, size, time};
use crate::{Ctx, graph, json, progress, resolve};

pub fn session_list(ctx: &Ctx) -> Result<(), Failure> {
    let store = ctx.open()?;
    if ctx.json {
        json::print(&Value::Array(store.sessions().map(json::session).collect()));
        return Ok(());
    }
    let n = resolve::abbrev_digits(&store);
    let mut table = Table::new(["SESSION", "CREATED", "CHECKPOINTS", "HEAD", "NAME"]);
    for s in store.sessions() {
        table.row(vec![
            s.id.to_string(),
            time(s.created_at),
            s.checkpoints.to_string(),
            s.head
                .map(|h| resolve::abbrev(&h, n))
                .unwrap_or_else(|| "-".into()),
            s.name.clone(),
        ]);
    }
    table.print(&ctx.style);
    Ok(())
}

pub fn log(ctx: &Ctx, args: LogArgs) -> Result<(), Failure> {
    let store = ctx.open()?;
    let session = args
        .session
        .as_deref()
        .map(|s| resolve::session(&store, Some(s)))
        .transpose()?;
    if args.graph {
        let filtered = !args.tags.is_empty()
            || args.trigger.is_some()
            || args.since.is_some()
            || args.until.is_some();
        if filtered {
            return Err(Failure::usage(
                "--graph draws whole trees; --tag, --trigger, --since and --until filter the timeline view",
            ));
        }
        return log_graph(ctx, &store, session, args.limit);
    }
    let now = now_ms();
    let mut query = Query::new().order(Order::Descending);
    if let Some(s) = session {
        query = query.session(s);
    }
    for tag in args.tags {
        query = query.tag(tag);
    }
    if let Some(t) = args.trigger {
        query = query.trigger(match t {
            TriggerArg::Manual => TriggerKind::Manual,
            TriggerArg::Automatic => TriggerKind::Automatic,
            TriggerArg::Scheduled => TriggerKind::Scheduled,
        });
    }
    if let Some(since) = &args.since {
        query.time_from = Some(parse_time(since, now).map_err(Failure::usage)?);
    }
    if let Some(until) = &args.until {
        query.time_to = Some(parse_time(until, now).map_err(Failure::usage)?);
    }
    if let Some(limit) = args.limit {
        query = query.limit(limit);
    }
    let page = store.list(&query)?;
    if ctx.json {
        json::print(&Value::Array(
            page.items.iter().map(|c| json::checkpoint(c)).collect(),
        ));
        return Ok(());
    }
    let n = resolve::abbrev_digits(&store);
    let all_sessions = session.is_none() && store.sessions().count() > 1;
    let mut table = if all_sessions {
        Table::new([
            "SEQ",
            "ID",
            "CREATED (UTC)",
            "TRIGGER",
            "TAGS",
            "SESSION",
            "MESSAGE",
        ])
    } else {
        Table::new(["SEQ", "ID", "CREATED (UTC)", "TRIGGER", "TAGS", "MESSAGE"])
    };
    for cp in &page.items {
        let mut row = vec![
            cp.seq.to_string(),
            resolve::abbrev(&cp.id, n),
            time(cp.created_at),
            trigger_text(cp),
            cp.tags.join(","),
        ];
        if all_sessions {
            let name = store
                .session(cp.session)
                .map(|s| s.name.clone())
                .unwrap_or_default();
            row.push(fit(&name, 20));
        }
        row.push(cp.message.clone());
        table.row(row);
    }
    table.print(&ctx.style);
    if page.next.is_some() {
        println!("{}", ctx.style.dim("(more: raise --limit)"));
    }
    Ok(())
}

fn log_graph(
    ctx: &Ctx,
    store: &FileStore,
    session: Option<SessionId>,
    limit: Option<usize>,
) -> Result<(), Failure> {
    let sessions: Vec<SessionId> = match session {
        Some(s) => vec![s],
        None => store.sessions().map(|s| s.id).collect(),
    };
    let n = resolve::abbrev_digits(store);
    let mut out = Vec::new();
    for s in sessions {
        let mut query = Query::new().session(s).order(Order::Descending);
        if let Some(limit) = limit {
            query = query.limit(limit);
        }
        let page = store.list(&query)?;
        let shown: std::collections::HashSet<_> = page.items.iter().map(|c| c.id).collect();
        let head = store.session(s)?.head;
        let rows = graph::layout(&page.items, |cp| {
            let parent = store.history(cp.id).ok()?.nth(1)?.id;
            shown.contains(&parent).then_some(parent)
        });
        if ctx.json {
            out.push(json!({
                "session": json::session(store.session(s)?),
                "rows": rows.iter().map(|r| json!({
                    "graph": r.graph,
                    "checkpoint": r.checkpoint.map(json::checkpoint),
                })).collect::<Vec<_>>(),
            }));
            continue;
        }
        let info = store.session(s)?;
        println!(
            "{} {}",
            ctx.style.bold(&format!("session {}", info.name)),
            ctx.style.dim(&info.id.to_string())
        );
        for row in rows {
            let Some(cp) = row.checkpoint else {
                println!("{}", row.graph);
                continue;
            };
            let mut line = format!(
                "{}{} {} {}",
                row.graph,
                ctx.style.dim(&format!("@{}", cp.seq)),
                ctx.style.yellow(&resolve::abbrev(&cp.id, n)),
                ctx.style.dim(&time(cp.created_at)),
            );
            if head == Some(cp.id) {
                line.push_str(&format!(" {}", ctx.style.green("(head)")));
            }
            if !cp.tags.is_empty() {
                line.push_str(&format!(
                    " {}",
                    ctx.style.cyan(&format!("[{}]", cp.tags.join(",")))
                ));
            }
            if cp.trigger.kind() != TriggerKind::Manual {
                line.push_str(&format!(" {}", ctx.style.dim(&trigger_text(cp))));
            }
            line.push(' ');
            line.push_str(&cp.message);
            if !store.annotations(cp.id)?.is_empty() {
                line.push_str(&format!(" {}", ctx.style.red("(annotated)")));
            }
            println!("{line}");
        }
        println!();
    }
    if ctx.json {
        json::print(&Value::Array(out));
    }
    Ok(())
}

fn trigger_text(cp: &Checkpoint) -> String {
    match &cp.trigger {
        rewind::Trigger::Automatic { reason } => format!("auto: {reason}"),
        other => other.kind().as_str().to_string(),
    }
}

pub fn show(ctx: &Ctx, id: &str) -> Result<(), Failure> {
    let store = ctx.open()?;
    let id = resolve::checkpoint(&store, id)?;
    let cp = store.get(id)?;
    let annotations = store.annotations(id)?;
    let attachments: Vec<String> = store.attachment_keys(id)?.map(str::to_string).collect();
    let children: Vec<String> = store
        .children(id)?
        .iter()
        .map(|c| c.id.to_string())
        .collect();
    let session = store.session(cp.session)?;
    if ctx.json {
        let mut value = json::checkpoint(cp);
        value["annotations"] = annotations.iter().map(json::annotation).collect();
        value["attachments"] = json!(attachments);
        value["children"] = json!(children);
        value["is_head"] = json!(session.head == Some(id));
        json::print(&value);
        return Ok(());
    }
    let s = &ctx.style;
    println!("{} {}", s.bold("checkpoint"), s.yellow(&cp.id.to_string()));
    let field = |name: &str, value: String| println!("  {:<13}{value}", s.dim(name));
    field("session", format!("{} ({})", session.name, cp.session));
    field("seq", cp.seq.to_string());
    field("created", format!("{} UTC", time(cp.created_at)));
    field("message", cp.message.clone());
    field("trigger", trigger_text(cp));
    if !cp.tags.is_empty() {
        field("tags", cp.tags.join(", "));
    }
    if !cp.namespace.is_empty() {
        field("namespace", cp.namespace.clone());
    }
    field(
        "parent",
        cp.parent
            .map(|p| p.to_string())
            .unwrap_or_else(|| "(root)".into()),
    );
    if !children.is_empty() {
        field("children", children.join(", "));
    }
    if session.head == Some(id) {
        field(
            "head",
            "yes: the next checkpoint of the session continues from here".into(),
        );
    }
    field(
        "state",
        format!("{} ({})", size(cp.state_len), cp.content_type),
    );
    field("hash", cp.hash.to_string());
    if !cp.metadata.is_empty() {
        field(
            "metadata",
            serde_json::to_string(&cp.metadata).unwrap_or_default(),
        );
    }
    for a in annotations {
        let sev = match a.severity {
            rewind::Severity::Critical => s.red("critical"),
            rewind::Severity::Warning => s.yellow("warning"),
            rewind::Severity::Info => "info".to_string(),
        };
        field(
            "note",
            format!("[{sev}] {} ({} UTC)", a.note, time(a.created_at)),
        );
    }
    if !attachments.is_empty() {
        field("attachments", attachments.join(", "));
    }
    Ok(())
}

pub fn state(ctx: &Ctx, args: StateArgs) -> Result<(), Failure> {
    let store = ctx.open()?;
    let id = resolve::checkpoint(&store, &args.id)?;
    let bytes = store.state(id)?;
    let content_type = store.get(id)?.content_type.clone();
    emit_state(ctx, id, &content_type, &bytes, args.output.as_deref())
}

/// Writes a state to a file, or stdout (raw bytes, or a JSON envelope with `--json`).
pub fn emit_state(
    ctx: &Ctx,
    id: rewind::CheckpointId,
    content_type: &str,
    bytes: &[u8],
    output: Option<&std::path::Path>,
) -> Result<(), Failure> {
    if let Some(path) = output {
        std::fs::write(path, bytes).map_err(|e| Failure::io(path.display(), e))?;
        if ctx.json {
            json::print(
                &json!({"id": id.to_string(), "written": path.display().to_string(), "bytes": bytes.len()}),
            );
        } else {
            eprintln!("wrote {} to {}", size(bytes.len() as u64), path.display());
        }
        return Ok(());
    }
    if ctx.json {
        let (encoding, data) = match std::str::from_utf8(bytes) {
            Ok(text) => ("utf8", text.to_string()),
            Err(_) => {
                use base64::Engine as _;
                (
                    "base64",
                    base64::engine::general_purpose::STANDARD.encode(bytes),
                )
            }
        };
        json::print(&json!({
            "id": id.to_string(),
            "content_type": content_type,
            "encoding": encoding,
            "data": data,
        }));
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|_| out.flush())
        .map_err(|e| Failure::io("stdout", e))
}

pub fn diff(ctx: &Ctx, from: &str, to: &str) -> Result<(), Failure> {
    let store = ctx.open()?;
    let (a, b) = (
        resolve::checkpoint(&store, from)?,
        resolve::checkpoint(&store, to)?,
    );
    let d = store.diff(a, b)?;
    if ctx.json {
        json::print(&json::diff(&d));
        return Ok(());
    }
    let s = &ctx.style;
    let (ca, cb) = (store.get(a)?, store.get(b)?);
    println!(
        "{} @{} {} -> @{} {}",
        s.bold("diff"),
        ca.seq,
        s.yellow(&a.to_string()),
        cb.seq,
        s.yellow(&b.to_string())
    );
    println!(
        "  {} seq apart, {:+.1} s apart",
        d.seq_delta,
        d.time_delta_ms as f64 / 1000.0
    );
    if let Some((m1, m2)) = &d.message {
        println!(
            "  message: {} {}",
            s.red(&format!("- {m1}")),
            s.green(&format!("+ {m2}"))
        );
    }
    for t in &d.tags_added {
        println!("  tag {}", s.green(&format!("+{t}")));
    }
    for t in &d.tags_removed {
        println!("  tag {}", s.red(&format!("-{t}")));
    }
    for op in &d.metadata {
        println!("  metadata {}", patch_line(s, op));
    }
    println!(
        "  state: {} -> {} ({:+} bytes), {:.0}% of the new state's bytes shared",
        size(d.from_len),
        size(d.to_len),
        d.to_len as i64 - d.from_len as i64,
        d.shared_ratio * 100.0
    );
    match &d.state_patch {
        Some(ops) if ops.is_empty() => println!("  states are identical"),
        Some(ops) => {
            println!("  JSON Patch ({} operations):", ops.len());
            for op in ops {
                println!("    {}", patch_line(s, op));
            }
        }
        None if d.same_state => println!("  states are identical"),
        None => println!("  (not both JSON: no structural diff)"),
    }
    Ok(())
}

fn patch_line(s: &crate::output::Style, op: &PatchOp) -> String {
    let value = |v: &Value| fit(&serde_json::to_string(v).unwrap_or_default(), 100);
    match op {
        PatchOp::Add { path, value: v } => s.green(&format!("+ {path} = {}", value(v))),
        PatchOp::Remove { path } => s.red(&format!("- {path}")),
        PatchOp::Replace { path, value: v } => s.yellow(&format!("~ {path} = {}", value(v))),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

pub fn export(ctx: &Ctx, args: ExportArgs) -> Result<(), Failure> {
    let mut store = ctx.open()?;
    let sessions: Vec<SessionId> = args
        .session
        .iter()
        .map(|s| resolve::session(&store, Some(s)))
        .collect::<Result<_, _>>()?;
    let only = (!sessions.is_empty()).then_some(sessions.as_slice());
    let bytes = progress::spin("exporting", || match args.format {
        ExportFormat::Json => store.export_json(only).map(String::into_bytes),
        ExportFormat::Binary => store.export_binary(only),
    })?;
    match &args.output {
        Some(path) => {
            std::fs::write(path, &bytes).map_err(|e| Failure::io(path.display(), e))?;
            eprintln!(
                "exported {} to {}",
                size(bytes.len() as u64),
                path.display()
            );
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes)
                .and_then(|_| out.flush())
                .map_err(|e| Failure::io("stdout", e))?;
        }
    }
    Ok(())
}

pub fn verify(ctx: &Ctx) -> Result<(), Failure> {
    let store = ctx.open()?;
    let report = progress::spin("verifying hashes", || store.verify());
    if ctx.json {
        json::print(&json::verify(&report));
    } else if report.is_ok() {
        println!(
            "ok: {} checkpoints and {} chunks verified; the hash chain is intact",
            report.checkpoints, report.chunks
        );
    }
    match report.first_error {
        None => Ok(()),
        Some(e) => Err(Failure::damaged(format!(
            "verification failed at checkpoint {} (seq {}): {}",
            e.checkpoint, e.seq, e.problem
        ))),
    }
}

pub fn stats(ctx: &Ctx) -> Result<(), Failure> {
    let store = ctx.open()?;
    let m = store.metrics();
    let disk = store.backend().disk_bytes();
    let segments = store.backend().segment_count();
    let health = store.health();
    if ctx.json {
        json::print(&json!({
            "sessions": m.sessions,
            "checkpoints": m.checkpoints,
            "annotations": m.annotations,
            "attachments": m.attachments,
            "logical_bytes": m.logical_bytes,
            "stored_bytes": m.stored_bytes,
            "dedup_ratio": m.dedup_ratio(),
            "chunks": m.chunks,
            "log_bytes": m.log_bytes,
            "disk_bytes": disk,
            "segments": segments,
            "next_seq": m.next_seq,
            "reclaimable_ratio": health.dead_ratio,
        }));
        return Ok(());
    }
    let mut table = Table::new(["", ""]);
    let mut row = |k: &str, v: String| table.row(vec![k.to_string(), v]);
    row("store", ctx.store.display().to_string());
    row("sessions", m.sessions.to_string());
    row("checkpoints", m.checkpoints.to_string());
    row("annotations", m.annotations.to_string());
    row("attachments", m.attachments.to_string());
    row(
        "logical bytes",
        format!("{} (every state stored whole)", size(m.logical_bytes)),
    );
    row(
        "stored bytes",
        format!("{} in {} distinct chunks", size(m.stored_bytes), m.chunks),
    );
    row("dedup ratio", format!("{:.1}x", m.dedup_ratio()));
    row(
        "on disk",
        format!("{} in {segments} segment(s)", size(disk)),
    );
    row(
        "reclaimable",
        format!(
            "{:.0}% of the log (rewind compact reclaims it)",
            health.dead_ratio * 100.0
        ),
    );
    row("next seq", m.next_seq.to_string());
    table.print(&ctx.style);
    Ok(())
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
