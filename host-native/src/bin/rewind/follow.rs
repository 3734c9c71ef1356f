//! `rewind log --follow` (`rewind watch`): prints checkpoints as a running agent writes them.
//!
//! The store is opened read-only, so watching never blocks the writer, and kept current with
//! `refresh`, which reads only what was appended (a compaction's new generation is read whole).
//! The newest checkpoints are printed first, oldest to newest (`-n`, default 10), then every
//! checkpoint the writer adds, once, in seq order, until interrupted. Text output is one
//! fixed-width line per checkpoint; `--json` one JSON object per line.

use crate::Engine;
use rewind::Backend;
use std::io::Write;
use std::time::{Duration, Instant};

use rewind::core::api::QueryInput;
use rewind::{Checkpoint, Event, Order, Query, SessionId, Trigger};

use crate::args::LogArgs;
use crate::failure::Failure;
use crate::output::{Style, clean, fit, time};
use crate::{Ctx, json, resolve};

/// How often the store is looked at.
const POLL: Duration = Duration::from_millis(100);
/// How long refreshes may keep failing (a file the writer is replacing) before the watch gives
/// up with the error.
const GIVE_UP_AFTER: Duration = Duration::from_secs(10);

/// Which checkpoints the watch prints.
struct Filter {
    session: Option<SessionId>,
    tags: Vec<String>,
    trigger: Option<String>,
}

impl Filter {
    fn admits(&self, cp: &Checkpoint) -> bool {
        self.session.is_none_or(|s| cp.session == s)
            && self.tags.iter().all(|t| cp.has_tag(t))
            && self
                .trigger
                .as_deref()
                .is_none_or(|t| trigger_name(&cp.trigger) == t)
    }
}

fn trigger_name(trigger: &Trigger) -> &'static str {
    trigger.kind().as_str()
}

/// Watches the store until interrupted (or the output closes).
pub fn run<B: Backend>(ctx: &Ctx, store: &mut Engine<B>, args: LogArgs) -> Result<(), Failure> {
    if args.graph || args.since.is_some() || args.until.is_some() {
        return Err(Failure::usage(
            "--follow prints checkpoints as they land: --graph, --since and --until do not apply",
        ));
    }
    let session = args
        .session
        .as_deref()
        .map(|s| resolve::session(store, Some(s)))
        .transpose()?;
    let filter = Filter {
        session,
        tags: args.tags.clone(),
        trigger: args.trigger.map(|t| t.as_str().to_string()),
    };
    // The newest few that match, oldest first.
    let mut input = QueryInput::default();
    input.session = session.map(|s| s.to_string());
    input.tags = args.tags;
    input.triggers = filter.trigger.iter().cloned().collect();
    input.limit = Some(args.limit.unwrap_or(10));
    let mut query = Query::try_from(input)?;
    query = query.order(Order::Descending);
    let mut first: Vec<Checkpoint> = store.list(&query)?.items.into_iter().cloned().collect();
    first.reverse();
    let mut printer = Printer {
        json: ctx.json,
        style: &ctx.style,
        last_seq: 0,
    };
    for cp in &first {
        printer.print(store, cp);
    }
    if !ctx.json {
        eprintln!(
            "{}",
            ctx.style.dim(&format!(
                "watching {} for new checkpoints (Ctrl-C to stop)",
                ctx.place()
            ))
        );
    }
    store.drain_events();
    let mut failing_since: Option<Instant> = None;
    loop {
        std::thread::sleep(POLL);
        match store.refresh() {
            Ok(_) => failing_since = None,
            Err(err) => {
                let since = *failing_since.get_or_insert_with(Instant::now);
                if since.elapsed() > GIVE_UP_AFTER {
                    return Err(err.into());
                }
                continue;
            }
        }
        for event in store.drain_events() {
            if let Event::Created { checkpoint, .. } = event
                && let Ok(cp) = store.get(checkpoint)
                && filter.admits(cp)
            {
                let cp = cp.clone();
                printer.print(store, &cp);
            }
        }
        std::io::stdout()
            .flush()
            .map_err(|e| Failure::io("stdout", e))?;
    }
}

struct Printer<'a> {
    json: bool,
    style: &'a Style,
    last_seq: u64,
}

impl Printer<'_> {
    /// Prints a checkpoint once, in seq order (a later refresh never repeats one).
    fn print<B: Backend>(&mut self, store: &Engine<B>, cp: &Checkpoint) {
        if cp.seq <= self.last_seq {
            return;
        }
        self.last_seq = cp.seq;
        if self.json {
            json::print(&json::checkpoint(cp));
            return;
        }
        let session = store
            .session(cp.session)
            .map(|s| s.name.as_str())
            .unwrap_or("");
        println!(
            "{:>6}  {}  {}  {:<9}  {}  {}  {}",
            cp.seq,
            self.style.dim(&resolve::abbrev(&cp.id, 12)),
            time(cp.created_at),
            trigger_name(&cp.trigger),
            fit(&clean(session), 16),
            clean(&cp.tags.join(",")),
            clean(&cp.message)
        );
    }
}
