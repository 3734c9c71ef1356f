// Entry point for Node.js: memory stores (Node.js has no IndexedDB).

import { createRequire } from "node:module";
import { createApi } from "./store.js";

const require = createRequire(import.meta.url);
const glue = require("./rewind_wasm.cjs");

const platform = {
  indexedDb: false,
  IdbLog: null,
  acquireLock: async () => () => {},
  channel: () => null,
  requestPersistence: () => {},
};

export const { Store } = createApi(glue, platform);
export * from "./errors.js";
