// File stores in Node.js: the native store's directory (segments, CURRENT, DURABLE, INDEX),
// written and read by the engine's own file backend (the `rewind` crate inside the wasm module,
// host-wasm/src/node_files.rs) through the calls below, which use node:fs's synchronous calls:
// a write reaches the operating system before the engine returns, and a sync returns once the
// disk has it, as in the native store.
//
// The writer lock is the native one (host-native/src/lock.rs): a Unix socket bound in Linux's
// abstract namespace under "\0rewind/lock/<st_dev hex>/<st_ino hex>" of the store directory,
// padded with NULs to the longest abstract name (107 bytes) — the spelling every Node.js writer
// binds whatever its libuv does with the length (Node.js 20's pads it, later ones keep it as
// given), and one of the two a native writer binds. Binding it is taking the lock; the kernel
// refuses a second bind (in this process or any other, native or Node.js) and frees the name
// when the socket closes or its process dies, SIGKILL included. The holder answers each
// connection with "rewind-lock 1 pid <pid>\n", so a refused opener can name it. (Native writers
// also flock the file LOCK, for writers in other network namespaces; Node.js cannot flock, so a
// Node.js writer and a native one exclude each other within one network namespace.) Abstract
// sockets are Linux's: file-store writers need Linux and libuv 1.46 or newer (Node.js 20), whose
// Unix sockets take names that begin with a NUL; readers need neither.

import fs from "node:fs";
import net from "node:net";
import path from "node:path";

import { makeError } from "./errors.js";

const FLAGS = { read: "r", readWrite: "r+", createNew: "wx+", replace: "w" };
const ANSWER_PREFIX = "rewind-lock 1 pid ";
/** How long a refused opener waits for the holder's answer (a live holder answers at once). */
const ANSWER_TIMEOUT_MS = 200;

/** The longest abstract socket name: `sun_path` (108 bytes) with its leading NUL. */
const ABSTRACT_ADDRESS_LEN = 108;

/** The lock's socket name for the store directory `dir` (which exists), NUL-padded. */
function lockName(dir) {
  const { dev, ino } = fs.statSync(dir, { bigint: true });
  return `\0rewind/lock/${dev.toString(16)}/${ino.toString(16)}`.padEnd(ABSTRACT_ADDRESS_LEN, "\0");
}

/** Why this process cannot take the lock, or null when it can. */
function lockUnsupported() {
  if (process.platform !== "linux") return `the writer lock is a Linux abstract socket (this is ${process.platform})`;
  const [major, minor] = (process.versions.uv ?? "0.0").split(".").map(Number);
  if (major < 1 || (major === 1 && minor < 46)) return `it needs libuv 1.46 or newer (Node.js 20); this is ${process.versions.uv}`;
  return null;
}

/** Binds `name`; resolves to the listening server, rejects with the bind's error. */
function bind(name) {
  return new Promise((resolve, reject) => {
    const answer = `${ANSWER_PREFIX}${process.pid}\n`;
    const server = net.createServer((conn) => {
      conn.on("error", () => {});
      conn.end(answer);
    });
    server.once("error", reject);
    server.listen({ path: name }, () => {
      server.off("error", reject);
      server.on("error", () => {});
      // The lock must not keep the process alive: a process that exits releases it anyway.
      server.unref();
      resolve(server);
    });
  });
}

/** Asks the holder of `name` who it is: its pid, or null when it does not say. */
function probe(name) {
  return new Promise((resolve) => {
    let text = "";
    const conn = net.connect({ path: name });
    const done = (pid) => {
      conn.destroy();
      resolve(pid);
    };
    conn.setTimeout(ANSWER_TIMEOUT_MS, () => done(null));
    conn.on("data", (chunk) => {
      text += chunk.toString("latin1");
      if (text.length > 64) done(null);
    });
    conn.on("end", () => {
      const pid = text.startsWith(ANSWER_PREFIX) ? Number.parseInt(text.slice(ANSWER_PREFIX.length), 10) : NaN;
      done(Number.isFinite(pid) ? pid : null);
    });
    conn.on("error", () => done(null));
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A storage error for a failed file call while `what`. */
function filesError(error, what) {
  if (error?.code === "ENOSPC" || error?.code === "EDQUOT") {
    return makeError("STORAGE_FULL", `the disk is full while ${what}: ${error.message}`);
  }
  return makeError("STORAGE_FAILED", `${what} failed: ${error?.message ?? error}`);
}

/**
 * The file calls of one store's engine (see host-wasm/src/node_files.rs for what each must
 * do), and its writer lock.
 */
export class NodeFiles {
  #locked = null; // the resolved store directory whose lock this holds
  #server = null;

  /**
   * Takes the writer lock of the store in `dir` (created if missing): fails with `LOCKED`
   * naming the holder's pid, or with `wait`, retries until it is free.
   */
  async lock(dir, mode) {
    if (this.#locked !== null) {
      throw makeError("INVALID_INPUT", "this file system object already holds a store's lock; give each store its own");
    }
    const unsupported = lockUnsupported();
    if (unsupported) {
      throw makeError("INVALID_INPUT", `a file store cannot be opened for writing here: ${unsupported}; open it with readOnly: true`);
    }
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw filesError(error, `creating ${dir}`);
    }
    const name = lockName(dir);
    let pause = 2;
    for (;;) {
      try {
        this.#server = await bind(name);
        this.#locked = path.resolve(dir);
        return;
      } catch (error) {
        if (error?.code !== "EADDRINUSE") throw filesError(error, `locking ${dir}`);
      }
      if (mode !== "wait") {
        const pid = await probe(name);
        const holder = pid === null ? "another writer" : `pid ${pid}`;
        throw makeError("LOCKED", `store ${dir} is locked by ${holder}`);
      }
      await sleep(pause);
      pause = Math.min(pause * 2, 50);
    }
  }

  /** Releases the writer lock (closing the socket frees its name). */
  unlock() {
    if (this.#server) this.#server.close();
    this.#server = null;
    this.#locked = null;
  }

  holdsLock(dir) {
    return this.#locked !== null && this.#locked === path.resolve(dir);
  }

  open(file, mode) {
    return fs.openSync(file, FLAGS[mode], 0o600);
  }

  list(dir) {
    return fs.readdirSync(dir);
  }

  exists(file) {
    return fs.existsSync(file);
  }

  createDirAll(dir) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  rename(from, to) {
    fs.renameSync(from, to);
  }

  remove(file) {
    fs.unlinkSync(file);
  }

  syncDir(dir) {
    const fd = fs.openSync(dir, "r");
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  readAt(fd, buf, offset) {
    return fs.readSync(fd, buf, 0, buf.length, offset);
  }

  writeAt(fd, buf, offset) {
    let done = 0;
    while (done < buf.length) {
      done += fs.writeSync(fd, buf, done, buf.length - done, offset + done);
    }
  }

  setLen(fd, len) {
    fs.ftruncateSync(fd, len);
  }

  size(fd) {
    return fs.fstatSync(fd).size;
  }

  syncData(fd) {
    fs.fdatasyncSync(fd);
  }

  syncAll(fd) {
    fs.fsyncSync(fd);
  }

  close(fd) {
    try {
      fs.closeSync(fd);
    } catch {
      // Already closed: nothing to release.
    }
  }
}
