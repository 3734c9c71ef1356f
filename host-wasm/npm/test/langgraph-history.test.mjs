// RewindSaver.getDeltaChannelHistory: LangGraph's DeltaChannel graphs rebuilt from one walk over
// the stored envelopes and writes, with the same answer as LangGraph's own default walk (getTuple
// and parents, one by one) and as MemorySaver holding the same checkpoints.
//
//   node --test test/langgraph-history.test.mjs

import { test } from "node:test";
import assert from "node:assert/strict";

import { RewindSaver } from "rewind-store/langgraph";
import { BaseCheckpointSaver, MemorySaver, isDeltaSnapshot } from "@langchain/langgraph-checkpoint";
import { DeltaValue, END, START, StateGraph, StateSchema } from "@langchain/langgraph";
import { z } from "zod";

const defaultWalk = (saver, options) => BaseCheckpointSaver.prototype.getDeltaChannelHistory.call(saver, options);

async function collect(iterable) {
  const out = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** A graph whose `log` is a DeltaChannel (a snapshot every 3 updates) and `step` a plain value. */
function deltaGraph(saver, steps) {
  const State = new StateSchema({
    log: new DeltaValue(z.array(z.string()).default(() => []), {
      reducer: (state, writes) => state.concat(...writes),
      snapshotFrequency: 3,
    }),
    step: z.number().default(0),
  });
  return new StateGraph(State)
    .addNode("work", (s) => ({ log: [`step ${s.step}`, `note ${s.step}`], step: s.step + 1 }))
    .addEdge(START, "work")
    .addConditionalEdges("work", (s) => (s.step < steps ? "work" : END))
    .compile({ checkpointer: saver });
}

/** The same checkpoints and writes, put into a MemorySaver in the order they were made. */
async function copyInto(memory, saver, thread) {
  const tuples = (await collect(saver.list({ configurable: { thread_id: thread } }))).reverse();
  for (const t of tuples) {
    const ns = t.config.configurable.checkpoint_ns;
    const parent = t.parentConfig ?? { configurable: { thread_id: thread, checkpoint_ns: ns } };
    const stored = await memory.put(parent, t.checkpoint, t.metadata, t.checkpoint.channel_versions);
    const byTask = new Map();
    for (const [task, channel, value] of t.pendingWrites) {
      if (!byTask.has(task)) byTask.set(task, []);
      byTask.get(task).push([channel, value]);
    }
    for (const [task, writes] of byTask) await memory.putWrites(stored, writes, task);
  }
  return tuples;
}

test("a DeltaChannel graph: the same history as the default walk and as MemorySaver, at every checkpoint", async () => {
  const saver = RewindSaver.memory();
  const graph = deltaGraph(saver, 10);
  const config = { configurable: { thread_id: "delta" } };
  const final = await graph.invoke({ log: ["start"] }, config);
  assert.equal(final.log.length, 1 + 2 * 10);

  // The graph reads its state back through the override.
  const state = await graph.getState(config);
  assert.deepEqual(state.values, final);

  const memory = new MemorySaver();
  const tuples = await copyInto(memory, saver, "delta");
  assert.ok(tuples.length > 10);
  let seeds = 0;
  let walked = 0;
  for (const t of [...tuples, { config }]) {
    const options = { config: t.config, channels: ["log", "step"] };
    const mine = await saver.getDeltaChannelHistory(options);
    assert.deepEqual(mine, await defaultWalk(saver, options), `default walk at ${t.config.configurable.checkpoint_id}`);
    assert.deepEqual(mine, await memory.getDeltaChannelHistory(options), `MemorySaver at ${t.config.configurable.checkpoint_id}`);
    if (isDeltaSnapshot(mine.log.seed)) seeds++;
    walked += mine.log.writes.length;
  }
  assert.ok(seeds > 0, "some walks end at a DeltaSnapshot");
  assert.ok(walked > 0, "some walks return writes");
});

test("forks: a branch made with updateState rebuilds its own history, not its sibling's", async () => {
  const saver = RewindSaver.memory();
  const graph = deltaGraph(saver, 7);
  const config = { configurable: { thread_id: "fork" } };
  await graph.invoke({ log: ["root"] }, config);
  const history = await collect(graph.getStateHistory(config));
  const old = history[history.length - 3];
  const forked = await graph.updateState(old.config, { log: ["forked"] });
  const resumed = await graph.invoke(null, forked);
  assert.ok(resumed.log.includes("forked"));

  const memory = new MemorySaver();
  const tuples = await copyInto(memory, saver, "fork");
  for (const t of tuples) {
    const options = { config: t.config, channels: ["log"] };
    const mine = await saver.getDeltaChannelHistory(options);
    assert.deepEqual(mine, await defaultWalk(saver, options));
    assert.deepEqual(mine, await memory.getDeltaChannelHistory(options));
  }
  // The main line's latest state knows nothing of the fork, and the fork nothing of the rest.
  const main = await graph.getState(history[0].config);
  assert.ok(!main.values.log.includes("forked"));
  assert.deepEqual((await graph.getState(forked)).values.log.at(-1), "forked");
});

test("edge cases answer like the default walk: no channels, no thread, unknown checkpoint, a root", async () => {
  const saver = RewindSaver.memory();
  const graph = deltaGraph(saver, 2);
  const config = { configurable: { thread_id: "edges" } };
  await graph.invoke({ log: ["a"] }, config);
  const root = (await collect(saver.list(config))).at(-1);
  for (const options of [
    { config, channels: [] },
    { config: { configurable: {} }, channels: ["log"] },
    { config: { configurable: { thread_id: "nobody" } }, channels: ["log"] },
    { config: { configurable: { thread_id: "edges", checkpoint_id: "1f0d2c8e-0000-6000-8000-000000000000" } }, channels: ["log"] },
    { config: root.config, channels: ["log", "missing"] },
    { config, channels: ["missing"] },
  ]) {
    assert.deepEqual(await saver.getDeltaChannelHistory(options), await defaultWalk(saver, options), JSON.stringify(options));
  }
});
