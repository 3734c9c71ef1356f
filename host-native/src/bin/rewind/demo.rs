//! `rewind demo`: an agent debugs a flaky test, checkpointing as it goes; it takes a wrong
//! turn, gets an automatic checkpoint before its context is compacted, travels back, forks,
//! and fixes the bug. Then the demo shows the branches, a diff and the store's statistics.

use rewind::{
    AutoPolicy, Durability, FileOptions, FileStore, NewCheckpoint, Options, Severity, TriggerKind,
};
use serde_json::{Value, json};

use crate::args::{DemoArgs, LogArgs};
use crate::failure::Failure;
use crate::{Ctx, inspect, render};

const STEPS: [(&str, &str, &str); 7] = [
    (
        "user",
        "test_checkout fails about one run in five on CI",
        "task",
    ),
    (
        "assistant",
        "plan: read the test, run it in a loop, look for shared state",
        "plan",
    ),
    (
        "tool",
        "read tests/checkout.rs: every test writes to /tmp/checkout",
        "tool",
    ),
    (
        "assistant",
        "hypothesis: tests run in parallel and race on the temp dir",
        "hypothesis",
    ),
    (
        "tool",
        "cargo test -- --test-threads=8, 50 runs: 9 failures",
        "tool",
    ),
    (
        "assistant",
        "patch: serialise the tests with a global mutex",
        "patch",
    ),
    (
        "tool",
        "50 runs: 0 failures, but the suite is 6x slower",
        "tool",
    ),
];

pub fn run(ctx: &Ctx, args: DemoArgs) -> Result<(), Failure> {
    let dir = match args.into {
        Some(dir) => {
            let busy = std::fs::read_dir(&dir)
                .map(|mut d| d.next().is_some())
                .unwrap_or(false);
            if busy {
                return Err(Failure::usage(format!(
                    "{} is not empty; the demo records into a new store",
                    dir.display()
                )));
            }
            dir
        }
        None => std::env::temp_dir().join(format!(
            "rewind-demo-{}-{}",
            std::process::id(),
            inspect::now_ms()
        )),
    };
    let options = FileOptions::default().durability(Durability::Always).store(
        Options::default().auto(AutoPolicy::every(30_000).counting(TriggerKind::Manual, false)),
    );
    let mut store = FileStore::open(&dir, options)?;
    let s = &ctx.style;
    println!(
        "{} {}\n",
        s.bold("recording a demo session into"),
        dir.display()
    );

    let session = store.create_session(
        "debug flaky checkout test",
        json!({"agent": "debugger", "model": "small"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    )?;
    let mut conversation: Vec<Value> = Vec::new();
    let mut ids = Vec::new();
    for (i, (role, text, tag)) in STEPS.iter().enumerate() {
        conversation.push(message(role, text));
        let state = to_state(&conversation);
        let cp = store.checkpoint(
            NewCheckpoint::new(session, *text, &state)
                .tag(*tag)
                .meta("step", i as u64 + 1),
        )?;
        println!("  saved   @{:<2} [{tag}] {text}", cp.seq);
        ids.push(cp.id);
    }

    // The context window is nearly full: the agent saves automatically before compaction.
    let state = to_state(&conversation);
    if let Some(cp) = store.auto_checkpoint(
        NewCheckpoint::new(session, "context 90% full", &state),
        "before context compaction",
    )? {
        println!(
            "  auto    @{:<2} context 90% full (before context compaction)",
            cp.seq
        );
    }
    if store
        .auto_checkpoint(
            NewCheckpoint::new(session, "context 91% full", &state),
            "again",
        )?
        .is_none()
    {
        println!("  auto       skipped: the throttling policy saw one moments ago");
    }

    // A reviewer marks the wrong turn; the agent travels back to the hypothesis and forks.
    let wrong = ids[5];
    store.annotate(
        wrong,
        "a global mutex hides the race instead of fixing it",
        Severity::Critical,
    )?;
    println!(
        "\n  annotated @{} as critical: the wrong turn",
        store.get(wrong)?.seq
    );
    let hypothesis = ids[3];
    let restored = store.restore(hypothesis)?;
    println!(
        "  restored  @{} ({} bytes): the next checkpoint forks from there",
        store.get(hypothesis)?.seq,
        restored.state.len()
    );
    let mut fork: Vec<Value> = serde_json::from_slice::<Value>(&restored.state)
        .ok()
        .and_then(|v| v["messages"].as_array().cloned())
        .unwrap_or_default();
    let mut fixed = hypothesis;
    for (role, text, tag) in [
        (
            "assistant",
            "patch: give every test its own temp dir",
            "patch",
        ),
        (
            "tool",
            "200 runs in parallel: 0 failures, full speed",
            "milestone",
        ),
    ] {
        fork.push(message(role, text));
        let state = to_state(&fork);
        let cp = store.checkpoint(NewCheckpoint::new(session, text, &state).tag(tag))?;
        println!("  saved   @{:<2} [{tag}] {text}", cp.seq);
        fixed = cp.id;
    }

    // What the inspector shows of it, from the same open store.
    let view = Ctx {
        store: dir.clone(),
        location: rewind::StoreLocation::Dir(dir.clone()),
        json: false,
        style: ctx.style,
        wait: ctx.wait,
    };
    println!("\n{}", s.bold("$ rewind log --graph"));
    let graph = LogArgs {
        session: None,
        graph: true,
        tags: Vec::new(),
        trigger: None,
        since: None,
        until: None,
        limit: None,
        follow: false,
    };
    render::show(&view, &*inspect::log(&store, graph)?)?;
    println!("{}", s.bold("$ rewind diff <wrong turn> <fix>"));
    render::show(
        &view,
        &inspect::diff(&store, &wrong.to_string(), &fixed.to_string())?,
    )?;
    println!("\n{}", s.bold("$ rewind stats"));
    render::show(
        &view,
        &inspect::file_stats(&store, dir.display().to_string()),
    )?;
    println!(
        "\nexplore it: rewind --store {} log --graph | show latest | verify | compact --keep 3 --dry-run",
        dir.display()
    );
    Ok(())
}

fn message(role: &str, text: &str) -> Value {
    // Tool output is long in real transcripts; pad so the states have realistic sizes.
    let body = if role == "tool" {
        format!("{text}\n{}", "    test checkout::pays ... ok\n".repeat(60))
    } else {
        text.to_string()
    };
    json!({"role": role, "content": body})
}

fn to_state(messages: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({ "messages": messages })).unwrap_or_default()
}
