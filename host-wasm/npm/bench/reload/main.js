// The page of the reload measurement (bench/reload.mjs), bundled by Vite as an app would be.
// `?mode=fill` imports /log.bin into the IndexedDB store "bench" and closes it (which stores
// the index snapshot); `?mode=open` opens the store and lists its newest 10 checkpoints, as a
// reloaded tab of an agent's app does; `?mode=replay` does the same with the snapshot set
// aside first (the whole log replayed), then puts it back.

import { Store } from "rewind-store";

const NAME = "bench";

function idb(run) {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(`rewind:${NAME}`);
    req.onerror = () => reject(req.error);
    req.onsuccess = () => {
      const db = req.result;
      const tx = db.transaction("index", "readwrite");
      const out = run(tx.objectStore("index"));
      tx.oncomplete = () => {
        db.close();
        resolve(out.result);
      };
      tx.onerror = () => reject(tx.error);
    };
  });
}

async function openAndList() {
  const start = performance.now();
  const store = await Store.open({ backend: "indexeddb", name: NAME });
  const newest = store.list({ limit: 10 }).items.map((c) => c.seq);
  const end = performance.now();
  const source = store.indexSource();
  const checkpoints = store.metrics().checkpoints;
  const logBytes = store.metrics().logBytes;
  await store.close();
  return { sinceNavigationMs: end, openMs: end - start, newest, source, checkpoints, logBytes };
}

async function main(mode) {
  if (mode === "fill") {
    const log = new Uint8Array(await (await fetch("/log.bin")).arrayBuffer());
    await Store.destroy(NAME);
    const store = await Store.open({ backend: "indexeddb", name: NAME });
    const report = await store.importBinary(log);
    const metrics = store.metrics();
    await store.close();
    return { report, checkpoints: metrics.checkpoints, logBytes: metrics.logBytes };
  }
  if (mode === "open") return openAndList();
  if (mode === "replay") {
    const snapshot = await idb((index) => {
      const get = index.get("snapshot");
      index.delete("snapshot");
      return get;
    });
    const result = await openAndList();
    await idb((index) => index.put(snapshot, "snapshot"));
    return result;
  }
  throw new Error(`unknown mode ${mode}`);
}

window.result = main(new URLSearchParams(location.search).get("mode")).catch((e) => ({ error: `${e.code ?? ""} ${e.message}` }));
