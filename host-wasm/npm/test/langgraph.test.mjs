// RewindSaver in Node.js: the BaseCheckpointSaver contract (written from its documentation and
// from what LangGraph's own MemorySaver and SqliteSaver return), rewind's features on LangGraph
// data, and a real tool-calling agent (StateGraph, fake chat model, interrupt, resume, history,
// time travel).
//
//   node --test test/langgraph.test.mjs

import { test, describe } from "node:test";
import assert from "node:assert/strict";

import { Store } from "rewind-store";
import { RewindSaver } from "rewind-store/langgraph";
import {
  MemorySaver,
  JsonPlusSerializer,
  TASKS,
  ERROR,
  INTERRUPT,
  emptyCheckpoint,
  uuid6,
} from "@langchain/langgraph-checkpoint";
import { StateGraph, MessagesAnnotation, START, END, Annotation } from "@langchain/langgraph";
import { AIMessage, HumanMessage } from "@langchain/core/messages";

import { buildAgent } from "./support/agent.mjs";

// ----- helpers ------------------------------------------------------------------------------

async function collect(iterable) {
  const out = [];
  for await (const item of iterable) out.push(item);
  return out;
}

const cfg = (thread_id, checkpoint_ns, checkpoint_id) => ({
  configurable: {
    thread_id,
    ...(checkpoint_ns !== undefined ? { checkpoint_ns } : {}),
    ...(checkpoint_id !== undefined ? { checkpoint_id } : {}),
  },
});

/** A checkpoint like LangGraph makes: versions 1 for every given channel. */
function makeCheckpoint(values = {}, id = uuid6(-1), versions = undefined) {
  return {
    v: 4,
    id,
    ts: new Date().toISOString(),
    channel_values: values,
    channel_versions: versions ?? Object.fromEntries(Object.keys(values).map((k) => [k, 1])),
    versions_seen: { "": { someChannel: 1 } },
  };
}

const meta = (source, step, extra = {}) => ({ source, step, parents: {}, ...extra });

/** Attachment keys of a LangGraph checkpoint, by kind. */
function attachmentsOf(saver, config) {
  const rid = saver.checkpointId(config);
  const keys = saver.store.attachmentKeys(rid);
  return { values: keys.filter((k) => k.startsWith("c:")), writes: keys.filter((k) => k.startsWith("w:")) };
}

// ----- put ----------------------------------------------------------------------------------

describe("put", () => {
  for (const ns of ["", "child"]) {
    test(`returns exactly thread_id, checkpoint_ns, checkpoint_id and round-trips (namespace ${JSON.stringify(ns)})`, async () => {
      const saver = RewindSaver.memory();
      const checkpoint = makeCheckpoint({ animals: ["dog"], count: 1 });
      const metadata = meta("input", -1, { user: { name: "ada" }, score: 0.5 });
      const returned = await saver.put(
        { configurable: { thread_id: "t", checkpoint_ns: ns, canary: "tweet" } },
        checkpoint,
        metadata,
        { animals: 1, count: 1 },
      );
      assert.deepEqual(returned, { configurable: { thread_id: "t", checkpoint_ns: ns, checkpoint_id: checkpoint.id } });
      const tuple = await saver.getTuple(returned);
      assert.equal(tuple.config, returned, "a config with checkpoint_id is returned as given");
      assert.deepEqual(tuple.checkpoint, checkpoint);
      assert.deepEqual(tuple.metadata, metadata);
      assert.deepEqual(tuple.pendingWrites, []);
      assert.equal("parentConfig" in tuple, false, "a root checkpoint has no parentConfig key");
      // The same as LangGraph's MemorySaver.
      const memory = new MemorySaver();
      await memory.put({ configurable: { thread_id: "t", checkpoint_ns: ns } }, checkpoint, metadata, {});
      const expected = await memory.getTuple(cfg("t", ns));
      assert.deepEqual(await saver.getTuple(cfg("t", ns)), expected);
    });
  }

  test("a missing checkpoint_ns means the root namespace", async () => {
    const saver = RewindSaver.memory();
    const checkpoint = makeCheckpoint();
    const returned = await saver.put(cfg("t"), checkpoint, meta("input", -1), {});
    assert.equal(returned.configurable.checkpoint_ns, "");
    assert.equal((await saver.getTuple(cfg("t", ""))).checkpoint.id, checkpoint.id);
  });

  test("rejects a config without configurable or thread_id, and bad values", async () => {
    const saver = RewindSaver.memory();
    const checkpoint = makeCheckpoint();
    await assert.rejects(saver.put({}, checkpoint, meta("input", -1), {}), /thread_id/);
    await assert.rejects(saver.put({ configurable: { checkpoint_ns: "" } }, checkpoint, meta("input", -1), {}), /thread_id/);
    await assert.rejects(saver.put(cfg(42), checkpoint, meta("input", -1), {}), /thread_id/);
    await assert.rejects(saver.put(cfg("t", 7), checkpoint, meta("input", -1), {}), /checkpoint_ns/);
    await assert.rejects(saver.put(cfg("t"), { ...checkpoint, id: "" }, meta("input", -1), {}), /id/);
    assert.equal(saver.store.metrics().checkpoints, 0, "nothing was stored");
  });

  test("stores only the channels in newVersions; the others come from ancestors with the same version", async () => {
    const saver = RewindSaver.memory();
    const values = { foo: "bar", baz: "qux" };
    // The validation suite's case: three unrelated puts with growing newVersions.
    const stored = [];
    for (const newVersions of [{}, { foo: 1 }, { foo: 1, baz: 1 }]) {
      const c = await saver.put(cfg("t", ""), makeCheckpoint(values), meta("input", -1), newVersions);
      stored.push((await saver.getTuple(c)).checkpoint.channel_values);
    }
    assert.deepEqual(stored, [{}, { foo: "bar" }, { foo: "bar", baz: "qux" }]);

    // Carried over: the child changes only stepCount; messages comes from the parent.
    const hi = ["hi there, this message is long enough to be stored as an attachment of its own. ".repeat(7)];
    const parent = makeCheckpoint({ messages: hi, stepCount: 1 });
    const p = await saver.put(cfg("c", ""), parent, meta("loop", 0), { messages: 1, stepCount: 1 });
    const child = makeCheckpoint({ messages: hi, stepCount: 3 }, uuid6(-1), { messages: 1, stepCount: 2 });
    const c = await saver.put(p, child, meta("loop", 1), { stepCount: 2 });
    assert.deepEqual((await saver.getTuple(c)).checkpoint.channel_values, { messages: hi, stepCount: 3 });
    assert.deepEqual((await saver.getTuple(cfg("c", ""))).checkpoint, child);
    // messages is stored once, on the parent; stepCount (small) lives in each envelope.
    assert.deepEqual(attachmentsOf(saver, p).values, ["c:messages"]);
    assert.deepEqual(attachmentsOf(saver, c).values, []);
    const big = { messages: hi, stepCount: "x".repeat(511) };
    const b = await saver.put(p, makeCheckpoint(big, uuid6(-1), { messages: 1, stepCount: 9 }), meta("loop", 1), { stepCount: 9 });
    assert.deepEqual(attachmentsOf(saver, b).values, ["c:stepCount"], "513 bytes of JSON: an attachment");
    assert.deepEqual((await saver.getTuple(b)).checkpoint.channel_values, big);
    // 512 bytes of JSON live in the envelope of the checkpoint that wrote them; its children
    // name it as their holder.
    const mid = { messages: hi, stepCount: "y".repeat(510) };
    const m = await saver.put(p, makeCheckpoint(mid, uuid6(-1), { messages: 1, stepCount: 10 }), meta("loop", 1), { stepCount: 10 });
    const mc = await saver.put(m, makeCheckpoint({ ...mid, n: 1 }, uuid6(-1), { messages: 1, stepCount: 10, n: 1 }), meta("loop", 2), { n: 1 });
    assert.deepEqual([attachmentsOf(saver, m).values, attachmentsOf(saver, mc).values], [[], []]);
    assert.deepEqual((await saver.store.stateJson(saver.checkpointId(mc))).o, { messages: saver.checkpointId(p), stepCount: saver.checkpointId(m) });
    assert.deepEqual((await saver.getTuple(mc)).checkpoint.channel_values, { ...mid, n: 1 });
    // A channel whose version changed but is absent from newVersions is not taken from the
    // parent; neither is one the checkpoint does not have.
    const odd = makeCheckpoint({ messages: ["x"], stepCount: 3 }, uuid6(-1), { messages: 5, stepCount: 2 });
    const o = await saver.put(c, odd, meta("loop", 2), {});
    assert.deepEqual((await saver.getTuple(o)).checkpoint.channel_values, { stepCount: 3 });
    const emptied = makeCheckpoint({ messages: hi }, uuid6(-1), { messages: 1, stepCount: 2 });
    const e = await saver.put(c, emptied, meta("loop", 2), {});
    assert.deepEqual((await saver.getTuple(e)).checkpoint.channel_values, { messages: hi });
  });

  test("small values live in the envelope and carry over to children, also after a reopen", async () => {
    const saver = RewindSaver.memory();
    const small = { none: null, flag: true, count: 3, ratio: 0.5, name: "planner", pair: { a: 1 }, nan: Number.NaN };
    const p = await saver.put(cfg("t"), makeCheckpoint(small), meta("input", -1), Object.fromEntries(Object.keys(small).map((k) => [k, 1])));
    assert.deepEqual(attachmentsOf(saver, p).values, [], "all of them are in the envelope");
    const expected = { ...small, nan: null }; // JSON has no NaN, for any saver
    assert.deepEqual((await saver.getTuple(p)).checkpoint.channel_values, expected);
    // A saver over the reopened store has no cache of the parent: it reads its envelope.
    const reopened = new RewindSaver(Store.memory({ log: (await saver.store.logBytes()) }));
    const versions = { ...Object.fromEntries(Object.keys(small).map((k) => [k, 1])), count: 2 };
    const child = makeCheckpoint({ ...small, count: 4 }, uuid6(-1), versions);
    const c = await reopened.put(p, child, meta("loop", 0), { count: 2 });
    assert.deepEqual((await reopened.getTuple(c)).checkpoint.channel_values, { ...expected, count: 4 });
    assert.deepEqual(attachmentsOf(reopened, c).values, []);
  });

  test("links the rewind parent, so LangGraph parents are rewind parents", async () => {
    const saver = RewindSaver.memory();
    const a = await saver.put(cfg("t"), makeCheckpoint({ x: 1 }), meta("input", -1), { x: 1 });
    const b = await saver.put(a, makeCheckpoint({ x: 2 }, uuid6(-1), { x: 2 }), meta("loop", 0), { x: 2 });
    const rb = saver.store.get(saver.checkpointId(b));
    assert.equal(rb.parent, a.configurable.checkpoint_id);
    assert.equal(rb.id, b.configurable.checkpoint_id, "the rewind id is the LangGraph id");
    assert.equal(rb.session, saver.sessionId("t"));
    assert.deepEqual(saver.store.history(rb.id).map((c) => c.id), [b, a].map((c) => c.configurable.checkpoint_id));
    // A parent the store does not have still comes back as parentConfig.
    const ghost = uuid6(-1);
    const c = await saver.put(cfg("t", "", ghost), makeCheckpoint({ x: 3 }), meta("loop", 5), { x: 1 });
    const tuple = await saver.getTuple(c);
    assert.deepEqual(tuple.parentConfig, cfg("t", "", ghost));
    assert.equal(saver.store.get(saver.checkpointId(c)).parent, null);
  });

  test("putting the same checkpoint id again replaces it, like MemorySaver", async () => {
    const saver = RewindSaver.memory();
    const memory = new MemorySaver();
    const id = uuid6(-1);
    const first = makeCheckpoint({ v: "first" }, id);
    const second = makeCheckpoint({ v: "second" }, id);
    for (const s of [saver, memory]) {
      await s.put(cfg("t"), first, meta("input", -1), { v: 1 });
      await s.put(cfg("t"), second, meta("loop", 0), { v: 1 });
    }
    const mine = await collect(saver.list(cfg("t")));
    assert.deepEqual(mine, await collect(memory.list(cfg("t"))));
    assert.equal(mine.length, 1);
    assert.deepEqual(mine[0].checkpoint.channel_values, { v: "second" });
    assert.equal((await saver.store.verify()).ok, true);

    // The replaced checkpoint keeps its pending writes, and a child reading a value from it
    // still finds it, also when the new put keeps that channel in the envelope.
    const long = "a value long enough to be an attachment of its own: ".repeat(2);
    const original = makeCheckpoint({ b: long }, id);
    const childCheckpoint = makeCheckpoint({ b: long, n: 1 }, uuid6(-1), { b: 1, n: 1 });
    const replacement = makeCheckpoint({ b: "short" }, id);
    for (const s of [saver, memory]) {
      const p = await s.put(cfg("w"), original, meta("input", -1), { b: 1 });
      await s.putWrites(p, [["b", 5], [ERROR, "boom"]], "task-1");
      const child = await s.put(p, childCheckpoint, meta("loop", 0), { n: 1 });
      await s.put(cfg("w"), replacement, meta("input", -1), { b: 1 });
      assert.deepEqual((await s.getTuple(child)).checkpoint.channel_values, { b: long, n: 1 });
    }
    assert.deepEqual(await collect(saver.list(cfg("w"))), await collect(memory.list(cfg("w"))));
    assert.deepEqual((await saver.getTuple(cfg("w", "", id))).pendingWrites, [["task-1", ERROR, "boom"], ["task-1", "b", 5]]);
  });

  test("a copy of a checkpoint put under its parent (LangGraph's __copy__) keeps every value", async () => {
    // updateState(config, undefined, "__copy__") puts a copy of the checkpoint with the
    // checkpoint's parent as parent and no newVersions: values the copied checkpoint changed are
    // found where the thread stored them at the same version.
    const long = (text) => `${text} `.repeat(20);
    const saver = RewindSaver.memory();
    const memory = new MemorySaver();
    const results = [];
    for (const s of [saver, memory]) {
      const p = await s.put(cfg("t"), makeCheckpoint({ a: long("v1"), b: long("same"), n: 1 }), meta("input", -1), { a: 1, b: 1, n: 1 });
      const changed = { a: long("v2"), b: long("same"), n: 2 };
      await s.put(p, makeCheckpoint(changed, uuid6(-1), { a: 2, b: 1, n: 2 }), meta("loop", 0), { a: 2, n: 2 });
      const copy = await s.put(p, makeCheckpoint(changed, uuid6(-1), { a: 2, b: 1, n: 2 }), meta("fork", 1), {});
      results.push((await s.getTuple(copy)).checkpoint.channel_values);
    }
    assert.deepEqual(results[0], results[1]);
    assert.deepEqual(results[0].a, long("v2"));
    // The same from a saver that has not seen the puts (the index is built from the store).
    const reopened = new RewindSaver(Store.memory({ log: (await saver.store.logBytes()) }));
    const [latest] = await collect(reopened.list(cfg("t"), { limit: 1 }));
    const again = await reopened.put(latest.parentConfig, makeCheckpoint(latest.checkpoint.channel_values, uuid6(-1), latest.checkpoint.channel_versions), meta("fork", 2), {});
    assert.deepEqual((await reopened.getTuple(again)).checkpoint.channel_values, results[1]);
    assert.deepEqual(attachmentsOf(reopened, again).values, [], "nothing stored twice");
  });

  test("a re-put keeps what children read, fails without losing the old checkpoint, and waits for writes", async () => {
    const big = (text) => `${text} `.repeat(40);
    const id = uuid6(-1);
    const original = makeCheckpoint({ a: big("old") }, id, { a: 1 });
    const child = makeCheckpoint({ a: big("old"), n: 1 }, uuid6(-1), { a: 1, n: 1 });
    const replacement = makeCheckpoint({ a: big("new") }, id, { a: 2 });
    const copy = makeCheckpoint({ a: big("old") }, uuid6(-1), { a: 1 });
    const results = [];
    for (const s of [RewindSaver.memory(), new MemorySaver()]) {
      const x = await s.put(cfg("t"), original, meta("input", -1), { a: 1 });
      const c = await s.put(x, child, meta("loop", 0), { n: 1 });
      // The id again, with "a" at a new version: the child still has a@1.
      await s.put(cfg("t"), replacement, meta("input", -1), { a: 2 });
      const z = await s.put(x, copy, meta("fork", 0), {});
      results.push([(await s.getTuple(c)).checkpoint.channel_values.a, (await s.getTuple(z)).checkpoint.channel_values.a, (await s.getTuple(x)).checkpoint.channel_values.a]);
    }
    assert.deepEqual(results[0], [big("old"), big("old"), big("new")]);
    assert.deepEqual(results[0], results[1]);

    // A re-put rewind refuses (a state over the store's limit) leaves the old checkpoint whole.
    const small = new RewindSaver(Store.memory({ maxAttachmentBytes: 2000 }));
    const k = await small.put(cfg("t"), makeCheckpoint({ a: 1 }, id), meta("input", -1), { a: 1 });
    await small.putWrites(k, [["a", 2]], "task-1");
    await assert.rejects(small.put(cfg("t"), makeCheckpoint({ a: "x".repeat(5000) }, id), meta("input", -1), { a: 1 }), { code: "LIMIT_EXCEEDED" });
    const kept = await small.getTuple(k);
    assert.deepEqual([kept.checkpoint.channel_values, kept.pendingWrites], [{ a: 1 }, [["task-1", "a", 2]]]);

    // A re-put issued while a batch of writes is being stored waits for the batch.
    for (const delay of [0, 1, 5, 20, 40]) {
      const saver = RewindSaver.memory();
      const w = await saver.put(cfg("t"), makeCheckpoint({ a: 1 }, id), meta("input", -1), { a: 1 });
      const writes = Array.from({ length: 20 }, (_, i) => [`ch${i}`, `v${i}`]);
      const storing = saver.putWrites(w, writes, "task-1");
      for (let i = 0; i < delay; i++) await null;
      await Promise.all([storing, saver.put(cfg("t"), makeCheckpoint({ a: 1 }, id), meta("input", -1), { a: 1 })]);
      assert.equal((await saver.getTuple(w)).pendingWrites.length, 20, `after ${delay} ticks`);
    }
  });

  test("copies of two forks that share a version, and copies after saver.compact(), keep their values", async () => {
    const big = (text) => `${text} `.repeat(30);
    const p = makeCheckpoint({ a: big("start") }, uuid6(-1), { a: 1 });
    // Two forks of p give "a" the same next version, as LangGraph's updateState does.
    const one = makeCheckpoint({ a: big("fork one") }, uuid6(-1), { a: 2 });
    const two = makeCheckpoint({ a: big("fork two") }, uuid6(-1), { a: 2 });
    const copyOfOne = makeCheckpoint({ a: big("fork one") }, uuid6(-1), { a: 2 });
    const results = [];
    for (const s of [RewindSaver.memory(), new MemorySaver()]) {
      const pc = await s.put(cfg("t"), p, meta("input", -1), { a: 1 });
      await s.put(pc, one, meta("update", 0), { a: 2 });
      await s.put(pc, two, meta("update", 0), { a: 2 });
      const c = await s.put(pc, copyOfOne, meta("fork", 0), {});
      results.push((await s.getTuple(c)).checkpoint.channel_values.a);
    }
    assert.deepEqual(results, [big("fork one"), big("fork one")]);

    // x is stored on A only; compaction removes A and copies x onto B first.
    const saver = RewindSaver.memory();
    const a = await saver.put(cfg("c"), makeCheckpoint({ x: big("x1") }, uuid6(-1), { x: 1 }), meta("input", -1), { x: 1 });
    const b = await saver.put(a, makeCheckpoint({ x: big("x1"), y: big("y1") }, uuid6(-1), { x: 1, y: 1 }), meta("loop", 0), { y: 1 });
    const c = await saver.put(b, makeCheckpoint({ x: big("x2"), y: big("y1") }, uuid6(-1), { x: 2, y: 1 }), meta("loop", 1), { x: 2 });
    assert.equal((await saver.compact({ keepLast: 2 }, ["c"])).removed, 1);
    const d = await saver.put(c, makeCheckpoint({ x: big("x1"), y: big("y1") }, uuid6(-1), { x: 1, y: 1 }), meta("fork", 2), {});
    assert.deepEqual((await saver.getTuple(d)).checkpoint.channel_values, { x: big("x1"), y: big("y1") });
  });

  test("metadata cannot set the keys the saver keeps in rewind metadata", async () => {
    const saver = RewindSaver.memory();
    const c = await saver.put(cfg("t"), makeCheckpoint({ a: 1 }), meta("input", -1, { "langgraph:checkpoint_ns~json": '"other"', "langgraph:checkpoint_id": "x" }), { a: 1 });
    const reopened = new RewindSaver(Store.memory({ log: (await saver.store.logBytes()) }));
    const tuple = await reopened.getTuple(c);
    assert.deepEqual(tuple.config, c);
    assert.equal(tuple.metadata["langgraph:checkpoint_id"], "x", "the LangGraph metadata itself is kept whole");
  });

  test("a child put not awaited after its parent's still takes the parent's values", async () => {
    const saver = RewindSaver.memory();
    const long = "carried from the parent, long enough to be an attachment: ".repeat(2);
    const parent = makeCheckpoint({ b: long, s: 1 });
    const first = saver.put(cfg("t"), parent, meta("input", -1), { b: 1, s: 1 });
    const childConfig = cfg("t", "", parent.id);
    const second = saver.put(childConfig, makeCheckpoint({ b: long, s: 2 }, uuid6(-1), { b: 1, s: 2 }), meta("loop", 0), { s: 2 });
    const [, c] = await Promise.all([first, second]);
    assert.deepEqual((await saver.getTuple(c)).checkpoint.channel_values, { b: long, s: 2 });
  });

  test("channels named like Object.prototype members are carried to children", async () => {
    const saver = RewindSaver.memory();
    const values = { constructor: "c", toString: "t", valueOf: 1, hasOwnProperty: null, __proto__: undefined };
    delete values.__proto__;
    const names = ["constructor", "toString", "valueOf", "hasOwnProperty"];
    const versions = Object.fromEntries(names.map((k) => [k, 1]));
    const p = await saver.put(cfg("t"), makeCheckpoint(values, uuid6(-1), versions), meta("input", -1), versions);
    const c = await saver.put(p, makeCheckpoint(values, uuid6(-1), versions), meta("loop", 0), {});
    const got = (await saver.getTuple(c)).checkpoint.channel_values;
    assert.deepEqual(Object.keys(got).sort(), [...names].sort());
    assert.deepEqual(got, values);
  });

  test("metadata with a BigInt is serialised on its own, like LangGraph's savers; BigInt versions are rejected", async () => {
    const saver = RewindSaver.memory();
    const memory = new MemorySaver();
    const first = makeCheckpoint({ a: 1 });
    const second = makeCheckpoint({ a: 2 }, uuid6(-1), { a: 2 });
    for (const s of [saver, memory]) {
      const p = await s.put(cfg("t"), first, meta("input", -1), { a: 1 });
      await s.put(p, second, { source: "loop", step: 0, parents: {}, n: 10n }, { a: 2 });
    }
    const mine = await collect(saver.list(cfg("t")));
    assert.deepEqual(mine, await collect(memory.list(cfg("t"))), "the serde decides what such metadata becomes");
    assert.deepEqual(mine[0].checkpoint.channel_values, { a: 2 });
    assert.deepEqual(saver.store.get(mine[0].config.configurable.checkpoint_id).metadata, { source: "loop", step: 0, parents: {}, n: "10" });

    const bad = makeCheckpoint({ a: 3 }, uuid6(-1), { a: 3n });
    await assert.rejects(saver.put(cfg("t"), bad, meta("loop", 1), { a: 3n }), /BigInt/);
    assert.equal((await collect(saver.list(cfg("t")))).length, 2, "nothing stored");
  });

  test("strings with lone surrogates round-trip everywhere, like MemorySaver", async () => {
    const cut = "hi \ud83d"; // "hi 😀" cut in the middle of the emoji
    const saver = RewindSaver.memory();
    const memory = new MemorySaver();
    const values = { [cut]: cut, messages: [cut] };
    const versions = { [cut]: 1, messages: 1 };
    const metadata = { source: `${"s".repeat(199)}😀`, step: -1, parents: {}, [cut]: cut, note: cut };
    const root = makeCheckpoint(values, `id ${cut}`, versions);
    const next = makeCheckpoint(values, uuid6(-1), versions);
    for (const s of [saver, memory]) {
      const c = await s.put(cfg(cut, cut), root, metadata, versions);
      await s.putWrites(c, [[cut, cut]], cut, cut);
      const child = await s.put(c, next, meta(cut, 0), {});
      assert.deepEqual((await s.getTuple(child)).checkpoint.channel_values, values);
    }
    assert.deepEqual(await collect(saver.list(cfg(cut))), await collect(memory.list(cfg(cut))));
    assert.deepEqual(await collect(saver.list({})), await collect(memory.list({})), "found without a thread_id");
    const reopened = new RewindSaver(Store.memory({ log: (await saver.store.logBytes()) }));
    assert.deepEqual(await collect(reopened.list(cfg(cut))), await collect(memory.list(cfg(cut))));
    // rewind's own view: the message is cut before the emoji, lone surrogates shown as U+FFFD.
    // Metadata with such a key is mirrored as source and step only.
    const [first, second] = saver.store.list({ session: saver.sessionId(cut), order: "asc" }).items;
    assert.equal(first.message, `${"s".repeat(199)} step -1`);
    // The id and namespace, which rewind derives, are kept as JSON text (lone surrogates escaped).
    assert.deepEqual(first.metadata, {
      source: `${"s".repeat(199)}😀`,
      step: -1,
      "langgraph:checkpoint_id~json": JSON.stringify(`id ${cut}`),
      "langgraph:checkpoint_ns~json": JSON.stringify(cut),
    });
    assert.equal(second.metadata.source, "hi \ufffd");
  });

  test("metadata rewind cannot mirror (nested too deeply) still round-trips", async () => {
    let deep = { leaf: true };
    for (let i = 0; i < 200; i++) deep = { deep };
    const saver = RewindSaver.memory();
    const c = await saver.put(cfg("t"), makeCheckpoint({ a: 1 }), meta("input", -1, { deep }), { a: 1 });
    assert.deepEqual((await saver.getTuple(c)).metadata, meta("input", -1, { deep }));
    assert.deepEqual(saver.store.get(saver.checkpointId(c)).metadata, { source: "input", step: -1 });
  });

  test("ids that are not UUIDs, and one id in two threads, are kept as given", async () => {
    const saver = RewindSaver.memory();
    const shared = uuid6(-1);
    await saver.put(cfg("a"), makeCheckpoint({ n: "a" }, shared), meta("input", -1), { n: 1 });
    await saver.put(cfg("b"), makeCheckpoint({ n: "b" }, shared), meta("input", -1), { n: 1 });
    await saver.put(cfg("a", "sub"), makeCheckpoint({ n: "sub" }, shared), meta("input", -1), { n: 1 });
    await saver.put(cfg("a"), makeCheckpoint({ n: "plain" }, "checkpoint-7"), meta("loop", 0), { n: 2 });
    assert.equal((await saver.getTuple(cfg("a", "", shared))).checkpoint.channel_values.n, "a");
    assert.equal((await saver.getTuple(cfg("b", "", shared))).checkpoint.channel_values.n, "b");
    assert.equal((await saver.getTuple(cfg("a", "sub", shared))).checkpoint.channel_values.n, "sub");
    const plain = await saver.getTuple(cfg("a", "", "checkpoint-7"));
    assert.equal(plain.checkpoint.id, "checkpoint-7");
    assert.deepEqual(plain.config, cfg("a", "", "checkpoint-7"));
    // The first keeps its own id in rewind; the others get derived ids naming the original.
    assert.equal(saver.checkpointId(cfg("a", "", shared)), shared);
    const derived = saver.checkpointId(cfg("b", "", shared));
    assert.notEqual(derived, shared);
    assert.equal(saver.store.get(derived).metadata["langgraph:checkpoint_id"], shared);
  });

  test("names longer than rewind's key and namespace limits still round-trip", async () => {
    const saver = RewindSaver.memory();
    const channel = "channel-".repeat(40);
    const ns = "parent_node:1f1e9b0a-7d86-6a50-ffff-56ccdf4300db|".repeat(6);
    const c = await saver.put(cfg("t", ns), makeCheckpoint({ [channel]: "value" }), meta("input", -1), { [channel]: 1 });
    await saver.putWrites(c, [[channel, "written"]], "task", "~__pregel_push, " + "deep, ".repeat(60));
    const tuple = await saver.getTuple(cfg("t", ns));
    assert.deepEqual(tuple.checkpoint.channel_values, { [channel]: "value" });
    assert.deepEqual(tuple.pendingWrites, [["task", channel, "written"]]);
    assert.deepEqual(tuple.config, c);
    assert.deepEqual((await collect(saver.list(cfg("t", ns)))).map((t) => t.config), [c]);
    const reopened = new RewindSaver(Store.memory({ log: (await saver.store.logBytes()) }));
    assert.deepEqual(await reopened.getTuple(cfg("t", ns)), tuple);
  });

  test("LangGraph's uuid6 checkpoint ids are accepted by rewind as given", async () => {
    const saver = RewindSaver.memory();
    for (const clockseq of [-1, 0, 1, 3, 1000]) {
      const id = uuid6(clockseq);
      await saver.put(cfg("t"), makeCheckpoint({}, id), meta("loop", clockseq), {});
      assert.equal(saver.checkpointId(cfg("t", "", id)), id);
      assert.equal(saver.store.get(id).id, id);
    }
    const empty = emptyCheckpoint();
    await saver.put(cfg("t"), empty, meta("input", -1), {});
    assert.equal(saver.store.get(empty.id).id, empty.id);
  });

  test("serialises through the saver's serde and stores its type tags", async () => {
    class TaggedSerde {
      inner = new JsonPlusSerializer();
      calls = { dumps: 0, loads: 0 };
      async dumpsTyped(value) {
        this.calls.dumps++;
        const [type, bytes] = await this.inner.dumpsTyped(value);
        return [`x-${type}`, bytes.slice().reverse()];
      }
      async loadsTyped(type, bytes) {
        this.calls.loads++;
        assert.ok(type.startsWith("x-"), `got the stored tag back: ${type}`);
        return this.inner.loadsTyped(type.slice(2), Uint8Array.from(bytes).reverse());
      }
    }
    const serde = new TaggedSerde();
    const saver = new RewindSaver(Store.memory(), { serde });
    const long = "a string too long to live in the envelope: ".repeat(3);
    const values = { text: "hello", when: new Date(0).toISOString(), raw: new Uint8Array([1, 2, 3]), set: new Set([1, 2]), long };
    const c = await saver.put(cfg("t"), makeCheckpoint(values), meta("input", -1, { note: "n" }), {
      text: 1,
      when: 1,
      raw: 1,
      set: 1,
      long: 1,
    });
    await saver.putWrites(c, [["text", "bye"]], "task-1", "~path");
    const tuple = await saver.getTuple(c);
    assert.deepEqual(tuple.checkpoint.channel_values, values);
    assert.deepEqual(tuple.metadata, meta("input", -1, { note: "n" }));
    assert.deepEqual(tuple.pendingWrites, [["task-1", "text", "bye"]]);
    // raw, set, long and the write, both ways. The envelope (with text and when in it) is
    // JSON of the saver's own, and the metadata is rewind's.
    assert.equal(serde.calls.dumps, 4);
    assert.equal(serde.calls.loads, 4);
    const rid = saver.checkpointId(c);
    assert.equal(saver.store.get(rid).contentType, "application/vnd.langgraph.checkpoint.v2+json");
    assert.deepEqual(saver.store.get(rid).metadata, meta("input", -1, { note: "n" }));
    assert.equal((await saver.store.attachment(rid, "c:raw")).contentType, "application/vnd.langgraph.value; serde=x-bytes");
    assert.equal((await saver.store.attachment(rid, "c:long")).contentType, "application/vnd.langgraph.value; serde=x-json");
    // Short strings (like null, booleans and numbers) are serialised with the envelope.
    assert.equal((await saver.store.attachment(rid, "c:text")), null);

    // With LangGraph's default serializer, JSON is JSON for rewind too (stateJson, diff).
    const plain = RewindSaver.memory();
    const p = await plain.put(cfg("t"), makeCheckpoint({ raw: new Uint8Array([9]) }), meta("input", -1), { raw: 1 });
    const prid = plain.checkpointId(p);
    assert.equal(plain.store.get(prid).contentType, "application/vnd.langgraph.checkpoint.v2+json");
    assert.deepEqual((await plain.store.stateJson(prid)).a, ["raw"]);
    assert.equal((await plain.store.attachment(prid, "c:raw")).contentType, "application/vnd.langgraph.value; serde=bytes");
    assert.deepEqual((await plain.getTuple(p)).checkpoint.channel_values.raw, new Uint8Array([9]));
  });
});

// ----- getTuple -----------------------------------------------------------------------------

describe("getTuple", () => {
  test("returns undefined for unknown threads and ids, and without a thread_id", async () => {
    const saver = RewindSaver.memory();
    await saver.put(cfg("t"), makeCheckpoint(), meta("input", -1), {});
    assert.equal(await saver.getTuple(cfg("nope")), undefined);
    assert.equal(await saver.getTuple(cfg("t", "", uuid6(-1))), undefined);
    assert.equal(await saver.getTuple(cfg("t", "other")), undefined);
    assert.equal(await saver.getTuple({ configurable: { checkpoint_ns: "" } }), undefined);
    assert.equal(await saver.getTuple({}), undefined);
    assert.equal(await saver.get(cfg("nope")), undefined);
  });

  test("the latest is the highest checkpoint id, even when puts came out of order", async () => {
    const saver = RewindSaver.memory();
    const memory = new MemorySaver();
    const ids = Array.from({ length: 8 }, () => uuid6(-1));
    const shuffled = [ids[3], ids[0], ids[7], ids[5], ids[1], ids[6], ids[2], ids[4]];
    const checkpoints = new Map(ids.map((id) => [id, makeCheckpoint({ id }, id)]));
    for (const s of [saver, memory]) {
      for (const id of shuffled) await s.put(cfg("t"), checkpoints.get(id), meta("loop", ids.indexOf(id)), { id: 1 });
    }
    const latest = await saver.getTuple(cfg("t"));
    assert.equal(latest.checkpoint.id, ids[7]);
    assert.deepEqual(latest, await memory.getTuple(cfg("t")));
    assert.deepEqual(
      (await collect(saver.list(cfg("t")))).map((t) => t.checkpoint.id),
      [...ids].reverse(),
    );
    assert.deepEqual(await collect(saver.list(cfg("t"))), await collect(memory.list(cfg("t"))));
  });

  test("thread_ts is read as the checkpoint id, like LangGraph's savers", async () => {
    const saver = RewindSaver.memory();
    const a = await saver.put(cfg("t"), makeCheckpoint({ x: "a" }), meta("input", -1), { x: 1 });
    await saver.put(a, makeCheckpoint({ x: "b" }), meta("loop", 0), { x: 1 });
    const t = await saver.getTuple({ configurable: { thread_id: "t", thread_ts: a.configurable.checkpoint_id } });
    assert.equal(t.checkpoint.channel_values.x, "a");
  });

  test("migrates pending sends of format-1 checkpoints from the parent's TASKS writes", async () => {
    const saver = RewindSaver.memory();
    let config = cfg("thread-1", "");
    const checkpoint0 = { v: 1, id: uuid6(0), ts: "2024-04-19T17:19:07.952Z", channel_values: {}, channel_versions: {}, versions_seen: {} };
    config = await saver.put(config, checkpoint0, { source: "loop", parents: {}, step: 0 }, {});
    await saver.putWrites(config, [[TASKS, "send-1"], [TASKS, "send-2"]], "task-1");
    await saver.putWrites(config, [[TASKS, "send-3"]], "task-2");
    const tuple0 = await saver.getTuple(config);
    assert.deepEqual(tuple0.checkpoint.channel_values, {});
    assert.deepEqual(tuple0.checkpoint.channel_versions, {});
    const checkpoint1 = { ...checkpoint0, id: uuid6(1), ts: "2024-04-20T17:19:07.952Z" };
    config = await saver.put(config, checkpoint1, { source: "loop", parents: {}, step: 1 }, {});
    const tuple1 = await saver.getTuple(config);
    assert.deepEqual(tuple1.checkpoint.channel_values, { [TASKS]: ["send-1", "send-2", "send-3"] });
    assert.notEqual(tuple1.checkpoint.channel_versions[TASKS], undefined);
    const listed = await collect(saver.list(cfg("thread-1")));
    assert.equal(listed.length, 2);
    assert.deepEqual(listed[0].checkpoint.channel_values, { [TASKS]: ["send-1", "send-2", "send-3"] });
  });
});

// ----- list ---------------------------------------------------------------------------------

describe("list", () => {
  // The validation suite's layout: two threads, namespaces "" and "child", a parent ("input")
  // and a child ("loop") checkpoint in each, with writes.
  async function fixture(saver) {
    const threads = [uuid6(3), uuid6(3)];
    const tuples = [];
    for (const thread_id of threads) {
      for (const checkpoint_ns of ["", "child"]) {
        const parentId = uuid6(3);
        const childId = uuid6(3);
        const parent = makeCheckpoint({ animals: ["dog"] }, parentId);
        const pc = await saver.put(cfg(thread_id, checkpoint_ns), parent, meta("input", -1), { animals: 1 });
        await saver.putWrites(pc, [[TASKS, ["add_fish"]]], "pending_sends_task");
        tuples.push({ thread_id, checkpoint_ns, id: parentId, source: "input" });
        const child = makeCheckpoint({ animals: ["fish", "dog"] }, childId, { animals: 2 });
        const cc = await saver.put(pc, child, meta("loop", 0, { parents: { [checkpoint_ns]: parentId } }), { animals: 2 });
        await saver.putWrites(cc, [["animals", ["fish", "dog"]]], "add_fish");
        tuples.push({ thread_id, checkpoint_ns, id: childId, source: "loop" });
      }
    }
    return { threads, tuples };
  }

  test("every combination of thread, namespace, limit, before and filter", async () => {
    const saver = RewindSaver.memory();
    const { threads, tuples } = await fixture(saver);
    const byId = new Map();
    for (const t of tuples) byId.set(t.id, await saver.getTuple(cfg(t.thread_id, t.checkpoint_ns, t.id)));
    const before = [undefined, cfg(tuples[0].thread_id, "", tuples[0].id), cfg(tuples[1].thread_id, "", tuples[1].id)];
    let combinations = 0;
    for (const thread_id of [undefined, threads[0], threads[1], uuid6(3)]) {
      for (const checkpoint_ns of [undefined, "", "child"]) {
        for (const limit of [undefined, 1, 2]) {
          for (const b of before) {
            for (const filter of [undefined, {}, { source: "input" }, { source: "loop" }]) {
              const expected = tuples
                .filter(
                  (t) =>
                    (thread_id === undefined || t.thread_id === thread_id) &&
                    (checkpoint_ns === undefined || t.checkpoint_ns === checkpoint_ns) &&
                    (b === undefined || t.id < b.configurable.checkpoint_id) &&
                    (filter === undefined || Object.entries(filter).every(([k, v]) => t.source === v || k !== "source")),
                )
                .map((t) => t.id)
                .sort()
                .reverse();
              const actual = await collect(
                saver.list({ configurable: { thread_id, checkpoint_ns } }, { limit, before: b, filter }),
              );
              const want = limit === undefined ? expected : expected.slice(0, limit);
              const what = JSON.stringify({ thread_id, checkpoint_ns, limit, before: b?.configurable.checkpoint_id, filter });
              assert.deepEqual(actual.map((t) => t.checkpoint.id), want, what);
              for (const t of actual) assert.deepEqual(t, byId.get(t.checkpoint.id), what);
              combinations++;
            }
          }
        }
      }
    }
    assert.equal(combinations, 4 * 3 * 3 * 3 * 4);
  });

  test("one thread and namespace: the same tuples in the same order as MemorySaver", async () => {
    const saver = RewindSaver.memory();
    const memory = new MemorySaver();
    const ids = Array.from({ length: 12 }, () => uuid6(-1));
    const checkpoints = ids.map((id, i) => makeCheckpoint({ n: i, list: ids.slice(0, i) }, id, { n: i + 1, list: i + 1 }));
    for (const s of [saver, memory]) {
      let parent = cfg("t", "");
      for (const [i, id] of ids.entries()) {
        const source = i % 3 === 0 ? "input" : "loop";
        parent = await s.put(parent, checkpoints[i], meta(source, i - 1), {
          n: i + 1,
          list: i + 1,
        });
        if (i % 2) await s.putWrites(parent, [["n", i * 10]], `task-${i}`, "~p");
      }
    }
    const cases = [
      [cfg("t", ""), undefined],
      [cfg("t"), undefined],
      [cfg("t", ""), { limit: 3 }],
      [cfg("t", ""), { before: cfg("t", "", ids[7]) }],
      [cfg("t", ""), { before: cfg("t", "", ids[7]), limit: 2 }],
      [cfg("t", ""), { filter: { source: "input" } }],
      [cfg("t", ""), { filter: { source: "loop", step: 4 } }],
      [cfg("t", ""), { filter: { source: "loop" }, before: cfg("other", "", ids[9]), limit: 4 }],
      [cfg("t", ""), { filter: { source: "fork" } }],
      [cfg("t", "", ids[5]), undefined],
      [cfg("t", ""), { limit: 0 }],
    ];
    for (const [config, options] of cases) {
      assert.deepEqual(await collect(saver.list(config, options)), await collect(memory.list(config, options)), JSON.stringify([config, options]));
    }
  });

  test("metadata filters compare values, nested ones included", async () => {
    const saver = RewindSaver.memory();
    await saver.put(cfg("t"), makeCheckpoint(), meta("input", -1, { user: { id: 7, tags: ["a"] } }), {});
    await saver.put(cfg("t"), makeCheckpoint(), meta("input", -1, { user: { id: 8 } }), {});
    const hits = await collect(saver.list(cfg("t"), { filter: { user: { tags: ["a"], id: 7 } } }));
    assert.equal(hits.length, 1);
    assert.equal(hits[0].metadata.user.id, 7);
    assert.equal((await collect(saver.list(cfg("t"), { filter: { source: "input", step: -1 } }))).length, 2);
    assert.equal((await collect(saver.list(cfg("t"), { filter: { missing: 1 } }))).length, 0);
  });

  test("without a thread_id lists every thread, newest checkpoint id first", async () => {
    const saver = RewindSaver.memory();
    const ids = [];
    for (let i = 0; i < 6; i++) {
      const id = uuid6(-1);
      ids.push(id);
      await saver.put(cfg(`thread-${i % 3}`, i % 2 ? "sub" : ""), makeCheckpoint({ i }, id), meta("loop", i), { i: 1 });
    }
    // A rewind session that is not a LangGraph thread is left out.
    const other = await saver.store.createSession("not langgraph");
    await saver.store.checkpoint({ session: other, message: "plain", state: { x: 1 } });
    const all = await collect(saver.list({}));
    assert.deepEqual(all.map((t) => t.checkpoint.id), [...ids].reverse());
    assert.deepEqual(
      all.map((t) => [t.config.configurable.thread_id, t.config.configurable.checkpoint_ns]),
      [...ids.keys()].reverse().map((i) => [`thread-${i % 3}`, i % 2 ? "sub" : ""]),
    );
    assert.equal((await collect(saver.list({ configurable: { checkpoint_ns: "sub" } }))).length, 3);
    assert.equal((await collect(saver.list({}, { limit: 4 }))).length, 4);
  });
});

// ----- putWrites ----------------------------------------------------------------------------

describe("putWrites", () => {
  test("rejects without thread_id or checkpoint_id", async () => {
    const saver = RewindSaver.memory();
    const c = await saver.put(cfg("t"), makeCheckpoint(), meta("input", -1), {});
    await assert.rejects(saver.putWrites({ configurable: { checkpoint_id: c.configurable.checkpoint_id } }, [["a", 1]], "task"), /thread_id/);
    await assert.rejects(saver.putWrites(cfg("t", ""), [["a", 1]], "task"), /checkpoint_id/);
  });

  test("pending writes come back in LangGraph's order (task path, task id, index), like MemorySaver", async () => {
    const saver = RewindSaver.memory();
    const memory = new MemorySaver();
    const id = uuid6(-1);
    const results = [];
    for (const s of [saver, memory]) {
      const c = await s.put(cfg("t"), makeCheckpoint({}, id), meta("loop", 0), {});
      await s.putWrites(c, [["b", 1], ["a", 2]], "task-z", "~__pregel_pull, b");
      await s.putWrites(c, [["x", { deep: [1, 2] }]], "task-a", "~__pregel_pull, z");
      await s.putWrites(c, [["input", "in"]], "00-input", "");
      await s.putWrites(c, [["c", 3], ["d", 4], ["e", 5]], "task-m", "~__pregel_pull, b");
      await s.putWrites(c, [["astral", "\u{1F600}"]], "task-\u{1F600}", "~__pregel_push, \uFFFF");
      // A regular write of an existing (task, index) is ignored...
      await s.putWrites(c, [["b", 99]], "task-z", "~__pregel_pull, b");
      // ...a special one replaces.
      await s.putWrites(c, [[ERROR, { message: "first" }]], "task-a", "~__pregel_pull, z");
      await s.putWrites(c, [[ERROR, { message: "second" }]], "task-a", "~__pregel_pull, z");
      results.push((await s.getTuple(c)).pendingWrites);
    }
    assert.deepEqual(results[0], results[1]);
    assert.deepEqual(results[0], [
      ["00-input", "input", "in"],
      ["task-m", "c", 3],
      ["task-m", "d", 4],
      ["task-m", "e", 5],
      ["task-z", "b", 1],
      ["task-z", "a", 2],
      ["task-a", ERROR, { message: "second" }],
      ["task-a", "x", { deep: [1, 2] }],
      ["task-\u{1F600}", "astral", "\u{1F600}"],
    ]);
  });

  test("getDeltaChannelHistory (beta) walks the parents' writes like MemorySaver's", async () => {
    const saver = RewindSaver.memory();
    const memory = new MemorySaver();
    const checkpoints = [
      makeCheckpoint({ log: ["seed"] }, uuid6(-1), { log: 1 }),
      makeCheckpoint({}, uuid6(-1), { log: 2 }),
      makeCheckpoint({}, uuid6(-1), { log: 3 }),
      makeCheckpoint({}, uuid6(-1), { log: 4 }),
    ];
    const results = [];
    for (const s of [saver, memory]) {
      let config = cfg("t", "");
      for (const [i, checkpoint] of checkpoints.entries()) {
        config = await s.put(config, checkpoint, meta("loop", i), i === 0 ? { log: 1 } : {});
        await s.putWrites(config, [["log", `w${i}a`], ["other", i]], `task-${i}`, "~p");
        await s.putWrites(config, [["log", `w${i}b`]], `task-${i}b`, "~p");
      }
      results.push(await s.getDeltaChannelHistory({ config, channels: ["log", "other", "none"] }));
    }
    assert.deepEqual(results[0], results[1]);
    assert.deepEqual(results[0].log.seed, ["seed"]);
    assert.equal(results[0].log.writes.length, 2 * 3);
  });

  test("writes that arrive before their checkpoint's put() are stored with it, as MemorySaver keeps them", async () => {
    const id = uuid6(-1);
    const target = cfg("t", "", id);
    const answers = [];
    for (const saver of [RewindSaver.memory(), new MemorySaver()]) {
      await saver.putWrites(target, [["early", "bird"]], "task-1", "~p");
      assert.equal(await saver.getTuple(target), undefined);
      const racing = saver.putWrites(target, [[INTERRUPT, { value: "why" }]], "task-2", "~p");
      await saver.put(cfg("t"), makeCheckpoint({}, id), meta("loop", 0), {});
      await racing;
      answers.push((await saver.getTuple(target)).pendingWrites);
    }
    assert.deepEqual(answers[0], [
      ["task-1", "early", "bird"],
      ["task-2", INTERRUPT, { value: "why" }],
    ]);
    assert.deepEqual(answers[0], answers[1]);
    const saver = RewindSaver.memory();
    await saver.putWrites(target, [["early", "bird"]], "task-1", "~p");
    await saver.put(cfg("t"), makeCheckpoint({}, id), meta("loop", 0), {});
    assert.equal(attachmentsOf(saver, target).writes.length, 1, "stored as rewind attachments");
  });
});

// ----- namespaces and deleteThread ----------------------------------------------------------

describe("namespaces and deleteThread", () => {
  test("namespaces are separate; an absent namespace lists all, an empty one the root only", async () => {
    const saver = RewindSaver.memory();
    const root = await saver.put(cfg("t", ""), makeCheckpoint({ where: "root" }), meta("loop", 0), { where: 1 });
    const sub = await saver.put(cfg("t", "tools:123"), makeCheckpoint({ where: "sub" }), meta("loop", 0), { where: 1 });
    assert.equal((await saver.getTuple(cfg("t", ""))).checkpoint.channel_values.where, "root");
    assert.equal((await saver.getTuple(cfg("t", "tools:123"))).checkpoint.channel_values.where, "sub");
    assert.equal(await saver.getTuple(cfg("t", "", sub.configurable.checkpoint_id)), undefined);
    assert.deepEqual((await collect(saver.list(cfg("t", "")))).map((t) => t.config), [root]);
    assert.deepEqual((await collect(saver.list(cfg("t")))).map((t) => t.config), [sub, root]);
    assert.equal(saver.store.get(saver.checkpointId(sub)).namespace, "tools:123");
    assert.equal(saver.store.get(saver.checkpointId(root)).namespace, "");
  });

  test("deleteThread removes one thread with its writes and nothing else", async () => {
    const saver = RewindSaver.memory();
    const one = await saver.put(cfg("1", ""), emptyCheckpoint(), meta("update", -1), {});
    await saver.putWrites(one, [["x", 1]], "task");
    const two = await saver.put(cfg("2", ""), emptyCheckpoint(), meta("update", -1), {});
    await saver.putWrites(two, [["y", 2]], "task");
    await saver.put(cfg("1", "sub"), emptyCheckpoint(), meta("update", -1), {});
    await saver.deleteThread("1");
    assert.equal(await saver.getTuple(cfg("1", "")), undefined);
    assert.equal(await saver.getTuple(cfg("1", "sub")), undefined);
    assert.equal((await collect(saver.list(cfg("1")))).length, 0);
    assert.deepEqual((await saver.getTuple(cfg("2", ""))).pendingWrites, [["task", "y", 2]]);
    assert.deepEqual(saver.store.sessions().map((s) => s.name), ["2"]);
    await saver.deleteThread("never-existed");
    await assert.rejects(saver.deleteThread(undefined), /thread_id/);
    // The thread can start again.
    await saver.put(cfg("1", ""), makeCheckpoint({ again: true }), meta("input", -1), { again: 1 });
    assert.equal((await saver.getTuple(cfg("1"))).checkpoint.channel_values.again, true);
    assert.equal((await saver.store.verify()).ok, true);
  });
});

// ----- durability and other processes --------------------------------------------------------

describe("the saver over a store others change", () => {
  test("a reopened store reads the same tuples (nothing kept only in memory)", async () => {
    const saver = RewindSaver.memory();
    let parent = cfg("t");
    for (let i = 0; i < 5; i++) {
      parent = await saver.put(parent, makeCheckpoint({ i, log: Array.from({ length: i }, (_, k) => `m${k}`) }, uuid6(-1), { i: i + 1, log: i + 1 }), meta("loop", i), { i: i + 1, log: i + 1 });
      await saver.putWrites(parent, [["i", i]], `task-${i}`, "~p");
    }
    const reopened = new RewindSaver(Store.memory({ log: (await saver.store.logBytes()) }));
    assert.deepEqual(await collect(reopened.list(cfg("t"))), await collect(saver.list(cfg("t"))));
  });

  test("a put cut short anywhere leaves the previous checkpoint or the whole new one", async () => {
    const saver = RewindSaver.memory();
    const first = await saver.put(cfg("t"), makeCheckpoint({ a: "one", b: "x" }), meta("loop", 0), { a: 1, b: 1 });
    // Writes that arrive before their checkpoint's put() are stored with it.
    const next = uuid6(-1);
    await saver.putWrites(cfg("t", "", next), [["a", "w"]], "task", "~p");
    const before = (await saver.store.logBytes()).length;
    const second = await saver.put(first, makeCheckpoint({ a: "two", b: "x" }, next, { a: 2, b: 1 }), meta("loop", 1), { a: 2 });
    const log = (await saver.store.logBytes());
    const whole = await saver.getTuple(second);
    assert.deepEqual(whole.checkpoint.channel_values, { a: "two", b: "x" });
    assert.deepEqual(whole.pendingWrites, [["task", "a", "w"]]);
    // The log as a crash at every byte of the put's append would have left it.
    for (let cut = before; cut < log.length; cut++) {
      const crashed = new RewindSaver(Store.memory({ log: log.slice(0, cut) }));
      assert.equal(await crashed.getTuple(second), undefined, `cut at ${cut}`);
      assert.deepEqual((await crashed.getTuple(cfg("t"))).config, first, `cut at ${cut}`);
    }
    const reopened = new RewindSaver(Store.memory({ log }));
    assert.deepEqual(await reopened.getTuple(cfg("t")), whole);
  });

  test("deletions made directly on the store, and other savers' puts, are seen", async () => {
    const saver = RewindSaver.memory();
    const a = await saver.put(cfg("t"), makeCheckpoint({ x: 1 }), meta("input", -1), { x: 1 });
    const b = await saver.put(a, makeCheckpoint({ x: 2 }, uuid6(-1), { x: 2 }), meta("loop", 0), { x: 2 });
    assert.equal((await saver.getTuple(cfg("t"))).checkpoint.id, b.configurable.checkpoint_id);
    await saver.store.delete(b.configurable.checkpoint_id);
    assert.equal((await saver.getTuple(cfg("t"))).checkpoint.id, a.configurable.checkpoint_id);
    // Two savers on one store share what they know.
    const second = new RewindSaver(saver.store);
    const c = await second.put(a, makeCheckpoint({ x: 3 }, uuid6(-1), { x: 3 }), meta("loop", 0), { x: 3 });
    assert.equal((await saver.getTuple(cfg("t"))).checkpoint.id, c.configurable.checkpoint_id);
  });

  test("after an import into a thread it already read, refresh() makes the saver see it", async () => {
    const source = RewindSaver.memory();
    const a = await source.put(cfg("t"), makeCheckpoint({ x: 1 }), meta("input", -1), { x: 1 });
    const exported = (await source.store.exportBinary([source.sessionId("t")]));
    const b = await source.put(a, makeCheckpoint({ x: 2 }, uuid6(-1), { x: 2 }), meta("loop", 0), { x: 2 });
    const target = new RewindSaver(Store.memory());
    await target.store.importBinary(exported);
    assert.equal((await target.getTuple(cfg("t"))).checkpoint.id, a.configurable.checkpoint_id);
    // The newer export adds b; imports emit no store events, so the saver is told.
    await target.store.importBinary((await source.store.exportBinary([source.sessionId("t")])));
    target.refresh();
    assert.equal((await target.getTuple(cfg("t"))).checkpoint.id, b.configurable.checkpoint_id);
    assert.deepEqual(await collect(target.list(cfg("t"))), await collect(source.list(cfg("t"))));
  });
});

// ----- rewind features on LangGraph data ----------------------------------------------------

describe("rewind features stay usable", () => {
  /**
   * A growing conversation of `steps` checkpoints in thread `thread`: "system" is written once
   * (step 0) and carried over, "messages" grows every step, "step" changes every step.
   */
  // Longer than the 64 bytes kept inline in the envelope: an attachment on the first checkpoint.
  const SYSTEM = "You are terse. Answer in one sentence, name your sources, and never guess numbers.";

  async function conversation(saver, thread, steps, text = (i) => `message ${i} `.repeat(20)) {
    let config = cfg(thread, "");
    const messages = [];
    const configs = [];
    for (let i = 0; i < steps; i++) {
      messages.push({ role: i % 2 ? "ai" : "human", content: text(i) });
      const versions = { system: 1, messages: i + 1, step: i + 1 };
      const checkpoint = makeCheckpoint({ system: SYSTEM, messages: [...messages], step: i }, uuid6(-1), versions);
      const newVersions = i === 0 ? versions : { messages: i + 1, step: i + 1 };
      config = await saver.put(config, checkpoint, meta(i === 0 ? "input" : "loop", i - 1), newVersions);
      configs.push(config);
    }
    return configs;
  }

  test("tags and annotations", async () => {
    const saver = new RewindSaver(Store.memory(), { tags: (checkpoint, metadata) => (metadata.step % 2 ? ["odd"] : []) });
    const configs = await conversation(saver, "t", 6);
    const inputs = saver.store.list({ tags: ["langgraph:input"] }).items;
    assert.deepEqual(inputs.map((c) => c.id), [configs[0].configurable.checkpoint_id]);
    assert.equal(saver.store.list({ tags: ["langgraph:loop"] }).items.length, 5);
    assert.equal(saver.store.list({ tags: ["odd"] }).items.length, 3);
    const cp = saver.store.get(configs[2].configurable.checkpoint_id);
    assert.equal(cp.message, "loop step 1");
    assert.deepEqual(cp.metadata, meta("loop", 1));
    assert.deepEqual(saver.store.list({ session: saver.sessionId("t"), metadata: { step: 3 } }).items.map((c) => c.id), [configs[4].configurable.checkpoint_id]);
    // Annotate by LangGraph id.
    await saver.store.annotate(configs[3].configurable.checkpoint_id, "the agent went off track here", "warning");
    assert.equal(saver.store.annotations(configs[3].configurable.checkpoint_id)[0].note, "the agent went off track here");
    assert.equal(saver.store.session(saver.sessionId("t")).name, "t");
  });

  test("retention per thread: compact keeps the newest and they stay complete", async () => {
    const saver = RewindSaver.memory();
    const configs = await conversation(saver, "keep", 12);
    await conversation(saver, "other", 4);
    const expected = await collect(saver.list(cfg("keep"), { limit: 3 }));
    const before = saver.store.metrics();
    // "system" lives on the first checkpoint only; compaction removes it, so the kept ones get a
    // copy (deduplicated: no new chunks) first.
    const report = await saver.compact({ keepLast: 3 }, ["keep"]);
    assert.equal(report.removed, 9);
    assert.equal(report.rehomed, 3);
    const kept = await collect(saver.list(cfg("keep")));
    assert.deepEqual(kept, expected);
    assert.deepEqual(kept.map((t) => t.config), configs.slice(-3).reverse());
    assert.equal(kept[2].checkpoint.channel_values.system, SYSTEM);
    assert.equal((await collect(saver.list(cfg("other")))).length, 4, "other threads untouched");
    const after = saver.store.metrics();
    assert.ok(after.logBytes < before.logBytes, `${before.logBytes} -> ${after.logBytes} log bytes`);
    assert.equal((await saver.store.verify()).ok, true);
    // The thread goes on from what is left, inheriting "system" whose first holder is gone.
    const last = kept[0];
    const next = await saver.put(
      last.config,
      makeCheckpoint({ ...last.checkpoint.channel_values, step: 99 }, uuid6(-1), { ...last.checkpoint.channel_versions, step: 99 }),
      meta("loop", 12),
      { step: 99 },
    );
    const tuple = await saver.getTuple(next);
    assert.equal(tuple.checkpoint.channel_values.system, SYSTEM);
    assert.deepEqual(tuple.checkpoint.channel_values.messages, last.checkpoint.channel_values.messages);
    // A second compaction, and a reopened store, see the same.
    await saver.compact({ keepLast: 1 }, ["keep"]);
    const reopened = new RewindSaver(Store.memory({ log: (await saver.store.logBytes()) }));
    assert.deepEqual(await collect(reopened.list(cfg("keep"))), [tuple]);
  });

  test("export and import: a thread moves to another store with the same hashes", async () => {
    const saver = RewindSaver.memory();
    const configs = await conversation(saver, "moving", 5);
    await saver.putWrites(configs[4], [["messages", [{ role: "human", content: "pending" }]]], "task", "~p");
    await conversation(saver, "staying", 2);
    const tuples = await collect(saver.list(cfg("moving")));
    for (const format of ["binary", "json"]) {
      const exported =
        format === "binary"
          ? (await saver.store.exportBinary([saver.sessionId("moving")]))
          : (await saver.store.exportJson([saver.sessionId("moving")]));
      const target = Store.memory();
      const report = format === "binary" ? await target.importBinary(exported) : await target.importJson(exported);
      assert.equal(report.checkpointsAdded, 5);
      const there = new RewindSaver(target);
      assert.deepEqual(await collect(there.list(cfg("moving"))), tuples);
      assert.deepEqual(await collect(there.list(cfg("staying"))), []);
      for (const t of tuples) {
        const id = t.checkpoint.id;
        assert.equal(target.get(id).hash, saver.store.get(id).hash);
      }
      assert.equal((await target.verify()).ok, true);
    }
  });

  test("verify, and deduplication of channel values", async () => {
    const saver = RewindSaver.memory();
    await conversation(saver, "a", 40);
    const one = saver.store.metrics();
    assert.equal((await saver.store.verify()).ok, true);
    // Each value is stored once per version: system once, messages every step; step (a small
    // number), system and the first two versions of messages (at most 512 bytes of JSON) live
    // in the envelope of the checkpoint that wrote them.
    assert.equal(one.attachments, 40 - 2);
    // A growing conversation (~230 bytes a message): versions share chunks, so chunk bytes grow
    // with the new messages (plus each checkpoint's own state), not with the whole history.
    assert.ok(one.storedBytes < 40 * 1500, `stored ${one.storedBytes}`);
    assert.ok(one.logicalBytes > 4 * one.storedBytes, `logical ${one.logicalBytes}, stored ${one.storedBytes}`);
    // The same conversation in a second thread: its values add no chunk bytes (only its own
    // checkpoints' states, which hold ids and times, are new).
    await conversation(saver, "b", 40);
    const two = saver.store.metrics();
    const statesOfB = saver.store.list({ session: saver.sessionId("b") }).items.reduce((n, c) => n + c.stateLen, 0);
    assert.equal(two.attachments, 2 * one.attachments);
    assert.ok(two.storedBytes - one.storedBytes <= statesOfB, `${two.storedBytes - one.storedBytes} new bytes, states ${statesOfB}`);
    assert.equal((await saver.store.verify()).ok, true);
  });
});

// ----- a real agent -------------------------------------------------------------------------

/** What a state snapshot says, without ids and times. */
function describeState(s) {
  return {
    next: s.next,
    source: s.metadata?.source,
    step: s.metadata?.step,
    messages: (s.values.messages ?? []).map((m) => [m._getType(), m.content, m.tool_calls?.map((c) => [c.name, c.args]) ?? []]),
    tasks: s.tasks.map((t) => t.name),
  };
}

describe("a real agent", () => {
  test("tool loop with interrupt, resume, history and time travel (fork)", async () => {
    const saver = RewindSaver.memory();
    const agent = buildAgent(saver, { interruptBefore: ["tools"] });
    const config = cfg("agent-thread");

    // Run until the graph stops before the tool.
    await agent.invoke({ messages: [new HumanMessage("What is 6 times 7?")] }, config);
    let state = await agent.getState(config);
    assert.deepEqual(state.next, ["tools"]);
    const lastAi = state.values.messages.at(-1);
    assert.deepEqual(lastAi.tool_calls.map((c) => c.args), [{ a: 6, b: 7 }]);

    // Resume: the tool runs, the agent answers.
    const done = await agent.invoke(null, config);
    assert.equal(done.messages.at(-1).content, "The answer is 42.");
    state = await agent.getState(config);
    assert.deepEqual(state.next, []);

    // A second question in the same thread.
    await agent.invoke({ messages: [new HumanMessage("And 3 times 5?")] }, config);
    await agent.invoke(null, config);
    assert.equal((await agent.getState(config)).values.messages.at(-1).content, "The answer is 15.");

    // The history is what MemorySaver records for the same run.
    const memory = new MemorySaver();
    const reference = buildAgent(memory, { interruptBefore: ["tools"] });
    await reference.invoke({ messages: [new HumanMessage("What is 6 times 7?")] }, config);
    await reference.invoke(null, config);
    await reference.invoke({ messages: [new HumanMessage("And 3 times 5?")] }, config);
    await reference.invoke(null, config);
    const history = await collect(agent.getStateHistory(config));
    const expected = await collect(reference.getStateHistory(config));
    assert.equal(history.length, expected.length);
    assert.deepEqual(history.map(describeState), expected.map(describeState));
    for (const [i, h] of history.entries()) {
      if (i + 1 < history.length) assert.deepEqual(h.parentConfig.configurable.checkpoint_id, history[i + 1].config.configurable.checkpoint_id);
    }

    // Time travel: back to the moment before the first tool call ran, change the question's
    // numbers in the pending tool call, and continue from there.
    const beforeTool = history.find((h) => h.next[0] === "tools" && h.values.messages.length === 2);
    assert.ok(beforeTool, "the checkpoint before the first tool call");
    const call = beforeTool.values.messages[1];
    const edited = new AIMessage({
      id: call.id,
      content: "",
      tool_calls: [{ name: "multiply", args: { a: 6, b: 9 }, id: "call_6_9", type: "tool_call" }],
    });
    const forkConfig = await agent.updateState(beforeTool.config, { messages: [edited] });
    const forked = await agent.invoke(null, forkConfig);
    assert.equal(forked.messages.at(-1).content, "The answer is 54.");
    assert.equal(forked.messages.length, 4, "the fork does not contain the second question");

    // The fork is a rewind branch of the thread's session.
    const session = saver.sessionId("agent-thread");
    const branches = saver.store.branches(session);
    assert.equal(branches.length, 2);
    const latest = await agent.getState(config);
    assert.deepEqual(
      branches.map((b) => b.id).sort(),
      [latest.config.configurable.checkpoint_id, history[0].config.configurable.checkpoint_id].sort(),
    );
    const forkPoint = saver.checkpointId(beforeTool.config);
    const forkLine = saver.store.history(latest.config.configurable.checkpoint_id).map((c) => c.id);
    const mainLine = saver.store.history(history[0].config.configurable.checkpoint_id).map((c) => c.id);
    assert.ok(forkLine.includes(forkPoint) && mainLine.includes(forkPoint), "both branches go through the fork point");
    assert.equal(saver.store.children(forkPoint).length, 2);
    // The original branch still reads as before.
    assert.equal((await agent.getState(history[0].config)).values.messages.at(-1).content, "The answer is 15.");
    assert.equal((await saver.store.verify()).ok, true);

    // A copy of that checkpoint (updateState with "__copy__": a sibling with the same values)
    // has its state and runs on as the original did, as with MemorySaver.
    const refBefore = expected.find((h) => h.next[0] === "tools" && h.values.messages.length === 2);
    const copyConfig = await agent.updateState(beforeTool.config, undefined, "__copy__");
    const refCopyConfig = await reference.updateState(refBefore.config, undefined, "__copy__");
    const [copied, refCopied] = [await agent.getState(copyConfig), await reference.getState(refCopyConfig)];
    assert.deepEqual(describeState(copied), describeState(refCopied));
    assert.deepEqual(copied.values, beforeTool.values);
    const rerun = await agent.invoke(null, copyConfig);
    assert.deepEqual(rerun.messages.map((m) => m.content), (await reference.invoke(null, refCopyConfig)).messages.map((m) => m.content));

    // Each channel value is stored once per version: far fewer value attachments than channel
    // values in all checkpoints' states.
    const all = await collect(saver.list(config));
    const channelValues = all.reduce((n, t) => n + Object.keys(t.checkpoint.channel_values).length, 0);
    const valueAttachments = all.reduce((n, t) => n + attachmentsOf(saver, t.config).values.length, 0);
    assert.ok(valueAttachments < channelValues, `${valueAttachments} stored for ${channelValues} channel values`);
  });

  test("the agent resumes from a store reopened from its bytes (a new process)", async () => {
    const saver = RewindSaver.memory();
    const config = cfg("restart");
    await buildAgent(saver, { interruptBefore: ["tools"] }).invoke({ messages: [new HumanMessage("What is 2 times 21?")] }, config);
    const reopened = new RewindSaver(Store.memory({ log: (await saver.store.logBytes()) }));
    const agent = buildAgent(reopened, { interruptBefore: ["tools"] });
    assert.deepEqual((await agent.getState(config)).next, ["tools"]);
    const done = await agent.invoke(null, config);
    assert.equal(done.messages.at(-1).content, "The answer is 42.");
  });

  test("a subgraph writes its own checkpoint namespace", async () => {
    const saver = RewindSaver.memory();
    const Inner = Annotation.Root({ items: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }) });
    const inner = new StateGraph(Inner)
      .addNode("one", async () => ({ items: ["inner-1"] }))
      .addNode("two", async () => ({ items: ["inner-2"] }))
      .addEdge(START, "one")
      .addEdge("one", "two")
      .addEdge("two", END)
      .compile();
    const outer = new StateGraph(Inner)
      .addNode("sub", inner)
      .addNode("after", async () => ({ items: ["outer"] }))
      .addEdge(START, "sub")
      .addEdge("sub", "after")
      .addEdge("after", END)
      .compile({ checkpointer: saver, interruptBefore: ["after"] });
    const config = cfg("nested");
    await outer.invoke({ items: ["start"] }, config);
    const namespaces = new Set(saver.store.list({ session: saver.sessionId("nested") }).items.map((c) => c.namespace));
    assert.ok(namespaces.has(""));
    const state = await outer.getState(config, { subgraphs: true });
    assert.deepEqual(state.next, ["after"]);
    const final = await outer.invoke(null, config);
    assert.deepEqual(final.items.slice(-3), ["inner-1", "inner-2", "outer"]);
    // The same as with MemorySaver.
    const memory = new MemorySaver();
    const reference = new StateGraph(Inner)
      .addNode("sub", inner)
      .addNode("after", async () => ({ items: ["outer"] }))
      .addEdge(START, "sub")
      .addEdge("sub", "after")
      .addEdge("after", END)
      .compile({ checkpointer: memory, interruptBefore: ["after"] });
    await reference.invoke({ items: ["start"] }, config);
    assert.deepEqual(await reference.invoke(null, config), final);
    const mine = (await collect(outer.getStateHistory(config))).map((s) => [s.next, s.values, s.metadata.step]);
    const theirs = (await collect(reference.getStateHistory(config))).map((s) => [s.next, s.values, s.metadata.step]);
    assert.deepEqual(mine, theirs);
  });
});

describe("a real agent on a file store", () => {
  test("is killed with SIGKILL while interrupted, restarted, and resumes from its last checkpoint", async () => {
    const { spawn } = await import("node:child_process");
    const fs = await import("node:fs");
    const os = await import("node:os");
    const path = await import("node:path");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rewind-agent-"));
    const script = new URL("./support/agent-on-files.mjs", import.meta.url).pathname;
    const run = (phase, kill) =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [script, path.join(dir, "store"), phase], { stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        let err = "";
        child.stdout.on("data", (d) => {
          out += d;
          if (kill && out.includes("interrupted\n")) child.kill("SIGKILL");
        });
        child.stderr.on("data", (d) => (err += d));
        child.on("error", reject);
        // "close": every line it wrote has been read by then ("exit" can come first).
        child.on("close", (code, signal) => resolve({ out, err, code, signal }));
      });
    try {
      const first = await run("ask", true);
      assert.equal(first.signal, "SIGKILL", first.err);
      assert.match(first.out, /interrupted/);
      const second = await run("resume", false);
      assert.equal(second.code, 0, second.err);
      const lines = second.out.trim().split("\n");
      // The restarted process finds the graph where the killed one left it: before the tool.
      assert.equal(lines[0], "next tools");
      assert.equal(lines[1], "answer The answer is 42.");
      assert.match(lines[2], /^history \d+$/);
      assert.ok(Number(lines[2].split(" ")[1]) >= 5, lines[2]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
