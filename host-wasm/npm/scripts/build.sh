#!/usr/bin/env bash
# Builds the npm package from the rewind-wasm crate with the wasm-bindgen CLI of the pinned
# version: dist/web (ES module for browsers and bundlers) and dist/node (Node.js).
#
#   scripts/build.sh                 the package, into dist/
#   scripts/build.sh --conformance   the test bundle (with the engine's conformance
#                                    scenarios compiled in), into test-dist/
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
root="$(cd "$here/../.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
out="$here/dist"
features=()
if [ "${1:-}" = "--conformance" ]; then
    out="$here/test-dist"
    features=(--features conformance)
fi

cargo build --manifest-path "$root/Cargo.toml" -p rewind-wasm --locked \
    --target wasm32-unknown-unknown --profile wasm-release "${features[@]}"
wasm="$target_dir/wasm32-unknown-unknown/wasm-release/rewind_wasm.wasm"

rm -rf "$out"
mkdir -p "$out/web" "$out/node"
wasm-bindgen --target web --no-typescript --out-dir "$out/web" --out-name rewind_wasm "$wasm"
wasm-bindgen --target nodejs --no-typescript --out-dir "$out/node" --out-name rewind_wasm "$wasm"
# Shrink the modules with binaryen's wasm-opt (the npm build; `npm ci` installs it).
wasm_opt="$here/node_modules/binaryen/bin/wasm-opt"
for target in web node; do
    node "$wasm_opt" -O3 --enable-bulk-memory --enable-nontrapping-float-to-int \
        --enable-sign-ext --enable-mutable-globals --enable-reference-types \
        --enable-multivalue "$out/$target/rewind_wasm_bg.wasm" -o "$out/$target/rewind_wasm_bg.wasm"
done
# The package is ESM ("type": "module"); the Node.js glue is CommonJS.
mv "$out/node/rewind_wasm.js" "$out/node/rewind_wasm.cjs"

# Modules both targets share: the store's wrapper and the integrations.
shared=(errors.js packed.js text.js store.js derived-ids.js item-history.js ai-sdk.js openai-agents.js)
for file in "${shared[@]}"; do cp "$here/src/$file" "$out/web/"; cp "$here/src/$file" "$out/node/"; done
cp "$here/src/idb.js" "$out/web/"
cp -r "$here/src/langgraph" "$out/web/langgraph"
cp "$here/src/web.js" "$out/web/index.js"
cp "$here/src/files.js" "$out/node/"
cp -r "$here/src/langgraph" "$out/node/langgraph"
cp "$here/src/node.js" "$out/node/index.js"
cp "$here/index.d.ts" "$out/index.d.ts"
cp "$here/langgraph.d.ts" "$here/ai-sdk.d.ts" "$here/openai-agents.d.ts" "$out/"

raw=$(stat -c %s "$out/web/rewind_wasm_bg.wasm")
gz=$(gzip -9 -c "$out/web/rewind_wasm_bg.wasm" | wc -c)
echo "rewind_wasm_bg.wasm: $raw bytes, $gz gzipped"
