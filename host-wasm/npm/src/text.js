// JavaScript strings and rewind's UTF-8: JavaScript strings may hold lone surrogates (a string
// cut in the middle of an emoji), rewind's strings cannot. Used by the packing of inputs
// (packed.js), by the names the integrations give rewind (langgraph/names.js, ai-sdk.js,
// openai-agents.js) and by the strings they keep in rewind metadata.

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Whether a string has no lone surrogates (is representable as UTF-8). */
export function wellFormed(text) {
  if (typeof text.isWellFormed === "function") return text.isWellFormed();
  LONE_SURROGATE.lastIndex = 0;
  return !LONE_SURROGATE.test(text);
}

/** The string with each lone surrogate replaced by U+FFFD (for text rewind only displays). */
export function toWellFormed(text) {
  if (typeof text.toWellFormed === "function") return text.toWellFormed();
  return text.replace(LONE_SURROGATE, "\uFFFD");
}

/** The UTF-8 length of a string (a lone surrogate counts as U+FFFD, 3 bytes), without encoding it. */
export function utf8Length(text) {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a pair: 4 bytes for 2 units
      i++;
    } else n += 2;
  }
  return n;
}

/**
 * Sets a string in rewind metadata under `key`, or its JSON text under `key + "~json"` when it
 * holds lone surrogates (rewind metadata is UTF-8 JSON).
 */
export function mirrorString(metadata, key, value) {
  if (wellFormed(value)) metadata[key] = value;
  else metadata[`${key}~json`] = JSON.stringify(value);
}

/** The string mirrorString() stored under `key`, or undefined. */
export function mirroredString(metadata, key) {
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

/** At most `max` UTF-16 units of a string, not cutting a surrogate pair in two. */
export function truncate(text, max) {
  if (text.length <= max) return text;
  const code = text.charCodeAt(max - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}
