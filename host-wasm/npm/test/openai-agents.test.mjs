// rewind-store/openai-agents with the real @openai/agents runner and openai client against a
// local Responses API server (test/support/responses-server.mjs): a session kept in a file store
// across a process restart, popItem as a restore, history transactions at most once and
// atomically, mutations, compaction and clearing as forks, bytes in items, bad input.
//
//   node --test test/openai-agents.test.mjs

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { OutputGuardrailTripwireTriggered, run, setTracingDisabled } from "@openai/agents";
import { InvalidInputError, Store } from "rewind-store";
import { RewindSession } from "rewind-store/openai-agents";
import { startResponsesServer } from "./support/responses-server.mjs";
import { buildAgent } from "./support/agent-session.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "rewind-agents-"));
const userItem = (text) => ({ type: "message", role: "user", content: text });
const textOf = (item) => (typeof item.content === "string" ? item.content : item.content.map((part) => part.text ?? "").join(""));

let server;
before(async () => {
  setTracingDisabled(true);
  server = await startResponsesServer();
});
after(() => server?.close());

/** Runs one agent turn in a process of its own (the server answers meanwhile); returns { output, items }. */
async function runInProcess(dir, sessionId, prompt) {
  const { stdout } = await promisify(execFile)(process.execPath, [path.join(here, "support/agent-session.mjs"), dir, server.baseURL, sessionId, prompt], {
    timeout: 60_000,
    env: { ...process.env, OPENAI_AGENTS_DISABLE_TRACING: "1" },
  });
  return JSON.parse(stdout.trim().split("\n").at(-1));
}

test("an @openai/agents run keeps its history in a RewindSession across a process restart", async () => {
  const dir = tempDir();
  try {
    // Process 1: a turn with a tool call.
    const first = await runInProcess(dir, "support-chat", "What time is it?");
    assert.equal(first.output, "It is 12:00.");
    assert.deepEqual(
      first.items.map((item) => item.type ?? "message"),
      ["message", "function_call", "function_call_result", "message"],
    );

    // Process 2: the restarted agent sends the whole history to the model.
    const sent = server.requests.length;
    const second = await runInProcess(dir, "support-chat", "Thanks, bye");
    assert.equal(second.output, "Heard 5 items: Thanks, bye");
    const input = server.requests[sent].input;
    assert.equal(textOf(input[0]), "What time is it?");
    assert.ok(input.some((item) => item.type === "function_call_output" && item.output === "12:00"));
    assert.deepEqual(second.items.slice(0, 4), first.items);
    assert.equal(second.items.length, 6);

    // This process reads the same history.
    const store = await Store.open({ backend: "file", path: dir });
    const session = new RewindSession(store, { sessionId: "support-chat" });
    assert.equal(await session.getSessionId(), "support-chat");
    assert.deepEqual(await session.getItems(), second.items);
    assert.deepEqual(await session.getItems(2), second.items.slice(4));
    assert.deepEqual(await session.getItems(0), []);

    // popItem: the history without the answer becomes current (a fork from the version before
    // the turn, since the turn's items were saved together); the answer stays in the store.
    const checkpoints = store.metrics().checkpoints;
    const popped = await session.popItem();
    assert.deepEqual(popped, second.items[5]);
    assert.deepEqual(await session.getItems(), second.items.slice(0, 5));
    assert.equal(store.metrics().checkpoints, checkpoints + 1);
    assert.equal(store.branches(session.rewindSession).length, 2);
    // A second pop moves back to the stored version without the user's turn: no new checkpoint.
    assert.equal(textOf(await session.popItem()), "Thanks, bye");
    assert.equal(store.metrics().checkpoints, checkpoints + 1);
    assert.deepEqual(await session.getItems(), first.items);
    await session.addItems([second.items[4]]);

    // A new turn continues from there; the popped answer stays reachable as a branch.
    const agent = buildAgent(server.baseURL);
    const third = await run(agent, "Still there?", { session });
    assert.equal(third.finalOutput, "Heard 6 items: Still there?");
    const items = await session.getItems();
    assert.equal(items.length, 7);
    assert.deepEqual(items.slice(0, 5), second.items.slice(0, 5));
    const old = session.versions().find((v) => v.items === 6 && !v.current);
    assert.ok(old, "the version with the popped answer is listed");
    assert.match(old.message, /^assistant: Heard 5 items: Thanks, bye$/);
    assert.deepEqual(await session.switchTo(old.checkpoint), second.items);
    assert.deepEqual(await session.getItems(), second.items);
    await store.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("history transactions apply once, atomically with their id, and refuse mismatches", async () => {
  const dir = tempDir();
  try {
    let store = await Store.open({ backend: "file", path: dir });
    let session = new RewindSession(store, { sessionId: "tx" });
    await session.addItems([userItem("a"), userItem("b")]);
    const append = { operationId: "op-1", transaction: { type: "append_items", items: [userItem("c")] } };
    await session.applyHistoryTransaction(append);
    assert.deepEqual((await session.getItems()).map(textOf), ["a", "b", "c"]);

    // The same operation again (after a restart): applied already, nothing changes.
    await store.close();
    store = await Store.open({ backend: "file", path: dir });
    session = new RewindSession(store, { sessionId: "tx" });
    const checkpoints = store.metrics().checkpoints;
    await session.applyHistoryTransaction(structuredClone(append));
    assert.equal(store.metrics().checkpoints, checkpoints);
    assert.deepEqual((await session.getItems()).map(textOf), ["a", "b", "c"]);

    // The same id with another transaction, or a suffix that no longer matches: refused, unchanged.
    await assert.rejects(
      session.applyHistoryTransaction({ operationId: "op-1", transaction: { type: "append_items", items: [userItem("x")] } }),
      (error) => error instanceof InvalidInputError && /different transaction/.test(error.message),
    );
    await assert.rejects(
      session.applyHistoryTransaction({ operationId: "op-2", transaction: { type: "replace_suffix", expectedSuffix: [userItem("b")], replacement: [] } }),
      (error) => error instanceof InvalidInputError && /expected suffix/.test(error.message),
    );
    assert.equal(store.metrics().checkpoints, checkpoints);

    // A matching suffix is replaced: a fork, and the replaced version stays listed.
    await session.applyHistoryTransaction({
      operationId: "op-3",
      transaction: { type: "replace_suffix", expectedSuffix: [userItem("b"), userItem("c")], replacement: [userItem("B")] },
    });
    assert.deepEqual((await session.getItems()).map(textOf), ["a", "B"]);
    assert.ok(session.versions().some((v) => v.items === 3 && !v.current));
    const applied = store.latest(session.rewindSession);
    assert.equal(applied.metadata["openai_agents:operation"], "op-3", "the operation id is in the checkpoint that applied it");

    // Unknown transaction types and empty ids are refused.
    await assert.rejects(session.applyHistoryTransaction({ operationId: "op-4", transaction: { type: "drop_all" } }), InvalidInputError);
    await assert.rejects(session.applyHistoryTransaction({ operationId: " ", transaction: { type: "append_items", items: [] } }), InvalidInputError);
    await store.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("an applied transaction stays applied when the history moves back, and is forgotten when cleared", async () => {
  const store = Store.memory();
  const session = new RewindSession(store, { sessionId: "retry" });
  const append = { operationId: "op-a", transaction: { type: "append_items", items: [userItem("a")] } };
  await session.applyHistoryTransaction(append);
  await session.addItems([userItem("b")]);
  await session.applyHistoryTransaction({ operationId: "op-r", transaction: { type: "replace_suffix", expectedSuffix: [userItem("b")], replacement: [userItem("B")] } });
  const texts = async () => (await session.getItems()).map(textOf);

  // Retried after a later replace_suffix, after a pop, after switching away: never again.
  await session.applyHistoryTransaction(structuredClone(append));
  assert.deepEqual(await texts(), ["a", "B"]);
  await session.popItem();
  await session.popItem();
  assert.deepEqual(await texts(), []);
  await session.applyHistoryTransaction(structuredClone(append));
  assert.deepEqual(await texts(), []);
  await assert.rejects(
    session.applyHistoryTransaction({ operationId: "op-a", transaction: { type: "append_items", items: [userItem("x")] } }),
    /different transaction/,
  );
  const other = session.versions().find((v) => v.items === 2 && !v.current);
  await session.switchTo(other.checkpoint);
  await session.applyHistoryTransaction(structuredClone(append));
  assert.equal((await texts()).length, 2);

  // MemorySession forgets applied ids when cleared; so does RewindSession.
  await session.clearSession();
  await session.applyHistoryTransaction(structuredClone(append));
  assert.deepEqual(await texts(), ["a"]);
  await session.applyHistoryTransaction(structuredClone(append));
  assert.deepEqual(await texts(), ["a"]);
});

test("an output guardrail's blocked turn is saved through a history transaction", async () => {
  const store = Store.memory();
  const session = new RewindSession(store, { sessionId: "guarded" });
  const agent = buildAgent(server.baseURL).clone({
    outputGuardrails: [
      { name: "no-times", execute: async ({ agentOutput }) => ({ tripwireTriggered: /12:00/.test(agentOutput), outputInfo: null }) },
    ],
  });
  await assert.rejects(run(agent, "what time is it?", { session }), OutputGuardrailTripwireTriggered);
  const items = await session.getItems();
  // The blocked turn's input and tool call are kept (the blocked answer is not), in one checkpoint
  // written by the runner's applyHistoryTransaction.
  assert.equal(textOf(items[0]), "what time is it?");
  assert.deepEqual(items.map((item) => item.type), ["message", "function_call", "function_call_result"]);
  const operations = store.list({ session: session.rewindSession }).items.filter((c) => c.metadata["openai_agents:operation"] !== undefined);
  assert.equal(operations.length, 1, "the runner wrote through applyHistoryTransaction");
  assert.equal(operations[0].metadata.items, 3);
  // The next turn continues from what was kept.
  const next = await run(agent, "ok, hello", { session });
  assert.equal(next.finalOutput, `Heard ${items.length + 1} items: ok, hello`);
});

test("mutations, compaction and clearing fork; bytes in items round-trip; bad input is refused", async () => {
  const store = Store.memory();
  const session = new RewindSession(store, { sessionId: "edits" });
  const call = { type: "function_call", callId: "c1", name: "clock", arguments: "{}", status: "completed" };
  await session.addItems([userItem("time?"), call, { type: "function_call_result", callId: "c1", name: "clock", status: "completed", output: { type: "text", text: "12:00" } }]);

  await session.applyHistoryMutations({ mutations: [{ type: "replace_function_call", callId: "c1", replacement: { ...call, arguments: '{"tz":"UTC"}' } }] });
  const items = await session.getItems();
  assert.equal(items[1].arguments, '{"tz":"UTC"}');
  assert.equal(items.length, 3);

  const compaction = { type: "compaction", encrypted_content: "opaque" };
  await session.replaceHistoryWithCompaction([compaction, items[2]]);
  assert.deepEqual(await session.getItems(), [compaction, items[2]]);
  assert.ok(session.versions().some((v) => v.items === 3 && !v.current), "the history before compaction stays reachable");

  // Bytes, as a Uint8Array or a Node.js Buffer (whose toJSON would make an object), come back as bytes.
  const bytes = new Uint8Array([0, 1, 2, 250, 255]);
  const file = (data) => ({ type: "message", role: "user", content: [{ type: "input_file", file: { data, mediaType: "application/octet-stream" } }] });
  await session.addItems([file(bytes), file(Buffer.from([9, 8, 7]))]);
  const [fromArray, fromBuffer] = await session.getItems(2);
  assert.ok(fromArray.content[0].file.data instanceof Uint8Array && fromBuffer.content[0].file.data instanceof Uint8Array);
  assert.deepEqual([...fromArray.content[0].file.data], [...bytes]);
  assert.deepEqual([...fromBuffer.content[0].file.data], [9, 8, 7]);
  assert.equal((await session.getItems(Infinity)).length, 4);

  await session.clearSession();
  assert.deepEqual(await session.getItems(), []);
  assert.equal(await session.popItem(), undefined);
  assert.ok(session.versions().length >= 4, "clearing keeps the earlier versions");
  await session.clearSession();
  assert.equal(store.branches(session.rewindSession).filter((tip) => tip.metadata.items === 0).length, 2, "each clear is a new empty root");

  const before = store.metrics().checkpoints;
  for (const bad of ["x", [1], [null], [[userItem("a")]]]) {
    await assert.rejects(session.addItems(bad), (error) => error instanceof InvalidInputError && error.code === "INVALID_INPUT");
  }
  await assert.rejects(session.addItems([{ type: "message", role: "user", content: 1n }]), InvalidInputError);
  // The bytes marker is reserved: an item holding one as data would read back as bytes.
  await assert.rejects(session.addItems([{ type: "message", role: "user", content: "x", providerData: { "$rewind:bytes": "not base64!" } }]), InvalidInputError);
  await assert.rejects(session.applyHistoryTransaction({ operationId: "big", transaction: { type: "append_items", items: [{ type: "message", n: 1n }] } }), InvalidInputError);
  await assert.rejects(session.applyHistoryMutations({ mutations: [{ type: "drop" }] }), InvalidInputError);
  assert.equal(store.metrics().checkpoints, before);

  await session.deleteHistory();
  assert.deepEqual(session.versions(), []);
  assert.deepEqual(await session.getItems(), []);
});
