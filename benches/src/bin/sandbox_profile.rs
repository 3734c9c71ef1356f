//! Repeats one of the sandbox suite's operations in a loop, natively or inside the component, so
//! that a sampling profiler can say where its time goes:
//!
//! ```sh
//! cargo build --profile bench -p rewind-benches --bin sandbox_profile
//! perf record -g target/release/sandbox_profile restore wasmtime 200000
//! perf report --no-children
//! ```
//!
//! Operations: `create`, `list`, `restore`, `compact`, `export`, and `call` (`health`, the
//! cost of a call that does next to nothing); sides: `native`, `wasmtime`.
//! The workloads are the `suite` bench's: fresh ~3 KB states (10 KB for `restore`), 100
//! checkpoints to list, restore from and export, 100 compacted to 10. Code the component runs
//! shows up as unnamed JIT frames: the time outside them is the boundary's (lifting, lowering,
//! host calls, allocations).

use std::hint::black_box;

use rewind_benches::{BenchStore, agent_state, memory_store, sandbox_component};
use rewind_core::{
    DeterministicEnv, MemoryBackend, NewCheckpoint, Query, RetentionPolicy, SessionId,
};
use rewind_sandbox::{
    Limits, Sandbox, SandboxStore, SummaryFields, input, options, query, retention, summaries,
};

const STATE_BYTES: usize = 3_000;
const RESTORE_BYTES: usize = 10_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(op), Some(side)) = (args.first(), args.get(1)) else {
        eprintln!("usage: sandbox_profile create|list|restore|compact|export native|wasmtime [N]");
        std::process::exit(2);
    };
    let n: u64 = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let mut seed = 1_000_000u64;
    let mut fresh = |bytes: usize| {
        seed += 1;
        agent_state(bytes, seed)
    };
    // Fresh states for `create`, made before the loop (a profile shows their making apart).
    let count = if op == "create" { n as usize } else { 0 };
    let mut states = (0..count)
        .map(|i| agent_state(STATE_BYTES, 1 + i as u64))
        .collect::<Vec<_>>()
        .into_iter();
    let bytes = if op == "restore" {
        RESTORE_BYTES
    } else {
        STATE_BYTES
    };
    match side.as_str() {
        "native" => {
            let populate = |fresh: &mut dyn FnMut(usize) -> Vec<u8>| {
                let mut store = memory_store();
                let session = store.create_session("bench", Default::default()).unwrap();
                let mut last = None;
                for i in 0..100 {
                    let state = fresh(bytes);
                    let new = NewCheckpoint::new(session, format!("step {i}"), &state);
                    last = Some(store.checkpoint(new).unwrap().id);
                }
                (store, session, last.unwrap())
            };
            let (mut store, session, last): (BenchStore, SessionId, _) = populate(&mut fresh);
            for _ in 0..n {
                match op.as_str() {
                    "create" => {
                        let state = states.next().unwrap();
                        let new = NewCheckpoint::new(session, "step", &state);
                        black_box(store.checkpoint(new).unwrap().seq);
                    }
                    "list" => {
                        let page = store.list(&Query::new()).unwrap();
                        let sum: usize = page
                            .items
                            .iter()
                            .map(|cp| cp.message.len() + cp.tags.len() + cp.seq as usize)
                            .sum();
                        black_box(sum);
                    }
                    "restore" => {
                        black_box(store.restore(last).unwrap().state.len());
                    }
                    "call" => {
                        black_box(store.health().ok);
                    }
                    "compact" => {
                        let (mut store, _, _) = populate(&mut fresh);
                        store.compact(&RetentionPolicy::keep_last(10)).unwrap();
                    }
                    "export" => {
                        black_box(store.export_binary(Some(&[session])).unwrap().len());
                    }
                    other => panic!("unknown operation {other}"),
                }
            }
        }
        "wasmtime" => {
            let sandbox = Sandbox::from_file(sandbox_component(), Limits::default()).unwrap();
            let populate = |fresh: &mut dyn FnMut(usize) -> Vec<u8>| {
                let mut store = sandbox
                    .open(MemoryBackend::new(), DeterministicEnv::new(), &options())
                    .unwrap()
                    .unwrap();
                let session = store.create_session("bench", "").unwrap().unwrap();
                let mut last = String::new();
                for i in 0..100 {
                    let state = fresh(bytes);
                    let new = input(&session, &format!("step {i}"));
                    last = store.checkpoint(&new, &state).unwrap().unwrap().id;
                }
                (store, session, last)
            };
            let (mut store, session, last): (SandboxStore, String, String) = populate(&mut fresh);
            for _ in 0..n {
                match op.as_str() {
                    "create" => {
                        let state = states.next().unwrap();
                        let new = input(&session, "step");
                        black_box(store.checkpoint(&new, &state).unwrap().unwrap().seq);
                    }
                    "list" => {
                        let fields = SummaryFields {
                            message: true,
                            tags: true,
                        };
                        let page = store.list_summaries(&query(), fields).unwrap().unwrap();
                        let sum: usize = summaries(&page)
                            .unwrap()
                            .iter()
                            .map(|s| s.message.len() + s.tags.count() + s.seq as usize)
                            .sum();
                        black_box(sum);
                    }
                    "restore" => {
                        black_box(store.restore(&last).unwrap().unwrap().len());
                    }
                    "call" => {
                        black_box(store.health().unwrap().ok);
                    }
                    "compact" => {
                        let (mut store, _, _) = populate(&mut fresh);
                        let mut keep = retention();
                        keep.keep_last = Some(10);
                        store.compact(&keep).unwrap().unwrap();
                    }
                    "export" => {
                        black_box(store.export_binary().unwrap().unwrap().len());
                    }
                    other => panic!("unknown operation {other}"),
                }
            }
        }
        other => panic!("unknown side {other}"),
    }
}
