// File stores in Node.js: the native store's directory written through node:fs by the engine's
// own file backend. Reopening, durability (group commit, relaxed), the writer lock against
// Node.js and native writers, read-only followers, the native CLI reading what Node.js wrote
// and the other way round, a full disk, SIGKILL, and the engine's conformance scenarios on it.
//
//   node --test test/files.test.mjs      (after scripts/build.sh and scripts/build.sh --conformance;
//                                         the CLI tests need the native `rewind` and
//                                         `crash_writer` binaries: REWIND_BIN, or target/debug)

import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn, spawnSync, execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

import { Store, LockedError, QuotaExceededError, StorageFullError, ReadOnlyError, CorruptError } from "../dist/node/index.js";
import { NodeFiles } from "../dist/node/files.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../../..");

function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rewind-files-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A native binary of the workspace (`rewind`, or the test crate's `crash_writer`). */
function nativeBinary(name) {
  const dirs = [
    process.env.REWIND_BIN && path.dirname(process.env.REWIND_BIN),
    path.join(process.env.CARGO_TARGET_DIR ?? path.join(repo, "target"), "debug"),
  ].filter(Boolean);
  const found = dirs.map((d) => path.join(d, name)).find((p) => fs.existsSync(p));
  assert.ok(found, `the native ${name} binary is needed (looked in ${dirs.join(", ")}); build it with cargo`);
  return found;
}

/** Runs the native CLI on `store`; returns { status, stdout, stderr }. */
function cli(store, ...args) {
  const run = spawnSync(nativeBinary("rewind"), ["--store", store, ...args], { encoding: "buffer" });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr.toString() };
}

/** `cli`, without blocking this process's event loop (which answers for a lock it holds). */
function cliAsync(store, ...args) {
  return new Promise((resolve) => {
    const child = spawn(nativeBinary("rewind"), ["--store", store, ...args]);
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (status) => resolve({ status, stderr }));
  });
}

const text = (state) => JSON.stringify(state);

describe("file stores in Node.js", () => {
  test("checkpoints, sessions and states survive closing and reopening", async (t) => {
    const dir = path.join(tempDir(t), "store");
    const store = await Store.open({ backend: "file", path: dir });
    const session = await store.createSession("agent", { model: "m" });
    const ids = [];
    for (let i = 0; i < 50; i++) {
      const messages = Array.from({ length: i + 1 }, (_, j) => `message ${j}: ${"words ".repeat(20)}`);
      const cp = await store.checkpoint({ session, message: `step ${i}`, state: { i, messages }, tags: i % 10 === 0 ? ["milestone"] : [] });
      ids.push(cp.id);
    }
    const before = store.list({ order: "asc" }).items.map((c) => [c.id, c.hash]);
    await store.close();
    // The native layout: CURRENT names the generation, segments hold the log.
    const names = fs.readdirSync(dir);
    assert.ok(names.includes("CURRENT"), names.join(" "));
    assert.ok(names.some((n) => /^seg-/.test(n) || /\.log$/.test(n) || /^\d/.test(n)), names.join(" "));

    const again = await Store.open({ backend: "file", path: dir });
    assert.deepEqual(again.list({ order: "asc" }).items.map((c) => [c.id, c.hash]), before);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(await again.state(ids[49]))).i, 49);
    assert.equal(again.list({ tags: ["milestone"] }).items.length, 5);
    assert.equal(again.sessions()[0].metadata.model, "m");
    assert.equal((await again.verify()).ok, true);
    await again.close();
  });

  test("a writer leaves the index snapshot; the next open reads it instead of the log", async (t) => {
    const dir = path.join(tempDir(t), "store");
    const store = await Store.open({ backend: "file", path: dir });
    const session = await store.createSession("indexed");
    for (let i = 0; i < 200; i++) {
      const words = Array.from({ length: 100 }, (_, j) => ((i * 7919 + j * 104729) % 999983).toString(36));
      await store.checkpoint({ session, message: `step ${i}`, state: { i, words }, tags: i % 20 === 0 ? ["t"] : [] });
    }
    const before = store.list({ order: "asc" }).items.map((c) => c.hash);
    await store.close(); // ~150 KB of log: it writes INDEX
    assert.ok(fs.existsSync(path.join(dir, "INDEX")), fs.readdirSync(dir).join(" "));
    const again = await Store.open({ backend: "file", path: dir, readOnly: true });
    assert.deepEqual(again.indexSource(), { snapshot: "used", tailFrames: 0 });
    assert.deepEqual(again.list({ order: "asc" }).items.map((c) => c.hash), before);
    assert.equal(again.list({ tags: ["t"] }).items.length, 10);
    await again.close();
  });

  test("a damaged segment fails the open with CorruptError naming the file and offset", async (t) => {
    const dir = path.join(tempDir(t), "store");
    const store = await Store.open({ backend: "file", path: dir, segmentBytes: 4096 });
    const session = await store.createSession("damaged");
    for (let i = 0; i < 40; i++) await store.checkpoint({ session, message: `m${i}`, state: { i, pad: "y".repeat(300) } });
    await store.close();
    fs.rmSync(path.join(dir, "INDEX"), { force: true });
    const first = fs.readdirSync(dir).filter((f) => f.endsWith(".seg")).sort()[0];
    const file = path.join(dir, first);
    const bytes = fs.readFileSync(file);
    bytes[bytes.length >> 1] ^= 0x40;
    fs.writeFileSync(file, bytes);
    await assert.rejects(Store.open({ backend: "file", path: dir, readOnly: true }), (error) => {
      assert.ok(error instanceof CorruptError, String(error));
      assert.equal(error.code, "CORRUPT");
      assert.ok(error.message.includes(first), error.message);
      return true;
    });
    // The CLI says the same.
    assert.equal(cli(dir, "verify").status, 5);
  });

  test("strict writes issued together share one fdatasync; each resolves after it", async (t) => {
    const dir = path.join(tempDir(t), "store");
    const store = await Store.open({ backend: "file", path: dir });
    const session = await store.createSession("group");
    const events = [];
    const real = fs.fdatasyncSync;
    fs.fdatasyncSync = (fd) => {
      events.push("sync");
      return real(fd);
    };
    try {
      const writes = Array.from({ length: 64 }, (_, i) =>
        store.checkpoint({ session, message: `w${i}`, state: { i } }).then(() => events.push("resolved")),
      );
      await Promise.all(writes);
    } finally {
      fs.fdatasyncSync = real;
    }
    const syncs = events.filter((e) => e === "sync").length;
    assert.ok(syncs >= 1 && syncs <= 3, `${syncs} syncs for 64 writes issued in one tick`);
    assert.equal(events[0], "sync", "a write resolved before any sync");
    assert.equal(events.filter((e) => e === "resolved").length, 64);
    await store.close();
  });

  test("a store closed in the tick of its writes still resolves them, synced", async (t) => {
    const dir = path.join(tempDir(t), "store");
    const store = await Store.open({ backend: "file", path: dir });
    const session = await store.createSession("closing");
    const writes = Array.from({ length: 5 }, (_, i) => store.checkpoint({ session, message: `c${i}`, state: { i } }));
    const closed = store.close();
    const made = await Promise.all(writes);
    await closed;
    const again = await Store.open({ backend: "file", path: dir, readOnly: true });
    assert.deepEqual(made.map((c) => again.get(c.id).hash), made.map((c) => c.hash));
    await again.close();
  });

  test("close() twice at once closes once; a reader's close leaves the writer's lock alone", async (t) => {
    const dir = path.join(tempDir(t), "store");
    const files = new NodeFiles();
    const writer = await Store.open({ backend: "file", path: dir, fileSystem: files });
    await writer.createSession("kept");
    const reader = await Store.open({ backend: "file", path: dir, readOnly: true, fileSystem: files });
    await Promise.all([reader.close(), reader.close()]);
    // Still the writer's: another writer is refused.
    await assert.rejects(Store.open({ backend: "file", path: dir }), LockedError);
    // And one file system object serves one writer at a time.
    await assert.rejects(Store.open({ backend: "file", path: path.join(dir, "..", "other"), fileSystem: files }), /already holds/);
    await Promise.all([writer.close(), writer.close()]);
    const again = await Store.open({ backend: "file", path: dir });
    assert.equal(again.sessions().length, 1);
    await again.close();
  });

  test("relaxed writes resolve without a sync; flush() syncs", async (t) => {
    const dir = path.join(tempDir(t), "store");
    const store = await Store.open({ backend: "file", path: dir, durability: "relaxed" });
    const session = await store.createSession("relaxed");
    let syncs = 0;
    const real = fs.fdatasyncSync;
    fs.fdatasyncSync = (fd) => {
      syncs += 1;
      return real(fd);
    };
    try {
      for (let i = 0; i < 20; i++) await store.checkpoint({ session, message: `r${i}`, state: { i } });
      assert.equal(syncs, 0, "a relaxed write waited for a sync");
      await store.flush();
      assert.ok(syncs >= 1, "flush() did not sync");
    } finally {
      fs.fdatasyncSync = real;
    }
    await store.close();
  });

  test("one writer at a time: a second opener gets LOCKED naming the holder, or waits its turn", async (t) => {
    const dir = path.join(tempDir(t), "store");
    const first = await Store.open({ backend: "file", path: dir });
    await assert.rejects(Store.open({ backend: "file", path: dir }), (error) => {
      assert.ok(error instanceof LockedError, String(error));
      assert.equal(error.code, "LOCKED");
      assert.match(error.message, new RegExp(`pid ${process.pid}`));
      return true;
    });
    // A reader needs no lock.
    const reader = await Store.open({ backend: "file", path: dir, readOnly: true });
    await assert.rejects(reader.createSession("no"), ReadOnlyError);
    await reader.close();
    const waiting = Store.open({ backend: "file", path: dir, lock: "wait" });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await first.close();
    const second = await waiting;
    await second.createSession("second");
    await second.close();
  });

  test("a read-only store follows a writer with refresh() and hears its events", async (t) => {
    const dir = path.join(tempDir(t), "store");
    const writer = await Store.open({ backend: "file", path: dir });
    const session = await writer.createSession("followed");
    await writer.checkpoint({ session, message: "first", state: { n: 1 } });
    const reader = await Store.open({ backend: "file", path: dir, readOnly: true });
    assert.equal(reader.metrics().checkpoints, 1);
    const heard = [];
    reader.subscribe((event) => heard.push(event.type));
    for (let i = 2; i <= 5; i++) await writer.checkpoint({ session, message: `n${i}`, state: { n: i } });
    const refreshed = await reader.refresh();
    assert.ok(refreshed.writes >= 4, JSON.stringify(refreshed));
    assert.equal(reader.metrics().checkpoints, 5);
    assert.equal(reader.latest(session).message, "n5");
    assert.equal(heard.filter((t) => t === "created").length, 4, heard.join(" "));
    // A compaction replaces the log: the reader reads it again.
    await writer.compact({ keepLast: 2 });
    const after = await reader.refresh();
    assert.equal(after.compacted, true);
    assert.equal(reader.metrics().checkpoints, writer.metrics().checkpoints);
    await reader.close();
    await writer.close();
  });

  test("the native CLI reads a store Node.js wrote, with the same ids, hashes and export bytes", async (t) => {
    const dir = path.join(tempDir(t), "store");
    const store = await Store.open({ backend: "file", path: dir, segmentBytes: 16 * 1024 });
    const session = await store.createSession("from node", { host: "node" });
    for (let i = 0; i < 40; i++) {
      await store.checkpoint({ session, message: `step ${i}`, state: { i, text: "x".repeat(500 + i) }, tags: ["n"], metadata: { i } });
    }
    const mine = store.list({ order: "asc" }).items.map((c) => ({ id: c.id, hash: c.hash, seq: c.seq }));
    const exported = await store.exportBinary();
    await store.close();

    const log = cli(dir, "--json", "log", "-n", "1000");
    assert.equal(log.status, 0, log.stderr);
    const listed = JSON.parse(log.stdout.toString());
    const theirs = (Array.isArray(listed) ? listed : listed.items ?? listed.checkpoints)
      .map((c) => ({ id: c.id, hash: c.hash, seq: c.seq }))
      .sort((a, b) => a.seq - b.seq);
    assert.deepEqual(theirs, mine);
    assert.equal(cli(dir, "verify").status, 0);
    const native = cli(dir, "export", "--format", "binary");
    assert.equal(native.status, 0, native.stderr);
    assert.ok(Buffer.from(exported).equals(native.stdout), "Node.js and the CLI export different bytes");
  });

  test("Node.js opens a store the native CLI wrote, and writes on after it", async (t) => {
    const dir = path.join(tempDir(t), "store");
    assert.equal(cli(dir, "session", "new", "from native").status, 0);
    const stateFile = path.join(tempDir(t), "state.json");
    for (let i = 0; i < 5; i++) {
      fs.writeFileSync(stateFile, text({ native: i }));
      const made = cli(dir, "checkpoint", "-m", `native ${i}`, "--state", stateFile, "-t", "cli");
      assert.equal(made.status, 0, made.stderr);
    }
    const store = await Store.open({ backend: "file", path: dir });
    const items = store.list({ order: "asc" }).items;
    assert.deepEqual(items.map((c) => c.message), ["native 0", "native 1", "native 2", "native 3", "native 4"]);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(await store.state(items[2].id))), { native: 2 });
    await store.checkpoint({ session: items[0].session, message: "node after", state: { node: true } });
    const exported = await store.exportBinary();
    await store.close();
    const shown = cli(dir, "--json", "show", "latest");
    assert.equal(shown.status, 0, shown.stderr);
    assert.equal(JSON.parse(shown.stdout.toString()).message, "node after");
    assert.equal(cli(dir, "verify").status, 0);
    assert.ok(Buffer.from(exported).equals(cli(dir, "export", "--format", "binary").stdout));
  });

  test("`rewind log --follow` watches a store while a Node.js agent writes it", async (t) => {
    const dir = path.join(tempDir(t), "store");
    const store = await Store.open({ backend: "file", path: dir });
    const session = await store.createSession("watched");
    await store.checkpoint({ session, message: "before", state: { n: 0 } });
    const follower = spawn(nativeBinary("rewind"), ["--store", dir, "--json", "log", "--follow", "-n", "1"]);
    t.after(() => follower.kill("SIGKILL"));
    const seen = [];
    let buffered = "";
    const arrived = new Promise((resolve) => {
      follower.stdout.on("data", (d) => {
        buffered += d;
        let at;
        while ((at = buffered.indexOf("\n")) >= 0) {
          seen.push(JSON.parse(buffered.slice(0, at)).message);
          buffered = buffered.slice(at + 1);
        }
        if (seen.includes("after 4")) resolve();
      });
    });
    // It shows the newest one, then each new one as the writer's sync makes it durable.
    while (!seen.includes("before")) await new Promise((resolve) => setTimeout(resolve, 20));
    for (let i = 0; i < 5; i++) {
      await store.checkpoint({ session, message: `after ${i}`, state: { n: i + 1 } });
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    await Promise.race([arrived, new Promise((_, reject) => setTimeout(() => reject(new Error(`saw ${seen}`)), 10_000))]);
    assert.deepEqual(seen, ["before", "after 0", "after 1", "after 2", "after 3", "after 4"]);
    await store.close();
  });

  test("Node.js and native writers exclude each other, both ways", async (t) => {
    const dir = path.join(tempDir(t), "store");
    // Node.js holds it: the CLI is refused (exit code 4) and names this process.
    const store = await Store.open({ backend: "file", path: dir });
    await store.createSession("node holds");
    const refused = await cliAsync(dir, "--no-wait", "session", "new", "native");
    assert.equal(refused.status, 4, refused.stderr);
    assert.match(refused.stderr, new RegExp(`${process.pid}`));
    await store.close();
    // A native writer holds it: Node.js is refused, naming it, until it exits.
    const holder = spawn(nativeBinary("crash_writer"), ["hold", dir], { stdio: ["pipe", "pipe", "inherit"] });
    const line = await new Promise((resolve) => holder.stdout.once("data", (d) => resolve(d.toString())));
    assert.match(line, /^locked \d+/);
    await assert.rejects(Store.open({ backend: "file", path: dir }), (error) => {
      assert.ok(error instanceof LockedError, String(error));
      assert.match(error.message, new RegExp(`pid ${holder.pid}`));
      return true;
    });
    // SIGKILL frees it: the lock dies with its process.
    holder.kill("SIGKILL");
    await new Promise((resolve) => holder.once("exit", resolve));
    const after = await Store.open({ backend: "file", path: dir });
    assert.equal(after.sessions().length, 1);
    await after.close();
  });

  test("a full disk fails the write with StorageFullError and loses nothing acknowledged", async (t) => {
    if (process.getuid?.() !== 0) {
      t.skip("mounting a small tmpfs needs root");
      return;
    }
    const mount = fs.mkdtempSync(path.join(os.tmpdir(), "rewind-full-"));
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mount], { stdio: "pipe" });
    } catch (error) {
      fs.rmSync(mount, { recursive: true, force: true });
      t.skip(`cannot mount a tmpfs here: ${error.stderr ?? error.message}`);
      return;
    }
    t.after(() => {
      execFileSync("umount", [mount]);
      fs.rmSync(mount, { recursive: true, force: true });
    });
    const dir = path.join(mount, "store");
    const store = await Store.open({ backend: "file", path: dir });
    const session = await store.createSession("fills the disk");
    const acked = [];
    let failure = null;
    for (let i = 0; i < 1000 && !failure; i++) {
      // ~8 KB of fresh bytes each: 1 MiB fills within ~130 writes.
      const noise = Array.from({ length: 1000 }, (_, j) => ((i * 7919 + j * 104729) % 99991).toString(36)).join("");
      try {
        const cp = await store.checkpoint({ session, message: `n${i}`, state: { i, noise } });
        acked.push([cp.id, i]);
      } catch (error) {
        failure = error;
      }
    }
    assert.ok(failure, "the disk never filled");
    assert.ok(failure instanceof StorageFullError, String(failure));
    assert.ok(failure instanceof QuotaExceededError);
    assert.equal(failure.code, "STORAGE_FULL");
    await store.close().catch(() => {});
    // Everything acknowledged is there, read by a fresh reader.
    const reader = await Store.open({ backend: "file", path: dir, readOnly: true });
    for (const [id, i] of acked) {
      assert.equal(JSON.parse(new TextDecoder().decode(await reader.state(id))).i, i);
    }
    await reader.close();
  });
});

describe("file stores: a writer killed with SIGKILL", () => {
  test("every acknowledged checkpoint is there after a restart", async (t) => {
    const dir = path.join(tempDir(t), "store");
    const kills = Number(process.env.REWIND_NODE_KILLS ?? 8);
    const acked = new Map();
    const doomed = new Set();
    const script = path.join(here, "support/file-writer.mjs");
    for (let k = 0; k < kills; k++) {
      const child = spawn(process.execPath, [script, dir, String(k * 100000)], { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => (err += d));
      // Kill it at a random moment after it starts writing.
      await new Promise((resolve) => child.stdout.once("data", resolve));
      await new Promise((resolve) => setTimeout(resolve, 5 + Math.floor(Math.random() * 60)));
      child.kill("SIGKILL");
      // "close", not "exit": the last lines it wrote may still be in the pipe at its exit.
      await new Promise((resolve) => child.once("close", resolve));
      for (const line of out.split("\n")) {
        const [word, n, id, hash] = line.split(" ");
        if (word === "ok" && hash?.length === 64) acked.set(id, { n: Number(n), hash });
        // A compaction's removals: acknowledged, then rightly gone.
        if (word === "doomed") doomed.add(n);
      }
      assert.ok(!/Error/.test(err), err);
    }
    assert.ok(acked.size > 0, "no write was acknowledged");
    const store = await Store.open({ backend: "file", path: dir });
    for (const id of doomed) acked.delete(id);
    for (const [id, { n, hash }] of acked) {
      const cp = store.get(id);
      assert.equal(cp.hash, hash);
      assert.deepEqual(JSON.parse(new TextDecoder().decode(await store.state(id))).n, n);
    }
    assert.equal((await store.verify()).ok, true);
    t.diagnostic(`${kills} kills; ${acked.size} acknowledged checkpoints, all present (${doomed.size} more removed by compactions)`);
    await store.close();
  });
});

describe("engine conformance on Node.js files (wasm, test-dist)", () => {
  const require = createRequire(import.meta.url);
  const glue = require("../test-dist/node/rewind_wasm.cjs");
  /** The conformance harness opens one backend per directory, so it needs no lock. */
  class Unlocked extends NodeFiles {
    holdsLock() {
      return true;
    }
  }

  for (const name of glue.conformanceScenarios()) {
    test(`scenario ${name}`, (t) => {
      try {
        glue.runConformanceScenarioOnFiles(name, new Unlocked(), tempDir(t));
      } catch (error) {
        assert.fail(`scenario ${name} failed: ${glue.lastPanic() ?? error}`);
      }
    });
  }

  test("the transcript on files equals the native golden transcript", (t) => {
    const golden = fs.readFileSync(path.join(repo, "tests/golden/transcript.txt"), "utf8");
    assert.equal(glue.conformanceTranscriptOnFiles(new Unlocked(), tempDir(t)), golden);
  });
});

describe("file stores: power cuts on a simulated disk", () => {
  test("every write acknowledged under strict durability survives, whatever the cut kept", async (t) => {
    const { SimulatedDisk } = await import("./support/simulated-disk.mjs");
    const seeds = Number(process.env.REWIND_NODE_POWER_SEEDS ?? 40);
    let cutsDuringWrites = 0;
    let ackedTotal = 0;
    for (let seed = 0; seed < seeds; seed++) {
      const why = `seed ${seed}`;
      const disk = new SimulatedDisk();
      const store = await Store.open({ backend: "file", path: "/store", fileSystem: disk, segmentBytes: 8192 });
      const session = await store.createSession("cut");
      disk.cutAfter(20 + ((seed * 37) % 600));
      const acked = [];
      for (let round = 0; round < 300 && !disk.powerLost; round++) {
        // Bursts of writes issued together (they share a sync), of growing states.
        const burst = Array.from({ length: 1 + (round % 4) }, (_, k) => {
          const n = round * 10 + k;
          return store
            .checkpoint({ session, message: `n${n}`, state: { n, pad: "x".repeat(100 + (n % 300)) } })
            .then((cp) => acked.push([cp.id, cp.hash, n]), () => {});
        });
        await Promise.all(burst);
      }
      if (disk.powerLost) cutsDuringWrites += 1;
      ackedTotal += acked.length;
      await store.close().catch(() => {});
      const back = disk.afterPowerLoss(seed);
      const reopened = await Store.open({ backend: "file", path: "/store", fileSystem: back });
      for (const [id, hash, n] of acked) {
        assert.equal(reopened.get(id).hash, hash, why);
        assert.equal(JSON.parse(new TextDecoder().decode(await reopened.state(id))).n, n, why);
      }
      assert.equal((await reopened.verify()).ok, true, why);
      await reopened.close();
    }
    assert.ok(cutsDuringWrites >= seeds / 2, `${cutsDuringWrites} of ${seeds} cuts landed during writes`);
    t.diagnostic(`${seeds} power cuts (${cutsDuringWrites} during writes); ${ackedTotal} acknowledged writes, all present`);
  });
});
