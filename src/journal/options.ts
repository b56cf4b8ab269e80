/** Options, defaults and small result types of a Journal (journal.ts). */
import type { Logger } from "../log/logger.js";
import type { CompressionOptions } from "./block-codec.js";
import type { Consistency, HookOutcome } from "./records.js";

/** Name of the SQLite index inside a journal directory. */
export const INDEX_FILE = "index.db";
/** Default segment rollover: 64 MiB keeps rewrite-on-retention cheap and file counts low. */
export const DEFAULT_SEGMENT_SIZE = 64 * 1024 * 1024;
/** Default change-tracking granularity. */
export const DEFAULT_BLOCK_SIZE = 64 * 1024;

/** Options for Journal.open. */
export interface JournalOptions {
  readonly dir: string;
  /** Bytes per tracked block; fixed for the life of a journal (stored in the index). */
  readonly blockSize?: number;
  readonly segmentSize?: number;
  /** How appended blocks are compressed (default zstd level 1); records from a stream are stored as they came. */
  readonly compression?: CompressionOptions;
  readonly logger?: Logger;
  /** Read without recovery or locking: offline reads while a daemon may be running. */
  readonly readOnly?: boolean;
  /** Clock in ms (tests inject one). */
  readonly clock?: () => number;
}

/** Options of Journal.append. */
export interface AppendOptions {
  /**
   * Resolve once the records are durable in their segment (fdatasync), and
   * index them within INDEX_DELAY_MS together with what follows: for callers
   * that only need durability (intercept capture's fsync). lastSeq and the
   * index move only when they are indexed. Default false.
   */
  readonly lazyIndex?: boolean;
}

/** How long lazily indexed records may wait for their index transaction, ms. */
export const INDEX_DELAY_MS = 100;

/** Oldest and newest restorable positions. */
export interface JournalWindow {
  readonly oldestSeq: number;
  readonly oldestTs: number;
  readonly newestSeq: number;
  readonly newestTs: number;
}

/** What Journal.checkpoint records. */
export interface CheckpointInput {
  readonly label: string | null;
  readonly consistency: Consistency;
  readonly hooks?: { readonly pre?: HookOutcome; readonly post?: HookOutcome };
}
