// Inputs packed for the engine into a buffer reused from call to call, so nothing is turned into
// JSON text and parsed back: a checkpoint to create (its description and its bytes; the layout
// is documented in core/src/api/packed.rs), checked here as the engine's JSON reader would
// check it — unknown fields, wrong types and strings with lone surrogates are
// InvalidInputErrors; and the [checkpoint id, key] pairs of store.attachmentsOf (see
// host-wasm/src/wasm_store.rs, unpack_pairs).

import { makeError } from "./errors.js";
import { wellFormed } from "./text.js";

const LAYOUT = 1;
const NONE = 0xffffffff;
const FLAG_ROOT = 1;
const FLAG_CREATED_AT = 2;
const FIELDS = new Set([
  "session",
  "message",
  "state",
  "contentType",
  "tags",
  "metadata",
  "trigger",
  "parent",
  "root",
  "namespace",
  "id",
  "createdAt",
  "attachments",
]);

const encoder = new TextEncoder();

const invalid = (message) => makeError("INVALID_INPUT", `checkpoint: ${message}`);

/** JSON text of `value`, or an InvalidInputError naming `what` (cycles, BigInt, undefined). */
export function toJson(value, what) {
  let text;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw makeError("INVALID_INPUT", `${what} is not representable as JSON: ${error.message}`);
  }
  if (text === undefined) {
    throw makeError("INVALID_INPUT", `${what} is not representable as JSON`);
  }
  return text;
}

/** The state as bytes and its content type (a JSON value becomes its JSON text). */
export function encodeState(state, contentType) {
  if (state instanceof Uint8Array) {
    return { bytes: state, contentType: contentType ?? "application/octet-stream" };
  }
  if (state === undefined) {
    throw makeError("INVALID_INPUT", "a checkpoint needs a state (a Uint8Array or a JSON value)");
  }
  return { bytes: encoder.encode(toJson(state, "the state")), contentType: contentType ?? "application/json" };
}

class Packer {
  constructor() {
    this.buf = new Uint8Array(16 * 1024);
    this.view = new DataView(this.buf.buffer);
    this.at = 0;
  }

  reserve(n) {
    const need = this.at + n;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buf.subarray(0, this.at));
    this.buf = grown;
    this.view = new DataView(grown.buffer);
  }

  u8(value) {
    this.reserve(1);
    this.buf[this.at++] = value;
  }

  u32(value) {
    this.reserve(4);
    this.view.setUint32(this.at, value, true);
    this.at += 4;
  }

  u64(value) {
    this.reserve(8);
    this.view.setBigUint64(this.at, BigInt(value), true);
    this.at += 8;
  }

  /** A required string; `what` names it in errors. */
  string(value, what) {
    if (typeof value !== "string") throw invalid(`${what} must be a string`);
    if (!wellFormed(value)) throw invalid(`${what} has a lone surrogate (not representable as UTF-8)`);
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    this.reserve(4 + value.length * 3);
    const { written } = encoder.encodeInto(value, this.buf.subarray(this.at + 4));
    this.view.setUint32(this.at, written, true);
    this.at += 4 + written;
  }

  /** A string, or none for null and undefined. */
  optional(value, what) {
    if (value === undefined || value === null) this.u32(NONE);
    else this.string(value, what);
  }

  bytes(value) {
    this.reserve(value.length);
    this.buf.set(value, this.at);
    this.at += value.length;
  }
}

const packer = new Packer();
const listPacker = new Packer();

/**
 * Packs strings for the engine (host-wasm/src/wasm_store.rs, unpack_strings): a u32 count, then
 * each string. `what(i)` names the i-th in errors. A copy, the caller's to keep.
 */
export function packStrings(strings, what) {
  const p = listPacker;
  p.at = 0;
  p.u32(strings.length);
  for (let i = 0; i < strings.length; i++) p.string(strings[i], what(i));
  return p.buf.slice(0, p.at);
}

/** Packs [checkpoint id, key] pairs: their strings in turn (unpack_pairs). A copy. */
export function packPairs(pairs) {
  const flat = [];
  for (const pair of pairs) {
    if (!Array.isArray(pair) || pair.length !== 2) {
      throw makeError("INVALID_INPUT", "attachmentsOf takes an array of [checkpointId, key]");
    }
    flat.push(pair[0], pair[1]);
  }
  return packStrings(flat, (i) => (i % 2 ? "an attachment key" : "a checkpoint id"));
}

/**
 * Packs a checkpoint input for the engine's `checkpoint`, `save` and `autoCheckpoint`. Returns a
 * view of a buffer the next call overwrites: pass it on at once (or copy it).
 */
export function packCheckpoint(input) {
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    throw makeError("INVALID_INPUT", "checkpoint() takes an object");
  }
  for (const key in input) {
    if (!FIELDS.has(key) && input[key] !== undefined) throw invalid(`unknown field \`${key}\``);
  }
  const { state, contentType, tags, metadata, trigger, parent, root, namespace, id, createdAt, attachments } = input;
  const encoded = encodeState(state, contentType);
  if (attachments !== undefined && attachments !== null && !Array.isArray(attachments)) {
    throw makeError("INVALID_INPUT", "attachments must be an array of { key, contentType, bytes }");
  }
  if (attachments) {
    for (const a of attachments) {
      if (!a || typeof a.key !== "string" || !(a.bytes instanceof Uint8Array)) {
        throw makeError("INVALID_INPUT", "an attachment needs a string key and its bytes as a Uint8Array");
      }
    }
  }
  const p = packer;
  p.at = 0;
  p.u8(LAYOUT);
  p.string(input.session, "session");
  p.string(input.message, "message");
  p.string(encoded.contentType, "contentType");
  p.optional(namespace, "namespace");
  p.optional(id, "id");
  p.optional(parent, "parent");
  if (root !== undefined && typeof root !== "boolean") throw invalid("root must be a boolean");
  const hasTime = createdAt !== undefined && createdAt !== null;
  if (hasTime && !(Number.isSafeInteger(createdAt) && createdAt >= 0)) {
    throw invalid("createdAt must be a non-negative integer (Unix ms)");
  }
  p.u8((root ? FLAG_ROOT : 0) | (hasTime ? FLAG_CREATED_AT : 0));
  if (hasTime) p.u64(createdAt);
  if (trigger === undefined || trigger === null) {
    p.u32(NONE);
    p.u32(NONE);
  } else {
    if (typeof trigger !== "object") throw invalid("trigger must be { kind, reason? }");
    for (const key in trigger) {
      if (key !== "kind" && key !== "reason" && trigger[key] !== undefined) {
        throw invalid(`unknown trigger field \`${key}\``);
      }
    }
    p.string(trigger.kind, "trigger.kind");
    p.optional(trigger.reason, "trigger.reason");
  }
  if (metadata === undefined) p.u32(NONE);
  else {
    if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata)) {
      throw invalid("metadata must be an object");
    }
    p.string(toJson(metadata, "the checkpoint's metadata"), "metadata");
  }
  if (tags === undefined) p.u32(0);
  else {
    if (!Array.isArray(tags)) throw invalid("tags must be an array of strings");
    p.u32(tags.length);
    for (const tag of tags) p.string(tag, "a tag");
  }
  const list = attachments ?? [];
  p.u32(list.length);
  for (const a of list) {
    p.string(a.key, "an attachment key");
    p.string(a.contentType ?? "application/octet-stream", "an attachment's contentType");
    p.optional(a.base, "an attachment's base");
    p.u32(a.bytes.length);
  }
  p.u32(encoded.bytes.length);
  p.bytes(encoded.bytes);
  for (const a of list) p.bytes(a.bytes);
  return p.buf.subarray(0, p.at);
}
