// The public Store class. The engine (Rust, compiled to WebAssembly) does all the store logic
// synchronously in memory; this layer turns its answers into objects, its errors into
// RewindError subclasses, delivers events, persists the log to IndexedDB, and for the
// engine's own file stores (Node.js) decides when a sync makes writes durable.

import { ClosedError, ReadOnlyError, LockedError, StorageFullError, makeError, wrapError } from "./errors.js";
import { packCheckpoint, packPairs, packStrings, toJson } from "./packed.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Builds the API over the wasm-bindgen glue of one target (web or Node.js). */
export function createApi(glue, platform) {
  const { WasmStore } = glue;

  /** What the engine takes of `options`: everything but the keys this layer handles. */
  function engineOptions(options) {
    const { backend, name, path, segmentBytes, fileSystem, durability, lock, readOnly, log, ...engine } = options;
    return JSON.stringify(engine);
  }

  /**
   * Reads an engine's batch answer (statesOf, attachmentsOf): each call returns the next run of
   * bytes, each a u32 length (little-endian) and that many bytes, or null for the length
   * u32::MAX. The runs are views of the one buffer the engine returned (no copy each).
   */
  function runs(out) {
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    let at = 0;
    return () => {
      const len = view.getUint32(at, true);
      at += 4;
      if (len === 0xffffffff) return null;
      const run = out.subarray(at, at + len);
      at += len;
      return run;
    };
  }

  function sameBytes(a, b) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  const parse = (text) => (text === undefined ? null : JSON.parse(text));

  /** An error of a file store as its RewindError: a full disk is a StorageFullError. */
  function fileStoreError(error) {
    const wrapped = wrapError(error);
    if (wrapped?.code === "QUOTA_EXCEEDED") return new StorageFullError(wrapped.message, "STORAGE_FULL");
    return wrapped;
  }

  /** The `durability` option of a persisted store: "strict" (the default) or "relaxed". */
  function durabilityOf(options) {
    const durability = options.durability ?? "strict";
    if (durability !== "strict" && durability !== "relaxed") {
      throw makeError("INVALID_INPUT", `durability must be "strict" or "relaxed"`);
    }
    return durability;
  }

  /** The bytes at the end of an index snapshot that hold its summary, as a rule. */
  const SUMMARY_WINDOW = 4 * 1024 * 1024;

  /**
   * The engine over a stored log: through its index snapshot when there is one that checks
   * out, reading only the log's first row and the rows from the snapshot's anchor on (the rest
   * is fetched when reads ask for it); else over the whole log, replayed.
   */
  async function openEngine(log, options) {
    const stored = await log.read((snapshot) => {
      // The summary is at the end: its last few MiB hold it (else the whole is passed).
      const tail = snapshot.subarray(Math.max(0, snapshot.length - SUMMARY_WINDOW));
      const at = WasmStore.snapshotAnchor(snapshot.length, snapshot.subarray(0, 16), tail);
      return at ?? WasmStore.snapshotAnchor(snapshot.length, snapshot.subarray(0, 16), snapshot);
    });
    const open = (head, tail, tailAt) => ({
      engine: new WasmStore(head, tail, tailAt, stored.snapshot, stored.delta, engineOptions(options), true),
      logBytesRead: head.length + tail.length,
    });
    if (stored.tailAt === 0) return open(stored.head, stored.tail, 0);
    try {
      return open(stored.head, stored.tail, stored.tailAt);
    } catch (error) {
      if (error?.missingAt === undefined) throw error;
      // The snapshot did not match the log after all: the whole log is replayed.
      return open(await log.wholeLog(), new Uint8Array(), 0);
    }
  }

  class Store {
    #engine;
    #options;
    #log; // IdbLog, or null for memory stores
    #durability;
    #readOnly;
    #listeners = new Set();
    #closed = false;
    #pending = []; // relaxed: batches not yet written
    #writeChain = Promise.resolve();
    #lastWrite = null; // the promise of the last IndexedDB write (rejects when it failed)
    #flushTimer = null;
    #failedGeneration = 0;
    #releaseLock = null;
    #channel = null;
    #name;
    #logBytesRead; // bytes of log the open read from IndexedDB (null for memory stores)
    #files = null; // NodeFiles of a file store (Node.js), which holds its lock
    #tickSync = null; // strict file stores: the sync every write of this tick waits for
    #closing = null; // the promise of close(), once called

    constructor(engine, options, log, extra = {}) {
      this.#engine = engine;
      this.#options = options;
      this.#log = log;
      this.#durability = extra.durability ?? "strict";
      this.#readOnly = Boolean(extra.readOnly);
      this.#releaseLock = extra.releaseLock ?? null;
      this.#channel = extra.channel ?? null;
      this.#name = extra.name ?? null;
      this.#logBytesRead = extra.logBytesRead ?? null;
      this.#files = extra.files ?? null;
      if (this.#channel && this.#readOnly) {
        this.#channel.onmessage = () => {
          this.reload().catch(() => {});
        };
      }
    }

    /** A store in memory (nothing persists). `options.log` opens an existing log's bytes. */
    static memory(options = {}) {
      const log = options.log ?? new Uint8Array();
      try {
        return new Store(new WasmStore(log, new Uint8Array(), 0, undefined, undefined, engineOptions(options), false), options, null);
      } catch (error) {
        throw wrapError(error);
      }
    }

    /**
     * Opens a store: `{ backend: "memory" }`, `{ backend: "indexeddb", name }` (browsers) or
     * `{ backend: "file", path }` (Node.js: the native store's directory).
     */
    static async open(options = {}) {
      const backend = options.backend ?? "memory";
      if (backend === "memory") return Store.memory(options);
      if (backend === "file") return Store.#openFiles(options);
      if (backend !== "indexeddb") {
        throw makeError("INVALID_INPUT", `unknown backend ${JSON.stringify(backend)} (memory, indexeddb, file)`);
      }
      if (!platform.indexedDb) {
        throw makeError("INVALID_INPUT", "IndexedDB is not available here; use { backend: \"memory\" }");
      }
      const name = options.name;
      if (typeof name !== "string" || name.length === 0) {
        throw makeError("INVALID_INPUT", "an IndexedDB store needs a name");
      }
      const durability = durabilityOf(options);
      const readOnly = Boolean(options.readOnly);
      const releaseLock = readOnly ? null : await platform.acquireLock(name, options.lock ?? "fail");
      try {
        const log = await platform.IdbLog.open(name);
        platform.requestPersistence();
        let opened;
        try {
          opened = await openEngine(log, options);
        } catch (error) {
          log.close();
          throw wrapError(error);
        }
        const channel = platform.channel(name);
        return new Store(opened.engine, options, log, {
          durability,
          readOnly,
          releaseLock,
          channel,
          name,
          logBytesRead: opened.logBytesRead,
        });
      } catch (error) {
        if (releaseLock) releaseLock();
        throw error;
      }
    }

    /** `{ backend: "file", path }`: see `open`. */
    static async #openFiles(options) {
      if (!platform.NodeFiles) {
        throw makeError("INVALID_INPUT", 'file stores need Node.js; in a browser use { backend: "indexeddb" }');
      }
      const dir = options.path;
      if (typeof dir !== "string" || dir.length === 0) {
        throw makeError("INVALID_INPUT", "a file store needs a path (its directory)");
      }
      const durability = durabilityOf(options);
      const segmentBytes = options.segmentBytes ?? 64 * 1024 * 1024;
      if (!Number.isSafeInteger(segmentBytes) || segmentBytes < 1) {
        throw makeError("INVALID_INPUT", "segmentBytes must be a positive integer");
      }
      const readOnly = Boolean(options.readOnly);
      const files = options.fileSystem ?? new platform.NodeFiles();
      if (typeof files !== "object" || typeof files.open !== "function" || typeof files.lock !== "function") {
        throw makeError("INVALID_INPUT", "fileSystem must offer the file calls of NodeFiles (src/files.js)");
      }
      if (!readOnly) await files.lock(dir, options.lock ?? "fail");
      let engine;
      try {
        engine = WasmStore.openFiles(dir, files, engineOptions(options), readOnly, durability === "strict", segmentBytes);
      } catch (error) {
        if (!readOnly) files.unlock();
        throw fileStoreError(error);
      }
      return new Store(engine, options, null, { durability, readOnly, name: dir, files });
    }

    // ----- plumbing -------------------------------------------------------------------------

    /** An engine error as its RewindError; a file store's full disk is a StorageFullError. */
    #wrap(error) {
      return this.#files ? fileStoreError(error) : wrapError(error);
    }

    #call(fn) {
      if (this.#closed) throw new ClosedError("the store is closed", "CLOSED");
      try {
        return fn(this.#engine);
      } catch (error) {
        throw this.#wrap(error);
      }
    }

    /**
     * Runs a write: `fn` on the engine, then events and persistence. `keep` is called before the
     * write first waits (for log bytes), when its input is a view of a buffer the next write
     * reuses.
     */
    async #mutate(fn, needs = null, keep = null) {
      if (this.#readOnly) {
        throw new ReadOnlyError("the store was opened read-only", "READ_ONLY");
      }
      // At once when the bytes it reads are held (always, but in a store opened through its
      // snapshot), so writes keep the order they were called in.
      let result;
      const logBefore = this.#log ? this.#engine.logLength() : 0;
      if (needs !== null && this.#isPartial()) {
        result = await this.#read(fn, needs);
      } else {
        if (this.#closed) throw new ClosedError("the store is closed", "CLOSED");
        try {
          result = fn(this.#engine);
        } catch (error) {
          if (error?.missingAt === undefined || !this.#log) throw this.#wrap(error);
          keep?.();
          result = await this.#read(fn, [error.missingAt]);
        }
      }
      this.#emit();
      // Memory stores have nothing to persist.
      if (this.#log || this.#files) await this.#persist(this.#log !== null && this.#engine.logLength() !== logBefore);
      return result;
    }

    /** Whether parts of the log are still in IndexedDB only (opened through the snapshot). */
    #isPartial() {
      return this.#log !== null && !this.#closed && !this.#engine.logWhole();
    }

    /**
     * Runs `fn` on the engine once the log bytes it reads are held: `needs` is `"all"` (the
     * whole log: exports, verify, compaction), a function of the engine giving the log
     * positions it needs, or an array of them; bytes it still finds missing are fetched a row
     * at a time until it succeeds (each round brings new bytes, so this ends).
     */
    async #read(fn, needs = null) {
      if (this.#isPartial()) {
        if (needs === "all") {
          for (const [at, row] of await this.#log.allRows()) this.#engine.addLog(at, row);
        } else if (needs) {
          const positions = typeof needs === "function" ? this.#call(needs) : needs;
          if (positions.length > 0) await this.#fetch(positions);
        }
      }
      for (;;) {
        if (this.#closed) throw new ClosedError("the store is closed", "CLOSED");
        try {
          return fn(this.#engine);
        } catch (error) {
          if (error?.missingAt === undefined || !this.#log) throw this.#wrap(error);
          if (!(await this.#fetch([error.missingAt]))) throw this.#wrap(error);
        }
      }
    }

    /** Fetches the rows holding `positions` into the engine; whether any bytes were new. */
    async #fetch(positions) {
      let added = false;
      for (const [at, row] of await this.#log.rowsAt(Array.from(positions))) {
        if (this.#engine.addLog(at, row)) added = true;
      }
      return added;
    }

    #emit() {
      if (this.#listeners.size === 0) {
        this.#engine.discardEvents();
        return;
      }
      const events = JSON.parse(this.#engine.drainEvents());
      for (const event of events) {
        for (const listener of this.#listeners) {
          try {
            listener(event);
          } catch {
            // A subscriber's failure is its own; the store goes on.
          }
        }
      }
    }

    /** Hands what the engine wrote to IndexedDB: now (strict) or batched (relaxed). */
    async #persist(appended = false) {
      if (this.#files) return this.#syncFiles();
      // Memory stores: the engine keeps nothing to persist.
      if (!this.#log) return;
      const batch = this.#engine.takePersist();
      if (!batch) {
        // What this write appended left with the batch of a write that persisted while this
        // one waited for log bytes: it is durable when that write is.
        if (appended && this.#durability === "strict" && this.#lastWrite) await this.#lastWrite;
        return;
      }
      this.#pending.push({
        replace: batch.replace,
        at: batch.at,
        bytes: batch.bytes,
        rowEnds: batch.rowEnds,
        snapshot: batch.snapshot,
        delta: batch.delta,
      });
      batch.free();
      if (this.#durability === "strict") {
        await this.#writePending();
      } else if (this.#flushTimer === null) {
        this.#flushTimer = setTimeout(() => {
          this.#flushTimer = null;
          this.#writePending().catch(() => {});
        }, 50);
      }
    }

    /**
     * File stores: the engine has handed the write to the operating system. Strict: resolves
     * once a sync that started after it is done — one `fdatasync` at the end of the tick for
     * every write issued in it (group commit). Relaxed: a sync within ~50 ms (or at `flush`).
     */
    #syncFiles() {
      if (this.#durability !== "strict") {
        if (this.#flushTimer === null) {
          this.#flushTimer = setTimeout(() => {
            this.#flushTimer = null;
            try {
              if (!this.#closed) this.#call((e) => e.flush());
            } catch {
              // A failed sync refuses every later write (the engine says so then).
            }
          }, 50);
          this.#flushTimer.unref?.();
        }
        return undefined;
      }
      if (this.#tickSync === null) {
        this.#tickSync = new Promise((resolve, reject) => {
          setImmediate(() => {
            this.#tickSync = null;
            try {
              if (this.#closed) throw new ClosedError("the store closed before the write was synced", "CLOSED");
              this.#call((e) => e.flush());
              resolve();
            } catch (error) {
              reject(error);
            }
          });
        });
      }
      return this.#tickSync;
    }

    /** Writes the pending batches in order; a failure reloads the store from what is stored. */
    #writePending() {
      const generation = this.#failedGeneration;
      const run = async () => {
        if (generation !== this.#failedGeneration) {
          throw makeError("STORAGE_FAILED", "an earlier write failed; this write was rolled back");
        }
        const batches = this.#pending.splice(0);
        if (batches.length === 0) return;
        try {
          await this.#log.write(batches);
          if (this.#channel) this.#channel.postMessage({ type: "changed" });
        } catch (error) {
          // Memory is ahead of what IndexedDB holds: go back to what is stored.
          this.#failedGeneration += 1;
          this.#pending = [];
          await this.reload();
          throw wrapError(error);
        }
      };
      const next = this.#writeChain.then(run, run);
      this.#writeChain = next.catch(() => {});
      this.#lastWrite = next;
      return next;
    }

    /** Re-reads the log from IndexedDB (after a failed write, or in a read-only tab). */
    async reload() {
      if (!this.#log) return;
      const { engine, logBytesRead } = await openEngine(this.#log, this.#options);
      this.#engine.free();
      this.#engine = engine;
      this.#logBytesRead = logBytesRead;
      for (const listener of this.#listeners) {
        try {
          listener({ type: "reloaded" });
        } catch {
          // as above
        }
      }
    }

    /** Makes every write so far durable (relaxed stores write their batch now). */
    async flush() {
      if (this.#flushTimer !== null) {
        clearTimeout(this.#flushTimer);
        this.#flushTimer = null;
      }
      if (this.#log) await this.#writePending();
      if (this.#files && !this.#readOnly) this.#call((e) => e.flush());
    }

    /**
     * A read-only file store: applies what its writer (another process, or another store in
     * this one) wrote since the open or the last refresh, and delivers the events for it.
     * Returns `{ writes, events, compacted }` (writes applied, events delivered, whether a
     * compaction replaced the log, which is then read again). A writer is always current.
     */
    async refresh() {
      const refreshed = JSON.parse(this.#call((e) => e.refresh()));
      this.#emit();
      return refreshed;
    }

    /**
     * How the open built the store's index: `{ snapshot: "used", tailFrames }` (from the
     * index snapshot stored with the log, then the log after it), `{ snapshot: "none" }` (the
     * log replayed whole: there was none) or `{ snapshot: "ignored", problem }` (one was
     * stored but did not match the log; the log was replayed whole). IndexedDB stores add
     * `logBytesRead`: the bytes of log the open read (through a snapshot, the first row and
     * the rows from the snapshot's point on; older rows are read when a read needs them).
     */
    indexSource() {
      const source = JSON.parse(this.#call((engine) => engine.indexSource()));
      if (this.#logBytesRead !== null) source.logBytesRead = this.#logBytesRead;
      return source;
    }

    /** Flushes, releases the writer lock and closes the store (a writer whose log grew since
     * the last index snapshot stores a new one first, so the next open replays little). */
    close() {
      // Once: a second call while the first runs gets the same promise.
      this.#closing ??= this.#close();
      return this.#closing;
    }

    async #close() {
      if (this.#closed) return;
      // Writes of this tick on a strict file store resolve with their sync, not with a close.
      if (this.#tickSync) await this.#tickSync.catch(() => {});
      try {
        if ((this.#log || this.#files) && !this.#readOnly) {
          try {
            this.#engine.snapshotIfDue();
            if (this.#log) await this.#persist();
          } catch {
            // A snapshot that cannot be stored only makes the next open replay more.
          }
        }
        await this.flush();
      } finally {
        this.#closed = true;
        if (this.#log) this.#log.close();
        if (this.#channel) this.#channel.close();
        if (this.#releaseLock) this.#releaseLock();
        // A file store's files close with its engine; then its lock goes, whatever happened.
        try {
          this.#engine.free();
        } finally {
          if (this.#files && !this.#readOnly) this.#files.unlock();
        }
      }
    }

    /** Calls `listener` with every event; returns a function that unsubscribes. */
    subscribe(listener) {
      this.#listeners.add(listener);
      return () => this.#listeners.delete(listener);
    }

    // ----- sessions -------------------------------------------------------------------------

    async createSession(name, metadata = {}, id = undefined) {
      const text = toJson(metadata, "the session metadata");
      return this.#mutate((e) => e.createSession(name, text, id ?? ""));
    }

    session(id) {
      return parse(this.#call((e) => e.session(id)));
    }

    sessions() {
      return parse(this.#call((e) => e.sessions()));
    }

    async deleteSession(id) {
      return this.#mutate((e) => e.deleteSession(id));
    }

    // ----- checkpoints ----------------------------------------------------------------------

    async checkpoint(input) {
      let packed = packCheckpoint(input);
      return parse(await this.#mutate((e) => e.checkpoint(packed), null, () => (packed = packed.slice())));
    }

    async save(input) {
      let packed = packCheckpoint(input);
      return this.#mutate((e) => e.save(packed), null, () => (packed = packed.slice()));
    }

    async autoCheckpoint(input, reason) {
      let packed = packCheckpoint(input);
      const why = String(reason);
      return parse(await this.#mutate((e) => e.autoCheckpoint(packed, why), null, () => (packed = packed.slice())));
    }

    get(id) {
      return parse(this.#call((e) => e.get(id)));
    }

    async state(id) {
      return this.#read((e) => e.state(id), (e) => e.stateMissing(id));
    }

    /** Many states in one call: for each id, in order, its bytes, or null when it is gone. */
    async statesOf(ids) {
      if (!Array.isArray(ids)) throw makeError("INVALID_INPUT", "statesOf takes an array of checkpoint ids");
      if (ids.length === 0) return [];
      const packed = packStrings(ids, () => "a checkpoint id");
      const next = runs(await this.#read((e) => e.statesOf(packed), (e) => e.statesMissing(packed)));
      return ids.map(() => next());
    }

    async stateJson(id) {
      const bytes = await this.state(id);
      try {
        return JSON.parse(decoder.decode(bytes));
      } catch (error) {
        throw makeError("INVALID_INPUT", `the state of ${id} is not JSON: ${error.message}`);
      }
    }

    async restore(id) {
      const state = await this.#mutate((e) => e.restore(id), (e) => e.stateMissing(id));
      const checkpoint = this.get(id);
      return { checkpoint, session: checkpoint.session, state, contentType: checkpoint.contentType };
    }

    latest(session) {
      return parse(this.#call((e) => e.latest(session)));
    }

    at(session, timeMs) {
      return parse(this.#call((e) => e.at(session, timeMs)));
    }

    history(id) {
      return parse(this.#call((e) => e.history(id)));
    }

    branches(session) {
      return parse(this.#call((e) => e.branches(session)));
    }

    children(id) {
      return parse(this.#call((e) => e.children(id)));
    }

    list(query = {}) {
      return parse(this.#call((e) => e.list(JSON.stringify(query))));
    }

    /** Like list(), each checkpoint in brief: { id, namespace, contentType, metadata }. */
    listBrief(query = {}) {
      return parse(this.#call((e) => e.listBrief(JSON.stringify(query))));
    }

    async diff(from, to) {
      const needs = (e) => [...e.stateMissing(from), ...e.stateMissing(to)];
      return parse(await this.#read((e) => e.diff(from, to), needs));
    }

    async delete(id) {
      await this.#mutate((e) => e.delete(id));
    }

    // ----- annotations and attachments -----------------------------------------------------

    async annotate(id, note, severity = "info") {
      return parse(await this.#mutate((e) => e.annotate(id, note, severity)));
    }

    annotations(id) {
      return parse(this.#call((e) => e.annotations(id)));
    }

    async attach(id, key, contentType, bytes) {
      if (!(bytes instanceof Uint8Array)) {
        throw makeError("INVALID_INPUT", "attach() takes the bytes as a Uint8Array");
      }
      await this.#mutate((e) => e.attach(id, key, contentType, bytes));
    }

    async attachment(id, key) {
      const entry = await this.#read((e) => e.attachmentEntry(id, key), (e) => e.attachmentMissing(id, key));
      if (entry === undefined) return null;
      const typeLen = entry[0] | (entry[1] << 8) | (entry[2] << 16) | (entry[3] << 24);
      // The engine's answer is this call's own copy: its bytes are a view of it, not a copy.
      return { contentType: decoder.decode(entry.subarray(4, 4 + typeLen)), bytes: entry.subarray(4 + typeLen) };
    }

    /**
     * Many attachments in one call: for each `[checkpointId, key]`, `{ contentType, bytes }`, or
     * null when the checkpoint or the attachment is gone.
     */
    async attachmentsOf(pairs) {
      if (!Array.isArray(pairs)) throw makeError("INVALID_INPUT", "attachmentsOf takes an array of [checkpointId, key]");
      if (pairs.length === 0) return [];
      const packed = packPairs(pairs);
      const next = runs(await this.#read((e) => e.attachmentsOf(packed), (e) => e.attachmentsMissing(packed)));
      // Most attachments read together share a content type: decoded once.
      let lastType = null;
      let lastText = "";
      return pairs.map(() => {
        const type = next();
        if (type === null) return null;
        if (lastType === null || !sameBytes(type, lastType)) {
          lastType = type;
          lastText = decoder.decode(type);
        }
        return { contentType: lastText, bytes: next() };
      });
    }

    attachmentKeys(id) {
      return parse(this.#call((e) => e.attachmentKeys(id)));
    }

    // ----- retention ------------------------------------------------------------------------

    planCompaction(policy) {
      // Planning reads the clock but changes nothing.
      return parse(this.#call((e) => e.planCompaction(JSON.stringify(policy))));
    }

    async applyCompaction(plan) {
      const ids = JSON.stringify(plan.remove.map((r) => r.id));
      return parse(await this.#mutate((e) => e.removeCheckpoints(ids), "all"));
    }

    async compact(policy) {
      return this.applyCompaction(this.planCompaction(policy));
    }

    // ----- export, import, integrity --------------------------------------------------------

    async exportJson(sessions = []) {
      return this.#read((e) => e.exportJson(JSON.stringify(sessions)), "all");
    }

    async exportBinary(sessions = []) {
      return this.#read((e) => e.exportBinary(JSON.stringify(sessions)), "all");
    }

    async importJson(input) {
      const bytes = typeof input === "string" ? encoder.encode(input) : input;
      return parse(await this.#mutate((e) => e.importJson(bytes)));
    }

    async importBinary(bytes) {
      return parse(await this.#mutate((e) => e.importBinary(bytes)));
    }

    async verify() {
      return parse(await this.#read((e) => e.verify(), "all"));
    }

    metrics() {
      return parse(this.#call((e) => e.metrics()));
    }

    health() {
      return parse(this.#call((e) => e.health()));
    }

    /** The whole log (the bytes every host reads). */
    async logBytes() {
      return this.#read((e) => e.logBytes(), "all");
    }

    /** Deletes a persisted store (its IndexedDB database). Close it first. */
    static async destroy(name) {
      if (!platform.indexedDb) return;
      await platform.IdbLog.destroy(name);
    }
  }

  return { Store, LockedError };
}
