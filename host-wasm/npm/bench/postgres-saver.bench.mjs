// LangGraph's PostgresSaver (@langchain/langgraph-checkpoint-postgres) on the workload
// `cargo run --release -p rewind-benches --bin pg_fleet` runs through rewind's Rust API, on the
// same server: a 1,000-step growing conversation, +1 KB per step (one ~1 KB message a step,
// every checkpoint holding the whole conversation, as LangGraph's messages channel does).
//
// Printed: the put latency (average, p50, p99), getTuple of the newest checkpoint at step
// 1,000 (median of 20), and the bytes its tables take in the database. Different runtimes:
// PostgresSaver runs in Node.js, rewind's figures come from Rust.
//
//   node bench/postgres-saver.bench.mjs postgres://user@host:port/db
//   (from host-wasm/npm, after npm ci; scripts/bench-postgres.sh runs both sides)

import pg from "pg";
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import { uuid6 } from "@langchain/langgraph-checkpoint";

const STEPS = 1000;
const url = process.argv[2];
if (!url) {
  console.error("usage: node bench/postgres-saver.bench.mjs postgres://user@host:port/db");
  process.exit(2);
}

const now = () => process.hrtime.bigint();
const ms = (ns) => Number(ns) / 1e6;
const at = (sorted, q) => sorted[Math.floor((sorted.length - 1) * q)];

const WORDS = [
  "agent", "tool", "plan", "result", "search", "query", "answer", "memory", "state", "step",
  "user", "model", "token", "context", "graph", "node", "edge", "retry", "error", "value",
  "file", "read", "write", "check", "test", "build", "run", "deploy", "config", "option",
  "branch", "merge", "commit", "review", "issue", "fix", "patch", "log", "trace", "span",
  "metric", "alert", "service", "request", "response", "cache", "store", "index", "table",
  "row", "column", "key", "hash", "chunk", "page", "limit", "batch", "queue", "worker",
  "thread", "lock", "time", "date", "price",
];

/** Message `i`: the same ~1 KB of words pg_fleet draws (xorshift seeded with the step). */
function message(i) {
  let x = Math.imul(i + 1, 2654435761) >>> 0;
  let content = `Turn ${i}.`;
  while (content.length < 1000) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    content += " " + WORDS[x % 64];
  }
  return { role: i % 2 ? "ai" : "human", id: `msg-${i}`, content };
}

// A schema of its own, so the tables measured are this run's only.
const schema = `bench_${process.pid}`;
const pool = new pg.Pool({ connectionString: url });
await pool.query(`CREATE SCHEMA ${schema}`);
const saver = new PostgresSaver(pool, undefined, { schema });
await saver.setup();

let config = { configurable: { thread_id: "conversation", checkpoint_ns: "" } };
const messages = [];
const puts = [];
for (let i = 0; i < STEPS; i++) {
  messages.push(message(i));
  const versions = { messages: i + 1 };
  const checkpoint = {
    v: 4,
    id: uuid6(-1),
    ts: new Date().toISOString(),
    channel_values: { messages: [...messages] },
    channel_versions: versions,
    versions_seen: {},
  };
  const t = now();
  config = await saver.put(config, checkpoint, { source: "loop", step: i, parents: {} }, versions);
  puts.push(ms(now() - t));
}
const reads = [];
for (let i = 0; i < 20; i++) {
  const t = now();
  const tuple = await saver.getTuple({ configurable: { thread_id: "conversation", checkpoint_ns: "" } });
  reads.push(ms(now() - t));
  if (tuple.checkpoint.channel_values.messages.length !== STEPS) throw new Error("short read");
}
const { rows } = await pool.query(
  `SELECT sum(pg_total_relation_size(format('%I.%I', schemaname, tablename)))::bigint AS bytes
     FROM pg_tables WHERE schemaname = $1`,
  [schema],
);
const bytes = Number(rows[0].bytes);
const avg = puts.reduce((a, b) => a + b, 0) / puts.length;
puts.sort((a, b) => a - b);
reads.sort((a, b) => a - b);
console.log(`PostgresSaver: ${STEPS} steps, +1 KB per step, the whole conversation as each state`);
console.log(`put: ${avg.toFixed(2)} ms on average (p50 ${at(puts, 0.5).toFixed(2)} ms, p99 ${at(puts, 0.99).toFixed(2)} ms)`);
console.log(`getTuple at step ${STEPS}: ${at(reads, 0.5).toFixed(2)} ms (median of 20)`);
console.log(`bytes in the database: ${bytes} (${(bytes / 1e6).toFixed(1)} MB)`);
await pool.query(`DROP SCHEMA ${schema} CASCADE`);
await pool.end();
