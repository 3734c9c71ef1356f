// RewindSaver in a real headless Chromium (Debian's /usr/bin/chromium driven by playwright-core):
// a tool-calling LangGraph agent checkpointed to IndexedDB, interrupted, resumed after a page
// reload, its history read back and time-travelled (a fork), then walked with
// getDeltaChannelHistory, copied with copyThread and pruned, all persisted across reloads.
//
// The page loads the package's browser build (/pkg/, dist/web) and a bundle of LangGraph, the
// saver and the agent made here with esbuild (a devDependency) from node_modules, so the test
// needs only `npm ci` and the package build.
//
//   node --test test/langgraph-browser.test.mjs

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = path.resolve(here, "..");

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const TYPES = { ".js": "text/javascript", ".wasm": "application/wasm", ".html": "text/html" };

/**
 * The bundle's entry: the saver (from the package's browser build), LangGraph's browser entry
 * and the agent of the Node.js test (a scripted tool-calling chat model and a multiply tool).
 */
const ENTRY = `
export { RewindSaver } from ${JSON.stringify(path.join(pkg, "dist/web/langgraph/index.js"))};
import { StateGraph, MessagesAnnotation, START, END } from "@langchain/langgraph/web";
import { ToolNode, toolsCondition } from "@langchain/langgraph/prebuilt";
import { BaseChatModel } from "@langchain/core/language_models/chat_models";
import { AIMessage, HumanMessage, ToolMessage } from "@langchain/core/messages";
import { tool } from "@langchain/core/tools";
import { z } from "zod";
export { BaseCheckpointSaver, MemorySaver } from "@langchain/langgraph-checkpoint";
export { AIMessage, HumanMessage };

class ScriptedToolModel extends BaseChatModel {
  _llmType() { return "scripted-tool-model"; }
  bindTools() { return this; }
  async _generate(messages) {
    const last = messages[messages.length - 1];
    let message;
    if (last instanceof ToolMessage || last?._getType?.() === "tool") {
      message = new AIMessage("The answer is " + last.content + ".");
    } else {
      const [a, b] = (String(last.content).match(/-?\\d+/g) ?? ["6", "7"]).map(Number);
      message = new AIMessage({
        content: "",
        tool_calls: [{ name: "multiply", args: { a, b }, id: "call_" + a + "_" + b, type: "tool_call" }],
      });
    }
    return { generations: [{ text: String(message.content), message }] };
  }
}

const multiply = tool(async ({ a, b }) => String(a * b), {
  name: "multiply",
  description: "Multiplies two numbers.",
  schema: z.object({ a: z.number(), b: z.number() }),
});

export function buildAgent(checkpointer, options = {}) {
  const model = new ScriptedToolModel({}).bindTools([multiply]);
  return new StateGraph(MessagesAnnotation)
    .addNode("agent", async (state) => ({ messages: [await model.invoke(state.messages)] }))
    .addNode("tools", new ToolNode([multiply]))
    .addEdge(START, "agent")
    .addConditionalEdges("agent", toolsCondition, ["tools", END])
    .addEdge("tools", "agent")
    .compile({ checkpointer, ...options });
}

export function describeState(s) {
  return {
    next: s.next,
    source: s.metadata?.source,
    step: s.metadata?.step,
    messages: (s.values.messages ?? []).map((m) => [m._getType(), m.content, m.tool_calls?.map((c) => [c.name, c.args]) ?? []]),
  };
}

export async function collect(iterable) {
  const out = [];
  for await (const item of iterable) out.push(item);
  return out;
}
`;

let server;
let origin;
let profile;
let bundleDir;

async function buildBundle() {
  bundleDir = fs.mkdtempSync(path.join(os.tmpdir(), "rewind-langgraph-bundle-"));
  const webSaver = path.join(pkg, "dist", "web", "langgraph");
  await esbuild.build({
    stdin: { contents: ENTRY, resolveDir: pkg, sourcefile: "langgraph-agent-entry.js" },
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    outfile: path.join(bundleDir, "agent.js"),
    logLevel: "warning",
    plugins: [
      {
        // The saver imports the store as "../index.js": the page loads the package's own build
        // (it fetches its .wasm next to itself), so leave that import to the browser.
        name: "rewind-store-external",
        setup(build) {
          build.onResolve({ filter: /^\.\.\/index\.js$/ }, (args) =>
            path.dirname(args.importer) === webSaver ? { path: "/pkg/index.js", external: true } : undefined,
          );
        },
      },
    ],
  });
}

function serve() {
  const roots = { "/pkg/": path.join(pkg, "dist/web"), "/bundle/": bundleDir };
  return http.createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    if (url.pathname === "/" || url.pathname === "/page.html") {
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<!doctype html><title>rewind langgraph</title><body>rewind langgraph test page</body>");
      return;
    }
    for (const [prefix, dir] of Object.entries(roots)) {
      if (url.pathname.startsWith(prefix)) {
        const file = path.join(dir, path.normalize(url.pathname.slice(prefix.length)));
        if (!file.startsWith(dir) || !fs.existsSync(file)) break;
        res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream" });
        fs.createReadStream(file).pipe(res);
        return;
      }
    }
    res.writeHead(404);
    res.end();
  });
}

before(async () => {
  await buildBundle();
  server = serve();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${server.address().port}`;
  profile = fs.mkdtempSync(path.join(os.tmpdir(), "rewind-chromium-langgraph-"));
});

after(async () => {
  server?.close();
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
  if (bundleDir) fs.rmSync(bundleDir, { recursive: true, force: true });
});

test("a LangGraph agent checkpointed to IndexedDB: interrupt, reload, resume, history, time travel", async () => {
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
  });
  try {
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${origin}/page.html`);

    // 1. Run until the graph stops before the tool; close the store.
    const first = await page.evaluate(async () => {
      const { Store } = await import("/pkg/index.js");
      const lg = await import("/bundle/agent.js");
      const store = await Store.open({ backend: "indexeddb", name: "langgraph-agent" });
      const saver = new lg.RewindSaver(store);
      const agent = lg.buildAgent(saver, { interruptBefore: ["tools"] });
      const config = { configurable: { thread_id: "browser-thread" } };
      await agent.invoke({ messages: [new lg.HumanMessage("What is 6 times 7?")] }, config);
      const state = await agent.getState(config);
      const out = {
        next: state.next,
        call: state.values.messages.at(-1).tool_calls.map((c) => c.args),
        checkpoints: store.metrics().checkpoints,
        session: saver.sessionId("browser-thread"),
        checkpointId: state.config.configurable.checkpoint_id,
      };
      await store.close();
      return out;
    });
    assert.deepEqual(first.next, ["tools"]);
    assert.deepEqual(first.call, [{ a: 6, b: 7 }]);
    assert.ok(first.checkpoints >= 3);

    // 2. A new page (the old one's memory is gone): resume from IndexedDB, ask again, travel back.
    await page.reload();
    const second = await page.evaluate(async () => {
      const { Store } = await import("/pkg/index.js");
      const lg = await import("/bundle/agent.js");
      const store = await Store.open({ backend: "indexeddb", name: "langgraph-agent" });
      const saver = new lg.RewindSaver(store);
      const agent = lg.buildAgent(saver, { interruptBefore: ["tools"] });
      const config = { configurable: { thread_id: "browser-thread" } };
      const resumedFrom = await agent.getState(config);
      const done = await agent.invoke(null, config);
      await agent.invoke({ messages: [new lg.HumanMessage("And 3 times 5?")] }, config);
      const second = await agent.invoke(null, config);
      const history = await lg.collect(agent.getStateHistory(config));

      // The same run with LangGraph's MemorySaver, for comparison.
      const reference = lg.buildAgent(new lg.MemorySaver(), { interruptBefore: ["tools"] });
      await reference.invoke({ messages: [new lg.HumanMessage("What is 6 times 7?")] }, config);
      await reference.invoke(null, config);
      await reference.invoke({ messages: [new lg.HumanMessage("And 3 times 5?")] }, config);
      await reference.invoke(null, config);
      const expected = await lg.collect(reference.getStateHistory(config));

      // Time travel: edit the first pending tool call (6 x 9 instead of 6 x 7) and continue.
      const beforeTool = history.find((h) => h.next[0] === "tools" && h.values.messages.length === 2);
      const call = beforeTool.values.messages[1];
      const edited = new lg.AIMessage({
        id: call.id,
        content: "",
        tool_calls: [{ name: "multiply", args: { a: 6, b: 9 }, id: "call_6_9", type: "tool_call" }],
      });
      const forkConfig = await agent.updateState(beforeTool.config, { messages: [edited] });
      const forked = await agent.invoke(null, forkConfig);
      const session = saver.sessionId("browser-thread");
      const out = {
        resumedNext: resumedFrom.next,
        resumedId: resumedFrom.config.configurable.checkpoint_id,
        answers: [done.messages.at(-1).content, second.messages.at(-1).content],
        history: history.map(lg.describeState),
        expected: expected.map(lg.describeState),
        forked: forked.messages.map((m) => m.content),
        forkPoint: saver.checkpointId(beforeTool.config),
        branches: store.branches(session).map((c) => c.id),
        children: store.children(saver.checkpointId(beforeTool.config)).length,
        mainTip: history[0].config.configurable.checkpoint_id,
        latest: (await agent.getState(config)).config.configurable.checkpoint_id,
        verify: (await store.verify()).ok,
        metrics: store.metrics(),
      };
      await store.close();
      return out;
    });
    assert.deepEqual(second.resumedNext, ["tools"]);
    assert.equal(second.resumedId, first.checkpointId, "resumed from the checkpoint the first page saved");
    assert.deepEqual(second.answers, ["The answer is 42.", "The answer is 15."]);
    assert.deepEqual(second.history, second.expected, "the same history as MemorySaver");
    assert.deepEqual(second.forked.at(-1), "The answer is 54.");
    assert.equal(second.forked.length, 4);
    assert.equal(second.branches.length, 2, "the fork is a rewind branch");
    assert.deepEqual([...second.branches].sort(), [second.latest, second.mainTip].sort());
    assert.equal(second.children, 2);
    assert.ok(second.verify);
    assert.ok(second.metrics.attachments > 0);

    // 3. Another reload: the fork, the original branch and the history are all in IndexedDB.
    await page.reload();
    const third = await page.evaluate(async () => {
      const { Store } = await import("/pkg/index.js");
      const lg = await import("/bundle/agent.js");
      const store = await Store.open({ backend: "indexeddb", name: "langgraph-agent", readOnly: true });
      const saver = new lg.RewindSaver(store);
      const agent = lg.buildAgent(saver, { interruptBefore: ["tools"] });
      const config = { configurable: { thread_id: "browser-thread" } };
      const latest = await agent.getState(config);
      const all = await lg.collect(saver.list(config));
      const out = {
        latest: latest.config.configurable.checkpoint_id,
        latestAnswer: latest.values.messages.at(-1).content,
        count: all.length,
        branches: store.branches(saver.sessionId("browser-thread")).length,
        verify: (await store.verify()).ok,
      };
      await store.close();
      return out;
    });
    assert.equal(third.latest, second.latest);
    assert.equal(third.latestAnswer, "The answer is 54.");
    assert.equal(third.count, second.metrics.checkpoints);
    assert.equal(third.branches, 2);
    assert.ok(third.verify);

    // 4. LangGraph's newer saver methods on IndexedDB: the history walk, a copy of the thread,
    // then prune; after another reload the copy still has the whole history and the pruned
    // thread its latest state.
    await page.reload();
    const fourth = await page.evaluate(async () => {
      const { Store } = await import("/pkg/index.js");
      const lg = await import("/bundle/agent.js");
      const store = await Store.open({ backend: "indexeddb", name: "langgraph-agent" });
      const saver = new lg.RewindSaver(store);
      const config = { configurable: { thread_id: "browser-thread" } };
      const options = { config, channels: ["messages", "branch:to:agent"] };
      const walk = await saver.getDeltaChannelHistory(options);
      const defaultWalk = await lg.BaseCheckpointSaver.prototype.getDeltaChannelHistory.call(saver, options);
      const before = await lg.collect(saver.list(config));
      await saver.copyThread("browser-thread", "copy");
      await saver.prune(["browser-thread"]);
      const out = {
        sameWalk: JSON.stringify(walk) === JSON.stringify(defaultWalk),
        writesWalked: walk.messages.writes.length + walk["branch:to:agent"].writes.length,
        before: before.map((t) => [t.checkpoint.id, JSON.stringify(t.checkpoint.channel_values)]),
        latest: before[0].checkpoint.id,
      };
      await store.close();
      return out;
    });
    assert.ok(fourth.sameWalk, "the one-walk history equals LangGraph's default walk");
    assert.ok(fourth.writesWalked > 0);
    await page.reload();
    const fifth = await page.evaluate(async () => {
      const { Store } = await import("/pkg/index.js");
      const lg = await import("/bundle/agent.js");
      const store = await Store.open({ backend: "indexeddb", name: "langgraph-agent", readOnly: true });
      const saver = new lg.RewindSaver(store);
      const copy = await lg.collect(saver.list({ configurable: { thread_id: "copy" } }));
      const pruned = await lg.collect(saver.list({ configurable: { thread_id: "browser-thread" } }));
      const agent = lg.buildAgent(saver, { interruptBefore: ["tools"] });
      const out = {
        copy: copy.map((t) => [t.checkpoint.id, JSON.stringify(t.checkpoint.channel_values)]),
        pruned: pruned.map((t) => t.checkpoint.id),
        answer: (await agent.getState({ configurable: { thread_id: "browser-thread" } })).values.messages.at(-1).content,
        verify: (await store.verify()).ok,
      };
      await store.close();
      return out;
    });
    assert.deepEqual(fifth.copy, fourth.before, "the copy has every checkpoint and value");
    assert.deepEqual(fifth.pruned, [fourth.latest]);
    assert.equal(fifth.answer, "The answer is 54.");
    assert.ok(fifth.verify);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});
