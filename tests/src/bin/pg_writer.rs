//! A writer process for the PostgreSQL tests: many of them write one store at once.
//!
//! ```text
//! pg_writer <url> shared <name> <count>   checkpoints into the one session all writers share
//! pg_writer <url> own <name> <count>      checkpoints into a session of its own
//! ```
//!
//! Each acknowledged checkpoint prints `ok <name> <n> <id> <seq> <micros>` once its call
//! returned (`micros`: how long the call took), so the parent knows exactly which writes were
//! acknowledged when it kills the process. A write that fails prints `err <message>` and the
//! writer goes on (the server may be restarting) — until 300 fail in a row (30 s), when it
//! exits with status 1; at the end it prints `done <retries>`: how
//! many writes it planned again because another writer had written first.

use std::io::Write;
use std::time::{Duration, Instant};

use rewind::{NewCheckpoint, PgLocation, PgOptions, PgStore, SessionId};

/// The session every `shared` writer writes to.
const SHARED_SESSION: &str = "00000000-0000-4000-8000-00000000cafe";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: pg_writer <url> shared|own <name> <count>");
        std::process::exit(2);
    }
    let (url, mode, name) = (&args[1], &args[2], &args[3]);
    let count: u64 = args[4].parse().expect("a count");
    let location = PgLocation::parse(url).expect("a URL");
    let options = PgOptions::default().reconnect_for(Duration::from_secs(60));
    let store = PgStore::open(&location, options, rewind::Options::default()).expect("open");
    let session = match mode.as_str() {
        "shared" => {
            let id: SessionId = SHARED_SESSION.parse().expect("id");
            match store.write(|s| s.create_session_with_id(id, "shared", Default::default())) {
                Ok(_) => {}
                Err(rewind::Error::Store(rewind::core::Error::DuplicateId(_))) => {}
                Err(err) => panic!("create the shared session: {err}"),
            }
            id
        }
        _ => store
            .create_session(name, Default::default())
            .expect("create a session"),
    };
    let mut out = std::io::stdout().lock();
    let mut n = 0;
    // Errors in a row: a server gone for good (or a bug) ends the run instead of hanging it.
    let mut failing = 0;
    while n < count {
        let state = rewind_tests::crash_state(n);
        let message = format!("{name} {n}");
        let started = Instant::now();
        match store.checkpoint(NewCheckpoint::new(session, message, &state)) {
            Ok(cp) => {
                let micros = started.elapsed().as_micros();
                writeln!(out, "ok {name} {n} {} {} {micros}", cp.id, cp.seq).expect("stdout");
                out.flush().expect("stdout");
                n += 1;
                failing = 0;
            }
            Err(err) => {
                writeln!(out, "err {err}").expect("stdout");
                out.flush().expect("stdout");
                failing += 1;
                if failing == 300 {
                    eprintln!("pg_writer {name}: 300 failed writes in a row, the last: {err}");
                    std::process::exit(1);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    let retries = store.metrics().ops.write_retries;
    writeln!(out, "done {retries}").expect("stdout");
}
