// RewindSession: a session of the OpenAI Agents SDK for JavaScript (`@openai/agents`), imported
// as "rewind-store/openai-agents". It keeps an agent's conversation history in a rewind store —
// files in Node.js, IndexedDB in a browser, or memory — and nothing it replaces is lost.
//
// Mapping
//   session id     -> a rewind session whose id is derived: uuid5("openai-agents-session:" + id)
//                     (derived-ids.js); its metadata holds { openai_agents_session_id }.
//   items          -> the history's AgentInputItems as JSON, one checkpoint per change
//                     (item-history.js): the whole list in each, its new items the only new
//                     bytes. Bytes in items (Uint8Array, e.g. a file's data) are stored as
//                     { "$rewind:bytes": "<base64>" } and read back as Uint8Array.
//   addItems       -> a checkpoint on the head.
//   popItem        -> a restore: the head moves back to the version without the last item when
//                     one exists, else a fork holding it. The popped version stays reachable.
//   clearSession   -> a new empty root: the earlier history stays in the store as a branch
//                     (deleteHistory() removes every version). Its metadata
//                     "openai_agents:cleared" ends the reach of earlier transaction ids, as
//                     MemorySession forgets them when cleared.
//   replaceHistoryWithCompaction, applyHistoryMutations, applyHistoryTransaction (suffix
//                  -> replacement) fork from the newest version that is a prefix of the new history.
// A transaction's operation id and a digest of the transaction are written in the rewind
// metadata of the checkpoint that applies it ("openai_agents:operation", "openai_agents:digest"),
// so the id and the change are stored atomically. A repeated id is looked up in the whole
// session (any branch, since the last clear): moving back with popItem or switchTo does not make
// an applied transaction apply again. The package never imports @openai/agents: items are plain
// JSON. An object whose only key is "$rewind:bytes" is reserved for bytes and refused in items.

import { derivedUuid, randomUuid } from "./derived-ids.js";
import { makeError, RewindError } from "./errors.js";
import { ItemHistory } from "./item-history.js";
import { mirrorString, utf8Length, wellFormed } from "./text.js";

/** Session metadata key naming the Agents SDK session. */
const SESSION_KEY = "openai_agents_session_id";
const OPERATION_KEY = "openai_agents:operation";
const DIGEST_KEY = "openai_agents:digest";
const CLEARED_KEY = "openai_agents:cleared";
const BYTES_KEY = "$rewind:bytes";

function base64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

function fromBase64(text) {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

const isBytesMarker = (value) =>
  value !== null && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length === 1 && Object.hasOwn(value, BYTES_KEY);

// A function, not an arrow: `this[key]` is the value before its toJSON (a Node.js Buffer's
// toJSON would otherwise turn it into { type: "Buffer", data: [...] }).
function replacer(key, value) {
  const raw = this[key];
  if (raw instanceof Uint8Array) return { [BYTES_KEY]: base64(raw) };
  if (isBytesMarker(value)) throw makeError("INVALID_INPUT", `an object whose only key is "${BYTES_KEY}" is reserved for bytes`);
  return value;
}

function reviver(_key, value) {
  if (isBytesMarker(value) && typeof value[BYTES_KEY] === "string") {
    try {
      return fromBase64(value[BYTES_KEY]);
    } catch {
      return value;
    }
  }
  return value;
}

/** An item in one line, for rewind's tools. */
function summary(item) {
  if (item?.type === "message" || (item?.type === undefined && typeof item?.role === "string")) {
    const content = typeof item.content === "string" ? item.content : Array.isArray(item.content) ? item.content.map((part) => part?.text ?? part?.refusal ?? `[${part?.type}]`).join(" ") : "";
    return `${item.role}: ${content}`;
  }
  if (item?.type === "function_call") return `function_call ${item.name}(${typeof item.arguments === "string" ? item.arguments : ""})`;
  return String(item?.type ?? "item");
}

/** JSON text with object keys sorted: the form transactions are compared in. */
function canonical(value, label) {
  try {
    return JSON.stringify(value, function (key, v) {
      v = replacer.call(this, key, v);
      if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
      return Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]]));
    });
  } catch (error) {
    if (error instanceof RewindError) throw error;
    throw makeError("INVALID_INPUT", `${label}: the transaction is not representable as JSON: ${error.message}`);
  }
}

function checkItems(label, items, what = "items") {
  if (!Array.isArray(items)) throw makeError("INVALID_INPUT", `${label}: ${what} must be an array`);
  items.forEach((item, i) => {
    if (item === null || typeof item !== "object" || Array.isArray(item)) {
      throw makeError("INVALID_INPUT", `${label}: ${what}[${i}] is not an object`);
    }
  });
}

/** The Agents SDK's mutation replace_function_call: the first call with the id replaced, the rest dropped. */
function applyMutations(items, mutations, label) {
  if (!Array.isArray(mutations)) throw makeError("INVALID_INPUT", `${label}: mutations must be an array`);
  let out = items;
  for (const mutation of mutations) {
    if (mutation?.type !== "replace_function_call" || typeof mutation.callId !== "string") {
      throw makeError("INVALID_INPUT", `${label}: unsupported history mutation ${JSON.stringify(mutation?.type)}`);
    }
    checkItems(label, [mutation.replacement], "replacement");
    const next = [];
    let kept = false;
    for (const item of out) {
      if (item?.type === "function_call" && item.callId === mutation.callId) {
        if (!kept) next.push(mutation.replacement);
        kept = true;
      } else next.push(item);
    }
    out = next;
  }
  return out;
}

/** An OpenAI Agents SDK `Session` whose history lives in a rewind store. */
export class RewindSession {
  /** The rewind store. */
  store;
  #id;
  #history;

  /**
   * @param store a rewind Store
   * @param options { sessionId }: the Agents SDK session id (default: a new random UUID). The
   *   same id on the same store is the same history, in this process or after a restart.
   */
  constructor(store, { sessionId = randomUuid() } = {}) {
    if (!store || typeof store.save !== "function") throw new TypeError("RewindSession needs a rewind Store");
    if (typeof sessionId !== "string" || sessionId === "") throw makeError("INVALID_INPUT", "a session id must be a non-empty string");
    this.store = store;
    this.#id = sessionId;
    const metadata = {};
    mirrorString(metadata, SESSION_KEY, sessionId);
    const name = sessionId.trim() !== "" && utf8Length(sessionId) <= 256 && wellFormed(sessionId) ? sessionId : "openai-agents session";
    this.#history = new ItemHistory(store, derivedUuid("openai-agents-session", sessionId), {
      name,
      metadata,
      label: `session ${sessionId}`,
      replacer,
      reviver,
      summarise: summary,
      emptyMessage: "history cleared",
    });
  }

  /** The rewind session id holding this history. */
  get rewindSession() {
    return this.#history.session;
  }

  /** The Agents SDK session id. */
  async getSessionId() {
    return this.#id;
  }

  /** The history's items (the most recent `limit`, oldest first, when given). */
  async getItems(limit) {
    const h = this.#history;
    return h.serialise(async () => {
      const { texts } = await h.current();
      if (limit === undefined || limit === null || limit === Infinity) return h.parse(texts);
      if (!(limit > 0)) return [];
      return h.parse(texts.slice(Math.max(texts.length - Math.floor(limit), 0)));
    });
  }

  /** Appends items (one checkpoint: all of them are stored or none). */
  async addItems(items) {
    checkItems(`session ${this.#id}`, items);
    if (items.length === 0) return;
    const h = this.#history;
    const texts = h.textsOf(items);
    await h.serialise(async () => {
      const { texts: now } = await h.current();
      await h.write([...now, ...texts]);
    });
  }

  /**
   * Removes the last item and returns it: the head moves back to the version without it (or a
   * version without it is forked), and the version with it stays reachable as a branch.
   */
  async popItem() {
    const h = this.#history;
    return h.serialise(async () => {
      const { texts } = await h.current();
      if (texts.length === 0) return undefined;
      await h.write(texts.slice(0, -1));
      return h.parse(texts.slice(-1))[0];
    });
  }

  /**
   * Starts an empty history (a new root); the earlier one stays in the store as a branch.
   * Transaction ids applied before are forgotten, as MemorySession forgets them.
   */
  async clearSession() {
    const h = this.#history;
    await h.serialise(async () => {
      if (h.head() !== null) await h.write([], { metadata: { [CLEARED_KEY]: true }, root: true });
    });
  }

  /**
   * Replaces the history with a compaction item and the items it keeps (the Agents SDK's
   * compaction): a fork, so the history before compaction stays reachable.
   */
  async replaceHistoryWithCompaction(items) {
    checkItems(`session ${this.#id}`, items);
    const h = this.#history;
    const texts = h.textsOf(items);
    await h.serialise(() => h.write(texts));
  }

  /** Applies the Agents SDK's history mutations (replace_function_call) as one change. */
  async applyHistoryMutations({ mutations } = {}) {
    const h = this.#history;
    await h.serialise(async () => {
      const { texts } = await h.current();
      const next = applyMutations(h.parse(texts), mutations, `session ${this.#id}`);
      await h.write(h.textsOf(next));
    });
  }

  /**
   * Applies a history transaction atomically and at most once: `append_items`, or
   * `replace_suffix` (fails, changing nothing, unless the history ends with `expectedSuffix`).
   * Repeating an operation id with the same transaction does nothing; with another transaction it
   * fails. The id is recorded in the checkpoint that applies the change.
   */
  async applyHistoryTransaction(args) {
    const label = `session ${this.#id}`;
    const operationId = args?.operationId;
    const transaction = args?.transaction;
    if (typeof operationId !== "string" || operationId.trim() === "") {
      throw makeError("INVALID_INPUT", `${label}: a transaction's operationId must be a non-empty string`);
    }
    if (transaction?.type === "append_items") checkItems(label, transaction.items);
    else if (transaction?.type === "replace_suffix") {
      checkItems(label, transaction.expectedSuffix, "expectedSuffix");
      checkItems(label, transaction.replacement, "replacement");
    } else throw makeError("INVALID_INPUT", `${label}: unsupported transaction type ${JSON.stringify(transaction?.type)}`);
    const digest = derivedUuid("transaction", canonical(transaction, label));
    const h = this.#history;
    // The items as given now (the caller may reuse its arrays once this returns a promise).
    const appended = transaction.type === "append_items" ? h.textsOf(transaction.items) : null;
    const expected = transaction.type === "replace_suffix" ? transaction.expectedSuffix.map((item) => canonical(item, label)) : null;
    const replacement = transaction.type === "replace_suffix" ? h.textsOf(transaction.replacement) : null;
    await h.serialise(async () => {
      const applied = this.#applied(operationId);
      if (applied !== undefined) {
        if (applied !== digest) throw makeError("INVALID_INPUT", `${label}: operation ${operationId} was already applied with a different transaction`);
        return;
      }
      const { texts } = await h.current();
      let next;
      if (appended !== null) next = [...texts, ...appended];
      else {
        const start = texts.length - expected.length;
        const actual = start < 0 ? null : h.parse(texts.slice(start));
        if (actual === null || actual.some((item, i) => canonical(item, label) !== expected[i])) {
          throw makeError("INVALID_INPUT", `${label}: the history no longer ends with the transaction's expected suffix`);
        }
        next = [...texts.slice(0, start), ...replacement];
      }
      await h.write(next, { metadata: { [OPERATION_KEY]: operationId, [DIGEST_KEY]: digest }, force: true });
    });
  }

  /**
   * The digest recorded with `operationId` in this session since it was last cleared, on any
   * branch (undefined when the id was not applied).
   */
  #applied(operationId) {
    const session = this.#history.session;
    if (!this.#history.exists()) return undefined;
    const [found] = this.store.list({ session, metadata: { [OPERATION_KEY]: operationId }, limit: 1 }).items;
    if (found === undefined) return undefined;
    const [cleared] = this.store.list({ session, metadata: { [CLEARED_KEY]: true }, limit: 1 }).items;
    if (cleared !== undefined && cleared.seq > found.seq) return undefined;
    return found.metadata[DIGEST_KEY];
  }

  /**
   * Every version of this history: { checkpoint, items (count), createdAt, message, current }
   * for each checkpoint, oldest first. Earlier versions — before a pop, a clear, a compaction —
   * are among them.
   */
  versions() {
    if (!this.#history.exists()) return [];
    const head = this.#history.head();
    const out = [];
    let cursor;
    do {
      const page = this.store.list({ session: this.#history.session, order: "asc", limit: 256, cursor });
      for (const checkpoint of page.items) {
        out.push({
          checkpoint: checkpoint.id,
          items: ItemHistory.countOf(checkpoint),
          createdAt: checkpoint.createdAt,
          message: checkpoint.message,
          current: checkpoint.id === head,
        });
      }
      cursor = page.next;
    } while (cursor);
    return out;
  }

  /** Makes a version (a checkpoint from versions()) the current history; returns its items. */
  async switchTo(checkpoint) {
    const h = this.#history;
    return h.serialise(async () => h.parse(await h.moveTo(checkpoint)));
  }

  /** Deletes every version of this history from the store. */
  async deleteHistory() {
    const h = this.#history;
    await h.serialise(async () => {
      if (h.exists()) await this.store.deleteSession(h.session);
      h.forget();
    });
  }
}
