// Type definitions for rewind-store/openai-agents: a session of the OpenAI Agents SDK.

import type {
  AgentInputItem,
  SessionHistoryRewriteArgs,
  SessionHistoryRewriteAwareSession,
  SessionHistoryTransactionArgs,
  SessionHistoryTransactionAwareSession,
} from "@openai/agents";
import type { Id, Store } from "./index.js";

/** Options of a RewindSession. */
export interface RewindSessionOptions {
  /** The Agents SDK session id (default: a new random UUID). The same id is the same history. */
  sessionId?: string;
}

/** A version of a session's history. */
export interface SessionVersion {
  /** Its rewind checkpoint (what `switchTo` takes). */
  checkpoint: Id;
  /** How many items it holds. */
  items: number | null;
  createdAt: number;
  /** What it ends with, as rewind shows it. */
  message: string;
  /** Whether it is the session's current history. */
  current: boolean;
}

/**
 * An OpenAI Agents SDK session kept in a rewind store (files, IndexedDB or memory). Each change
 * is one checkpoint; `popItem`, `clearSession`, compaction and suffix replacement move back or
 * fork, so earlier histories stay reachable (`versions`, `switchTo`).
 */
export declare class RewindSession implements SessionHistoryTransactionAwareSession, SessionHistoryRewriteAwareSession {
  constructor(store: Store, options?: RewindSessionOptions);
  /** The rewind store. */
  readonly store: Store;
  /** The rewind session id holding this history. */
  readonly rewindSession: Id;
  getSessionId(): Promise<string>;
  getItems(limit?: number): Promise<AgentInputItem[]>;
  /** Appends items in one checkpoint (all of them or none survive a crash). */
  addItems(items: AgentInputItem[]): Promise<void>;
  /** Removes the last item (the version holding it stays reachable). */
  popItem(): Promise<AgentInputItem | undefined>;
  /** Starts an empty history; the earlier one stays reachable until `deleteHistory`. */
  clearSession(): Promise<void>;
  replaceHistoryWithCompaction(items: AgentInputItem[]): Promise<void>;
  applyHistoryMutations(args: SessionHistoryRewriteArgs): Promise<void>;
  applyHistoryTransaction(args: SessionHistoryTransactionArgs): Promise<void>;
  /** Every version of the history, oldest first. */
  versions(): SessionVersion[];
  /** Makes a version current; resolves to its items. */
  switchTo(checkpoint: Id): Promise<AgentInputItem[]>;
  /** Deletes every version of this history. */
  deleteHistory(): Promise<void>;
}
