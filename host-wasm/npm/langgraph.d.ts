// Type definitions for rewind-store/langgraph: RewindSaver, a LangGraph.js checkpoint saver.

import type {
  BaseCheckpointSaver,
  ChannelVersions,
  Checkpoint,
  CheckpointListOptions,
  CheckpointMetadata,
  CheckpointTuple,
  DeltaChannelHistory,
  PendingWrite,
  SerializerProtocol,
} from "@langchain/langgraph-checkpoint";
import type { RunnableConfig } from "@langchain/core/runnables";
import type { CompactionReport, Id, OpenOptions, RetentionPolicy, Store } from "./index.js";

/** Options of a RewindSaver. */
export interface RewindSaverOptions {
  /** The serializer (default: LangGraph's JsonPlusSerializer). Its type tags are stored with the bytes. */
  serde?: SerializerProtocol;
  /** Extra rewind tags for a checkpoint (besides "langgraph:<source>"). */
  tags?: (checkpoint: Checkpoint, metadata: CheckpointMetadata, config: RunnableConfig) => string[];
}

/** What `RewindSaver.compact()` did. */
export interface SaverCompactionReport extends CompactionReport {
  /** Channel values copied to kept checkpoints from removed ones (deduplicated: no new chunks). */
  rehomed: number;
}

/**
 * A LangGraph checkpoint saver over a rewind store: memory or IndexedDB in browsers, memory in
 * Node.js. A thread is a rewind session (id uuid5 of the thread id), a namespace a rewind
 * namespace, a LangGraph checkpoint a rewind checkpoint with the same id; channel values and
 * pending writes are deduplicated rewind attachments, each channel value stored once per version.
 */
export declare class RewindSaver extends BaseCheckpointSaver<number> {
  constructor(store: Store, options?: RewindSaverOptions);
  /** The rewind store holding the threads. */
  readonly store: Store;
  /** Opens a store with `Store.open(options)` and returns a saver over it. */
  static open(options?: OpenOptions, saverOptions?: RewindSaverOptions): Promise<RewindSaver>;
  /** A saver over a new memory store. */
  static memory(saverOptions?: RewindSaverOptions): RewindSaver;

  getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined>;
  list(config: RunnableConfig, options?: CheckpointListOptions): AsyncGenerator<CheckpointTuple>;
  put(
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    newVersions: ChannelVersions,
  ): Promise<RunnableConfig>;
  putWrites(config: RunnableConfig, writes: PendingWrite[], taskId: string, taskPath?: string): Promise<void>;
  deleteThread(threadId: string): Promise<void>;
  /**
   * The writes and seed each DeltaChannel replays at a checkpoint: one walk over the stored
   * envelopes and write names, deserialising only the writes of these channels and their seeds
   * (the same answer as LangGraph's default walk).
   */
  getDeltaChannelHistory(options: {
    config: RunnableConfig;
    channels: string[];
  }): Promise<Record<string, DeltaChannelHistory>>;

  /**
   * LangGraph's `prune` (Python's base declares it; a rewind extension until LangGraph.js does):
   * `"keep_latest"` (the default) keeps the newest checkpoint of each namespace of each thread,
   * with its pending writes and the ancestors its delta channels replay, and removes the rest;
   * `"delete"` deletes the threads. Threads that do not exist are skipped.
   */
  prune(threadIds: string[], strategy?: "keep_latest" | "delete"): Promise<void>;
  /**
   * LangGraph's `copyThread` (a rewind extension, see `prune`): every checkpoint of the source
   * thread, in every namespace, with its metadata and pending writes, under the target thread,
   * with the same checkpoint ids. Copies share the source's chunks. A missing source copies
   * nothing; a target that has checkpoints is refused.
   */
  copyThread(sourceThreadId: string, targetThreadId: string): Promise<void>;
  /**
   * LangGraph's `deleteForRuns` (a rewind extension, see `prune`): removes the checkpoints whose
   * metadata `run_id` is one of these, with their pending writes, in every thread and
   * namespace, except those a remaining checkpoint's delta channels replay.
   */
  deleteForRuns(runIds: string[]): Promise<void>;

  /** The rewind session id of a thread (whether or not it exists yet). */
  sessionId(threadId: string): Id;
  /** The rewind checkpoint id of a stored LangGraph checkpoint (usually its own id), or null. */
  checkpointId(config: RunnableConfig): Id | null;
  /**
   * rewind retention for LangGraph threads (default: all of them). Values that kept checkpoints
   * still need are copied off the removed ones first, so every kept checkpoint stays complete.
   */
  compact(policy?: RetentionPolicy, threadIds?: string[]): Promise<SaverCompactionReport>;
  /**
   * Forgets the saver's catalogue of threads and checkpoints (it is rebuilt from the store on the
   * next call). Needed only after importing into threads this saver already read: imports emit
   * no store events.
   */
  refresh(): void;
  /** Makes every write durable now (relaxed IndexedDB stores). */
  flush(): Promise<void>;
}
