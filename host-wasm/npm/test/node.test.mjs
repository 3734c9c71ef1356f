// The package in Node.js: every operation of index.d.ts on memory stores, the errors of bad
// input, and the engine's conformance scenarios compiled to WebAssembly.
//
//   node --test test/node.test.mjs

import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

import { runParity } from "./support/parity.mjs";
import {
  Store,
  RewindError,
  NotFoundError,
  InvalidInputError,
  LimitExceededError,
  CorruptError,
  HashMismatchError,
  ImportRejectedError,
  StorageError,
  QuotaExceededError,
  LockedError,
  ReadOnlyError,
  ClosedError,
} from "../dist/node/index.js";

// ----- helpers ------------------------------------------------------------------------------

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const HEX64 = /^[0-9a-f]{64}$/;
const encoder = new TextEncoder();

/** Ids that are well-formed but not in any store. */
const MISSING_CP = "01900000-0000-7000-8000-00000000dead";
const MISSING_SESSION = "01900000-0000-7000-8000-00000000beef";
/** A creation time no throttling window reaches. */
const FAR_FUTURE = Date.now() + 10 * 365 * 24 * 3600 * 1000;

/** A validator for assert.throws / assert.rejects: the class, RewindError, name and code. */
function isError(Class, code) {
  return (err) => {
    assert.ok(
      err instanceof Class,
      `expected ${Class.name} (${code}), got ${err?.constructor?.name} ${err?.code}: ${err?.message}`,
    );
    assert.ok(err instanceof RewindError, "every error is a RewindError");
    assert.ok(err instanceof Error);
    assert.equal(err.code, code, `code of: ${err.message}`);
    assert.equal(err.name, Class.name);
    assert.equal(typeof err.message, "string");
    assert.ok(err.message.length > 0);
    return true;
  };
}

function throwsCode(fn, Class, code) {
  assert.throws(fn, isError(Class, code));
}

async function rejectsCode(fn, Class, code) {
  // A function (not a promise): a write must fail by rejecting, never by throwing synchronously.
  await assert.rejects(fn, isError(Class, code));
}

/** Everything observable about a store, to show that a failed write changed nothing. */
async function snapshot(store) {
  return {
    metrics: store.metrics(),
    health: store.health(),
    log: Buffer.from((await store.logBytes())).toString("base64"),
    sessions: store.sessions(),
    all: store.list({}),
  };
}

/** A write that must fail with `Class`/`code` and leave the store (and its metrics) unchanged. */
async function failingWrite(store, fn, Class, code) {
  const before = (await snapshot(store));
  const events = [];
  const unsubscribe = store.subscribe((e) => events.push(e));
  try {
    await rejectsCode(fn, Class, code);
  } finally {
    unsubscribe();
  }
  assert.deepEqual((await snapshot(store)), before, "a failed write must leave the store unchanged");
  assert.deepEqual(events, [], "a failed write emits no event");
}

/** Deterministic pseudo-random bytes (xorshift). */
function pseudoRandomBytes(n, seed = 0x2545f491) {
  const out = new Uint8Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Distinct, incompressible-looking text for conversation turns. */
function turnText(i, len) {
  let text = "";
  let x = BigInt(i + 1) * 0x9e3779b97f4a7c15n & 0xffffffffffffffffn;
  const mask = 0xffffffffffffffffn;
  while (text.length < len) {
    x ^= (x << 13n) & mask;
    x ^= x >> 7n;
    x ^= (x << 17n) & mask;
    text += x.toString(16) + " ";
  }
  return text.slice(0, len);
}

const ids = (items) => items.map((c) => c.id);

/** Applies an RFC 6902 patch (the ops the engine emits) to a JSON value. */
function applyPatch(doc, ops) {
  let root = structuredClone(doc);
  const parse = (path) =>
    path === "" ? [] : path.slice(1).split("/").map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
  const get = (tokens) => tokens.reduce((v, t) => v[t], root);
  const set = (tokens, value, insert) => {
    if (tokens.length === 0) {
      root = value;
      return;
    }
    const parent = get(tokens.slice(0, -1));
    const key = tokens[tokens.length - 1];
    if (Array.isArray(parent)) {
      const idx = key === "-" ? parent.length : Number(key);
      if (insert) parent.splice(idx, 0, value);
      else parent[idx] = value;
    } else {
      parent[key] = value;
    }
  };
  const remove = (tokens) => {
    const parent = get(tokens.slice(0, -1));
    const key = tokens[tokens.length - 1];
    const value = parent[key];
    if (Array.isArray(parent)) parent.splice(Number(key), 1);
    else delete parent[key];
    return value;
  };
  for (const op of ops) {
    const path = parse(op.path);
    switch (op.op) {
      case "add":
        set(path, structuredClone(op.value), true);
        break;
      case "replace":
        set(path, structuredClone(op.value), false);
        break;
      case "remove":
        remove(path);
        break;
      case "move":
        set(path, remove(parse(op.from)), true);
        break;
      case "copy":
        set(path, structuredClone(get(parse(op.from))), true);
        break;
      case "test":
        assert.deepEqual(get(path), op.value);
        break;
      default:
        throw new Error(`unknown op ${op.op}`);
    }
  }
  return root;
}

// ----- sessions -----------------------------------------------------------------------------

describe("sessions", () => {
  test("createSession, session, sessions", async () => {
    const store = Store.memory();
    assert.deepEqual(store.sessions(), []);
    const t0 = Date.now();
    const a = await store.createSession("research agent", { model: "small", nested: { k: [1, 2] } });
    const t1 = Date.now();
    assert.match(a, UUID_V7);
    const sa = store.session(a);
    assert.deepEqual(sa, {
      id: a,
      name: "research agent",
      metadata: { model: "small", nested: { k: [1, 2] } },
      createdAt: sa.createdAt,
      head: null,
      checkpoints: 0,
    });
    assert.ok(sa.createdAt >= t0 && sa.createdAt <= t1, "createdAt is now");

    // Without metadata: {}.
    const b = await store.createSession("second");
    assert.deepEqual(store.session(b).metadata, {});
    assert.ok(b > a, "v7 ids are time-ordered");

    // A caller-chosen id (a LangGraph thread id), kept exactly.
    const chosen = "7f3e2a10-0000-4000-8000-00000000c0de";
    assert.equal(await store.createSession("thread", { thread: 7 }, chosen), chosen);
    assert.deepEqual(store.session(chosen).metadata, { thread: 7 });
    assert.equal(store.session(chosen).name, "thread");

    assert.deepEqual(
      store.sessions().map((s) => [s.id, s.name]),
      [
        [a, "research agent"],
        [b, "second"],
        [chosen, "thread"],
      ],
    );
    assert.deepEqual(store.sessions()[0], sa);
    const m = store.metrics();
    assert.equal(m.sessions, 3);
    assert.equal(m.ops.sessionsCreated, 3);
    assert.equal(m.checkpoints, 0);
  });

  test("sessions() is oldest first, also with caller-chosen ids", async () => {
    // index.d.ts: "Every session, oldest first." Caller-chosen ids (LangGraph thread ids are
    // often random v4 UUIDs) need not sort by creation time.
    const store = Store.memory();
    await store.createSession("first");
    await store.createSession("second", {}, "ffffffff-ffff-4fff-bfff-ffffffffffff");
    await store.createSession("third");
    await store.createSession("fourth", {}, "00000000-0000-4000-8000-000000000001");
    assert.deepEqual(
      store.sessions().map((s) => s.name),
      ["first", "second", "third", "fourth"],
    );
  });

  test("session counts and head follow checkpoints", async () => {
    const store = Store.memory();
    const s = await store.createSession("s");
    const c1 = await store.checkpoint({ session: s, message: "one", state: 1 });
    const c2 = await store.checkpoint({ session: s, message: "two", state: 2 });
    assert.deepEqual(
      { head: store.session(s).head, checkpoints: store.session(s).checkpoints },
      { head: c2.id, checkpoints: 2 },
    );
    assert.equal(c2.parent, c1.id);
  });
});

// ----- checkpoints --------------------------------------------------------------------------

describe("checkpoint", () => {
  test("JSON state: exact shape and defaults", async () => {
    const store = Store.memory();
    const s = await store.createSession("s");
    const state = { messages: ["hi", "hello"], step: 1, nested: { ok: true, none: null } };
    const t0 = Date.now();
    const cp = await store.checkpoint({ session: s, message: "plan drafted", state });
    const t1 = Date.now();
    const text = JSON.stringify(state);
    assert.deepEqual(cp, {
      id: cp.id,
      session: s,
      namespace: "",
      seq: 1,
      parent: null,
      parentHash: null,
      createdAt: cp.createdAt,
      message: "plan drafted",
      tags: [],
      trigger: { kind: "manual" },
      metadata: {},
      contentType: "application/json",
      stateLen: encoder.encode(text).length,
      hash: cp.hash,
    });
    assert.match(cp.id, UUID_V7);
    assert.match(cp.hash, HEX64);
    assert.ok(cp.createdAt >= t0 && cp.createdAt <= t1);
    assert.deepEqual(store.get(cp.id), cp);
    const bytes = (await store.state(cp.id));
    assert.ok(bytes instanceof Uint8Array);
    assert.equal(new TextDecoder().decode(bytes), text, "the state is its JSON text, byte-exact");
    assert.deepEqual((await store.stateJson(cp.id)), state);
  });

  test("JSON scalars (including null) and non-ASCII text are states", async () => {
    const store = Store.memory();
    const s = await store.createSession("s");
    for (const state of [null, 0, 42.5, true, false, "", "héllo ✓ 🙂", [], {}, [1, [2, [3]]]]) {
      const cp = await store.checkpoint({ session: s, message: `state ${JSON.stringify(state)}`, state });
      assert.equal(cp.contentType, "application/json");
      assert.equal(cp.stateLen, encoder.encode(JSON.stringify(state)).length);
      assert.deepEqual((await store.stateJson(cp.id)), state);
    }
  });

  test("Uint8Array state: exact bytes, octet-stream default, explicit content type", async () => {
    const store = Store.memory();
    const s = await store.createSession("s");
    const bytes = new Uint8Array([0, 1, 2, 250, 255, 0]);
    const cp = await store.checkpoint({ session: s, message: "bytes", state: bytes });
    assert.equal(cp.contentType, "application/octet-stream");
    assert.equal(cp.stateLen, 6);
    assert.deepEqual((await store.state(cp.id)), bytes);

    const empty = await store.checkpoint({ session: s, message: "empty", state: new Uint8Array() });
    assert.equal(empty.stateLen, 0);
    assert.deepEqual((await store.state(empty.id)), new Uint8Array());

    // A Buffer is a Uint8Array.
    const buf = await store.checkpoint({ session: s, message: "buffer", state: Buffer.from("abc") });
    assert.equal(buf.contentType, "application/octet-stream");
    assert.deepEqual((await store.state(buf.id)), new Uint8Array([97, 98, 99]));

    const png = await store.checkpoint({
      session: s,
      message: "typed",
      state: bytes,
      contentType: "image/png",
    });
    assert.equal(png.contentType, "image/png");
    const json = await store.checkpoint({
      session: s,
      message: "json with type",
      state: { a: 1 },
      contentType: "application/vnd.agent+json",
    });
    assert.equal(json.contentType, "application/vnd.agent+json");
    assert.deepEqual((await store.stateJson(json.id)), { a: 1 });
  });

  test("tags sorted and deduplicated, metadata, triggers", async () => {
    const store = Store.memory();
    const s = await store.createSession("s");
    const cp = await store.checkpoint({
      session: s,
      message: "tagged",
      state: {},
      tags: ["tool", "plan", "tool", "b", "a", "plan"],
      metadata: { model: "small", tokens: 1234, cost: 0.5, flags: [true, null], deep: { x: { y: "z" } } },
      trigger: { kind: "scheduled" },
    });
    assert.deepEqual(cp.tags, ["a", "b", "plan", "tool"]);
    assert.deepEqual(cp.metadata, {
      model: "small",
      tokens: 1234,
      cost: 0.5,
      flags: [true, null],
      deep: { x: { y: "z" } },
    });
    assert.deepEqual(cp.trigger, { kind: "scheduled" });
    assert.deepEqual(store.get(cp.id).tags, ["a", "b", "plan", "tool"]);

    const auto = await store.checkpoint({
      session: s,
      message: "auto",
      state: {},
      trigger: { kind: "automatic", reason: "tool call" },
    });
    assert.deepEqual(auto.trigger, { kind: "automatic", reason: "tool call" });
    const manual = await store.checkpoint({ session: s, message: "m", state: {}, trigger: { kind: "manual" } });
    assert.deepEqual(manual.trigger, { kind: "manual" });
  });

  test("parent, root, namespace, caller id, createdAt; the hash chain", async () => {
    const store = Store.memory();
    const s = await store.createSession("s");
    const chosenId = "00000000-0000-4000-8000-0000000000aa";
    const c1 = await store.checkpoint({
      session: s,
      message: "first",
      state: 1,
      id: chosenId,
      createdAt: 1_000,
      namespace: "planner",
    });
    assert.equal(c1.id, chosenId);
    assert.equal(c1.createdAt, 1_000);
    assert.equal(c1.namespace, "planner");
    assert.equal(c1.parent, null);
    assert.equal(c1.parentHash, null);

    const c2 = await store.checkpoint({ session: s, message: "second", state: 2 });
    assert.equal(c2.parent, c1.id, "parent defaults to the head");
    assert.equal(c2.parentHash, c1.hash);
    assert.equal(c2.namespace, "");
    assert.equal(c2.seq, c1.seq + 1);

    const fork = await store.checkpoint({ session: s, message: "fork", state: 3, parent: c1.id });
    assert.equal(fork.parent, c1.id);
    assert.equal(fork.parentHash, c1.hash);
    assert.equal(store.session(s).head, fork.id);

    const root = await store.checkpoint({ session: s, message: "new root", state: 4, root: true });
    assert.equal(root.parent, null);
    assert.equal(root.parentHash, null);
    assert.equal(store.session(s).head, root.id);

    // Same contents, different place: different hashes (the hash covers id and parent).
    assert.equal(new Set([c1.hash, c2.hash, fork.hash, root.hash]).size, 4);
    assert.deepEqual(
      [c1, c2, fork, root].map((c) => c.seq),
      [1, 2, 3, 4],
    );
    assert.equal(store.metrics().nextSeq, 5);
  });
});

// ----- automatic checkpoints ----------------------------------------------------------------

test("autoCheckpoint: throttling by autoMinIntervalMs and createdAt", async () => {
  const store = Store.memory({ autoMinIntervalMs: 1_000 });
  const s = await store.createSession("s");
  const other = await store.createSession("other");
  const a1 = await store.autoCheckpoint({ session: s, message: "a1", state: 1, createdAt: 10_000 }, "tick");
  assert.deepEqual(a1.trigger, { kind: "automatic", reason: "tick" });
  assert.equal(a1.createdAt, 10_000);
  // 999 ms later: too soon.
  assert.equal(
    await store.autoCheckpoint({ session: s, message: "a2", state: 2, createdAt: 10_999 }, "tick"),
    null,
  );
  // Another session is not throttled by this one.
  const o1 = await store.autoCheckpoint({ session: other, message: "o1", state: 1, createdAt: 10_500 }, "x");
  assert.notEqual(o1, null);
  // Exactly the interval: allowed.
  const a3 = await store.autoCheckpoint({ session: s, message: "a3", state: 3, createdAt: 11_000 }, "tock");
  assert.deepEqual(a3.trigger, { kind: "automatic", reason: "tock" });
  assert.equal(a3.parent, a1.id);
  // A scheduled checkpoint does not suppress an automatic one...
  await store.checkpoint({ session: s, message: "sched", state: 4, trigger: { kind: "scheduled" }, createdAt: 12_500 });
  const a4 = await store.autoCheckpoint({ session: s, message: "a4", state: 5, createdAt: 12_600 }, "t");
  assert.notEqual(a4, null);
  // ... a manual one does.
  await store.checkpoint({ session: s, message: "manual", state: 6, createdAt: 14_000 });
  assert.equal(
    await store.autoCheckpoint({ session: s, message: "a5", state: 7, createdAt: 14_500 }, "t"),
    null,
  );
  const m = store.metrics();
  assert.equal(m.ops.autoSkipped, 2);
  assert.equal(m.checkpoints, 6);
  assert.equal(m.ops.checkpointsCreated, 6);
  assert.deepEqual(
    store.list({ session: s, triggers: ["automatic"], order: "asc" }).items.map((c) => c.message),
    ["a1", "a3", "a4"],
  );
});

test("autoCheckpoint: default interval is 30 s; without createdAt it uses the clock", async () => {
  const store = Store.memory();
  const s = await store.createSession("s");
  const t0 = Date.now();
  const a = await store.autoCheckpoint({ session: s, message: "a", state: 1 }, "r");
  assert.ok(a.createdAt >= t0 && a.createdAt <= Date.now());
  assert.equal(await store.autoCheckpoint({ session: s, message: "b", state: 2 }, "r"), null);
  assert.equal(
    await store.autoCheckpoint({ session: s, message: "c", state: 3, createdAt: a.createdAt + 29_999 }, "r"),
    null,
  );
  assert.notEqual(
    await store.autoCheckpoint({ session: s, message: "d", state: 4, createdAt: a.createdAt + 30_000 }, "r"),
    null,
  );
});

// ----- navigation ---------------------------------------------------------------------------

test("restore returns the state, moves the head, and the next checkpoint forks", async () => {
  const store = Store.memory();
  const s = await store.createSession("s");
  const c1 = await store.checkpoint({ session: s, message: "one", state: { step: 1 } });
  const c2 = await store.checkpoint({ session: s, message: "two", state: { step: 2 } });
  const bin = await store.checkpoint({ session: s, message: "bin", state: new Uint8Array([9, 8]) });

  const restored = await store.restore(c1.id);
  assert.deepEqual(restored, {
    checkpoint: c1,
    session: s,
    state: encoder.encode('{"step":1}'),
    contentType: "application/json",
  });
  assert.ok(restored.state instanceof Uint8Array);
  assert.equal(store.session(s).head, c1.id);
  assert.equal(store.metrics().ops.restores, 1);

  const fork = await store.checkpoint({ session: s, message: "fork", state: { step: 2, alt: true } });
  assert.equal(fork.parent, c1.id);
  assert.equal(fork.parentHash, c1.hash);
  assert.deepEqual(ids(store.children(c1.id)), [c2.id, fork.id]);
  assert.deepEqual(ids(store.branches(s)), [fork.id, bin.id]);

  const rb = await store.restore(bin.id);
  assert.deepEqual(rb.state, new Uint8Array([9, 8]));
  assert.equal(rb.contentType, "application/octet-stream");
  assert.equal(store.session(s).head, bin.id);
  const after = await store.checkpoint({ session: s, message: "after bin", state: 5 });
  assert.equal(after.parent, bin.id);
});

test("latest, at, history, branches, children", async () => {
  const store = Store.memory();
  const s = await store.createSession("s");
  const empty = await store.createSession("empty");
  assert.equal(store.latest(empty), null);
  assert.equal(store.at(empty, Date.now()), null);
  assert.deepEqual(store.branches(empty), []);

  const c1 = await store.checkpoint({ session: s, message: "1", state: 1, createdAt: 1_000 });
  const c2 = await store.checkpoint({ session: s, message: "2", state: 2, createdAt: 2_000 });
  const c3 = await store.checkpoint({ session: s, message: "3", state: 3, createdAt: 3_000 });
  const f1 = await store.checkpoint({ session: s, message: "f1", state: 4, createdAt: 2_500, parent: c1.id });
  const f2 = await store.checkpoint({ session: s, message: "f2", state: 5, createdAt: 4_000 });
  const r = await store.checkpoint({ session: s, message: "root", state: 6, createdAt: 5_000, root: true });

  assert.deepEqual(store.latest(s), r);
  // at(): newest created at or before the time.
  assert.equal(store.at(s, 999), null);
  assert.deepEqual(store.at(s, 1_000), c1);
  assert.deepEqual(store.at(s, 1_999), c1);
  assert.deepEqual(store.at(s, 2_000), c2);
  assert.deepEqual(store.at(s, 2_700), f1);
  assert.deepEqual(store.at(s, 3_500), c3);
  assert.deepEqual(store.at(s, 4_999), f2);
  assert.deepEqual(store.at(s, 1e13), r);

  assert.deepEqual(store.history(c3.id), [c3, c2, c1]);
  assert.deepEqual(store.history(f2.id), [f2, f1, c1]);
  assert.deepEqual(store.history(c1.id), [c1]);
  assert.deepEqual(store.history(r.id), [r]);

  assert.deepEqual(ids(store.branches(s)), [r.id, f2.id, c3.id]);
  assert.deepEqual(store.children(c1.id), [c2, f1]);
  assert.deepEqual(store.children(c2.id), [c3]);
  assert.deepEqual(store.children(f1.id), [f2]);
  assert.deepEqual(store.children(c3.id), []);
  assert.deepEqual(store.children(r.id), []);
});

// ----- queries ------------------------------------------------------------------------------

describe("list", async () => {
  const store = Store.memory();
  const A = await store.createSession("A");
  const B = await store.createSession("B");
  const mk = (session, message, createdAt, extra = {}) =>
    store.checkpoint({ session, message, state: { message }, createdAt, ...extra });
  const a1 = await mk(A, "a1", 1_000, { tags: ["plan"], metadata: { step: 1, model: "m1" } });
  const a2 = await mk(A, "a2", 2_000, {
    tags: ["plan", "tool"],
    trigger: { kind: "automatic", reason: "r" },
    metadata: { step: 2, model: "m1" },
  });
  const b1 = await mk(B, "b1", 1_500, { tags: ["tool"], metadata: { step: 1 } });
  const a3 = await mk(A, "a3", 3_000, {
    tags: ["tool"],
    namespace: "sub",
    trigger: { kind: "scheduled" },
    metadata: { step: 3, model: "m2" },
  });
  const a4 = await mk(A, "a4", 4_000, { namespace: "sub", metadata: { step: 4, model: "m2" } });
  const b2 = await mk(B, "b2", 5_000, {
    tags: ["plan", "final"],
    trigger: { kind: "automatic", reason: "r" },
    metadata: { step: 2, nested: { x: [1] } },
  });
  const bySeq = [a1, a2, b1, a3, a4, b2];
  const desc = [...bySeq].reverse();
  const names = (page) => page.items.map((c) => c.message);

  test("no query: everything, newest first; items are whole checkpoints", () => {
    const page = store.list();
    assert.deepEqual(page, { items: desc, next: null });
    assert.deepEqual(store.list({}), page);
    assert.deepEqual(store.list({ order: "desc" }), page);
    assert.deepEqual(store.list({ order: "asc" }), { items: bySeq, next: null });
    assert.deepEqual(
      bySeq.map((c) => c.seq),
      [1, 2, 3, 4, 5, 6],
    );
  });

  test("listBrief: the same checkpoints and pages, each as id, namespace, content type and metadata", () => {
    const brief = (c) => ({ id: c.id, namespace: c.namespace, contentType: c.contentType, metadata: c.metadata });
    for (const query of [{}, { order: "asc" }, { session: A, namespace: "sub" }, { limit: 2 }]) {
      const page = store.list(query);
      assert.deepEqual(store.listBrief(query), { items: page.items.map(brief), next: page.next });
    }
    throwsCode(() => store.listBrief({ session: "not an id" }), InvalidInputError, "INVALID_INPUT");
  });

  test("each field", () => {
    assert.deepEqual(names(store.list({ session: A })), ["a4", "a3", "a2", "a1"]);
    assert.deepEqual(names(store.list({ session: B })), ["b2", "b1"]);
    assert.deepEqual(names(store.list({ namespace: "sub" })), ["a4", "a3"]);
    assert.deepEqual(names(store.list({ namespace: "" })), ["b2", "b1", "a2", "a1"]);
    assert.deepEqual(names(store.list({ namespace: "none" })), []);
    assert.deepEqual(names(store.list({ tags: ["plan"] })), ["b2", "a2", "a1"]);
    assert.deepEqual(names(store.list({ tags: ["plan", "tool"] })), ["a2"]);
    assert.deepEqual(names(store.list({ tags: ["missing"] })), []);
    assert.deepEqual(names(store.list({ tags: [] })), ["b2", "a4", "a3", "b1", "a2", "a1"]);
    assert.deepEqual(names(store.list({ tagsAny: ["final", "tool"] })), ["b2", "a3", "b1", "a2"]);
    assert.deepEqual(names(store.list({ tagsAny: ["missing"] })), []);
    assert.deepEqual(names(store.list({ triggers: ["automatic", "scheduled"] })), ["b2", "a3", "a2"]);
    assert.deepEqual(names(store.list({ triggers: ["manual"] })), ["a4", "b1", "a1"]);
    assert.deepEqual(names(store.list({ triggers: ["scheduled"] })), ["a3"]);
    assert.deepEqual(names(store.list({ metadata: { model: "m2" } })), ["a4", "a3"]);
    assert.deepEqual(names(store.list({ metadata: { step: 1 } })), ["b1", "a1"]);
    assert.deepEqual(names(store.list({ metadata: { step: 2, model: "m1" } })), ["a2"]);
    assert.deepEqual(names(store.list({ metadata: { nested: { x: [1] } } })), ["b2"]);
    assert.deepEqual(names(store.list({ metadata: { step: "1" } })), [], "values compare as JSON");
    assert.deepEqual(names(store.list({ seqMin: 2, seqMax: 4 })), ["a3", "b1", "a2"]);
    assert.deepEqual(names(store.list({ seqMin: 5 })), ["b2", "a4"]);
    assert.deepEqual(names(store.list({ seqMax: 1 })), ["a1"]);
    assert.deepEqual(names(store.list({ seqMin: 7 })), []);
    // timeFrom inclusive, timeTo exclusive.
    assert.deepEqual(names(store.list({ timeFrom: 1_500, timeTo: 4_000 })), ["a3", "b1", "a2"]);
    assert.deepEqual(names(store.list({ timeFrom: 4_000 })), ["b2", "a4"]);
    assert.deepEqual(names(store.list({ timeTo: 1_500 })), ["a1"]);
    assert.deepEqual(names(store.list({ before: a4.id })), ["a3", "b1", "a2", "a1"]);
    assert.deepEqual(names(store.list({ before: a1.id })), []);
    assert.deepEqual(names(store.list({ before: a4.id, order: "asc" })), ["a1", "a2", "b1", "a3"]);
    const limited = store.list({ limit: 2 });
    assert.deepEqual(names(limited), ["b2", "a4"]);
    assert.equal(typeof limited.next, "string");
    assert.deepEqual(names(store.list({ limit: 2, cursor: limited.next })), ["a3", "b1"]);
  });

  test("fields combine", () => {
    assert.deepEqual(names(store.list({ session: A, tags: ["tool"], order: "asc" })), ["a2", "a3"]);
    assert.deepEqual(names(store.list({ session: A, namespace: "", tagsAny: ["plan"] })), ["a2", "a1"]);
    assert.deepEqual(
      names(store.list({ triggers: ["manual"], metadata: { step: 1 }, timeFrom: 1_200 })),
      ["b1"],
    );
    assert.deepEqual(
      names(
        store.list({
          session: A,
          namespace: "",
          tags: ["plan"],
          tagsAny: ["tool", "x"],
          triggers: ["automatic"],
          metadata: { model: "m1" },
          seqMin: 1,
          seqMax: 6,
          timeFrom: 0,
          timeTo: 10_000,
          before: b2.id,
          order: "asc",
          limit: 10,
        }),
      ),
      ["a2"],
    );
  });

  test("cursor paging covers everything exactly once, in both orders", () => {
    for (const order of ["asc", "desc"]) {
      for (const limit of [1, 2, 3, 4, 6, 7]) {
        for (const query of [{}, { session: A }, { tagsAny: ["plan", "tool"] }, { namespace: "" }]) {
          const expected = store.list({ ...query, order }).items;
          const seen = [];
          let cursor;
          let pages = 0;
          for (;;) {
            const page = store.list({ ...query, order, limit, ...(cursor ? { cursor } : {}) });
            assert.ok(page.items.length <= limit);
            seen.push(...page.items);
            pages += 1;
            assert.ok(pages <= expected.length + 2, "paging terminates");
            if (page.next === null) break;
            assert.equal(typeof page.next, "string");
            cursor = page.next;
          }
          assert.deepEqual(seen, expected, `order ${order} limit ${limit} ${JSON.stringify(query)}`);
          assert.equal(new Set(ids(seen)).size, seen.length);
        }
      }
    }
  });

  test("a cursor stays valid when the store changes", async () => {
    const first = store.list({ session: B, order: "asc", limit: 1 });
    assert.deepEqual(names(first), ["b1"]);
    const b3 = await mk(B, "b3", 6_000);
    assert.deepEqual(names(store.list({ session: B, order: "asc", limit: 5, cursor: first.next })), ["b2", "b3"]);
    await store.delete(b3.id);
  });
});

// ----- diff ---------------------------------------------------------------------------------

test("diff: statePatch, tags, metadata patch, sharedRatio, sameState", async () => {
  const store = Store.memory();
  const s = await store.createSession("s");
  const before = { messages: ["hi"], n: 1, plan: { steps: ["a", "b"] }, gone: true };
  const after = { messages: ["hi", "hello"], n: 2, plan: { steps: ["a", "b", "c"] }, added: null };
  const a = await store.checkpoint({
    session: s,
    message: "before tool",
    state: before,
    tags: ["keep", "plan"],
    metadata: { model: "small", drop: 1 },
    createdAt: 1_000,
  });
  const b = await store.checkpoint({
    session: s,
    message: "after tool",
    state: after,
    tags: ["plan", "tool"],
    metadata: { model: "large", add: [1] },
    createdAt: 1_250,
  });
  const d = (await store.diff(a.id, b.id));
  assert.deepEqual(Object.keys(d).sort(), [
    "from",
    "fromLen",
    "message",
    "metadataPatch",
    "sameState",
    "seqDelta",
    "sharedRatio",
    "statePatch",
    "tagsAdded",
    "tagsRemoved",
    "timeDeltaMs",
    "to",
    "toLen",
  ]);
  assert.equal(d.from, a.id);
  assert.equal(d.to, b.id);
  assert.equal(d.seqDelta, 1);
  assert.equal(d.timeDeltaMs, 250);
  assert.deepEqual(d.message, { from: "before tool", to: "after tool" });
  assert.deepEqual(d.tagsAdded, ["tool"]);
  assert.deepEqual(d.tagsRemoved, ["keep"]);
  assert.equal(d.fromLen, a.stateLen);
  assert.equal(d.toLen, b.stateLen);
  assert.equal(d.sameState, false);
  assert.ok(d.sharedRatio >= 0 && d.sharedRatio <= 1);
  // The patches turn `from` into `to`.
  assert.deepEqual(applyPatch(before, d.statePatch), after);
  assert.deepEqual(applyPatch(a.metadata, d.metadataPatch), b.metadata);
  assert.deepEqual(
    [...d.metadataPatch].sort((x, y) => x.path.localeCompare(y.path)),
    [
      { op: "add", path: "/add", value: [1] },
      { op: "remove", path: "/drop" },
      { op: "replace", path: "/model", value: "large" },
    ],
  );
  for (const op of d.statePatch) assert.ok(["add", "remove", "replace", "move", "copy"].includes(op.op));
  // A one-field change gives exactly that replace.
  const c = await store.checkpoint({ session: s, message: "after tool", state: { ...after, n: 3 }, tags: ["plan", "tool"], metadata: b.metadata, createdAt: 1_250 });
  const d2 = (await store.diff(b.id, c.id));
  assert.deepEqual(d2.statePatch, [{ op: "replace", path: "/n", value: 3 }]);
  assert.equal(d2.message, null);
  assert.deepEqual(d2.tagsAdded, []);
  assert.deepEqual(d2.tagsRemoved, []);
  assert.deepEqual(d2.metadataPatch, []);
  assert.equal(d2.timeDeltaMs, 0);

  // The other direction: deltas negated, tags swapped, patch from `to` back to `from`.
  const back = (await store.diff(b.id, a.id));
  assert.equal(back.seqDelta, -1);
  assert.equal(back.timeDeltaMs, -250);
  assert.deepEqual(back.tagsAdded, ["keep"]);
  assert.deepEqual(back.tagsRemoved, ["tool"]);
  assert.deepEqual(applyPatch(after, back.statePatch), before);

  // Identical states.
  const same = await store.checkpoint({ session: s, message: "same", state: before, createdAt: 2_000 });
  const ds = (await store.diff(a.id, same.id));
  assert.equal(ds.sameState, true);
  assert.equal(ds.sharedRatio, 1);
  assert.deepEqual(ds.statePatch, []);
  assert.equal(ds.fromLen, ds.toLen);
  assert.deepEqual((await store.diff(a.id, a.id)).statePatch, []);
  assert.equal((await store.diff(a.id, a.id)).seqDelta, 0);

  // A large state that grows: most of the newer state's bytes are shared.
  const big = { log: Array.from({ length: 400 }, (_, i) => turnText(i, 60)) };
  const g1 = await store.checkpoint({ session: s, message: "big", state: big });
  const g2 = await store.checkpoint({
    session: s,
    message: "bigger",
    state: { log: [...big.log, "one more line"] },
  });
  const dg = (await store.diff(g1.id, g2.id));
  assert.ok(dg.sharedRatio > 0.8, `sharedRatio ${dg.sharedRatio}`);
  assert.ok(dg.sharedRatio < 1);
  assert.deepEqual(dg.statePatch, [{ op: "add", path: "/log/400", value: "one more line" }]);

  // Binary states: no state patch, but sizes and sameness.
  const x = await store.checkpoint({ session: s, message: "x", state: new Uint8Array([1, 2, 3]) });
  const y = await store.checkpoint({ session: s, message: "y", state: new Uint8Array([1, 2, 3]) });
  const z = await store.checkpoint({ session: s, message: "z", state: new Uint8Array([4]) });
  assert.equal((await store.diff(x.id, y.id)).sameState, true);
  assert.equal((await store.diff(x.id, y.id)).sharedRatio, 1);
  const dz = (await store.diff(x.id, z.id));
  assert.equal(dz.statePatch, null);
  assert.equal(dz.sameState, false);
  assert.equal(dz.sharedRatio, 0);
  assert.deepEqual([dz.fromLen, dz.toLen], [3, 1]);
  assert.equal((await store.diff(a.id, x.id)).statePatch, null, "JSON vs binary: no patch");
});

// ----- deletion -----------------------------------------------------------------------------

test("delete and deleteSession", async () => {
  const store = Store.memory();
  const s = await store.createSession("s");
  const t = await store.createSession("t");
  const c1 = await store.checkpoint({ session: s, message: "1", state: { v: 1 } });
  const c2 = await store.checkpoint({ session: s, message: "2", state: { v: 2 } });
  const c3 = await store.checkpoint({ session: s, message: "3", state: { v: 3 } });
  const t1 = await store.checkpoint({ session: t, message: "t1", state: { v: "t" } });
  await store.annotate(c2.id, "note");

  assert.equal(await store.delete(c2.id), undefined);
  throwsCode(() => store.get(c2.id), NotFoundError, "CHECKPOINT_NOT_FOUND");
  await rejectsCode(() => store.state(c2.id), NotFoundError, "CHECKPOINT_NOT_FOUND");
  // The child stays complete and readable; its parent still names the deleted id.
  assert.deepEqual((await store.stateJson(c3.id)), { v: 3 });
  assert.equal(store.get(c3.id).parent, c2.id);
  assert.deepEqual(ids(store.history(c3.id)), [c3.id], "history stops at a deleted ancestor");
  assert.deepEqual(ids(store.children(c1.id)), []);
  assert.deepEqual(ids(store.list({ session: s }).items), [c3.id, c1.id]);
  assert.equal(store.session(s).checkpoints, 2);
  let m = store.metrics();
  assert.equal(m.checkpoints, 3);
  assert.equal(m.annotations, 0, "the deleted checkpoint's annotation went with it");
  assert.equal(m.ops.deletes, 1);
  assert.ok(store.health().deadRatio > 0, "deleted data is dead space until compaction");
  assert.equal((await store.verify()).ok, true);

  // Deleting the head moves it to its parent (or else the newest remaining).
  await store.delete(c3.id);
  assert.equal(store.session(s).head, c1.id);
  const next = await store.checkpoint({ session: s, message: "next", state: 4 });
  assert.equal(next.parent, c1.id);

  assert.equal(await store.deleteSession(s), 2);
  throwsCode(() => store.session(s), NotFoundError, "SESSION_NOT_FOUND");
  throwsCode(() => store.get(c1.id), NotFoundError, "CHECKPOINT_NOT_FOUND");
  throwsCode(() => store.get(next.id), NotFoundError, "CHECKPOINT_NOT_FOUND");
  throwsCode(() => store.list({ session: s }), NotFoundError, "SESSION_NOT_FOUND");
  assert.deepEqual(ids(store.sessions()), [t]);
  assert.deepEqual(ids(store.list().items), [t1.id]);
  m = store.metrics();
  assert.equal(m.sessions, 1);
  assert.equal(m.checkpoints, 1);
  assert.equal(m.ops.deletes, 4);
  assert.equal(m.logicalBytes, t1.stateLen);
  assert.equal(await store.deleteSession(await store.createSession("empty")), 0);
  assert.equal((await store.verify()).ok, true);
});

// ----- annotations and attachments ----------------------------------------------------------

test("annotate and annotations", async () => {
  const store = Store.memory();
  const s = await store.createSession("s");
  const c = await store.checkpoint({ session: s, message: "c", state: 1 });
  assert.deepEqual(store.annotations(c.id), []);
  const t0 = Date.now();
  const a1 = await store.annotate(c.id, "looks fine");
  const a2 = await store.annotate(c.id, "hallucinated a tool", "warning");
  const a3 = await store.annotate(c.id, "leaked a secret", "critical");
  const a4 = await store.annotate(c.id, "explicit info", "info");
  const t1 = Date.now();
  assert.deepEqual(a1, { note: "looks fine", severity: "info", createdAt: a1.createdAt });
  assert.deepEqual(a2, { note: "hallucinated a tool", severity: "warning", createdAt: a2.createdAt });
  assert.deepEqual(a3.severity, "critical");
  assert.deepEqual(a4.severity, "info");
  for (const a of [a1, a2, a3, a4]) assert.ok(a.createdAt >= t0 && a.createdAt <= t1);
  assert.deepEqual(store.annotations(c.id), [a1, a2, a3, a4]);
  const m = store.metrics();
  assert.equal(m.annotations, 4);
  assert.equal(m.ops.annotations, 4);
});

test("attach, attachment, attachmentKeys (deduplicated like states)", async () => {
  const store = Store.memory();
  const s = await store.createSession("s");
  const c = await store.checkpoint({ session: s, message: "c", state: 1 });
  const d = await store.checkpoint({ session: s, message: "d", state: 2 });
  assert.deepEqual(store.attachmentKeys(c.id), []);
  assert.equal((await store.attachment(c.id, "missing")), null);

  const shot = pseudoRandomBytes(5_000, 7);
  assert.equal(await store.attach(c.id, "screenshot", "image/png", shot), undefined);
  await store.attach(c.id, "a-log", "text/plain", encoder.encode("tool output"));
  assert.deepEqual(store.attachmentKeys(c.id), ["a-log", "screenshot"]);
  const got = (await store.attachment(c.id, "screenshot"));
  assert.deepEqual(got, { contentType: "image/png", bytes: shot });
  assert.ok(got.bytes instanceof Uint8Array);
  assert.deepEqual((await store.attachment(c.id, "a-log")), {
    contentType: "text/plain",
    bytes: encoder.encode("tool output"),
  });
  assert.equal((await store.attachment(d.id, "screenshot")), null);
  // Many in one call, in order; null for a missing key and for a checkpoint that is gone.
  const gone = await store.checkpoint({ session: s, message: "gone", state: 3 });
  await store.delete(gone.id);
  assert.deepEqual(
    await store.attachmentsOf([[c.id, "a-log"], [d.id, "screenshot"], [c.id, "screenshot"], [gone.id, "a-log"]]),
    [{ contentType: "text/plain", bytes: encoder.encode("tool output") }, null, got, null],
  );
  assert.deepEqual(await store.attachmentsOf([]), []);
  // States the same way.
  assert.deepEqual(await store.statesOf([d.id, gone.id, c.id]), [encoder.encode("2"), null, encoder.encode("1")]);
  assert.deepEqual(await store.statesOf([]), []);
  await rejectsCode(() => store.statesOf(["not an id"]), InvalidInputError, "INVALID_INPUT");
  await rejectsCode(() => store.attachmentsOf([["not an id", "k"]]), InvalidInputError, "INVALID_INPUT");

  let m = store.metrics();
  assert.equal(m.attachments, 2);
  const stored = m.storedBytes;
  // The same bytes on another checkpoint are stored once.
  await store.attach(d.id, "screenshot", "image/png", shot);
  m = store.metrics();
  assert.equal(m.attachments, 3);
  assert.equal(m.storedBytes, stored, "same bytes, no new chunks");
  assert.equal(m.ops.attachments, 3);

  // Same key again replaces it.
  await store.attach(c.id, "a-log", "application/json", encoder.encode("{}"));
  assert.deepEqual((await store.attachment(c.id, "a-log")), {
    contentType: "application/json",
    bytes: encoder.encode("{}"),
  });
  assert.deepEqual(store.attachmentKeys(c.id), ["a-log", "screenshot"]);
  assert.equal(store.metrics().attachments, 3);
  // An empty attachment.
  await store.attach(d.id, "empty", "application/octet-stream", new Uint8Array());
  assert.deepEqual((await store.attachment(d.id, "empty")), {
    contentType: "application/octet-stream",
    bytes: new Uint8Array(),
  });
  assert.equal((await store.verify()).ok, true);
});

test("attachments written with their checkpoint: one transaction, save() returns the id", async () => {
  const store = Store.memory();
  const s = await store.createSession("s");
  const grow = (n) => encoder.encode(JSON.stringify(Array.from({ length: n }, (_, i) => `message ${i} `.repeat(12))));
  const id = await store.save({
    session: s,
    message: "first",
    state: { step: 0 },
    attachments: [
      { key: "c:messages", contentType: "application/json", bytes: grow(30) },
      { key: "raw", bytes: new Uint8Array([1, 2, 3]) },
    ],
  });
  assert.match(id, UUID_V7);
  assert.equal(store.get(id).message, "first");
  assert.deepEqual(store.attachmentKeys(id), ["c:messages", "raw"]);
  assert.deepEqual((await store.attachment(id, "raw")), { contentType: "application/octet-stream", bytes: new Uint8Array([1, 2, 3]) });
  assert.deepEqual((await store.attachment(id, "c:messages")).bytes, grow(30));
  assert.equal(store.metrics().ops.attachments, 2);

  // The next version grows from the parent's: the log grows by about the new message.
  const before = store.metrics().logBytes;
  const second = await store.checkpoint({
    session: s,
    message: "second",
    state: { step: 1 },
    attachments: [{ key: "c:messages", contentType: "application/json", bytes: grow(31) }],
  });
  const grew = store.metrics().logBytes - before;
  assert.ok(grew < grow(31).length / 4, `the log grew by ${grew} bytes for a ${grow(31).length}-byte value`);
  assert.deepEqual((await store.attachment(second.id, "c:messages")).bytes, grow(31));
  // An explicit base further up.
  const third = await store.save({
    session: s,
    message: "third",
    state: { step: 2 },
    parent: second.id,
    attachments: [{ key: "c:messages", contentType: "application/json", bytes: grow(32), base: second.id }],
  });
  const reopened = Store.memory({ log: (await store.logBytes()) });
  assert.deepEqual((await reopened.attachment(third, "c:messages")).bytes, grow(32));
  assert.equal((await reopened.verify()).ok, true);

  // Bad attachments refuse the whole checkpoint and write nothing.
  const log = (await store.logBytes()).length;
  const count = store.metrics().checkpoints;
  const twice = [
    { key: "k", bytes: new Uint8Array([1]) },
    { key: "k", bytes: new Uint8Array([2]) },
  ];
  await rejectsCode(() => store.save({ session: s, message: "m", state: {}, attachments: twice }), InvalidInputError, "INVALID_INPUT");
  await rejectsCode(() => store.save({ session: s, message: "m", state: {}, attachments: [{ key: "k", bytes: "text" }] }), InvalidInputError, "INVALID_INPUT");
  await rejectsCode(() => store.save({ session: s, message: "m", state: {}, attachments: {} }), InvalidInputError, "INVALID_INPUT");
  assert.equal((await store.logBytes()).length, log);
  assert.equal(store.metrics().checkpoints, count);
  // A base that is gone (compacted meanwhile) is only a missed saving.
  const orphan = await store.save({ session: s, message: "m", state: {}, attachments: [{ key: "k", bytes: new Uint8Array([1]), base: MISSING_CP }] });
  assert.deepEqual((await store.attachment(orphan, "k")).bytes, new Uint8Array([1]));
});

// ----- compaction ---------------------------------------------------------------------------

test("planCompaction, applyCompaction, compact: heads and critical checkpoints are protected", async () => {
  const store = Store.memory();
  const s = await store.createSession("s");
  const other = await store.createSession("other");
  const cps = [];
  for (let i = 1; i <= 5; i++) {
    cps.push(
      await store.checkpoint({
        session: s,
        message: `c${i}`,
        state: { i, blob: turnText(i, 2_000) },
        tags: i === 3 ? ["keep"] : [],
      }),
    );
  }
  const [c1, c2, c3, c4, c5] = cps;
  const o1 = await store.checkpoint({ session: other, message: "o1", state: { o: turnText(99, 500) } });
  await store.restore(c2.id); // c2 is the head
  await store.annotate(c1.id, "must keep", "critical");

  const before = (await snapshot(store));
  const plan = store.planCompaction({ keepLast: 2 });
  assert.deepEqual((await snapshot(store)), before, "planning changes nothing");
  assert.deepEqual(plan.remove, [{ id: c3.id, reason: "beyondKeepLast", detail: "older than the 2 newest of its session", keepLast: 2 }]);
  assert.deepEqual(plan.protected, [
    { id: c1.id, reason: "critical", detail: "has a critical annotation" },
    { id: c2.id, reason: "head", detail: "its session's head" },
  ]);
  assert.equal(plan.checkpointsBefore, 6);
  assert.equal(plan.storedBytesBefore, store.metrics().storedBytes);
  assert.ok(plan.storedBytesAfter < plan.storedBytesBefore);

  // Tags keep; sessions scope; protections can be turned off.
  assert.deepEqual(store.planCompaction({ keepLast: 2, keepTags: ["keep"] }).remove, []);
  assert.deepEqual(store.planCompaction({ keepLast: 2, keepTags: ["keep"] }).protected, [
    { id: c1.id, reason: "critical", detail: "has a critical annotation" },
    { id: c2.id, reason: "head", detail: "its session's head" },
    { id: c3.id, reason: "tagged", detail: 'carries the kept tag "keep"', tag: "keep" },
  ]);
  assert.deepEqual(
    store.planCompaction({ keepLast: 2, protectHeads: false, protectCritical: false }).remove.map((r) => r.id),
    [c1.id, c2.id, c3.id],
  );
  assert.deepEqual(store.planCompaction({ keepLast: 0, sessions: [other] }).remove, []);
  assert.deepEqual(store.planCompaction({ keepLast: 0, sessions: [other] }).protected, [
    { id: o1.id, reason: "head", detail: "its session's head" },
  ]);
  assert.deepEqual(store.planCompaction({ keepTags: ["keep"], sessions: [s] }).remove, [
    { id: c4.id, reason: "untagged", detail: "carries none of the kept tags" },
    { id: c5.id, reason: "untagged", detail: "carries none of the kept tags" },
  ]);
  assert.deepEqual(store.planCompaction({}).remove, []);

  const events = [];
  store.subscribe((e) => events.push(e));
  const logBefore = store.metrics().logBytes;
  const report = await store.applyCompaction(plan);
  assert.equal(report.removed, 1);
  assert.equal(report.logBytesBefore, logBefore);
  assert.equal(report.logBytesAfter, store.metrics().logBytes);
  assert.equal(report.logBytesAfter, (await store.logBytes()).length);
  assert.ok(report.logBytesAfter < report.logBytesBefore);
  assert.deepEqual(events, [
    { type: "deleted", session: s, checkpoint: c3.id },
    {
      type: "compacted",
      removed: 1,
      bytesBefore: report.logBytesBefore,
      bytesAfter: report.logBytesAfter,
    },
  ]);
  throwsCode(() => store.get(c3.id), NotFoundError, "CHECKPOINT_NOT_FOUND");
  assert.deepEqual(ids(store.list({ session: s, order: "asc" }).items), [c1.id, c2.id, c4.id, c5.id]);
  assert.equal(store.session(s).head, c2.id, "the head stays where it was");
  assert.deepEqual((await store.stateJson(c4.id)).i, 4, "a child of a removed checkpoint stays readable");
  let m = store.metrics();
  assert.equal(m.checkpoints, 5);
  assert.equal(m.ops.compactions, 1);
  assert.equal(m.storedBytes, plan.storedBytesAfter);
  assert.equal(store.health().deadRatio, 0);
  assert.equal((await store.verify()).ok, true);

  // The rewritten log reopens to the same store, head included.
  const reopened = Store.memory({ log: (await store.logBytes()) });
  assert.deepEqual(reopened.sessions(), store.sessions());
  assert.deepEqual(reopened.list(), store.list());

  // compact(): plan and apply in one call; applying a stale plan skips what is gone.
  const r2 = await store.compact({ keepLast: 1, protectCritical: false });
  assert.equal(r2.removed, 2); // c1 and c4: c2 is the head, c5 the newest
  assert.deepEqual(ids(store.list({ session: s, order: "asc" }).items), [c2.id, c5.id]);
  assert.equal((await store.applyCompaction(plan)).removed, 0);
  m = store.metrics();
  assert.equal(m.ops.compactions, 3);
  assert.equal(m.checkpoints, 3);
  assert.equal((await store.verify()).ok, true);
});

test("compaction by byte budget and by age", async () => {
  const store = Store.memory();
  const s = await store.createSession("s");
  const now = Date.now();
  const old = await store.checkpoint({ session: s, message: "old", state: { x: turnText(1, 3_000) }, createdAt: now - 100_000 });
  const mid = await store.checkpoint({ session: s, message: "mid", state: { x: turnText(2, 3_000) }, createdAt: now - 50_000 });
  const fresh = await store.checkpoint({ session: s, message: "fresh", state: { x: turnText(3, 3_000) } });
  const byAge = store.planCompaction({ maxAgeMs: 75_000 });
  assert.deepEqual(byAge.remove.map((r) => r.id), [old.id]);
  assert.equal(byAge.remove[0].reason, "tooOld");
  assert.ok(byAge.remove[0].ageMs >= 100_000, "the age in ms");
  assert.equal(byAge.remove[0].detail, `older than the maximum age (${byAge.remove[0].ageMs} ms old)`);
  const budget = store.planCompaction({ maxBytes: 4_000 });
  assert.deepEqual(
    budget.remove.map((r) => [r.id, r.reason]),
    [
      [old.id, "overBudget"],
      [mid.id, "overBudget"],
    ],
  );
  assert.ok(budget.storedBytesAfter <= 4_000);
  const report = await store.compact({ maxBytes: 4_000 });
  assert.equal(report.removed, 2);
  assert.deepEqual(ids(store.list().items), [fresh.id]);
  assert.equal(store.metrics().storedBytes, budget.storedBytesAfter);
});

// ----- export and import --------------------------------------------------------------------

async function richStore() {
  const store = Store.memory();
  const s = await store.createSession("agent", { model: "small" });
  const t = await store.createSession("other", { n: 2 });
  const c1 = await store.checkpoint({ session: s, message: "one", state: { step: 1 }, tags: ["plan"], metadata: { k: 1 } });
  const c2 = await store.checkpoint({ session: s, message: "two", state: new Uint8Array([0, 255, 1]), namespace: "sub" });
  await store.restore(c1.id);
  const c3 = await store.checkpoint({
    session: s,
    message: "fork",
    state: { step: 2, text: "héllo" },
    trigger: { kind: "automatic", reason: "tool" },
  });
  const t1 = await store.checkpoint({ session: t, message: "t1", state: "just text", trigger: { kind: "scheduled" } });
  await store.annotate(c1.id, "good plan", "info");
  await store.annotate(c3.id, "risky", "critical");
  await store.attach(c2.id, "raw", "application/octet-stream", pseudoRandomBytes(300, 3));
  await store.attach(c3.id, "notes", "text/plain", encoder.encode("notes"));
  return { store, s, t, c1, c2, c3, t1 };
}

/** Asserts that `b` holds exactly `a`'s content (same ids, hashes, seqs, states, notes, blobs). */
async function assertSameContent(a, b) {
  assert.deepEqual(b.sessions(), a.sessions());
  assert.deepEqual(b.list(), a.list());
  for (const cp of a.list().items) {
    assert.deepEqual(b.get(cp.id), cp);
    assert.deepEqual((await b.state(cp.id)), (await a.state(cp.id)));
    assert.deepEqual(b.annotations(cp.id), a.annotations(cp.id));
    assert.deepEqual(b.attachmentKeys(cp.id), a.attachmentKeys(cp.id));
    for (const key of a.attachmentKeys(cp.id)) {
      assert.deepEqual((await b.attachment(cp.id, key)), (await a.attachment(cp.id, key)));
    }
  }
  const ma = a.metrics();
  const mb = b.metrics();
  for (const k of ["sessions", "checkpoints", "annotations", "attachments", "logicalBytes", "storedBytes", "chunks", "nextSeq"]) {
    assert.equal(mb[k], ma[k], `metrics.${k}`);
  }
  // Same content, different logs: everything but the log's head hash agrees.
  const { logHead: headB, ...vb } = (await b.verify());
  const { logHead: headA, ...va } = (await a.verify());
  assert.deepEqual(vb, va);
  assert.match(headA, /^[0-9a-f]{64}$/);
  assert.match(headB, /^[0-9a-f]{64}$/);
}

test("exportJson / importJson round trip into a second store; re-import skips", async () => {
  const { store, s, t } = await richStore();
  const json = (await store.exportJson());
  assert.equal(typeof json, "string");
  const doc = JSON.parse(json);
  assert.equal(doc.format, "rewind.export");
  assert.equal(doc.version, 1);
  assert.equal(doc.sessions.length, 2);
  assert.equal(doc.checkpoints.length, 4);

  const second = Store.memory();
  const events = [];
  second.subscribe((e) => events.push(e));
  const report = await second.importJson(json);
  assert.deepEqual(report, {
    sessionsAdded: 2,
    checkpointsAdded: 4,
    skipped: 0,
    conflicts: [],
    annotationsAdded: 2,
    attachmentsAdded: 2,
  });
  await assertSameContent(store, second);
  assert.equal(second.metrics().ops.imports, 1);
  assert.deepEqual((await second.verify()).ok, true);

  // Again: everything is skipped, nothing is written.
  const logBefore = (await second.logBytes()).length;
  assert.deepEqual(await second.importJson(encoder.encode(json)), {
    sessionsAdded: 0,
    checkpointsAdded: 0,
    skipped: 4,
    conflicts: [],
    annotationsAdded: 0,
    attachmentsAdded: 0,
  });
  assert.equal((await second.logBytes()).length, logBefore);
  await assertSameContent(store, second);

  // Some sessions only.
  const only = JSON.parse((await store.exportJson([t])));
  assert.deepEqual(only.sessions.map((x) => x.id), [t]);
  assert.equal(only.checkpoints.length, 1);
  const third = Store.memory();
  const r3 = await third.importJson((await store.exportJson([t])));
  assert.equal(r3.checkpointsAdded, 1);
  assert.deepEqual(ids(third.sessions()), [t]);
  // ... then the rest: the known session and checkpoint are skipped.
  const r4 = await third.importJson(json);
  assert.equal(r4.sessionsAdded, 1);
  assert.equal(r4.checkpointsAdded, 3);
  assert.equal(r4.skipped, 1);
  // s and t were created in the same millisecond; this store received t first.
  assert.deepEqual(ids(third.sessions()).sort(), [s, t].sort());
  for (const cp of store.list().items) assert.equal(third.get(cp.id).hash, cp.hash);
  assert.equal((await third.verify()).ok, true);
});

test("import: a checkpoint id the store has with another hash is a conflict, not an overwrite", async () => {
  const S = "7f3e2a10-0000-4000-8000-00000000c0de";
  const X = "00000000-0000-4000-8000-0000000000aa";
  const source = Store.memory();
  await source.createSession("s", {}, S);
  await source.checkpoint({ session: S, message: "x", state: 1, id: X });
  const other = await source.checkpoint({ session: S, message: "other root", state: 3, root: true });
  const target = Store.memory();
  await target.createSession("s", {}, S);
  const mine = await target.checkpoint({ session: S, message: "x", state: 999, id: X });
  const report = await target.importJson((await source.exportJson()));
  assert.deepEqual(report, {
    sessionsAdded: 0,
    checkpointsAdded: 1,
    skipped: 0,
    conflicts: [X],
    annotationsAdded: 0,
    attachmentsAdded: 0,
  });
  assert.deepEqual(target.get(X), mine, "the store's own checkpoint stays");
  assert.deepEqual((await target.stateJson(X)), 999);
  assert.equal(target.get(other.id).hash, other.hash);
  assert.equal((await target.verify()).ok, true);
});

test("exportBinary / importBinary round trip into a second store; re-import skips", async () => {
  const { store, s, c1 } = await richStore();
  const bin = (await store.exportBinary());
  assert.ok(bin instanceof Uint8Array);
  const second = Store.memory();
  const report = await second.importBinary(bin);
  assert.deepEqual(report, {
    sessionsAdded: 2,
    checkpointsAdded: 4,
    skipped: 0,
    conflicts: [],
    annotationsAdded: 2,
    attachmentsAdded: 2,
  });
  await assertSameContent(store, second);
  const again = await second.importBinary(bin);
  assert.equal(again.skipped, 4);
  assert.equal(again.checkpointsAdded, 0);
  await assertSameContent(store, second);

  // JSON and binary exports carry the same content.
  const viaJson = Store.memory();
  await viaJson.importJson((await second.exportJson()));
  await assertSameContent(store, viaJson);

  // One session; the binary export is itself a log a store opens.
  const part = (await store.exportBinary([s]));
  const opened = Store.memory({ log: part });
  assert.deepEqual(ids(opened.sessions()), [s]);
  assert.equal(opened.get(c1.id).hash, c1.hash);
  assert.equal((await opened.verify()).ok, true);
});

// ----- integrity, metrics, health, log ------------------------------------------------------

test("verify", async () => {
  const empty = Store.memory();
  // An empty log's head is the chain's starting value.
  assert.deepEqual((await empty.verify()), {
    ok: true,
    checkpoints: 0,
    chunks: 0,
    firstError: null,
    formatVersion: 3,
    logHead: "0".repeat(64),
    danglingParents: 0,
  });
  const { store } = await richStore();
  const report = (await store.verify());
  const before = report.logHead;
  assert.deepEqual(report, {
    ok: true,
    checkpoints: 4,
    chunks: store.metrics().chunks,
    firstError: null,
    formatVersion: 3,
    logHead: before,
    danglingParents: 0,
  });
  // Every write moves the head on.
  await store.annotate(store.list({ limit: 1 }).items[0].id, "a note");
  assert.notEqual((await store.verify()).logHead, before);
});

test("metrics: a growing conversation is deduplicated", async () => {
  const store = Store.memory();
  assert.deepEqual(store.metrics(), {
    sessions: 0,
    checkpoints: 0,
    annotations: 0,
    attachments: 0,
    logicalBytes: 0,
    storedBytes: 0,
    chunks: 0,
    logBytes: 0,
    nextSeq: 1,
    dedupRatio: 1,
    eventsDropped: 0,
    ops: {
      sessionsCreated: 0,
      checkpointsCreated: 0,
      autoSkipped: 0,
      restores: 0,
      deletes: 0,
      annotations: 0,
      attachments: 0,
      compactions: 0,
      imports: 0,
      backendErrors: 0,
      snapshotsWritten: 0,
      snapshotDeltasWritten: 0,
      snapshotsMerged: 0,
      writeRetries: 0,
    },
  });
  const s = await store.createSession("chat");
  const messages = [];
  let logical = 0;
  let lastLen = 0;
  const turns = 120;
  for (let i = 0; i < turns; i++) {
    messages.push({ role: i % 2 ? "assistant" : "user", content: turnText(i, 300) });
    const cp = await store.checkpoint({ session: s, message: `turn ${i + 1}`, state: { messages } });
    logical += cp.stateLen;
    lastLen = cp.stateLen;
  }
  const m = store.metrics();
  assert.equal(m.checkpoints, turns);
  assert.equal(m.ops.checkpointsCreated, turns);
  assert.equal(m.logicalBytes, logical);
  assert.ok(logical > 2_000_000, `logical ${logical}`);
  assert.ok(m.storedBytes <= lastLen * 2, `stored ${m.storedBytes} for a last state of ${lastLen}`);
  assert.ok(m.storedBytes * 20 < m.logicalBytes, `stored ${m.storedBytes} vs logical ${m.logicalBytes}`);
  assert.ok(m.logBytes * 10 < m.logicalBytes, `log ${m.logBytes} vs logical ${m.logicalBytes}`);
  assert.equal(m.dedupRatio, m.logicalBytes / m.storedBytes);
  assert.ok(m.dedupRatio > 20);
  assert.deepEqual((await store.stateJson(store.latest(s).id)), { messages });
  assert.equal((await store.verify()).ok, true);
});

test("health", async () => {
  const store = Store.memory();
  assert.deepEqual(store.health(), { ok: true, writeError: null, deadRatio: 0, eventsDropped: 0 });
  const s = await store.createSession("s");
  const c = await store.checkpoint({ session: s, message: "c", state: { x: turnText(1, 1_000) } });
  await store.checkpoint({ session: s, message: "d", state: 1 });
  assert.equal(store.health().deadRatio, 0);
  await store.delete(c.id);
  const h = store.health();
  assert.equal(h.ok, true);
  assert.equal(h.writeError, null);
  assert.ok(h.deadRatio > 0.3 && h.deadRatio <= 1, `deadRatio ${h.deadRatio}`);
  await store.compact({});
  assert.equal(store.health().deadRatio, 0);

  // Events beyond eventCapacity are dropped (the oldest), and counted.
  const bounded = Store.memory({ eventCapacity: 2 });
  const delivered = [];
  bounded.subscribe((e) => delivered.push(e));
  const bs = await bounded.createSession("s");
  const made = [];
  for (let i = 0; i < 5; i++) made.push(await bounded.checkpoint({ session: bs, message: `m${i}`, state: i }));
  delivered.length = 0;
  const report = await bounded.compact({ keepLast: 1 }); // 4 deleted + 1 compacted = 5 events
  assert.equal(report.removed, 4);
  assert.deepEqual(delivered, [
    { type: "deleted", session: bs, checkpoint: made[3].id },
    { type: "compacted", removed: 4, bytesBefore: report.logBytesBefore, bytesAfter: report.logBytesAfter },
  ]);
  assert.equal(bounded.metrics().eventsDropped, 3);
  assert.equal(bounded.health().eventsDropped, 3);
  assert.equal(bounded.health().ok, true);

  const small = Store.memory({ eventCapacity: 0 });
  const events = [];
  small.subscribe((e) => events.push(e));
  await small.createSession("x");
  assert.deepEqual(events, [], "eventCapacity 0 turns events off");
});

test("logBytes and Store.memory({log}) reopen the store identically", async () => {
  const { store, s, c3 } = await richStore();
  await store.delete((await store.checkpoint({ session: s, message: "temp", state: 0 })).id);
  const log = (await store.logBytes());
  assert.ok(log instanceof Uint8Array);

  const reopened = Store.memory({ log });
  await assertSameContent(store, reopened);
  assert.deepEqual((await reopened.logBytes()), log);
  assert.equal(reopened.metrics().logBytes, log.length);
  assert.equal(reopened.health().ok, true);
  assert.equal(reopened.health().writeError, null);
  assert.deepEqual(reopened.metrics().ops.checkpointsCreated, 0, "ops count this process only");
  assert.equal(reopened.session(s).head, store.session(s).head);
  assert.equal(reopened.session(s).head, c3.id);
  assert.equal(
    JSON.stringify({ ...JSON.parse((await reopened.exportJson())), exported_at: 0 }),
    JSON.stringify({ ...JSON.parse((await store.exportJson())), exported_at: 0 }),
  );

  // Both go on the same way: seqs continue, never reused.
  const nextA = await store.checkpoint({ session: s, message: "next", state: 9 });
  const nextB = await reopened.checkpoint({ session: s, message: "next", state: 9 });
  assert.equal(nextA.seq, nextB.seq);
  assert.equal(nextB.seq, store.metrics().nextSeq - 1);
  assert.equal(nextB.parent, c3.id);
  assert.equal(nextB.parentHash, c3.hash);

  // Options apply to a reopened store.
  const limited = Store.memory({ log, maxStateBytes: 4 });
  await failingWrite(limited, () => limited.checkpoint({ session: s, message: "big", state: "12345" }), LimitExceededError, "LIMIT_EXCEEDED");
  assert.equal(Store.memory({ log: new Uint8Array() }).metrics().checkpoints, 0);
});

test("metrics().logBytes and CompactionReport.logBytesBefore are the log's real size", async () => {
  // logBytes(): "The whole log". metrics().logBytes and a compaction report's logBytesBefore
  // must count the same bytes, including the log header that the first write puts down.
  const store = Store.memory();
  assert.equal(store.metrics().logBytes, (await store.logBytes()).length, "empty store");
  const s = await store.createSession("s");
  assert.equal(store.metrics().logBytes, (await store.logBytes()).length, "after the first write");
  await store.checkpoint({ session: s, message: "a", state: 1 });
  await store.checkpoint({ session: s, message: "b", state: 2 });
  const log = (await store.logBytes());
  assert.equal(store.metrics().logBytes, log.length, "after more writes");
  assert.equal(Store.memory({ log }).metrics().logBytes, store.metrics().logBytes, "a reopened store reports the same size");
  const report = await store.compact({ keepLast: 1 });
  assert.equal(report.logBytesBefore, log.length, "CompactionReport.logBytesBefore");
  assert.equal(report.logBytesAfter, (await store.logBytes()).length, "CompactionReport.logBytesAfter");
});

test("Store.open({backend: 'memory'}) and Store.open({}) give memory stores; destroy is a no-op", async () => {
  for (const options of [{}, { backend: "memory" }, { backend: "memory", maxTags: 1 }]) {
    const store = await Store.open(options);
    const s = await store.createSession("s");
    await store.checkpoint({ session: s, message: "m", state: 1, tags: ["a"] });
    assert.equal(store.metrics().checkpoints, 1);
    await store.close();
  }
  const limited = await Store.open({ backend: "memory", maxTags: 1 });
  const s = await limited.createSession("s");
  await failingWrite(limited, () => limited.checkpoint({ session: s, message: "m", state: 1, tags: ["a", "b"] }), LimitExceededError, "LIMIT_EXCEEDED");
  const { store } = await richStore();
  const reopened = await Store.open({ backend: "memory", log: (await store.logBytes()) });
  await assertSameContent(store, reopened);
  assert.equal(await Store.destroy("anything"), undefined);
});

// ----- events -------------------------------------------------------------------------------

test("subscribe / unsubscribe: the exact event sequence", async () => {
  const store = Store.memory();
  const events = [];
  const second = [];
  const unsubscribe = store.subscribe((e) => events.push(e));
  const unsubscribeSecond = store.subscribe((e) => second.push(e));
  const thrower = store.subscribe(() => {
    throw new Error("a failing subscriber does not break the store");
  });
  assert.equal(typeof unsubscribe, "function");

  const s = await store.createSession("s");
  const c1 = await store.checkpoint({ session: s, message: "1", state: 1 });
  const c2 = await store.checkpoint({ session: s, message: "2", state: 2 });
  const skipped = await store.autoCheckpoint({ session: s, message: "auto", state: 3 }, "r");
  assert.equal(skipped, null);
  await store.restore(c1.id);
  await store.annotate(c1.id, "warn", "warning");
  await store.attach(c1.id, "k", "text/plain", encoder.encode("v"));
  const c3 = await store.checkpoint({ session: s, message: "3", state: 3 });
  await store.delete(c2.id);
  const report = await store.compact({ keepLast: 1 });
  await store.importJson((await store.exportJson())); // all skipped
  const t = await store.createSession("t");
  await store.deleteSession(t);
  thrower();
  unsubscribeSecond();
  const late = await store.checkpoint({ session: s, message: "after second left", state: 4 });
  unsubscribe();
  await store.checkpoint({ session: s, message: "after everyone left", state: 5 });

  const expected = [
    { type: "sessionCreated", session: s },
    { type: "created", session: s, checkpoint: c1.id, seq: 1 },
    { type: "created", session: s, checkpoint: c2.id, seq: 2 },
    { type: "restored", session: s, checkpoint: c1.id },
    { type: "annotated", checkpoint: c1.id, severity: "warning" },
    { type: "created", session: s, checkpoint: c3.id, seq: 3 },
    { type: "deleted", session: s, checkpoint: c2.id },
    { type: "deleted", session: s, checkpoint: c1.id },
    { type: "compacted", removed: 1, bytesBefore: report.logBytesBefore, bytesAfter: report.logBytesAfter },
    { type: "sessionCreated", session: t },
    { type: "sessionDeleted", session: t },
  ];
  assert.equal(report.removed, 1);
  assert.deepEqual(second, expected);
  assert.deepEqual(events, [...expected, { type: "created", session: s, checkpoint: late.id, seq: 4 }]);
  // Events arrive before the write's promise resolves.
  const seen = [];
  store.subscribe((e) => seen.push(e));
  const p = store.createSession("u");
  const u = await p;
  assert.deepEqual(seen, [{ type: "sessionCreated", session: u }]);
  assert.equal(store.metrics().eventsDropped, 0);
});

// ----- close --------------------------------------------------------------------------------

test("close, then every operation throws ClosedError", async () => {
  const { store, s, c1 } = await richStore();
  const events = [];
  store.subscribe((e) => events.push(e));
  assert.equal(await store.close(), undefined);
  assert.equal(await store.close(), undefined, "closing twice is fine");
  const reads = [
    () => store.session(s),
    () => store.sessions(),
    () => store.get(c1.id),
    () => store.latest(s),
    () => store.at(s, Date.now()),
    () => store.history(c1.id),
    () => store.branches(s),
    () => store.children(c1.id),
    () => store.list({}),
    () => store.annotations(c1.id),
    () => store.attachmentKeys(c1.id),
    () => store.planCompaction({}),
    () => store.metrics(),
    () => store.health(),
  ];
  for (const read of reads) throwsCode(read, ClosedError, "CLOSED");
  // Reads that may fetch log bytes from storage return promises, which reject.
  const asyncReads = [
    () => store.state(c1.id),
    () => store.stateJson(c1.id),
    () => store.diff(c1.id, c1.id),
    () => store.attachment(c1.id, "x"),
    () => store.exportJson(),
    () => store.exportBinary(),
    () => store.verify(),
    () => store.logBytes(),
  ];
  for (const read of asyncReads) await rejectsCode(read, ClosedError, "CLOSED");
  const writes = [
    () => store.createSession("x"),
    () => store.deleteSession(s),
    () => store.checkpoint({ session: s, message: "m", state: 1 }),
    () => store.autoCheckpoint({ session: s, message: "m", state: 1 }, "r"),
    () => store.restore(c1.id),
    () => store.delete(c1.id),
    () => store.annotate(c1.id, "n"),
    () => store.attach(c1.id, "k", "text/plain", new Uint8Array(1)),
    () => store.applyCompaction({ remove: [], protected: [], checkpointsBefore: 0, storedBytesBefore: 0, storedBytesAfter: 0 }),
    () => store.compact({}),
    () => store.importJson("{}"),
    () => store.importBinary(new Uint8Array(8)),
  ];
  for (const write of writes) await rejectsCode(write, ClosedError, "CLOSED");
  assert.equal(await store.flush(), undefined);
  assert.deepEqual(events, []);
});

// ----- bad input ----------------------------------------------------------------------------

test("parity: every query filter, retention flag, option and error kind, as on every host", async () => {
  const scenario = JSON.parse(readFileSync(new URL("../../../core/src/conformance/parity.json", import.meta.url), "utf8"));
  const { problems, store } = await runParity(scenario, (options) => Store.memory(options));
  assert.deepEqual(problems, []);
  // An option the scenario gives reaches the engine: the tag limit it set holds.
  await assert.rejects(
    () => store.checkpoint({ session: store.sessions()[0].id, message: "m", state: {}, tags: ["1", "2", "3", "4", "5"] }),
    isError(LimitExceededError, "LIMIT_EXCEEDED"),
  );
});

test("an unknown store option is refused, not ignored", () => {
  assert.throws(() => Store.memory({ maxStatBytes: 10 }), isError(InvalidInputError, "INVALID_INPUT"));
});

describe("bad input", async () => {
  const store = Store.memory({ maxStateBytes: 64, maxTags: 3, maxMessageBytes: 32, maxMetadataBytes: 40, autoMinIntervalMs: 1_000 });
  const s = await store.createSession("s");
  const other = await store.createSession("other");
  const c = await store.checkpoint({ session: s, message: "c", state: { a: 1 }, createdAt: 1_000 });
  const bin = await store.checkpoint({ session: s, message: "bin", state: new Uint8Array([0xff, 0xfe, 0x00]) });
  const o = await store.checkpoint({ session: other, message: "o", state: 1 });

  test("the error classes and codes", () => {
    for (const Class of [NotFoundError, InvalidInputError, LimitExceededError, CorruptError, HashMismatchError, ImportRejectedError, StorageError, LockedError, ReadOnlyError, ClosedError]) {
      assert.ok(Object.prototype.isPrototypeOf.call(RewindError, Class), Class.name);
    }
    assert.ok(Object.prototype.isPrototypeOf.call(StorageError, QuotaExceededError));
  });

  test("unknown ids: NotFoundError", async () => {
    throwsCode(() => store.get(MISSING_CP), NotFoundError, "CHECKPOINT_NOT_FOUND");
    await rejectsCode(() => store.state(MISSING_CP), NotFoundError, "CHECKPOINT_NOT_FOUND");
    await rejectsCode(() => store.stateJson(MISSING_CP), NotFoundError, "CHECKPOINT_NOT_FOUND");
    throwsCode(() => store.history(MISSING_CP), NotFoundError, "CHECKPOINT_NOT_FOUND");
    throwsCode(() => store.children(MISSING_CP), NotFoundError, "CHECKPOINT_NOT_FOUND");
    await rejectsCode(() => store.diff(c.id, MISSING_CP), NotFoundError, "CHECKPOINT_NOT_FOUND");
    await rejectsCode(() => store.diff(MISSING_CP, c.id), NotFoundError, "CHECKPOINT_NOT_FOUND");
    throwsCode(() => store.annotations(MISSING_CP), NotFoundError, "CHECKPOINT_NOT_FOUND");
    await rejectsCode(() => store.attachment(MISSING_CP, "k"), NotFoundError, "CHECKPOINT_NOT_FOUND");
    throwsCode(() => store.attachmentKeys(MISSING_CP), NotFoundError, "CHECKPOINT_NOT_FOUND");
    throwsCode(() => store.list({ before: MISSING_CP }), NotFoundError, "CHECKPOINT_NOT_FOUND");
    throwsCode(() => store.session(MISSING_SESSION), NotFoundError, "SESSION_NOT_FOUND");
    throwsCode(() => store.latest(MISSING_SESSION), NotFoundError, "SESSION_NOT_FOUND");
    throwsCode(() => store.at(MISSING_SESSION, 0), NotFoundError, "SESSION_NOT_FOUND");
    throwsCode(() => store.branches(MISSING_SESSION), NotFoundError, "SESSION_NOT_FOUND");
    throwsCode(() => store.list({ session: MISSING_SESSION }), NotFoundError, "SESSION_NOT_FOUND");
    await rejectsCode(() => store.exportJson([MISSING_SESSION]), NotFoundError, "SESSION_NOT_FOUND");
    await rejectsCode(() => store.exportBinary([MISSING_SESSION]), NotFoundError, "SESSION_NOT_FOUND");
    throwsCode(() => store.planCompaction({ sessions: [MISSING_SESSION] }), NotFoundError, "SESSION_NOT_FOUND");
    const write = (fn, code) => failingWrite(store, fn, NotFoundError, code);
    await write(() => store.checkpoint({ session: MISSING_SESSION, message: "m", state: 1 }), "SESSION_NOT_FOUND");
    await write(() => store.autoCheckpoint({ session: MISSING_SESSION, message: "m", state: 1 }, "r"), "SESSION_NOT_FOUND");
    await write(() => store.checkpoint({ session: s, message: "m", state: 1, parent: MISSING_CP }), "CHECKPOINT_NOT_FOUND");
    await write(() => store.restore(MISSING_CP), "CHECKPOINT_NOT_FOUND");
    await write(() => store.delete(MISSING_CP), "CHECKPOINT_NOT_FOUND");
    await write(() => store.annotate(MISSING_CP, "note"), "CHECKPOINT_NOT_FOUND");
    await write(() => store.attach(MISSING_CP, "k", "text/plain", new Uint8Array(1)), "CHECKPOINT_NOT_FOUND");
    await write(() => store.deleteSession(MISSING_SESSION), "SESSION_NOT_FOUND");
    await write(() => store.compact({ sessions: [MISSING_SESSION] }), "SESSION_NOT_FOUND");
  });

  test("malformed id strings: INVALID_INPUT", async () => {
    for (const bad of ["", "nope", "1234", `${c.id}x`, c.id.slice(0, -1), "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"]) {
      throwsCode(() => store.get(bad), InvalidInputError, "INVALID_INPUT");
      await rejectsCode(() => store.state(bad), InvalidInputError, "INVALID_INPUT");
      throwsCode(() => store.history(bad), InvalidInputError, "INVALID_INPUT");
      await rejectsCode(() => store.diff(c.id, bad), InvalidInputError, "INVALID_INPUT");
      throwsCode(() => store.session(bad), InvalidInputError, "INVALID_INPUT");
      throwsCode(() => store.latest(bad), InvalidInputError, "INVALID_INPUT");
      throwsCode(() => store.list({ session: bad }), InvalidInputError, "INVALID_INPUT");
      throwsCode(() => store.list({ before: bad }), InvalidInputError, "INVALID_INPUT");
      await rejectsCode(() => store.exportJson([bad]), InvalidInputError, "INVALID_INPUT");
      await failingWrite(store, () => store.checkpoint({ session: bad, message: "m", state: 1 }), InvalidInputError, "INVALID_INPUT");
      await failingWrite(store, () => store.checkpoint({ session: s, message: "m", state: 1, parent: bad }), InvalidInputError, "INVALID_INPUT");
      await failingWrite(store, () => store.restore(bad), InvalidInputError, "INVALID_INPUT");
      await failingWrite(store, () => store.delete(bad), InvalidInputError, "INVALID_INPUT");
      await failingWrite(store, () => store.annotate(bad, "n"), InvalidInputError, "INVALID_INPUT");
      await failingWrite(store, () => store.deleteSession(bad), InvalidInputError, "INVALID_INPUT");
      if (bad !== "") {
        // An empty id means "generate one".
        await failingWrite(store, () => store.createSession("x", {}, bad), InvalidInputError, "INVALID_INPUT");
        await failingWrite(store, () => store.checkpoint({ session: s, message: "m", state: 1, id: bad }), InvalidInputError, "INVALID_INPUT");
      }
    }
  });

  test("empty message", async () => {
    for (const message of ["", "   ", "\n\t"]) {
      await failingWrite(store, () => store.checkpoint({ session: s, message, state: 1 }), InvalidInputError, "INVALID_INPUT");
      await failingWrite(store, () => store.autoCheckpoint({ session: s, message, state: 1, createdAt: 1_000 }, "r"), InvalidInputError, "INVALID_INPUT");
    }
    await failingWrite(store, () => store.checkpoint({ session: s, state: 1 }), InvalidInputError, "INVALID_INPUT");
    await failingWrite(store, () => store.annotate(c.id, "  "), InvalidInputError, "INVALID_INPUT");
    await failingWrite(store, () => store.annotate(c.id, ""), InvalidInputError, "INVALID_INPUT");
    await failingWrite(store, () => store.createSession(""), InvalidInputError, "INVALID_INPUT");
    await failingWrite(store, () => store.createSession("  "), InvalidInputError, "INVALID_INPUT");
    await failingWrite(store, () => store.checkpoint({ session: s, message: "m", state: 1, tags: ["ok", ""] }), InvalidInputError, "INVALID_INPUT");
  });

  test("duplicate ids: DUPLICATE_ID", async () => {
    await failingWrite(store, () => store.checkpoint({ session: s, message: "m", state: 1, id: c.id }), InvalidInputError, "DUPLICATE_ID");
    // A checkpoint id is unique in the whole store, not just its session.
    await failingWrite(store, () => store.checkpoint({ session: other, message: "m", state: 1, id: c.id }), InvalidInputError, "DUPLICATE_ID");
    await failingWrite(store, () => store.createSession("again", {}, s), InvalidInputError, "DUPLICATE_ID");
  });

  test("parent in another session: PARENT_IN_OTHER_SESSION", async () => {
    await failingWrite(store, () => store.checkpoint({ session: s, message: "m", state: 1, parent: o.id }), InvalidInputError, "PARENT_IN_OTHER_SESSION");
  });

  test("limits: LIMIT_EXCEEDED", async () => {
    const limit = (fn) => failingWrite(store, fn, LimitExceededError, "LIMIT_EXCEEDED");
    await limit(() => store.checkpoint({ session: s, message: "m", state: new Uint8Array(65) }));
    await limit(() => store.checkpoint({ session: s, message: "m", state: "x".repeat(70) }));
    await limit(() => store.checkpoint({ session: s, message: "m", state: 1, tags: ["a", "b", "c", "d"] }));
    await limit(() => store.checkpoint({ session: s, message: "m".repeat(33), state: 1 }));
    await limit(() => store.checkpoint({ session: s, message: "m", state: 1, metadata: { text: "x".repeat(40) } }));
    await limit(() => store.autoCheckpoint({ session: s, message: "m", state: new Uint8Array(65), createdAt: FAR_FUTURE }, "r"));
    await limit(() => store.createSession("n", { text: "x".repeat(40) }));
    await limit(() => store.checkpoint({ session: s, message: "m", state: 1, tags: ["t".repeat(129)] }));
    // At the limits: accepted (tags are counted after deduplication).
    const before = store.metrics().checkpoints;
    const atLimit = await store.checkpoint({
      session: other,
      message: "m".repeat(32),
      state: new Uint8Array(64),
      tags: ["a", "b", "c", "a", "b"],
    });
    assert.deepEqual(atLimit.tags, ["a", "b", "c"]);
    assert.equal(store.metrics().checkpoints, before + 1);
  });

  test("autoCheckpoint: an empty message or unknown session is an error even when throttled", async () => {
    // c (createdAt 1000) is recent at 1500: this would be throttled, but the input is bad.
    await failingWrite(store, () => store.autoCheckpoint({ session: s, message: "", state: 1, createdAt: 1_500 }, "r"), InvalidInputError, "INVALID_INPUT");
    await failingWrite(store, () => store.autoCheckpoint({ session: MISSING_SESSION, message: "m", state: 1, createdAt: 1_500 }, "r"), NotFoundError, "SESSION_NOT_FOUND");
  });

  test("autoCheckpoint: input over a limit or with an unknown parent is an error even when throttled", async () => {
    // The engine says "Bad input is an error even when the checkpoint would be throttled away"
    // (core/src/store.rs, auto_checkpoint), but only checks the message and the session there.
    await failingWrite(
      store,
      () => store.autoCheckpoint({ session: s, message: "m", state: new Uint8Array(65), createdAt: 1_500 }, "r"),
      LimitExceededError,
      "LIMIT_EXCEEDED",
    );
    await failingWrite(
      store,
      () => store.autoCheckpoint({ session: s, message: "m", state: 1, parent: MISSING_CP, createdAt: 1_500 }, "r"),
      NotFoundError,
      "CHECKPOINT_NOT_FOUND",
    );
  });

  test("missing or non-JSON state", async () => {
    const invalid = (fn) => failingWrite(store, fn, InvalidInputError, "INVALID_INPUT");
    await invalid(() => store.checkpoint({ session: s, message: "m" }));
    await invalid(() => store.checkpoint({ session: s, message: "m", state: undefined }));
    await invalid(() => store.autoCheckpoint({ session: s, message: "m", createdAt: FAR_FUTURE }, "r"));
    await invalid(() => store.checkpoint({ session: s, message: "m", state: () => 1 }));
    await invalid(() => store.checkpoint({ session: s, message: "m", state: Symbol("s") }));
    await invalid(() => store.checkpoint(null));
    await invalid(() => store.checkpoint("not an object"));
    await invalid(() => store.checkpoint({ session: s, message: "m", state: 1, unknownField: true }));
    await invalid(() => store.checkpoint({ session: s, message: "m", state: 1, trigger: { kind: "sometimes" } }));
    await invalid(() => store.checkpoint({ session: s, message: "m", state: 1, createdAt: -5 }));
    await invalid(() => store.checkpoint({ session: s, message: "m", state: 1, tags: "plan" }));
    await invalid(() => store.checkpoint({ session: s, message: "m", state: 1, metadata: [1, 2] }));
    await invalid(() => store.createSession("m", [1]));
    await invalid(() => store.attach(c.id, "k", "text/plain", "not bytes"));
  });

  test("a state that cannot be serialised as JSON (cycle, BigInt) is INVALID_INPUT, not a TypeError", async () => {
    const cyclic = { a: 1 };
    cyclic.self = cyclic;
    await failingWrite(store, () => store.checkpoint({ session: s, message: "m", state: cyclic }), InvalidInputError, "INVALID_INPUT");
    await failingWrite(store, () => store.checkpoint({ session: s, message: "m", state: { n: 10n } }), InvalidInputError, "INVALID_INPUT");
    await failingWrite(store, () => store.autoCheckpoint({ session: s, message: "m", state: 10n, createdAt: FAR_FUTURE }, "r"), InvalidInputError, "INVALID_INPUT");
  });

  test("metadata that cannot be serialised as JSON (cycle, BigInt) is INVALID_INPUT, not a TypeError", async () => {
    const cyclic = {};
    cyclic.self = cyclic;
    await failingWrite(store, () => store.checkpoint({ session: s, message: "m", state: 1, metadata: { n: 1n } }), InvalidInputError, "INVALID_INPUT");
    await failingWrite(store, () => store.createSession("n", { self: cyclic }), InvalidInputError, "INVALID_INPUT");
  });

  test("stateJson of a binary state", async () => {
    await rejectsCode(() => store.stateJson(bin.id), InvalidInputError, "INVALID_INPUT");
    // The bytes are still there.
    assert.deepEqual((await store.state(bin.id)), new Uint8Array([0xff, 0xfe, 0x00]));
  });

  test("bad severity", async () => {
    for (const severity of ["fatal", "", "INFO", "Critical"]) {
      await failingWrite(store, () => store.annotate(c.id, "note", severity), InvalidInputError, "INVALID_INPUT");
    }
  });

  test("bad query fields", () => {
    const invalid = (query) => throwsCode(() => store.list(query), InvalidInputError, "INVALID_INPUT");
    invalid({ sesion: s });
    invalid({ order: "newest" });
    invalid({ order: "ASC" });
    invalid({ triggers: ["sometimes"] });
    invalid({ limit: -1 });
    invalid({ limit: "10" });
    invalid({ seqMin: "1" });
    invalid({ tags: "plan" });
    invalid({ cursor: "not a cursor" });
    // A cursor made for the other order.
    const page = store.list({ order: "asc", limit: 1 });
    assert.equal(typeof page.next, "string");
    invalid({ order: "desc", cursor: page.next });
  });

  test("bad retention policies", async () => {
    throwsCode(() => store.planCompaction({ keepLastt: 1 }), InvalidInputError, "INVALID_INPUT");
    throwsCode(() => store.planCompaction({ keepLast: -1 }), InvalidInputError, "INVALID_INPUT");
    await failingWrite(store, () => store.compact({ maxAgeMs: "1d" }), InvalidInputError, "INVALID_INPUT");
  });

  test("hostile imports are rejected whole", async () => {
    const { store: source } = await richStore();
    const json = (await source.exportJson());
    const target = Store.memory();
    await target.createSession("mine");
    const rejected = (input) => failingWrite(target, () => target.importJson(input), ImportRejectedError, "IMPORT_REJECTED");
    await rejected("garbage");
    await rejected("");
    await rejected("{}");
    await rejected("[1,2,3]");
    await rejected(json.slice(0, json.length / 2));
    await rejected(JSON.stringify({ ...JSON.parse(json), format: "other" }));
    await rejected(JSON.stringify({ ...JSON.parse(json), version: 99 }));
    await rejected(encoder.encode("\u0000\u0001binary"));

    // A tampered message: the recomputed hash does not match.
    const tampered = JSON.parse(json);
    tampered.checkpoints[1].message = "something else";
    await failingWrite(target, () => target.importJson(JSON.stringify(tampered)), HashMismatchError, "HASH_MISMATCH");
    // A tampered state.
    const tamperedState = JSON.parse(json);
    const st = tamperedState.checkpoints[0].state;
    assert.equal(st.encoding, "utf8");
    st.data = st.data.replace("1", "7");
    await failingWrite(target, () => target.importJson(JSON.stringify(tamperedState)), HashMismatchError, "HASH_MISMATCH");
    // A broken parent link.
    const relinked = JSON.parse(json);
    relinked.checkpoints[1].parent_hash = "00".repeat(32);
    await failingWrite(target, () => target.importJson(JSON.stringify(relinked)), HashMismatchError, "HASH_MISMATCH");
    const unlinked = JSON.parse(json);
    unlinked.checkpoints[1].parent = null;
    await failingWrite(target, () => target.importJson(JSON.stringify(unlinked)), HashMismatchError, "HASH_MISMATCH");
    // A head that is not one of the session's checkpoints; a checkpoint twice.
    const badHead = JSON.parse(json);
    badHead.sessions[0].head = MISSING_CP;
    await failingWrite(target, () => target.importJson(JSON.stringify(badHead)), ImportRejectedError, "IMPORT_REJECTED");
    const twice = JSON.parse(json);
    twice.checkpoints.push(twice.checkpoints[0]);
    await failingWrite(target, () => target.importJson(JSON.stringify(twice)), ImportRejectedError, "IMPORT_REJECTED");

    // Binary: random bytes, a truncated export, nothing.
    const binary = (await source.exportBinary());
    await failingWrite(target, () => target.importBinary(pseudoRandomBytes(4_096)), CorruptError, "CORRUPT");
    await failingWrite(target, () => target.importBinary(binary.slice(0, binary.length - 5)), ImportRejectedError, "IMPORT_REJECTED");
    await failingWrite(target, () => target.importBinary(new Uint8Array()), ImportRejectedError, "IMPORT_REJECTED");
    // Any one flipped byte after the header is caught (frame checksums, hashes).
    const rejectedCodes = new Set();
    for (let i = 16; i < binary.length; i++) {
      const flipped = binary.slice();
      flipped[i] ^= 0x55;
      await assert.rejects(
        () => target.importBinary(flipped),
        (e) => {
          assert.ok(
            e instanceof CorruptError || e instanceof HashMismatchError || e instanceof ImportRejectedError,
            `byte ${i} flipped: ${e?.constructor?.name} ${e?.code} ${e?.message}`,
          );
          rejectedCodes.add(e.code);
          return true;
        },
        `byte ${i} flipped was accepted`,
      );
    }
    assert.ok(rejectedCodes.has("CORRUPT"));
    assert.equal(target.metrics().checkpoints, 0);
    assert.equal(target.metrics().ops.imports, 0);

    // And after all that, the real export still imports.
    assert.equal((await target.importJson(json)).checkpointsAdded, 4);
  });

  test("no truncation of a binary export imports (an export is one transaction)", async () => {
    const small = Store.memory();
    const ss = await small.createSession("small");
    await small.checkpoint({ session: ss, message: "one", state: { a: 1 } });
    await small.checkpoint({ session: ss, message: "two", state: { a: 2 } });
    await small.annotate(small.latest(ss).id, "n");
    const exported = (await small.exportBinary());
    const target = Store.memory();
    const before = (await snapshot(target));
    const accepted = [];
    for (let len = 0; len < exported.length; len++) {
      // 16 bytes is the bare log header: an empty log, which may import as nothing.
      if (len === 16) continue;
      try {
        const report = await target.importBinary(exported.subarray(0, len));
        accepted.push({ len, report });
      } catch (e) {
        assert.ok(
          (e instanceof ImportRejectedError && e.code === "IMPORT_REJECTED") || (e instanceof CorruptError && e.code === "CORRUPT"),
          `prefix of ${len}/${exported.length} bytes: ${e?.constructor?.name} ${e?.code} ${e?.message}`,
        );
      }
    }
    assert.deepEqual((await snapshot(target)), before, "nothing was imported");
    assert.deepEqual(accepted, [], `truncated exports of ${exported.length} bytes that were accepted`);
    assert.equal((await target.importBinary(exported)).checkpointsAdded, 2);
  });

  test("opening a damaged log", () => {
    throwsCode(() => Store.memory({ log: pseudoRandomBytes(1_000) }), CorruptError, "CORRUPT");
  });

  test("Store.open in Node: IndexedDB is not available; unknown backends", async () => {
    await assert.rejects(() => Store.open({ backend: "indexeddb", name: "x" }), (e) => {
      isError(InvalidInputError, "INVALID_INPUT")(e);
      assert.match(e.message, /IndexedDB is not available/);
      return true;
    });
    await rejectsCode(() => Store.open({ backend: "sqlite" }), InvalidInputError, "INVALID_INPUT");
    await rejectsCode(() => Store.open({ backend: "" }), InvalidInputError, "INVALID_INPUT");
  });

  test("the store is intact after all the bad input", async () => {
    assert.deepEqual((await store.verify()).ok, true);
    assert.equal(store.health().ok, true);
    assert.deepEqual(store.get(c.id), c);
  });
});

// ----- the engine's conformance scenarios, compiled to WebAssembly ----------------------------

describe("engine conformance (wasm, test-dist)", () => {
  const require = createRequire(import.meta.url);
  const glue = require("../test-dist/node/rewind_wasm.cjs");
  const scenarios = glue.conformanceScenarios();

  test("the scenario list", () => {
    assert.ok(Array.isArray(scenarios));
    assert.ok(scenarios.length >= 13, `${scenarios.length} scenarios`);
    assert.equal(new Set(scenarios).size, scenarios.length);
  });

  for (const name of scenarios) {
    test(`scenario ${name}`, () => {
      try {
        glue.runConformanceScenario(name);
      } catch (error) {
        assert.fail(`scenario ${name} failed: ${glue.lastPanic() ?? error}`);
      }
    });
  }

  test("an unknown scenario is an error", () => {
    assert.throws(() => glue.runConformanceScenario("no_such_scenario"));
  });

  test("the transcript equals the native golden transcript", () => {
    const golden = readFileSync(new URL("../../../tests/golden/transcript.txt", import.meta.url), "utf8");
    assert.equal(glue.conformanceTranscript(), golden);
  });
});
