// How LangGraph's names become rewind's: ids, attachment keys, namespaces and content types, and
// the strings that must survive the trip (lone surrogates, names over rewind's limits).

import { derivedUuid, ID_NAMESPACE, uuid5 } from "../derived-ids.js";
import { mirroredString, mirrorString, toWellFormed, truncate, utf8Length, wellFormed } from "../text.js";

// Names that reach rewind are either well formed, or derived (uuid5 of their JSON text, which
// escapes lone surrogates), or mirrored as JSON text. Thread ids and checkpoint ids are derived
// in the namespace every integration uses (derived-ids.js).
export { derivedUuid, ID_NAMESPACE, mirroredString, mirrorString, toWellFormed, truncate, utf8Length, uuid5, wellFormed };
export const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const CT_CHECKPOINT = "application/vnd.langgraph.checkpoint";
/**
 * Content type of a version 2 envelope: the checkpoint's structure as plain JSON, its metadata in
 * rewind's metadata (see saver.js). Version 1 envelopes are `CT_CHECKPOINT` with a serde type.
 */
export const CT_ENVELOPE = "application/vnd.langgraph.checkpoint.v2+json";
/** The catalogue's `type` of a version 2 envelope (a version 1 entry holds its serde type). */
export const ENVELOPE_V2 = Symbol("envelope v2");
export const CT_VALUE = "application/vnd.langgraph.value";
export const CT_WRITE = "application/vnd.langgraph.write";
export const CT_METADATA = "application/vnd.langgraph.metadata";
const VALUE_KEY = "c:";
/** A value whose key would be too long (or not UTF-8): "c#<uuid>". */
const LONG_VALUE_KEY = "c#";
/** LangGraph metadata serialised on its own (when the envelope's JSON cannot hold it). */
export const METADATA_KEY = "m:";
export const WRITE_KEY = "w:";
/** A write whose key would be too long: "w#<uuid>", its key text in the attachment "k#<uuid>". */
export const LONG_WRITE_KEY = "w#";
export const LONG_WRITE_NAME = "k#";
/** rewind's limits on attachment keys and namespaces (bytes). */
export const MAX_KEY_BYTES = 256;
const MAX_NAMESPACE_BYTES = 256;
/** Session metadata key naming the thread. */
export const THREAD_KEY = "langgraph_thread_id";
/** Rewind metadata key holding a checkpoint id that is not the rewind id. */
export const ID_KEY = "langgraph:checkpoint_id";
/** Rewind metadata key holding a namespace too long for rewind (stored as "#<uuid>"). */
export const NS_KEY = "langgraph:checkpoint_ns";

export const encoder = new TextEncoder();

/** Content type carrying a serde type tag. */
export function contentType(base, type) {
  return type === "json" ? `${base}+json` : `${base}; serde=${encodeURIComponent(type)}`;
}

/**
 * Content type of a channel value or write: plain application/json for serde's "json" (the
 * attachment key already says what it is, and every byte of a record counts), else the base
 * with the serde tag.
 */
export function valueContentType(base, type) {
  return type === "json" ? "application/json" : contentType(base, type);
}

/** The serde type tag of a content type made by contentType(), or null if it is not ours. */
export function serdeType(base, ct) {
  if (typeof ct !== "string" || !ct.startsWith(base)) return null;
  const rest = ct.slice(base.length);
  if (rest === "+json") return "json";
  if (rest.startsWith("; serde=")) return decodeURIComponent(rest.slice(8));
  return null;
}

/** The catalogue type of a checkpoint's content type: ENVELOPE_V2, a serde type, or null. */
export function envelopeType(ct) {
  return ct === CT_ENVELOPE ? ENVELOPE_V2 : serdeType(CT_CHECKPOINT, ct);
}

export const hasOwn = (object, key) => Object.prototype.hasOwnProperty.call(object, key);

/** The attachment key of a channel's value. */
export function valueKey(channel) {
  const key = VALUE_KEY + channel;
  return utf8Length(key) <= MAX_KEY_BYTES && wellFormed(channel) ? key : LONG_VALUE_KEY + derivedUuid("channel", channel);
}

/** The rewind namespace of a LangGraph checkpoint_ns. */
export function rewindNamespace(ns) {
  return utf8Length(ns) <= MAX_NAMESPACE_BYTES && wellFormed(ns) ? ns : `#${derivedUuid("namespace", ns)}`;
}

export function asBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (typeof data === "string") return encoder.encode(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  throw new TypeError("the serializer returned neither bytes nor a string");
}
