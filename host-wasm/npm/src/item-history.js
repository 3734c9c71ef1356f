// A list that grows (a chat's messages, an agent session's items) kept in one rewind session as a
// tree of checkpoints. The integrations for the Vercel AI SDK and the OpenAI Agents SDK are
// built on it.
//
// Each checkpoint holds the whole list as its state, the JSON array of the items, so any version
// reads back in one call without its ancestors, and rewind's content-defined chunking stores
// only what a version adds (a growing list's earlier items are the same bytes each time). Its
// metadata "items" holds the list's length.
//
// A write is planned against the session head (the current version):
// - the same list: nothing is written;
// - the head's list followed by new items: a checkpoint on the head;
// - anything else (items removed, changed or replaced): the deepest ancestor of the head whose
//   list is a prefix of the new one is found; when it holds the new list exactly the head moves
//   back to it (a rewind restore), otherwise a checkpoint forks from it (or starts a new root).
//   The versions left behind stay in the session as branches, readable and switchable, until
//   they are pruned.
// One checkpoint per write makes each write atomic: all of its items survive a crash or none.
//
// Writes to one session through one store are serialised (every ItemHistory on the store shares
// one queue per session), so two callers cannot both extend the same head and fork by accident.

import { makeError, RewindError } from "./errors.js";
import { toWellFormed, truncate } from "./text.js";

/** Rewind metadata key holding the number of items a checkpoint's list has. */
export const COUNT_KEY = "items";
const CONTENT_TYPE = "application/json";
/** Sessions whose current version stays cached per store (the least recently used go first). */
const CACHED_SESSIONS = 64;
/** Longest checkpoint message (UTF-16 units): the start of the last item's text. */
const MAX_MESSAGE = 120;

const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();
/** Per store: session id -> { tail: the queue's last promise, queued, head, texts }, LRU order. */
const sessionsOf = new WeakMap();

/** The shared queue and cache of a session on a store (kept while tasks are queued). */
function slotOf(store, session) {
  let sessions = sessionsOf.get(store);
  if (!sessions) sessionsOf.set(store, (sessions = new Map()));
  let entry = sessions.get(session);
  if (entry) sessions.delete(session);
  else entry = { tail: Promise.resolve(), queued: 0, head: undefined, texts: [] };
  sessions.set(session, entry);
  for (const [key, other] of sessions) {
    if (sessions.size <= CACHED_SESSIONS) break;
    if (other.queued === 0 && key !== session) sessions.delete(key);
  }
  return entry;
}

function isNotFound(error) {
  return error?.code === "SESSION_NOT_FOUND" || error?.code === "CHECKPOINT_NOT_FOUND";
}

/** A version of the list: its checkpoint (null before the first write) and its items' JSON texts. */
export class ItemHistory {
  #store;
  #session;
  #options;

  /**
   * @param store a rewind Store
   * @param session the rewind session id (derived by the caller)
   * @param options { name, metadata: the session's (when it is created), label: what the list
   *   is called in errors ("chat x"), replacer / reviver: JSON.stringify's and JSON.parse's,
   *   summarise(item): a line for rewind's tools naming the item a version ends with,
   *   emptyMessage: the checkpoint message of an empty list }
   */
  constructor(store, session, options) {
    this.#store = store;
    this.#session = session;
    this.#options = options;
  }

  get #slot() {
    return slotOf(this.#store, this.#session);
  }

  /** The rewind session id. */
  get session() {
    return this.#session;
  }

  /** Runs `task` after every earlier task of this session on this store. */
  serialise(task) {
    const slot = this.#slot;
    slot.queued += 1;
    const run = slot.tail.then(task).finally(() => {
      slot.queued -= 1;
    });
    slot.tail = run.catch(() => {});
    return run;
  }

  /** Forgets the cached current version (after the session is deleted). */
  forget() {
    const slot = this.#slot;
    slot.head = undefined;
    slot.texts = [];
  }

  /** Whether the session exists. */
  exists() {
    try {
      this.#store.session(this.#session);
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  /** The session head's checkpoint id, or null (no session, or nothing written yet). */
  head() {
    try {
      return this.#store.session(this.#session).head;
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  /** Each item's JSON text, in the form this history compares and stores. */
  textsOf(items) {
    if (!Array.isArray(items)) throw makeError("INVALID_INPUT", `${this.#options.label}: the items must be an array`);
    return items.map((item, index) => {
      let text;
      try {
        text = JSON.stringify(item, this.#options.replacer);
      } catch (error) {
        if (error instanceof RewindError) throw error;
        throw makeError("INVALID_INPUT", `${this.#options.label}: item ${index} is not representable as JSON: ${error.message}`);
      }
      if (text === undefined) {
        throw makeError("INVALID_INPUT", `${this.#options.label}: item ${index} is not representable as JSON`);
      }
      return text;
    });
  }

  /** Items from their texts. */
  parse(texts) {
    return texts.map((text) => JSON.parse(text, this.#options.reviver));
  }

  /** The texts of the list a checkpoint of this session holds. */
  async textsAt(checkpoint) {
    const slot = this.#slot;
    if (checkpoint === slot.head) return slot.texts;
    return this.#decode(checkpoint, await this.#store.state(checkpoint));
  }

  /** The texts of many checkpoints' lists (null for a checkpoint that is gone), in one read. */
  async textsOfMany(checkpoints) {
    const states = await this.#store.statesOf(checkpoints);
    return states.map((bytes, i) => (bytes === null ? null : this.#decode(checkpoints[i], bytes)));
  }

  #decode(checkpoint, bytes) {
    let items;
    try {
      items = JSON.parse(decoder.decode(bytes), this.#options.reviver);
    } catch {
      items = null;
    }
    if (!Array.isArray(items)) {
      throw makeError(
        "CORRUPT",
        `${this.#options.label}: checkpoint ${checkpoint} does not hold a list of items (was it written by another tool?)`,
      );
    }
    return items.map((item) => JSON.stringify(item, this.#options.replacer));
  }

  /** The current version: the head and its texts (cached per head: checkpoints never change). */
  async current() {
    const head = this.head();
    if (head === null) return { head: null, texts: [] };
    const slot = this.#slot;
    if (head !== slot.head) {
      const texts = await this.textsAt(head);
      slot.head = head;
      slot.texts = texts;
    }
    return { head, texts: slot.texts };
  }

  /** A checkpoint's number of items (rewind metadata), or null when it has none. */
  static countOf(checkpoint) {
    const count = checkpoint.metadata?.[COUNT_KEY];
    return Number.isSafeInteger(count) && count >= 0 ? count : null;
  }

  /**
   * Makes `texts` the current version (call inside serialise()). Returns { outcome, checkpoint,
   * from }: outcome "unchanged", "appended" (a checkpoint on the head, or the first one),
   * "restored" (the head moved back to an ancestor that holds the list) or "forked" (a new
   * checkpoint from `from`, null for a new root); checkpoint is the head afterwards (null while
   * nothing was written). `force` writes a checkpoint even when the list is unchanged or held by an
   * ancestor (to record `metadata` with the change); `root` starts a new root whatever the list.
   */
  async write(texts, { metadata = {}, force = false, root = false } = {}) {
    if (root) return this.#create(null, texts, metadata, "forked");
    const { head, texts: now } = await this.current();
    let common = 0;
    while (common < now.length && common < texts.length && now[common] === texts[common]) common++;
    if (common === now.length && (texts.length > now.length || force)) {
      return this.#create(head, texts, metadata, "appended");
    }
    if (common === now.length && common === texts.length) {
      return { outcome: "unchanged", checkpoint: head, from: head };
    }
    // The deepest ancestor whose list is a prefix of the new one: every checkpoint's list extends
    // its parent's, so an ancestor with at most `common` items holds the first of them.
    let base = null;
    if (head !== null) {
      for (const ancestor of this.#store.history(head).slice(1)) {
        const count = ItemHistory.countOf(ancestor);
        if (count !== null && count <= common) {
          base = { id: ancestor.id, count };
          break;
        }
      }
    }
    if (base !== null && base.count === texts.length && !force) {
      await this.#store.restore(base.id);
      const slot = this.#slot;
      slot.head = base.id;
      slot.texts = texts;
      return { outcome: "restored", checkpoint: base.id, from: base.id };
    }
    return this.#create(base?.id ?? null, texts, metadata, "forked");
  }

  /** Moves the head to `checkpoint` (one of this session's): returns its texts. */
  async moveTo(checkpoint) {
    let target;
    try {
      target = this.#store.get(checkpoint);
    } catch (error) {
      if (isNotFound(error)) throw makeError("CHECKPOINT_NOT_FOUND", `${this.#options.label}: no checkpoint ${checkpoint}`);
      throw error;
    }
    if (target.session !== this.#session) {
      throw makeError("INVALID_INPUT", `${this.#options.label}: checkpoint ${checkpoint} belongs to another session`);
    }
    const texts = await this.textsAt(checkpoint);
    await this.#store.restore(checkpoint);
    return texts;
  }

  /** A version's checkpoint message: what its last item says, in one line. */
  #message(texts) {
    if (texts.length === 0) return this.#options.emptyMessage;
    const line = this.#options.summarise(JSON.parse(texts[texts.length - 1])).replace(/\s+/g, " ").trim();
    // Items keep lone surrogates (escaped in their JSON); rewind's messages are UTF-8.
    const text = toWellFormed(line) || "(empty)";
    return text.length <= MAX_MESSAGE ? text : `${truncate(text, MAX_MESSAGE - 1)}…`;
  }

  /** Creates the session unless it exists; resolves to whether it did. */
  async ensureSession() {
    if (this.exists()) return false;
    try {
      await this.#store.createSession(this.#options.name, this.#options.metadata, this.#session);
    } catch (error) {
      if (error?.code !== "DUPLICATE_ID") throw error;
      return false;
    }
    return true;
  }

  async #create(parent, texts, metadata, outcome) {
    const input = {
      session: this.#session,
      message: this.#message(texts),
      state: encoder.encode(`[${texts.join(",")}]`),
      contentType: CONTENT_TYPE,
      metadata: { ...metadata, [COUNT_KEY]: texts.length },
    };
    if (parent === null) input.root = true;
    else input.parent = parent;
    // A session made for a first write that then fails is removed: no empty chat is left behind.
    const created = await this.ensureSession();
    let checkpoint;
    try {
      checkpoint = await this.#store.save(input);
    } catch (error) {
      if (created) await this.#store.deleteSession(this.#session).catch(() => {});
      // The engine's limits name the state, not the list: say whose list outgrew them.
      if (error?.code === "LIMIT_EXCEEDED") throw makeError("LIMIT_EXCEEDED", `${this.#options.label}: ${error.message}`);
      throw error;
    }
    const slot = this.#slot;
    slot.head = checkpoint;
    slot.texts = texts;
    return { outcome, checkpoint, from: parent };
  }
}
