#!/usr/bin/env bash
# Runs every rewind test on this machine, installing what the tests need first.
# Idempotent: a second run installs nothing and reuses the build directory.
set -euo pipefail

cd "$(dirname "$0")/.."

# Builds go to a directory outside the checkout so fresh clones reuse earlier work.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rewind/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n== %s\n' "$*"; }

step "toolchain targets"
installed="$(rustup target list --installed)"
for target in wasm32-unknown-unknown wasm32-wasip2 thumbv7em-none-eabihf; do
    grep -qx "$target" <<<"$installed" || rustup target add "$target"
done
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed | grep -q '^clippy' || rustup component add clippy

step "wasm-bindgen CLI (the version the crate pins)"
wbg_version="$(sed -n 's/^wasm-bindgen = "=\(.*\)"/\1/p' Cargo.toml)"
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $wbg_version" ]; then
    cargo install wasm-bindgen-cli --version "$wbg_version"
fi

step "Chromium for the browser tests"
if [ ! -x /usr/bin/chromium ]; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
fi

step "PostgreSQL server binaries for the tests of stores on PostgreSQL"
# The tests start (and remove) their own throwaway server; only the binaries are needed.
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
fi

step "iproute2 and openssl for the network and TLS tests of stores on PostgreSQL"
if ! command -v ip >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y iproute2 openssl
fi

step "format"
cargo fmt --all -- --check
cargo fmt --manifest-path host-wasm/sandbox/guest/Cargo.toml -- --check

step "the sandbox component (wasm32-wasip2)"
cargo build --release --locked --target wasm32-wasip2 \
    --manifest-path host-wasm/sandbox/guest/Cargo.toml
cargo clippy --release --locked --target wasm32-wasip2 \
    --manifest-path host-wasm/sandbox/guest/Cargo.toml -- -D warnings
export REWIND_SANDBOX_WASM="$CARGO_TARGET_DIR/wasm32-wasip2/release/rewind_store.wasm"

step "lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "rewind-core builds without std (wasm32, thumbv7em)"
cargo build -p rewind-core --locked --target wasm32-unknown-unknown
cargo build -p rewind-core --locked --target thumbv7em-none-eabihf

step "rewind-wasm builds for wasm32"
cargo build -p rewind-wasm --locked --target wasm32-unknown-unknown

step "docs (every public item documented, links resolve)"
# (rewind-sandbox and the benches, which link it, have their docs checked by clippy's
# missing_docs; documenting them would compile wasmtime once more.)
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --exclude rewind-sandbox \
    --exclude rewind-benches --no-deps --locked

step "benches compile"
cargo bench --workspace --locked --no-run

step "tests"
cargo test --workspace --exclude rewind-sandbox --exclude rewind-benches --locked

step "sandbox tests in wasmtime, and the bench helpers (bench profile: the build the benches made)"
# The same profile as `cargo bench`, so wasmtime is compiled once.
cargo test --profile bench -p rewind-sandbox -p rewind-benches --locked

step "npm package: build, then Node.js and headless Chromium tests"
cargo build -p rewind --bin rewind --locked
export REWIND_BIN="$CARGO_TARGET_DIR/debug/rewind"
(
    cd host-wasm/npm
    npm ci --no-audit --no-fund
    bash scripts/build.sh
    bash scripts/build.sh --conformance
    node --test test/
)
