// The LangGraph golden stores: threads written by one version of RewindSaver, kept as the store's
// log, with what getTuple() and list() returned for them then. test/langgraph-format.test.mjs
// opens every one with today's saver and expects the same answers: a store written by an older
// saver stays readable.
//
//   node test/support/langgraph-golden.mjs <name>   writes test/fixtures/langgraph-<name>.log
//                                                   and test/fixtures/langgraph-<name>.json
//
// Run it only to add a golden store for a new envelope version; never to rewrite an old one.

import { writeFileSync } from "node:fs";
import { RewindSaver } from "rewind-store/langgraph";

/** Fixed ids, so the golden answers do not depend on the clock. */
const id = (n) => `1f0d2c8e-0000-6000-8000-${String(n).padStart(12, "0")}`;

const checkpoint = (n, values, versions) => ({
  v: 4,
  id: id(n),
  ts: `2026-12-06T00:00:${String(n).padStart(2, "0")}.000Z`,
  channel_values: values,
  channel_versions: versions,
  versions_seen: { agent: { "branch:to:agent": n } },
});

/** Writes the golden threads with `saver`: every way a value, write or metadata is stored. */
export async function writeGolden(saver) {
  const messages = [];
  let config = { configurable: { thread_id: "golden", checkpoint_ns: "" } };
  for (let n = 1; n <= 4; n++) {
    messages.push({ role: n % 2 ? "human" : "ai", content: `turn ${n} `.repeat(20) });
    const values = {
      messages: [...messages],
      step: n,
      flag: n % 2 === 0,
      label: `short ${n}`,
      long: "a long label ".repeat(10),
      tags: new Set([`t${n}`, "shared"]),
      raw: new Uint8Array([n, 1, 2, 3]),
    };
    const versions = { messages: n, step: n, flag: n, label: n, long: 1, tags: n, raw: n };
    const newVersions = n === 1 ? versions : { messages: n, step: n, flag: n, label: n, tags: n, raw: n };
    const metadata = { source: n === 1 ? "input" : "loop", step: n - 1, parents: {}, run_id: `run-${n % 2}` };
    if (n === 3) metadata.big = 12345678901234567890n;
    config = await saver.put(config, checkpoint(n, values, versions), metadata, newVersions);
    await saver.putWrites(config, [["messages", [{ role: "ai", content: `write ${n}` }]], ["step", n + 1]], `task-${n}`, "~__pregel_pull, agent");
  }
  // A fork from checkpoint 2, a child namespace, a re-put and a write with a long key.
  const fork = { configurable: { thread_id: "golden", checkpoint_ns: "", checkpoint_id: id(2) } };
  await saver.put(fork, checkpoint(5, { messages: messages.slice(0, 2), step: 9 }, { messages: 5, step: 5 }), { source: "update", step: 2, parents: {} }, { messages: 5, step: 5 });
  const child = { configurable: { thread_id: "golden", checkpoint_ns: "child:1" } };
  const c = await saver.put(child, checkpoint(6, { inner: { deep: [1, 2] } }, { inner: 1 }), { source: "loop", step: 0, parents: { "": id(4) } }, { inner: 1 });
  await saver.putWrites(c, [["x".repeat(300), "long key"]], "task-long");
  const again = { configurable: { thread_id: "golden", checkpoint_ns: "", checkpoint_id: id(3) } };
  await saver.put(again, checkpoint(4, { messages, step: 40 }, { messages: 4, step: 40 }), { source: "loop", step: 3, parents: {} }, { step: 40 });
  const other = { configurable: { thread_id: "other thread", checkpoint_ns: "" } };
  await saver.put(other, checkpoint(7, { n: null }, { n: 1 }), { source: "input", step: -1, parents: {} }, { n: 1 });
}

/** JSON with the types serde revives (Set, Map, bytes, BigInt) spelled out, for comparison. */
export function normalised(value) {
  return JSON.parse(
    JSON.stringify(value, (_key, v) => {
      if (typeof v === "bigint") return { $bigint: String(v) };
      if (v instanceof Set) return { $set: [...v] };
      if (v instanceof Map) return { $map: [...v] };
      if (v instanceof Uint8Array) return { $bytes: [...v] };
      return v;
    }),
  );
}

/** What the saver answers for the golden threads: every list() and each getTuple(). */
export async function answers(saver) {
  const out = {};
  for (const [thread, ns] of [["golden", ""], ["golden", "child:1"], ["other thread", ""]]) {
    const config = { configurable: { thread_id: thread, checkpoint_ns: ns } };
    const listed = [];
    for await (const tuple of saver.list(config)) listed.push(tuple);
    out[`${thread}/${ns}`] = {
      latest: normalised(await saver.getTuple(config)),
      list: normalised(listed),
      each: normalised(await Promise.all(listed.map((t) => saver.getTuple(t.config)))),
    };
  }
  const all = [];
  for await (const tuple of saver.list({ configurable: {} }, { filter: { run_id: "run-1" } })) all.push(tuple.config);
  out.filtered = normalised(all);
  return out;
}

// Run directly with a name (the test runner runs it without one: then it writes nothing).
const name = import.meta.url === `file://${process.argv[1]}` ? process.argv[2] : undefined;
if (name) {
  const saver = RewindSaver.memory();
  await writeGolden(saver);
  const dir = new URL("../fixtures/", import.meta.url);
  writeFileSync(new URL(`langgraph-${name}.log`, dir), await saver.store.logBytes());
  writeFileSync(new URL(`langgraph-${name}.json`, dir), `${JSON.stringify(await answers(saver), null, 1)}\n`);
}
