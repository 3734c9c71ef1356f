// Ids derived from names: the integrations find a thread's, chat's or agent session's rewind
// session by computing its id (a UUID version 5 of the name), so every store and tab that sees
// the same name finds the same session without a name table to keep in sync.
//
// UUID version 5 (RFC 9562) is SHA-1 over a namespace and a name. WebCrypto's digest is
// asynchronous and absent from some workers, and these ids are needed synchronously, so SHA-1
// is computed here; the ids equal every other uuid5 implementation's (the tests compare them
// with LangGraph's).

import { makeError } from "./errors.js";
import { wellFormed } from "./text.js";

/** Namespace of the uuid5 ids rewind's integrations derive. */
export const ID_NAMESPACE = "4f0d2c8e-6b1a-5c3e-9d47-2a1b8e6f0c53";

const encoder = new TextEncoder();

/** SHA-1 of `bytes` (20 bytes). */
function sha1(bytes) {
  const length = bytes.length;
  const padded = ((length + 8) >>> 6) * 64 + 64;
  const buf = new Uint8Array(padded);
  buf.set(bytes);
  buf[length] = 0x80;
  const view = new DataView(buf.buffer);
  // The message length in bits, as a 64-bit big-endian number.
  view.setUint32(padded - 8, Math.floor(length / 0x20000000));
  view.setUint32(padded - 4, (length << 3) >>> 0);
  const h = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0];
  const w = new Int32Array(80);
  for (let block = 0; block < padded; block += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getInt32(block + i * 4);
    for (let i = 16; i < 80; i++) {
      const x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16];
      w[i] = (x << 1) | (x >>> 31);
    }
    let [a, b, c, d, e] = h;
    for (let i = 0; i < 80; i++) {
      let f, k;
      if (i < 20) [f, k] = [(b & c) | (~b & d), 0x5a827999];
      else if (i < 40) [f, k] = [b ^ c ^ d, 0x6ed9eba1];
      else if (i < 60) [f, k] = [(b & c) | (b & d) | (c & d), 0x8f1bbcdc];
      else [f, k] = [b ^ c ^ d, 0xca62c1d6];
      const t = (((a << 5) | (a >>> 27)) + f + e + k + w[i]) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = t;
    }
    h[0] = (h[0] + a) | 0;
    h[1] = (h[1] + b) | 0;
    h[2] = (h[2] + c) | 0;
    h[3] = (h[3] + d) | 0;
    h[4] = (h[4] + e) | 0;
  }
  const out = new Uint8Array(20);
  const outView = new DataView(out.buffer);
  h.forEach((word, i) => outView.setInt32(i * 4, word));
  return out;
}

/** The UUID version 5 of `name` (UTF-8) in the namespace `namespace` (a UUID string). */
export function uuid5(name, namespace) {
  const ns = namespace.replaceAll("-", "");
  const nameBytes = encoder.encode(name);
  const input = new Uint8Array(16 + nameBytes.length);
  for (let i = 0; i < 16; i++) input[i] = parseInt(ns.slice(i * 2, i * 2 + 2), 16);
  input.set(nameBytes, 16);
  const hash = sha1(input);
  hash[6] = (hash[6] & 0x0f) | 0x50;
  hash[8] = (hash[8] & 0x3f) | 0x80;
  return formatUuid(hash.subarray(0, 16));
}

/** 16 bytes as a UUID string. */
function formatUuid(bytes) {
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * The id naming `value` of kind `kind` ("thread", "chat", …), for any string: strings with lone
 * surrogates (which UTF-8 cannot hold) are named by their JSON text instead.
 */
export function derivedUuid(kind, value) {
  const name = wellFormed(value) ? `${kind}:${value}` : `${kind}~json:${JSON.stringify(value)}`;
  return uuid5(name, ID_NAMESPACE);
}

/**
 * A new random UUID (version 4) for a chat or session the caller did not name: from
 * `crypto.randomUUID`, or `crypto.getRandomValues` where that is missing (pages served over
 * plain http). Without either, the caller must pass its own id.
 */
export function randomUuid() {
  const crypto = globalThis.crypto;
  if (typeof crypto?.randomUUID === "function") return crypto.randomUUID();
  if (typeof crypto?.getRandomValues !== "function") {
    throw makeError("INVALID_INPUT", "no secure random source here (globalThis.crypto): pass an id");
  }
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  return formatUuid(bytes);
}
