// Type definitions for rewind-store/langgraph: RewindSaver, a LangGraph.js checkpoint saver.

import type {
  BaseCheckpointSaver,
  ChannelVersions,
  Checkpoint,
  CheckpointListOptions,
  CheckpointMetadata,
  CheckpointTuple,
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
