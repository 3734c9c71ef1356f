import { RewindSaver } from "rewind-store/langgraph";
import { BaseCheckpointSaver, MemorySaver, JsonPlusSerializer, uuid6 } from "@langchain/langgraph-checkpoint";
const PUTS = 1000;
const now = () => process.hrtime.bigint();
const us = (ns) => Number(ns) / 1000;
function median(values) { const s = [...values].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; }
async function timed(fn) { const t = now(); await fn(); return us(now() - t); }
/**
 * A 1,000-step thread as a DeltaChannel graph leaves it: the delta channel "log" is never in
 * channel_values (no snapshot: the worst case, a walk to the root), each step saves its message
 * as a write of "log", and "step" is a plain value.
 */
async function deltaThread(saver, steps) {
  let config = { configurable: { thread_id: "delta", checkpoint_ns: "" } };
  for (let i = 0; i < steps; i++) {
    const versions = { log: i + 1, step: i + 1 };
    const checkpoint = { v: 4, id: uuid6(-1), ts: new Date().toISOString(), channel_values: { step: i }, channel_versions: versions, versions_seen: {} };
    const metadata = { source: "loop", step: i, parents: {}, counters_since_delta_snapshot: { log: [i + 1, i + 1] } };
    config = await saver.put(config, checkpoint, metadata, { step: i + 1 });
    const message = { role: i % 2 ? "ai" : "human", content: `Turn ${i}. ` + "The quick brown fox jumps over the lazy dog. ".repeat(2) };
    await saver.putWrites(config, [["log", [message]], ["step", i + 1]], `task-${i}`, "~__pregel_pull, work");
  }
  return config;
}

/** getDeltaChannelHistory on a 1,000-step thread: the override, the default walk, the serde floor. */
async function deltaHistory() {
  const serde = new JsonPlusSerializer();
  const rewind = RewindSaver.memory();
  const memory = new MemorySaver();
  const config = await deltaThread(rewind, PUTS);
  const memoryConfig = await deltaThread(memory, PUTS);
  const options = { config, channels: ["log"] };
  const t = { "RewindSaver.getDeltaChannelHistory": [], "MemorySaver.getDeltaChannelHistory": [], "default walk over RewindSaver": [], "serde.loadsTyped of the writes it returns": [] };
  let returned = 0;
  // A full collection before each call (with --expose-gc), so one saver's garbage is not
  // collected in another's time.
  const clean = async (fn) => {
    globalThis.gc?.();
    return timed(fn);
  };
  for (let i = 0; i < 15; i++) {
    t["RewindSaver.getDeltaChannelHistory"].push(await clean(async () => (returned = (await rewind.getDeltaChannelHistory(options)).log.writes.length)));
    t["MemorySaver.getDeltaChannelHistory"].push(await clean(() => memory.getDeltaChannelHistory({ config: memoryConfig, channels: ["log"] })));
    t["default walk over RewindSaver"].push(await clean(() => BaseCheckpointSaver.prototype.getDeltaChannelHistory.call(rewind, options)));
    const bytes = [];
    for (let w = 0; w < returned; w++) bytes.push((await serde.dumpsTyped([{ role: "ai", content: `Turn ${w}. ` + "The quick brown fox jumps over the lazy dog. ".repeat(2) }]))[1]);
    t["serde.loadsTyped of the writes it returns"].push(await clean(async () => {
      for (const b of bytes) await serde.loadsTyped("json", b);
    }));
  }
  return { returned, ...Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)])) };
}


console.log(await deltaHistory());
