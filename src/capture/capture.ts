/**
 * The sidecar's capture: warm start from the journal, initial reconcile scan,
 * then watcher events (hints) coalesced by the scheduler, plus a periodic
 * reconcile rescan for what events miss (mmap writes, inotify overflow).
 * settle() is the checkpoint barrier: it captures the dirty paths, and walks
 * every source only when events cannot be trusted (polling, or a watcher gap
 * since the last full walk). All journal work runs one pass at a time (a
 * promise chain), so passes never interleave; the periodic rescan runs in
 * slices and yields to a waiting settle.
 */
import type { CaptureConfig, SourceConfig } from "../config/types.js";
import { ErrorCode, PvjError } from "../errors.js";
import type { Journal } from "../journal/journal.js";
import type { Logger } from "../log/logger.js";
import type { BlockHasher } from "../util/hash.js";
import { backoffMs, sleep } from "../util/sleep.js";
import { type CaptureStatus, errorMessage, eventTurns } from "./capture-status.js";
import { KnownTree } from "./known-tree.js";
import { FileReader } from "./reader.js";
import { Scheduler } from "./scheduler.js";
import { SourceMap } from "./sources.js";
import {
  type CaptureCounters,
  newCounters,
  RACY_MS,
  Syncer,
  type SyncOptions,
  type SyncResult,
} from "./syncer.js";
import { warmTree } from "./warm-tree.js";
import { Watcher } from "./watcher.js";

export type { CaptureStatus } from "./capture-status.js";
export { RESTART_RACY_WINDOW_MS } from "./warm-tree.js";

/** A path that failed to be captured (permission, I/O on the source) is retried after this many ms. */
export const FAILED_PATH_RETRY_MS = 5_000;
/** chokidar suppresses events on a path for ~50 ms after one (measured); 75 ms leaves a margin. */
export const CHOKIDAR_SUPPRESS_MS = 75;
/** Progress log interval of the initial scan. */
const PROGRESS_LOG_MS = 5_000;

/** Options of a Capture. */
export interface CaptureOptions {
  readonly journal: Journal;
  readonly hasher: BlockHasher;
  readonly sources: readonly SourceConfig[];
  readonly capture: CaptureConfig;
  readonly logger: Logger;
  /** Called for every capture error (after it is counted and logged). */
  readonly onError?: (err: unknown) => void;
}

/** Captures every source into the journal. One instance per sidecar. */
export class Capture {
  /** Files are re-read at different moments: two files may be from different instants. */
  readonly consistency = "fuzzy" as const;
  private readonly journal: Journal;
  private readonly cfg: CaptureConfig;
  private readonly log: Logger;
  private readonly onError: ((err: unknown) => void) | undefined;
  private readonly sources: SourceMap;
  private readonly syncer: Syncer;
  private readonly scheduler: Scheduler;
  private readonly totals: CaptureCounters = newCounters();
  private watcher: Watcher | null = null;
  private rescanTimer: NodeJS.Timeout | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private state: "new" | "starting" | "running" | "stopped" = "new";
  private ready = false;
  private scanning = false;
  private scanPaths = 0;
  private scanBytes = 0;
  private needsResync = false;
  private rescanQueued = false;
  /** settle() calls waiting for the chain: a running rescan slice yields to them. */
  private settlesWaiting = 0;
  /** Watcher gaps seen when the newest complete walk of every source began. */
  private gapsWalked = -1;
  private lastCaptureAt: number | null = null;
  private lastError: { message: string; at: number } | null = null;
  private degraded = false;
  private errorCount = 0;

  constructor(opts: CaptureOptions) {
    this.journal = opts.journal;
    this.cfg = opts.capture;
    this.log = opts.logger;
    this.onError = opts.onError;
    this.sources = new SourceMap(opts.sources);
    this.syncer = new Syncer({
      journal: opts.journal,
      sources: this.sources,
      reader: new FileReader({ blockSize: opts.journal.blockSize, hasher: opts.hasher }),
      tree: new KnownTree(),
      counters: this.totals,
    });
    this.scheduler = new Scheduler({
      debounce: opts.capture.debounce,
      maxWait: opts.capture.maxWait,
      process: (paths) => this.exclusive(() => this.syncDirty(paths)),
      onError: () => undefined, // already recorded by syncDirty
      // Only chokidar (polling) suppresses events after one; inotify reports every write.
      recheckWindow: opts.capture.usePolling ? CHOKIDAR_SUPPRESS_MS : 0,
    });
  }

  /**
   * Warm state from the journal, watcher up, initial reconcile scan of every
   * source; resolves when the scan is done (ready). A failing scan (journal
   * full...) is retried with backoff until it succeeds or stop() is called.
   */
  async start(): Promise<void> {
    if (this.state !== "new") return;
    this.state = "starting";
    this.syncer.tree = this.warmTree(null);
    this.log.info(
      { paths: this.syncer.tree.count, sources: this.sources.roots() },
      "capture: warm state loaded from journal",
    );
    // The watcher starts first so that changes made during the scan are not missed.
    this.watcher = await Watcher.start({
      roots: this.sources.rootDirs(),
      usePolling: this.cfg.usePolling,
      pollInterval: this.cfg.pollInterval,
      ignored: (abs) => this.sources.toJournal(abs) === null,
      onDirty: (abs) => this.markDirty(abs),
      onError: (err) => this.recordError(err, "watcher"),
      onGap: (reason) =>
        this.log.warn(
          { reason },
          "capture: watch events may have been lost; next checkpoint walks every source",
        ),
    });
    const started = Date.now();
    for (let attempt = 0; (this.state as string) !== "stopped"; attempt++) {
      try {
        await this.exclusive(() => this.scan());
        break;
      } catch {
        await sleep(backoffMs(attempt + 1, 100, 10_000));
      }
    }
    if ((this.state as string) === "stopped") return;
    this.ready = true;
    this.state = "running";
    this.log.info(
      { ms: Date.now() - started, files: this.syncer.tree.count, bytes: this.syncer.tree.bytes },
      "capture: initial scan done",
    );
    this.scheduler.start();
    if (this.cfg.rescanInterval > 0) {
      this.rescanTimer = setInterval(() => this.periodicRescan(), this.cfg.rescanInterval);
      this.rescanTimer.unref();
    }
  }

  /**
   * Resolves once every write to a source that completed before the call is
   * journaled and durable. inotify queues an event before write(2) returns,
   * so once the queued events are taken in (an event-loop turn) the dirty set
   * holds every path written before the call: settle captures it, O(dirty).
   * When events cannot be trusted (polling, a directory without a watch, an
   * event-loop stall that may have overflowed the kernel queue, a failed
   * pass), every source is reconciled instead (stat everything, read what
   * differs or is racily clean). Writes inotify never reports (through a
   * shared mmap) are caught by the periodic rescan, not by settle. Rejects
   * if the capture cannot be done (the changes stay dirty and are retried).
   */
  async settle(): Promise<void> {
    if (this.state === "stopped") throw new Error("capture is stopped");
    this.settlesWaiting += 1;
    await this.exclusive(async () => {
      this.settlesWaiting -= 1; // exclusive() always runs fn, so this always balances
      await this.watcher?.caughtUp();
      await eventTurns();
      const gaps = this.watcher?.gaps ?? 0;
      const full = this.needsResync || !this.watcher?.trusted(this.gapsWalked);
      const taken = this.scheduler.dirty.takeAll();
      try {
        if (this.needsResync) this.resync();
        // A batch the scheduler took but has not run yet (it waits behind
        // this settle in the chain) is part of what settle must capture.
        const res = await this.syncer.sync(
          [...taken.map((t) => t.path), ...this.scheduler.pendingPaths()],
          { walk: false, deferVanish: false },
        );
        const all = full
          ? await this.syncer.sync(this.sources.roots(), { walk: true, deferVanish: false })
          : null;
        const failures = [...res.failures, ...(all?.failures ?? [])];
        this.afterPass(res);
        if (all) {
          this.afterPass(all);
          if (all.failures.length === 0) this.gapsWalked = gaps;
        }
        if (failures.length > 0) {
          const f = failures[0]!;
          // A named error, so the checkpoint's answer says which path failed
          // (an unnamed one reaches the client as "internal error").
          throw new PvjError(
            ErrorCode.IO_ERROR,
            `${failures.length} path(s) could not be captured; first: ${f.path}: ${errorMessage(f.error)}`,
            { path: f.path },
            f.error,
          );
        }
      } catch (err) {
        this.scheduler.dirty.putBack(taken);
        this.failed(err, "settle");
        throw err;
      }
    });
  }

  /** Stops watcher, timers and loop; waits for a running pass. Idempotent; does not close the journal. */
  async stop(): Promise<void> {
    if (this.state === "stopped") return;
    this.state = "stopped";
    if (this.rescanTimer) clearInterval(this.rescanTimer);
    this.rescanTimer = null;
    await this.scheduler.stop();
    await this.watcher?.close();
    this.watcher = null;
    await this.chain.catch(() => undefined);
  }

  /** Status for the API and metrics. */
  status(): CaptureStatus {
    return {
      ready: this.ready,
      scanning: { active: this.scanning, paths: this.scanPaths, bytesRead: this.scanBytes },
      dirtyPaths: this.scheduler.uncaptured,
      oldestDirtyAt: this.scheduler.oldestMark(),
      lastCaptureAt: this.lastCaptureAt,
      lastError: this.lastError,
      degraded: this.degraded,
      errors: this.errorCount,
      filesTracked: this.syncer.tree.count,
      bytesTracked: this.syncer.tree.bytes,
    };
  }

  /** Running totals (records, block bytes, files read, renames, errors...), for metrics. A copy. */
  get counters(): Readonly<CaptureCounters & { errors: number }> {
    return { ...this.totals, errors: this.errorCount };
  }

  // --- internals -------------------------------------------------------------

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private markDirty(abs: string): void {
    const p = this.sources.toJournal(abs);
    if (p !== null) this.scheduler.mark(p);
  }

  /** The journal's view as a KnownTree; inode facts carried over from `prev` where the identity matches. */
  private warmTree(prev: KnownTree | null): KnownTree {
    return warmTree(this.journal, this.sources, prev);
  }

  /** After a failed append the tree is ahead of the journal: rebuild it from the journal. */
  private resync(): void {
    try {
      this.syncer.tree = this.warmTree(this.syncer.tree);
    } catch (err) {
      // Logged, counted and in capture.lastError like any capture failure; retried next pass.
      this.failed(err, "capture resync");
      throw err;
    }
    this.needsResync = false;
    this.log.info(
      { paths: this.syncer.tree.count },
      "capture: state rebuilt from the journal after a failure",
    );
  }

  private async scan(): Promise<void> {
    if (this.needsResync) this.resync();
    this.scanning = true;
    this.scanPaths = 0;
    const bytes0 = this.totals.bytesRead;
    let lastLog = Date.now();
    const gaps = this.watcher?.gaps ?? 0;
    try {
      const res = await this.runPass(this.sources.roots(), {
        walk: true,
        deferVanish: false,
        onVisit: () => {
          this.scanPaths += 1;
          this.scanBytes = this.totals.bytesRead - bytes0;
          const now = Date.now();
          if (now - lastLog >= PROGRESS_LOG_MS) {
            lastLog = now;
            this.log.info(
              { paths: this.scanPaths, bytesRead: this.scanBytes },
              "capture: scanning",
            );
          }
        },
      });
      this.afterPass(res);
      if (res.failures.length === 0) this.gapsWalked = gaps;
    } finally {
      this.scanning = false;
    }
  }

  /**
   * A walk of every source, in slices: a slice stops as soon as a settle is
   * waiting (so a checkpoint never waits for a whole walk) and the next slice
   * goes on from the paths it did not visit.
   */
  private periodicRescan(): void {
    if (this.rescanQueued || this.state !== "running") return;
    this.rescanQueued = true;
    void (async () => {
      const gaps = this.watcher?.gaps ?? 0;
      let todo = this.sources.roots();
      let clean = true;
      while (todo.length > 0 && this.state === "running") {
        const res = await this.exclusive(async () => {
          if (this.state !== "running") return null;
          if (this.needsResync) this.resync();
          return this.runPass(todo, {
            walk: true,
            deferVanish: false,
            shouldYield: () => this.settlesWaiting > 0,
          });
        });
        if (res === null) break;
        this.afterPass(res);
        clean &&= res.failures.length === 0;
        todo = res.remaining;
      }
      if (todo.length === 0 && clean) this.gapsWalked = Math.max(this.gapsWalked, gaps);
    })()
      .catch(() => undefined)
      .finally(() => {
        this.rescanQueued = false;
      });
  }

  private async syncDirty(paths: string[]): Promise<void> {
    if (this.state === "stopped") return;
    if (this.needsResync) {
      this.resync();
      // Whatever the failed pass had discovered is found again by a full pass.
      this.afterPass(
        await this.runPass([...paths, ...this.sources.roots()], { walk: true, deferVanish: false }),
      );
      return;
    }
    this.afterPass(await this.runPass(paths, { walk: false, deferVanish: true }));
  }

  /** One sync pass; failures are recorded (and a journal failure schedules a resync) before rethrowing. */
  private async runPass(paths: readonly string[], opts: SyncOptions): Promise<SyncResult> {
    try {
      return await this.syncer.sync(paths, opts);
    } catch (err) {
      this.failed(err, "capture");
      throw err;
    }
  }

  private failed(err: unknown, what: string): void {
    this.needsResync = true;
    this.degraded = true;
    this.recordError(err, what);
  }

  private afterPass(res: SyncResult): void {
    this.lastCaptureAt = Date.now();
    this.degraded = false;
    for (const p of res.again) this.scheduler.recheck(p);
    for (const p of res.racy) this.scheduler.recheck(p, RACY_MS + 1);
    for (const f of res.failures) {
      this.recordError(f.error, `capture of ${f.path}`);
      this.scheduler.recheck(f.path, FAILED_PATH_RETRY_MS);
    }
  }

  private recordError(err: unknown, what: string): void {
    this.errorCount += 1;
    this.lastError = { message: `${what}: ${errorMessage(err)}`, at: Date.now() };
    this.log.warn({ err, what }, "capture error (will retry)");
    try {
      this.onError?.(err);
    } catch {
      // a faulty callback must not stop the capture
    }
  }
}
