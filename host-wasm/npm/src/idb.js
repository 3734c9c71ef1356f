// IndexedDB persistence: the store's log as rows of framed records, one row per write.
//
// A row holds the frames one operation appended; a compaction replaces every row with the new
// log in one transaction. Reading the rows in key order gives back the exact log bytes, which
// the engine replays at open. IndexedDB transactions are atomic, so a failed write (quota)
// leaves nothing half-written.
//
// Beside the rows, the object store `index` holds the engine's index snapshot (one value):
// what replaying the log builds, at a point of it, so an open replays only the rows after it.
// It is written in the same transaction as the rows it describes, and the engine checks it
// against the log and ignores it when it does not match.

import { makeError } from "./errors.js";

const ROWS = "log";
const INDEX = "index";
const SNAPSHOT_KEY = "snapshot";

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error("transaction aborted"));
  });
}

function storageError(error, what) {
  const name = error && error.name;
  if (name === "QuotaExceededError") {
    return makeError("QUOTA_EXCEEDED", `storage quota exceeded while ${what}; nothing was written`);
  }
  return makeError("STORAGE_FAILED", `IndexedDB failed while ${what}: ${error && error.message}`);
}

export class IdbLog {
  #db;
  #nextKey = 0;

  constructor(db) {
    this.#db = db;
  }

  /** Opens (or creates) the database `rewind:<name>`. */
  static async open(name) {
    // Version 2 added the `index` object store; a version 1 database gains it here.
    const req = indexedDB.open(`rewind:${name}`, 2);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains(ROWS)) db.createObjectStore(ROWS);
      if (!db.objectStoreNames.contains(INDEX)) db.createObjectStore(INDEX);
    };
    let db;
    try {
      db = await request(req);
    } catch (error) {
      throw storageError(error, "opening the database");
    }
    return new IdbLog(db);
  }

  /** Every row, concatenated (the log), and the index snapshot stored with it, read in one
   * transaction: `{ log, snapshot }` (`snapshot` undefined when there is none). */
  async read() {
    const tx = this.#db.transaction([ROWS, INDEX], "readonly");
    const store = tx.objectStore(ROWS);
    const [keys, rows, snapshot] = await Promise.all([
      request(store.getAllKeys()),
      request(store.getAll()),
      request(tx.objectStore(INDEX).get(SNAPSHOT_KEY)),
    ]);
    this.#nextKey = keys.length ? keys[keys.length - 1] + 1 : 0;
    let total = 0;
    for (const row of rows) total += row.byteLength;
    const log = new Uint8Array(total);
    let at = 0;
    for (const row of rows) {
      log.set(new Uint8Array(row), at);
      at += row.byteLength;
    }
    return { log, snapshot: snapshot ? new Uint8Array(snapshot) : undefined };
  }

  /** Writes batches (`{replace, bytes, snapshot}`) in one transaction, in order: a batch's
   * snapshot after its rows; a replaced log without a snapshot deletes the stored one. */
  async write(batches) {
    let key = this.#nextKey;
    let tx;
    try {
      tx = this.#db.transaction([ROWS, INDEX], "readwrite", { durability: "strict" });
      const store = tx.objectStore(ROWS);
      const index = tx.objectStore(INDEX);
      for (const batch of batches) {
        if (batch.replace) {
          store.clear();
          index.delete(SNAPSHOT_KEY);
          key = 0;
        }
        if (batch.bytes.byteLength > 0) store.put(batch.bytes, key++);
        if (batch.snapshot) index.put(batch.snapshot, SNAPSHOT_KEY);
      }
    } catch (error) {
      // A request refused at once (quota, a closed database): nothing of this write stays.
      try {
        tx?.abort();
      } catch {
        // already finished
      }
      throw storageError(error, "writing");
    }
    try {
      await done(tx);
    } catch (error) {
      throw storageError(error, "writing");
    }
    this.#nextKey = key;
  }

  close() {
    this.#db.close();
  }

  /** Deletes the database of the store `name`. */
  static async destroy(name) {
    await request(indexedDB.deleteDatabase(`rewind:${name}`));
  }
}
