// Errors thrown by rewind: every one is a RewindError with a stable `code`.

/** Base class of every error rewind throws. */
export class RewindError extends Error {
  constructor(message, code) {
    super(message);
    this.name = new.target.name;
    /** A stable, machine-readable code such as "CHECKPOINT_NOT_FOUND". */
    this.code = code;
  }
}
/** An unknown session or checkpoint id. */
export class NotFoundError extends RewindError {}
/** Malformed input: empty message, bad id, duplicate id, a parent in another session, ... */
export class InvalidInputError extends RewindError {}
/** An input over a configured limit (state size, tags, message length, ...). */
export class LimitExceededError extends RewindError {}
/** Damaged data: a corrupt log, an unknown record kind or format version. */
export class CorruptError extends RewindError {}
/** A hash that does not match its contents (tampering, damage). */
export class HashMismatchError extends RewindError {}
/** An import refused as a whole; nothing from it was stored. */
export class ImportRejectedError extends RewindError {}
/** The storage (IndexedDB) failed; the operation did not take effect. */
export class StorageError extends RewindError {}
/** The browser's storage quota is exhausted; nothing was written. */
export class QuotaExceededError extends StorageError {}
/** The disk (or file system) under a file store is full (code STORAGE_FULL). A write whose
 * append met it left nothing; one whose sync met it may be there after a reopen, as after any
 * failed sync (the store refuses writes until reopened). A QuotaExceededError, so code
 * handling quotas handles it. */
export class StorageFullError extends QuotaExceededError {}
/** Another tab holds the store for writing. */
export class LockedError extends RewindError {}
/** A write on a store opened read-only. */
export class ReadOnlyError extends RewindError {}
/** The store was closed. */
export class ClosedError extends RewindError {}

// The engine gives every error a stable code and a kind (its category, the same on every
// host); the class follows the kind. BY_CODE names the class of codes this package raises
// itself (makeError) and of the one code whose class is narrower than its kind's.
const BY_KIND = {
  notFound: NotFoundError,
  invalidInput: InvalidInputError,
  limitExceeded: LimitExceededError,
  corrupt: CorruptError,
  hashMismatch: HashMismatchError,
  importRejected: ImportRejectedError,
  storage: StorageError,
};
const BY_CODE = {
  QUOTA_EXCEEDED: QuotaExceededError,
  STORAGE_FULL: StorageFullError,
  STORAGE_FAILED: StorageError,
  LOCKED: LockedError,
  READ_ONLY: ReadOnlyError,
  CLOSED: ClosedError,
  INVALID_INPUT: InvalidInputError,
  CORRUPT: CorruptError,
  CHECKPOINT_NOT_FOUND: NotFoundError,
  LIMIT_EXCEEDED: LimitExceededError,
};

function classOf(code, kind) {
  return BY_CODE[code] || BY_KIND[kind];
}

/** Turns an error from the engine (an Error with a `code` and `kind`) into its RewindError subclass. */
export function wrapError(error) {
  if (error instanceof RewindError) return error;
  const Class = error && classOf(error.code, error.kind);
  if (Class) return new Class(error.message, error.code);
  return error;
}

/** Makes a RewindError of the class that belongs to `code`. */
export function makeError(code, message) {
  const Class = BY_CODE[code] || RewindError;
  return new Class(message, code);
}
