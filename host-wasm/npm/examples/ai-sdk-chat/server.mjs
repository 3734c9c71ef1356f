// The example chat app: a page using the AI SDK's `useChat` (React) whose chats persist in
// IndexedDB through rewind-store/ai-sdk, and the server it talks to, whose /api/chat route is the
// AI SDK's documented route (`streamText` + `toUIMessageStreamResponse`) over a scripted model.
//
//   npm run build              (the package, once: dist/web)
//   node examples/ai-sdk-chat/server.mjs [port]
//
// then open the printed address. The page is bundled at start with esbuild; the package itself
// is served from dist/web (/pkg/), as an app would load it.

import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Readable } from "node:stream";
import * as esbuild from "esbuild";
import { convertToModelMessages, createIdGenerator, streamText } from "ai";
import { scriptedModel } from "./model.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const pkgWeb = path.resolve(here, "../../dist/web");
const TYPES = { ".js": "text/javascript", ".wasm": "application/wasm" };

const PAGE = `<!doctype html>
<html>
<head><meta charset="utf-8"><title>rewind chat</title>
<style>
body { font: 15px system-ui, sans-serif; max-width: 44rem; margin: 2rem auto; }
.message { padding: .4rem .6rem; margin: .3rem 0; border-radius: .4rem; white-space: pre-wrap; }
.user { background: #eef; } .assistant { background: #efe; }
.branches button { margin: .2rem; }
</style></head>
<body><div id="root">loading…</div><script type="module" src="/app.js"></script></body>
</html>`;

/**
 * The chat route of the AI SDK's docs: answers the messages with the model and, when `chats` is
 * given, saves the chat on the server once the answer is complete. Resolves to the Response and a
 * promise of the save (null without `chats`).
 */
export async function answer(request, { model, chats }) {
  const { id, messages } = await request.json();
  const result = streamText({ model, messages: await convertToModelMessages(messages) });
  let saved = Promise.resolve(null);
  const response = result.toUIMessageStreamResponse({
    originalMessages: messages,
    generateMessageId: createIdGenerator({ prefix: "msg", size: 16 }),
    onFinish: chats
      ? (event) => {
          saved = chats.onFinish(id)(event);
        }
      : undefined,
  });
  return { response, saved: () => saved };
}

/** Bundles the page (React, useChat and the app) into memory; the package stays external. */
async function bundle() {
  const result = await esbuild.build({
    entryPoints: [path.join(here, "app.jsx")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    jsx: "automatic",
    write: false,
    logLevel: "warning",
    define: { "process.env.NODE_ENV": '"production"' },
    plugins: [
      {
        // rewind-store is loaded from /pkg/, as published: it fetches its .wasm beside itself.
        name: "rewind-store-from-pkg",
        setup(build) {
          build.onResolve({ filter: /^rewind-store(\/.*)?$/ }, (args) => ({
            path: args.path === "rewind-store" ? "/pkg/index.js" : `/pkg/${args.path.slice("rewind-store/".length)}.js`,
            external: true,
          }));
        },
      },
    ],
  });
  return result.outputFiles[0].contents;
}

/** Starts the example's server; resolves to { url, close }. */
export async function startServer({ port = 0, host = "127.0.0.1" } = {}) {
  const app = await bundle();
  const model = scriptedModel();
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, "http://localhost");
    try {
      if (req.method === "POST" && url.pathname === "/api/chat") {
        const request = new Request(url, { method: "POST", headers: req.headers, body: Readable.toWeb(req), duplex: "half" });
        const { response } = await answer(request, { model });
        res.writeHead(response.status, Object.fromEntries(response.headers));
        for await (const chunk of response.body) res.write(chunk);
        res.end();
      } else if (url.pathname === "/") {
        res.writeHead(200, { "content-type": "text/html" }).end(PAGE);
      } else if (url.pathname === "/app.js") {
        res.writeHead(200, { "content-type": "text/javascript" }).end(app);
      } else if (url.pathname.startsWith("/pkg/")) {
        const file = path.join(pkgWeb, path.normalize(url.pathname.slice(5)));
        if (!file.startsWith(pkgWeb) || !fs.existsSync(file)) return res.writeHead(404).end();
        res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream" });
        fs.createReadStream(file).pipe(res);
      } else {
        res.writeHead(404).end();
      }
    } catch (error) {
      res.writeHead(500).end(String(error?.stack ?? error));
    }
  });
  await new Promise((resolve) => server.listen(port, host, resolve));
  return {
    url: `http://${host}:${server.address().port}/`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { url } = await startServer({ port: Number(process.argv[2] ?? 3000) });
  console.log(`rewind chat example: ${url}`);
}
