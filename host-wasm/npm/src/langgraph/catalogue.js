// The catalogue shared by every saver on one store: thread -> namespace -> checkpoint ids, sorted,
// built from store.listBrief() once per session and kept current by put() and the store's events. It
// answers "latest" and list() in LangGraph's order without asking the engine for checkpoints.

import { isNotFound } from "./config.js";
import {
  derivedUuid,
  encoder,
  ENVELOPE_V2,
  envelopeType,
  ID_KEY,
  mirroredString,
  mirrorString,
  NS_KEY,
  THREAD_KEY,
  wellFormed,
} from "./names.js";

export const storedKey = (channel, version) => JSON.stringify([channel, version]);

/**
 * Adds the (channel, version)s a checkpoint has (its put's info: owners resolved) to an index,
 * with the checkpoint holding each attachment (a hint for sharing chunks, never read as the
 * value: a put stores the value it is given).
 */
export function indexStored(index, info) {
  for (const [ch, owner] of Object.entries(info.blobs)) index.set(storedKey(ch, info.versions[ch]), { owner });
  for (const ch of [...Object.keys(info.inline), ...Object.keys(info.values)]) {
    const key = storedKey(ch, info.versions[ch]);
    if (!index.has(key)) index.set(key, {});
  }
}

/** Sorted insertion position of `id` in ascending `ids` (first index with ids[i] >= id). */
export function lowerBound(ids, id) {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid] < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** LangGraph checkpoints of one (thread, namespace), by checkpoint id. */
class Namespace {
  constructor() {
    /** Checkpoint ids, ascending once sort() ran. */
    this.ids = [];
    this.sorted = true;
    /**
     * checkpoint id -> entry { id, rid, type, bare, meta, mirror }: `type` is ENVELOPE_V2 or the
     * serde type of a version 1 envelope; `meta` the JSON text of a version 2 entry's metadata
     * when rewind's metadata holds it (made from `mirror`, the rewind metadata the catalogue was
     * built from, the first time it is read)
     */
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
     * rewind id -> entry, for every entry and for checkpoints a re-put replaced that stay
     * because their children take values from them
     */
    this.rids = new Map();
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
    this.rids.set(entry.rid, entry);
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
    /**
     * rid -> { versions, blobs, inline, values } of recent puts (a cache for the next put's
     * parent): the newest entries, then the ones before them
     */
    this.recent = new Map();
    this.older = new Map();
    store.subscribe((event) => this.onEvent(event));
  }

  onEvent(event) {
    switch (event.type) {
      case "created":
        if (!this.own.has(event.checkpoint)) this.catalogues.delete(event.session);
        break;
      case "deleted":
        this.forget(event.checkpoint);
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
        this.forgetAll();
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
    for (const cp of this.store.listBrief({ session: sid, order: "asc" }).items) {
      const type = envelopeType(cp.contentType);
      if (type === null) continue; // not a LangGraph checkpoint
      const id = mirroredString(cp.metadata, ID_KEY) ?? cp.id;
      const ns = mirroredString(cp.metadata, NS_KEY) ?? cp.namespace;
      const entry = { id, rid: cp.id, type, bare: false };
      // Its LangGraph metadata, as JSON text once a read needs it (#metadata).
      if (type === ENVELOPE_V2) entry.mirror = cp.metadata;
      cat.add(ns, entry);
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
    // Two generations rather than evicting the oldest entry one by one: a Map keeps deleted
    // entries' slots until it is rebuilt, and finding its first live key walks past them.
    if (this.recent.size >= 256) {
      this.older = this.recent;
      this.recent = new Map();
    }
    this.recent.set(rid, info);
  }

  /** What remember() kept of `rid`, or undefined. */
  recalled(rid) {
    return this.recent.get(rid) ?? this.older.get(rid);
  }

  forget(rid) {
    this.recent.delete(rid);
    this.older.delete(rid);
  }

  forgetAll() {
    this.recent.clear();
    this.older.clear();
  }
}

const SHARED = new WeakMap();

export function shared(store) {
  let s = SHARED.get(store);
  if (!s) {
    s = new Shared(store);
    SHARED.set(store, s);
  }
  return s;
}

export const key3 = (thread, ns, id) => `${thread}\u0000${ns}\u0000${id}`;
