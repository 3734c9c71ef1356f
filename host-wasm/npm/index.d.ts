// Type definitions for rewind-store.

/** A checkpoint or session id: a UUID string (v7 unless supplied by the caller). */
export type Id = string;

/** Any JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A JSON object (metadata). */
export type JsonObject = { [key: string]: Json };

/** Why a checkpoint was taken. */
export type Trigger =
  | { kind: "manual" }
  | { kind: "automatic"; reason: string }
  | { kind: "scheduled" };

/** A saved moment. Seqs and times are numbers (exact up to 2^53). */
export interface Checkpoint {
  /** Unique id. */
  id: Id;
  /** The session it belongs to. */
  session: Id;
  /** Namespace within the session ("" by default; LangGraph's checkpoint_ns). */
  namespace: string;
  /** Store-wide sequence number: strictly increasing, never reused. */
  seq: number;
  /** The checkpoint this one continues from. */
  parent: Id | null;
  /** The parent's hash when this checkpoint was made (hex). */
  parentHash: string | null;
  /** Creation time, Unix milliseconds. */
  createdAt: number;
  /** What this moment is. */
  message: string;
  /** Tags, sorted and unique. */
  tags: string[];
  /** Why it was taken. */
  trigger: Trigger;
  /** Free-form metadata. */
  metadata: JsonObject;
  /** Media type of the state. */
  contentType: string;
  /** Size of the state in bytes. */
  stateLen: number;
  /** blake3 over the canonical encoding, chained to the parent's hash (hex). */
  hash: string;
}

/** A session: an agent run, a LangGraph thread. */
export interface Session {
  id: Id;
  name: string;
  metadata: JsonObject;
  createdAt: number;
  /** Where the next checkpoint continues from. */
  head: Id | null;
  /** Number of checkpoints. */
  checkpoints: number;
}

/** What `checkpoint()` takes. */
export interface CheckpointInput {
  /** The session. */
  session: Id;
  /** What this moment is (not empty). */
  message: string;
  /** The state: bytes, or any JSON value (stored as its JSON text). */
  state: Uint8Array | Json;
  /** Media type; defaults to application/json for JSON values, application/octet-stream for bytes. */
  contentType?: string;
  tags?: string[];
  metadata?: JsonObject;
  /** Defaults to manual. */
  trigger?: Trigger;
  /** Fork from this checkpoint instead of the session head. */
  parent?: Id;
  /** Start a new root (no parent), whatever the head. */
  root?: boolean;
  namespace?: string;
  /** A caller-chosen id (must be unique in the store). */
  id?: Id;
  /** A caller-chosen creation time (Unix ms). */
  createdAt?: number;
  /**
   * Attachments written in the same transaction as the checkpoint (both or neither survive a
   * crash). Keys must be distinct.
   */
  attachments?: NewAttachment[];
}

/** An attachment written with its checkpoint (`CheckpointInput.attachments`). */
export interface NewAttachment {
  key: string;
  /** Defaults to application/octet-stream. */
  contentType?: string;
  bytes: Uint8Array;
  /**
   * A checkpoint whose attachment of the same key this value grew from: the log then holds only
   * what follows their common prefix. Defaults to the new checkpoint's parent; a base that no
   * longer exists is ignored (the value is stored whole).
   */
  base?: Id;
}

/** What `list()` takes. Every given condition must hold. */
export interface Query {
  session?: Id;
  namespace?: string;
  /** All of these tags. */
  tags?: string[];
  /** At least one of these tags. */
  tagsAny?: string[];
  triggers?: Array<"manual" | "automatic" | "scheduled">;
  /** Top-level metadata keys that must equal these values. */
  metadata?: JsonObject;
  seqMin?: number;
  seqMax?: number;
  /** Created at or after (Unix ms). */
  timeFrom?: number;
  /** Created before (Unix ms). */
  timeTo?: number;
  /** Only checkpoints older than this one. */
  before?: Id;
  /** "desc" (newest first, default) or "asc". */
  order?: "asc" | "desc";
  limit?: number;
  /** Continue after the `next` of a previous page. */
  cursor?: string;
}

/** One page of results. */
/** A checkpoint in brief (`listBrief`). */
export interface CheckpointBrief {
  id: Id;
  namespace: string;
  contentType: string;
  metadata: Record<string, unknown>;
}

export interface Page {
  items: Checkpoint[];
  /** Cursor of the next page; null on the last page. */
  next: string | null;
}

/** One RFC 6902 JSON Patch operation. */
export type PatchOp =
  | { op: "add"; path: string; value: Json }
  | { op: "remove"; path: string }
  | { op: "replace"; path: string; value: Json }
  | { op: "move"; from: string; path: string }
  | { op: "copy"; from: string; path: string }
  | { op: "test"; path: string; value: Json };

/** What changed between two checkpoints. */
export interface Diff {
  from: Id;
  to: Id;
  seqDelta: number;
  timeDeltaMs: number;
  message: { from: string; to: string } | null;
  tagsAdded: string[];
  tagsRemoved: string[];
  metadataPatch: PatchOp[];
  fromLen: number;
  toLen: number;
  /** Fraction of the newer state's bytes in chunks the older one has too. */
  sharedRatio: number;
  sameState: boolean;
  /** JSON Patch from the older state to the newer, when both are JSON. */
  statePatch: PatchOp[] | null;
}

/** A note on a checkpoint. */
export interface Annotation {
  note: string;
  severity: Severity;
  createdAt: number;
}

/** How much an annotation matters; "critical" protects its checkpoint from compaction. */
export type Severity = "info" | "warning" | "critical";

/** Which checkpoints to keep. A checkpoint goes when a rule selects it and nothing protects it. */
export interface RetentionPolicy {
  /** Keep the N newest of each session. */
  keepLast?: number;
  /** Keep checkpoints with these tags (alone: everything untagged goes). */
  keepTags?: string[];
  /** Remove checkpoints older than this. */
  maxAgeMs?: number;
  /** Then remove the oldest until stored bytes are at most this. */
  maxBytes?: number;
  /** Only these sessions. */
  sessions?: Id[];
  /** Keep session heads (default true). */
  protectHeads?: boolean;
  /** Keep critically annotated checkpoints (default true). */
  protectCritical?: boolean;
}

/** Why a plan removes a checkpoint: the stable name, the reason in words, and its figures. */
export type Removal =
  | { id: Id; reason: "beyondKeepLast"; detail: string; keepLast: number }
  | { id: Id; reason: "untagged"; detail: string }
  | { id: Id; reason: "tooOld"; detail: string; ageMs: number }
  | { id: Id; reason: "overBudget"; detail: string };

/** Why a plan keeps a checkpoint a rule selected. */
export type Kept =
  | { id: Id; reason: "head"; detail: string }
  | { id: Id; reason: "critical"; detail: string }
  | { id: Id; reason: "tagged"; detail: string; tag: string };

/** What a compaction would do (the dry run). */
export interface CompactionPlan {
  remove: Removal[];
  protected: Kept[];
  checkpointsBefore: number;
  storedBytesBefore: number;
  storedBytesAfter: number;
}

/** What a compaction did. */
export interface CompactionReport {
  removed: number;
  logBytesBefore: number;
  logBytesAfter: number;
}

/** What an import did. */
export interface ImportReport {
  sessionsAdded: number;
  checkpointsAdded: number;
  /** Already present with the same hash. */
  skipped: number;
  /** Present with a different hash (skipped). */
  conflicts: Id[];
  annotationsAdded: number;
  attachmentsAdded: number;
}

/** The result of `verify()`. */
export interface VerifyReport {
  ok: boolean;
  checkpoints: number;
  chunks: number;
  /** The first problem in seq order: its stable name and the problem in words. */
  firstError: {
    checkpoint: Id;
    seq: number;
    problem: "hashMismatch" | "parentHashMismatch" | "chunkMismatch" | "unreadable";
    detail: string;
  } | null;
}

/** Counts and sizes. */
export interface Metrics {
  sessions: number;
  checkpoints: number;
  annotations: number;
  attachments: number;
  /** Sum of all states and attachments as if stored whole. */
  logicalBytes: number;
  /** Bytes of distinct chunks actually stored. */
  storedBytes: number;
  chunks: number;
  logBytes: number;
  nextSeq: number;
  dedupRatio: number;
  eventsDropped: number;
  ops: {
    sessionsCreated: number;
    checkpointsCreated: number;
    autoSkipped: number;
    restores: number;
    deletes: number;
    annotations: number;
    attachments: number;
    compactions: number;
    imports: number;
    backendErrors: number;
    /** Whole index snapshots this store wrote. */
    snapshotsWritten: number;
    /** Index snapshot deltas this store wrote. */
    snapshotDeltasWritten: number;
    /** Whole snapshots merged away from the writer and installed (native `SharedStore`). */
    snapshotsMerged: number;
    /** Writes planned again because another writer of a shared log wrote first (stores on
     * PostgreSQL; 0 here: a store in a browser or Node.js has one writer). */
    writeRetries: number;
  };
}

/** Whether the store accepts writes. */
export interface Health {
  ok: boolean;
  writeError: string | null;
  /** Fraction of the log taken by deleted data (compaction reclaims it). */
  deadRatio: number;
  eventsDropped: number;
}

/** Something that happened in the store. */
export type StoreEvent =
  | { type: "sessionCreated"; session: Id }
  | { type: "created"; session: Id; checkpoint: Id; seq: number }
  | { type: "restored"; session: Id; checkpoint: Id }
  | { type: "deleted"; session: Id; checkpoint: Id }
  | { type: "sessionDeleted"; session: Id }
  | { type: "compacted"; removed: number; bytesBefore: number; bytesAfter: number }
  | { type: "annotated"; checkpoint: Id; severity: Severity }
  /** A read-only tab re-read the store after another tab wrote, or a failed write rolled back. */
  | { type: "reloaded" };

/**
 * Limits and policies shared by every backend; what is not given keeps its default. An unknown
 * key is refused with an InvalidInputError.
 */
export interface StoreOptions {
  /** Largest state of one checkpoint (default 64 MiB). */
  maxStateBytes?: number;
  /** Longest message (default 4 KiB). */
  maxMessageBytes?: number;
  /** Most tags on one checkpoint (default 64). */
  maxTags?: number;
  /** Longest tag (default 128 bytes). */
  maxTagBytes?: number;
  /** Largest metadata object as compact JSON (default 64 KiB). */
  maxMetadataBytes?: number;
  /** Longest namespace (default 256 bytes). */
  maxNamespaceBytes?: number;
  /** Longest session name (default 256 bytes). */
  maxNameBytes?: number;
  /** Longest content type (default 128 bytes). */
  maxContentTypeBytes?: number;
  /** Longest annotation note (default 16 KiB). */
  maxNoteBytes?: number;
  /** Largest attachment (default 16 MiB). */
  maxAttachmentBytes?: number;
  /** Longest attachment key (default 256 bytes). */
  maxAttachmentKeyBytes?: number;
  /** Largest import (default 1 GiB). */
  maxImportBytes?: number;
  /** Minimum time between automatic checkpoints of a session (default 30 000). */
  autoMinIntervalMs?: number;
  /** Which earlier checkpoints throttle an automatic one (default manual and automatic). */
  autoCounts?: Array<"manual" | "automatic" | "scheduled">;
  /** Events kept between deliveries (default 4096). */
  eventCapacity?: number;
}

/** Options of `Store.memory()`. */
export interface MemoryOptions extends StoreOptions {
  /** Open an existing log (for example a binary export). */
  log?: Uint8Array;
}

/** Options of `Store.open()`. */
export type OpenOptions =
  | ({ backend?: "memory" } & MemoryOptions)
  | ({
      backend: "indexeddb";
      /** The store's name (its database is `rewind:<name>`). */
      name: string;
      /**
       * "strict" (default): a write's promise resolves once IndexedDB committed it.
       * "relaxed": writes are batched and committed within ~50 ms or at `flush()`.
       */
      durability?: "strict" | "relaxed";
      /** When another tab holds the store: "fail" (default, LockedError) or "wait". */
      lock?: "fail" | "wait";
      /** Open without the writer lock: reads only, reloaded when the writer changes it. */
      readOnly?: boolean;
    } & StoreOptions)
  | ({
      /** Node.js only: the native store's directory (the same files the `rewind` CLI and the
       * native library read and write). */
      backend: "file";
      /** The store directory; created (with its parents) by a writer's first open. */
      path: string;
      /**
       * "strict" (default): a write's promise resolves once `fdatasync` made it durable; writes
       * issued in the same tick share one sync. "relaxed": synced within ~50 ms or at `flush()`.
       */
      durability?: "strict" | "relaxed";
      /** When another writer (Node.js or native) holds the store: "fail" (default,
       * LockedError naming its pid) or "wait". */
      lock?: "fail" | "wait";
      /** Open without the writer lock: reads only; `refresh()` applies what the writer wrote. */
      readOnly?: boolean;
      /** Size at which a segment file is closed and the next begun (default 64 MiB). */
      segmentBytes?: number;
      /**
       * The file calls the store makes (default: node:fs, through the package's `NodeFiles`):
       * the same methods — `lock`, `unlock`, `holdsLock`, `open`, `list`, `exists`,
       * `createDirAll`, `rename`, `remove`, `syncDir`, `readAt`, `writeAt`, `setLen`, `size`,
       * `syncData`, `syncAll`, `close` — as the package's tests use to simulate a disk that
       * loses power. Like the native `FileOptions::file_system`.
       */
      fileSystem?: object;
    } & StoreOptions);

/** What `restore()` returns. */
export interface Restored {
  checkpoint: Checkpoint;
  session: Id;
  state: Uint8Array;
  contentType: string;
}

/**
 * A checkpoint store. Reads answered from the index (get, list, latest, history, metrics…) are
 * synchronous; reads of state and attachment bytes, diffs, exports and `verify` return
 * promises, since an IndexedDB store opened through its index snapshot reads older log rows
 * from IndexedDB when they are first needed. Writes return promises that resolve once the
 * write is as durable as the store's durability says (at once for memory stores).
 */
export class Store {
  private constructor();
  /** A store in memory: nothing persists. */
  static memory(options?: MemoryOptions): Store;
  /** Opens a memory, IndexedDB or file store. IndexedDB needs a browser (or a worker); file
   * stores need Node.js. */
  static open(options: OpenOptions): Promise<Store>;
  /** Deletes a persisted store's database. Close the store first. */
  static destroy(name: string): Promise<void>;

  /** Creates a session; resolves to its id. */
  createSession(name: string, metadata?: JsonObject, id?: Id): Promise<Id>;
  session(id: Id): Session;
  /** Every session, oldest first. */
  sessions(): Session[];
  /** Deletes a session and its checkpoints; resolves to how many checkpoints went. */
  deleteSession(id: Id): Promise<number>;

  /** Saves a checkpoint; its parent is the session head unless `parent` or `root` says otherwise. */
  checkpoint(input: CheckpointInput): Promise<Checkpoint>;
  /** Like `checkpoint()`, resolving to the new checkpoint's id only (cheaper: nothing to build). */
  save(input: CheckpointInput): Promise<Id>;
  /** An automatic checkpoint, unless one of the session's is younger than the policy allows (then null). */
  autoCheckpoint(input: CheckpointInput, reason: string): Promise<Checkpoint | null>;
  get(id: Id): Checkpoint;
  /** The exact state bytes. */
  state(id: Id): Promise<Uint8Array>;
  /**
   * Many states in one call: for each id, in order, its bytes, or null when the checkpoint is
   * gone. The bytes are views of one buffer (copy one to keep it without the rest).
   */
  statesOf(ids: Id[]): Promise<(Uint8Array | null)[]>;
  /** The state parsed as JSON. */
  stateJson(id: Id): Promise<Json>;
  /** Returns the state and moves the session head there: the next checkpoint forks from it. */
  restore(id: Id): Promise<Restored>;
  /** The newest checkpoint of a session. */
  latest(session: Id): Checkpoint | null;
  /** What the session knew at `timeMs`: its newest checkpoint created at or before then. */
  at(session: Id, timeMs: number): Checkpoint | null;
  /** The checkpoint and its ancestors, newest first. */
  history(id: Id): Checkpoint[];
  /** Tips of the session's branches, newest first. */
  branches(session: Id): Checkpoint[];
  /** Direct children, oldest first. */
  children(id: Id): Checkpoint[];
  /** One page of a query. */
  list(query?: Query): Page;
  /**
   * One page of a query, each checkpoint in brief (for callers that keep their own catalogue:
   * a fraction of `list`'s work for long listings).
   */
  listBrief(query?: Query): { items: CheckpointBrief[]; next: string | null };
  /** What changed between two checkpoints. */
  diff(from: Id, to: Id): Promise<Diff>;
  /** Deletes a checkpoint (its children stay complete and readable). */
  delete(id: Id): Promise<void>;

  annotate(id: Id, note: string, severity?: Severity): Promise<Annotation>;
  annotations(id: Id): Annotation[];
  /**
   * Stores a keyed blob on a checkpoint (deduplicated like states; when the parent has an
   * attachment with the same key, only what follows their common prefix is logged).
   */
  attach(id: Id, key: string, contentType: string, bytes: Uint8Array): Promise<void>;
  attachment(id: Id, key: string): Promise<{ contentType: string; bytes: Uint8Array } | null>;
  /**
   * Many attachments in one call: for each `[checkpointId, key]`, in order, its content type and
   * bytes, or null when the checkpoint or the attachment is gone. The bytes are views of one
   * buffer (copy one to keep it without the rest).
   */
  attachmentsOf(pairs: [Id, string][]): Promise<({ contentType: string; bytes: Uint8Array } | null)[]>;
  attachmentKeys(id: Id): string[];

  /** The dry run: what `policy` would remove and why. */
  planCompaction(policy: RetentionPolicy): CompactionPlan;
  /** Removes a plan's checkpoints and rewrites the log (all or nothing). */
  applyCompaction(plan: CompactionPlan): Promise<CompactionReport>;
  compact(policy: RetentionPolicy): Promise<CompactionReport>;

  /** The store (or some sessions) as versioned JSON. */
  exportJson(sessions?: Id[]): Promise<string>;
  /** The store (or some sessions) as a binary log, readable by every host. */
  exportBinary(sessions?: Id[]): Promise<Uint8Array>;
  /** Imports a JSON export: all or nothing, every hash checked. */
  importJson(input: string | Uint8Array): Promise<ImportReport>;
  /** Imports a binary export: all or nothing, every hash checked. */
  importBinary(bytes: Uint8Array): Promise<ImportReport>;
  /** Recomputes every hash and parent link. */
  verify(): Promise<VerifyReport>;
  metrics(): Metrics;
  health(): Health;
  /** The whole log (memory and IndexedDB stores; a file store's log is its segment files —
   * `exportBinary()` gives it as one log). */
  logBytes(): Promise<Uint8Array>;

  /** Calls `listener` with every event; returns a function that unsubscribes. */
  subscribe(listener: (event: StoreEvent) => void): () => void;
  /** Makes every write durable now (relaxed IndexedDB and file stores). */
  flush(): Promise<void>;
  /** Re-reads the store from IndexedDB. */
  reload(): Promise<void>;
  /**
   * A read-only file store: applies what the writer (another process, or another store in
   * this one) wrote since the open or the last refresh, and delivers its events. A writer is
   * always current (nothing to apply).
   */
  refresh(): Promise<Refreshed>;
  /**
   * How the open built the index: from the index snapshot stored with the log and the log
   * after it, or by replaying the whole log (none stored, or one that did not match).
   */
  indexSource(): IndexSource;
  /** Flushes, stores an index snapshot when the log grew since the last, releases the writer
   * lock and closes. */
  close(): Promise<void>;
}

/** What {@link Store.refresh} applied. */
export interface Refreshed {
  /** Writes applied (0: nothing new). */
  writes: number;
  /** Events delivered for them. */
  events: number;
  /** A compaction replaced the log, which was read again whole. */
  compacted: boolean;
}

/** See {@link Store.indexSource}. */
export type IndexSource = (
  | { snapshot: "used"; tailFrames: number }
  | { snapshot: "none" }
  | { snapshot: "ignored"; problem: string }
) & {
  /** IndexedDB stores: bytes of log the open read (through a snapshot, only the first row and
   * the rows from the snapshot's point on). */
  logBytesRead?: number;
};

/** Base class of every error rewind throws; `code` is stable. */
export class RewindError extends Error {
  readonly code: ErrorCode;
}
export class NotFoundError extends RewindError {}
export class InvalidInputError extends RewindError {}
export class LimitExceededError extends RewindError {}
export class CorruptError extends RewindError {}
export class HashMismatchError extends RewindError {}
export class ImportRejectedError extends RewindError {}
export class StorageError extends RewindError {}
export class QuotaExceededError extends StorageError {}
/** The disk under a file store is full (code STORAGE_FULL). A write whose append met it left
 * nothing; one whose sync met it may be there after a reopen, as after any failed sync. */
export class StorageFullError extends QuotaExceededError {}
export class LockedError extends RewindError {}
export class ReadOnlyError extends RewindError {}
export class ClosedError extends RewindError {}

/** Every error code. */
export type ErrorCode =
  | "SESSION_NOT_FOUND"
  | "CHECKPOINT_NOT_FOUND"
  | "DUPLICATE_ID"
  | "INVALID_INPUT"
  | "PARENT_IN_OTHER_SESSION"
  | "PROTECTED"
  | "LIMIT_EXCEEDED"
  | "CORRUPT"
  | "UNKNOWN_RECORD"
  | "UNSUPPORTED_VERSION"
  | "HASH_MISMATCH"
  | "IMPORT_REJECTED"
  | "STORAGE_FAILED"
  | "QUOTA_EXCEEDED"
  | "STORAGE_FULL"
  | "NOT_A_STORE"
  | "LOCKED"
  | "READ_ONLY"
  | "CLOSED";
