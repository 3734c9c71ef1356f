//! `rewind`: the command-line tool for rewind stores.
//!
//! Module map: `args` (the command line), `inspect` (commands that read), `change` (commands
//! that write), `demo`, `graph` (`log --graph`), `resolve` (ids from prefixes), `output`
//! (tables, colours, formats), `json` (`--json` shapes), `progress`, `failure` (exit codes).

mod args;
mod change;
mod demo;
mod failure;
mod graph;
mod inspect;
mod json;
mod output;
mod progress;
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
    let result = match cli.command {
        Command::Demo(a) => demo::run(&ctx, a),
        Command::Session(SessionCommand::New { name, meta }) => {
            change::session_new(&ctx, &name, &meta)
        }
        Command::Session(SessionCommand::List) => inspect::session_list(&ctx),
        Command::Checkpoint(a) => change::checkpoint(&ctx, a),
        Command::Log(a) => inspect::log(&ctx, a),
        Command::Show(a) => inspect::show(&ctx, &a.id),
        Command::State(a) => inspect::state(&ctx, a),
        Command::Restore(a) => change::restore(&ctx, a),
        Command::Diff(a) => inspect::diff(&ctx, &a.from, &a.to),
        Command::Annotate(a) => change::annotate(&ctx, a),
        Command::Compact(a) => change::compact(&ctx, a),
        Command::Export(a) => inspect::export(&ctx, a),
        Command::Import(a) => change::import(&ctx, &a.file),
        Command::Verify => inspect::verify(&ctx),
        Command::Repair(a) => change::repair(&ctx, a),
        Command::Stats => inspect::stats(&ctx),
    };
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

/// A closed pipe (`rewind log | head`) ends the program quietly, as it does other Unix tools;
/// any other failure to write the output (a full disk) is a one-line error with exit code 1, not
/// a panic.
fn quiet_on_closed_output() {
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
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
