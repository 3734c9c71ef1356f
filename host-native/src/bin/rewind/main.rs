//! `rewind`: the command-line tool for rewind stores.
//!
//! Module map: `args` (the command line), `inspect` (commands that read), `change` (commands
//! that write), `demo`, `render` (what commands return, printed as text or JSON), `graph`
//! (`log --graph`), `resolve` (ids from prefixes), `output` (tables, colours, formats), `json`
//! (`--json` shapes: the engine's API views, snake_case), `follow` (`log --follow`, `watch`),
//! `progress`, `failure` (exit codes).
//!
//! A command opens the store once, computes what it shows, and `render` prints it.

mod args;
mod change;
mod demo;
mod failure;
mod follow;
mod graph;
mod inspect;
mod json;
mod location;
mod output;
mod progress;
mod render;
mod resolve;

use std::mem::ManuallyDrop;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use rewind::{FileOptions, FileStore, StoreLocation};

use crate::args::{Cli, Command, SessionCommand};
use crate::failure::Failure;
use crate::location::on_store;
use crate::output::Style;

/// A store opened read-only by a command, never dropped: the process exits when the command
/// is done, and freeing a large index first only delays that (about a second at a million
/// checkpoints). A read-only store holds no lock and has nothing to flush.
pub type Kept = ManuallyDrop<FileStore>;

/// The engine over any backend: what commands work on, whether the store is a directory or on
/// a server.
pub type Engine<B> = rewind::Store<B, rewind::SystemEnv>;

/// What every command gets: where the store is and how to print.
pub struct Ctx {
    /// The store directory, or the URL as given (for messages).
    pub store: PathBuf,
    /// Where the store is.
    pub location: StoreLocation,
    pub json: bool,
    pub style: Style,
    /// How long a writing command waits for the writer lock.
    pub wait: Duration,
}

impl Ctx {
    /// The store as messages name it (a URL's password left out).
    pub fn place(&self) -> String {
        #[cfg(feature = "postgres")]
        if let Some(at) = self.pg() {
            return at.to_string();
        }
        self.store.display().to_string()
    }

    /// The store on PostgreSQL, when `--store` names one.
    #[cfg(feature = "postgres")]
    pub fn pg(&self) -> Option<&rewind::PgLocation> {
        match &self.location {
            StoreLocation::Postgres(at) => Some(at),
            _ => None,
        }
    }

    /// No store is on PostgreSQL in a build without it.
    #[cfg(not(feature = "postgres"))]
    pub fn pg(&self) -> Option<location::NoPg> {
        None
    }

    /// Opens the store on PostgreSQL at `at`: waits up to `--wait` for a server that is not
    /// up yet (or restarting).
    #[cfg(feature = "postgres")]
    pub fn open_pg(
        &self,
        at: &rewind::PgLocation,
        mode: location::PgMode,
    ) -> Result<location::PgOpened, Failure> {
        self.open_pg_with(at, mode, rewind::Options::default())
    }

    /// [`Ctx::open_pg`] with the engine's options.
    #[cfg(feature = "postgres")]
    pub fn open_pg_with(
        &self,
        at: &rewind::PgLocation,
        mode: location::PgMode,
        engine: rewind::Options,
    ) -> Result<location::PgOpened, Failure> {
        use location::PgMode;
        let options = rewind::PgOptions::default()
            .read_only(mode == PgMode::Read)
            .create(mode == PgMode::Create)
            .reconnect_for(self.wait);
        match rewind::postgres::store::open_engine(at, options, engine) {
            Ok((store, report)) => {
                if let rewind::core::SnapshotUse::Ignored(problem) = &report.snapshot {
                    eprintln!("rewind: {problem}: the log was replayed whole");
                }
                Ok(location::PgOpened(store, report))
            }
            Err(rewind::Error::NotAStore { .. }) => Err(Failure::new(
                failure::code::NO_STORE,
                format!(
                    "no rewind store named {:?} on the server (`rewind session new` or `rewind \
                     checkpoint` creates one; ?store= in the URL names another)",
                    at.store()
                ),
            )),
            Err(err) => Err(err.into()),
        }
    }

    /// Opens the store for writing, creating it on first use (`session new`, `checkpoint`,
    /// `import`, `demo`).
    pub fn open(&self) -> Result<FileStore, Failure> {
        let options = FileOptions::default().lock_timeout(self.wait);
        let store = FileStore::open(&self.store, options)?;
        // What opening moved aside is said every time: a torn last write is expected after a
        // crash, but a user should know (and a damaged last record looks the same).
        let report = store.open_report();
        if let Some(tail) = &report.torn_tail {
            eprintln!(
                "rewind: moved an unfinished or damaged last write aside ({} bytes from byte {} \
                 of {}, now in {}); what was written before it is intact",
                tail.len,
                tail.offset,
                tail.file.display(),
                tail.moved_to
                    .as_deref()
                    .unwrap_or(std::path::Path::new("?"))
                    .display()
            );
        }
        self.say_discarded(&store);
        Ok(store)
    }

    /// Opens the store for reading: no lock, nothing written, beside a live writer too. A
    /// missing store is an error, never created.
    pub fn read(&self) -> Result<Kept, Failure> {
        let store = self.read_quietly()?;
        self.say_snapshot(&store);
        if let Some(tail) = &store.open_report().torn_tail {
            // Beside a live writer it is a write in progress: not yet part of the store.
            if rewind::StoreLock::holder(&self.store)?.is_none() {
                eprintln!(
                    "rewind: the last {} bytes of {} (from byte {}) are not a whole record: a \
                     write a crash cut short, or damage; they are not read (the next writer \
                     moves them aside, `rewind verify` reports them)",
                    tail.len,
                    tail.file.display(),
                    tail.offset
                );
            }
        }
        Ok(store)
    }

    /// Opens an existing store for writing; a path holding no store is an error (exit 7).
    pub fn open_existing(&self) -> Result<FileStore, Failure> {
        if !self.store.join(rewind::CURRENT_FILE).exists() {
            return Err(Failure::no_store(&self.store));
        }
        self.open()
    }

    /// [`Ctx::read`] without the word about a bad tail, for commands that report it themselves.
    pub fn read_quietly(&self) -> Result<Kept, Failure> {
        self.read_with(FileOptions::default())
    }

    /// [`Ctx::read_quietly`] with options (`verify --expect-head` looks for a head).
    pub fn read_with(&self, options: FileOptions) -> Result<Kept, Failure> {
        if !self.store.join(rewind::CURRENT_FILE).exists() {
            return Err(Failure::no_store(&self.store));
        }
        Ok(ManuallyDrop::new(FileStore::open_read_only(
            &self.store,
            options,
        )?))
    }

    /// An index snapshot that could not be used is said: the open was slower, and a damaged
    /// one may mean damage elsewhere.
    fn say_snapshot(&self, store: &FileStore) {
        if let rewind::core::SnapshotUse::Ignored(problem) = &store.open_report().load.snapshot {
            eprintln!("rewind: {problem}: the log was replayed whole");
        }
    }

    fn say_discarded(&self, store: &FileStore) {
        self.say_snapshot(store);
        let report = store.open_report();
        if report.load.discarded_records > 0 {
            eprintln!(
                "rewind: discarded {} records of a transaction that did not finish",
                report.load.discarded_records
            );
        }
    }
}

fn main() -> ExitCode {
    quiet_on_closed_output();
    let cli = Cli::parse();
    let wait = match (cli.no_wait, output::parse_duration_ms(&cli.wait)) {
        (true, _) => Duration::ZERO,
        (false, Ok(ms)) => Duration::from_millis(ms),
        (false, Err(why)) => {
            eprintln!("rewind: --wait: {why}");
            return ExitCode::from(failure::code::USAGE);
        }
    };
    let location = match cli.store.to_str().map(StoreLocation::parse) {
        None => StoreLocation::Dir(cli.store.clone()),
        Some(Ok(location)) => location,
        Some(Err(err)) => {
            eprintln!("rewind: --store: {err}");
            return ExitCode::from(failure::code::USAGE);
        }
    };
    let ctx = Ctx {
        store: cli.store,
        location,
        json: cli.json,
        style: Style::detect(),
        wait,
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
        Command::Repair(a) => {
            if ctx.pg().is_some() {
                return Err(Failure::usage(
                    "repair salvages a damaged store directory; a store on PostgreSQL is kept \
                     whole by its server",
                ));
            }
            show(ctx, &change::repair(ctx, a)?)
        }
        Command::Session(SessionCommand::New { name, meta }) => on_store!(ctx, create, |s| {
            show(ctx, &change::session_new(s, &name, &meta)?)
        }),
        Command::Session(SessionCommand::List) => {
            on_store!(ctx, read, |s| show(ctx, &inspect::session_list(s)?))
        }
        Command::Checkpoint(a) => {
            let state = change::read_state(&a)?;
            on_store!(ctx, create, |s| show(
                ctx,
                &change::checkpoint(s, a, state)?
            ))
        }
        // Following runs as long as the user wants: its store is dropped like any other.
        Command::Log(a) if a.follow => on_store!(ctx, read, |s| follow::run(ctx, s, a)),
        Command::Log(a) => on_store!(ctx, read, |s| show(ctx, &*inspect::log(s, a)?)),
        Command::Watch(a) => on_store!(ctx, read, |s| follow::run(ctx, s, a)),
        Command::Show(a) => on_store!(ctx, read, |s| show(ctx, &inspect::show(s, &a.id)?)),
        Command::State(a) => {
            on_store!(ctx, read, |s| show(ctx, &inspect::state(ctx.json, s, a)?))
        }
        Command::Restore(a) => on_store!(ctx, existing, |s| change::restore(ctx, s, a)),
        Command::Diff(a) => {
            on_store!(ctx, read, |s| show(ctx, &inspect::diff(s, &a.from, &a.to)?))
        }
        Command::Annotate(a) => {
            on_store!(ctx, existing, |s| show(ctx, &change::annotate(s, a)?))
        }
        Command::Compact(a) => {
            change::check_compact(&a)?;
            // A dry run only reads.
            if a.dry_run {
                on_store!(ctx, read, |s| show(ctx, &change::compact(s, a)?))
            } else {
                on_store!(ctx, existing, |s| show(ctx, &change::compact(s, a)?))
            }
        }
        Command::Export(a) => on_store!(ctx, read, |s| show(ctx, &inspect::export(s, a)?)),
        Command::Import(a) => {
            // Read before the store opens: a missing file creates no store.
            let bytes = change::read_import(&a.file)?;
            on_store!(ctx, create, |s| show(ctx, &change::import(s, &bytes)?))
        }
        Command::Verify(a) => show(ctx, &inspect::verify(ctx, a)?),
        Command::Stats => show(ctx, &inspect::stats(ctx)?),
        Command::Upgrade => on_store!(ctx, existing, |s| show(ctx, &change::upgrade(s)?)),
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
