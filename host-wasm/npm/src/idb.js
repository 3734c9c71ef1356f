// IndexedDB persistence: the store's log as rows of framed records, keyed by log position.
//
// A row holds whole frames — what one operation appended, or a part of a compacted log split
// at frame boundaries into rows of about 256 KiB — under the log position of its first byte.
// Reading the rows in key order gives back the exact log bytes; a compaction replaces every
// row in one transaction. IndexedDB transactions are atomic, so a failed write (quota) leaves
// nothing half-written.
//
// Beside the rows, the object store `index` holds the engine's index snapshot: what replaying
// the log builds, at a point of it, and its delta (what changed since, while that is small;
// written instead of a whole new snapshot). Each is one `Blob` (older databases hold them as
// ArrayBuffers, read the same): a Blob is read back as its bytes, not structured-cloned, which
// makes reading a 40 MB snapshot about three times faster. They are written in the same
// transaction as the rows they describe, and the engine checks them against the log and
// ignores them when they do not match. An open through the snapshot reads the first row (the log's header), the rows
// from the snapshot's anchor on, and nothing else; the rows before are fetched one by one
// when a read asks for bytes they hold (`rowsAt`), found by key (the last row starting at or
// before the position asked for).
//
// Database versions: 1 held the rows under keys 0, 1, 2…; 2 added `index`; 3 (this one) keys
// the rows by log position, in the object store `rows`. Opening an older database moves its
// rows over once, in the upgrade transaction.

import { makeError } from "./errors.js";

const ROWS = "rows";
const OLD_ROWS = "log";
const INDEX = "index";
const SNAPSHOT_KEY = "snapshot";
const DELTA_KEY = "delta";
const VERSION = 3;
/** Rows moved from an older database are split like the engine splits a compacted log. */
const ROW_BYTES = 256 * 1024;
const LOG_HEADER_LEN = 16;
const FRAME_HEADER_LEN = 8;

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

/** The bytes of a stored snapshot or delta: a Blob, or (databases written before) an ArrayBuffer. */
async function bytesOf(stored) {
  if (stored === undefined) return undefined;
  return new Uint8Array(stored instanceof Blob ? await stored.arrayBuffer() : stored);
}

function storageError(error, what) {
  const name = error && error.name;
  if (name === "QuotaExceededError") {
    return makeError("QUOTA_EXCEEDED", `storage quota exceeded while ${what}; nothing was written`);
  }
  return makeError("STORAGE_FAILED", `IndexedDB failed while ${what}: ${error && error.message}`);
}

/** Where the rows of `bytes` (whole frames, after the log header when `at` is 0) end. */
function rowEnds(bytes, at) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ends = [];
  let rowStart = 0;
  let pos = at === 0 ? Math.min(LOG_HEADER_LEN, bytes.length) : 0;
  while (pos < bytes.length) {
    const len =
      pos + FRAME_HEADER_LEN <= bytes.length
        ? Math.min(FRAME_HEADER_LEN + view.getUint32(pos, true), bytes.length - pos)
        : bytes.length - pos;
    if (pos > rowStart && pos + len - rowStart > ROW_BYTES) {
      ends.push(pos);
      rowStart = pos;
    }
    pos += len;
  }
  if (bytes.length > 0) ends.push(bytes.length);
  return ends;
}

/** Moves the rows of a version 1 or 2 database (keys 0, 1, 2…) to `rows`, keyed by position. */
function migrateRows(tx) {
  const db = tx.db;
  const rows = tx.objectStore(ROWS);
  let at = 0;
  const cursor = tx.objectStore(OLD_ROWS).openCursor();
  cursor.onsuccess = () => {
    const c = cursor.result;
    if (!c) {
      db.deleteObjectStore(OLD_ROWS);
      return;
    }
    const bytes = new Uint8Array(c.value);
    let start = 0;
    for (const end of rowEnds(bytes, at)) {
      rows.put(bytes.slice(start, end), at + start);
      start = end;
    }
    at += bytes.length;
    c.continue();
  };
}

/** Concatenates rows (values of the `rows` store). */
function join(values) {
  let total = 0;
  for (const row of values) total += row.byteLength;
  const out = new Uint8Array(total);
  let at = 0;
  for (const row of values) {
    out.set(new Uint8Array(row), at);
    at += row.byteLength;
  }
  return out;
}

export class IdbLog {
  #db;

  constructor(db) {
    this.#db = db;
  }

  /** Opens (or creates) the database `rewind:<name>`. */
  static async open(name) {
    const req = indexedDB.open(`rewind:${name}`, VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains(ROWS)) db.createObjectStore(ROWS);
      if (!db.objectStoreNames.contains(INDEX)) db.createObjectStore(INDEX);
      if (db.objectStoreNames.contains(OLD_ROWS)) migrateRows(req.transaction);
    };
    let db;
    try {
      db = await request(req);
    } catch (error) {
      throw storageError(error, "opening the database");
    }
    return new IdbLog(db);
  }

  /**
   * What an open reads, in one transaction: `{ head, tail, tailAt, snapshot, delta }`. With a
   * snapshot whose anchor `anchorOf(snapshot)` gives, `head` is the first row and `tail` the
   * rows from the one holding the anchor on, starting at position `tailAt`; otherwise `head`
   * is the whole log and `tail` is empty.
   */
  async read(anchorOf) {
    try {
      const index = this.#db.transaction(INDEX, "readonly").objectStore(INDEX);
      const [stored, storedDelta] = await Promise.all([
        request(index.get(SNAPSHOT_KEY)),
        request(index.get(DELTA_KEY)),
      ]);
      // The rows are read in a transaction of their own (reading a Blob ends the first): rows
      // only grow after the snapshot's point, and a snapshot a compaction made stale meanwhile
      // does not match them, which the engine finds.
      const [snapshot, delta] = await Promise.all([bytesOf(stored), bytesOf(storedDelta)]);
      const rows = this.#db.transaction(ROWS, "readonly").objectStore(ROWS);
      const anchor = snapshot ? anchorOf(snapshot) : undefined;
      if (anchor !== undefined) {
        const cursor = await request(rows.openCursor(IDBKeyRange.upperBound(anchor), "prev"));
        if (cursor && cursor.key > 0) {
          const tailAt = cursor.key;
          const [head, tail] = await Promise.all([
            request(rows.get(0)),
            request(rows.getAll(IDBKeyRange.lowerBound(tailAt))),
          ]);
          if (head) return { head: new Uint8Array(head), tail: join(tail), tailAt, snapshot, delta };
        }
      }
      const all = await request(rows.getAll());
      return { head: join(all), tail: new Uint8Array(), tailAt: 0, snapshot, delta };
    } catch (error) {
      throw storageError(error, "reading the log");
    }
  }

  /** The rows holding the log positions `positions`: `[[position of the row, bytes]]`. */
  async rowsAt(positions) {
    try {
      const rows = this.#db.transaction(ROWS, "readonly").objectStore(ROWS);
      const found = await Promise.all(
        positions.map((pos) => request(rows.openCursor(IDBKeyRange.upperBound(pos), "prev"))),
      );
      return found.filter(Boolean).map((c) => [c.key, new Uint8Array(c.value)]);
    } catch (error) {
      throw storageError(error, "reading the log");
    }
  }

  /** The whole log: every row, joined. */
  async wholeLog() {
    try {
      return join(await request(this.#db.transaction(ROWS, "readonly").objectStore(ROWS).getAll()));
    } catch (error) {
      throw storageError(error, "reading the log");
    }
  }

  /** Every row: `[[position, bytes]]`. */
  async allRows() {
    try {
      const rows = this.#db.transaction(ROWS, "readonly").objectStore(ROWS);
      const [keys, values] = await Promise.all([request(rows.getAllKeys()), request(rows.getAll())]);
      return keys.map((key, i) => [key, new Uint8Array(values[i])]);
    } catch (error) {
      throw storageError(error, "reading the log");
    }
  }

  /** Writes batches (`{replace, at, bytes, rowEnds, snapshot, delta}`) in one transaction,
   * in order: a batch's rows, then its snapshot and delta (an empty delta deletes the stored
   * one); a replaced log deletes the stored snapshot and delta first. */
  async write(batches) {
    let tx;
    try {
      tx = this.#db.transaction([ROWS, INDEX], "readwrite", { durability: "strict" });
      const store = tx.objectStore(ROWS);
      const index = tx.objectStore(INDEX);
      for (const batch of batches) {
        if (batch.replace) {
          store.clear();
          index.delete(SNAPSHOT_KEY);
          index.delete(DELTA_KEY);
        }
        let start = 0;
        for (const end of batch.rowEnds) {
          store.put(batch.bytes.slice(start, end), batch.at + start);
          start = end;
        }
        if (batch.snapshot) index.put(new Blob([batch.snapshot]), SNAPSHOT_KEY);
        if (batch.delta) {
          if (batch.delta.length > 0) index.put(new Blob([batch.delta]), DELTA_KEY);
          else index.delete(DELTA_KEY);
        }
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
  }

  close() {
    this.#db.close();
  }

  /** Deletes the database of the store `name`. */
  static async destroy(name) {
    await request(indexedDB.deleteDatabase(`rewind:${name}`));
  }
}
