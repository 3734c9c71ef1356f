//! Writers on other hosts: each writer runs in a network namespace of its own and reaches the
//! server over a veth link, as machines on a network would. One writer's link is cut in the
//! middle of the run and restored: while it is cut the others go on writing, and when it comes
//! back the cut-off writer — whose view of the store is now stale — appends nothing stale: its
//! next write lands after the others', as the chain check shows.
//!
//! Needs root (network namespaces). `REWIND_PG_WRITES` sets the writes per writer (default
//! 60), `REWIND_PG_CUTS` how many times a link is cut (default 1).

use std::thread;
use std::time::{Duration, Instant};

use rewind_tests::pg_writers::{Acked, Writer, check, spread};
use rewind_tests::{NetHost, PgCluster};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_writer_cut_off_from_the_server_appends_nothing_stale() {
    let subnet = 70 + (std::process::id() % 50) as u8;
    let hosts: Vec<NetHost> = (0..3)
        .map(|i| NetHost::new(subnet, i).unwrap_or_else(|e| panic!("make network host {i}: {e}")))
        .collect();
    let cluster = PgCluster::start_listening("*", &[&format!("10.{subnet}.0.0/16")]);
    let writes = env_or("REWIND_PG_WRITES", 60).max(40);
    let cuts = env_or("REWIND_PG_CUTS", 1);
    let writers: Vec<Writer> = hosts
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let url = cluster.url_at(&host.gateway, "network");
            let mut cmd = host.command(env!("CARGO_BIN_EXE_pg_writer"));
            // Every writer in the one session: a stale append would fork its chain.
            cmd.args([
                &url,
                "shared",
                &format!("n{i}"),
                &(writes * (1 + cuts)).to_string(),
            ]);
            Writer::spawn(cmd)
        })
        .collect();
    for cut in 0..cuts {
        let victim = &hosts[(cut % 3) as usize];
        let others: Vec<&Writer> = writers
            .iter()
            .enumerate()
            .filter(|(i, _)| *i as u64 != cut % 3)
            .map(|(_, w)| w)
            .collect();
        wait_until("the writers are going", || {
            writers
                .iter()
                .all(|w| w.acknowledged() > 5 + cut as usize * 10)
        });
        victim.cut().expect("cut the link");
        let before: usize = others.iter().map(|w| w.acknowledged()).sum();
        // The others go on while one is cut off.
        wait_until("the others write 20 more", || {
            others.iter().map(|w| w.acknowledged()).sum::<usize>() >= before + 20
        });
        thread::sleep(Duration::from_millis(500));
        victim.restore().expect("restore the link");
    }
    let mut acked: Vec<Acked> = Vec::new();
    let mut retries = Vec::new();
    for writer in writers {
        let (mine, planned_again) = writer.finish_counting();
        acked.extend(mine);
        retries.push(planned_again);
    }
    assert_eq!(acked.len() as u64, 3 * writes * (1 + cuts));
    // The cut-off writer came back behind the others: it had to plan again.
    assert!(retries[0] > 0, "retries per writer: {retries:?}");
    check(&cluster.url("network"), &acked);
    eprintln!(
        "{cuts} cut(s): {}; writes planned again per writer: {retries:?}",
        spread(&acked)
    );
}
