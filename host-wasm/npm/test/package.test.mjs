// The published package: `npm pack` holds exactly what a consumer needs, and the tarball,
// installed into a fresh project, works with a plain `import { Store } from "rewind-store"`.
//
//   node --test test/package.test.mjs

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const pkgDir = fileURLToPath(new URL("..", import.meta.url));
const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));

/** Runs a command; fails the test with its output if it exits non-zero. */
function run(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, {
    encoding: "utf8",
    timeout: 60_000,
    ...options,
    env: { ...process.env, npm_config_update_notifier: "false", npm_config_fund: "false", npm_config_audit: "false", ...options.env },
  });
  if (result.error) throw result.error;
  assert.equal(
    result.status,
    0,
    `${cmd} ${args.join(" ")} exited with ${result.status}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`,
  );
  return result;
}

/** Every file the package must ship: both targets' glue, wasm and wrappers, and the types. */
const REQUIRED = [
  "package.json",
  "dist/index.d.ts",
  "dist/langgraph.d.ts",
  "dist/ai-sdk.d.ts",
  "dist/openai-agents.d.ts",
  "dist/node/index.js",
  "dist/node/derived-ids.js",
  "dist/node/item-history.js",
  "dist/node/ai-sdk.js",
  "dist/node/openai-agents.js",
  "dist/node/langgraph/index.js",
  "dist/node/langgraph/saver.js",
  "dist/node/langgraph/catalogue.js",
  "dist/node/langgraph/names.js",
  "dist/node/langgraph/config.js",
  "dist/node/langgraph/metadata.js",
  "dist/node/store.js",
  "dist/node/errors.js",
  "dist/node/packed.js",
  "dist/node/text.js",
  "dist/node/files.js",
  "dist/node/rewind_wasm.cjs",
  "dist/node/rewind_wasm_bg.wasm",
  "dist/web/index.js",
  "dist/web/derived-ids.js",
  "dist/web/item-history.js",
  "dist/web/ai-sdk.js",
  "dist/web/openai-agents.js",
  "dist/web/langgraph/index.js",
  "dist/web/langgraph/saver.js",
  "dist/web/langgraph/catalogue.js",
  "dist/web/langgraph/names.js",
  "dist/web/langgraph/config.js",
  "dist/web/langgraph/metadata.js",
  "dist/web/store.js",
  "dist/web/errors.js",
  "dist/web/packed.js",
  "dist/web/text.js",
  "dist/web/idb.js",
  "dist/web/rewind_wasm.js",
  "dist/web/rewind_wasm_bg.wasm",
];
/** Files npm adds on its own when present. */
const OPTIONAL = new Set(["README.md", "LICENSE", "LICENSE-MIT", "LICENSE-APACHE"]);

describe("npm pack", () => {
  let files;
  let info;

  before(() => {
    const { stdout } = run("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: pkgDir });
    const parsed = JSON.parse(stdout);
    assert.equal(parsed.length, 1);
    info = parsed[0];
    files = info.files.map((f) => f.path).sort();
  });

  test("name and version", () => {
    assert.equal(info.name, "rewind-store");
    assert.equal(info.version, pkg.version);
    assert.equal(info.filename, `rewind-store-${pkg.version}.tgz`);
  });

  test("the tarball holds exactly dist/web, dist/node, the type definitions and package.json", () => {
    for (const file of REQUIRED) assert.ok(files.includes(file), `missing ${file}; files: ${files.join(", ")}`);
    const extra = files.filter((f) => !REQUIRED.includes(f) && !OPTIONAL.has(f));
    assert.deepEqual(extra, [], "nothing else (no src/, test/, scripts/, test-dist/, node_modules/)");
    for (const f of files) {
      assert.ok(!f.startsWith("test-dist/"), "the conformance bundle is not published");
      assert.ok(!f.includes("node_modules/"));
    }
  });

  test("no empty files; the wasm is the same for both targets", () => {
    for (const f of info.files) assert.ok(f.size > 0, `${f.path} is empty`);
    const size = (p) => info.files.find((f) => f.path === p).size;
    assert.equal(size("dist/node/rewind_wasm_bg.wasm"), size("dist/web/rewind_wasm_bg.wasm"));
    assert.ok(size("dist/node/rewind_wasm_bg.wasm") > 10_000);
  });

  test("every relative import of a shipped module is shipped", () => {
    let checked = 0;
    for (const file of files.filter((f) => /\.(m?js|cjs)$/.test(f))) {
      const text = readFileSync(join(pkgDir, file), "utf8");
      const dir = file.slice(0, file.lastIndexOf("/") + 1);
      const specifiers = [
        ...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+["'](\.[^"']+)["']/g),
        ...text.matchAll(/(?:^|\n)\s*import\s+["'](\.[^"']+)["']/g),
        ...text.matchAll(/require\(\s*["'](\.[^"']+)["']\s*\)/g),
      ].map((m) => m[1]);
      for (const spec of specifiers) {
        const target = join(dir, spec).replace(/\\/g, "/");
        assert.ok(files.includes(target), `${file} imports ${spec}, which is not in the package`);
        checked += 1;
      }
    }
    // dist/{node,web}/index.js and store.js, dist/web/idb.js import their neighbours.
    assert.ok(checked >= 10, `only ${checked} relative imports found`);
  });

  test("package.json: exports point at shipped files; no dependencies", () => {
    assert.deepEqual(Object.keys(pkg.exports), [".", "./langgraph", "./ai-sdk", "./openai-agents"]);
    for (const [subpath, exp] of Object.entries(pkg.exports)) {
      for (const [condition, target] of Object.entries(exp)) {
        assert.ok(files.includes(target.replace(/^\.\//, "")), `exports["${subpath}"].${condition} -> ${target}`);
      }
      assert.equal(Object.keys(exp)[0], "types", "the types condition comes first");
    }
    assert.ok(files.includes(pkg.types.replace(/^\.\//, "")));
    // Each framework is an optional peer: installing rewind-store installs none of them.
    for (const peer of Object.keys(pkg.peerDependencies)) assert.equal(pkg.peerDependenciesMeta[peer]?.optional, true, peer);
    assert.equal(pkg.type, "module");
    assert.equal(pkg.dependencies, undefined, "the package has no runtime dependencies");
  });

  test("the shipped types are index.d.ts", () => {
    assert.equal(
      readFileSync(join(pkgDir, "dist/index.d.ts"), "utf8"),
      readFileSync(join(pkgDir, "index.d.ts"), "utf8"),
      "dist/index.d.ts is stale: rebuild with scripts/build.sh",
    );
  });
});

describe("installed from the tarball into a fresh project", () => {
  let work;
  let project;

  before(() => {
    work = mkdtempSync(join(tmpdir(), "rewind-pack-"));
    const packDir = join(work, "pack");
    project = join(work, "project");
    run("mkdir", ["-p", packDir, project]);
    const { stdout } = run("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", packDir], { cwd: pkgDir });
    const [{ filename }] = JSON.parse(stdout);
    const tgz = join(packDir, filename);
    assert.ok(existsSync(tgz), `${tgz} was not written`);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }, null, 2));
    run("npm", ["install", "--no-audit", "--no-fund", "--offline", "--ignore-scripts", tgz], { cwd: project });
  });

  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("node_modules/rewind-store holds the package", () => {
    const installed = join(project, "node_modules", "rewind-store");
    assert.equal(JSON.parse(readFileSync(join(installed, "package.json"), "utf8")).version, pkg.version);
    assert.deepEqual(readdirSync(join(installed, "dist")).sort(), ["ai-sdk.d.ts", "index.d.ts", "langgraph.d.ts", "node", "openai-agents.d.ts", "web"]);
    const consumer = JSON.parse(readFileSync(join(project, "package.json"), "utf8"));
    assert.match(consumer.dependencies["rewind-store"], /^file:/);
  });

  test('import { Store } from "rewind-store": create a checkpoint and print its hash', () => {
    writeFileSync(
      join(project, "main.js"),
      `import { Store, RewindError, NotFoundError } from "rewind-store";
const store = Store.memory();
const session = await store.createSession("from the tarball", { via: "npm pack" });
const cp = await store.checkpoint({ session, message: "hello", state: { ok: true, n: 1 }, tags: ["b", "a"] });
let code = null;
try {
  store.get("01900000-0000-7000-8000-00000000dead");
} catch (e) {
  code = e instanceof NotFoundError && e instanceof RewindError ? e.code : "wrong class";
}
console.log(JSON.stringify({
  hash: cp.hash,
  id: cp.id,
  tags: cp.tags,
  state: (await store.stateJson(cp.id)),
  verify: (await store.verify()).ok,
  code,
  resolved: import.meta.resolve("rewind-store"),
}));
`,
    );
    const { stdout } = run(process.execPath, ["main.js"], { cwd: project });
    const out = JSON.parse(stdout.trim());
    assert.match(out.hash, /^[0-9a-f]{64}$/);
    assert.match(out.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.deepEqual(out.tags, ["a", "b"]);
    assert.deepEqual(out.state, { ok: true, n: 1 });
    assert.equal(out.verify, true);
    assert.equal(out.code, "CHECKPOINT_NOT_FOUND");
    assert.match(out.resolved, /node_modules\/rewind-store\/dist\/node\/index\.js$/, "Node resolves the node entry");
  });

  test("the installed package reads what the working tree's package wrote", async () => {
    // Same engine: a log written by dist/ opens in the installed copy with the same hashes.
    const { Store } = await import("../dist/node/index.js");
    const store = Store.memory();
    const s = await store.createSession("s");
    const cp = await store.checkpoint({ session: s, message: "m", state: [1, 2, 3], id: "00000000-0000-4000-8000-000000000001", createdAt: 1_000 });
    writeFileSync(join(project, "log.bin"), (await store.logBytes()));
    writeFileSync(
      join(project, "read.js"),
      `import { readFileSync } from "node:fs";
import { Store } from "rewind-store";
const store = Store.memory({ log: new Uint8Array(readFileSync("log.bin")) });
const cp = store.get("00000000-0000-4000-8000-000000000001");
console.log(JSON.stringify({ hash: cp.hash, state: (await store.stateJson(cp.id)) }));
`,
    );
    const { stdout } = run(process.execPath, ["read.js"], { cwd: project });
    assert.deepEqual(JSON.parse(stdout.trim()), { hash: cp.hash, state: [1, 2, 3] });
  });

  test("the AI SDK and OpenAI Agents integrations run without their frameworks installed", () => {
    // They take plain JSON (UIMessages, AgentInputItems) and import nothing from `ai` or
    // @openai/agents, which are optional peers for their types only.
    assert.ok(!existsSync(join(project, "node_modules", "ai")) && !existsSync(join(project, "node_modules", "@openai")));
    writeFileSync(
      join(project, "integrations.js"),
      `import { Store } from "rewind-store";
import { RewindChats } from "rewind-store/ai-sdk";
import { RewindSession } from "rewind-store/openai-agents";
const store = Store.memory();
const chats = new RewindChats(store);
await chats.saveChat({ chatId: "c", messages: [{ id: "m1", role: "user", parts: [{ type: "text", text: "hi" }] }] });
const session = new RewindSession(store, { sessionId: "s" });
await session.addItems([{ type: "message", role: "user", content: "hi" }]);
console.log(JSON.stringify({ chat: (await chats.loadChat("c")).length, items: (await session.getItems()).length, checkpoints: store.metrics().checkpoints }));
`,
    );
    const { stdout } = run(process.execPath, ["integrations.js"], { cwd: project });
    assert.deepEqual(JSON.parse(stdout.trim()), { chat: 1, items: 1, checkpoints: 2 });
  });
});
