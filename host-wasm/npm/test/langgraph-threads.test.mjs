// RewindSaver's thread methods from LangGraph's Python base: prune(threadIds, strategy),
// copyThread(source, target) and deleteForRuns(runIds), with the semantics of LangGraph's
// checkpoint conformance suite, and DeltaChannel graphs reading back the same afterwards.
//
//   node --test test/langgraph-threads.test.mjs

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { Store } from "rewind-store";
import { RewindSaver } from "rewind-store/langgraph";
import { uuid6 } from "@langchain/langgraph-checkpoint";
import { DeltaValue, END, START, StateGraph, StateSchema } from "@langchain/langgraph";
import { z } from "zod";

async function collect(iterable) {
  const out = [];
  for await (const item of iterable) out.push(item);
  return out;
}

const cfg = (thread_id, checkpoint_ns = "") => ({ configurable: { thread_id, checkpoint_ns } });

/** A thread of `steps` checkpoints in the root namespace and two in "child:1", with writes. */
async function thread(saver, id, steps, runOf = () => "run-a") {
  let config = cfg(id);
  const messages = [];
  for (let i = 0; i < steps; i++) {
    messages.push({ role: i % 2 ? "ai" : "human", content: `${id} message ${i} `.repeat(12) });
    const versions = { messages: i + 1, step: i + 1 };
    const checkpoint = { v: 4, id: uuid6(-1), ts: new Date().toISOString(), channel_values: { messages: [...messages], step: i }, channel_versions: versions, versions_seen: {} };
    config = await saver.put(config, checkpoint, { source: "loop", step: i, parents: {}, run_id: runOf(i) }, versions);
    await saver.putWrites(config, [["messages", [{ role: "ai", content: `pending ${i}` }]]], `task-${i}`, "~path");
  }
  let child = cfg(id, "child:1");
  for (let i = 0; i < 2; i++) {
    const checkpoint = { v: 4, id: uuid6(-1), ts: new Date().toISOString(), channel_values: { inner: i }, channel_versions: { inner: i + 1 }, versions_seen: {} };
    child = await saver.put(child, checkpoint, { source: "loop", step: i, parents: {}, run_id: runOf(i) }, { inner: i + 1 });
  }
  return config;
}

/** Every checkpoint of a thread, in every namespace. */
const everything = (saver, id) => collect(saver.list({ configurable: { thread_id: id } }));

/** A graph whose `log` is a DeltaChannel (a snapshot every 4 updates). */
function deltaGraph(saver, steps) {
  const State = new StateSchema({
    log: new DeltaValue(z.array(z.string()).default(() => []), { reducer: (s, writes) => s.concat(...writes), snapshotFrequency: 4 }),
    step: z.number().default(0),
  });
  return new StateGraph(State)
    .addNode("work", (s) => ({ log: [`step ${s.step}`], step: s.step + 1 }))
    .addEdge(START, "work")
    .addConditionalEdges("work", (s) => (s.step % steps !== 0 ? "work" : END))
    .compile({ checkpointer: saver });
}

test("prune keep_latest: one checkpoint per namespace, the newest, with its writes; other threads untouched", async () => {
  const saver = RewindSaver.memory();
  await thread(saver, "t", 8);
  await thread(saver, "other", 3);
  const before = await everything(saver, "t");
  const others = await everything(saver, "other");
  const newest = ["", "child:1"].map((ns) => before.find((t) => t.config.configurable.checkpoint_ns === ns));
  const bytes = saver.store.metrics().logBytes;

  await saver.prune(["t", "no such thread"], "keep_latest");
  const after = await everything(saver, "t");
  assert.deepEqual(after.sort(byNs), newest.sort(byNs));
  assert.equal(after.find((t) => t.config.configurable.checkpoint_ns === "").pendingWrites.length, 1);
  assert.deepEqual(await everything(saver, "other"), others);
  assert.ok(saver.store.metrics().logBytes < bytes, "space is reclaimed");
  assert.equal((await saver.store.verify()).ok, true);
  // What is left reads the same from the stored log.
  const reopened = new RewindSaver(Store.memory({ log: await saver.store.logBytes() }));
  assert.deepEqual((await everything(reopened, "t")).sort(byNs), newest.sort(byNs));
  // Nothing to prune: no threads, or a thread already pruned.
  await saver.prune([]);
  await saver.prune(["t"]);
  assert.deepEqual((await everything(saver, "t")).sort(byNs), newest.sort(byNs));
  await assert.rejects(saver.prune(["t"], "keep_some"), TypeError);
});

const byNs = (a, b) => (a.config.configurable.checkpoint_ns < b.config.configurable.checkpoint_ns ? -1 : 1);

test("prune delete: the threads are gone, the others stay", async () => {
  const saver = RewindSaver.memory();
  await thread(saver, "a", 3);
  await thread(saver, "b", 3);
  const b = await everything(saver, "b");
  await saver.prune(["a"], "delete");
  assert.deepEqual(await everything(saver, "a"), []);
  assert.equal(await saver.getTuple(cfg("a")), undefined);
  assert.deepEqual(await everything(saver, "b"), b);
});

test("prune keep_latest on a DeltaChannel graph keeps what its delta channel replays: the state reads the same", async () => {
  const saver = RewindSaver.memory();
  const graph = deltaGraph(saver, 10);
  const config = { configurable: { thread_id: "delta" } };
  await graph.invoke({ log: ["start"] }, config);
  const state = await graph.getState(config);
  const total = (await everything(saver, "delta")).length;
  const history = await saver.getDeltaChannelHistory({ config, channels: ["log"] });

  await saver.prune(["delta"]);
  const left = await everything(saver, "delta");
  assert.ok(left.length > 1 && left.length < total, `${left.length} of ${total} kept`);
  assert.deepEqual((await graph.getState(config)).values, state.values);
  assert.deepEqual(await saver.getDeltaChannelHistory({ config, channels: ["log"] }), history);
  // The graph goes on from the pruned thread.
  const more = await graph.invoke({ log: ["again"] }, config);
  assert.deepEqual(more.log.slice(0, state.values.log.length), state.values.log);
});

test("copyThread: every namespace, metadata and write under the new thread id; values shared, not copied", async () => {
  const saver = RewindSaver.memory();
  await thread(saver, "source", 6);
  const source = await everything(saver, "source");
  const chunks = saver.store.metrics().storedBytes;

  await saver.copyThread("source", "target");
  const target = await everything(saver, "target");
  const renamed = (tuples) =>
    JSON.parse(JSON.stringify(tuples).replaceAll('"thread_id":"source"', '"thread_id":"target"'));
  assert.deepEqual(target, renamed(source));
  assert.deepEqual(await everything(saver, "source"), source, "the source is unchanged");
  const states = saver.store.list({ session: saver.sessionId("target") }).items.reduce((n, c) => n + c.stateLen, 0);
  assert.ok(saver.store.metrics().storedBytes - chunks <= states, "only the copies' envelopes are new chunk bytes");
  assert.equal((await saver.store.verify()).ok, true);

  // The copy is a thread of its own: writing to it leaves the source alone.
  const root = (tuples) => tuples.find((t) => t.config.configurable.checkpoint_ns === "");
  await saver.putWrites(root(target).config, [["step", 99]], "late-task");
  assert.equal((await saver.getTuple(root(target).config)).pendingWrites.length, 2);
  assert.equal((await saver.getTuple(root(source).config)).pendingWrites.length, 1);
  // A target with checkpoints is refused; a missing source copies nothing.
  await assert.rejects(saver.copyThread("source", "target"), /already has checkpoints/);
  await saver.copyThread("nobody", "empty");
  assert.deepEqual(await everything(saver, "empty"), []);
});

test("copyThread copies a thread written with envelope v1 and a DeltaChannel graph, which then read the same", async () => {
  const log = new Uint8Array(readFileSync(new URL("./fixtures/langgraph-v1.log", import.meta.url)));
  const old = new RewindSaver(Store.memory({ log }));
  const source = await everything(old, "golden");
  await old.copyThread("golden", "golden copy");
  const copied = JSON.stringify(await everything(old, "golden copy"), bigints).replaceAll('"thread_id":"golden copy"', '"thread_id":"golden"');
  assert.equal(copied, JSON.stringify(source, bigints));

  const saver = RewindSaver.memory();
  const graph = deltaGraph(saver, 9);
  await graph.invoke({ log: ["x"] }, { configurable: { thread_id: "d" } });
  await saver.copyThread("d", "d2");
  const a = await graph.getState({ configurable: { thread_id: "d" } });
  const b = await graph.getState({ configurable: { thread_id: "d2" } });
  assert.deepEqual(b.values, a.values);
  assert.equal((await everything(saver, "d2")).length, (await everything(saver, "d")).length);
});

const bigints = (_key, value) => (typeof value === "bigint" ? `${value}n` : value instanceof Set ? [...value] : value);

test("deleteForRuns: the runs' checkpoints go in every thread and namespace, with their writes", async () => {
  const saver = RewindSaver.memory();
  await thread(saver, "t", 6, (i) => (i < 3 ? "run-1" : "run-2"));
  await thread(saver, "u", 2, () => "run-1");
  await thread(saver, "v", 2, () => "run-3");
  const before = await everything(saver, "t");
  const run1 = before.filter((t) => t.metadata.run_id === "run-1");
  assert.ok(run1.length > 0);

  await saver.deleteForRuns(["run-1", "unknown run"]);
  for (const t of run1) assert.equal(await saver.getTuple(t.config), undefined);
  assert.deepEqual(await everything(saver, "t"), before.filter((t) => t.metadata.run_id !== "run-1"));
  assert.deepEqual(await everything(saver, "u"), []);
  assert.equal((await everything(saver, "v")).length, 4);
  assert.equal((await saver.store.verify()).ok, true);
  await saver.deleteForRuns([]);
  assert.equal((await everything(saver, "v")).length, 4);
});

/** Records the run in each checkpoint's metadata, as LangGraph's server and Python savers do. */
class RunSaver extends RewindSaver {
  run = null;
  put(config, checkpoint, metadata, newVersions) {
    return super.put(config, checkpoint, { ...metadata, run_id: this.run }, newVersions);
  }
}

test("deleteForRuns keeps what a later run's DeltaChannel replays, and nothing more", async () => {
  const saver = new RunSaver(Store.memory());
  const graph = deltaGraph(saver, 6);
  const config = { configurable: { thread_id: "runs" } };
  saver.run = "run-1";
  await graph.invoke({ log: ["first"] }, config);
  saver.run = "run-2";
  await graph.invoke({ log: ["second"] }, config);
  const all = await everything(saver, "runs");
  assert.ok(all.some((t) => t.metadata.run_id === "run-1") && all.some((t) => t.metadata.run_id === "run-2"));
  const states = new Map();
  for (const t of all) states.set(t.checkpoint.id, (await graph.getState(t.config)).values);

  await saver.deleteForRuns(["run-1"]);
  const left = await everything(saver, "runs");
  const run1Left = left.filter((t) => t.metadata.run_id === "run-1").length;
  assert.ok(run1Left > 0, "run-2's first checkpoint replays the end of run-1");
  assert.ok(run1Left < all.filter((t) => t.metadata.run_id === "run-1").length, "the rest of run-1 goes");
  // Every checkpoint that stays, run-2's first included, reads the state it read before.
  for (const t of left) assert.deepEqual((await graph.getState(t.config)).values, states.get(t.checkpoint.id));

});
