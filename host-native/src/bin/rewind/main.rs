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
        Ok(FileStore::open(&self.store, FileOptions::default())?)
    }
}

fn main() -> ExitCode {
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
