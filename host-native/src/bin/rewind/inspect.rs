//! Commands that read: session list, log, show, state, diff, export, verify, stats. Each takes
//! the opened store and returns what it shows.

use crate::Engine;
use rewind::Backend;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rewind::core::SnapshotUse;
use rewind::core::api::{DiffView, QueryInput, VerifyView};
use rewind::core::json_patch::PatchOp;
use rewind::{
    Annotation, Checkpoint, CheckpointId, Diff, FileOptions, Hash, Health, Metrics, Options, Query,
    Session, SessionId, TornTail, TriggerKind, VerifyReport,
};
use serde_json::{Value, json};

use crate::args::{ExportArgs, ExportFormat, LogArgs, StateArgs, VerifyArgs};
use crate::failure::Failure;
use crate::output::{Style, Table, clean, fit, parse_time, size, time, write_whole};
use crate::render::Render;
use crate::{Ctx, graph, json, progress, resolve};

/// Every session, oldest first.
pub struct SessionList<'s> {
    sessions: Vec<&'s Session>,
    digits: usize,
}

pub fn session_list<B: Backend>(store: &Engine<B>) -> Result<SessionList<'_>, Failure> {
    Ok(SessionList {
        sessions: store.sessions().collect(),
        digits: resolve::abbrev_digits(store, store.sessions().filter_map(|s| s.head)),
    })
}

impl Render for SessionList<'_> {
    fn text(&self, style: &Style) {
        let mut table = Table::new(["SESSION", "CREATED", "CHECKPOINTS", "HEAD", "NAME"]);
        for s in &self.sessions {
            table.row(vec![
                s.id.to_string(),
                time(s.created_at),
                s.checkpoints.to_string(),
                s.head
                    .map(|h| resolve::abbrev(&h, self.digits))
                    .unwrap_or_else(|| "-".into()),
                clean(&s.name).into_owned(),
            ]);
        }
        table.print(style);
    }

    fn json(&self) -> Option<Value> {
        Some(self.sessions.iter().map(|s| json::session(s)).collect())
    }
}

/// A timeline of checkpoints, newest first.
pub struct Log<'s> {
    items: Vec<&'s Checkpoint>,
    /// Session names, when the timeline mixes sessions.
    names: Option<HashMap<SessionId, &'s str>>,
    more: bool,
    digits: usize,
}

pub fn log<B: Backend>(store: &Engine<B>, args: LogArgs) -> Result<Box<dyn Render + '_>, Failure> {
    let session = args
        .session
        .as_deref()
        .map(|s| resolve::session(store, Some(s)))
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
        return Ok(Box::new(graph_of(store, session, args.limit)?));
    }
    let now = now_ms();
    let mut input = QueryInput::default();
    input.session = session.map(|s| s.to_string());
    input.tags = args.tags;
    input.triggers = args
        .trigger
        .map(|t| t.as_str().to_string())
        .into_iter()
        .collect();
    input.time_from = args
        .since
        .map(|t| parse_time(&t, now).map_err(Failure::usage))
        .transpose()?;
    input.time_to = args
        .until
        .map(|t| parse_time(&t, now).map_err(Failure::usage))
        .transpose()?;
    input.limit = args.limit;
    let page = store.list(&Query::try_from(input)?)?;
    let all_sessions = session.is_none() && store.sessions().count() > 1;
    Ok(Box::new(Log {
        names: all_sessions.then(|| store.sessions().map(|s| (s.id, s.name.as_str())).collect()),
        more: page.next.is_some(),
        digits: resolve::abbrev_digits(store, page.items.iter().map(|c| c.id)),
        items: page.items,
    }))
}

impl Render for Log<'_> {
    fn text(&self, style: &Style) {
        let mut table = if self.names.is_some() {
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
        for cp in &self.items {
            let mut row = vec![
                cp.seq.to_string(),
                resolve::abbrev(&cp.id, self.digits),
                time(cp.created_at),
                trigger_text(cp),
                clean(&cp.tags.join(",")).into_owned(),
            ];
            if let Some(names) = &self.names {
                let name = names.get(&cp.session).copied().unwrap_or("");
                row.push(fit(&clean(name), 20));
            }
            row.push(clean(&cp.message).into_owned());
            table.row(row);
        }
        table.print(style);
        if self.more {
            println!("{}", style.dim("(more: raise --limit)"));
        }
    }

    fn json(&self) -> Option<Value> {
        Some(self.items.iter().map(|c| json::checkpoint(c)).collect())
    }
}

/// Each session's tree, drawn like `git log --graph`.
pub struct Graph<'s> {
    sessions: Vec<GraphSession<'s>>,
    digits: usize,
}

struct GraphSession<'s> {
    session: &'s Session,
    rows: Vec<graph::Row<'s>>,
    annotated: HashSet<CheckpointId>,
}

fn graph_of<B: Backend>(
    store: &Engine<B>,
    session: Option<SessionId>,
    limit: Option<usize>,
) -> Result<Graph<'_>, Failure> {
    let ids: Vec<SessionId> = match session {
        Some(s) => vec![s],
        None => store.sessions().map(|s| s.id).collect(),
    };
    let mut sessions = Vec::new();
    for s in ids {
        let mut input = QueryInput::default();
        input.session = Some(s.to_string());
        input.limit = limit;
        let page = store.list(&Query::try_from(input)?)?;
        let shown: HashSet<_> = page.items.iter().map(|c| c.id).collect();
        let rows = graph::layout(&page.items, |cp| {
            let parent = store.history(cp.id).ok()?.nth(1)?.id;
            shown.contains(&parent).then_some(parent)
        });
        let mut annotated = HashSet::new();
        for cp in &page.items {
            if !store.annotations(cp.id)?.is_empty() {
                annotated.insert(cp.id);
            }
        }
        sessions.push(GraphSession {
            session: store.session(s)?,
            rows,
            annotated,
        });
    }
    let shown = sessions
        .iter()
        .flat_map(|s| s.rows.iter().filter_map(|r| r.checkpoint.map(|c| c.id)));
    let digits = resolve::abbrev_digits(store, shown);
    Ok(Graph { sessions, digits })
}

impl Render for Graph<'_> {
    fn text(&self, style: &Style) {
        for s in &self.sessions {
            let info = s.session;
            println!(
                "{} {}",
                style.bold(&format!("session {}", clean(&info.name))),
                style.dim(&info.id.to_string())
            );
            for row in &s.rows {
                let Some(cp) = row.checkpoint else {
                    println!("{}", row.graph);
                    continue;
                };
                let mut line = format!(
                    "{}{} {} {}",
                    row.graph,
                    style.dim(&format!("@{}", cp.seq)),
                    style.yellow(&resolve::abbrev(&cp.id, self.digits)),
                    style.dim(&time(cp.created_at)),
                );
                if info.head == Some(cp.id) {
                    line.push_str(&format!(" {}", style.green("(head)")));
                }
                if !cp.tags.is_empty() {
                    line.push_str(&format!(
                        " {}",
                        style.cyan(&format!("[{}]", clean(&cp.tags.join(","))))
                    ));
                }
                if cp.trigger.kind() != TriggerKind::Manual {
                    line.push_str(&format!(" {}", style.dim(&trigger_text(cp))));
                }
                line.push(' ');
                line.push_str(&clean(&cp.message));
                if s.annotated.contains(&cp.id) {
                    line.push_str(&format!(" {}", style.red("(annotated)")));
                }
                println!("{line}");
            }
            println!();
        }
    }

    fn json(&self) -> Option<Value> {
        let sessions: Value = self
            .sessions
            .iter()
            .map(|s| {
                json!({
                    "session": json::session(s.session),
                    "rows": s.rows.iter().map(|r| json!({
                        "graph": r.graph,
                        "checkpoint": r.checkpoint.map(json::checkpoint),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        Some(sessions)
    }
}

/// The trigger for people (the reason made safe to print).
fn trigger_text(cp: &Checkpoint) -> String {
    match &cp.trigger {
        rewind::Trigger::Automatic { reason } => format!("auto: {}", clean(reason)),
        other => other.kind().as_str().to_string(),
    }
}

/// Everything about one checkpoint.
pub struct Show<'s> {
    cp: &'s Checkpoint,
    session: &'s Session,
    annotations: &'s [Annotation],
    attachments: Vec<&'s str>,
    children: Vec<String>,
}

pub fn show<'s, B: Backend>(store: &'s Engine<B>, id: &str) -> Result<Show<'s>, Failure> {
    let id = resolve::checkpoint(store, id)?;
    let cp = store.get(id)?;
    Ok(Show {
        cp,
        session: store.session(cp.session)?,
        annotations: store.annotations(id)?,
        attachments: store.attachment_keys(id)?.collect(),
        children: store
            .children(id)?
            .iter()
            .map(|c| c.id.to_string())
            .collect(),
    })
}

impl Render for Show<'_> {
    fn text(&self, s: &Style) {
        let cp = self.cp;
        let is_head = self.session.head == Some(cp.id);
        println!("{} {}", s.bold("checkpoint"), s.yellow(&cp.id.to_string()));
        let field = |name: &str, value: String| println!("  {:<13}{value}", s.dim(name));
        field(
            "session",
            format!("{} ({})", clean(&self.session.name), cp.session),
        );
        field("seq", cp.seq.to_string());
        field("created", format!("{} UTC", time(cp.created_at)));
        field("message", clean(&cp.message).into_owned());
        field("trigger", trigger_text(cp));
        if !cp.tags.is_empty() {
            field("tags", clean(&cp.tags.join(", ")).into_owned());
        }
        if !cp.namespace.is_empty() {
            field("namespace", clean(&cp.namespace).into_owned());
        }
        field(
            "parent",
            cp.parent
                .map(|p| p.to_string())
                .unwrap_or_else(|| "(root)".into()),
        );
        if !self.children.is_empty() {
            field("children", self.children.join(", "));
        }
        if is_head {
            field(
                "head",
                "yes: the next checkpoint of the session continues from here".into(),
            );
        }
        field(
            "state",
            format!("{} ({})", size(cp.state_len), clean(&cp.content_type)),
        );
        field("hash", cp.hash.to_string());
        if !cp.metadata.is_empty() {
            let text = serde_json::to_string(&cp.metadata).unwrap_or_default();
            field("metadata", clean(&text).into_owned());
        }
        for a in self.annotations {
            let sev = match a.severity {
                rewind::Severity::Critical => s.red("critical"),
                rewind::Severity::Warning => s.yellow("warning"),
                rewind::Severity::Info => "info".to_string(),
            };
            field(
                "note",
                format!("[{sev}] {} ({} UTC)", clean(&a.note), time(a.created_at)),
            );
        }
        if !self.attachments.is_empty() {
            field(
                "attachments",
                clean(&self.attachments.join(", ")).into_owned(),
            );
        }
    }

    fn json(&self) -> Option<Value> {
        let mut value = json::checkpoint(self.cp);
        value["annotations"] = self.annotations.iter().map(json::annotation).collect();
        value["attachments"] = json!(self.attachments);
        value["children"] = json!(self.children);
        value["is_head"] = json!(self.session.head == Some(self.cp.id));
        Some(value)
    }
}

/// A checkpoint's state: its bytes on stdout, or where they were written.
pub struct State {
    id: CheckpointId,
    content_type: String,
    bytes: Vec<u8>,
    written: Option<PathBuf>,
    /// Whether `--json` asked for the envelope (the bytes are then not the output).
    envelope: bool,
}

pub fn state<B: Backend>(json: bool, store: &Engine<B>, args: StateArgs) -> Result<State, Failure> {
    let id = resolve::checkpoint(store, &args.id)?;
    let bytes = store.state(id)?;
    let content_type = store.get(id)?.content_type.clone();
    State::write(json, id, content_type, bytes, args.output.as_deref())
}

impl State {
    /// A state to show; with `output`, written to that file first.
    pub fn write(
        json: bool,
        id: CheckpointId,
        content_type: String,
        bytes: Vec<u8>,
        output: Option<&Path>,
    ) -> Result<State, Failure> {
        if let Some(path) = output {
            write_whole(path, &bytes)?;
        }
        Ok(State {
            id,
            content_type,
            bytes,
            written: output.map(Path::to_path_buf),
            envelope: json,
        })
    }
}

impl Render for State {
    fn text(&self, _: &Style) {
        if let Some(path) = &self.written {
            eprintln!(
                "wrote {} to {}",
                size(self.bytes.len() as u64),
                path.display()
            );
        }
    }

    fn json(&self) -> Option<Value> {
        if let Some(path) = &self.written {
            return Some(json!({
                "id": self.id.to_string(),
                "written": path.display().to_string(),
                "bytes": self.bytes.len(),
            }));
        }
        let (encoding, data) = match std::str::from_utf8(&self.bytes) {
            Ok(text) => ("utf8", text.to_string()),
            Err(_) => {
                use base64::Engine as _;
                (
                    "base64",
                    base64::engine::general_purpose::STANDARD.encode(&self.bytes),
                )
            }
        };
        Some(json!({
            "id": self.id.to_string(),
            "content_type": self.content_type,
            "encoding": encoding,
            "data": data,
        }))
    }

    fn bytes(&self) -> Option<&[u8]> {
        (self.written.is_none() && !self.envelope).then_some(&self.bytes)
    }
}

/// What changed between two checkpoints.
pub struct DiffOut<'s> {
    diff: Diff,
    from: &'s Checkpoint,
    to: &'s Checkpoint,
}

pub fn diff<'s, B: Backend>(
    store: &'s Engine<B>,
    from: &str,
    to: &str,
) -> Result<DiffOut<'s>, Failure> {
    let (a, b) = (
        resolve::checkpoint(store, from)?,
        resolve::checkpoint(store, to)?,
    );
    Ok(DiffOut {
        diff: store.diff(a, b)?,
        from: store.get(a)?,
        to: store.get(b)?,
    })
}

impl Render for DiffOut<'_> {
    fn text(&self, s: &Style) {
        let d = &self.diff;
        println!(
            "{} @{} {} -> @{} {}",
            s.bold("diff"),
            self.from.seq,
            s.yellow(&d.from.to_string()),
            self.to.seq,
            s.yellow(&d.to.to_string())
        );
        println!(
            "  {} seq apart, {:+.1} s apart",
            d.seq_delta,
            d.time_delta_ms as f64 / 1000.0
        );
        if let Some((m1, m2)) = &d.message {
            println!(
                "  message: {} {}",
                s.red(&format!("- {}", clean(m1))),
                s.green(&format!("+ {}", clean(m2)))
            );
        }
        for t in &d.tags_added {
            println!("  tag {}", s.green(&format!("+{}", clean(t))));
        }
        for t in &d.tags_removed {
            println!("  tag {}", s.red(&format!("-{}", clean(t))));
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
    }

    fn json(&self) -> Option<Value> {
        Some(json::view(DiffView::from(&self.diff)))
    }
}

fn patch_line(s: &Style, op: &PatchOp) -> String {
    let value = |v: &Value| fit(&clean(&serde_json::to_string(v).unwrap_or_default()), 100);
    match op {
        PatchOp::Add { path, value: v } => s.green(&format!("+ {} = {}", clean(path), value(v))),
        PatchOp::Remove { path } => s.red(&format!("- {}", clean(path))),
        PatchOp::Replace { path, value: v } => {
            s.yellow(&format!("~ {} = {}", clean(path), value(v)))
        }
        other => clean(&serde_json::to_string(other).unwrap_or_default()).into_owned(),
    }
}

/// An export: its bytes on stdout, or where they were written.
pub struct Export {
    bytes: Vec<u8>,
    written: Option<PathBuf>,
}

pub fn export<B: Backend>(store: &mut Engine<B>, args: ExportArgs) -> Result<Export, Failure> {
    let sessions: Vec<SessionId> = args
        .session
        .iter()
        .map(|s| resolve::session(store, Some(s)))
        .collect::<Result<_, _>>()?;
    let only = (!sessions.is_empty()).then_some(sessions.as_slice());
    let bytes = progress::on_store("exporting", store, |s| match args.format {
        ExportFormat::Json => s.export_json(only).map(String::into_bytes),
        ExportFormat::Binary => s.export_binary(only),
    })?;
    if let Some(path) = &args.output {
        write_whole(path, &bytes)?;
    }
    Ok(Export {
        bytes,
        written: args.output,
    })
}

impl Render for Export {
    fn text(&self, _: &Style) {
        if let Some(path) = &self.written {
            eprintln!(
                "exported {} to {}",
                size(self.bytes.len() as u64),
                path.display()
            );
        }
    }

    fn json(&self) -> Option<Value> {
        // An export is its own format; `--json` changes nothing about it.
        None
    }

    fn bytes(&self) -> Option<&[u8]> {
        self.written.is_none().then_some(&self.bytes)
    }
}

/// What verification found; the command fails when it found a problem.
pub struct Verified {
    report: VerifyReport,
    /// Bytes at the end of the log that are not a whole record, with no writer live.
    tail: Option<TornTail>,
    /// The head asked for with `--expect-head`, and whether the log passes through it.
    expected: Option<(Hash, bool)>,
}

/// How long `verify` waits for a live writer to finish the write it found in progress.
const WRITER_GRACE: Duration = Duration::from_secs(2);

/// Verifies the store read-only. A bad tail while a writer is live is a write in progress: the
/// store is read again until it is whole (or the grace period ends, and the log before it is
/// what was verified); with no writer live it is reported, since nothing will finish it.
pub fn verify(ctx: &Ctx, args: VerifyArgs) -> Result<Verified, Failure> {
    let expect = args
        .expect_head
        .as_deref()
        .map(|h| {
            Hash::from_hex(h.trim()).ok_or_else(|| {
                Failure::usage(format!("--expect-head {h} is not a 64-digit hex hash"))
            })
        })
        .transpose()?;
    // The whole log is replayed, never started from the index snapshot: "every seal of the
    // hash chain checks out" is then true of every seal.
    let engine = Options::default().expect_head(expect).use_snapshot(false);
    #[cfg(feature = "postgres")]
    if let Some(at) = ctx.pg() {
        // Every write on the server is whole: there is no tail to wait for.
        let mut opened = ctx.open_pg_with(at, crate::location::PgMode::Read, engine)?;
        let found = opened.1.expected_head_found;
        return Ok(Verified {
            report: progress::on_store("verifying hashes", &mut opened.0, |s| s.verify()),
            tail: None,
            expected: expect.zip(found),
        });
    }
    let options = FileOptions::default().store(engine);
    let started = Instant::now();
    let mut store = loop {
        // Dropped when it is read again (beside a writer still writing).
        let store = std::mem::ManuallyDrop::into_inner(ctx.read_with(options.clone())?);
        let writing = store.open_report().torn_tail.is_some()
            && rewind::StoreLock::holder(&ctx.store)?.is_some();
        if !writing || started.elapsed() >= WRITER_GRACE {
            break store;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let tail = match &store.open_report().torn_tail {
        Some(tail) if rewind::StoreLock::holder(&ctx.store)?.is_none() => Some(tail.clone()),
        Some(tail) => {
            eprintln!(
                "rewind: a live writer is still writing at byte {} of {}; verified the log \
                 before it",
                tail.offset,
                tail.file.display()
            );
            None
        }
        None => None,
    };
    if expect.is_some() && store.format_version() < 2 {
        return Err(Failure::usage(
            "--expect-head needs a version 2 or 3 log: this one is version 1, without a hash chain \
             (`rewind upgrade` rewrites it)",
        ));
    }
    let found = store.open_report().load.expected_head_found;
    Ok(Verified {
        report: progress::on_store("verifying hashes", &mut store, |s| s.verify()),
        tail,
        expected: expect.zip(found),
    })
}

impl Render for Verified {
    fn text(&self, _: &Style) {
        if self.report.is_ok()
            && self.tail.is_none()
            && self.expected.is_none_or(|(_, found)| found)
        {
            println!(
                "ok: {} checkpoints and {} chunks verified, every hash and parent link",
                self.report.checkpoints, self.report.chunks
            );
            match self.report.log_head {
                Some(head) => {
                    println!(
                        "log: format version {}, every seal of the hash chain checks out",
                        self.report.format_version
                    );
                    println!("head: {head}");
                    if let Some((expected, _)) = self.expected {
                        println!("the log still passes through head {expected}");
                    }
                }
                None => println!(
                    "log: format version 1, without a hash chain (`rewind upgrade` adds one)"
                ),
            }
            if self.report.dangling_parents > 0 {
                println!(
                    "{} checkpoints name a parent that is no longer in the store (removed by a \
                     deletion or compaction, or lost)",
                    self.report.dangling_parents
                );
            }
        }
    }

    fn json(&self) -> Option<Value> {
        let mut view = json::view(VerifyView::from(&self.report));
        if let (Some((head, found)), Some(map)) = (self.expected, view.as_object_mut()) {
            map.insert(
                "expected_head".into(),
                json!({ "head": head.to_hex(), "found": found }),
            );
        }
        if let (Some(tail), Some(map)) = (&self.tail, view.as_object_mut()) {
            map.insert(
                "unread_tail".into(),
                json!({
                    "file": tail.file.display().to_string(),
                    "offset": tail.offset,
                    "len": tail.len,
                }),
            );
        }
        Some(view)
    }

    fn outcome(&self) -> Result<(), Failure> {
        if let Some(e) = &self.report.first_error {
            return Err(Failure::damaged(format!(
                "verification failed at checkpoint {} (seq {}): {}",
                e.checkpoint, e.seq, e.problem
            )));
        }
        if let Some((head, false)) = self.expected {
            return Err(Failure::damaged(format!(
                "the log does not pass through head {head}: records were cut off its end or it \
                 was rewritten since that head was taken (a compaction starts a new chain and \
                 names only the head it replaced)"
            )));
        }
        if let Some(tail) = &self.tail {
            return Err(Failure::damaged(format!(
                "the last {} bytes of {} (from byte {}) are not a whole record: a write a crash \
                 cut short, or damage to the last record; the {} checkpoints before it verified. \
                 The next writer moves those bytes aside to {}.torn-{}; if that write was \
                 acknowledged, `rewind repair` salvages what is readable",
                tail.len,
                tail.file.display(),
                tail.offset,
                self.report.checkpoints,
                tail.file.display(),
                tail.offset
            )));
        }
        Ok(())
    }
}

/// Counts and sizes of the store `--store` names.
pub struct Stats {
    place: String,
    metrics: Metrics,
    health: Health,
    storage: Storage,
    version: u16,
    head: Option<Hash>,
    index: SnapshotUse,
}

/// Where the store's bytes are.
enum Storage {
    /// In segment files of a directory.
    Files { disk: u64, segments: usize },
    /// In tables on a PostgreSQL server.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Server { bytes: u64, generation: i64 },
}

pub fn stats(ctx: &Ctx) -> Result<Stats, Failure> {
    #[cfg(feature = "postgres")]
    if let Some(at) = ctx.pg() {
        let opened = ctx.open_pg(at, crate::location::PgMode::Read)?;
        let store = &opened.0;
        return Ok(Stats {
            index: opened.1.snapshot.clone(),
            place: at.to_string(),
            metrics: store.metrics(),
            health: store.health(),
            storage: Storage::Server {
                bytes: store
                    .backend()
                    .server_bytes()
                    .map_err(rewind::Error::from)?,
                generation: store.backend().generation(),
            },
            version: store.format_version(),
            head: store.log_head(),
        });
    }
    let store = ctx.read()?;
    Ok(file_stats(&store, ctx.store.display().to_string()))
}

/// [`stats`] of a store directory already open.
pub fn file_stats(store: &rewind::FileStore, place: String) -> Stats {
    Stats {
        index: store.open_report().load.snapshot.clone(),
        place,
        metrics: store.metrics(),
        health: store.health(),
        storage: Storage::Files {
            disk: store.backend().disk_bytes(),
            segments: store.backend().segment_count(),
        },
        version: store.format_version(),
        head: store.log_head(),
    }
}

impl Render for Stats {
    fn text(&self, style: &Style) {
        let m = &self.metrics;
        let mut table = Table::new(["", ""]);
        let mut row = |k: &str, v: String| table.row(vec![k.to_string(), v]);
        row("store", self.place.clone());
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
        match self.storage {
            Storage::Files { disk, segments } => row(
                "on disk",
                format!("{} in {segments} segment(s)", size(disk)),
            ),
            Storage::Server { bytes, generation } => row(
                "on the server",
                format!(
                    "{} in its tables (log generation {generation}: the compactions so far)",
                    size(bytes)
                ),
            ),
        }
        row(
            "reclaimable",
            format!(
                "{:.0}% of the log (rewind compact reclaims it)",
                self.health.dead_ratio * 100.0
            ),
        );
        row("next seq", m.next_seq.to_string());
        row(
            "log head",
            match self.head {
                Some(head) => head.to_string(),
                None => "none (format version 1: `rewind upgrade` adds a hash chain)".into(),
            },
        );
        row(
            "index",
            match &self.index {
                SnapshotUse::Used { tail_frames } => {
                    format!("read from its snapshot, then {tail_frames} log frame(s) after it")
                }
                SnapshotUse::Ignored(problem) => {
                    format!("log replayed whole ({problem}; the next writer writes a new one)")
                }
                _ => {
                    "log replayed whole (no index snapshot yet: the next writer writes one)".into()
                }
            },
        );
        table.print(style);
    }

    fn json(&self) -> Option<Value> {
        let m = &self.metrics;
        Some(json!({
            "sessions": m.sessions,
            "checkpoints": m.checkpoints,
            "annotations": m.annotations,
            "attachments": m.attachments,
            "logical_bytes": m.logical_bytes,
            "stored_bytes": m.stored_bytes,
            "dedup_ratio": m.dedup_ratio(),
            "chunks": m.chunks,
            "log_bytes": m.log_bytes,
            "disk_bytes": match self.storage {
                Storage::Files { disk, .. } => disk,
                Storage::Server { bytes, .. } => bytes,
            },
            "segments": match self.storage {
                Storage::Files { segments, .. } => json!(segments),
                Storage::Server { .. } => Value::Null,
            },
            "generation": match self.storage {
                Storage::Files { .. } => Value::Null,
                Storage::Server { generation, .. } => json!(generation),
            },
            "next_seq": m.next_seq,
            "reclaimable_ratio": self.health.dead_ratio,
            "format_version": self.version,
            "log_head": self.head.map(|h| h.to_hex()),
            "index": match &self.index {
                SnapshotUse::Used { tail_frames } => {
                    json!({ "snapshot": true, "tail_frames": tail_frames })
                }
                SnapshotUse::Ignored(problem) => {
                    json!({ "snapshot": false, "ignored": problem.to_string() })
                }
                _ => json!({ "snapshot": false }),
            },
        }))
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
