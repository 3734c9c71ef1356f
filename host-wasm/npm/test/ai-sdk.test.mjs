// rewind-store/ai-sdk in Node.js with the real `ai` package: the AI SDK's documented chat route
// (streamText + toUIMessageStreamResponse, over the AI SDK's MockLanguageModelV3) saving chats
// to a file store through RewindChats; regenerate and edit forks, branches, switching, a reopened
// store, bad input, and the storage figure of a 200-turn chat.
//
//   node --test test/ai-sdk.test.mjs

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { CorruptError, InvalidInputError, LimitExceededError, NotFoundError, Store } from "rewind-store";
import { RewindChats } from "rewind-store/ai-sdk";
import { answer } from "../examples/ai-sdk-chat/server.mjs";
import { scriptedModel } from "../examples/ai-sdk-chat/model.mjs";

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "rewind-ai-sdk-"));
const user = (id, text) => ({ id, role: "user", parts: [{ type: "text", text }] });
const textOf = (message) =>
  message.parts
    .filter((part) => part.type === "text")
    .map((part) => part.text)
    .join("");

/** One request to the docs' route, as useChat's default transport sends it; resolves to the save. */
async function post(chats, model, id, messages, trigger = "submit-message") {
  const request = new Request("http://localhost/api/chat", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ id, messages, trigger }),
  });
  const { response, saved } = await answer(request, { model, chats });
  assert.equal(response.status, 200);
  await response.text();
  return saved();
}

test("a chat saved by the AI SDK route: turns, regenerate and edit forks, branches, reopen", async () => {
  const dir = tempDir();
  try {
    let store = await Store.open({ backend: "file", path: dir });
    let chats = new RewindChats(store);
    const model = scriptedModel();
    const id = await chats.createChat();
    assert.deepEqual(await chats.loadChat(id), []);
    assert.equal(store.metrics().checkpoints, 0, "creating a chat stores no version");

    // Two turns: each save appends the new messages.
    const first = await post(chats, model, id, [user("u1", "hello")]);
    assert.equal(first.outcome, "appended");
    const turn1 = await chats.loadChat(id);
    assert.equal(turn1.length, 2);
    assert.deepEqual(turn1[0], user("u1", "hello"));
    assert.equal(turn1[1].role, "assistant");
    assert.equal(textOf(turn1[1]), "Answer 1 to: hello");
    const second = await post(chats, model, id, [...turn1, user("u2", "what is rewind?")]);
    assert.equal(second.outcome, "appended");
    assert.equal(store.get(second.checkpoint).parent, first.checkpoint);
    const turn2 = await chats.loadChat(id);
    assert.equal(turn2.length, 4);

    // Saving the same messages again stores nothing.
    const again = await chats.saveChat({ chatId: id, messages: turn2 });
    assert.deepEqual(again, { outcome: "unchanged", checkpoint: second.checkpoint });
    assert.equal(store.metrics().checkpoints, 2);

    // Regenerate: useChat drops the last answer and resends; the new answer forks from the
    // checkpoint before it, and the first answer stays as a branch.
    const regenerated = await post(chats, model, id, turn2.slice(0, 3), "regenerate-message");
    assert.equal(regenerated.outcome, "forked");
    assert.equal(store.get(regenerated.checkpoint).parent, first.checkpoint);
    const turn2b = await chats.loadChat(id);
    assert.deepEqual(turn2b.slice(0, 3), turn2.slice(0, 3));
    assert.equal(textOf(turn2b[3]), "Answer 3 to: what is rewind?");
    let branches = await chats.branches(id);
    assert.equal(branches.length, 2);
    const [current, old] = branches;
    assert.deepEqual(
      { checkpoint: current.checkpoint, current: current.current, divergesAt: current.divergesAt, messages: current.messages },
      { checkpoint: regenerated.checkpoint, current: true, divergesAt: null, messages: 4 },
    );
    assert.deepEqual(
      { checkpoint: old.checkpoint, current: old.current, divergesAt: old.divergesAt, lastMessage: old.lastMessage },
      { checkpoint: second.checkpoint, current: false, divergesAt: 3, lastMessage: turn2[3] },
    );

    // Edit the second question (same id, new text): a fork from the first turn.
    const edited = await post(chats, model, id, [...turn1, user("u2", "what is rewind, briefly?")]);
    assert.equal(edited.outcome, "forked");
    assert.equal(store.get(edited.checkpoint).parent, first.checkpoint);
    branches = await chats.branches(id);
    assert.equal(branches.length, 3);
    assert.deepEqual(
      branches.map((b) => [b.checkpoint, b.divergesAt]),
      [
        [edited.checkpoint, null],
        [regenerated.checkpoint, 2],
        [second.checkpoint, 2],
      ],
    );

    // Switch back to the first answer and continue there.
    assert.deepEqual(await chats.switchBranch(id, second.checkpoint), turn2);
    assert.deepEqual(await chats.loadChat(id), turn2);
    const third = await post(chats, model, id, [...turn2, user("u3", "thanks")]);
    assert.equal(third.outcome, "appended");
    assert.equal(store.get(third.checkpoint).parent, second.checkpoint);
    const turn3 = await chats.loadChat(id);
    assert.equal(turn3.length, 6);

    // Everything is back after the store is closed and reopened.
    const before = (await chats.branches(id)).map((b) => [b.checkpoint, b.messages, b.divergesAt]);
    await store.close();
    store = await Store.open({ backend: "file", path: dir });
    chats = new RewindChats(store);
    assert.deepEqual(await chats.loadChat(id), turn3);
    assert.deepEqual(
      (await chats.branches(id)).map((b) => [b.checkpoint, b.messages, b.divergesAt]),
      before,
    );
    assert.deepEqual(await chats.switchBranch(id, edited.checkpoint), (await store.stateJson(edited.checkpoint)));
    assert.deepEqual(
      chats.chats().map((c) => [c.id, c.messages]),
      [[id, 4]],
    );
    // rewind's tools show each version by its last message.
    assert.equal(store.get(third.checkpoint).message, "assistant: Answer 5 to: thanks");

    // Deleting the chat removes every version.
    assert.equal(await chats.deleteChat(id), 5);
    assert.deepEqual(await chats.loadChat(id), []);
    assert.deepEqual(chats.chats(), []);
    await store.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("unbound loadChat/saveChat, the onFinish helper, and concurrent saves of one chat", async () => {
  const store = Store.memory();
  const chats = new RewindChats(store);
  const { loadChat, saveChat } = chats;
  const messages = [user("a", "one"), { id: "b", role: "assistant", parts: [{ type: "text", text: "two" }] }];
  await saveChat({ chatId: "c", messages: messages.slice(0, 1) });
  await chats.onFinish("c")({ messages, isAborted: false });
  assert.deepEqual(await loadChat("c"), messages);

  // Saves issued together are applied in order: the longer list extends the shorter, no fork.
  const more = [...messages, user("d", "three"), { id: "e", role: "assistant", parts: [{ type: "text", text: "four" }] }];
  const results = await Promise.all([saveChat({ chatId: "c", messages: more.slice(0, 3) }), saveChat({ chatId: "c", messages: more })]);
  assert.deepEqual(results.map((r) => r.outcome), ["appended", "appended"]);
  assert.equal((await chats.branches("c")).length, 1);
  assert.deepEqual(await loadChat("c"), more);

  // Going back to an earlier version's exact messages moves back to it (no new checkpoint).
  const count = store.metrics().checkpoints;
  const back = await saveChat({ chatId: "c", messages });
  assert.equal(back.outcome, "restored");
  assert.equal(store.metrics().checkpoints, count);
  assert.deepEqual(await loadChat("c"), messages);
});

test("bad input is refused with typed errors and stores nothing", async () => {
  const store = Store.memory();
  const chats = new RewindChats(store);
  const refuse = async (promise, Class, code) => {
    await assert.rejects(promise, (error) => error instanceof Class && error.code === code);
  };
  await refuse(chats.saveChat({ chatId: "c", messages: "hello" }), InvalidInputError, "INVALID_INPUT");
  await refuse(chats.saveChat({ chatId: "c", messages: [{ role: "user", parts: [] }] }), InvalidInputError, "INVALID_INPUT");
  await refuse(chats.saveChat({ chatId: "c", messages: [{ id: "x", role: "tool", parts: [] }] }), InvalidInputError, "INVALID_INPUT");
  await refuse(chats.saveChat({ chatId: "c", messages: [{ id: "x", role: "user", parts: [{ type: "text", text: 1n }] }] }), InvalidInputError, "INVALID_INPUT");
  await refuse(chats.saveChat({ chatId: "", messages: [] }), InvalidInputError, "INVALID_INPUT");
  assert.equal(store.metrics().checkpoints, 0);
  assert.equal(store.metrics().sessions, 0);

  await chats.saveChat({ chatId: "c", messages: [user("a", "hi")] });
  const other = await chats.saveChat({ chatId: "d", messages: [user("b", "hello")] });
  await refuse(chats.switchBranch("c", other.checkpoint), InvalidInputError, "INVALID_INPUT");
  await refuse(chats.switchBranch("c", "0190f000-0000-7000-8000-000000000000"), NotFoundError, "CHECKPOINT_NOT_FOUND");
  assert.deepEqual(await chats.loadChat("c"), [user("a", "hi")]);

  // A chat whose session holds something else than a message list (written by another tool).
  await store.checkpoint({ session: chats.sessionOf("c"), message: "not a chat", state: { not: "a list" } });
  await refuse(chats.loadChat("c"), CorruptError, "CORRUPT");
  await refuse(chats.saveChat({ chatId: "c", messages: [user("a", "hi")] }), CorruptError, "CORRUPT");
});

test("a continued answer replaces its version; an earlier version, once current, is listed as current", async () => {
  const store = Store.memory();
  const chats = new RewindChats(store);
  const ask = user("u1", "what time is it?");
  const calling = { id: "a1", role: "assistant", parts: [{ type: "tool-clock", toolCallId: "t1", state: "input-available", input: {} }] };
  const first = await chats.saveChat({ chatId: "c", messages: [ask, calling] });
  // The client ran the tool and the answer continued: the same message, more parts.
  const continued = { ...calling, parts: [{ ...calling.parts[0], state: "output-available", output: "12:00" }, { type: "text", text: "It is 12:00." }] };
  const second = await chats.saveChat({ chatId: "c", messages: [ask, continued] });
  assert.equal(second.outcome, "updated");
  assert.deepEqual(await chats.loadChat("c"), [ask, continued]);
  let branches = await chats.branches("c");
  assert.deepEqual(branches.map((b) => [b.checkpoint, b.current]), [[second.checkpoint, true]], "the replaced version is not a branch");
  assert.equal(store.metrics().checkpoints, 2, "it stays in the store");
  assert.equal(store.get(second.checkpoint).metadata["ai_sdk:supersedes"], first.checkpoint);

  // A regenerated answer (a new id) is a branch, as before.
  const regenerated = await chats.saveChat({ chatId: "c", messages: [ask, { id: "a2", role: "assistant", parts: [{ type: "text", text: "Noon." }] }] });
  assert.equal(regenerated.outcome, "forked");
  assert.equal((await chats.branches("c")).length, 2);

  // Switched to a version that later saves continued: it is listed first, as the current one.
  const root = await chats.saveChat({ chatId: "c", messages: [ask] });
  assert.equal(root.outcome, "forked");
  await chats.saveChat({ chatId: "c", messages: [ask, user("u2", "and the date?")] });
  await chats.switchBranch("c", root.checkpoint);
  branches = await chats.branches("c");
  assert.deepEqual([branches[0].checkpoint, branches[0].current, branches[0].messages], [root.checkpoint, true, 1]);
  assert.equal(branches.filter((b) => b.current).length, 1);
  assert.ok(branches.slice(1).every((b) => b.divergesAt === 1));
});

test("odd text, odd ids, failed first saves and two RewindChats on one store", async () => {
  const store = Store.memory({ maxStateBytes: 4096 });
  const chats = new RewindChats(store);
  // A message ending in half an emoji: stored exactly; rewind's message shows U+FFFD.
  const cut = user("u1", "look: \ud83d");
  const saved = await chats.saveChat({ chatId: "c", messages: [cut] });
  assert.deepEqual(await chats.loadChat("c"), [cut]);
  assert.equal(store.get(saved.checkpoint).message, "user: look: \ufffd");

  for (const bad of [undefined, 42, "", null]) {
    await assert.rejects(chats.loadChat(bad), (error) => error instanceof InvalidInputError);
    await assert.rejects(chats.createChat(bad ?? 7), (error) => error instanceof InvalidInputError);
  }

  // A first save over the store's limits fails with the chat named, and leaves no empty chat.
  await assert.rejects(
    chats.saveChat({ chatId: "big", messages: [user("u1", "x".repeat(5000))] }),
    (error) => error instanceof LimitExceededError && error.message.startsWith("chat big: "),
  );
  assert.deepEqual(chats.chats().map((c) => c.id), ["c"]);

  // Two RewindChats on one store share the order of a chat's saves: no accidental fork.
  const other = new RewindChats(store);
  const a = [user("a", "one"), user("b", "two")];
  await Promise.all([chats.saveChat({ chatId: "d", messages: a.slice(0, 1) }), other.saveChat({ chatId: "d", messages: a })]);
  assert.equal((await chats.branches("d")).length, 1);
  assert.deepEqual(await other.loadChat("d"), a);
});

/** A deterministic text of about `bytes` characters from a 2,000-word vocabulary. */
function prose(random, bytes) {
  const words = [];
  let length = 0;
  while (length < bytes) {
    const n = Math.floor(random() * 2000);
    const word = "abcdefghijklmnopqrstuvwxyz"[n % 26] + n.toString(36) + "tion".slice(0, n % 5);
    words.push(word);
    length += word.length + 1;
  }
  return words.join(" ").slice(0, bytes);
}

test("storage: a 200-turn chat saved after every turn stores ≥ 40x fewer bytes than its JSON each time", async (t) => {
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const model = scriptedModel({ reply: () => prose(random, 900) });
  const store = Store.memory();
  const chats = new RewindChats(store);
  let messages = [];
  let json = 0;
  for (let turn = 0; turn < 200; turn++) {
    messages = [...messages, user(`u${turn}`, prose(random, 150))];
    await post(chats, model, "long", messages);
    messages = await chats.loadChat("long");
    json += Buffer.byteLength(JSON.stringify(messages));
  }
  const sizes = messages.map((m) => Buffer.byteLength(JSON.stringify(m)));
  const userBytes = sizes.filter((_, i) => i % 2 === 0).reduce((a, b) => a + b, 0) / 200;
  const assistantBytes = sizes.filter((_, i) => i % 2 === 1).reduce((a, b) => a + b, 0) / 200;
  const stored = (await store.logBytes()).length;
  const unique = Buffer.byteLength(JSON.stringify(messages));
  const ratio = json / stored;
  t.diagnostic(
    `200 turns, user message ${userBytes.toFixed(0)} B, assistant ${assistantBytes.toFixed(0)} B as UIMessage JSON: ` +
      `JSON each time ${json} B, rewind log ${stored} B (${ratio.toFixed(1)}x fewer; the final chat is ${unique} B, ` +
      `the zero-overhead ceiling ${(json / unique).toFixed(1)}x)`,
  );
  assert.ok(userBytes > 180 && userBytes < 260 && assistantBytes > 950 && assistantBytes < 1150, `message sizes ${userBytes} / ${assistantBytes}`);
  assert.ok(ratio >= 40, `only ${ratio.toFixed(1)}x fewer bytes`);
});
