#!/usr/bin/env bash
# Stores on PostgreSQL measured in one run on one throwaway server (syncing its write-ahead
# log at every commit, as a production server does): rewind's fleet of 1, 4 and 8 writer
# processes and its 1,000-step growing conversation (benches/src/bin/pg_fleet.rs), then
# LangGraph's PostgresSaver on the same conversation (host-wasm/npm/bench/postgres-saver.bench.mjs).
#
#   scripts/bench-postgres.sh [checkpoints per fleet writer, default 1000]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rewind/target}"
count="${1:-1000}"

bin="$(dirname "$(command -v initdb 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/initdb | tail -1)")"
dir="$(mktemp -d /tmp/rwbench.XXXXXX)"
as=()
if [ "$(id -u)" = 0 ]; then
    chown postgres: "$dir"
    as=(runuser -u postgres --)
fi
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"${as[@]}" "$bin/initdb" -D "$dir/data" -A trust -U rewind -E UTF8 --locale=C >/dev/null
"${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-k $dir -p $port -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
trap '"${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null; rm -rf "$dir"' EXIT
url="postgres://rewind@127.0.0.1:$port/postgres"

echo "== rewind (Rust API), $(nproc) cores, $(date -u +%Y-%m-%d)"
cargo run --quiet --release -p rewind-benches --bin pg_fleet -- --url "$url" --count "$count"
echo
echo "== LangGraph PostgresSaver (Node.js $(node --version))"
(cd host-wasm/npm && node bench/postgres-saver.bench.mjs "$url")
