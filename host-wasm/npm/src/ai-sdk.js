// RewindChats: chat persistence for the Vercel AI SDK (`ai`, `useChat`), imported as
// "rewind-store/ai-sdk". The AI SDK leaves storage to the app (its docs write `loadChat` and
// `saveChat` by hand); this is that pair over a rewind store — IndexedDB in a browser, files or
// memory in Node.js — with branches.
//
// Mapping
//   chat id     -> a rewind session whose id is derived: uuid5("ai-sdk-chat:" + chat id) (see
//                  derived-ids.js), so every store and tab finds the same chat without a table.
//                  The session is named after the chat; its metadata holds { ai_sdk_chat_id }.
//   messages    -> the chat's UIMessage[] as JSON, one checkpoint per save (item-history.js):
//                  the whole list in each checkpoint, its new messages the only new bytes.
//   regenerate, -> a save whose messages are not the stored ones followed by new ones forks from
//   edit           the newest checkpoint whose messages are a prefix of them (the checkpoint
//                  before the regenerated or edited message); the version left behind is a
//                  branch, listed by branches() and brought back by switchBranch().
//   continuation-> a save that changes only the current version's last message and keeps its id
//                  (an answer continued after a client-side tool result or an approval) is an
//                  update of that message: stored the same way (a checkpoint from the one
//                  before), its metadata "ai_sdk:supersedes" naming the version it replaces,
//                  which branches() then leaves out (it stays in the store and in rewind's tools).
// The package never imports `ai`: messages are plain JSON with an `id` and a `role` (the tests
// run `ai` 6).

import { derivedUuid, randomUuid } from "./derived-ids.js";
import { makeError } from "./errors.js";
import { ItemHistory } from "./item-history.js";
import { mirroredString, mirrorString, utf8Length, wellFormed } from "./text.js";

/** Session metadata key naming the chat. */
const CHAT_KEY = "ai_sdk_chat_id";
/** Checkpoint metadata key naming the version a continued message replaces. */
const SUPERSEDES_KEY = "ai_sdk:supersedes";
const ROLES = new Set(["system", "user", "assistant"]);

/** A message in one line, for rewind's tools: its text parts, or its part types. */
function summary(message) {
  const parts = Array.isArray(message?.parts) ? message.parts : [];
  let text = parts
    .filter((part) => part?.type === "text" && typeof part.text === "string")
    .map((part) => part.text)
    .join(" ");
  if (text.trim() === "") text = parts.map((part) => part?.type).filter((type) => typeof type === "string").join(", ") || "(empty)";
  return `${message?.role}: ${text}`;
}

function checkMessages(chatId, messages) {
  if (!Array.isArray(messages)) throw makeError("INVALID_INPUT", `chat ${chatId}: messages must be an array of UIMessages`);
  messages.forEach((message, i) => {
    if (message === null || typeof message !== "object" || Array.isArray(message)) {
      throw makeError("INVALID_INPUT", `chat ${chatId}: message ${i} is not an object`);
    }
    if (typeof message.id !== "string") throw makeError("INVALID_INPUT", `chat ${chatId}: message ${i} has no string id`);
    if (!ROLES.has(message.role)) {
      throw makeError("INVALID_INPUT", `chat ${chatId}: message ${i} has role ${JSON.stringify(message.role)} (system, user or assistant)`);
    }
  });
}

function checkChatId(chatId) {
  if (typeof chatId !== "string" || chatId === "") throw makeError("INVALID_INPUT", "a chat id must be a non-empty string");
}

/** Chats of the Vercel AI SDK, persisted in a rewind store. */
export class RewindChats {
  /** The rewind store. */
  store;

  /** @param store a rewind Store (IndexedDB, file or memory) */
  constructor(store) {
    if (!store || typeof store.save !== "function") throw new TypeError("RewindChats needs a rewind Store");
    this.store = store;
    // Usable unbound, as the AI SDK's docs use them: `const { loadChat, saveChat } = chats`.
    this.loadChat = this.loadChat.bind(this);
    this.saveChat = this.saveChat.bind(this);
  }

  /** The rewind session id of a chat (whether or not it exists). */
  sessionOf(chatId) {
    checkChatId(chatId);
    return derivedUuid("ai-sdk-chat", chatId);
  }

  #history(chatId) {
    const session = this.sessionOf(chatId);
    const metadata = {};
    mirrorString(metadata, CHAT_KEY, chatId);
    const name = chatId.trim() !== "" && utf8Length(chatId) <= 256 && wellFormed(chatId) ? chatId : "ai-sdk chat";
    return new ItemHistory(this.store, session, { name, metadata, label: `chat ${chatId}`, summarise: summary, emptyMessage: "chat emptied" });
  }

  /**
   * Creates a chat with no messages and returns its id (a new random UUID unless `chatId` is
   * given). Saving to a chat id that was never created creates it too.
   */
  async createChat(chatId = randomUuid()) {
    const history = this.#history(chatId);
    await history.serialise(() => history.ensureSession());
    return chatId;
  }

  /** The chat's current messages (its current branch); [] for a chat with none or never saved. */
  async loadChat(chatId) {
    const history = this.#history(chatId);
    return history.serialise(async () => history.parse((await history.current()).texts));
  }

  /**
   * Saves the chat's messages: stores what is new since the last save (nothing when they are the
   * same), or, when earlier messages were changed or removed (a regenerated answer, an edited
   * message), forks from the checkpoint before them; the version left behind stays as a branch.
   * A continued last message (same id, more parts) replaces the version it continues.
   * Resolves to { outcome: "unchanged" | "appended" | "updated" | "forked" | "restored",
   * checkpoint }.
   */
  async saveChat({ chatId, messages } = {}) {
    checkChatId(chatId);
    checkMessages(chatId, messages);
    const history = this.#history(chatId);
    const texts = history.textsOf(messages);
    return history.serialise(async () => {
      const { head, texts: now } = await history.current();
      const last = now.length - 1;
      const continued =
        head !== null &&
        texts.length >= now.length &&
        now.slice(0, last).every((text, i) => text === texts[i]) &&
        now[last] !== texts[last] &&
        messages[last].id === JSON.parse(now[last]).id &&
        this.store.children(head).length === 0;
      const metadata = continued ? { [SUPERSEDES_KEY]: head } : {};
      const { outcome, checkpoint } = await history.write(texts, { metadata });
      return { outcome: continued && outcome === "forked" ? "updated" : outcome, checkpoint };
    });
  }

  /**
   * An `onFinish` callback that saves the chat: for `toUIMessageStreamResponse({ originalMessages,
   * onFinish })` on a server, or `useChat({ onFinish })` in a browser; both pass `{ messages }`
   * in `ai` 6. The returned promise rejects when the save fails: the AI SDK does not wait for it,
   * so handle it (`.catch`) where a lost save must be noticed.
   */
  onFinish(chatId) {
    checkChatId(chatId);
    return ({ messages } = {}) => this.saveChat({ chatId, messages });
  }

  /**
   * The chat's branches: every version no later save continued (the tips of its tree, without
   * versions a continued message replaced), newest first; when the current version is not a tip
   * (after switching to an earlier version), it comes first. Each: { checkpoint, messages
   * (count), lastMessage, updatedAt, current (the chat's current version), divergesAt (index of
   * the first message that differs from the current version's, null for the current one) }.
   */
  async branches(chatId) {
    const history = this.#history(chatId);
    return history.serialise(async () => {
      if (!history.exists()) return [];
      const { head, texts: now } = await history.current();
      const session = history.session;
      const superseded = (id) => this.store.list({ session, metadata: { [SUPERSEDES_KEY]: id }, limit: 1 }).items.length > 0;
      const tips = this.store.branches(session).filter((tip) => tip.id === head || !superseded(tip.id));
      if (head !== null && !tips.some((tip) => tip.id === head)) tips.unshift(this.store.get(head));
      const lists = await history.textsOfMany(tips.map((tip) => tip.id));
      return tips.map((tip, i) => {
        const texts = lists[i] ?? [];
        let common = 0;
        while (common < texts.length && common < now.length && texts[common] === now[common]) common++;
        const current = tip.id === head;
        return {
          checkpoint: tip.id,
          messages: texts.length,
          lastMessage: texts.length === 0 ? null : JSON.parse(texts[texts.length - 1]),
          updatedAt: tip.createdAt,
          current,
          divergesAt: current || (common === texts.length && common === now.length) ? null : common,
        };
      });
    });
  }

  /**
   * Makes a branch (any checkpoint of the chat: a tip from branches(), or an earlier version)
   * the chat's current version, and returns its messages. The next save continues from it.
   */
  async switchBranch(chatId, checkpoint) {
    const history = this.#history(chatId);
    return history.serialise(async () => history.parse(await history.moveTo(checkpoint)));
  }

  /**
   * The chats in the store: { id, session, messages (count, current version), createdAt,
   * updatedAt (its newest checkpoint) }, newest first.
   */
  chats() {
    const out = [];
    for (const session of this.store.sessions()) {
      const id = mirroredString(session.metadata, CHAT_KEY);
      if (id === undefined || session.id !== derivedUuid("ai-sdk-chat", id)) continue;
      const head = session.head === null ? null : this.store.get(session.head);
      const latest = this.store.latest(session.id);
      out.push({
        id,
        session: session.id,
        messages: head === null ? 0 : (ItemHistory.countOf(head) ?? 0),
        createdAt: session.createdAt,
        updatedAt: latest?.createdAt ?? session.createdAt,
      });
    }
    return out.sort((a, b) => b.updatedAt - a.updatedAt);
  }

  /** Deletes a chat and every version of it; resolves to the number of checkpoints removed. */
  async deleteChat(chatId) {
    const history = this.#history(chatId);
    return history.serialise(async () => {
      const removed = history.exists() ? await this.store.deleteSession(history.session) : 0;
      history.forget();
      return removed;
    });
  }
}
