// Type definitions for rewind-store/ai-sdk: chat persistence for the Vercel AI SDK.

import type { UIMessage } from "ai";
import type { Id, Store } from "./index.js";

/** What a save did. */
export interface SaveResult {
  /**
   * "unchanged": the messages were the stored ones; "appended": the new messages were stored
   * after the current version; "updated": the current version's last message was continued (same
   * id, more parts) and the new version replaces it (it is no longer listed as a branch);
   * "forked": earlier messages changed (a regenerated answer, an edited message), so a branch was
   * started from the checkpoint before them; "restored": the messages were those of an earlier
   * version of the current branch, which became current again.
   */
  outcome: "unchanged" | "appended" | "updated" | "forked" | "restored";
  /** The rewind checkpoint holding the chat's messages now (null for a chat never given any). */
  checkpoint: Id | null;
}

/** A branch of a chat: a version no later save continued. */
export interface ChatBranch<MESSAGE extends UIMessage = UIMessage> {
  /** Its rewind checkpoint (what `switchBranch` takes). */
  checkpoint: Id;
  /** How many messages it holds. */
  messages: number;
  /** Its last message (null for an emptied chat). */
  lastMessage: MESSAGE | null;
  /** When it was saved (Unix ms). */
  updatedAt: number;
  /** Whether it is the chat's current version. */
  current: boolean;
  /** The index of its first message that differs from the current version's; null when current. */
  divergesAt: number | null;
}

/** A chat in the store. */
export interface ChatSummary {
  id: string;
  /** The rewind session holding it. */
  session: Id;
  /** Messages in its current version. */
  messages: number;
  createdAt: number;
  /** When it was last saved (Unix ms). */
  updatedAt: number;
}

/**
 * Chats of the Vercel AI SDK (`UIMessage[]`) persisted in a rewind store (IndexedDB, files or
 * memory): each save stores only its new messages, and regenerating or editing a message forks
 * the chat, keeping the earlier version as a branch.
 */
export declare class RewindChats<MESSAGE extends UIMessage = UIMessage> {
  constructor(store: Store);
  /** The rewind store. */
  readonly store: Store;
  /** The rewind session id of a chat (whether or not it exists). */
  sessionOf(chatId: string): Id;
  /** Creates a chat with no messages; resolves to its id (a new UUID unless given). */
  createChat(chatId?: string): Promise<string>;
  /** The chat's current messages; [] for a chat never saved. Usable unbound. */
  loadChat(chatId: string): Promise<MESSAGE[]>;
  /** Saves the chat's messages (new ones only; forks when earlier ones changed). Usable unbound. */
  saveChat(args: { chatId: string; messages: MESSAGE[] }): Promise<SaveResult>;
  /**
   * A callback saving the chat, for `toUIMessageStreamResponse({ onFinish })` or
   * `useChat({ onFinish })`. The AI SDK does not wait for its promise: catch its rejection where a
   * failed save must be noticed.
   */
  onFinish(chatId: string): (event: { messages: MESSAGE[] }) => Promise<SaveResult>;
  /**
   * The chat's branches (the tips of its tree, without versions a continued message replaced),
   * newest first; the current version first when it is not a tip.
   */
  branches(chatId: string): Promise<ChatBranch<MESSAGE>[]>;
  /** Makes a branch (or any earlier version of the chat) current; resolves to its messages. */
  switchBranch(chatId: string, checkpoint: Id): Promise<MESSAGE[]>;
  /** The chats in the store, most recently saved first. */
  chats(): ChatSummary[];
  /** Deletes a chat and every version of it; resolves to the number of checkpoints removed. */
  deleteChat(chatId: string): Promise<number>;
}
