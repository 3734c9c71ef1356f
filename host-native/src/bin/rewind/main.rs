//! `rewind`: the command-line tool for rewind stores.
//!
//! Module map: `args` (the command line), `inspect` (commands that read), `change` (commands
//! that write), `demo`, `render` (what commands return, printed as text or JSON), `graph`
//! (`log --graph`), `resolve` (ids from prefixes), `output` (tables, colours, formats), `json`
//! (`--json` shapes: the engine's API views, snake_case), `progress`, `failure` (exit codes).
//!
//! A command opens the store once, computes what it shows, and `render` prints it.

mod args;
mod change;
mod demo;
mod failure;
mod graph;
mod inspect;
mod json;
mod output;
mod progress;
mod render;
mod resolve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rewind::{FileOptions, FileStore};

use crate::args::{Cli, Command, SessionCommand};
use crate::failure::Failure;
use crate::output::Style;

/// What every command gets: where the store is and how to print.
pub struct Ctx {
    pub store: PathBuf,
    pub json: bool,
    pub style: Style,
}

impl Ctx {
    /// Opens the store (creating it on first use).
    pub fn open(&self) -> Result<FileStore, Failure> {
        let store = FileStore::open(&self.store, FileOptions::default())?;
        // What opening dropped is said every time: a torn last write is expected after a crash,
        // but a user should know (and a damaged last record looks the same).
        let report = store.open_report();
        if let Some((path, offset)) = &report.truncated {
            eprintln!(
                "rewind: dropped an unfinished last write ({} bytes from byte {offset} of {}); \
                 what was written before it is intact",
                report.load.truncated_bytes,
                path.display()
            );
        }
        if report.load.discarded_records > 0 {
            eprintln!(
                "rewind: discarded {} records of a transaction that did not finish",
                report.load.discarded_records
            );
        }
        Ok(store)
    }
}

fn main() -> ExitCode {
    quiet_on_closed_output();
    let cli = Cli::parse();
    let ctx = Ctx {
        store: cli.store,
        json: cli.json,
        style: Style::detect(),
    };
    let result = run(&ctx, cli.command);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            // Broken pipes (`rewind log | head`) are not worth a message.
            if !failure.message.contains("Broken pipe") {
                eprintln!("rewind: {}", failure.message);
            }
            ExitCode::from(failure.code)
        }
    }
}

/// Runs one command: the store is opened once (in the arm, living until the result is shown),
/// the command computes what it shows, and `render` prints it.
fn run(ctx: &Ctx, command: Command) -> Result<(), Failure> {
    use render::show;
    match command {
        Command::Demo(a) => demo::run(ctx, a),
        Command::Repair(a) => show(ctx, &change::repair(ctx, a)?),
        Command::Session(SessionCommand::New { name, meta }) => {
            show(ctx, &change::session_new(&mut ctx.open()?, &name, &meta)?)
        }
        Command::Session(SessionCommand::List) => show(ctx, &inspect::session_list(&ctx.open()?)?),
        Command::Checkpoint(a) => {
            let state = change::read_state(&a)?;
            show(ctx, &change::checkpoint(&mut ctx.open()?, a, state)?)
        }
        Command::Log(a) => show(ctx, &*inspect::log(&ctx.open()?, a)?),
        Command::Show(a) => show(ctx, &inspect::show(&ctx.open()?, &a.id)?),
        Command::State(a) => show(ctx, &inspect::state(ctx.json, &ctx.open()?, a)?),
        Command::Restore(a) => change::restore(ctx, &mut ctx.open()?, a),
        Command::Diff(a) => show(ctx, &inspect::diff(&ctx.open()?, &a.from, &a.to)?),
        Command::Annotate(a) => show(ctx, &change::annotate(&mut ctx.open()?, a)?),
        Command::Compact(a) => {
            change::check_compact(&a)?;
            show(ctx, &change::compact(&mut ctx.open()?, a)?)
        }
        Command::Export(a) => show(ctx, &inspect::export(&mut ctx.open()?, a)?),
        Command::Import(a) => {
            // Read before the store opens: a missing file creates no store.
            let bytes = change::read_import(&a.file)?;
            show(ctx, &change::import(&mut ctx.open()?, &bytes)?)
        }
        Command::Verify => show(ctx, &inspect::verify(&ctx.open()?)),
        Command::Stats => show(ctx, &inspect::stats(&ctx.open()?, &ctx.store)),
    }
}

/// A closed pipe (`rewind log | head`) ends the program quietly, as it does other Unix tools;
/// any other failure to write the output (a full disk) is a one-line error with exit code 1, not
/// a panic.
fn quiet_on_closed_output() {
    // SAFETY: setting signal dispositions before any thread starts. A file past the size
    // limit (`ulimit -f`) is then a write error the command reports and cleans up after,
    // rather than a signal that kills it halfway through a file.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if let Some(why) = message.strip_prefix("failed printing to stdout: ") {
            eprintln!("rewind: cannot write the output: {why}");
            std::process::exit(1);
        }
        default(info);
    }));
}
