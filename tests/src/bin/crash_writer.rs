//! A child process for the crash and lock tests. It writes checkpoints to a file store under
//! `Durability::Always` and prints each one after the call returned, so the parent knows exactly
//! which writes were acknowledged when it kills the process.
//!
//! ```text
//! crash_writer single <dir> <first>            one writer; a log rewrite every 25 checkpoints
//! crash_writer shared <dir> <first> <threads>  a SharedStore with several writer threads
//! crash_writer hold <dir>                      open the store, print "locked <pid>", wait
//! crash_writer open <dir>                      open, print "peak_rss_kb <k> checkpoints <n>"
//! ```
//!
//! Each acknowledged checkpoint prints `ok <n> <id> <hash> <seq>`; the state of checkpoint `n`
//! is `rewind_tests::crash_state(n)`.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use rewind::{Durability, FileOptions, FileStore, NewCheckpoint, SharedStore};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("");
    let dir = PathBuf::from(args.get(2).cloned().unwrap_or_default());
    let first: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(0);
    let options = FileOptions::default()
        .durability(Durability::Always)
        .segment_bytes(64 * 1024);
    match mode {
        "single" => single(dir, first, options),
        "shared" => {
            let threads: u64 = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(4);
            shared(dir, first, threads, options)
        }
        "hold" => {
            let _store = SharedStore::open(&dir, options).expect("open");
            println!("locked {}", std::process::id());
            std::io::stdout().flush().expect("stdout");
            // Hold the lock until the parent closes our stdin (or kills us).
            let mut line = String::new();
            let _ = std::io::stdin().lock().read_line(&mut line);
        }
        "open" => {
            let store = FileStore::open(&dir, options).expect("open");
            let checkpoints = store.metrics().checkpoints;
            println!("peak_rss_kb {} checkpoints {checkpoints}", peak_rss_kb());
        }
        _ => {
            eprintln!("usage: crash_writer single|shared|hold|open <dir> [first] [threads]");
            std::process::exit(2);
        }
    }
}

fn single(dir: PathBuf, first: u64, options: FileOptions) {
    let mut store = FileStore::open(&dir, options).expect("open");
    let existing = store.sessions().next().map(|s| s.id);
    let session = match existing {
        Some(id) => id,
        None => store
            .create_session("crash", Default::default())
            .expect("session"),
    };
    let out = std::io::stdout();
    for n in first.. {
        let state = rewind_tests::crash_state(n);
        let cp = store
            .checkpoint(NewCheckpoint::new(session, format!("step {n}"), &state))
            .expect("checkpoint");
        let line = format!("ok {n} {} {} {}\n", cp.id, cp.hash, cp.seq);
        out.lock().write_all(line.as_bytes()).expect("stdout");
        if n % 25 == 24 {
            // Kills land inside log rewrites too.
            store.vacuum().expect("vacuum");
        }
    }
}

fn shared(dir: PathBuf, first: u64, threads: u64, options: FileOptions) {
    let store = SharedStore::open(&dir, options).expect("open");
    let session = match store.read(|s| s.sessions().next().map(|s| s.id)) {
        Some(id) => id,
        None => store
            .create_session("crash", Default::default())
            .expect("session"),
    };
    let out = Mutex::new(std::io::stdout());
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (store, out) = (&store, &out);
            scope.spawn(move || {
                for k in 0.. {
                    let n = first + k * threads + t;
                    let state = rewind_tests::crash_state(n);
                    let cp = store
                        .checkpoint(NewCheckpoint::new(session, format!("step {n}"), &state))
                        .expect("checkpoint");
                    let line = format!("ok {n} {} {} {}\n", cp.id, cp.hash, cp.seq);
                    let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
                    out.write_all(line.as_bytes()).expect("stdout");
                    out.flush().expect("stdout");
                }
            });
        }
    });
}

/// The process's peak resident memory (VmHWM), in KiB.
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
