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
 * LangGraph metadata as rewind metadata (a JSON object for queries and tools), and whether the
 * metadata is plain JSON (no BigInt, no cycle, nothing that throws), so that the saver's serde can
 * serialise it inside the envelope. Strings with lone surrogates are mirrored with U+FFFD; metadata
 * too large or with such keys is mirrored as its `source` and `step` only.
 */
export function mirrorMetadata(metadata) {
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
export function minimalMirror(metadata) {
  const out = {};
  for (const key of ["source", "step"]) {
    const v = metadata?.[key];
    if (typeof v === "string") out[key] = toWellFormed(v);
    else if (typeof v === "number" && Number.isFinite(v)) out[key] = v;
  }
  return out;
}
