/**
 * Coalesces dirty paths and hands them to one processing loop: a path is due
 * once it has been quiet for `debounce` ms, or dirty for `maxWait` ms even if
 * writes continue (a database file is still captured every maxWait). The set
 * is unbounded but coalesced: nothing is ever dropped, a path is at most once
 * in it. A failed batch goes back into the set and the loop backs off.
 */
import { backoffMs } from "../util/sleep.js";

/** First and last time a path was marked dirty (ms). */
interface Marks {
  first: number;
  last: number;
  /** At least one mark came from a watcher event (not an internal re-check). */
  event: boolean;
}

/** A taken path with its marks, so a failed batch can be put back unchanged. */
export interface TakenPath {
  readonly path: string;
  readonly first: number;
  readonly last: number;
  readonly event: boolean;
}

/** The pure core: dirty paths with their mark times. */
export class DirtySet {
  private readonly items = new Map<string, Marks>();

  get size(): number {
    return this.items.size;
  }

  /** Marks `path` dirty at `at` (a future `at` delays it). The first mark is kept. */
  mark(path: string, at: number, event = true): void {
    const m = this.items.get(path);
    if (m) {
      m.first = Math.min(m.first, at);
      m.last = Math.max(m.last, at);
      m.event ||= event;
    } else this.items.set(path, { first: at, last: at, event });
  }

  /** When the oldest un-captured mark was made, or null when clean. */
  oldest(): number | null {
    let o: number | null = null;
    for (const m of this.items.values()) if (o === null || m.first < o) o = m.first;
    return o;
  }

  /** When a path becomes due. */
  static dueAt(m: Marks, debounce: number, maxWait: number): number {
    return Math.min(m.last + debounce, Math.max(m.first + maxWait, m.last));
  }

  /** The earliest time some path becomes due, or null when clean. */
  nextDue(debounce: number, maxWait: number): number | null {
    let t: number | null = null;
    for (const m of this.items.values()) {
      const d = DirtySet.dueAt(m, debounce, maxWait);
      if (t === null || d < t) t = d;
    }
    return t;
  }

  /** Removes and returns the paths due at `now` (at most `limit`). */
  takeDue(
    now: number,
    debounce: number,
    maxWait: number,
    limit = Number.POSITIVE_INFINITY,
  ): TakenPath[] {
    const out: TakenPath[] = [];
    for (const [path, m] of this.items) {
      if (out.length >= limit) break;
      if (DirtySet.dueAt(m, debounce, maxWait) <= now) out.push({ path, ...m });
    }
    for (const t of out) this.items.delete(t.path);
    return out;
  }

  /** Removes and returns every path. */
  takeAll(): TakenPath[] {
    const out = [...this.items].map(([path, m]) => ({ path, ...m }));
    this.items.clear();
    return out;
  }

  /** Puts taken paths back (a failed batch), keeping their original marks. */
  putBack(taken: readonly TakenPath[]): void {
    for (const t of taken) {
      this.mark(t.path, t.first, t.event);
      this.mark(t.path, t.last, t.event);
    }
  }
}

/** Options of a Scheduler. */
export interface SchedulerOptions {
  /** Quiet period in ms. */
  readonly debounce: number;
  /** Longest a dirty path waits, in ms (>= debounce). */
  readonly maxWait: number;
  /** Processes a batch (appends it); a rejection puts the batch back and backs off. */
  readonly process: (paths: string[]) => Promise<void>;
  readonly onError: (err: unknown) => void;
  /** Paths per batch: 5000 bounds one append's work while still batching heavy churn. */
  readonly batchLimit?: number;
  /** Backoff after a failed batch: doubles from min to max ms. */
  readonly backoffMin?: number;
  readonly backoffMax?: number;
  readonly clock?: () => number;
  /**
   * chokidar reports no event for a write that follows another within ~50 ms
   * (design.md). A path taken less than this many ms after its last event is
   * therefore captured once more after the window; 0 = never.
   */
  readonly recheckWindow?: number;
}

/** The timer-driven loop over a DirtySet. */
export class Scheduler {
  readonly dirty = new DirtySet();
  private readonly opts: SchedulerOptions;
  private readonly clock: () => number;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private started = false;
  private failures = 0;
  private notBefore = 0;

  constructor(opts: SchedulerOptions) {
    this.opts = opts;
    this.clock = opts.clock ?? Date.now;
  }

  /** Marks a path dirty because the watcher reported it (now, or `delay` ms from now). */
  mark(path: string, delay = 0): void {
    this.dirty.mark(path, this.clock() + delay);
    this.arm();
  }

  /** Marks a path for another look `delay` ms from now (internal: no event-suppression re-check). */
  recheck(path: string, delay = 0): void {
    this.dirty.mark(path, this.clock() + delay, false);
    this.arm();
  }

  /** Starts processing due paths. */
  start(): void {
    this.started = true;
    this.arm();
  }

  /** Stops the loop and waits for a running batch. */
  async stop(): Promise<void> {
    this.started = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.running) await this.running;
  }

  private arm(): void {
    if (!this.started || this.running) return;
    const due = this.dirty.nextDue(this.opts.debounce, this.opts.maxWait);
    if (due === null) return;
    const at = Math.max(due, this.notBefore);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tick(), Math.max(0, at - this.clock()));
  }

  private tick(): void {
    this.timer = null;
    if (!this.started || this.running) return;
    const taken = this.dirty.takeDue(
      this.clock(),
      this.opts.debounce,
      this.opts.maxWait,
      this.opts.batchLimit ?? 5000,
    );
    if (taken.length === 0) {
      this.arm();
      return;
    }
    const takenAt = this.clock();
    this.running = this.opts
      .process(taken.map((t) => t.path))
      .then(
        () => {
          this.failures = 0;
          this.notBefore = 0;
          const window = this.opts.recheckWindow ?? 0;
          for (const t of taken) {
            if (t.event && takenAt - t.last < window)
              this.dirty.mark(t.path, t.last + window, false);
          }
        },
        (err: unknown) => {
          this.dirty.putBack(taken);
          this.failures += 1;
          const min = this.opts.backoffMin ?? 100;
          const max = this.opts.backoffMax ?? 10_000;
          this.notBefore = this.clock() + backoffMs(this.failures, min, max);
          this.opts.onError(err);
        },
      )
      .finally(() => {
        this.running = null;
        this.arm();
      });
  }
}
