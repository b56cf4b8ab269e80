/**
 * One error registry: every failure pvjournal reports carries a stable `code`
 * (SNAKE_CASE, part of the HTTP contract), a human message, optional context
 * (path, seq, hint) and the underlying `cause`. The HTTP layer maps codes to
 * statuses in one place (src/http/errors.ts); the CLI maps them to exit codes.
 */

/** Context that helps an operator find the problem: where, which record, what to do. */
export interface ErrorContext {
  readonly path?: string;
  readonly key?: string;
  readonly file?: string;
  readonly seq?: number;
  readonly offset?: number;
  readonly segment?: string;
  readonly hint?: string;
}

/** Stable error codes. Adding one is fine; renaming one breaks scripts. */
export const ErrorCode = {
  CONFIG_INVALID: "CONFIG_INVALID",
  USAGE: "USAGE",
  BAD_REQUEST: "BAD_REQUEST",
  UNAUTHORIZED: "UNAUTHORIZED",
  /** A valid token whose role does not allow the route (read-only, replica). */
  FORBIDDEN: "FORBIDDEN",
  /** A request carried a command (argv) and drills.allowRequestCommands is off. */
  COMMAND_NOT_ALLOWED: "COMMAND_NOT_ALLOWED",
  NOT_FOUND: "NOT_FOUND",
  PAYLOAD_TOO_LARGE: "PAYLOAD_TOO_LARGE",
  CHECKPOINT_NOT_FOUND: "CHECKPOINT_NOT_FOUND",
  POINT_OUT_OF_RANGE: "POINT_OUT_OF_RANGE",
  INVALID_POINT: "INVALID_POINT",
  TARGET_NOT_ALLOWED: "TARGET_NOT_ALLOWED",
  TARGET_NOT_EMPTY: "TARGET_NOT_EMPTY",
  JOURNAL_CORRUPT: "JOURNAL_CORRUPT",
  JOURNAL_LOCKED: "JOURNAL_LOCKED",
  JOURNAL_CLOSED: "JOURNAL_CLOSED",
  HASH_MISMATCH: "HASH_MISMATCH",
  NOT_AVAILABLE: "NOT_AVAILABLE",
  NOT_READY: "NOT_READY",
  /** drills.sandboxRoot is not configured. */
  DRILLS_DISABLED: "DRILLS_DISABLED",
  /** A replica-only operation (failover) asked of a sidecar. */
  NOT_A_REPLICA: "NOT_A_REPLICA",
  /** A failover asked of a replica that was already promoted. */
  ALREADY_PROMOTED: "ALREADY_PROMOTED",
  /** The journal's filesystem is full (ENOSPC, EDQUOT, SQLITE_FULL): nothing was acknowledged. */
  JOURNAL_FULL: "JOURNAL_FULL",
  IO_ERROR: "IO_ERROR",
  INTERNAL: "INTERNAL",
} as const;

/** Union of every stable error code. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Base class: never thrown directly; use a named subclass so callers can `instanceof`. */
export class PvjError extends Error {
  readonly code: ErrorCode;
  readonly context: ErrorContext;

  constructor(code: ErrorCode, message: string, context: ErrorContext = {}, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = new.target.name;
    this.code = code;
    this.context = context;
  }
}

/** Bad or inconsistent configuration; the CLI exits with code 2. */
export class ConfigError extends PvjError {
  constructor(message: string, context: ErrorContext = {}, cause?: unknown) {
    super(ErrorCode.CONFIG_INVALID, message, context, cause);
  }
}

/** Bad command-line usage; the CLI exits with code 2. */
export class UsageError extends PvjError {
  constructor(message: string, context: ErrorContext = {}) {
    super(ErrorCode.USAGE, message, context);
  }
}

/** A request the caller can fix: validation, unknown ids, bad points, bad targets. */
export class RequestError extends PvjError {}

/** On-disk damage: a bad checksum, an index that disagrees with its segments. */
export class CorruptionError extends PvjError {
  constructor(message: string, context: ErrorContext = {}, cause?: unknown) {
    super(ErrorCode.JOURNAL_CORRUPT, message, context, cause);
  }
}

/** A restored block whose bytes do not hash to the value recorded at capture. */
export class HashMismatchError extends PvjError {
  constructor(message: string, context: ErrorContext = {}) {
    super(ErrorCode.HASH_MISMATCH, message, context);
  }
}

/** A feature whose issue has not landed yet: says so instead of pretending. */
export class NotAvailableError extends PvjError {
  constructor(feature: string, issue: number) {
    super(ErrorCode.NOT_AVAILABLE, `not available yet: see issue ${issue} (${feature})`);
  }
}

/** True when `err` is a Node system error with the given errno code (ENOENT, ENOSPC...). */
export function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}

/** True when `err` or one of its causes says the disk is full (ENOSPC, EDQUOT, SQLITE_FULL). */
export function isNoSpace(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const code = (e as NodeJS.ErrnoException).code;
    // SQLITE_FULL: the index shares the journal's disk.
    if (code === "ENOSPC" || code === "EDQUOT" || code === "SQLITE_FULL" || code === "JOURNAL_FULL")
      return true;
  }
  return false;
}

/**
 * What the contract's error body (`{"error":{"code","message"}}`) of a
 * refused request says, as far as `text` is one: each part, or null where the
 * body does not have it (not JSON, a proxy's page). The clients' one parser.
 */
export function errorBodyOf(text: string): { code: ErrorCode | null; message: string | null } {
  let err: { code?: unknown; message?: unknown } | undefined;
  try {
    err = (JSON.parse(text) as { error?: typeof err } | null)?.error;
  } catch {
    err = undefined;
  }
  return {
    code: typeof err?.code === "string" ? (err.code as ErrorCode) : null,
    message: typeof err?.message === "string" ? err.message : null,
  };
}
