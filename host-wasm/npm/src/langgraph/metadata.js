// LangGraph metadata in rewind: the JSON object mirrored for rewind's queries and tools, and the
// metadata filters of list(), which compare like the SQL savers (by value).

import { hasOwn, ID_KEY, NS_KEY, toWellFormed, wellFormed } from "./names.js";

/** Rewind metadata keys the saver sets itself (mirrorString() forms included). */
const RESERVED_METADATA_KEYS = [ID_KEY, `${ID_KEY}~json`, NS_KEY, `${NS_KEY}~json`];
/** Rewind metadata keeps LangGraph metadata up to this size (the rest stays in the state). */
const MAX_MIRRORED_METADATA = 32 << 10;

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

export function matchesFilter(metadata, filter) {
  if (!filter) return true;
  for (const [key, value] of Object.entries(filter)) {
    if (value === undefined) continue;
    if (!jsonEqual(metadata?.[key], value)) return false;
  }
  return true;
}

/**
 * LangGraph metadata as rewind metadata (a JSON object for queries and tools):
 *
 * - `exact`: the metadata is plain JSON that the mirror holds exactly (the saver's serde would
 *   read it back the same: no undefined, no Set, Map, BigInt or LangChain object, no lone
 *   surrogate, no key of the saver's own, at most 32 KiB), so the mirror is where it is stored;
 * - `plain`: the metadata is at least representable as JSON (no BigInt, no cycle);
 * - `mirror`: the object rewind keeps, and `text`, the JSON text of an exact mirror.
 *
 * Metadata that is not exact is mirrored as far as it can be (strings with lone surrogates as
 * U+FFFD; too large or with such keys as its `source` and `step` only), and the saver stores it
 * with its serde besides.
 */
export function mirrorMetadata(metadata) {
  if (!metadata || typeof metadata !== "object") return { mirror: {}, plain: true, exact: false, text: "{}" };
  if (isExact(metadata, 0)) {
    const text = JSON.stringify(metadata);
    // The metadata itself is the mirror: it is turned into JSON as soon as it is written.
    if (text.length <= MAX_MIRRORED_METADATA) return { mirror: metadata, plain: true, exact: true, text };
  }
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
    return { mirror: minimalMirror(metadata), plain, exact: false };
  }
  const parsed = JSON.parse(text);
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) return { mirror: {}, plain, exact: false };
  // The saver's own keys say where a checkpoint belongs: LangGraph metadata cannot set them.
  for (const key of RESERVED_METADATA_KEYS) if (hasOwn(parsed, key)) delete parsed[key];
  return { mirror: parsed, plain, exact: false };
}

/** Deeper than this, metadata is not mirrored exactly (rewind's JSON has a nesting limit). */
const MAX_EXACT_DEPTH = 32;

/** Whether `value` is JSON that reads back the same through JSON and through the serde. */
function isExact(value, depth) {
  switch (typeof value) {
    case "string":
      return wellFormed(value);
    case "number":
      return Number.isFinite(value);
    case "boolean":
      return true;
    case "object": {
      if (value === null) return true;
      if (depth >= MAX_EXACT_DEPTH) return false;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (!isExact(value[i], depth + 1)) return false;
        return true;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return false;
      // The serde revives objects with an "lc" key (LangChain objects, its own records).
      if (hasOwn(value, "lc")) return false;
      for (const key in value) {
        if (!wellFormed(key)) return false;
        if (depth === 0 && RESERVED_METADATA_KEYS.includes(key)) return false;
        if (!isExact(value[key], depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

/** The LangGraph metadata in a rewind mirror that holds it exactly: without the saver's keys. */
export function mirroredMetadataText(mirror) {
  if (!RESERVED_METADATA_KEYS.some((key) => hasOwn(mirror, key))) return JSON.stringify(mirror);
  const copy = { ...mirror };
  for (const key of RESERVED_METADATA_KEYS) delete copy[key];
  return JSON.stringify(copy);
}

/** The rewind metadata kept when the whole LangGraph metadata cannot be: source and step. */
export function minimalMirror(metadata) {
  const out = {};
  for (const key of ["source", "step"]) {
    const v = metadata?.[key];
    if (typeof v === "string") out[key] = toWellFormed(v);
    else if (typeof v === "number" && Number.isFinite(v)) out[key] = v;
  }
  return out;
}
