// Entry point for browsers and bundlers: loads the WebAssembly module, then offers memory and
// IndexedDB stores. Only one tab writes a store at a time (Web Locks); other tabs can open it
// read-only and are told of changes (BroadcastChannel).

import init, * as glue from "./rewind_wasm.js";
import { createApi } from "./store.js";
import { IdbLog } from "./idb.js";
import { makeError } from "./errors.js";

await init();

function acquireLock(name, mode) {
  if (!globalThis.navigator?.locks) {
    // No Web Locks (very old browsers): one writer per page is all we can promise.
    return Promise.resolve(() => {});
  }
  return new Promise((resolve, reject) => {
    const options = mode === "wait" ? {} : { ifAvailable: true };
    navigator.locks
      .request(`rewind:${name}`, options, (lock) => {
        if (!lock) {
          reject(makeError("LOCKED", `store "${name}" is open for writing in another tab or worker`));
          return undefined;
        }
        // Held until the store is closed.
        return new Promise((release) => resolve(release));
      })
      .catch(reject);
  });
}

const platform = {
  indexedDb: typeof indexedDB !== "undefined",
  IdbLog,
  acquireLock,
  channel: (name) =>
    typeof BroadcastChannel === "undefined" ? null : new BroadcastChannel(`rewind:${name}`),
  requestPersistence: () => {
    try {
      navigator.storage?.persist?.().catch(() => {});
    } catch {
      // Not available: storage stays best-effort.
    }
  },
};

export const { Store } = createApi(glue, platform);
export * from "./errors.js";
