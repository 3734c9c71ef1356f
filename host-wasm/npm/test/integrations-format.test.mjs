// Chats and agent sessions written by earlier versions of rewind-store/ai-sdk and
// rewind-store/openai-agents stay readable: each golden store in test/fixtures (written by
// test/support/integrations-golden.mjs with the layout of its version) answers as it did when it
// was written, and takes new writes.
//
//   node --test test/integrations-format.test.mjs

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { Store } from "rewind-store";
import { RewindChats } from "rewind-store/ai-sdk";
import { RewindSession } from "rewind-store/openai-agents";
import { uuid5 } from "@langchain/langgraph-checkpoint";

import { answers } from "./support/integrations-golden.mjs";

/**
 * Golden stores by layout version: v1, one checkpoint per save holding the whole list as a JSON
 * array, its length in the metadata key "items"; sessions named by uuid5 ids.
 */
const VERSIONS = ["v1"];

for (const version of VERSIONS) {
  test(`chats and agent sessions written with layout ${version} read as they did`, async () => {
    const dir = new URL("./fixtures/", import.meta.url);
    const log = new Uint8Array(readFileSync(new URL(`integrations-${version}.log`, dir)));
    const expected = JSON.parse(readFileSync(new URL(`integrations-${version}.json`, dir), "utf8"));
    const store = Store.memory({ log });
    assert.deepEqual(await answers(store), expected);
    assert.equal((await store.verify()).ok, true);

    // They continue: a save appends, the applied transaction is still known.
    const chats = new RewindChats(store);
    const messages = await chats.loadChat("golden-chat");
    const more = { id: "u5", role: "user", parts: [{ type: "text", text: "thanks" }] };
    assert.equal((await chats.saveChat({ chatId: "golden-chat", messages: [...messages, more] })).outcome, "appended");
    const session = new RewindSession(store, { sessionId: "golden-session" });
    const transaction = { type: "append_items", items: [{ type: "message", role: "user", content: [{ type: "input_file", file: { data: new Uint8Array([0, 1, 254, 255]) } }] }] };
    // Applied before the clear, so applied again after it (as MemorySession forgets); then once.
    await session.applyHistoryTransaction({ operationId: "op-golden", transaction });
    const count = store.metrics().checkpoints;
    await session.applyHistoryTransaction({ operationId: "op-golden", transaction });
    assert.equal(store.metrics().checkpoints, count);
    assert.equal((await session.getItems()).length, expected.items.length + 1);
  });
}

test("derived session ids are uuid5 in rewind's namespace (equal to LangGraph's uuid5)", () => {
  const store = Store.memory();
  const ns = "4f0d2c8e-6b1a-5c3e-9d47-2a1b8e6f0c53";
  for (const name of ["", "c", "chat-1", "x".repeat(55), "x".repeat(56), "x".repeat(119), "é😀中", "z".repeat(1000)]) {
    assert.equal(new RewindChats(store).sessionOf(name || "-"), uuid5(`ai-sdk-chat:${name || "-"}`, ns));
    assert.equal(new RewindSession(store, { sessionId: name || "-" }).rewindSession, uuid5(`openai-agents-session:${name || "-"}`, ns));
  }
});
