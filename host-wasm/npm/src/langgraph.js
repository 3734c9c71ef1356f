// RewindSaver: a LangGraph.js checkpoint saver (BaseCheckpointSaver) over a rewind store.
//
// Imported as "rewind-store/langgraph"; the core package never imports LangGraph.
//
// Mapping
//   thread_id      -> a rewind session. Its id is derived: uuid5("thread:" + thread_id) in a fixed
//                     namespace, so the same thread finds the same session in every store and tab
//                     (no name table to keep in sync). The session is named after the thread and
//                     its metadata holds { langgraph_thread_id }.
//   checkpoint_ns  -> the rewind checkpoint's namespace ("" is the root graph).
//   checkpoint id  -> the rewind checkpoint id, as given (LangGraph's uuid6 ids are UUIDs, which
//                     rewind accepts). An id that is not a canonical UUID, or that another thread
//                     or namespace already uses (rewind ids are store-wide), is stored under
//                     uuid5(JSON [thread, ns, id]) with the original in the rewind metadata key
//                     "langgraph:checkpoint_id" (which LangGraph metadata cannot set).
//   parent         -> the rewind parent, so LangGraph forks (time travel) are rewind branches.
//   checkpoint     -> the rewind state: serde.dumpsTyped({ checkpoint without channel_values,
//                     metadata, parent, blobs }), the serde type tag in the content type
//                     (application/vnd.langgraph.checkpoint+json for "json",
//                     application/vnd.langgraph.checkpoint; serde=<tag> otherwise).
//   channel values -> attachments "c:<channel>" on the checkpoint whose put() listed the channel in
//                     newVersions, each serialised once with serde.dumpsTyped (type tag in the
//                     content type: application/json for "json"), written in the checkpoint's
//                     transaction and sharing its chunk-list prefix with the previous version
//                     (a growing message list logs its new messages only). `blobs` maps every
//                     channel to the checkpoint holding its value; later checkpoints point at
//                     it, and reads rebuild channel_values from those attachments. Small values
//                     live in the envelope instead, copied to children that keep them: null,
//                     booleans, finite numbers and strings of at most 64 characters as
//                     themselves in its `values` map (serialised with the envelope, no serde
//                     call of their own), other values whose serialised JSON is at most 64
//                     bytes as that text in its `inline` map. A channel the checkpoint has but
//                     neither lists in newVersions nor shares with its parent (same version) is
//                     stored too when the thread and namespace stored that channel at that
//                     version before (a copy of a sibling: updateState(config, undefined,
//                     "__copy__")): the value given, its chunks shared with the earlier one. An
//                     index of the stored (channel, version)s, built from the envelopes the first
//                     time a put needs it, answers that. A channel at a version stored nowhere is
//                     not invented: as in LangGraph's delta savers (Postgres), newVersions says
//                     what is new.
//   pending writes -> attachments 'w:["<task_path>","<task_id>",<idx>,"<channel>"]' on their
//                     checkpoint, returned in LangGraph's writesSortKey order.
//   long names     -> rewind limits keys and namespaces to 256 bytes: longer channel names use the
//                     key "c#<uuid5>", longer write keys "w#<uuid5>" (their text in "k#<uuid5>"),
//                     longer namespaces "#<uuid5>" (the original in the rewind metadata key
//                     "langgraph:checkpoint_ns").
//   odd strings    -> JavaScript strings may hold lone surrogates (text cut inside an emoji);
//                     rewind's are UTF-8. Thread ids, namespaces, channel names and ids holding
//                     them are derived names as above (uuid5 of their JSON text), and the
//                     originals are kept in rewind metadata as JSON text under "<key>~json".
//                     Everything round-trips exactly through the saver.
//   metadata       -> in the serialised state (exact round trip through serde) and, as JSON, in
//                     the rewind metadata (for rewind queries and tools; lone surrogates shown as
//                     U+FFFD; only source and step when the whole cannot be mirrored). Metadata
//                     the envelope's JSON cannot hold (a BigInt, a cycle) is serialised on its
//                     own into the attachment "m:", so the serde's answer for it (LangGraph's
//                     replaces it with a placeholder) spoils nothing else. Tags
//                     "langgraph:<source>" and the message "<source> step <n>" make the
//                     checkpoints readable in rewind's own tools.
//   the same id    -> a put of an id the thread and namespace already have replaces that
//     again           checkpoint, as in MemorySaver: the new one (with a new rewind id, the
//                     LangGraph id in "langgraph:checkpoint_id") keeps the old one's pending
//                     writes; the old one is deleted once the new one is stored, or, when rewind
//                     children still take values from it, stays in the store out of LangGraph's
//                     sight (where a thread has two checkpoints with one LangGraph id, the newer
//                     is the one LangGraph sees). A put or putWrites of a checkpoint waits for
//                     the ones before it.
//
// A per-store catalogue (thread -> namespace -> checkpoint ids, sorted) answers "latest" and
// list() in LangGraph's order (checkpoint id descending) without asking the engine for checkpoint
// objects. It is built from store.list() once per session and kept current by put() and by the
// store's events (deletions, compaction, reloads, checkpoints made by others).

import {
  BaseCheckpointSaver,
  TASKS,
  WRITES_IDX_MAP,
  compareWritesSortKeys,
  copyCheckpoint,
  getCheckpointId,
  maxChannelVersion,
  uuid5,
  uuid6,
  writesSortKey,
} from "@langchain/langgraph-checkpoint";
import { Store } from "./index.js";

/** Namespace of the uuid5 ids derived from thread ids and checkpoint ids. */
const ID_NAMESPACE = "4f0d2c8e-6b1a-5c3e-9d47-2a1b8e6f0c53";
const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const CT_CHECKPOINT = "application/vnd.langgraph.checkpoint";
const CT_VALUE = "application/vnd.langgraph.value";
const CT_WRITE = "application/vnd.langgraph.write";
const CT_METADATA = "application/vnd.langgraph.metadata";
const VALUE_KEY = "c:";
/** A value whose key would be too long (or not UTF-8): "c#<uuid>". */
const LONG_VALUE_KEY = "c#";
/** LangGraph metadata serialised on its own (when the envelope's JSON cannot hold it). */
const METADATA_KEY = "m:";
const WRITE_KEY = "w:";
/** A write whose key would be too long: "w#<uuid>", its key text in the attachment "k#<uuid>". */
const LONG_WRITE_KEY = "w#";
const LONG_WRITE_NAME = "k#";
/** rewind's limits on attachment keys and namespaces (bytes). */
const MAX_KEY_BYTES = 256;
const MAX_NAMESPACE_BYTES = 256;
/** Session metadata key naming the thread. */
const THREAD_KEY = "langgraph_thread_id";
/** Rewind metadata key holding a checkpoint id that is not the rewind id. */
const ID_KEY = "langgraph:checkpoint_id";
/** Rewind metadata key holding a namespace too long for rewind (stored as "#<uuid>"). */
const NS_KEY = "langgraph:checkpoint_ns";
/** Rewind metadata keys the saver sets itself (mirrorString() forms included). */
const RESERVED_METADATA_KEYS = [ID_KEY, `${ID_KEY}~json`, NS_KEY, `${NS_KEY}~json`];
/** Rewind metadata keeps LangGraph metadata up to this size (the rest stays in the state). */
const MAX_MIRRORED_METADATA = 32 << 10;

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });
/** Channel values serialised to at most this many bytes of JSON live in the envelope itself. */
const MAX_INLINE_BYTES = 64;

// ----- small helpers ------------------------------------------------------------------------

/** Content type carrying a serde type tag. */
function contentType(base, type) {
  return type === "json" ? `${base}+json` : `${base}; serde=${encodeURIComponent(type)}`;
}

/**
 * Content type of a channel value or write: plain application/json for serde's "json" (the
 * attachment key already says what it is, and every byte of a record counts), else the base
 * with the serde tag.
 */
function valueContentType(base, type) {
  return type === "json" ? "application/json" : contentType(base, type);
}

/**
 * Whether a channel value is stored as itself in the envelope's `values` (serialised with the
 * envelope): primitives whose serialisation nested in an object is the one they have alone.
 */
function embeddable(value) {
  switch (typeof value) {
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value);
    case "string":
      return value.length <= MAX_INLINE_BYTES;
    case "object":
      return value === null;
    default:
      return false;
  }
}

/** The JSON text of a small "json" value, to keep in the envelope; null if not inlined. */
function inlineText(type, bytes) {
  if (type !== "json" || bytes.length > MAX_INLINE_BYTES) return null;
  try {
    return strictDecoder.decode(bytes);
  } catch {
    return null;
  }
}

/** The serde type tag of a content type made by contentType(), or null if it is not ours. */
function serdeType(base, ct) {
  if (typeof ct !== "string" || !ct.startsWith(base)) return null;
  const rest = ct.slice(base.length);
  if (rest === "+json") return "json";
  if (rest.startsWith("; serde=")) return decodeURIComponent(rest.slice(8));
  return null;
}

const utf8Length = (text) => encoder.encode(text).length;

const hasOwn = (object, key) => Object.prototype.hasOwnProperty.call(object, key);

// JavaScript strings may hold lone surrogates (a string cut in the middle of an emoji); rewind's
// strings are UTF-8, which cannot. Names that reach rewind are either well formed, or derived
// (uuid5 of their JSON text, which escapes lone surrogates), or mirrored as JSON text.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Whether a string has no lone surrogates. */
function wellFormed(text) {
  if (typeof text.isWellFormed === "function") return text.isWellFormed();
  LONE_SURROGATE.lastIndex = 0;
  return !LONE_SURROGATE.test(text);
}

/** The string with each lone surrogate replaced by U+FFFD (for text rewind only displays). */
function toWellFormed(text) {
  if (typeof text.toWellFormed === "function") return text.toWellFormed();
  return text.replace(LONE_SURROGATE, "\uFFFD");
}

/** At most `max` UTF-16 units of a string, not cutting a surrogate pair in two. */
function truncate(text, max) {
  if (text.length <= max) return text;
  const code = text.charCodeAt(max - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}

/** A uuid5 naming `value` of kind `kind`, for any string (lone surrogates included). */
function derivedUuid(kind, value) {
  const name = wellFormed(value) ? `${kind}:${value}` : `${kind}~json:${JSON.stringify(value)}`;
  return uuid5(name, ID_NAMESPACE);
}

/**
 * Sets a string in rewind metadata under `key`, or its JSON text under `key + "~json"` when it
 * holds lone surrogates (rewind metadata is UTF-8 JSON).
 */
function mirrorString(metadata, key, value) {
  if (wellFormed(value)) metadata[key] = value;
  else metadata[`${key}~json`] = JSON.stringify(value);
}

/** The string mirrorString() stored under `key`, or undefined. */
function mirroredString(metadata, key) {
  const plain = metadata?.[key];
  if (typeof plain === "string") return plain;
  const json = metadata?.[`${key}~json`];
  if (typeof json !== "string") return undefined;
  try {
    const value = JSON.parse(json);
    return typeof value === "string" ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The attachment key of a channel's value. */
function valueKey(channel) {
  const key = VALUE_KEY + channel;
  return utf8Length(key) <= MAX_KEY_BYTES && wellFormed(channel) ? key : LONG_VALUE_KEY + derivedUuid("channel", channel);
}

/** The rewind namespace of a LangGraph checkpoint_ns. */
function rewindNamespace(ns) {
  return utf8Length(ns) <= MAX_NAMESPACE_BYTES && wellFormed(ns) ? ns : `#${derivedUuid("namespace", ns)}`;
}

function asBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (typeof data === "string") return encoder.encode(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  throw new TypeError("the serializer returned neither bytes nor a string");
}

function missing(what, method) {
  return new Error(
    `Failed to ${method}. The passed RunnableConfig is missing a required "${what}" field in its ` +
      `"configurable" property.`,
  );
}

function requireString(value, what) {
  if (typeof value !== "string") {
    throw new Error(`Invalid configurable value for key "${what}": expected a string (got ${typeof value}).`);
  }
  return value;
}

function threadOf(config, method) {
  const thread = config?.configurable?.thread_id;
  if (thread === undefined || thread === null || thread === "") throw missing("thread_id", method);
  return requireString(thread, "thread_id");
}

function namespaceOf(config) {
  const ns = config?.configurable?.checkpoint_ns ?? "";
  return requireString(ns, "checkpoint_ns");
}

function isNotFound(error) {
  return error?.code === "CHECKPOINT_NOT_FOUND" || error?.code === "SESSION_NOT_FOUND";
}

/** JSON equality (filters compare like the SQL savers: by value, not by reference). */
function jsonEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  try {
    return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
  } catch {
    return false;
  }
}

function canonical(value) {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object") {
    const out = {};
    for (const key of Object.keys(value).sort()) out[key] = canonical(value[key]);
    return out;
  }
  return value;
}

function matchesFilter(metadata, filter) {
  if (!filter) return true;
  for (const [key, value] of Object.entries(filter)) {
    if (value === undefined) continue;
    if (!jsonEqual(metadata?.[key], value)) return false;
  }
  return true;
}

/**
 * LangGraph metadata as rewind metadata (a JSON object for queries and tools), and whether the
 * metadata is plain JSON (no BigInt, no cycle, nothing that throws), so that the saver's serde can
 * serialise it inside the envelope. Strings with lone surrogates are mirrored with U+FFFD; metadata
 * too large or with such keys is mirrored as its `source` and `step` only.
 */
function mirrorMetadata(metadata) {
  if (!metadata || typeof metadata !== "object") return { mirror: {}, plain: true };
  let plain = true;
  let badKey = false;
  let text;
  try {
    text = JSON.stringify(metadata, (key, value) => {
      if (!wellFormed(key)) badKey = true;
      if (typeof value === "bigint") {
        plain = false;
        return String(value);
      }
      return typeof value === "string" && !wellFormed(value) ? toWellFormed(value) : value;
    });
  } catch {
    plain = false;
    text = undefined;
  }
  if (text === undefined || badKey || text.length > MAX_MIRRORED_METADATA) {
    return { mirror: minimalMirror(metadata), plain };
  }
  const parsed = JSON.parse(text);
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) return { mirror: {}, plain };
  // The saver's own keys say where a checkpoint belongs: LangGraph metadata cannot set them.
  for (const key of RESERVED_METADATA_KEYS) if (hasOwn(parsed, key)) delete parsed[key];
  return { mirror: parsed, plain };
}

/** The rewind metadata kept when the whole LangGraph metadata cannot be: source and step. */
function minimalMirror(metadata) {
  const out = {};
  for (const key of ["source", "step"]) {
    const v = metadata?.[key];
    if (typeof v === "string") out[key] = toWellFormed(v);
    else if (typeof v === "number" && Number.isFinite(v)) out[key] = v;
  }
  return out;
}

/**
 * Rejects channel versions the envelope cannot hold: LangGraph's are numbers or strings, and a
 * BigInt would turn the serde's JSON of the whole checkpoint into an error placeholder.
 */
function rejectBigIntVersions(checkpoint) {
  const check = (versions) => {
    if (!versions || typeof versions !== "object") return;
    for (const v of Object.values(versions)) {
      if (typeof v === "bigint") {
        throw new TypeError("Failed to put checkpoint: channel versions must be numbers or strings, not BigInt.");
      }
    }
  };
  check(checkpoint.channel_versions);
  for (const seen of Object.values(checkpoint.versions_seen ?? {})) check(seen);
}

/** The key of a (channel, version) in a namespace's index of stored values. */
const storedKey = (channel, version) => JSON.stringify([channel, version]);

/**
 * Adds the (channel, version)s a checkpoint has (its put's info: owners resolved) to an index,
 * with the checkpoint holding each attachment (a hint for sharing chunks, never read as the
 * value: a put stores the value it is given).
 */
function indexStored(index, info) {
  for (const [ch, owner] of Object.entries(info.blobs)) index.set(storedKey(ch, info.versions[ch]), { owner });
  for (const ch of [...Object.keys(info.inline), ...Object.keys(info.values)]) {
    const key = storedKey(ch, info.versions[ch]);
    if (!index.has(key)) index.set(key, {});
  }
}

/** Sorted insertion position of `id` in ascending `ids` (first index with ids[i] >= id). */
function lowerBound(ids, id) {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid] < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// ----- the catalogue shared by every saver on one store --------------------------------------

/** LangGraph checkpoints of one (thread, namespace), by checkpoint id. */
class Namespace {
  constructor() {
    /** Checkpoint ids, ascending once sort() ran. */
    this.ids = [];
    this.sorted = true;
    /** checkpoint id -> entry { id, rid, type, bare } */
    this.entries = new Map();
    /**
     * What this (thread, namespace) stored, once a put needed it (#storedIndex): `map` is
     * (channel, version) -> { owner? }, complete when `ready` resolves; puts add to it meanwhile.
     */
    this.index = null;
  }

  /** Adds an entry; one with the id of an entry already here replaces it (a later put). */
  add(entry) {
    if (this.entries.has(entry.id)) {
      this.entries.set(entry.id, entry);
      return;
    }
    const last = this.ids[this.ids.length - 1];
    if (last !== undefined && !(last < entry.id)) this.sorted = false;
    this.ids.push(entry.id);
    this.entries.set(entry.id, entry);
  }

  sort() {
    if (!this.sorted) {
      this.ids.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      this.sorted = true;
    }
    return this.ids;
  }
}

/** LangGraph checkpoints of one session. */
class Catalogue {
  constructor() {
    /** namespace -> Namespace */
    this.namespaces = new Map();
    /**
     * rewind ids of every entry, and of checkpoints a re-put replaced that stay because their
     * children take values from them
     */
    this.rids = new Set();
  }

  ns(name, create = false) {
    let ns = this.namespaces.get(name);
    if (!ns && create) {
      ns = new Namespace();
      this.namespaces.set(name, ns);
    }
    return ns;
  }

  get(name, id) {
    return this.namespaces.get(name)?.entries.get(id);
  }

  add(name, entry) {
    this.ns(name, true).add(entry);
    this.rids.add(entry.rid);
  }
}

class Shared {
  constructor(store) {
    this.store = store;
    /** thread id -> session id (a pure function, cached) */
    this.sids = new Map();
    /** session ids known to exist */
    this.sessions = new Set();
    /** session id -> Catalogue */
    this.catalogues = new Map();
    /** rewind ids this process is creating or deleting (their events are not news) */
    this.own = new Set();
    /** "thread\0ns\0id" -> promise of the put() storing it */
    this.inflight = new Map();
    /** "thread\0ns\0id" -> writes waiting for their checkpoint's put() */
    this.parked = new Map();
    /** rid -> { versions, blobs } of recent puts (a small cache for the next put's parent) */
    this.recent = new Map();
    store.subscribe((event) => this.onEvent(event));
  }

  onEvent(event) {
    switch (event.type) {
      case "created":
        if (!this.own.has(event.checkpoint)) this.catalogues.delete(event.session);
        break;
      case "deleted":
        this.recent.delete(event.checkpoint);
        if (!this.own.has(event.checkpoint)) this.catalogues.delete(event.session);
        break;
      case "sessionDeleted":
        this.catalogues.delete(event.session);
        this.sessions.delete(event.session);
        break;
      case "compacted":
      case "reloaded":
        this.catalogues.clear();
        this.sessions.clear();
        this.recent.clear();
        break;
      default:
        break;
    }
  }

  sid(thread) {
    let sid = this.sids.get(thread);
    if (sid === undefined) {
      sid = derivedUuid("thread", thread);
      this.sids.set(thread, sid);
    }
    return sid;
  }

  exists(sid) {
    if (this.sessions.has(sid)) return true;
    try {
      this.store.session(sid);
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
    this.sessions.add(sid);
    return true;
  }

  async ensureSession(thread) {
    const sid = this.sid(thread);
    if (this.exists(sid)) return sid;
    const bytes = encoder.encode(thread).length;
    const name = thread.trim() !== "" && bytes <= 256 && wellFormed(thread) ? thread : "langgraph thread";
    const metadata = {};
    mirrorString(metadata, THREAD_KEY, thread);
    try {
      await this.store.createSession(name, metadata, sid);
    } catch (error) {
      if (error?.code !== "DUPLICATE_ID") throw error;
    }
    this.sessions.add(sid);
    return sid;
  }

  /** The session's catalogue, built from the store on first use. */
  catalogue(sid) {
    let cat = this.catalogues.get(sid);
    if (cat) return cat;
    cat = new Catalogue();
    for (const cp of this.store.list({ session: sid, order: "asc" }).items) {
      const type = serdeType(CT_CHECKPOINT, cp.contentType);
      if (type === null) continue; // not a LangGraph checkpoint
      const id = mirroredString(cp.metadata, ID_KEY) ?? cp.id;
      const ns = mirroredString(cp.metadata, NS_KEY) ?? cp.namespace;
      cat.add(ns, { id, rid: cp.id, type, bare: false });
    }
    this.catalogues.set(sid, cat);
    return cat;
  }

  /** Every LangGraph thread of the store: [{ sid, thread }]. */
  threads() {
    const out = [];
    for (const s of this.store.sessions()) {
      const thread = mirroredString(s.metadata, THREAD_KEY);
      if (typeof thread === "string" && this.sid(thread) === s.id) out.push({ sid: s.id, thread });
    }
    return out;
  }

  remember(rid, info) {
    this.recent.set(rid, info);
    if (this.recent.size > 256) this.recent.delete(this.recent.keys().next().value);
  }
}

const SHARED = new WeakMap();

function shared(store) {
  let s = SHARED.get(store);
  if (!s) {
    s = new Shared(store);
    SHARED.set(store, s);
  }
  return s;
}

const key3 = (thread, ns, id) => `${thread}\u0000${ns}\u0000${id}`;

// ----- the saver -----------------------------------------------------------------------------

/**
 * A LangGraph checkpoint saver storing threads in a rewind store (memory or IndexedDB).
 *
 *     const saver = new RewindSaver(await Store.open({ backend: "indexeddb", name: "agent" }));
 *     const graph = builder.compile({ checkpointer: saver });
 */
export class RewindSaver extends BaseCheckpointSaver {
  #shared;

  /**
   * @param {import("./index.js").Store} store
   * @param {{ serde?: object, tags?: (checkpoint: object, metadata: object, config: object) => string[] }} [options]
   */
  constructor(store, options = {}) {
    super(options.serde);
    if (!store || typeof store.checkpoint !== "function" || typeof store.attach !== "function") {
      throw new TypeError("RewindSaver needs a rewind Store");
    }
    /** The rewind store holding the threads. */
    this.store = store;
    this.#shared = shared(store);
    this.tagsFor = options.tags ?? null;
  }

  /** Opens a store (Store.open options) and returns a saver over it. */
  static async open(options = { backend: "memory" }, saverOptions = {}) {
    return new RewindSaver(await Store.open(options), saverOptions);
  }

  /** A saver over a new memory store. */
  static memory(saverOptions = {}) {
    return new RewindSaver(Store.memory(), saverOptions);
  }

  /** The rewind session id of a thread (whether or not it exists yet). */
  sessionId(threadId) {
    return this.#shared.sid(requireString(threadId, "thread_id"));
  }

  /**
   * The rewind checkpoint id of a LangGraph checkpoint (the LangGraph id itself, except for ids
   * that are not canonical UUIDs or that another thread already used), or null if not stored.
   */
  checkpointId(config) {
    const thread = threadOf(config, "resolve a checkpoint");
    const ns = namespaceOf(config);
    const id = getCheckpointId(config);
    const sid = this.#shared.sid(thread);
    if (!id || !this.#shared.exists(sid)) return null;
    return this.#shared.catalogue(sid).get(ns, id)?.rid ?? null;
  }

  // ----- reads ------------------------------------------------------------------------------

  async getTuple(config) {
    const thread = config?.configurable?.thread_id;
    if (thread === undefined || thread === null) return undefined;
    requireString(thread, "thread_id");
    const ns = namespaceOf(config);
    const id = getCheckpointId(config);
    const sh = this.#shared;
    if (id) {
      const pending = sh.inflight.get(key3(thread, ns, id));
      if (pending) await pending.catch(() => {});
    }
    const sid = sh.sid(thread);
    if (!sh.exists(sid)) return undefined;
    const cat = sh.catalogue(sid);
    if (id) {
      const entry = cat.get(ns, id);
      return entry ? this.#tuple(cat, entry, thread, ns, config, null) : undefined;
    }
    const space = cat.ns(ns);
    if (!space) return undefined;
    const ids = space.sort();
    for (let i = ids.length - 1; i >= 0; i--) {
      const entry = space.entries.get(ids[i]);
      if (!entry) continue;
      const tuple = await this.#tuple(cat, entry, thread, ns, null, null);
      if (tuple) return tuple;
    }
    return undefined;
  }

  async *list(config, options) {
    let { limit } = options ?? {};
    const { before, filter } = options ?? {};
    if (limit !== undefined && limit !== null && limit <= 0) return;
    const sh = this.#shared;
    const thread = config?.configurable?.thread_id;
    const nsWanted = config?.configurable?.checkpoint_ns;
    if (nsWanted !== undefined && nsWanted !== null) requireString(nsWanted, "checkpoint_ns");
    const only = config?.configurable?.checkpoint_id;
    const beforeId = before?.configurable?.checkpoint_id;

    let threads;
    if (thread) {
      requireString(thread, "thread_id");
      const sid = sh.sid(thread);
      threads = sh.exists(sid) ? [{ sid, thread }] : [];
    } else {
      threads = sh.threads();
    }

    // The streams to read, newest checkpoint id first: one per (thread, namespace).
    const streams = [];
    for (const t of threads) {
      const cat = sh.catalogue(t.sid);
      for (const [ns, space] of cat.namespaces) {
        if (nsWanted !== undefined && nsWanted !== null && ns !== nsWanted) continue;
        const ids = space.sort();
        let end = ids.length;
        if (beforeId) end = lowerBound(ids, beforeId);
        if (end > 0) streams.push({ cat, space, ns, thread: t.thread, ids: ids.slice(0, end) });
      }
    }
    let order;
    if (streams.length === 1) {
      const s = streams[0];
      order = { next: (i) => (i < s.ids.length ? [s, s.ids[s.ids.length - 1 - i]] : null) };
    } else {
      // Several threads or namespaces: one sequence by checkpoint id, newest first (like the SQL
      // savers; MemorySaver groups by thread and namespace instead).
      const all = [];
      for (const s of streams) for (const id of s.ids) all.push([s, id]);
      all.sort((a, b) => (a[1] < b[1] ? 1 : a[1] > b[1] ? -1 : 0));
      order = { next: (i) => all[i] ?? null };
    }

    const memo = new Map();
    for (let i = 0; ; i++) {
      const next = order.next(i);
      if (!next) break;
      const [s, id] = next;
      if (only && id !== only) continue;
      const entry = s.space.entries.get(id);
      if (!entry) continue;
      const tuple = await this.#tuple(s.cat, entry, s.thread, s.ns, null, memo, filter);
      if (!tuple) continue;
      if (limit !== undefined && limit !== null) {
        if (limit <= 0) break;
        limit -= 1;
      }
      yield tuple;
      if (limit === 0) break;
    }
  }

  /** Reads the envelope (the serialised checkpoint without values) of an entry, or null. */
  async #envelope(entry) {
    let bytes;
    try {
      bytes = this.store.state(entry.rid);
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
    const env = await this.serde.loadsTyped(entry.type, bytes);
    if (!env || typeof env !== "object" || !env.checkpoint || typeof env.checkpoint !== "object") {
      throw new Error(`RewindSaver: the serialised data of checkpoint ${entry.id} is not a checkpoint (serde type "${entry.type}").`);
    }
    return env;
  }

  /** The LangGraph metadata of a checkpoint: in its envelope, or serialised on its own. */
  async #metadata(entry, env) {
    if (hasOwn(env, "metadata")) return env.metadata;
    const a = this.#attachment(entry.rid, METADATA_KEY, CT_METADATA);
    return a ? this.serde.loadsTyped(a.type, a.bytes) : {};
  }

  /** Builds a CheckpointTuple, or undefined when the checkpoint is gone, incomplete or filtered out. */
  async #tuple(cat, entry, thread, ns, givenConfig, memo, filter) {
    const env = await this.#envelope(entry);
    if (!env) return undefined;
    const metadata = await this.#metadata(entry, env);
    if (filter && !matchesFilter(metadata, filter)) return undefined;
    const channelValues = {};
    for (const [channel, owner] of Object.entries(env.blobs ?? {})) {
      const found = await this.#value(cat, ns, entry, env, channel, owner, memo);
      if (found === undefined) {
        // The checkpoint's own value is missing (put() writes both in one transaction, so only
        // a store edited by hand gets here): the checkpoint does not exist for LangGraph.
        if (owner === null) return undefined;
        throw new Error(
          `RewindSaver: the value of channel "${channel}" of checkpoint ${entry.id} is gone ` +
            `(checkpoint ${owner} holding it was deleted). Use saver.compact() rather than ` +
            `store.compact() or store.delete() on LangGraph threads.`,
        );
      }
      channelValues[channel] = await this.serde.loadsTyped(found.type, found.bytes);
    }
    for (const [channel, text] of Object.entries(env.inline ?? {})) {
      channelValues[channel] = await this.serde.loadsTyped("json", encoder.encode(text));
    }
    for (const [channel, value] of Object.entries(env.values ?? {})) channelValues[channel] = value;
    const cp = env.checkpoint;
    const checkpoint = {
      v: cp.v,
      id: cp.id,
      ts: cp.ts,
      channel_values: channelValues,
      channel_versions: cp.channel_versions ?? {},
      versions_seen: cp.versions_seen ?? {},
    };
    const pendingWrites = entry.bare ? [] : await this.#writes(entry.rid);
    if (checkpoint.v < 4 && env.parent !== undefined && env.parent !== null) {
      await this.#migratePendingSends(cat, ns, env.parent, checkpoint);
    }
    const tuple = {
      config: givenConfig ?? { configurable: { thread_id: thread, checkpoint_ns: ns, checkpoint_id: cp.id } },
      checkpoint,
      metadata,
      pendingWrites,
    };
    if (env.parent !== undefined && env.parent !== null) {
      tuple.parentConfig = { configurable: { thread_id: thread, checkpoint_ns: ns, checkpoint_id: env.parent } };
    }
    return tuple;
  }

  /** Bytes and type of a channel value, found at its owner (or where compaction moved it). */
  async #value(cat, ns, entry, env, channel, owner, memo) {
    const key = valueKey(channel);
    const holder = owner ?? entry.rid;
    const memoKey = `${holder}\u0000${channel}`;
    const cached = memo?.get(memoKey);
    if (cached) return cached;
    let found = this.#attachment(holder, key);
    if (found === undefined && owner !== null) {
      // The owner was compacted away: saver.compact() copied the value to the checkpoints
      // that still need it — this one or one of its ancestors with the same version.
      found = this.#attachment(entry.rid, key);
      let parent = env.parent;
      const version = env.checkpoint?.channel_versions?.[channel];
      for (let hops = 0; found === undefined && parent != null && hops < 100_000; hops++) {
        const up = cat.get(ns, parent);
        if (!up) break;
        const upEnv = await this.#envelope(up);
        if (!upEnv) break;
        if (upEnv.checkpoint?.channel_versions?.[channel] === version) {
          found = this.#attachment(up.rid, key);
        }
        parent = upEnv.parent;
      }
    }
    if (found !== undefined && memo) memo.set(memoKey, found);
    return found;
  }

  #attachment(rid, key, base = CT_VALUE) {
    let a;
    try {
      a = this.store.attachment(rid, key);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
    if (!a) return undefined;
    return { type: serdeType(base, a.contentType) ?? "json", bytes: a.bytes };
  }

  /** Pending writes of a checkpoint in writesSortKey order: [taskId, channel, value][]. */
  async #writes(rid) {
    const records = this.#writeRecords(rid);
    const out = [];
    for (const r of records) {
      const a = this.store.attachment(rid, r.key);
      if (!a) continue;
      const type = serdeType(CT_WRITE, a.contentType) ?? "json";
      out.push([r.taskId, r.channel, await this.serde.loadsTyped(type, a.bytes)]);
    }
    return out;
  }

  /** The write attachments of a checkpoint, parsed and sorted. */
  #writeRecords(rid) {
    const records = [];
    for (const key of this.#attachmentKeys(rid)) {
      let text;
      let nameKey;
      if (key.startsWith(WRITE_KEY)) {
        text = key.slice(WRITE_KEY.length);
      } else if (key.startsWith(LONG_WRITE_KEY)) {
        nameKey = LONG_WRITE_NAME + key.slice(LONG_WRITE_KEY.length);
        const name = this.store.attachment(rid, nameKey);
        if (!name) continue;
        text = new TextDecoder().decode(name.bytes);
      } else {
        continue;
      }
      let parsed;
      try {
        parsed = JSON.parse(text);
      } catch {
        continue;
      }
      const [taskPath, taskId, idx, channel] = parsed;
      records.push({ key, nameKey, taskPath, taskId, idx, channel, sort: writesSortKey(taskPath, taskId, idx) });
    }
    records.sort((a, b) => compareWritesSortKeys(a.sort, b.sort));
    return records;
  }

  /** The attachment keys of a checkpoint (none if it is gone). */
  #attachmentKeys(rid) {
    try {
      return this.store.attachmentKeys(rid);
    } catch (error) {
      if (isNotFound(error)) return [];
      throw error;
    }
  }

  /** Checkpoints before format 4 kept pending sends as the parent's TASKS writes. */
  async #migratePendingSends(cat, ns, parentId, checkpoint) {
    const parent = cat.get(ns, parentId);
    const sends = [];
    if (parent) {
      for (const r of this.#writeRecords(parent.rid)) {
        if (r.channel !== TASKS) continue;
        const a = this.store.attachment(parent.rid, r.key);
        if (a) sends.push(await this.serde.loadsTyped(serdeType(CT_WRITE, a.contentType) ?? "json", a.bytes));
      }
    }
    checkpoint.channel_values[TASKS] = sends;
    const versions = Object.values(checkpoint.channel_versions);
    checkpoint.channel_versions[TASKS] =
      versions.length > 0 ? maxChannelVersion(...versions) : this.getNextVersion(undefined);
  }

  // ----- writes -----------------------------------------------------------------------------

  async put(config, checkpoint, metadata, newVersions) {
    const thread = threadOf(config, "put checkpoint");
    const ns = namespaceOf(config);
    const id = checkpoint?.id;
    if (typeof id !== "string" || id === "") throw new Error("Failed to put checkpoint: it has no id.");
    rejectBigIntVersions(checkpoint);
    // A child put right after its parent's (not awaited) reads what the parent stored. Taken
    // before this put queues itself, so two puts never wait for each other.
    const parentId = config.configurable?.checkpoint_id;
    const parentKey = typeof parentId === "string" && parentId !== id ? key3(thread, ns, parentId) : null;
    const parentPut = parentKey ? this.#shared.inflight.get(parentKey) : undefined;
    return this.#queued(key3(thread, ns, id), () => this.#put(config, thread, ns, checkpoint, metadata, newVersions ?? {}), parentPut);
  }

  /** Runs `fn` after every earlier put() and putWrites() of the same checkpoint (and `after`). */
  async #queued(key, fn, after = undefined) {
    const sh = this.#shared;
    const previous = sh.inflight.get(key);
    const run = (async () => {
      if (previous) await previous.catch(() => {});
      if (after) await after.catch(() => {});
      return fn();
    })();
    sh.inflight.set(key, run);
    try {
      return await run;
    } finally {
      if (sh.inflight.get(key) === run) sh.inflight.delete(key);
    }
  }

  async #put(config, thread, ns, checkpoint, metadata, newVersions) {
    const sh = this.#shared;
    const store = this.store;
    const prepared = copyCheckpoint(checkpoint);
    const values = prepared.channel_values;
    const versions = prepared.channel_versions;
    const id = prepared.id;
    const parentId = config.configurable?.checkpoint_id;
    const { mirror, plain } = mirrorMetadata(metadata);

    // What this put stores: the channels in newVersions, and those the checkpoint has at a
    // version the thread stored before but its parent does not have (a copy of a sibling:
    // updateState(config, undefined, "__copy__")). Small primitives go into the envelope as
    // they are; the rest is serialised with the saver's serde. Every other channel the
    // checkpoint has comes from its parent. A channel at a version stored nowhere is not
    // invented: like LangGraph's delta savers, newVersions says what is new.
    const sid = sh.sid(thread);
    let cat = sh.exists(sid) ? sh.catalogue(sid) : null;
    const parent = cat && parentId ? cat.get(ns, parentId) : undefined;
    const info = parent ? await this.#parentInfo(parent) : null;
    const blobs = {};
    const inline = {};
    const embedded = {};
    /** channel -> a checkpoint holding an earlier or equal version (the chunk-sharing base) */
    const bases = {};
    const storing = [];
    const unplaced = [];
    for (const ch of Object.keys(values)) {
      if (hasOwn(newVersions, ch)) {
        storing.push(ch);
        if (info && hasOwn(info.blobs, ch)) bases[ch] = info.blobs[ch];
      } else if (!hasOwn(versions, ch)) {
        continue;
      } else if (info && info.versions[ch] === versions[ch] && hasOwn(info.blobs, ch)) {
        // An owner compaction removed: the parent holds a copy (saver.compact() put it there).
        blobs[ch] = cat.rids.has(info.blobs[ch]) ? info.blobs[ch] : parent.rid;
      } else if (info && info.versions[ch] === versions[ch] && hasOwn(info.inline, ch)) {
        inline[ch] = info.inline[ch];
      } else if (info && info.versions[ch] === versions[ch] && hasOwn(info.values, ch)) {
        embedded[ch] = info.values[ch];
      } else {
        unplaced.push(ch);
      }
    }
    const space = cat?.ns(ns);
    if (unplaced.length > 0 && space) {
      const index = await this.#storedIndex(space);
      for (const ch of unplaced) {
        const found = index.get(storedKey(ch, versions[ch]));
        if (!found) continue;
        storing.push(ch);
        if (found.owner !== undefined) bases[ch] = found.owner;
      }
    }
    // Serialise before writing anything: a serializer error leaves nothing behind.
    const fresh = storing.filter((ch) => {
      if (!embeddable(values[ch])) return true;
      embedded[ch] = values[ch];
      return false;
    });
    const serialised = await Promise.all(fresh.map((ch) => this.serde.dumpsTyped(values[ch])));
    // Metadata the envelope's JSON cannot hold (a BigInt, a cycle) is serialised on its own, as
    // LangGraph's savers do, so the serde's answer for it cannot spoil the rest.
    const metadataAlone = plain ? null : await this.serde.dumpsTyped(metadata);
    /** Indexes into `fresh` of the values stored as attachments. */
    const attached = [];
    for (let i = 0; i < fresh.length; i++) {
      const [valueType, data] = serialised[i];
      const text = inlineText(valueType, asBytes(data));
      if (text !== null) inline[fresh[i]] = text;
      else {
        blobs[fresh[i]] = null;
        attached.push(i);
      }
    }

    const envelope = {
      checkpoint: {
        v: prepared.v,
        id,
        ts: prepared.ts,
        channel_versions: versions,
        versions_seen: prepared.versions_seen,
      },
      parent: parentId,
      blobs,
    };
    if (plain) envelope.metadata = metadata;
    if (Object.keys(inline).length > 0) envelope.inline = inline;
    if (Object.keys(embedded).length > 0) envelope.values = embedded;
    const [type, stateData] = await this.serde.dumpsTyped(envelope);
    const state = asBytes(stateData);

    await sh.ensureSession(thread);
    cat ??= sh.catalogue(sid);
    const source = typeof metadata?.source === "string" && metadata.source !== "" ? toWellFormed(metadata.source) : null;
    const step = typeof metadata?.step === "number" ? metadata.step : null;
    let tags = source && source.length <= 100 ? [`langgraph:${source}`] : [];
    if (this.tagsFor) tags = tags.concat(this.tagsFor(checkpoint, metadata, config) ?? []);
    const rns = rewindNamespace(ns);
    // The new channel values (and writes that arrived before this put) are attachments written
    // in the checkpoint's transaction. A value shares its chunk-list prefix with its previous
    // version, so a growing message list logs its new messages only.
    const attachments = [];
    for (const i of attached) {
      const [valueType, data] = serialised[i];
      const value = { key: valueKey(fresh[i]), contentType: valueContentType(CT_VALUE, valueType), bytes: asBytes(data) };
      const base = bases[fresh[i]];
      if (base !== undefined && cat.rids.has(base)) value.base = base;
      attachments.push(value);
    }
    if (metadataAlone) {
      const [metaType, data] = metadataAlone;
      attachments.push({ key: METADATA_KEY, contentType: valueContentType(CT_METADATA, metaType), bytes: asBytes(data) });
    }
    const key = key3(thread, ns, id);
    const parked = sh.parked.get(key);
    const entry = { id, rid: null, type, bare: !parked };
    const taken = new Set();
    const writes = new Map();
    if (parked) for (const batch of parked) this.#writeAttachments(batch, taken, writes);
    // Putting an id again replaces the checkpoint (as in MemorySaver) with a new rewind
    // checkpoint that keeps the old one's pending writes. The old one is deleted once the new one
    // is stored, or, when rewind children still read values from it, left out of the catalogue.
    const existing = cat.get(ns, id);
    if (existing) {
      for (const r of this.#writeRecords(existing.rid)) {
        if (taken.has(`${r.taskId}\u0000${r.idx}`)) continue;
        taken.add(`${r.taskId}\u0000${r.idx}`);
        for (const k of [r.key, r.nameKey]) {
          const a = k && !writes.has(k) ? store.attachment(existing.rid, k) : null;
          if (a) writes.set(k, { key: k, contentType: a.contentType, bytes: a.bytes });
        }
      }
      entry.bare = writes.size === 0;
    }
    attachments.push(...writes.values());

    const input = {
      session: sid,
      message: `${truncate(source ?? "checkpoint", 200)}${step !== null ? ` step ${step}` : ""}`,
      state,
      contentType: contentType(CT_CHECKPOINT, type),
      tags,
      trigger: { kind: "automatic", reason: "langgraph" },
      namespace: rns,
      attachments,
    };
    if (parent) input.parent = parent.rid;
    else input.root = true;

    // The rewind id: the LangGraph id as given when it can be, a derived one when it is not a
    // UUID or another thread uses it, a new one for a checkpoint put again.
    let rid = existing ? uuid6(-1) : CANONICAL_UUID.test(id) ? id : this.#derivedId(thread, ns, id);
    let reduced = false;
    for (;;) {
      const attempt = rid;
      input.id = rid;
      input.metadata = reduced ? minimalMirror(metadata) : rid === id && rns === ns ? mirror : { ...mirror };
      if (rns !== ns) mirrorString(input.metadata, NS_KEY, ns);
      if (rid !== id) mirrorString(input.metadata, ID_KEY, id);
      sh.own.add(attempt);
      try {
        await store.save(input);
        break;
      } catch (error) {
        // The id is taken by another thread or namespace (rewind ids are store-wide).
        if (error?.code === "DUPLICATE_ID" && rid === id) {
          rid = this.#derivedId(thread, ns, id);
          continue;
        }
        // rewind refused the mirrored metadata (nested too deeply for its JSON, over a
        // maxMetadataBytes set on the store): mirror source and step only. The LangGraph metadata
        // itself is in the envelope either way.
        const metadataRefused =
          error?.code === "INVALID_INPUT" || (error?.code === "LIMIT_EXCEEDED" && /^metadata size/.test(error.message));
        if (metadataRefused && !reduced) {
          reduced = true;
          continue;
        }
        throw error;
      } finally {
        sh.own.delete(attempt);
      }
    }
    if (parked) sh.parked.delete(key);
    entry.rid = rid;
    cat.add(ns, entry);
    if (existing) await this.#retire(cat, existing.rid);
    const resolved = {};
    for (const [ch, owner] of Object.entries(blobs)) resolved[ch] = owner ?? rid;
    const stored = { versions, inline, values: embedded, blobs: resolved };
    sh.remember(rid, stored);
    const index = cat.ns(ns).index;
    if (index) indexStored(index.map, stored);
    return { configurable: { thread_id: thread, checkpoint_ns: ns, checkpoint_id: id } };
  }

  /**
   * Deletes a rewind checkpoint a re-put replaced, unless rewind children still take values
   * from it: then it stays in the store, out of the catalogue.
   */
  async #retire(cat, rid) {
    const sh = this.#shared;
    let children;
    try {
      children = this.store.children(rid);
    } catch (error) {
      if (isNotFound(error)) return;
      throw error;
    }
    if (children.length > 0) return;
    sh.own.add(rid);
    try {
      await this.store.delete(rid);
      cat.rids.delete(rid);
      sh.recent.delete(rid);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    } finally {
      sh.own.delete(rid);
    }
  }

  /**
   * Which (channel, version)s the checkpoints of a (thread, namespace) stored, and the holder of
   * each stored as an attachment: built from their envelopes on first need, then kept current by
   * put(). Puts that land while it is built add to it too.
   */
  async #storedIndex(space) {
    if (!space.index) {
      const map = new Map();
      const index = { map, ready: this.#fillIndex(space, map) };
      space.index = index;
      index.ready.catch(() => {
        if (space.index === index) space.index = null;
      });
    }
    const { map, ready } = space.index;
    await ready;
    return map;
  }

  /** Adds every entry of `space` to `map`, also those put while envelopes are read. */
  async #fillIndex(space, map) {
    const seen = new Set();
    for (let more = true; more; ) {
      more = false;
      for (const entry of [...space.entries.values()]) {
        if (seen.has(entry.rid)) continue;
        seen.add(entry.rid);
        more = true;
        const info = await this.#parentInfo(entry);
        if (info) indexStored(map, info);
      }
    }
  }

  #derivedId(thread, ns, id) {
    return uuid5(`checkpoint:${JSON.stringify([thread, ns, id])}`, ID_NAMESPACE);
  }

  /** Channel versions and value owners of a checkpoint (owners resolved: never null). */
  async #parentInfo(entry) {
    const cached = this.#shared.recent.get(entry.rid);
    if (cached) return cached;
    const env = await this.#envelope(entry);
    if (!env) return null;
    const blobs = {};
    for (const [ch, owner] of Object.entries(env.blobs ?? {})) blobs[ch] = owner ?? entry.rid;
    const info = {
      versions: env.checkpoint?.channel_versions ?? {},
      inline: env.inline ?? {},
      values: env.values ?? {},
      blobs,
    };
    this.#shared.remember(entry.rid, info);
    return info;
  }

  async putWrites(config, writes, taskId, taskPath = "") {
    const thread = threadOf(config, "put writes");
    const ns = namespaceOf(config);
    const id = config.configurable?.checkpoint_id;
    if (id === undefined || id === null || id === "") throw missing("checkpoint_id", "put writes");
    requireString(id, "checkpoint_id");
    requireString(taskId, "task_id");
    const path = taskPath ?? "";
    const batch = await Promise.all(
      writes.map(async ([channel, value], i) => {
        const [type, data] = await this.serde.dumpsTyped(value);
        const idx = WRITES_IDX_MAP[channel] ?? i;
        return { channel, idx, type, bytes: asBytes(data) };
      }),
    );
    const key = key3(thread, ns, id);
    // After the puts and writes of this checkpoint already under way (a re-put must not take
    // the checkpoint away in the middle of a batch).
    await this.#queued(key, async () => {
      const sh = this.#shared;
      const sid = sh.sid(thread);
      const entry = sh.exists(sid) ? sh.catalogue(sid).get(ns, id) : undefined;
      if (!entry) {
        // LangGraph may save a task's writes before the put() of their checkpoint has run (the
        // puts are chained, the writes are not). Keep them until that put() stores them.
        let list = sh.parked.get(key);
        if (!list) sh.parked.set(key, (list = []));
        list.push({ taskId, path, batch });
        return;
      }
      await this.#storeWrites(entry, { taskId, path, batch });
    });
  }

  async #storeWrites(entry, batch) {
    const taken = new Set();
    if (!entry.bare) for (const r of this.#writeRecords(entry.rid)) taken.add(`${r.taskId}\u0000${r.idx}`);
    entry.bare = false;
    for (const a of this.#writeAttachments(batch, taken).values()) {
      await this.store.attach(entry.rid, a.key, a.contentType, a.bytes);
    }
  }

  /**
   * The attachments storing a batch of writes, skipping regular writes whose (task, index) is in
   * `taken` (they are kept once; special ones — errors, interrupts — replace). Adds to `taken`.
   */
  #writeAttachments({ taskId, path, batch }, taken, out = new Map()) {
    for (const w of batch) {
      const slot = `${taskId}\u0000${w.idx}`;
      if (w.idx >= 0 && taken.has(slot)) continue;
      taken.add(slot);
      const text = JSON.stringify([path, taskId, w.idx, w.channel]);
      let key = WRITE_KEY + text;
      if (utf8Length(key) > MAX_KEY_BYTES) {
        // Too long for a rewind key: a short key, and the long one in an attachment of its own.
        const short = uuid5(`write:${text}`, ID_NAMESPACE);
        const name = LONG_WRITE_NAME + short;
        out.set(name, { key: name, contentType: "application/json", bytes: encoder.encode(text) });
        key = LONG_WRITE_KEY + short;
      }
      // A later write of the same key (a special write replacing one) wins.
      out.set(key, { key, contentType: valueContentType(CT_WRITE, w.type), bytes: w.bytes });
    }
    return out;
  }

  async deleteThread(threadId) {
    if (threadId === undefined || threadId === null || threadId === "") {
      throw new Error("Failed to delete thread: a thread_id is required.");
    }
    requireString(threadId, "thread_id");
    const sh = this.#shared;
    for (const key of sh.parked.keys()) {
      if (key.startsWith(`${threadId}\u0000`)) sh.parked.delete(key);
    }
    const sid = sh.sid(threadId);
    if (!sh.exists(sid)) return;
    try {
      await this.store.deleteSession(sid);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    sh.catalogues.delete(sid);
    sh.sessions.delete(sid);
  }

  // ----- rewind features --------------------------------------------------------------------

  /**
   * Retention for LangGraph threads: rewind's compaction (`store.planCompaction(policy)`), limited
   * to these threads (default: every LangGraph thread of the store). Channel values that kept
   * checkpoints still need from removed ones are copied to them first (deduplicated: no new
   * chunks), so every kept checkpoint stays complete.
   */
  async compact(policy = {}, threadIds = undefined) {
    const sh = this.#shared;
    const store = this.store;
    const threads = (threadIds ?? sh.threads().map((t) => t.thread))
      .map((t) => ({ thread: t, sid: sh.sid(requireString(t, "thread_id")) }))
      .filter((t) => sh.exists(t.sid));
    const sessions = policy.sessions ?? threads.map((t) => t.sid);
    if (sessions.length === 0) {
      return { removed: 0, rehomed: 0, logBytesBefore: store.metrics().logBytes, logBytesAfter: store.metrics().logBytes };
    }
    const plan = store.planCompaction({ ...policy, sessions });
    const removing = new Set(plan.remove.map((r) => r.id));
    let rehomed = 0;
    if (removing.size > 0) {
      for (const { sid } of threads) {
        const cat = sh.catalogue(sid);
        for (const [ns, space] of cat.namespaces) {
          for (const entry of space.entries.values()) {
            if (removing.has(entry.rid)) continue;
            const env = await this.#envelope(entry);
            if (!env) continue;
            for (const [channel, owner] of Object.entries(env.blobs ?? {})) {
              if (owner === null || !removing.has(owner)) continue;
              const key = valueKey(channel);
              if (store.attachment(entry.rid, key)) continue;
              const found = await this.#value(cat, ns, entry, env, channel, owner, null);
              if (!found) continue;
              await store.attach(entry.rid, key, valueContentType(CT_VALUE, found.type), found.bytes);
              rehomed += 1;
            }
          }
        }
      }
    }
    const report = await store.applyCompaction(plan);
    return { ...report, rehomed };
  }

  /**
   * Forgets the catalogue of threads and checkpoints, so the next call reads it from the store
   * again. Needed only after `store.importJson()`/`importBinary()` into threads this saver has
   * already read: imports emit no store events.
   */
  refresh() {
    const sh = this.#shared;
    sh.catalogues.clear();
    sh.sessions.clear();
    sh.recent.clear();
  }

  /** Makes every write durable now (relaxed IndexedDB stores). */
  async flush() {
    await this.store.flush();
  }
}
