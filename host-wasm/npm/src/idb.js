// IndexedDB persistence: the store's log as rows of framed records, one row per write.
//
// A row holds the frames one operation appended; a compaction replaces every row with the new
// log in one transaction. Reading the rows in key order gives back the exact log bytes, which
// the engine replays at open. IndexedDB transactions are atomic, so a failed write (quota)
// leaves nothing half-written.

import { makeError } from "./errors.js";

const ROWS = "log";

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
    const req = indexedDB.open(`rewind:${name}`, 1);
    req.onupgradeneeded = () => {
      req.result.createObjectStore(ROWS);
    };
    let db;
    try {
      db = await request(req);
    } catch (error) {
      throw storageError(error, "opening the database");
    }
    return new IdbLog(db);
  }

  /** Every row, concatenated: the log. */
  async read() {
    const tx = this.#db.transaction(ROWS, "readonly");
    const store = tx.objectStore(ROWS);
    const [keys, rows] = await Promise.all([request(store.getAllKeys()), request(store.getAll())]);
    this.#nextKey = keys.length ? keys[keys.length - 1] + 1 : 0;
    let total = 0;
    for (const row of rows) total += row.byteLength;
    const log = new Uint8Array(total);
    let at = 0;
    for (const row of rows) {
      log.set(new Uint8Array(row), at);
      at += row.byteLength;
    }
    return log;
  }

  /** Writes batches (`{replace, bytes}`) in one transaction, in order. */
  async write(batches) {
    let key = this.#nextKey;
    let tx;
    try {
      tx = this.#db.transaction(ROWS, "readwrite", { durability: "strict" });
      const store = tx.objectStore(ROWS);
      for (const batch of batches) {
        if (batch.replace) {
          store.clear();
          key = 0;
        }
        store.put(batch.bytes, key++);
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
