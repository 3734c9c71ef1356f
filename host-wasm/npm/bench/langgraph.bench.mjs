// RewindSaver against LangGraph's MemorySaver and SqliteSaver (better-sqlite3, in memory), one
// workload, one run:
//
//   * 1,000 puts on one thread (each checkpoint the child of the previous, both channels new),
//     with ~200 B and with ~10 KB states;
//   * getTuple of the latest checkpoint, list of all 1,000, list with limit 10, on that thread;
//   * bytes stored after a 1,000-step growing conversation (one ~300 B message a step, each
//     step's message also saved as a pending write, as the Pregel loop does).

// Times are medians of single calls (process.hrtime); ratios are other saver / RewindSaver
// (above 1: RewindSaver is faster or smaller). A second table runs the same workload durably
// on files in a disk-backed directory: RewindSaver on a file store (strict: each put resolves
// after fdatasync) against SqliteSaver on a file with its default settings and with
// synchronous=FULL (every commit synced), with the raw fdatasync time beside. A third table
// shows where RewindSaver's time goes: each step of a put and a getTuple (serde, store calls,
// the bare engine) timed alone.
//
//   node --expose-gc bench/langgraph.bench.mjs [dir]
//                                             (from host-wasm/npm, after npm ci and the build;
//                                              dir: where the durable run writes, default
//                                              ./bench-files, on the disk to measure; with
//                                              --expose-gc the getDeltaChannelHistory table
//                                              collects garbage before each call)

import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { Store } from "rewind-store";
import { RewindSaver } from "rewind-store/langgraph";
import { BaseCheckpointSaver, MemorySaver, JsonPlusSerializer, uuid6 } from "@langchain/langgraph-checkpoint";
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";

// The engine without the JS wrapper, for the time split, and the package's packing of its input.
const { WasmStore } = createRequire(import.meta.url)("../dist/node/rewind_wasm.cjs");
const { packCheckpoint } = await import("../dist/node/packed.js");

const PUTS = 1000;
const READS = 300;
const LISTS = 15;

const now = () => process.hrtime.bigint();
const us = (ns) => Number(ns) / 1000;

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function timed(fn) {
  const t = now();
  await fn();
  return us(now() - t);
}

async function drain(iterable) {
  let n = 0;
  for await (const _ of iterable) n++;
  return n;
}

/** A state payload of about `bytes` bytes (JSON), different for every step. */
function payload(bytes, step) {
  const messages = [];
  let size = 2;
  for (let k = 0; size < bytes; k++) {
    const content = `step ${step} part ${k}: ` + "lorem ipsum dolor sit amet ".repeat(3);
    messages.push({ role: k % 2 ? "ai" : "human", content });
    size += content.length + 30;
  }
  return messages;
}

const SAVERS = {
  RewindSaver: () => RewindSaver.memory(),
  MemorySaver: () => new MemorySaver(),
  SqliteSaver: () => SqliteSaver.fromConnString(":memory:"),
};

/** 1,000 puts, then the reads, for one saver and state size. */
async function workload(makeSaver, stateBytes) {
  const saver = makeSaver();
  const thread = `bench-${stateBytes}`;
  let config = { configurable: { thread_id: thread, checkpoint_ns: "" } };
  const puts = [];
  for (let i = 0; i < PUTS; i++) {
    const versions = { messages: i + 1, step: i + 1 };
    const checkpoint = {
      v: 4,
      id: uuid6(-1),
      ts: new Date().toISOString(),
      channel_values: { messages: payload(stateBytes, i), step: i },
      channel_versions: versions,
      versions_seen: { agent: { "branch:to:agent": i } },
    };
    const metadata = { source: i === 0 ? "input" : "loop", step: i - 1, parents: {} };
    let next;
    puts.push(await timed(async () => (next = await saver.put(config, checkpoint, metadata, versions))));
    config = next;
  }
  const latest = { configurable: { thread_id: thread, checkpoint_ns: "" } };
  const getTuple = [];
  for (let i = 0; i < READS; i++) getTuple.push(await timed(() => saver.getTuple(latest)));
  const listAll = [];
  let n = 0;
  for (let i = 0; i < LISTS; i++) listAll.push(await timed(async () => (n = await drain(saver.list(latest)))));
  if (n !== PUTS) throw new Error(`list returned ${n}`);
  const list10 = [];
  for (let i = 0; i < READS; i++) list10.push(await timed(() => drain(saver.list(latest, { limit: 10 }))));
  return { saver, put: median(puts), getTuple: median(getTuple), listAll: median(listAll), list10: median(list10), bytes: bytesOf(saver) };
}

/** What a saver stores: rewind's log, SQLite's pages, MemorySaver's serialised bytes. */
function bytesOf(saver) {
  if (saver instanceof RewindSaver) return saver.store.metrics().logBytes;
  if (saver instanceof MemorySaver) return memorySaverBytes(saver);
  return saver.db ? sqliteBytes(saver) : null;
}

/** The durable savers, each on files in a directory of its own under `dir`. */
const DURABLE = {
  "RewindSaver (file, strict)": (dir) => RewindSaver.open({ backend: "file", path: dir }),
  "SqliteSaver (file, default)": (dir) => SqliteSaver.fromConnString(path.join(dir, "checkpoints.db")),
  "SqliteSaver (file, synchronous=FULL)": (dir) => {
    const saver = SqliteSaver.fromConnString(path.join(dir, "checkpoints.db"));
    saver.setup();
    saver.db.pragma("synchronous = FULL");
    return saver;
  },
};

/** Bytes of every file in `dir` (a closed store; SQLite checkpointed into its main file). */
function dirBytes(dir) {
  return fs.readdirSync(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
}

/** Median time of an fdatasync after appending 4 KiB, in `dir`. */
function rawFdatasync(dir) {
  const file = path.join(dir, "fdatasync-probe");
  const fd = fs.openSync(file, "w");
  const block = Buffer.alloc(4096, 1);
  const times = [];
  for (let i = 0; i < 50; i++) {
    fs.writeSync(fd, block);
    const t = now();
    fs.fdatasyncSync(fd);
    times.push(us(now() - t));
  }
  fs.closeSync(fd);
  fs.rmSync(file);
  return median(times);
}

/** The workload and the conversation, durably on files under `root`. */
async function durable(root) {
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(root, { recursive: true });
  const results = {};
  let run = 0;
  const fresh = () => {
    const dir = path.join(root, `run-${run++}`);
    fs.mkdirSync(dir);
    return dir;
  };
  const close = async (saver) => {
    if (saver.store) await saver.store.close();
    else {
      saver.db.pragma("wal_checkpoint(TRUNCATE)");
      saver.db.close();
    }
  };
  let sqliteDefault = null;
  for (const size of [200, 10_000]) {
    for (const [name, make] of Object.entries(DURABLE)) {
      const dir = fresh();
      const saver = await make(dir);
      if (name === "SqliteSaver (file, default)") {
        saver.setup();
        sqliteDefault = saver.db.pragma("synchronous", { simple: true });
      }
      results[`${name}/${size}`] = await workload(() => saver, size);
      await close(saver);
    }
  }
  const bytes = {};
  for (const [name, make] of Object.entries(DURABLE)) {
    const dir = fresh();
    const saver = await conversation(await make(dir), PUTS);
    await close(saver);
    bytes[name] = dirBytes(dir);
  }
  const sync = rawFdatasync(root);
  fs.rmSync(root, { recursive: true, force: true });
  return { results, bytes, sync, sqliteDefault };
}

/** A growing conversation of `steps` steps; returns the saver. */
async function conversation(saver, steps) {
  let config = { configurable: { thread_id: "conversation", checkpoint_ns: "" } };
  const messages = [];
  for (let i = 0; i < steps; i++) {
    const message = {
      role: i % 2 ? "ai" : "human",
      id: `msg-${i}`,
      content: `Turn ${i}. ` + "The quick brown fox jumps over the lazy dog. ".repeat(6),
    };
    messages.push(message);
    const versions = { messages: i + 1, "branch:to:agent": i + 1 };
    const checkpoint = {
      v: 4,
      id: uuid6(-1),
      ts: new Date().toISOString(),
      channel_values: { messages: [...messages], "branch:to:agent": null },
      channel_versions: versions,
      versions_seen: { agent: { "branch:to:agent": i } },
    };
    config = await saver.put(config, checkpoint, { source: "loop", step: i, parents: {} }, versions);
    await saver.putWrites(config, [["messages", [message]]], `task-${i}`, "~__pregel_pull, agent");
  }
  return saver;
}

function memorySaverBytes(saver) {
  let bytes = 0;
  const add = (v) => {
    if (v instanceof Uint8Array) bytes += v.byteLength;
    else if (typeof v === "string") bytes += Buffer.byteLength(v);
  };
  for (const namespaces of Object.values(saver.storage)) {
    for (const checkpoints of Object.values(namespaces)) {
      for (const [checkpoint, metadata, parent] of Object.values(checkpoints)) {
        add(checkpoint);
        add(metadata);
        add(parent);
      }
    }
  }
  for (const writes of Object.values(saver.writes)) {
    for (const [taskId, channel, value, path] of Object.values(writes)) {
      add(taskId);
      add(channel);
      add(value);
      add(path);
    }
  }
  return bytes;
}

function sqliteBytes(saver) {
  const pages = saver.db.pragma("page_count", { simple: true });
  const size = saver.db.pragma("page_size", { simple: true });
  return pages * size;
}

/**
 * Where a RewindSaver put and getTuple spend their time: the same steps done one by one with the
 * same serde and a store of the same package, each timed on its own (medians), next to the
 * saver's own calls. The engine row calls the WebAssembly store directly (no JS wrapper) with the
 * input the package hands it (packed before the timing).
 */
async function split(stateBytes) {
  const serde = new JsonPlusSerializer();
  const store = Store.memory();
  const session = await store.createSession("split");
  const engine = new WasmStore(new Uint8Array(), new Uint8Array(), 0, undefined, undefined, "{}", false);
  const engineSession = engine.createSession("split", "{}", "");
  const saver = RewindSaver.memory();
  const memory = new MemorySaver();
  const t = {
    "serde.dumpsTyped(new values)": [],
    "store.save(envelope + values)": [],
    "  engine save() alone": [],
    "RewindSaver.put": [],
    "MemorySaver.put": [],
    "store.state": [],
    "store.attachment": [],
    "serde.loadsTyped(values)": [],
    "RewindSaver.getTuple": [],
    "MemorySaver.getTuple": [],
  };
  const time = async (label, fn) => {
    const start = now();
    const out = await fn();
    t[label].push(us(now() - start));
    return out;
  };
  let parent;
  let engineParent;
  let rc = { configurable: { thread_id: "split", checkpoint_ns: "" } };
  let mc = rc;
  const small = stateBytes <= 512;
  for (let i = 0; i < PUTS; i++) {
    const versions = { messages: i + 1, step: i + 1 };
    const values = { messages: payload(stateBytes, i), step: i };
    const cp = { v: 4, id: uuid6(-1), ts: new Date().toISOString(), channel_values: values, channel_versions: versions, versions_seen: {} };
    const metadata = { source: "loop", step: i, parents: {} };
    // "step" (a number) is kept in the envelope as itself; "messages" serialised, in the
    // envelope when small, else as an attachment.
    const [[, data]] = await time("serde.dumpsTyped(new values)", () => Promise.all([serde.dumpsTyped(values.messages)]));
    const envelope = { v: 4, ts: cp.ts, cv: versions, vs: {}, p: parent, e: { step: i } };
    if (small) envelope.i = { messages: new TextDecoder().decode(data) };
    else envelope.a = ["messages"];
    const state = new TextEncoder().encode(JSON.stringify(envelope));
    const input = {
      session,
      message: `loop step ${i}`,
      state,
      contentType: "application/vnd.langgraph.checkpoint.v2+json",
      tags: ["langgraph:loop"],
      metadata,
      trigger: { kind: "automatic", reason: "langgraph" },
      namespace: "",
      id: cp.id,
      ...(parent ? { parent } : { root: true }),
      attachments: small ? [] : [{ key: "c:messages", contentType: "application/json", bytes: data }],
    };
    await time("store.save(envelope + values)", () => store.save(input));
    const engineId = uuid6(-1);
    const packed = packCheckpoint({ ...input, session: engineSession, id: engineId, parent: engineParent, root: !engineParent }).slice();
    await time("  engine save() alone", () => {
      engine.save(packed);
      engine.discardEvents();
    });
    parent = cp.id;
    engineParent = engineId;
    rc = await time("RewindSaver.put", () => saver.put(rc, cp, metadata, versions));
    mc = await time("MemorySaver.put", () => memory.put(mc, cp, metadata, versions));
  }
  const latest = { configurable: { thread_id: "split", checkpoint_ns: "" } };
  for (let i = 0; i < READS; i++) {
    await time("store.state", () => store.state(parent));
    const a = small ? null : await time("store.attachment", () => store.attachment(parent, "c:messages"));
    const bytes = a ? a.bytes : new TextEncoder().encode(JSON.stringify(payload(stateBytes, PUTS - 1)));
    await time("serde.loadsTyped(values)", () => serde.loadsTyped("json", bytes));
    await time("RewindSaver.getTuple", () => saver.getTuple(latest));
    await time("MemorySaver.getTuple", () => memory.getTuple(latest));
  }
  engine.free();
  return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v.length > 0 ? median(v) : null]));
}

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

const fmtUs = (v) => (v === null ? "–" : v >= 1000 ? `${(v / 1000).toFixed(2)} ms` : `${v.toFixed(1)} µs`);
const fmtBytes = (b) => (b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(1)} MiB` : `${(b / 1024).toFixed(1)} KiB`);
const ratio = (other, mine) => `${(other / mine).toFixed(2)}x`;

async function main() {
  console.log(`Node ${process.version}, ${PUTS} checkpoints per thread; medians of single calls.\n`);
  const rows = [];
  const results = {};
  for (const size of [200, 10_000]) {
    for (const [name, make] of Object.entries(SAVERS)) {
      // Warm up the JIT on a small run first, then measure a fresh saver.
      await workload(make, size).catch(() => {});
      results[`${name}/${size}`] = await workload(make, size);
    }
  }
  for (const size of [200, 10_000]) {
    const label = size === 200 ? "~200 B" : "~10 KB";
    const r = results[`RewindSaver/${size}`];
    const m = results[`MemorySaver/${size}`];
    const s = results[`SqliteSaver/${size}`];
    for (const [op, key] of [
      ["put", "put"],
      ["getTuple (latest)", "getTuple"],
      [`list (all ${PUTS})`, "listAll"],
      ["list (limit 10)", "list10"],
    ]) {
      rows.push([`${op}, ${label}`, fmtUs(r[key]), fmtUs(m[key]), fmtUs(s[key]), ratio(m[key], r[key]), ratio(s[key], r[key])]);
    }
    rows.push([`bytes stored, ${PUTS} fresh ${label} values`, fmtBytes(r.bytes), fmtBytes(m.bytes), fmtBytes(s.bytes), ratio(m.bytes, r.bytes), ratio(s.bytes, r.bytes)]);
  }

  // Bytes after a growing conversation.
  const rewind = await conversation(RewindSaver.memory(), PUTS);
  const memory = await conversation(new MemorySaver(), PUTS);
  const sqlite = await conversation(SqliteSaver.fromConnString(":memory:"), PUTS);
  const metrics = rewind.store.metrics();
  const rb = metrics.logBytes;
  const mb = memorySaverBytes(memory);
  const sb = sqliteBytes(sqlite);
  rows.push([`bytes stored, ${PUTS}-step conversation`, fmtBytes(rb), fmtBytes(mb), fmtBytes(sb), ratio(mb, rb), ratio(sb, rb)]);
  rows.push([
    "  rewind distinct chunk bytes (storedBytes)",
    fmtBytes(metrics.storedBytes),
    "",
    "",
    ratio(mb, metrics.storedBytes),
    ratio(sb, metrics.storedBytes),
  ]);

  console.log("| operation | RewindSaver | MemorySaver | SqliteSaver | MemorySaver / Rewind | SqliteSaver / Rewind |");
  console.log("|---|---:|---:|---:|---:|---:|");
  for (const row of rows) console.log(`| ${row.join(" | ")} |`);
  console.log(
    `\nRewindSaver bytes: the whole rewind log (what IndexedDB holds): ${metrics.checkpoints} checkpoints, ` +
      `${metrics.attachments} attachments, ${fmtBytes(metrics.logicalBytes)} logical, ` +
      `${fmtBytes(metrics.storedBytes)} in distinct chunks; the rest of the log is records ` +
      `(a value's chunk list names its previous version's prefix, then its new chunks).`,
  );
  console.log("MemorySaver bytes: its serialised checkpoints, metadata and writes. SqliteSaver: page_count × page_size.\n");

  // The same, durably on files.
  const root = path.resolve(process.argv[2] ?? "bench-files");
  const d = await durable(root);
  const names = Object.keys(DURABLE);
  const [rw, sd, sf] = names;
  const SYNC_MODES = ["OFF", "NORMAL", "FULL", "EXTRA"];
  console.log(
    `Durably on files (${root}; raw fdatasync of a 4 KiB append: ${fmtUs(d.sync)}; SqliteSaver's ` +
      `default here is WAL with synchronous=${SYNC_MODES[d.sqliteDefault] ?? d.sqliteDefault}):\n`,
  );
  console.log(`| operation | ${names.join(" | ")} | ${sd} / Rewind | ${sf} / Rewind |`);
  console.log("|---|---:|---:|---:|---:|---:|");
  for (const size of [200, 10_000]) {
    const label = size === 200 ? "~200 B" : "~10 KB";
    for (const [op, key] of [
      ["put", "put"],
      ["getTuple (latest)", "getTuple"],
      [`list (all ${PUTS})`, "listAll"],
      ["list (limit 10)", "list10"],
    ]) {
      const [a, b, c] = [rw, sd, sf].map((n) => d.results[`${n}/${size}`][key]);
      console.log(`| ${op}, ${label} | ${fmtUs(a)} | ${fmtUs(b)} | ${fmtUs(c)} | ${ratio(b, a)} | ${ratio(c, a)} |`);
    }
  }
  const [ba, bb, bc] = [rw, sd, sf].map((n) => d.bytes[n]);
  console.log(
    `| bytes on disk, ${PUTS}-step conversation | ${fmtBytes(ba)} | ${fmtBytes(bb)} | ${fmtBytes(bc)} | ${ratio(bb, ba)} | ${ratio(bc, ba)} |\n`,
  );

  // Where RewindSaver's time goes.
  const small = await split(200);
  const large = await split(10_000);
  console.log("Where RewindSaver's time goes (medians of each step on its own):\n");
  console.log("| step | ~200 B | ~10 KB |");
  console.log("|---|---:|---:|");
  for (const key of Object.keys(small)) console.log(`| ${key} | ${fmtUs(small[key])} | ${fmtUs(large[key])} |`);
  // The goals: a put within 1.3x of its floor (the serde calls every saver makes and the
  // engine's create of the same bytes) and never above 2x MemorySaver's; getTuple at least 2x
  // faster than MemorySaver's.
  const floor = (t) => t["serde.dumpsTyped(new values)"] + t["  engine save() alone"];
  console.log("\nThe goals, from the same run:\n");
  console.log("| | ~200 B | ~10 KB | goal |");
  console.log("|---|---:|---:|---|");
  console.log(`| put floor: serde.dumpsTyped(new values) + engine save() alone | ${fmtUs(floor(small))} | ${fmtUs(floor(large))} | |`);
  const row = (label, f, goal) => console.log(`| ${label} | ${f(small).toFixed(2)}x | ${f(large).toFixed(2)}x | ${goal} |`);
  row("RewindSaver.put / floor", (t) => t["RewindSaver.put"] / floor(t), "≤ 1.3x");
  row("RewindSaver.put / MemorySaver.put", (t) => t["RewindSaver.put"] / t["MemorySaver.put"], "≤ 2x");
  row("MemorySaver.getTuple / RewindSaver.getTuple", (t) => t["MemorySaver.getTuple"] / t["RewindSaver.getTuple"], "≥ 2x");
  const h = await deltaHistory();
  console.log(`\ngetDeltaChannelHistory on a ${PUTS}-step DeltaChannel thread (no snapshot: ${h.returned} writes returned; medians):\n`);
  console.log("| | time | RewindSaver faster by |");
  console.log("|---|---:|---:|");
  const mine = h["RewindSaver.getDeltaChannelHistory"];
  for (const key of ["RewindSaver.getDeltaChannelHistory", "MemorySaver.getDeltaChannelHistory", "default walk over RewindSaver", "serde.loadsTyped of the writes it returns"]) {
    console.log(`| ${key} | ${fmtUs(h[key])} | ${key.startsWith("RewindSaver") ? "" : ratio(h[key], mine)} |`);
  }
  console.log("\nGoal: at least 20x faster than the default walk, or within 1.5x of the serde calls for the writes it returns.");

  const saver = RewindSaver.memory();
  const latest = { configurable: { thread_id: "profile", checkpoint_ns: "" } };
  let config = latest;
  for (let i = 0; i < PUTS; i++) {
    const versions = { messages: i + 1, step: i + 1 };
    const checkpoint = { v: 4, id: uuid6(-1), ts: new Date().toISOString(), channel_values: { messages: payload(200, i), step: i }, channel_versions: versions, versions_seen: {} };
    config = await saver.put(config, checkpoint, { source: "loop", step: i, parents: {} }, versions);
  }
  // A cold catalogue: a saver over the same store opened anew (as after a page reload).
  const cold = [];
  for (let i = 0; i < 5; i++) {
    const fresh = new RewindSaver(Store.memory({ log: await saver.store.logBytes() }));
    cold.push(await timed(() => fresh.getTuple(latest)));
  }
  console.log(`\nFirst getTuple after reopening a ${PUTS}-checkpoint thread (builds its catalogue with store.listBrief): ${fmtUs(median(cold))}`);
}

await main();
