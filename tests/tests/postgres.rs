//! Many writer processes on one store on PostgreSQL (a throwaway server this test process
//! starts): every acknowledged write is there afterwards, seqs are unique and increasing,
//! every session's checkpoints form the chain serial writes would have made, and the store
//! verifies — with writers killed at random moments, with the server restarted under them,
//! and with a compaction running while they write.
//!
//! Sizes are short here; `scripts/acceptance.sh` runs the full ones: `REWIND_PG_WRITES`
//! (checkpoints per writer, default 60) and `REWIND_PG_KILLS` (default 12).

use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use rewind::{CheckpointId, Event, NewCheckpoint, PgLocation, PgOptions, PgStore, RetentionPolicy};
use rewind_core::conformance::Rng;
use rewind_tests::PgCluster;
use rewind_tests::pg_writers::{Acked, Writer, check, open_read_only as open, spread};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn spawn(url: &str, mode: &str, name: &str, count: u64) -> Writer {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pg_writer"));
    cmd.args([url, mode, name, &count.to_string()]);
    Writer::spawn(cmd)
}

#[test]
fn writers_in_four_processes_write_one_store_as_if_in_series() {
    let cluster = PgCluster::shared();
    let writes = env_or("REWIND_PG_WRITES", 60);
    for mode in ["shared", "own"] {
        let url = cluster.url(&PgCluster::unique_store(mode));
        let writers: Vec<Writer> = (0..4)
            .map(|i| spawn(&url, mode, &format!("w{i}"), writes))
            .collect();
        let acked: Vec<Acked> = writers.into_iter().flat_map(Writer::finish).collect();
        assert_eq!(acked.len() as u64, 4 * writes);
        check(&url, &acked);
        eprintln!("{mode} session: {}", spread(&acked));
    }
}

#[test]
fn killed_writers_lose_nothing_they_acknowledged() {
    let cluster = PgCluster::shared();
    let url = cluster.url(&PgCluster::unique_store("kills"));
    let kills = env_or("REWIND_PG_KILLS", 12);
    let mut rng = Rng(env_or("REWIND_PG_SEED", 7) | 1);
    let mode = |i: u64| if i.is_multiple_of(2) { "shared" } else { "own" };
    let mut running: Vec<Writer> = (0..3)
        .map(|i| spawn(&url, mode(i), &format!("k{i}"), 1_000_000))
        .collect();
    let mut acked = Vec::new();
    for kill in 0..kills {
        thread::sleep(Duration::from_millis(50 + rng.below(400) as u64));
        let victim = rng.below(running.len());
        let name = format!("k{}", 3 + kill);
        let fresh = spawn(&url, mode(kill), &name, 1_000_000);
        acked.extend(std::mem::replace(&mut running[victim], fresh).kill());
    }
    for writer in running {
        acked.extend(writer.kill());
    }
    assert!(acked.len() > kills as usize, "only {} writes", acked.len());
    check(&url, &acked);
    eprintln!("{kills} kills: {}", spread(&acked));
}

#[test]
fn writers_ride_out_a_server_restart() {
    // A server of its own: the restart cuts every connection to it.
    let cluster = PgCluster::start();
    let url = cluster.url("restart");
    let writes = env_or("REWIND_PG_WRITES", 60).max(40);
    let writers: Vec<Writer> = (0..2)
        .map(|i| {
            spawn(
                &url,
                if i == 0 { "shared" } else { "own" },
                &format!("r{i}"),
                writes,
            )
        })
        .collect();
    // Restart once the writers are going.
    let deadline = Instant::now() + Duration::from_secs(30);
    while cluster.psql(
        "SELECT coalesce(sum(n_live_tup), 0) FROM pg_stat_user_tables WHERE schemaname = 'rewind' \
         AND relname LIKE 'log%'",
    ) == "0"
        && Instant::now() < deadline
    {
        thread::sleep(Duration::from_millis(20));
    }
    cluster.restart(Duration::from_millis(500));
    let acked: Vec<Acked> = writers.into_iter().flat_map(Writer::finish).collect();
    assert_eq!(
        acked.len() as u64,
        2 * writes,
        "every writer finished by itself"
    );
    check(&url, &acked);
}

/// Bytes the tables of the store's `kind` (`log`, `index`) take on the server (heap, TOAST
/// and indexes).
fn relation_bytes(cluster: &PgCluster, store_id: i64, kind: &str) -> u64 {
    cluster
        .psql(&format!(
            "SELECT coalesce(sum(pg_total_relation_size(format('rewind.%I', tablename))), 0) \
             FROM pg_tables WHERE schemaname = 'rewind' \
             AND tablename LIKE '{kind}\\_{store_id}\\_%'"
        ))
        .parse()
        .expect("a size")
}

#[test]
fn a_compaction_beside_two_writers_loses_nothing_and_gives_the_space_back() {
    let cluster = PgCluster::shared();
    let url = cluster.url(&PgCluster::unique_store("compaction"));
    let location = PgLocation::parse(&url).expect("URL");
    let compactor =
        PgStore::open(&location, PgOptions::default(), rewind::Options::default()).expect("open");
    // An old session the compaction removes (all but its head).
    let old = compactor
        .create_session("old", Default::default())
        .expect("session");
    for n in 0..150 {
        compactor
            .checkpoint(NewCheckpoint::new(
                old,
                format!("old {n}"),
                &rewind_tests::noise(8192, n),
            ))
            .expect("old checkpoint");
    }
    let store_id = compactor.read(|s| s.backend().store_id());
    let writes = env_or("REWIND_PG_WRITES", 60).max(300);
    let writers: Vec<Writer> = (0..2)
        .map(|i| spawn(&url, "own", &format!("c{i}"), writes))
        .collect();
    // Compact once the writers are going.
    let deadline = Instant::now() + Duration::from_secs(30);
    while compactor.refresh().is_ok()
        && compactor.metrics().checkpoints < 170
        && Instant::now() < deadline
    {
        thread::sleep(Duration::from_millis(5));
    }
    let before = relation_bytes(cluster, store_id, "log");
    let report = compactor
        .compact(&RetentionPolicy::keep_last(1).session(old))
        .expect("compact beside the writers");
    let after = relation_bytes(cluster, store_id, "log");
    let snapshots = relation_bytes(cluster, store_id, "index");
    let switched_at = compactor.read(|s| s.metrics().next_seq);
    assert_eq!(report.removed, 149);
    assert!(report.log_bytes_after < report.log_bytes_before);
    let acked: Vec<Acked> = writers.into_iter().flat_map(Writer::finish).collect();
    assert!(
        acked.iter().any(|a| a.seq > switched_at),
        "the writers went on writing after the switch"
    );
    check(&url, &acked);
    let generation = compactor.read(|s| s.backend().generation());
    assert_eq!(generation, 1);
    let tables = cluster.psql(&format!(
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables \
         WHERE schemaname = 'rewind' AND tablename LIKE 'log\\_{store_id}\\_%'"
    ));
    assert_eq!(
        tables,
        format!("log_{store_id}_1"),
        "the old generation is dropped"
    );
    // Measured just before and just after the compaction: the writers add a little meanwhile,
    // the dropped generation takes away what the compaction removed from the log.
    let removed = report.log_bytes_before - report.log_bytes_after;
    assert!(
        after + removed / 2 < before,
        "the log's tables take {after} bytes after a compaction that removed {removed} bytes \
         of log, {before} before"
    );
    eprintln!(
        "compaction: log {} -> {} bytes; log relations {before} -> {after} bytes, snapshot \
         relation {snapshots} bytes (with {} writes landed meanwhile)",
        report.log_bytes_before,
        report.log_bytes_after,
        acked.len()
    );
}

#[test]
fn a_follower_hears_of_another_process_writes_as_they_land() {
    let cluster = PgCluster::shared();
    let url = cluster.url(&PgCluster::unique_store("follow"));
    // The store exists before the follower opens it.
    spawn(&url, "own", "first", 1).finish();
    let follower = open(&url);
    let (tx, rx) = mpsc::channel();
    follower.on_event(move |e| {
        if let Event::Created { checkpoint, .. } = e {
            let _ = tx.send(*checkpoint);
        }
    });
    // A long poll: the wake-up comes from NOTIFY.
    follower.follow(Duration::from_secs(30)).expect("follow");
    let acked = spawn(&url, "own", "second", 5).finish();
    let mut heard = Vec::new();
    while heard.len() < acked.len() {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(id) => heard.push(id),
            Err(_) => panic!("heard {} of {} writes", heard.len(), acked.len()),
        }
    }
    let ids: Vec<CheckpointId> = acked.iter().map(|a| a.id).collect();
    assert_eq!(heard, ids);
    assert_eq!(follower.metrics().checkpoints, 6);
}
