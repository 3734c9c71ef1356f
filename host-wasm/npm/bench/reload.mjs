// Reloading a tab on a large IndexedDB store: how long until the page has opened the store and
// listed its newest 10 checkpoints, through the index snapshot and by replaying the whole log,
// in headless Chromium, with the package bundled by Vite as an app bundles it.
//
//   node bench/reload.mjs [checkpoints]     (from host-wasm/npm, after npm ci and the build;
//                                            default 100000; scripts/acceptance.sh runs it)
//
// The store: `checkpoints` checkpoints in 10 sessions, each state a ~3 KB JSON conversation
// window that gains a ~150 B message a step (made in Node.js, moved in as a binary export, and
// closed by a writer, which stores the index snapshot). Each figure is one reload: from the
// navigation's start (loading the bundle and the wasm module included) and from the
// `Store.open` call, to the newest 10 listed.

import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "vite";
import { chromium } from "playwright-core";
import { Store } from "rewind-store";

const here = path.dirname(fileURLToPath(import.meta.url));
const CHECKPOINTS = Number(process.argv[2] ?? 100_000);
const SESSIONS = 10;
const RUNS = 10;
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

async function makeLog() {
  const store = Store.memory();
  const sessions = [];
  for (let s = 0; s < SESSIONS; s++) sessions.push({ id: await store.createSession(`agent ${s}`), messages: [] });
  for (let i = 0; i < CHECKPOINTS; i++) {
    const session = sessions[i % SESSIONS];
    const n = Math.floor(i / SESSIONS);
    session.messages.push(`step ${n}: ${"observation ".repeat(10)}${(n * 2654435761) % 1000003}`);
    if (session.messages.length > 20) session.messages.shift();
    await store.save({
      session: session.id,
      message: `step ${n}`,
      state: { agent: session.id, step: n, messages: session.messages },
      tags: n % 100 === 0 ? ["milestone"] : [],
    });
  }
  return store.exportBinary();
}

function serve(dir, log) {
  const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm" };
  return http.createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    if (url.pathname === "/log.bin") {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      res.end(log);
      return;
    }
    const file = path.join(dir, url.pathname === "/" ? "index.html" : url.pathname);
    if (!file.startsWith(dir) || !fs.existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": types[path.extname(file)] ?? "application/octet-stream" });
    fs.createReadStream(file).pipe(res);
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const ms = (x) => `${x.toFixed(0)} ms`;

const out = fs.mkdtempSync(path.join(os.tmpdir(), "rewind-reload-"));
const profile = fs.mkdtempSync(path.join(os.tmpdir(), "rewind-reload-profile-"));
process.env.REWIND_RELOAD_OUT = out;
await build({ configFile: path.join(here, "reload/vite.config.js") });
const t = Date.now();
const log = await makeLog();
console.log(`store: ${CHECKPOINTS} checkpoints, ${SESSIONS} sessions, binary log ${(log.length / 1e6).toFixed(1)} MB (made in ${((Date.now() - t) / 1000).toFixed(0)} s)`);
const server = serve(out, log);
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${server.address().port}`;
const context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  args: ["--no-sandbox"],
});
try {
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error("page error:", e.message));
  const visit = async (mode) => {
    await page.goto(`${origin}/?mode=${mode}`);
    await page.waitForFunction(() => window.result !== undefined);
    const result = await page.evaluate(() => window.result);
    if (result.error) throw new Error(`${mode}: ${result.error}`);
    return result;
  };
  const filled = await visit("fill");
  console.log(`IndexedDB store: ${filled.checkpoints} checkpoints, ${(filled.logBytes / 1e6).toFixed(1)} MB of log`);
  const runs = { open: [], replay: [] };
  for (let i = 0; i < RUNS; i++) {
    for (const mode of ["open", "replay"]) runs[mode].push(await visit(mode));
  }
  for (const [mode, results] of Object.entries(runs)) {
    const nav = results.map((r) => r.sinceNavigationMs);
    const open = results.map((r) => r.openMs);
    const read = results[0].source.logBytesRead;
    console.log(
      `${mode === "open" ? "with the snapshot" : "replaying the log"}: reload to newest 10 listed ` +
        `median ${ms(median(nav))} (${ms(Math.min(...nav))}–${ms(Math.max(...nav))}), ` +
        `Store.open + list ${ms(median(open))} (${ms(Math.min(...open))}–${ms(Math.max(...open))}); ` +
        `index ${results[0].source.snapshot}, ${(read / 1e6).toFixed(2)} MB of log read at open`,
    );
  }
} finally {
  await context.close();
  server.close();
  fs.rmSync(out, { recursive: true, force: true });
  fs.rmSync(profile, { recursive: true, force: true });
}
