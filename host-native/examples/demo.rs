//! A tour of rewind on an in-memory store: an agent debugs a failing test, checkpoints as it
//! goes, notices a wrong turn, travels back, forks, compares, annotates and compacts.
//!
//! Run it with `cargo run --release -p rewind --example demo`.

use rewind::{
    AutoPolicy, MemoryBackend, MemoryStore, NewCheckpoint, Options, Query, RetentionPolicy,
    Severity, Store, SystemEnv, TriggerKind,
};
use serde_json::{Value, json};

fn main() -> Result<(), rewind::Error> {
    // Automatic checkpoints at most every 30 s, not suppressed by manual ones.
    let options =
        Options::default().auto(AutoPolicy::every(30_000).counting(TriggerKind::Manual, false));
    let (mut store, _) = Store::open(MemoryBackend::new(), SystemEnv::new(), options)?;
    let session = store.create_session(
        "fix flaky test",
        json!({"agent": "debugger", "model": "small"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    )?;
    println!("session {session} created\n");

    let mut conversation = Conversation::default();
    let steps = [
        ("user", "test_checkout fails one run in five", "plan"),
        (
            "assistant",
            "I will read the test and the checkout code",
            "plan",
        ),
        (
            "tool",
            "read tests/checkout.rs: uses a shared temp dir",
            "tool",
        ),
        (
            "assistant",
            "hypothesis: tests race on the temp dir",
            "hypothesis",
        ),
        ("tool", "ran the test 50 times: 9 failures", "tool"),
        (
            "assistant",
            "patch: add a global lock around the test",
            "patch",
        ),
    ];
    let mut ids = Vec::new();
    for (i, (role, text, tag)) in steps.iter().enumerate() {
        conversation.push(role, text);
        let state = conversation.bytes();
        let cp = store.checkpoint(
            NewCheckpoint::new(session, format!("step {}: {text}", i + 1), &state)
                .tag(*tag)
                .meta("step", i as u64 + 1),
        )?;
        println!(
            "  #{:<2} {}  {:<11} {}",
            cp.seq,
            short(cp.id),
            tag,
            cp.message
        );
        ids.push(cp.id);
    }

    // Before context compaction an agent saves automatically; the policy throttles repeats.
    let state = conversation.bytes();
    for _ in 0..2 {
        let auto = store.auto_checkpoint(
            NewCheckpoint::new(session, "context nearly full", &state),
            "context compaction",
        )?;
        match auto {
            Some(cp) => println!(
                "  #{:<2} {}  automatic   {}",
                cp.seq,
                short(cp.id),
                cp.message
            ),
            None => println!("      automatic checkpoint skipped: one was taken moments ago"),
        }
    }

    // The global lock hid the race instead of fixing it. Travel back to the hypothesis and fork.
    let wrong_turn = ids[5];
    store.annotate(
        wrong_turn,
        "lock hides the race; the temp dir must be per test",
        Severity::Critical,
    )?;
    let restored = store.restore(ids[3])?;
    println!(
        "\nrestored {} ({} bytes of state); the next checkpoint forks from there",
        short(restored.checkpoint),
        restored.state.len()
    );
    conversation = Conversation::from_bytes(&restored.state);
    conversation.push("assistant", "patch: give each test its own temp dir");
    let fork_state = conversation.bytes();
    store.checkpoint(
        NewCheckpoint::new(session, "fork: per-test temp dir", &fork_state).tag("patch"),
    )?;
    conversation.push("tool", "ran the test 200 times: 0 failures");
    let fixed_state = conversation.bytes();
    let fixed = store
        .checkpoint(NewCheckpoint::new(session, "verified fix", &fixed_state).tag("milestone"))?
        .id;

    println!("\nbranches of the session:");
    for tip in store.branches(session)? {
        let path: Vec<String> = store
            .history(tip.id)?
            .map(|c| format!("#{}", c.seq))
            .collect();
        println!("  {}  {}", path.join(" <- "), tip.message);
    }

    let diff = store.diff(wrong_turn, fixed)?;
    println!(
        "\ndiff {} -> {}: {} seq apart, tags +{:?} -{:?}, {} -> {} bytes, {:.0}% of bytes shared",
        short(wrong_turn),
        short(fixed),
        diff.seq_delta,
        diff.tags_added,
        diff.tags_removed,
        diff.from_len,
        diff.to_len,
        diff.shared_ratio * 100.0
    );
    if let Some(patch) = &diff.state_patch {
        for op in patch {
            let mut line = serde_json::to_string(op).unwrap_or_default();
            if line.len() > 100 {
                line.truncate(line.floor_char_boundary(97));
                line.push_str("...");
            }
            println!("  {line}");
        }
    }

    let tagged = store.list(&Query::new().session(session).tag("tool"))?;
    println!("\ncheckpoints tagged 'tool': {}", tagged.items.len());
    print_metrics("before compaction", &store);

    let policy = RetentionPolicy::hybrid(3, ["milestone", "hypothesis"]);
    let plan = store.plan_compaction(&policy)?;
    println!("\ncompaction plan (keep 3 newest + milestone/hypothesis tags):");
    for (id, reason) in &plan.remove {
        println!("  remove {}  {:?}", short(*id), reason);
    }
    for (id, reason) in &plan.protected {
        println!("  keep   {}  {:?}", short(*id), reason);
    }
    let report = store.apply_compaction(&plan)?;
    println!(
        "removed {} checkpoints; log {} -> {} bytes",
        report.removed, report.log_bytes_before, report.log_bytes_after
    );
    print_metrics("after compaction", &store);

    let verify = store.verify();
    println!(
        "\nverify: {} checkpoints, {} chunks, {}",
        verify.checkpoints,
        verify.chunks,
        if verify.is_ok() {
            "hash chain intact"
        } else {
            "TAMPERED"
        }
    );
    Ok(())
}

fn print_metrics(when: &str, store: &MemoryStore) {
    let m = store.metrics();
    println!(
        "{when}: {} checkpoints, {} logical bytes stored as {} ({:.1}x dedup)",
        m.checkpoints,
        m.logical_bytes,
        m.stored_bytes,
        m.dedup_ratio()
    );
}

/// The last 8 hex digits: the random part of a UUID v7 (its leading digits are the timestamp,
/// shared by everything created in the same moment).
fn short(id: rewind::CheckpointId) -> String {
    let text = id.to_string();
    text[text.len() - 8..].to_string()
}

/// A chat transcript as the agent's state.
#[derive(Default)]
struct Conversation {
    messages: Vec<Value>,
}

impl Conversation {
    fn push(&mut self, role: &str, text: &str) {
        // Pad each message like a real transcript (tool output is long).
        let body = format!("{text}\n{}", "log line ...\n".repeat(40));
        self.messages.push(json!({"role": role, "content": body}));
    }

    fn bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&json!({ "messages": self.messages })).unwrap_or_default()
    }

    fn from_bytes(bytes: &[u8]) -> Self {
        let value: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
        let messages = value["messages"].as_array().cloned().unwrap_or_default();
        Conversation { messages }
    }
}
