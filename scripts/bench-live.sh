#!/usr/bin/env bash
# rewind beside the reference (forgekit-reasoning 0.5.0), measured in the same process group by
# group (benches/README.md): two runs of the `suite` bench with the reference, then the report of
# both (only ratios of the same run; the two runs give their spread). The root README's table is
# its output.
#
#   scripts/bench-live.sh                 every group
#   scripts/bench-live.sh compaction      a filter, as criterion takes it
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rewind/target}"
times=(--warm-up-time "${WARM_UP_SECONDS:-1}" --measurement-time "${MEASURE_SECONDS:-3}")
for run in run1 run2; do
    cargo bench -p rewind-benches --features reference --bench suite -- \
        "${times[@]}" --save-baseline "$run" "$@"
done
cargo run -q -p rewind-benches --bin report -- run1 run2
