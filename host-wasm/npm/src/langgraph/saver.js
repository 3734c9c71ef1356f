// RewindSaver: LangGraph's BaseCheckpointSaver over a rewind store. Reads build checkpoint tuples
// from the envelope and its attachments; a put plans what it stores, then writes it in one
// transaction.
//
// A checkpoint is one rewind checkpoint whose state is its *envelope*, version 2 (content type
// CT_ENVELOPE), plain JSON written without the serde because it holds no channel value that
// needs one:
//
//   { "v": 4, "ts": "...", "cv": channel_versions, "vs": versions_seen,
//     "p": parent checkpoint id,                    (absent for a root)
//     "a": [channels stored as attachments of this checkpoint ("c:<channel>")],
//     "i": { channel: serde JSON text },            (values of at most MAX_INLINE_BYTES)
//     "e": { channel: value },                      (small primitives, as themselves)
//     "o": { channel: rewind id of the checkpoint holding it },   (unchanged values)
//     "ma": 1 }                                     (metadata in the "m:" attachment)
//
// The checkpoint id is the entry's; the LangGraph metadata is rewind's metadata of the
// checkpoint when that holds it exactly, else serialised with the serde in the "m:" attachment.
// A value lives with the checkpoint that wrote it (as an attachment or in its envelope's "i"),
// and later checkpoints name that one in "o". Version 1 envelopes (content type CT_CHECKPOINT with
// the serde's type; serialised with the serde: { checkpoint, parent, blobs, inline, values,
// metadata }) are read as before; test/fixtures holds a store of each version.

import {
  BaseCheckpointSaver,
  compareWritesSortKeys,
  getCheckpointId,
  maxChannelVersion,
  TASKS,
  uuid6,
  WRITES_IDX_MAP,
  writesSortKey,
} from "@langchain/langgraph-checkpoint";
import { Store } from "../index.js";
import { indexStored, key3, lowerBound, shared, storedKey } from "./catalogue.js";
import { isNotFound, missing, namespaceOf, requireString, threadOf } from "./config.js";
import { matchesFilter, minimalMirror, mirroredMetadataText, mirrorMetadata } from "./metadata.js";
import {
  asBytes,
  CANONICAL_UUID,
  CT_ENVELOPE,
  CT_METADATA,
  CT_VALUE,
  CT_WRITE,
  encoder,
  ENVELOPE_V2,
  hasOwn,
  ID_KEY,
  ID_NAMESPACE,
  LONG_WRITE_KEY,
  LONG_WRITE_NAME,
  MAX_KEY_BYTES,
  METADATA_KEY,
  mirroredString,
  mirrorString,
  NS_KEY,
  rewindNamespace,
  serdeType,
  toWellFormed,
  truncate,
  utf8Length,
  uuid5,
  valueContentType,
  valueKey,
  WRITE_KEY,
} from "./names.js";

const strictDecoder = new TextDecoder("utf-8", { fatal: true });
/**
 * Channel values serialised to at most this many bytes of JSON live in the envelope of the
 * checkpoint that wrote them (an attachment costs its record and its chunk's, ~130 bytes).
 */
const MAX_INLINE_BYTES = 512;
/** Strings of at most this many characters are kept as themselves, in every envelope. */
const MAX_EMBEDDED_CHARS = 64;

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
      return value.length <= MAX_EMBEDDED_CHARS;
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

  /**
   * Where a config points: its thread, namespace, checkpoint id ("" for the latest) and the
   * thread's catalogue, once a put or writes of that checkpoint under way are done; null when
   * it names no thread or a thread with no checkpoints.
   */
  async #locate(config) {
    const thread = config?.configurable?.thread_id;
    if (thread === undefined || thread === null) return null;
    requireString(thread, "thread_id");
    const ns = namespaceOf(config);
    const id = getCheckpointId(config);
    const sh = this.#shared;
    if (id) {
      const pending = sh.inflight.get(key3(thread, ns, id));
      if (pending) await pending.catch(() => {});
    }
    const sid = sh.sid(thread);
    if (!sh.exists(sid)) return null;
    return { thread, ns, id, cat: sh.catalogue(sid) };
  }

  async getTuple(config) {
    const located = await this.#locate(config);
    if (!located) return undefined;
    const { thread, ns, id, cat } = located;
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
    /**
     * What was read ahead for the next page: envelopes by rid, writes by rid and key. Pages
     * start small (a caller may stop after the first tuple) and double up to LIST_PAGE.
     */
    const ahead = { envelopes: new Map(), writes: new Map(), size: 8 };
    for (let i = 0; ; i++) {
      const next = order.next(i);
      if (!next) break;
      const [s, id] = next;
      if (only && id !== only) continue;
      const entry = s.space.entries.get(id);
      if (!entry) continue;
      if (!ahead.envelopes.has(entry.rid)) await this.#readAhead(order, i, only, limit, memo, ahead);
      const tuple = await this.#tuple(s.cat, entry, s.thread, s.ns, null, memo, filter, ahead);
      // Only later checkpoints (descendants, listed before it) name this one as a holder: its
      // own values are not needed again, and the memo does not keep them alive.
      const env = ahead.envelopes.get(entry.rid);
      if (env) for (const [ch, owner] of Object.entries(env.blobs)) if (owner === null) memo.delete(`${entry.rid}\u0000${ch}`);
      if (!tuple) continue;
      if (limit !== undefined && limit !== null) {
        if (limit <= 0) break;
        limit -= 1;
      }
      yield tuple;
      if (limit === 0) break;
    }
  }

  /**
   * Reads what the next page of list() builds its tuples from in three calls to the store, not
   * several per checkpoint: the envelopes of the entries from position `from` of `order` (as
   * many as the page size and the limit left allow), the values they name (into `memo`, where
   * #value looks first) and their pending writes. What is not found here is read one by one as
   * before.
   */
  async #readAhead(order, from, only, limit, memo, ahead) {
    const page = [];
    const max = limit !== undefined && limit !== null ? Math.min(limit, ahead.size) : ahead.size;
    ahead.size = Math.min(ahead.size * 2, LIST_PAGE);
    for (let i = from; page.length < max; i++) {
      const next = order.next(i);
      if (!next) break;
      const [s, id] = next;
      if (only && id !== only) continue;
      const entry = s.space.entries.get(id);
      if (entry) page.push(entry);
    }
    ahead.envelopes.clear();
    ahead.writes.clear();
    const states = await this.store.statesOf(page.map((e) => e.rid));
    const values = [];
    const writes = [];
    for (let i = 0; i < page.length; i++) {
      const entry = page[i];
      const env = states[i] === null ? null : await this.#envelopeOf(entry, states[i]);
      ahead.envelopes.set(entry.rid, env);
      if (!env) continue;
      for (const [channel, owner] of Object.entries(env.blobs)) {
        const holder = owner ?? entry.rid;
        const memoKey = `${holder}\u0000${channel}`;
        if (memo.has(memoKey)) continue;
        memo.set(memoKey, undefined);
        values.push([memoKey, holder, valueKey(channel)]);
      }
      for (const r of await this.#recordsOf(entry)) writes.push([entry.rid, r.key]);
    }
    const found = await this.store.attachmentsOf([...values.map(([, holder, key]) => [holder, key]), ...writes]);
    for (let i = 0; i < values.length; i++) {
      const a = found[i];
      if (a) memo.set(values[i][0], { type: serdeType(CT_VALUE, a.contentType) ?? "json", bytes: a.bytes });
      else memo.delete(values[i][0]);
    }
    for (let i = 0; i < writes.length; i++) {
      const [rid, key] = writes[i];
      ahead.writes.set(`${rid}\u0000${key}`, found[values.length + i]);
    }
  }

  /**
   * The writes and seed each DeltaChannel needs to rebuild its value at a checkpoint (see
   * LangGraph's BaseCheckpointSaver.getDeltaChannelHistory): one walk up the parent chain from
   * the checkpoint's parent, reading each ancestor's envelope and the names of its writes, and
   * deserialising only the writes of the channels asked for and each channel's seed — the value
   * at the nearest ancestor that holds one (like MemorySaver, a value that reads back as
   * undefined is not a seed). Writes come oldest first, each checkpoint's in writesSortKey order;
   * the seed ancestor's own writes are included.
   */
  async getDeltaChannelHistory(options) {
    const { config, channels } = options ?? {};
    if (!channels || channels.length === 0) return {};
    const blocks = [];
    const seeds = new Map();
    const done = () => {
      const result = {};
      for (const ch of channels) {
        const writes = [];
        for (let i = blocks.length - 1; i >= 0; i--) for (const w of blocks[i]) if (w[1] === ch) writes.push(w);
        result[ch] = seeds.has(ch) ? { writes, seed: seeds.get(ch) } : { writes };
      }
      return result;
    };
    const located = await this.#locate(config);
    if (!located) return done();
    const { ns, id, cat } = located;
    const space = cat.ns(ns);
    let entry;
    if (id) entry = space?.entries.get(id);
    else if (space) {
      const ids = space.sort();
      entry = space.entries.get(ids[ids.length - 1]);
    }
    const target = entry ? await this.#walkInfo(entry) : null;
    const remaining = new Set(channels);
    const memo = new Map();
    /** The writes to read: [slot in its block, rid, key], fetched after the walk. */
    const wanted = [];
    let parentId = target?.parent;
    while (parentId !== undefined && parentId !== null && remaining.size > 0) {
      const up = space.entries.get(parentId);
      // What the entries already hold is read without a turn of the event loop.
      if (!up || (up.holds === undefined && !(await this.#walkInfo(up)))) break;
      const block = [];
      const records = up.bare ? [] : (up.records ?? (await this.#recordsOf(up)));
      for (const r of records) {
        if (!remaining.has(r.channel)) continue;
        const slot = [r.taskId, r.channel, undefined];
        block.push(slot);
        wanted.push([slot, up.rid, r.key]);
      }
      blocks.push(block);
      for (const ch of remaining) {
        if (!up.holds.includes(ch)) continue;
        const env = await this.#envelope(up);
        const found = env ? await this.#channelValue(cat, ns, up, env, ch, memo) : NOT_STORED;
        if (found === NOT_STORED || found.value === undefined) continue;
        seeds.set(ch, found.value);
        remaining.delete(ch);
      }
      parentId = up.parent;
    }
    // The writes' bytes in one call, then the serde.
    const found = await this.store.attachmentsOf(wanted.map(([, rid, key]) => [rid, key]));
    for (let i = 0; i < wanted.length; i++) {
      const [slot] = wanted[i];
      const a = found[i];
      if (!a) {
        slot[2] = MISSING_WRITE;
        continue;
      }
      slot[2] = await this.serde.loadsTyped(serdeType(CT_WRITE, a.contentType) ?? "json", a.bytes);
    }
    for (let i = 0; i < blocks.length; i++) blocks[i] = blocks[i].filter((w) => w[2] !== MISSING_WRITE);
    return done();
  }

  /**
   * A channel's value at a checkpoint: `{ value }` deserialised, or NOT_STORED when the
   * checkpoint has none (or its own value is missing: only a store edited by hand). Throws when
   * the checkpoint holding the value is gone.
   */
  async #channelValue(cat, ns, entry, env, channel, memo) {
    if (hasOwn(env.values, channel)) return { value: env.values[channel] };
    // The serde takes JSON as text (SerializerProtocol.loadsTyped accepts a string).
    if (hasOwn(env.inline, channel)) {
      return { value: await this.serde.loadsTyped("json", env.inline[channel]) };
    }
    if (!hasOwn(env.blobs, channel)) return NOT_STORED;
    const owner = env.blobs[channel];
    const found = await this.#value(cat, ns, entry, env, channel, owner, memo);
    if (found === undefined) {
      if (owner === null) return NOT_STORED;
      throw valueGone(entry, channel, owner);
    }
    return { value: await this.serde.loadsTyped(found.type, found.bytes) };
  }

  /**
   * Reads the envelope of an entry, or null: as the version 1 shape { checkpoint, parent, blobs,
   * inline, values, metadata? } (blobs: channel -> holder, null for its own attachments), with
   * `metadataAlone` for a version 2 envelope whose metadata is in the "m:" attachment.
   */
  async #envelope(entry) {
    let bytes;
    try {
      bytes = await this.store.state(entry.rid);
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
    return this.#envelopeOf(entry, bytes);
  }

  /** An entry's envelope from its state bytes (see #envelope). */
  async #envelopeOf(entry, bytes) {
    if (entry.type === ENVELOPE_V2) return envelopeV2(entry, bytes);
    const env = await this.serde.loadsTyped(entry.type, bytes);
    if (!env || typeof env !== "object" || !env.checkpoint || typeof env.checkpoint !== "object") {
      throw new Error(`RewindSaver: the serialised data of checkpoint ${entry.id} is not a checkpoint (serde type "${entry.type}").`);
    }
    env.blobs ??= {};
    env.inline ??= {};
    env.values ??= {};
    return env;
  }

  /** The LangGraph metadata of a checkpoint: rewind's, in its envelope, or serialised on its own. */
  async #metadata(entry, env) {
    if (env.v2 && !env.metadataAlone) {
      entry.meta ??= mirroredMetadataText(entry.mirror ?? this.store.get(entry.rid).metadata);
      entry.mirror = undefined;
      return JSON.parse(entry.meta);
    }
    if (hasOwn(env, "metadata")) return env.metadata;
    const a = await this.#attachment(entry.rid, METADATA_KEY, CT_METADATA);
    return a ? this.serde.loadsTyped(a.type, a.bytes) : {};
  }

  /** Builds a CheckpointTuple, or undefined when the checkpoint is gone, incomplete or filtered out. */
  async #tuple(cat, entry, thread, ns, givenConfig, memo, filter, ahead = null) {
    const env = ahead?.envelopes.has(entry.rid) ? ahead.envelopes.get(entry.rid) : await this.#envelope(entry);
    if (!env) return undefined;
    const metadata = await this.#metadata(entry, env);
    if (filter && !matchesFilter(metadata, filter)) return undefined;
    const channelValues = {};
    for (const channel of [...Object.keys(env.blobs), ...Object.keys(env.inline), ...Object.keys(env.values)]) {
      const found = await this.#channelValue(cat, ns, entry, env, channel, memo);
      // The checkpoint's own value is missing (put() writes both in one transaction, so only a
      // store edited by hand gets here): the checkpoint does not exist for LangGraph.
      if (found === NOT_STORED) return undefined;
      channelValues[channel] = found.value;
    }
    const cp = env.checkpoint;
    const checkpoint = {
      v: cp.v,
      id: cp.id,
      ts: cp.ts,
      channel_values: channelValues,
      channel_versions: cp.channel_versions ?? {},
      versions_seen: cp.versions_seen ?? {},
    };
    const pendingWrites = entry.bare ? [] : await this.#writes(entry, ahead?.writes);
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

  /**
   * Bytes and type of a channel value, found at its owner (or where compaction moved it): the
   * bytes are a Uint8Array, or the JSON text of a value held in an envelope.
   */
  async #value(cat, ns, entry, env, channel, owner, memo) {
    const key = valueKey(channel);
    const holder = owner ?? entry.rid;
    const memoKey = `${holder}\u0000${channel}`;
    const cached = memo?.get(memoKey);
    if (cached) return cached;
    let found = await this.#attachment(holder, key);
    // A small value is in its holder's envelope.
    if (found === undefined && owner !== null) found = await this.#heldInline(cat, owner, channel);
    if (found === undefined && owner !== null) {
      // The owner was compacted away: saver.compact() copied the value to the checkpoints
      // that still need it — this one or one of its ancestors with the same version.
      found = await this.#attachment(entry.rid, key);
      let parent = env.parent;
      const version = env.checkpoint?.channel_versions?.[channel];
      for (let hops = 0; found === undefined && parent != null && hops < 100_000; hops++) {
        const up = cat.get(ns, parent);
        if (!up) break;
        const upEnv = await this.#envelope(up);
        if (!upEnv) break;
        if (upEnv.checkpoint?.channel_versions?.[channel] === version) {
          found = await this.#attachment(up.rid, key);
        }
        parent = upEnv.parent;
      }
    }
    if (found !== undefined && memo) memo.set(memoKey, found);
    return found;
  }

  /** A value in the envelope of the checkpoint `rid` holding it (its JSON text), or undefined. */
  async #heldInline(cat, rid, channel) {
    const holder = cat.rids.get(rid);
    const env = holder ? await this.#envelope(holder) : null;
    const text = env?.inline?.[channel];
    return typeof text === "string" ? { type: "json", bytes: text } : undefined;
  }

  async #attachment(rid, key, base = CT_VALUE) {
    let a;
    try {
      a = await this.store.attachment(rid, key);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
    if (!a) return undefined;
    return { type: serdeType(base, a.contentType) ?? "json", bytes: a.bytes };
  }

  /** Pending writes of a checkpoint in writesSortKey order: [taskId, channel, value][]. */
  async #writes(entry, ahead = null) {
    const rid = entry.rid;
    const records = await this.#recordsOf(entry);
    const out = [];
    for (const r of records) {
      const read = ahead?.get(`${rid}\u0000${r.key}`);
      const a = read !== undefined ? read : await this.store.attachment(rid, r.key);
      if (!a) continue;
      const type = serdeType(CT_WRITE, a.contentType) ?? "json";
      out.push([r.taskId, r.channel, await this.serde.loadsTyped(type, a.bytes)]);
    }
    return out;
  }

  /** The write records of a catalogue entry (#writeRecords), kept on the entry until it gets writes. */
  async #recordsOf(entry) {
    if (entry.bare) return [];
    entry.records ??= await this.#writeRecords(entry.rid);
    return entry.records;
  }

  /**
   * An entry with what a walk up its thread needs, from its envelope the first time (then kept
   * on the entry): `parent` (the LangGraph parent id, or null) and `holds` (the channels it has
   * a value of). Null when the checkpoint is gone.
   */
  async #walkInfo(entry) {
    if (entry.holds === undefined) {
      const env = await this.#envelope(entry);
      if (!env) return null;
      entry.parent = env.parent ?? null;
      entry.holds = [...Object.keys(env.blobs), ...Object.keys(env.inline), ...Object.keys(env.values)];
    }
    return entry;
  }

  /** The write attachments of a checkpoint, parsed and sorted. */
  async #writeRecords(rid) {
    const records = [];
    for (const key of this.#attachmentKeys(rid)) {
      let text;
      let nameKey;
      if (key.startsWith(WRITE_KEY)) {
        text = key.slice(WRITE_KEY.length);
      } else if (key.startsWith(LONG_WRITE_KEY)) {
        nameKey = LONG_WRITE_NAME + key.slice(LONG_WRITE_KEY.length);
        const name = await this.store.attachment(rid, nameKey);
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
      for (const r of await this.#writeRecords(parent.rid)) {
        if (r.channel !== TASKS) continue;
        const a = await this.store.attachment(parent.rid, r.key);
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
    const run =
      previous || after
        ? (async () => {
            if (previous) await previous.catch(() => {});
            if (after) await after.catch(() => {});
            return fn();
          })()
        : fn();
    sh.inflight.set(key, run);
    try {
      return await run;
    } finally {
      if (sh.inflight.get(key) === run) sh.inflight.delete(key);
    }
  }

  async #put(config, thread, ns, checkpoint, metadata, newVersions) {
    const plan = await this.#planPut(config, thread, ns, checkpoint, metadata, newVersions);
    return this.#writePut(plan);
  }

  /**
   * What a put stores, decided and serialised before anything is written (a serializer error
   * leaves nothing behind): which channels it stores and how (attachment, inline JSON, the value
   * itself in the envelope), and the envelope.
   */
  async #planPut(config, thread, ns, checkpoint, metadata, newVersions) {
    const sh = this.#shared;
    // What the checkpoint is now: its envelope's head is JSON before anything awaits, and the
    // versions are kept (for the next put), so they are copied.
    const values = { ...checkpoint.channel_values };
    const versions = { ...checkpoint.channel_versions };
    const id = checkpoint.id;
    let head;
    try {
      head = JSON.stringify({ v: checkpoint.v, ts: checkpoint.ts, cv: versions, vs: checkpoint.versions_seen ?? {} });
    } catch (error) {
      throw new TypeError(`Failed to put checkpoint: its versions are not JSON (${error.message}).`);
    }
    const parentId = config.configurable?.checkpoint_id;
    const { mirror, exact, text: metaText } = mirrorMetadata(metadata);

    // What this put stores: the channels in newVersions, and those the checkpoint has at a
    // version the thread stored before but its parent does not have (a copy of a sibling:
    // updateState(config, undefined, "__copy__")). Small primitives go into the envelope as
    // they are; the rest is serialised with the saver's serde. Every other channel the
    // checkpoint has comes from its parent's holder. A channel at a version stored nowhere is
    // not invented: like LangGraph's delta savers, newVersions says what is new.
    const sid = sh.sid(thread);
    const cat = sh.exists(sid) ? sh.catalogue(sid) : null;
    const parent = cat && parentId ? cat.get(ns, parentId) : undefined;
    const info = parent ? (sh.recalled(parent.rid) ?? (await this.#parentInfo(parent))) : null;
    /** channel -> the checkpoint holding its value (unchanged since an ancestor) */
    const held = {};
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
        held[ch] = cat.rids.has(info.blobs[ch]) ? info.blobs[ch] : parent.rid;
      } else if (info && info.versions[ch] === versions[ch] && hasOwn(info.inline, ch)) {
        // In a version 1 parent's envelope.
        held[ch] = parent.rid;
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
    /** Indexes into `fresh` of the values stored as attachments. */
    const attached = [];
    for (let i = 0; i < fresh.length; i++) {
      const [valueType, data] = serialised[i];
      const text = inlineText(valueType, asBytes(data));
      if (text !== null) inline[fresh[i]] = text;
      else attached.push(i);
    }

    const tail = {};
    if (typeof parentId === "string" && parentId !== "") tail.p = parentId;
    if (attached.length > 0) tail.a = attached.map((i) => fresh[i]);
    if (Object.keys(inline).length > 0) tail.i = inline;
    if (Object.keys(embedded).length > 0) tail.e = embedded;
    if (Object.keys(held).length > 0) tail.o = held;
    // Metadata rewind's cannot hold exactly is serialised on its own, as LangGraph's savers do.
    const metadataAlone = exact ? null : await this.serde.dumpsTyped(metadata);
    if (metadataAlone) tail.ma = 1;
    return {
      config,
      checkpoint,
      thread,
      ns,
      id,
      sid,
      cat,
      parent,
      metadata,
      mirror,
      metaText: exact ? metaText : undefined,
      versions,
      held,
      inline,
      embedded,
      bases,
      fresh,
      serialised,
      attached,
      metadataAlone,
      head,
      tail,
      state: envelopeBytes(head, tail),
    };
  }

  /**
   * Writes a planned put: the session if it is new, then the checkpoint with its new values (and
   * writes that arrived before it) in one transaction, under the LangGraph id when it can be.
   */
  async #writePut(plan) {
    const sh = this.#shared;
    const store = this.store;
    const { config, checkpoint, thread, ns, id, sid, parent, metadata, mirror, versions } = plan;
    const { held, inline, embedded, bases, fresh, serialised, attached, head, tail } = plan;
    let { metadataAlone, metaText, state } = plan;
    if (!sh.sessions.has(sid)) await sh.ensureSession(thread);
    const cat = plan.cat ?? sh.catalogue(sid);
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
    const metadataAttachment = ([metaType, data]) => ({
      key: METADATA_KEY,
      contentType: valueContentType(CT_METADATA, metaType),
      bytes: asBytes(data),
    });
    if (metadataAlone) attachments.push(metadataAttachment(metadataAlone));
    const key = key3(thread, ns, id);
    const parked = sh.parked.get(key);
    const entry = { id, rid: null, type: ENVELOPE_V2, bare: !parked };
    // Putting an id again replaces the checkpoint (as in MemorySaver) with a new rewind
    // checkpoint that keeps the old one's pending writes. The old one is deleted once the new one
    // is stored, or, when rewind children still read values from it, left out of the catalogue.
    const existing = cat.get(ns, id);
    const taken = parked || existing ? new Set() : null;
    const writes = new Map();
    if (parked) for (const batch of parked) this.#writeAttachments(batch, taken, writes);
    if (existing) {
      for (const r of await this.#writeRecords(existing.rid)) {
        if (taken.has(`${r.taskId}\u0000${r.idx}`)) continue;
        taken.add(`${r.taskId}\u0000${r.idx}`);
        for (const k of [r.key, r.nameKey]) {
          const a = k && !writes.has(k) ? await store.attachment(existing.rid, k) : null;
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
      contentType: CT_ENVELOPE,
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
          if (!metadataAlone) {
            // The mirror was to hold the metadata: it goes with the serde after all.
            metadataAlone = await this.serde.dumpsTyped(metadata);
            attachments.push(metadataAttachment(metadataAlone));
            state = envelopeBytes(head, { ...tail, ma: 1 });
            input.state = state;
            metaText = undefined;
          }
          continue;
        }
        throw error;
      } finally {
        sh.own.delete(attempt);
      }
    }
    if (parked) sh.parked.delete(key);
    entry.rid = rid;
    const parentId = config.configurable?.checkpoint_id;
    entry.parent = typeof parentId === "string" && parentId !== "" ? parentId : null;
    entry.holds = [...Object.keys(held), ...fresh, ...Object.keys(embedded)];
    if (metaText !== undefined) entry.meta = metaText;
    cat.add(ns, entry);
    if (existing) await this.#retire(cat, existing.rid);
    const resolved = { ...held };
    for (const i of attached) resolved[fresh[i]] = rid;
    for (const ch of Object.keys(inline)) resolved[ch] = rid;
    const stored = { versions, inline: {}, values: embedded, blobs: resolved };
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
      sh.forget(rid);
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
    const cached = this.#shared.recalled(entry.rid);
    if (cached) return cached;
    const env = await this.#envelope(entry);
    if (!env) return null;
    const blobs = {};
    for (const [ch, owner] of Object.entries(env.blobs ?? {})) blobs[ch] = owner ?? entry.rid;
    // A version 2 envelope holds its small values: later checkpoints name it as their holder.
    if (env.v2) for (const ch of Object.keys(env.inline)) blobs[ch] = entry.rid;
    const info = {
      versions: env.checkpoint?.channel_versions ?? {},
      inline: env.v2 ? {} : (env.inline ?? {}),
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
    if (!entry.bare) for (const r of await this.#recordsOf(entry)) taken.add(`${r.taskId}\u0000${r.idx}`);
    entry.bare = false;
    entry.records = undefined;
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
    const threads = this.#existingThreads(threadIds ?? this.#shared.threads().map((t) => t.thread));
    const sessions = policy.sessions ?? threads.map((t) => t.sid);
    if (sessions.length === 0) return this.#remove([], new Set());
    const plan = this.store.planCompaction({ ...policy, sessions });
    return this.#remove(threads, new Set(plan.remove.map((r) => r.id)));
  }

  /**
   * LangGraph's `prune` (declared by its Python base; a rewind extension in JavaScript until
   * LangGraph.js declares it). `"keep_latest"` keeps, in each namespace of each thread, the
   * checkpoint `list()` shows first (the newest id) with its pending writes, and removes the
   * rest; `"delete"` removes the threads. DeltaChannel-aware: the kept checkpoint also keeps the
   * ancestors (and their writes) its delta channels replay, back to the nearest one holding
   * their value (a DeltaSnapshot), so its state reads back the same. Threads that do not exist
   * are skipped. Space is reclaimed by rewind's compaction.
   */
  async prune(threadIds, strategy = "keep_latest") {
    if (!Array.isArray(threadIds)) throw new TypeError("prune: threadIds must be an array of thread ids");
    if (strategy !== "keep_latest" && strategy !== "delete") {
      throw new TypeError(`prune: unknown strategy ${JSON.stringify(strategy)} (keep_latest or delete)`);
    }
    const threads = this.#existingThreads(threadIds);
    if (strategy === "delete") {
      for (const t of threads) await this.deleteThread(t.thread);
      return;
    }
    const removing = new Set();
    for (const { sid } of threads) {
      const cat = this.#shared.catalogue(sid);
      const keep = new Set();
      for (const space of cat.namespaces.values()) {
        const ids = space.sort();
        const latest = space.entries.get(ids[ids.length - 1]);
        if (!latest) continue;
        keep.add(latest.rid);
        for (const rid of await this.#replayed(space, latest)) keep.add(rid);
      }
      for (const rid of cat.rids.keys()) if (!keep.has(rid)) removing.add(rid);
    }
    await this.#remove(threads, removing);
  }

  /**
   * LangGraph's `copyThread` (see prune): every checkpoint of `sourceThreadId`, in every
   * namespace, with its metadata and pending writes, under `targetThreadId` with the same
   * checkpoint ids. Copies share their chunks with the source: a copy costs its records, not its
   * values' bytes. A source that does not exist copies nothing; a target that already has
   * checkpoints is refused (an Error), so two threads are never merged.
   */
  async copyThread(sourceThreadId, targetThreadId) {
    requireString(sourceThreadId, "source thread_id");
    requireString(targetThreadId, "target thread_id");
    const sh = this.#shared;
    const source = sh.sid(sourceThreadId);
    if (!sh.exists(source)) return;
    const target = sh.sid(targetThreadId);
    if (sh.exists(target) && this.store.session(target).checkpoints > 0) {
      throw new Error(`copyThread: thread ${JSON.stringify(targetThreadId)} already has checkpoints`);
    }
    if (source === target) return;
    const cat = sh.catalogue(source);
    // In the order they were written (parents and value holders before the checkpoints naming
    // them): the session's listing, of which the copies take their messages and tags.
    const copies = new Map();
    for (const original of this.store.list({ session: source, order: "asc" }).items) {
      // Replaced checkpoints kept for their children's values are not LangGraph's to copy.
      const entry = cat.rids.get(original.id);
      const ns = mirroredString(original.metadata, NS_KEY) ?? original.namespace;
      if (entry && cat.get(ns, entry.id) === entry) await this.#copyEntry(cat, ns, entry, original, targetThreadId, copies);
    }
  }

  /**
   * LangGraph's `deleteForRuns` (see prune): removes every checkpoint whose metadata `run_id` is
   * one of `runIds`, in every thread and namespace, with its pending writes. DeltaChannel-aware:
   * a checkpoint of such a run that a checkpoint staying behind replays its delta channels from
   * (its writes, or the snapshot it stops at) stays, so no state that reads back today reads
   * back differently after.
   */
  async deleteForRuns(runIds) {
    if (!Array.isArray(runIds)) throw new TypeError("deleteForRuns: runIds must be an array of run ids");
    const runs = new Set(runIds.filter((r) => r !== undefined && r !== null).map(String));
    if (runs.size === 0) return;
    const threads = this.#existingThreads(this.#shared.threads().map((t) => t.thread));
    const removing = new Set();
    for (const { sid } of threads) {
      const cat = this.#shared.catalogue(sid);
      for (const space of cat.namespaces.values()) {
        const doomed = new Set();
        const envelopes = new Map();
        for (const entry of space.entries.values()) {
          const env = await this.#envelope(entry);
          if (!env) continue;
          envelopes.set(entry.id, env);
          const metadata = await this.#metadata(entry, env);
          if (runs.has(String(metadata?.run_id))) doomed.add(entry.id);
        }
        if (doomed.size === 0) continue;
        // What the checkpoints that stay replay: only those whose parent goes can reach one
        // (a checkpoint replays at most its parent and what its parent replays).
        const needed = new Set();
        for (const entry of space.entries.values()) {
          if (doomed.has(entry.id)) continue;
          const parent = envelopes.get(entry.id)?.parent;
          if (parent === undefined || parent === null || !doomed.has(parent)) continue;
          for (const rid of await this.#replayed(space, entry)) needed.add(rid);
        }
        for (const id of doomed) {
          const entry = space.entries.get(id);
          if (!needed.has(entry.rid)) removing.add(entry.rid);
        }
      }
    }
    if (removing.size > 0) await this.#remove(threads, removing);
  }

  /**
   * The ancestors (rewind ids) whose writes and values `entry`'s delta channels are rebuilt
   * from: LangGraph names a checkpoint's delta channels without a snapshot in its metadata
   * (`counters_since_delta_snapshot`); for each, the walk up the parent chain goes to the
   * nearest ancestor holding its value, as getDeltaChannelHistory's does.
   */
  async #replayed(space, entry) {
    const env = await this.#envelope(entry);
    if (!env || !(await this.#walkInfo(entry))) return [];
    const metadata = await this.#metadata(entry, env);
    const counters = metadata?.counters_since_delta_snapshot;
    const remaining = new Set(counters && typeof counters === "object" ? Object.keys(counters) : []);
    for (const ch of entry.holds) remaining.delete(ch);
    const out = [];
    let parentId = entry.parent;
    while (remaining.size > 0 && parentId !== null) {
      const up = space.entries.get(parentId);
      if (!up || !(await this.#walkInfo(up))) break;
      out.push(up.rid);
      for (const ch of up.holds) remaining.delete(ch);
      parentId = up.parent;
    }
    return out;
  }

  /**
   * Writes a copy of a checkpoint under another thread: its envelope (version 2, naming the
   * copies of its value holders), its own values, metadata and writes as stored (no serde).
   */
  async #copyEntry(cat, ns, entry, original, targetThread, copies) {
    const sh = this.#shared;
    const store = this.store;
    const env = await this.#envelope(entry);
    if (!env) return;
    const sid = await sh.ensureSession(targetThread);
    const targetCat = sh.catalogue(sid);
    const attachments = [];
    const held = {};
    const own = [];
    const inline = { ...env.inline };
    for (const [ch, owner] of Object.entries(env.blobs)) {
      const copy = owner === null ? undefined : copies.get(owner);
      if (copy !== undefined) {
        held[ch] = copy;
        continue;
      }
      // Its own value, or one whose holder is not copied: the value's bytes go with the copy.
      const found = await this.#value(cat, ns, entry, env, ch, owner, null);
      if (!found) throw valueGone(entry, ch, owner);
      attachments.push({ key: valueKey(ch), contentType: valueContentType(CT_VALUE, found.type), bytes: asBytes(found.bytes) });
      own.push(ch);
    }
    // Metadata: rewind's when it holds it exactly, else as stored.
    const metadata = await this.#metadata(entry, env);
    const { mirror, exact, text } = mirrorMetadata(metadata);
    const alone = exact ? null : await this.#attachmentBytes(entry.rid, METADATA_KEY);
    if (!exact && !alone) {
      const [type, data] = await this.serde.dumpsTyped(metadata);
      attachments.push({ key: METADATA_KEY, contentType: valueContentType(CT_METADATA, type), bytes: asBytes(data) });
    } else if (alone) attachments.push(alone);
    for (const key of this.#attachmentKeys(entry.rid)) {
      if (!key.startsWith(WRITE_KEY) && !key.startsWith(LONG_WRITE_KEY) && !key.startsWith(LONG_WRITE_NAME)) continue;
      const a = await this.#attachmentBytes(entry.rid, key);
      if (a) attachments.push(a);
    }
    const cp = env.checkpoint;
    const tail = {};
    if (env.parent !== undefined && env.parent !== null) tail.p = env.parent;
    if (own.length > 0) tail.a = own;
    if (Object.keys(inline).length > 0) tail.i = inline;
    if (Object.keys(env.values).length > 0) tail.e = env.values;
    if (Object.keys(held).length > 0) tail.o = held;
    if (!exact) tail.ma = 1;
    const head = JSON.stringify({ v: cp.v, ts: cp.ts, cv: cp.channel_versions, vs: cp.versions_seen });
    const rewindParent = env.parent != null ? targetCat.get(ns, env.parent) : undefined;
    const rns = rewindNamespace(ns);
    // The LangGraph id is the source's rewind id already: the copy's is derived from it.
    const rid = this.#derivedId(targetThread, ns, cp.id);
    const input = {
      session: sid,
      message: original.message,
      state: envelopeBytes(head, tail),
      contentType: CT_ENVELOPE,
      tags: original.tags,
      trigger: { kind: "automatic", reason: "langgraph" },
      namespace: rns,
      attachments,
      id: rid,
      metadata: { ...mirror },
    };
    if (rns !== ns) mirrorString(input.metadata, NS_KEY, ns);
    mirrorString(input.metadata, ID_KEY, cp.id);
    if (rewindParent) input.parent = rewindParent.rid;
    else input.root = true;
    sh.own.add(rid);
    try {
      await store.save(input);
    } finally {
      sh.own.delete(rid);
    }
    const copy = { id: cp.id, rid, type: ENVELOPE_V2, bare: entry.bare };
    if (exact) copy.meta = text;
    targetCat.add(ns, copy);
    copies.set(entry.rid, rid);
  }

  /** An attachment as stored ({ key, contentType, bytes }), or null. */
  async #attachmentBytes(rid, key) {
    const a = await this.store.attachment(rid, key);
    return a ? { key, contentType: a.contentType, bytes: a.bytes } : null;
  }

  /** The named threads that exist: [{ thread, sid }]. */
  #existingThreads(threadIds) {
    const sh = this.#shared;
    return threadIds
      .map((t) => ({ thread: t, sid: sh.sid(requireString(t, "thread_id")) }))
      .filter((t) => sh.exists(t.sid));
  }

  /**
   * Removes checkpoints (rewind ids) of these threads with rewind's compaction, after copying the
   * channel values that checkpoints staying behind take from them to those checkpoints
   * (deduplicated: no new chunks).
   */
  async #remove(threads, removing) {
    const store = this.store;
    if (removing.size === 0) {
      const bytes = store.metrics().logBytes;
      return { removed: 0, rehomed: 0, logBytesBefore: bytes, logBytesAfter: bytes };
    }
    let rehomed = 0;
    for (const { sid } of threads) {
      const cat = this.#shared.catalogue(sid);
      for (const [ns, space] of cat.namespaces) {
        for (const entry of space.entries.values()) {
          if (removing.has(entry.rid)) continue;
          const env = await this.#envelope(entry);
          if (!env) continue;
          for (const [channel, owner] of Object.entries(env.blobs ?? {})) {
            if (owner === null || !removing.has(owner)) continue;
            const key = valueKey(channel);
            if (await store.attachment(entry.rid, key)) continue;
            const found = await this.#value(cat, ns, entry, env, channel, owner, null);
            if (!found) continue;
            await store.attach(entry.rid, key, valueContentType(CT_VALUE, found.type), asBytes(found.bytes));
            rehomed += 1;
          }
        }
      }
    }
    const report = await store.applyCompaction({ remove: [...removing].map((id) => ({ id })) });
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
    sh.forgetAll();
  }

  /** Makes every write durable now (relaxed IndexedDB stores). */
  async flush() {
    await this.store.flush();
  }
}


/** A write whose attachment went while it was read (a concurrent deletion): left out. */
const MISSING_WRITE = Symbol("missing write");

/** How many checkpoints list() reads ahead at a time. */
const LIST_PAGE = 64;

/** What #channelValue answers for a channel a checkpoint does not have. */
const NOT_STORED = Symbol("not stored");

function valueGone(entry, channel, owner) {
  return new Error(
    `RewindSaver: the value of channel "${channel}" of checkpoint ${entry.id} is gone ` +
      `(checkpoint ${owner} holding it was deleted). Use saver.compact() rather than ` +
      `store.compact() or store.delete() on LangGraph threads.`,
  );
}

/** A version 2 envelope's bytes: its head ({ v, ts, cv, vs } as JSON) and the rest. */
function envelopeBytes(head, tail) {
  const rest = JSON.stringify(tail);
  return encoder.encode(rest === "{}" ? head : `${head.slice(0, -1)},${rest.slice(1)}`);
}

/** A version 2 envelope's bytes in the version 1 shape the readers take (see #envelope). */
function envelopeV2(entry, bytes) {
  let e;
  try {
    e = JSON.parse(strictDecoder.decode(bytes));
  } catch (error) {
    throw new Error(`RewindSaver: the envelope of checkpoint ${entry.id} is not JSON (${error.message}).`);
  }
  if (!e || typeof e !== "object" || typeof e.cv !== "object" || e.cv === null) {
    throw new Error(`RewindSaver: the envelope of checkpoint ${entry.id} is not a checkpoint.`);
  }
  const blobs = e.o ? { ...e.o } : {};
  for (const ch of e.a ?? []) blobs[ch] = null;
  return {
    v2: true,
    checkpoint: { v: e.v, id: entry.id, ts: e.ts, channel_versions: e.cv, versions_seen: e.vs ?? {} },
    parent: e.p,
    blobs,
    inline: e.i ?? {},
    values: e.e ?? {},
    metadataAlone: e.ma === 1,
  };
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
