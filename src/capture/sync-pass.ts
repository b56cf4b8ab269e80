/**
 * The state of one sync pass: the queue of paths (parents before children),
 * what was visited, what vanished, the records queued for the journal, and
 * the pass's two kinds of parallelism:
 *
 * - stat-ahead: the next paths on the stack are lstat'ed before their turn
 *   (bounded), so a walk of a million files is not one lstat round trip at a
 *   time through the thread pool;
 * - file reads run as tasks, at most `readers.length` at once, each with its
 *   own FileReader (its read windows are its own; the slabs changed blocks
 *   are copied to are shared, and copying is synchronous). A task only touches its own
 *   path in the tree; anything that moves or removes other paths (renames,
 *   replacements, unlinks) first drains every task (`drain()`).
 *
 * While the filesystem answers fast (inline-io.ts), paths are lstat'ed with
 * synchronous calls instead, and no stat is taken ahead.
 */
import { lstatSync, type Stats } from "node:fs";
import { lstat } from "node:fs/promises";
import type { Journal } from "../journal/journal.js";
import { isAtOrBelow } from "../journal/records.js";
import { AppendBatch, type CaptureCounters } from "./append-batch.js";
import type { InlineIo } from "./inline-io.js";
import type { FileReader } from "./reader.js";

/** How a sync pass treats its paths. */
export interface SyncOptions {
  /** Reconcile: list and visit every directory below the given paths, not only changed ones. */
  readonly walk: boolean;
  /** Hold an unlink back (VANISH_HOLD_MS): the other half of a rename may still arrive. */
  readonly deferVanish: boolean;
  /**
   * A file read at or after this time (ms) is not re-read for being racily
   * clean: that read already saw every write completed before it (settle
   * passes the moment it was called).
   */
  readonly freshSince?: number;
  /** Called after each visited path. */
  readonly onVisit?: () => void;
  /**
   * Asked after each visit: true stops the pass early (a checkpoint is
   * waiting behind a long walk); the paths not yet visited are returned in
   * `remaining`, so the walk can go on from there in another pass.
   */
  readonly shouldYield?: () => boolean;
}

/** What a pass leaves for later. */
export interface SyncResult {
  /** Paths to visit again after a quiet period (still changing, deferred unlinks). */
  readonly again: string[];
  /** Paths read while their mtime was fresh: visit again once it is safely old. */
  readonly racy: string[];
  /** Paths that could not be captured (permission, I/O on the source); journal failures throw instead. */
  readonly failures: { path: string; error: unknown }[];
  /** Paths a pass that yielded did not visit (empty when it ran to the end). */
  readonly remaining: string[];
}

/**
 * Appends flushBehind leaves running before the walk waits for the oldest.
 * 1: each append behind holds a batch of block copies (4 MiB, and their
 * frames), and at 100k files two behind reached 251 MiB of RSS after the
 * scan in one of two runs (235 in the other; the goal is < 256), for 3-5%
 * less idle time of the main thread in the 30k-file profile.
 */
export const APPENDS_BEHIND = 1;

/** Paths stat'ed ahead of their turn: enough to keep the thread pool (4 threads) busy. */
export const STAT_AHEAD = 64;

/** See the module comment. */
export class Pass {
  readonly batch: AppendBatch;
  readonly result: SyncResult = { again: [], racy: [], failures: [], remaining: [] };
  readonly queued = new Set<string>();
  readonly done = new Set<string>();
  readonly stack: string[] = [];
  readonly vanished: string[] = [];
  /**
   * Queued paths their directory's listing reported as regular files (not
   * visited yet): an untracked one is opened before any lstat (FileCapture.openFirst).
   */
  readonly regular = new Set<string>();
  private readonly ahead = new Map<string, Promise<Stats>>();
  /** Subtrees this pass walks even though it does not walk everything (moved directories). */
  private readonly walked: string[] = [];
  private readonly idle: FileReader[];
  private readonly tasks = new Set<Promise<void>>();
  private readonly waiting: (() => void)[] = [];
  /** The first error a task threw that must end the pass (a journal failure). */
  private fatal: { error: unknown } | null = null;
  /** The append flushBehind started and has not seen finish (at most one). */
  private readonly appending = new Set<Promise<void>>();

  constructor(
    readonly opts: SyncOptions,
    journal: Journal,
    counters: CaptureCounters,
    readers: readonly FileReader[],
    private readonly toAbs: (path: string) => string,
    readonly inline: InlineIo,
  ) {
    this.batch = new AppendBatch(journal, counters);
    this.idle = [...readers];
  }

  /** True when the pass lists every directory at `path` (a walk, or a subtree it was told to walk). */
  walks(path: string): boolean {
    return this.opts.walk || this.walked.some((w) => isAtOrBelow(path, w));
  }

  /** Walks the subtree at `path` in this pass (its directories are listed even if unchanged). */
  walkBelow(path: string): void {
    this.walked.push(path);
  }

  enqueue(path: string): void {
    if (this.queued.has(path)) return;
    this.queued.add(path);
    this.stack.push(path);
  }

  /** The next path to visit, or undefined when the queue is empty; keeps the stat-ahead window full. */
  next(): string | undefined {
    const p = this.stack.pop();
    if (this.ahead.size < STAT_AHEAD / 2 && !this.inline.on) {
      for (let i = this.stack.length - 1; i >= 0 && this.ahead.size < STAT_AHEAD; i--) {
        const q = this.stack[i]!;
        if (this.done.has(q) || this.ahead.has(q)) continue;
        const st = lstat(this.toAbs(q));
        st.catch(() => undefined); // consumed (and rethrown) by lstatOf, or dropped
        this.ahead.set(q, st);
        if (this.stack.length - i > STAT_AHEAD * 4) break;
      }
    }
    return p;
  }

  /**
   * lstat of `path`: the one taken ahead (during this pass, so after it
   * began) or a fresh one, synchronous while the filesystem answers fast.
   */
  lstatOf(path: string): Stats | Promise<Stats> {
    const st = this.ahead.get(path);
    if (st === undefined) {
      const abs = this.toAbs(path);
      return this.inline.on ? this.inline.timed(() => lstatSync(abs)) : lstat(abs);
    }
    this.ahead.delete(path);
    return st;
  }

  /** Drops a stat taken ahead for a path that will not be visited. */
  forget(path: string): void {
    this.ahead.delete(path);
  }

  /**
   * Runs `fn` with a free reader as a task; waits for a reader to be free
   * first. An error `fn` throws is handled by `onError`; if that rethrows,
   * the pass ends with it at the next drain.
   */
  async spawn(
    fn: (reader: FileReader) => Promise<void>,
    onError: (err: unknown) => void,
  ): Promise<void> {
    this.throwIfFatal();
    while (this.idle.length === 0) await new Promise<void>((r) => this.waiting.push(r));
    const reader = this.idle.pop()!;
    const task: Promise<void> = fn(reader)
      .catch((err: unknown) => {
        try {
          onError(err);
        } catch (fatal) {
          this.fatal ??= { error: fatal };
        }
      })
      .finally(() => {
        this.idle.push(reader);
        this.tasks.delete(task);
        this.waiting.shift()?.();
      });
    this.tasks.add(task);
  }

  /**
   * Appends the queued records once BATCH_FLUSH_BYTES are queued, without
   * waiting for them to be durable: the walk reads on while the journal
   * writes and fdatasyncs (one append behind it at most; drain and the end
   * of the pass wait for it). A failed append ends the pass like a task's.
   */
  async flushBehind(): Promise<void> {
    this.throwIfFatal();
    if (!this.batch.full) return;
    while (this.appending.size >= APPENDS_BEHIND) await Promise.race(this.appending);
    this.throwIfFatal();
    const append: Promise<void> = this.batch
      .flush()
      .catch((err: unknown) => {
        this.fatal ??= { error: err };
      })
      .finally(() => {
        this.appending.delete(append);
      });
    this.appending.add(append);
  }

  /** Waits for every running task and append; throws the first fatal error one of them hit. */
  async drain(): Promise<void> {
    while (this.tasks.size > 0 || this.appending.size > 0)
      await Promise.all([...this.tasks, ...this.appending]);
    this.throwIfFatal();
  }

  /** Stops the pass here: what is still queued goes to `result.remaining`. */
  yieldRest(): void {
    for (const p of this.stack) if (!this.done.has(p)) this.result.remaining.push(p);
    this.stack.length = 0;
  }

  /** Ends the pass's stat-ahead (nothing left will be visited). */
  close(): void {
    this.ahead.clear();
  }

  private throwIfFatal(): void {
    if (this.fatal) throw this.fatal.error;
  }
}
