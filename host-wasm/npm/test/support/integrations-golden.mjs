// The golden stores of the item-list integrations: a Vercel AI SDK chat (RewindChats) and an
// OpenAI Agents session (RewindSession) written by one version of their layout, kept as the
// store's log, with what they read back then. test/integrations-format.test.mjs opens every one
// with today's code and expects the same answers.
//
//   node test/support/integrations-golden.mjs <name>   writes test/fixtures/integrations-<name>.log
//                                                      and .json
//
// Run it only to add a golden store for a new layout version; never to rewrite an old one.

import { writeFileSync } from "node:fs";
import { Store } from "rewind-store";
import { RewindChats } from "rewind-store/ai-sdk";
import { RewindSession } from "rewind-store/openai-agents";

const text = (id, role, body) => ({ id, role, parts: [{ type: "text", text: body }] });

/**
 * Writes a chat with a regenerated answer, an edit and a continued answer, and a session with a
 * pop, a transaction, bytes and a clear.
 */
export async function writeGolden(store) {
  const chats = new RewindChats(store);
  const turn1 = [text("u1", "user", "hello"), text("a1", "assistant", "Hi! How can I help? 😀")];
  await chats.saveChat({ chatId: "golden-chat", messages: turn1 });
  const turn2 = [...turn1, text("u2", "user", "what is rewind?"), text("a2", "assistant", "A checkpoint store.")];
  await chats.saveChat({ chatId: "golden-chat", messages: turn2 });
  await chats.saveChat({ chatId: "golden-chat", messages: [...turn2.slice(0, 3), text("a3", "assistant", "A store of agent states.")] });
  const edited = [...turn1, text("u2", "user", "what is rewind, briefly?"), text("a4", "assistant", "Checkpoints.")];
  await chats.saveChat({ chatId: "golden-chat", messages: edited });
  // A continued answer (same id, one more part): replaces the version it continues.
  const continued = { ...edited[3], parts: [...edited[3].parts, { type: "text", text: " Forkable ones." }] };
  await chats.saveChat({ chatId: "golden-chat", messages: [...edited.slice(0, 3), continued] });

  const session = new RewindSession(store, { sessionId: "golden-session" });
  await session.addItems([{ type: "message", role: "user", content: "What time is it?" }]);
  await session.addItems([
    { type: "function_call", callId: "call_1", name: "clock", arguments: "{}", status: "completed" },
    { type: "function_call_result", callId: "call_1", name: "clock", status: "completed", output: { type: "text", text: "12:00" } },
    { type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text: "It is 12:00." }] },
  ]);
  await session.popItem();
  await session.applyHistoryTransaction({
    operationId: "op-golden",
    transaction: { type: "append_items", items: [{ type: "message", role: "user", content: [{ type: "input_file", file: { data: new Uint8Array([0, 1, 254, 255]) } }] }] },
  });
  // Cleared, then a new turn: the cleared root forgets earlier transaction ids.
  const kept = await session.getItems();
  await session.clearSession();
  await session.addItems(kept);
}

/** What the golden store answers: chats, branches, versions and items, ids and times excluded. */
export async function answers(store) {
  const chats = new RewindChats(store);
  const session = new RewindSession(store, { sessionId: "golden-session" });
  const items = await session.getItems();
  return {
    chats: chats.chats().map(({ id, messages }) => ({ id, messages })),
    chat: await chats.loadChat("golden-chat"),
    branches: (await chats.branches("golden-chat")).map(({ messages, lastMessage, current, divergesAt }) => ({ messages, lastMessage, current, divergesAt })),
    items: items.map((item) => JSON.parse(JSON.stringify(item, (_k, v) => (v instanceof Uint8Array ? { bytes: [...v] } : v)))),
    versions: session.versions().map(({ items, message, current }) => ({ items, message, current })),
  };
}

// Run directly with a name (the test runner runs it without one: then it writes nothing).
const name = import.meta.url === `file://${process.argv[1]}` ? process.argv[2] : undefined;
if (name) {
  const store = Store.memory();
  await writeGolden(store);
  const dir = new URL("../fixtures/", import.meta.url);
  writeFileSync(new URL(`integrations-${name}.log`, dir), await store.logBytes());
  writeFileSync(new URL(`integrations-${name}.json`, dir), `${JSON.stringify(await answers(store), null, 1)}\n`);
}
