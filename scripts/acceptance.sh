#!/usr/bin/env bash
# Heavy acceptance runs whose figures go into the issue notes and the README's reliability
# section. Not part of the test command (scripts/test.sh runs a short subset of each).
#
#   KILLS=2000 POWER_LOSS_SEEDS=10000 FUZZ_SECONDS=300 scripts/acceptance.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rewind/target}"
step() { printf '\n== %s\n' "$*"; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

step "SIGKILL loop: ${KILLS:=2000} kills of writers under Durability::Always"
REWIND_CRASH_KILLS="$KILLS" cargo test --release -p rewind-tests --test crash -- --nocapture 2>&1 |
    grep -E 'kills|test result'

step "random writes on backends failing ${FAULT_SEEDS:=5000} seeds' worth of random calls"
FAULT_SEEDS="$FAULT_SEEDS" cargo test --release -p rewind-core --test reopen -- \
    writes_refused 2>&1 | grep -E 'test result'

step "power cuts on a simulated disk: ${POWER_LOSS_SEEDS:=10000} random write sequences"
POWER_LOSS_SEEDS="$POWER_LOSS_SEEDS" cargo test --release -p rewind-tests --test power_loss -- \
    --nocapture power_cuts 2>&1 | grep -E 'PowerLossReport|test result'

step "power cuts during background snapshot merges: ${POWER_LOSS_MERGE_SEEDS:=2000} runs (SharedStore and FileStore)"
POWER_LOSS_MERGE_SEEDS="$POWER_LOSS_MERGE_SEEDS" cargo test --release -p rewind-tests \
    --test power_loss -- --nocapture background 2>&1 | grep -E 'merges installed|test result'

step "power cuts during group commits: ${POWER_LOSS_GROUP_SEEDS:=5000} runs of four SharedStore writer threads"
POWER_LOSS_GROUP_SEEDS="$POWER_LOSS_GROUP_SEEDS" cargo test --release -p rewind-tests \
    --test power_loss -- --nocapture group_commits 2>&1 | grep -E 'group commits|test result'

step "a live writer of ${LIVE_CHECKPOINTS:=2000} checkpoints, three CLI readers and rewind watch"
LIVE_CHECKPOINTS="$LIVE_CHECKPOINTS" cargo test --release -p rewind --test live -- --nocapture \
    2>&1 | grep -E 'checkpoints written|test result'

step "two CLI writers of ${TWO_WRITERS_EACH:=500} checkpoints each, waiting their turn"
TWO_WRITERS_EACH="$TWO_WRITERS_EACH" cargo test --release -p rewind --test cli -- \
    two_writers 2>&1 | grep -E 'test result'

step "repair of a store with one damaged 64 MiB frame (release CLI)"
cargo build --release -p rewind --bin rewind
REWIND_ACCEPT_DIR="$work/damaged" cargo test --release -p rewind-tests --test acceptance \
    -- --ignored store_with_a_damaged_64_mib_frame >/dev/null
/usr/bin/time -f 'repair: %e s, %M KiB peak' \
    "$CARGO_TARGET_DIR/release/rewind" --store "$work/damaged" repair "$work/repaired"

step "open-fast: fresh processes on a store of ${BIG_CHECKPOINTS:=1000000} checkpoints of ~3 KB states"
REWIND_ACCEPT_DIR="$work/big" REWIND_ACCEPT_CHECKPOINTS="$BIG_CHECKPOINTS" \
    cargo test --release -p rewind-tests --test acceptance -- --ignored store_of_many_checkpoints \
    >/dev/null
rewind="$CARGO_TARGET_DIR/release/rewind"
measure() {
    /usr/bin/time -f "$1: %e s, %M KiB peak" "$rewind" --store "$work/big" "${@:2}" >/dev/null
}
"$rewind" --store "$work/big" stats --json |
    python3 -c 'import json,sys; s=json.load(sys.stdin); print("log bytes per checkpoint:", s["log_bytes"] // s["checkpoints"], "| index:", s["index"])'
ls -l "$work/big"/INDEX*
du -sh "$work/big"
for how in snapshot replay; do
    if [ "$how" = replay ]; then
        mkdir "$work/aside"
        mv "$work/big"/INDEX* "$work/aside/"
    fi
    measure "$how: stats" stats
    measure "$how: log -n 10" log -n 10
    measure "$how: show latest" show latest
    measure "$how: writer open + one checkpoint (+ writing the snapshot or its delta at close)" \
        checkpoint -m "one more" -s "$("$rewind" --store "$work/big" session list --json |
            python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')"
done
rm -rf "$work/big"

step "open-fast in Chromium: reloading a tab on an IndexedDB store of ${IDB_CHECKPOINTS:=100000} checkpoints"
(
    cd host-wasm/npm
    npm ci --no-audit --no-fund >/dev/null
    bash scripts/build.sh >/dev/null
    node bench/reload.mjs "$IDB_CHECKPOINTS"
)

step "Node.js file stores: ${NODE_KILLS:=200} SIGKILLs of a strict writer, ${NODE_POWER_SEEDS:=2000} power cuts"
cargo build -p rewind --bin rewind -p rewind-tests --bin crash_writer 2>&1 | tail -1
(
    cd host-wasm/npm
    REWIND_BIN="$CARGO_TARGET_DIR/debug/rewind" REWIND_NODE_KILLS="$NODE_KILLS" \
        REWIND_NODE_POWER_SEEDS="$NODE_POWER_SEEDS" \
        node --test --test-name-pattern="SIGKILL|power cuts" test/files.test.mjs 2>&1 |
        grep -E '^ *# [0-9]+ (kills|power cuts)|^# (pass|fail)'
)

step "PostgreSQL: 4 writer processes x ${PG_WRITES:=1000} checkpoints, ${PG_KILLS:=120} kills, a server restart, a compaction beside writers, ${PG_CUTS:=3} network cuts"
REWIND_PG_WRITES="$PG_WRITES" REWIND_PG_KILLS="$PG_KILLS" REWIND_PG_CUTS="$PG_CUTS" \
    cargo test --release -p rewind-tests --test postgres --test postgres_network -- \
    --nocapture --test-threads 1 2>&1 | grep -E 'session:|kills:|compaction:|cut|test result'

step "PostgreSQL: the writer fleet and the growing conversation against LangGraph's PostgresSaver"
scripts/bench-postgres.sh "$PG_WRITES"

step "fuzzing: ${FUZZ_SECONDS:=300} s per target from the seeds (both format versions)"
if ! command -v cargo-fuzz >/dev/null; then
    cargo install cargo-fuzz
fi
(
    cd fuzz
    for target in open_log open_snapshot open_snapshot_delta import_binary import_json; do
        mkdir -p "$work/corpus/$target"
        cp -r "seeds/$target/." "$work/corpus/$target/"
        RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "$work/corpus/$target" -- \
            -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 2>&1 |
            grep -E 'stat::number_of_executed_units|stat::peak_rss_mb|SUMMARY|panicked' |
            sed "s/^/$target: /"
    done
)
