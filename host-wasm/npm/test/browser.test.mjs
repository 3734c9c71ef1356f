// The package in a real headless Chromium (Debian's /usr/bin/chromium driven by playwright-core):
// IndexedDB across a page reload and a browser relaunch, the single-writer rule across tabs,
// failed writes, the engine's conformance scenarios, and an export from the browser read back
// by Node.js and by the native `rewind` tool with identical hashes.

import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";
import { chromium } from "playwright-core";
import { Store as NodeStore } from "../dist/node/index.js";
import { readmeExample } from "./support/readme.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = path.resolve(here, "..");
const repo = path.resolve(pkg, "../..");
const golden = fs.readFileSync(path.join(repo, "tests/golden/transcript.txt"), "utf8");

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const TYPES = { ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".html": "text/html" };

let server;
let origin;
let profile;

function serve() {
  const roots = {
    "/pkg/": path.join(pkg, "dist/web"),
    "/testpkg/": path.join(pkg, "test-dist/web"),
    "/support/": path.join(here, "support"),
  };
  return http.createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    if (url.pathname === "/" || url.pathname === "/page.html") {
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<!doctype html><title>rewind</title><body>rewind test page</body>");
      return;
    }
    for (const [prefix, dir] of Object.entries(roots)) {
      if (url.pathname.startsWith(prefix)) {
        const file = path.join(dir, path.normalize(url.pathname.slice(prefix.length)));
        if (!file.startsWith(dir) || !fs.existsSync(file)) break;
        res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream" });
        fs.createReadStream(file).pipe(res);
        return;
      }
    }
    res.writeHead(404);
    res.end();
  });
}

/** Browsers still open: a test that fails before it closes its own leaves it to `afterEach`,
 * so a failure is reported instead of keeping the run alive. */
const contexts = new Set();

async function launch() {
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
  });
  contexts.add(context);
  context.on("close", () => contexts.delete(context));
  return context;
}

afterEach(async () => {
  for (const context of [...contexts]) await context.close().catch(() => {});
});

async function openPage(context) {
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error("page error:", e.message));
  await page.goto(`${origin}/page.html`);
  return page;
}

before(async () => {
  server = serve();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${server.address().port}`;
  profile = fs.mkdtempSync(path.join(os.tmpdir(), "rewind-chromium-"));
});

after(async () => {
  server.close();
  fs.rmSync(profile, { recursive: true, force: true });
});

/** Writes a session of growing checkpoints into IndexedDB store `name`; returns what it wrote. */
async function writeSession(page, name, count) {
  return page.evaluate(
    async ({ name, count }) => {
      const { Store } = await import("/pkg/index.js");
      const store = await Store.open({ backend: "indexeddb", name });
      const session = await store.createSession("browser agent", { tab: 1 });
      const messages = [];
      const written = [];
      for (let i = 0; i < count; i++) {
        messages.push({ role: i % 2 ? "assistant" : "user", content: `turn ${i} `.repeat(40) });
        const cp = await store.checkpoint({
          session,
          message: `turn ${i}`,
          state: { messages },
          tags: i % 5 === 0 ? ["milestone"] : [],
        });
        written.push({ id: cp.id, hash: cp.hash, seq: cp.seq, state: JSON.stringify({ messages }) });
      }
      await store.annotate(written[2].id, "look here", "critical");
      const metrics = store.metrics();
      await store.close();
      return { session, written, metrics };
    },
    { name, count },
  );
}

/** Reads every checkpoint of store `name` back. */
async function readBack(page, name) {
  return page.evaluate(async (name) => {
    const { Store } = await import("/pkg/index.js");
    const store = await Store.open({ backend: "indexeddb", name });
    const items = store.list({ order: "asc" }).items;
    const out = [];
    for (const c of items) {
      out.push({
        id: c.id,
        hash: c.hash,
        seq: c.seq,
        state: new TextDecoder().decode(await store.state(c.id)),
        notes: store.annotations(c.id).length,
      });
    }
    const verify = (await store.verify());
    await store.close();
    return { out, verify };
  }, name);
}

test("checkpoints in IndexedDB survive a page reload and a browser relaunch", async () => {
  let context = await launch();
  let page = await openPage(context);
  const { written, metrics } = await writeSession(page, "reload", 30);
  assert.equal(metrics.checkpoints, 30);
  assert.ok(metrics.storedBytes * 5 < metrics.logicalBytes, "growing states deduplicate");

  await page.reload();
  let { out, verify } = await readBack(page, "reload");
  assert.ok(verify.ok);
  assert.deepEqual(
    out.map(({ id, hash, seq, state }) => ({ id, hash, seq, state })),
    written,
  );
  assert.equal(out[2].notes, 1);

  await context.close();
  context = await launch();
  page = await openPage(context);
  ({ out, verify } = await readBack(page, "reload"));
  assert.ok(verify.ok);
  assert.deepEqual(
    out.map((c) => c.hash),
    written.map((c) => c.hash),
  );
  // Seqs keep increasing after the relaunch.
  const next = await page.evaluate(async () => {
    const { Store } = await import("/pkg/index.js");
    const store = await Store.open({ backend: "indexeddb", name: "reload" });
    const session = store.sessions()[0].id;
    const cp = await store.checkpoint({ session, message: "after relaunch", state: { ok: true } });
    await store.close();
    return cp.seq;
  });
  assert.equal(next, 31);
  await context.close();
});

test("a reloaded tab opens from the index snapshot; a damaged one is ignored, said and replaced", async () => {
  const context = await launch();
  const page = await openPage(context);
  const open = () =>
    page.evaluate(async () => {
      const { Store } = await import("/pkg/index.js");
      const store = await Store.open({ backend: "indexeddb", name: "snapshot" });
      const { logBytesRead, ...source } = store.indexSource();
      const hashes = store.list({ order: "asc" }).items.map((c) => c.hash);
      const verified = (await store.verify()).ok;
      const session = store.sessions()[0]?.id;
      if (session) {
        await store.checkpoint({ session, message: "one more", state: { n: hashes.length } });
      }
      await store.close();
      return { source, hashes, verified };
    });
  // A writer whose log grew by ~120 KB stores a snapshot when it closes.
  await page.evaluate(async () => {
    const { Store } = await import("/pkg/index.js");
    const store = await Store.open({ backend: "indexeddb", name: "snapshot" });
    const session = await store.createSession("big");
    for (let i = 0; i < 40; i++) {
      const words = Array.from({ length: 300 }, (_, j) => ((i * 7919 + j * 104729) % 999983).toString(36));
      await store.checkpoint({ session, message: `step ${i}`, state: { i, words } });
    }
    await store.close();
  });
  await page.reload();
  let first = await open();
  assert.deepEqual(first.source, { snapshot: "used", tailFrames: 0 });
  assert.equal(first.hashes.length, 40);
  assert.ok(first.verified);
  // The checkpoint written after it is replayed on top of it.
  await page.reload();
  let next = await open();
  assert.equal(next.source.snapshot, "used");
  assert.ok(next.source.tailFrames > 0, JSON.stringify(next.source));
  assert.deepEqual(next.hashes.slice(0, 40), first.hashes);
  // Rewrites the stored snapshot: its bytes changed by `flip` (a byte's bits to flip in the
  // middle, or 0), stored as a Blob or (as earlier builds stored it) an
  // ArrayBuffer. Returns whether it was stored as a Blob.
  const restore = (flip, asBlob) =>
    page.evaluate(
      async ([flip, asBlob]) => {
        const db = await new Promise((resolve, reject) => {
          const req = indexedDB.open("rewind:snapshot");
          req.onsuccess = () => resolve(req.result);
          req.onerror = () => reject(req.error);
        });
        const stored = await new Promise((resolve) => {
          db.transaction("index").objectStore("index").get("snapshot").onsuccess = (e) => resolve(e.target.result);
        });
        const blob = stored instanceof Blob;
        const bytes = new Uint8Array(blob ? await stored.arrayBuffer() : stored);
        bytes[bytes.length >> 1] ^= flip;
        const tx = db.transaction("index", "readwrite");
        tx.objectStore("index").put(asBlob ? new Blob([bytes]) : bytes.buffer, "snapshot");
        await new Promise((resolve) => (tx.oncomplete = resolve));
        db.close();
        return blob;
      },
      [flip, asBlob],
    );
  // A snapshot stored as an ArrayBuffer, as before, is read the same.
  assert.equal(await restore(0, false), true, "a store writes its snapshot as a Blob");
  await page.reload();
  const older = await open();
  assert.equal(older.source.snapshot, "used");
  assert.deepEqual(older.hashes.slice(0, 41), next.hashes.slice(0, 41));
  // Damaged in storage: ignored (said), the log replayed whole, the same store; the writer's
  // close stores a good one again.
  await restore(0x20, true);
  await page.reload();
  const damaged = await open();
  assert.equal(damaged.source.snapshot, "ignored");
  assert.match(damaged.source.problem, /damaged/);
  assert.deepEqual(damaged.hashes.slice(0, 42), older.hashes.slice(0, 42));
  assert.ok(damaged.verified);
  await page.reload();
  const again = await open();
  assert.deepEqual(again.source, { snapshot: "used", tailFrames: 0 });
  assert.deepEqual(again.hashes.slice(0, 43), damaged.hashes.slice(0, 43));
  await context.close();
});

test("a reloaded tab reads only the log rows it needs; older ones come when read", async () => {
  const context = await launch();
  const page = await openPage(context);
  const stateOf = (i) => ({ i, words: Array.from({ length: 300 }, (_, j) => ((i * 7919 + j * 104729) % 999983).toString(36)) });
  await page.evaluate(async (stateOf) => {
    const { Store } = await import("/pkg/index.js");
    const state = new Function(`return (${stateOf})`)();
    const store = await Store.open({ backend: "indexeddb", name: "lazy" });
    const session = await store.createSession("lazy");
    for (let i = 0; i < 60; i++) await store.checkpoint({ session, message: `step ${i}`, state: state(i) });
    await store.close(); // stores the index snapshot
    const more = await Store.open({ backend: "indexeddb", name: "lazy" });
    for (let i = 60; i < 63; i++) await more.checkpoint({ session, message: `step ${i}`, state: state(i) });
    await more.close(); // too little growth for a new snapshot: these rows are the tail
  }, stateOf.toString());
  await page.reload();
  const seen = await page.evaluate(async (stateOf) => {
    const { Store } = await import("/pkg/index.js");
    const state = new Function(`return (${stateOf})`)();
    const store = await Store.open({ backend: "indexeddb", name: "lazy" });
    const source = store.indexSource();
    const logBytes = store.metrics().logBytes;
    const newest = store.list({ limit: 10 }).items.map((c) => c.message);
    // The oldest states lie in rows the open did not read.
    const items = store.list({ order: "asc" }).items;
    const states = [];
    for (const c of items) states.push(JSON.stringify(await store.stateJson(c.id)) === JSON.stringify(state(Number(c.message.slice(5)))));
    const diff = await store.diff(items[0].id, items[62].id);
    // A write that waits for old rows and one that does not, issued together: both resolve
    // once stored (checked after the reload below).
    const aside = await store.createSession("aside");
    const [restored] = await Promise.all([
      store.restore(items[1].id),
      store.checkpoint({ session: aside, message: "concurrent", state: { c: 1 } }),
    ]);
    const forked = await store.checkpoint({ session: items[0].session, message: "fork", state: { forked: true } });
    const verified = (await store.verify()).ok;
    await store.compact({ keepLast: 10 });
    const afterCompaction = store.list({ session: items[0].session, order: "asc" }).items.map((c) => c.message);
    const concurrent = store.list({ session: aside }).items.map((c) => c.message);
    await store.close();
    return {
      source,
      logBytes,
      newest,
      states,
      sameStateRatio: diff.sharedRatio,
      restored: JSON.stringify(restored.checkpoint.id === items[1].id),
      forkParent: forked.parent === items[1].id,
      verified,
      afterCompaction,
      concurrent,
    };
  }, stateOf.toString());
  assert.equal(seen.source.snapshot, "used");
  assert.equal(seen.source.tailFrames > 0, true, JSON.stringify(seen.source));
  assert.ok(
    seen.source.logBytesRead * 4 < seen.logBytes,
    `the open read ${seen.source.logBytesRead} of ${seen.logBytes} bytes of log`,
  );
  assert.deepEqual(seen.newest, Array.from({ length: 10 }, (_, k) => `step ${62 - k}`));
  assert.equal(seen.states.length, 63);
  assert.ok(seen.states.every(Boolean), "every state reads back as written");
  assert.equal(seen.forkParent, true);
  assert.equal(seen.verified, true);
  assert.equal(seen.afterCompaction.length, 10);
  assert.equal(seen.afterCompaction.at(-1), "fork");
  // After the compaction the log is rows of whole frames again; a reload reads it back.
  await page.reload();
  const after = await page.evaluate(async () => {
    const { Store } = await import("/pkg/index.js");
    const store = await Store.open({ backend: "indexeddb", name: "lazy" });
    const [lazy, aside] = store.sessions().map((s) => s.id);
    const messages = store.list({ session: lazy, order: "asc" }).items.map((c) => c.message);
    const concurrent = store.list({ session: aside }).items.map((c) => c.message);
    const ok = (await store.verify()).ok;
    await store.close();
    return { messages, concurrent, ok };
  });
  assert.deepEqual(after.messages, seen.afterCompaction);
  assert.deepEqual(after.concurrent, ["concurrent"]);
  assert.equal(after.ok, true);
  await context.close();
});

test("a writer that changed little since the snapshot stores a delta beside it; a reload starts from both", async () => {
  const context = await launch();
  const page = await openPage(context);
  const indexKeys = () =>
    page.evaluate(async () => {
      const db = await new Promise((resolve, reject) => {
        const req = indexedDB.open("rewind:delta");
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
      const index = db.transaction("index").objectStore("index");
      const read = (r) => new Promise((resolve) => (r.onsuccess = () => resolve(r.result)));
      const [keys, snapshot] = await Promise.all([read(index.getAllKeys()), read(index.get("snapshot"))]);
      db.close();
      return { keys, snapshotBytes: snapshot instanceof Blob ? snapshot.size : -1 };
    });
  // A store of many small checkpoints (a large snapshot), moved in as an import.
  await page.evaluate(async () => {
    const { Store } = await import("/pkg/index.js");
    const memory = Store.memory();
    const session = await memory.createSession("delta");
    for (let i = 0; i < 3000; i++) await memory.save({ session, message: `small ${i}`, state: { i } });
    const store = await Store.open({ backend: "indexeddb", name: "delta" });
    await store.importBinary(await memory.exportBinary());
    await store.close();
  });
  const before = await indexKeys();
  assert.deepEqual(before.keys, ["snapshot"]);
  // ~100 KB more: a delta, not a new 3,000-checkpoint snapshot.
  await page.evaluate(async () => {
    const { Store } = await import("/pkg/index.js");
    const store = await Store.open({ backend: "indexeddb", name: "delta" });
    const session = store.sessions()[0].id;
    for (let i = 0; i < 40; i++) {
      const words = Array.from({ length: 300 }, (_, j) => ((i * 7919 + j * 104729) % 999983).toString(36));
      await store.checkpoint({ session, message: `big ${i}`, state: { words } });
    }
    await store.close();
  });
  const after = await indexKeys();
  assert.deepEqual(after.keys.sort(), ["delta", "snapshot"]);
  assert.equal(after.snapshotBytes, before.snapshotBytes, "the snapshot itself was not rewritten");
  await page.reload();
  const reopened = await page.evaluate(async () => {
    const { Store } = await import("/pkg/index.js");
    const store = await Store.open({ backend: "indexeddb", name: "delta" });
    const { logBytesRead, ...source } = store.indexSource();
    const count = store.metrics().checkpoints;
    const newest = store.latest(store.sessions()[0].id).message;
    const verified = (await store.verify()).ok;
    await store.close();
    return { source, count, newest, verified };
  });
  assert.deepEqual(reopened.source, { snapshot: "used", tailFrames: 0 });
  assert.equal(reopened.count, 3040);
  assert.equal(reopened.newest, "big 39");
  assert.equal(reopened.verified, true);
  await context.close();
});

test("a database of the earlier row layout (keys 0, 1, 2…) opens and moves to rows keyed by position", async () => {
  const context = await launch();
  const page = await openPage(context);
  const result = await page.evaluate(async () => {
    const { Store } = await import("/pkg/index.js");
    // The log as two rows of the earlier layout: what the first writes appended, then the rest.
    const memory = Store.memory();
    const session = await memory.createSession("legacy");
    for (let i = 0; i < 5; i++) await memory.checkpoint({ session, message: `a${i}`, state: { i } });
    const first = await memory.logBytes();
    for (let i = 0; i < 5; i++) await memory.checkpoint({ session, message: `b${i}`, state: { i, more: "x".repeat(i * 100) } });
    const whole = await memory.logBytes();
    const rows = [first, whole.slice(first.length)];
    const db = await new Promise((resolve, reject) => {
      const req = indexedDB.open("rewind:legacy", 2);
      req.onupgradeneeded = () => {
        req.result.createObjectStore("log");
        req.result.createObjectStore("index");
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    const tx = db.transaction("log", "readwrite");
    rows.forEach((row, key) => tx.objectStore("log").put(row, key));
    await new Promise((resolve) => (tx.oncomplete = resolve));
    db.close();

    const store = await Store.open({ backend: "indexeddb", name: "legacy" });
    const hashes = store.list({ order: "asc" }).items.map((c) => c.hash);
    const expected = memory.list({ order: "asc" }).items.map((c) => c.hash);
    const lastState = await store.stateJson(store.latest(session).id);
    const ok = (await store.verify()).ok;
    await store.close();
    const upgraded = await new Promise((resolve, reject) => {
      const req = indexedDB.open("rewind:legacy");
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    const stores = Array.from(upgraded.objectStoreNames).sort();
    const keys = await new Promise((resolve) => {
      upgraded.transaction("rows").objectStore("rows").getAllKeys().onsuccess = (e) => resolve(e.target.result);
    });
    upgraded.close();
    return { hashes, expected, lastState, ok, stores, keys, firstLen: first.length };
  });
  assert.deepEqual(result.hashes, result.expected);
  assert.equal(result.hashes.length, 10);
  assert.deepEqual(result.lastState, { i: 4, more: "x".repeat(400) });
  assert.equal(result.ok, true);
  assert.deepEqual(result.stores, ["index", "rows"]);
  assert.deepEqual(result.keys.slice(0, 2), [0, result.firstLen]);
  await context.close();
});

test("one tab writes a store; another is refused, reads it read-only and sees changes", async () => {
  const context = await launch();
  const writer = await openPage(context);
  const reader = await openPage(context);
  await writer.evaluate(async () => {
    const { Store } = await import("/pkg/index.js");
    window.store = await Store.open({ backend: "indexeddb", name: "tabs" });
    window.session = await window.store.createSession("tabs");
    await window.store.checkpoint({ session: window.session, message: "one", state: [1] });
  });
  const refused = await reader.evaluate(async () => {
    const { Store } = await import("/pkg/index.js");
    try {
      await Store.open({ backend: "indexeddb", name: "tabs" });
      return null;
    } catch (e) {
      return { name: e.name, code: e.code, message: e.message };
    }
  });
  assert.deepEqual(
    { name: refused.name, code: refused.code },
    { name: "LockedError", code: "LOCKED" },
  );
  const seen = await reader.evaluate(async () => {
    const { Store } = await import("/pkg/index.js");
    window.view = await Store.open({ backend: "indexeddb", name: "tabs", readOnly: true });
    window.reloaded = new Promise((resolve) =>
      window.view.subscribe((e) => e.type === "reloaded" && resolve()),
    );
    let readOnly = null;
    try {
      await window.view.createSession("nope");
    } catch (e) {
      readOnly = e.code;
    }
    return { count: window.view.metrics().checkpoints, readOnly };
  });
  assert.deepEqual(seen, { count: 1, readOnly: "READ_ONLY" });
  await writer.evaluate(async () => {
    await window.store.checkpoint({ session: window.session, message: "two", state: [1, 2] });
  });
  const after = await reader.evaluate(async () => {
    await window.reloaded;
    return window.view.list({ order: "asc" }).items.map((c) => c.message);
  });
  assert.deepEqual(after, ["one", "two"]);
  // A waiting writer gets the store once the first closes it.
  const waiting = reader.evaluate(async () => {
    const { Store } = await import("/pkg/index.js");
    const store = await Store.open({ backend: "indexeddb", name: "tabs", lock: "wait" });
    const n = store.metrics().checkpoints;
    await store.close();
    return n;
  });
  await writer.evaluate(async () => window.store.close());
  assert.equal(await waiting, 2);
  await context.close();
});

test("a failed IndexedDB write rejects with a code and leaves nothing half-written", async () => {
  const context = await launch();
  const page = await openPage(context);
  const result = await page.evaluate(async () => {
    const { Store, QuotaExceededError } = await import("/pkg/index.js");
    const store = await Store.open({ backend: "indexeddb", name: "quota" });
    const session = await store.createSession("quota");
    await store.checkpoint({ session, message: "kept", state: { n: 1 } });
    const put = IDBObjectStore.prototype.put;
    IDBObjectStore.prototype.put = function () {
      throw new DOMException("the quota has been exceeded", "QuotaExceededError");
    };
    let error = null;
    try {
      await store.checkpoint({ session, message: "refused", state: { n: 2 } });
    } catch (e) {
      error = { code: e.code, isQuota: e instanceof QuotaExceededError };
    }
    IDBObjectStore.prototype.put = put;
    // Memory went back to what IndexedDB holds.
    const inMemory = store.list().items.map((c) => c.message);
    await store.checkpoint({ session, message: "after", state: { n: 3 } });
    await store.close();
    const again = await Store.open({ backend: "indexeddb", name: "quota" });
    const stored = again.list({ order: "asc" }).items.map((c) => c.message);
    const verify = (await again.verify()).ok;
    await again.close();
    return { error, inMemory, stored, verify };
  });
  assert.deepEqual(result.error, { code: "QUOTA_EXCEEDED", isQuota: true });
  assert.deepEqual(result.inMemory, ["kept"]);
  assert.deepEqual(result.stored, ["kept", "after"]);
  assert.ok(result.verify);
  await context.close();
});

test("relaxed durability batches writes and flush() commits them", async () => {
  const context = await launch();
  const page = await openPage(context);
  const stored = await page.evaluate(async () => {
    const { Store } = await import("/pkg/index.js");
    const store = await Store.open({ backend: "indexeddb", name: "relaxed", durability: "relaxed" });
    const session = await store.createSession("relaxed");
    for (let i = 0; i < 50; i++) {
      await store.checkpoint({ session, message: `m${i}`, state: { i } });
    }
    await store.flush();
    await store.close();
    const again = await Store.open({ backend: "indexeddb", name: "relaxed" });
    const n = again.metrics().checkpoints;
    await again.close();
    return n;
  });
  assert.equal(stored, 50);
  await context.close();
});

test("the engine's conformance scenarios pass in Chromium and its transcript is the golden one", async () => {
  const context = await launch();
  const page = await openPage(context);
  const result = await page.evaluate(async () => {
    const glue = await import("/testpkg/rewind_wasm.js");
    await glue.default();
    const failures = [];
    for (const name of glue.conformanceScenarios()) {
      try {
        glue.runConformanceScenario(name);
      } catch {
        failures.push({ name, why: glue.lastPanic() });
      }
    }
    return { failures, transcript: glue.conformanceTranscript() };
  });
  assert.deepEqual(result.failures, []);
  assert.equal(result.transcript, golden);
  await context.close();
});

test("parity: every query filter, retention flag, option and error kind on IndexedDB, as on every host", async () => {
  const scenario = JSON.parse(fs.readFileSync(path.join(repo, "core/src/conformance/parity.json"), "utf8"));
  const context = await launch();
  try {
    const page = await openPage(context);
    const problems = await page.evaluate(async (scenario) => {
      const { Store } = await import("/pkg/index.js");
      const { runParity } = await import("/support/parity.mjs");
      const open = (options) => Store.open({ backend: "indexeddb", name: "parity", ...options });
      const { problems, store } = await runParity(scenario, open);
      await store.close();
      return problems;
    }, scenario);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test("an export made in the browser opens in Node.js and in the native store with the same hashes", async () => {
  const context = await launch();
  const page = await openPage(context);
  const { written } = await writeSession(page, "export", 12);
  const exported = await page.evaluate(async () => {
    const { Store } = await import("/pkg/index.js");
    const store = await Store.open({ backend: "indexeddb", name: "export" });
    const bytes = Array.from((await store.exportBinary()));
    await store.close();
    return bytes;
  });
  await context.close();
  const bytes = Uint8Array.from(exported);

  const node = NodeStore.memory();
  const report = await node.importBinary(bytes);
  assert.equal(report.checkpointsAdded, 12);
  for (const w of written) {
    assert.equal(node.get(w.id).hash, w.hash);
    assert.equal(new TextDecoder().decode((await node.state(w.id))), w.state);
  }

  const rewind = nativeBinary();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rewind-native-"));
  try {
    const file = path.join(dir, "export.rwd");
    fs.writeFileSync(file, bytes);
    const store = path.join(dir, "store");
    execFileSync(rewind, ["--store", store, "import", file]);
    for (const w of written) {
      const shown = JSON.parse(execFileSync(rewind, ["--store", store, "--json", "show", w.id]));
      assert.equal(shown.hash, w.hash);
    }
    execFileSync(rewind, ["--store", store, "verify"]);
    // And back: the native store's export imports in Node.js.
    const back = execFileSync(rewind, ["--store", store, "export", "--format", "binary"]);
    const again = NodeStore.memory();
    assert.equal((await again.importBinary(new Uint8Array(back))).checkpointsAdded, 12);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the README's browser example runs against IndexedDB", async () => {
  const context = await launch();
  const page = await openPage(context);
  const logs = [];
  page.on("console", (m) => logs.push(m.text()));
  const code = readmeExample("browser").replace(
    'import { Store } from "rewind-store";',
    'const { Store } = await import("/pkg/index.js");',
  );
  assert.ok(code.includes('await import("/pkg/index.js")'), "the example imports the package");
  await page.evaluate(`(async () => { ${code} })()`);
  assert.ok(logs.some((l) => l.includes("Object")), `the example printed the patch: ${logs}`);
  const stored = await page.evaluate(async () => {
    const { Store } = await import("/pkg/index.js");
    const store = await Store.open({ backend: "indexeddb", name: "my-agent" });
    const n = store.metrics().checkpoints;
    await store.close();
    return n;
  });
  assert.equal(stored, 2);
  await context.close();
});

function nativeBinary() {
  const candidates = [
    process.env.REWIND_BIN,
    path.join(process.env.CARGO_TARGET_DIR ?? path.join(repo, "target"), "debug/rewind"),
  ].filter(Boolean);
  const found = candidates.find((c) => fs.existsSync(c));
  assert.ok(found, `the native rewind binary is needed (looked at ${candidates.join(", ")}); build it with cargo build -p rewind`);
  return found;
}
