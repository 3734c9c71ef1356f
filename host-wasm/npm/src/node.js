// Entry point for Node.js: memory stores and file stores (the native store's directory, see
// files.js); Node.js has no IndexedDB.

import { createRequire } from "node:module";
import { createApi } from "./store.js";
import { NodeFiles } from "./files.js";

const require = createRequire(import.meta.url);
const glue = require("./rewind_wasm.cjs");

const platform = {
  indexedDb: false,
  IdbLog: null,
  acquireLock: async () => () => {},
  channel: () => null,
  requestPersistence: () => {},
  NodeFiles,
};

export const { Store } = createApi(glue, platform);
export * from "./errors.js";
