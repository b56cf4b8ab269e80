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
  /** The due time this path's newest entry in the due heap carries. */
  heapDue: number;
  /** The `first` this path's newest entry in the age heap carries. */
  heapFirst: number;
}

/** A taken path with its marks, so a failed batch can be put back unchanged. */
export interface TakenPath {
  readonly path: string;
  readonly first: number;
  readonly last: number;
  readonly event: boolean;
}

/**
 * A binary min-heap of (key, path) with lazy deletion: an entry is stale when
 * its path is clean or carries another key now; stale entries are dropped
 * when they reach the top. Each path has at most a few live entries.
 */
class LazyHeap {
  private keys: number[] = [];
  private paths: string[] = [];

  get length(): number {
    return this.keys.length;
  }

  push(key: number, path: string): void {
    const k = this.keys;
    const p = this.paths;
    let i = k.length;
    k.push(key);
    p.push(path);
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (k[up]! <= key) break;
      k[i] = k[up]!;
      p[i] = p[up]!;
      i = up;
    }
    k[i] = key;
    p[i] = path;
  }

  topKey(): number | undefined {
    return this.keys[0];
  }

  topPath(): string | undefined {
    return this.paths[0];
  }

  pop(): void {
    const k = this.keys;
    const p = this.paths;
    const lastKey = k.pop()!;
    const lastPath = p.pop()!;
    const n = k.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && k[c + 1]! < k[c]!) c += 1;
      if (k[c]! >= lastKey) break;
      k[i] = k[c]!;
      p[i] = p[c]!;
      i = c;
    }
    k[i] = lastKey;
    p[i] = lastPath;
  }

  clear(): void {
    this.keys = [];
    this.paths = [];
  }
}

/**
 * The pure core: dirty paths with their mark times. Marking is O(1) (plus
 * O(log n) when a path's due time moves earlier, which only a delayed
 * re-check followed by an event does); the next due time and the oldest mark
 * are heap tops, so nothing ever scans the whole set.
 */
export class DirtySet {
  private readonly items = new Map<string, Marks>();
  private readonly due: LazyHeap = new LazyHeap();
  private readonly age: LazyHeap = new LazyHeap();

  constructor(
    /** Quiet period and longest wait in ms; takeDue/nextDue may pass others (tests). */
    private readonly debounce = 0,
    private readonly maxWait = 0,
  ) {}

  get size(): number {
    return this.items.size;
  }

  /** Marks `path` dirty at `at` (a future `at` delays it). The first mark is kept. */
  mark(path: string, at: number, event = true): void {
    this.compact();
    const m = this.items.get(path);
    if (m) {
      m.first = Math.min(m.first, at);
      m.last = Math.max(m.last, at);
      m.event ||= event;
      if (m.first < m.heapFirst) {
        m.heapFirst = m.first;
        this.age.push(m.first, path);
      }
      // Due times only move later with newer marks; an earlier one needs a new heap entry.
      const d = DirtySet.dueAt(m, this.debounce, this.maxWait);
      if (d < m.heapDue) {
        m.heapDue = d;
        this.due.push(d, path);
      }
    } else {
      const m: Marks = { first: at, last: at, event, heapDue: 0, heapFirst: at };
      m.heapDue = DirtySet.dueAt(m, this.debounce, this.maxWait);
      this.items.set(path, m);
      this.due.push(m.heapDue, path);
      this.age.push(at, path);
    }
  }

  /** When the oldest un-captured mark was made, or null when clean. */
  oldest(): number | null {
    for (;;) {
      const path = this.age.topPath();
      if (path === undefined) return null;
      const m = this.items.get(path);
      if (m && m.heapFirst === this.age.topKey()) return m.first;
      this.age.pop();
    }
  }

  /** When a path becomes due. */
  static dueAt(m: Pick<Marks, "first" | "last">, debounce: number, maxWait: number): number {
    return Math.min(m.last + debounce, Math.max(m.first + maxWait, m.last));
  }

  /**
   * The earliest time some path becomes due, or null when clean. Heap keys
   * are computed with the set's own debounce/maxWait; other values (tests)
   * are answered from the heap top's marks after re-keying stale entries.
   */
  nextDue(debounce = this.debounce, maxWait = this.maxWait): number | null {
    for (;;) {
      const path = this.due.topPath();
      if (path === undefined) return null;
      const m = this.items.get(path);
      const key = this.due.topKey()!;
      if (!m || m.heapDue !== key) {
        this.due.pop();
        continue;
      }
      const d = DirtySet.dueAt(m, debounce, maxWait);
      if (d === key) return d;
      // Newer marks moved it later (or other parameters): re-key it and look again.
      this.due.pop();
      m.heapDue = d;
      this.due.push(d, path);
    }
  }

  /** Removes and returns the paths due at `now` (at most `limit`). */
  takeDue(
    now: number,
    debounce = this.debounce,
    maxWait = this.maxWait,
    limit = Number.POSITIVE_INFINITY,
  ): TakenPath[] {
    const out: TakenPath[] = [];
    while (out.length < limit) {
      const d = this.nextDue(debounce, maxWait);
      if (d === null || d > now) break;
      const path = this.due.topPath()!;
      this.due.pop();
      const m = this.items.get(path)!;
      this.items.delete(path);
      out.push({ path, first: m.first, last: m.last, event: m.event });
    }
    return out;
  }

  /**
   * Rebuilds the heaps once stale entries (of paths taken since) outnumber
   * live ones: amortised O(1) per mark, and memory stays O(dirty paths).
   */
  private compact(): void {
    const limit = 2 * this.items.size + 1024;
    if (this.due.length <= limit && this.age.length <= limit) return;
    this.due.clear();
    this.age.clear();
    for (const [path, m] of this.items) {
      this.due.push(m.heapDue, path);
      m.heapFirst = m.first;
      this.age.push(m.first, path);
    }
  }

  /** Removes and returns every path. */
  takeAll(): TakenPath[] {
    const out: TakenPath[] = [];
    for (const [path, m] of this.items)
      out.push({ path, first: m.first, last: m.last, event: m.event });
    this.items.clear();
    this.due.clear();
    this.age.clear();
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
  readonly dirty: DirtySet;
  private readonly opts: SchedulerOptions;
  private readonly clock: () => number;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private started = false;
  private failures = 0;
  private notBefore = 0;
  /** The batch taken for processing and not finished yet (empty when idle). */
  private pending: readonly TakenPath[] = [];
  /** When the armed timer fires (ms), or null. */
  private armedAt: number | null = null;

  constructor(opts: SchedulerOptions) {
    this.opts = opts;
    this.dirty = new DirtySet(opts.debounce, opts.maxWait);
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

  /** Paths taken for a batch that has not finished (it may still wait for its turn). */
  pendingPaths(): string[] {
    return this.pending.map((t) => t.path);
  }

  /** Paths not captured yet: dirty, or in a batch that has not finished. */
  get uncaptured(): number {
    return this.dirty.size + this.pending.length;
  }

  /** When the oldest un-captured mark was made (dirty or in a running batch), or null. */
  oldestMark(): number | null {
    let o = this.dirty.oldest();
    for (const t of this.pending) if (o === null || t.first < o) o = t.first;
    return o;
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
    this.armedAt = null;
    while (this.running) await this.running;
  }

  private arm(): void {
    if (!this.started || this.running) return;
    const due = this.dirty.nextDue();
    if (due === null) return;
    const at = Math.max(due, this.notBefore);
    // A timer that fires no later already covers this: marking stays O(1), no timer churn.
    if (this.timer && this.armedAt !== null && this.armedAt <= at) return;
    if (this.timer) clearTimeout(this.timer);
    this.armedAt = at;
    this.timer = setTimeout(() => this.tick(), Math.max(0, at - this.clock()));
  }

  private tick(): void {
    this.timer = null;
    this.armedAt = null;
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
    this.pending = taken;
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
        this.pending = [];
        this.running = null;
        this.arm();
      });
  }
}
