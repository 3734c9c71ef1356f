//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  failure (I/O and other errors)
  2  usage error
  3  not found (unknown or ambiguous id, unknown session)
  4  store locked by another process (after waiting --wait, default 5s)
  5  damaged or tampered data (corrupt store, verify failed or met an unreadable tail,
     hash mismatch on import)
  6  invalid input (bad state file or JSON, over a limit)
  7  no rewind store at the path (only session new, checkpoint, import and demo create one)

Ids: a full id, a unique prefix of one (hyphens optional), @N for the checkpoint with seq N,
or `latest` for the newest checkpoint.";

/// rewind — a checkpoint store for AI-agent reasoning: save, find, travel back, fork, compare
/// and prune an agent's states.
#[derive(Debug, Parser)]
#[command(name = "rewind", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// Store directory (created on first use), or a store on PostgreSQL:
    /// postgres://user@host/db?store=NAME (the database may hold many stores).
    #[arg(long, global = true, env = "REWIND_STORE", default_value = ".rewind")]
    pub store: PathBuf,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    pub json: bool,
    /// How long a writing command waits for another writer to finish (e.g. 500ms, 10s, 2m).
    #[arg(long, global = true, value_name = "DURATION", default_value = "5s")]
    pub wait: String,
    /// Fail at once when another writer holds the store (same as --wait 0s).
    #[arg(long, global = true, conflicts_with = "wait")]
    pub no_wait: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Record a realistic agent debugging session and show what rewind does with it.
    Demo(DemoArgs),
    /// Create or list sessions.
    #[command(subcommand)]
    Session(SessionCommand),
    /// Save a checkpoint.
    Checkpoint(CheckpointArgs),
    /// A session's timeline, newest first (`--graph` draws its branches; `--follow` prints
    /// new checkpoints as they land).
    Log(LogArgs),
    /// Print checkpoints as they land, until interrupted (`rewind log --follow`).
    Watch(LogArgs),
    /// Everything about one checkpoint.
    Show(IdArg),
    /// Write a checkpoint's state to stdout or a file.
    State(StateArgs),
    /// Make a checkpoint the head of its session (the next checkpoint forks from it) and
    /// print or write its state.
    Restore(StateArgs),
    /// Compare two checkpoints (a JSON Patch when both states are JSON).
    Diff(DiffArgs),
    /// Attach a note to a checkpoint.
    Annotate(AnnotateArgs),
    /// Remove checkpoints by retention policy and reclaim their space.
    Compact(CompactArgs),
    /// Export the store (or a session) as JSON or as a binary log.
    Export(ExportArgs),
    /// Import a JSON or binary export (all or nothing; every hash is checked).
    Import(ImportArgs),
    /// Check the log's hash chain, every hash and parent link; fails naming the first problem.
    Verify(VerifyArgs),
    /// Copy every valid record of a damaged store into a new store.
    Repair(RepairArgs),
    /// Counts, sizes, the deduplication ratio and the log's head hash.
    Stats,
    /// Rewrite an older store in the newest format version (3: compact records).
    Upgrade,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Also prove that nothing was cut off the end since HASH was the log's head (as `rewind
    /// stats` or `rewind verify` printed it): fails unless the log still passes through it.
    #[arg(long = "expect-head", value_name = "HASH")]
    pub expect_head: Option<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the demo store here instead of a new temporary directory (must be new or empty).
    #[arg(long = "into")]
    pub into: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// Create a session and print its id.
    New {
        /// The session's name.
        name: String,
        /// Metadata entries, `key=value` (value parsed as JSON when it is valid JSON).
        #[arg(long = "meta", value_name = "KEY=VALUE")]
        meta: Vec<String>,
    },
    /// List sessions, oldest first.
    List,
}

#[derive(Debug, Args)]
pub struct CheckpointArgs {
    /// Session (id or unique prefix); defaults to the newest session.
    #[arg(long, short)]
    pub session: Option<String>,
    /// What this moment is.
    #[arg(long, short)]
    pub message: String,
    /// A tag (repeat for several).
    #[arg(long = "tag", short = 't')]
    pub tags: Vec<String>,
    /// The state: a file, or `-` for stdin. Without it the state is `{}`.
    #[arg(long, value_name = "FILE|-")]
    pub state: Option<String>,
    /// Media type of the state (default application/json; JSON states are checked).
    #[arg(long, default_value = "application/json")]
    pub content_type: String,
    /// Metadata entries, `key=value` (value parsed as JSON when it is valid JSON).
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    pub meta: Vec<String>,
    /// Parent checkpoint (default: the session head).
    #[arg(long)]
    pub parent: Option<String>,
    /// Namespace within the session.
    #[arg(long, default_value = "")]
    pub namespace: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TriggerArg {
    Manual,
    Automatic,
    Scheduled,
}

impl TriggerArg {
    /// The trigger kind's name, as the engine's API takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerArg::Manual => "manual",
            TriggerArg::Automatic => "automatic",
            TriggerArg::Scheduled => "scheduled",
        }
    }
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Session (id or unique prefix); defaults to every session.
    #[arg(long, short)]
    pub session: Option<String>,
    /// Draw the branches of each session.
    #[arg(long)]
    pub graph: bool,
    /// Only checkpoints with this tag (repeat: all of them).
    #[arg(long = "tag", short = 't')]
    pub tags: Vec<String>,
    /// Only checkpoints with this trigger.
    #[arg(long, value_enum)]
    pub trigger: Option<TriggerArg>,
    /// Only checkpoints created at or after this time (RFC 3339 UTC, or an age such as 2h).
    #[arg(long)]
    pub since: Option<String>,
    /// Only checkpoints created before this time (RFC 3339 UTC, or an age such as 30m).
    #[arg(long)]
    pub until: Option<String>,
    /// At most this many checkpoints (with --follow: how many to show before the new ones,
    /// default 10).
    #[arg(long, short = 'n')]
    pub limit: Option<usize>,
    /// Keep watching: print each new checkpoint as the writer adds it, until interrupted
    /// (with --json, one JSON object per line). Never blocks the writer.
    #[arg(long, short = 'f')]
    pub follow: bool,
}

#[derive(Debug, Args)]
pub struct IdArg {
    /// Checkpoint id, unique prefix, @seq or `latest`.
    pub id: String,
}

#[derive(Debug, Args)]
pub struct StateArgs {
    /// Checkpoint id, unique prefix, @seq or `latest`.
    pub id: String,
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The older checkpoint.
    pub from: String,
    /// The newer checkpoint.
    pub to: String,
}

#[derive(Debug, Args)]
pub struct AnnotateArgs {
    /// Checkpoint id, unique prefix, @seq or `latest`.
    pub id: String,
    /// The note.
    pub note: String,
    /// How much it matters (`critical` protects the checkpoint from compaction).
    #[arg(long, value_parser = ["info", "warning", "critical"], default_value = "info")]
    pub severity: String,
}

#[derive(Debug, Args)]
pub struct CompactArgs {
    /// Keep the N newest checkpoints of each session.
    #[arg(long)]
    pub keep: Option<usize>,
    /// Keep checkpoints with this tag (repeat for several).
    #[arg(long = "keep-tag")]
    pub keep_tags: Vec<String>,
    /// Remove checkpoints older than this (e.g. 30d, 12h, 45m).
    #[arg(long)]
    pub max_age: Option<String>,
    /// Remove the oldest checkpoints until stored bytes are at most this (e.g. 500MB, 2GiB).
    #[arg(long)]
    pub max_bytes: Option<String>,
    /// Only this session.
    #[arg(long, short)]
    pub session: Option<String>,
    /// Print the plan and the reason for each checkpoint; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ExportFormat {
    Json,
    Binary,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "json")]
    pub format: ExportFormat,
    /// Only this session (repeat for several).
    #[arg(long, short)]
    pub session: Vec<String>,
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The export to read (`-` for stdin). JSON or binary, detected from the content.
    pub file: String,
}

#[derive(Debug, Args)]
pub struct RepairArgs {
    /// New directory for the repaired store (must not exist or be empty).
    pub into: PathBuf,
}
