/**
 * The ordered write log in front of the journal. The filesystem submits the
 * records of each mutation synchronously, in the order it applies them to the
 * volume, before it answers the kernel; this log appends them to the journal
 * in exactly that order, one group commit at a time (everything submitted
 * while a commit runs goes into the next one). `durable()` is what fsync and
 * checkpoints wait for.
 *
 * When the journal refuses a batch (ENOSPC, EIO) the batch is kept at the
 * front and retried with backoff: nothing the app was told is written is
 * dropped. While failing, new mutations are refused with the journal's errno
 * (the app sees ENOSPC as from a full disk) and waiting fsyncs fail with it.
 */
import { isNoSpace } from "../errors.js";
import type { Journal } from "../journal/journal.js";
import type { RecordBody } from "../journal/records.js";
import { backoffMs, sleep } from "../util/sleep.js";

/**
 * Above this many queued block bytes, writes wait before they are answered:
 * bounds memory and how far the journal may fall behind a bulk writer
 * (16 MiB at ~200 MB/s of journal throughput is ~80 ms of write -> durable).
 */
export const HIGH_WATER_BYTES = 16 * 1024 * 1024;
/**
 * With nobody waiting (no fsync, checkpoint or O_SYNC write), a commit is
 * started once this much is queued or COALESCE_MS after the first record:
 * fewer, larger commits (each costs an fdatasync of the segment).
 */
const COALESCE_BYTES = 4 * 1024 * 1024;
const COALESCE_MS = 5;
const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 2_000;

interface Waiter {
  readonly ticket: number;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

/** Why the journal is refusing writes, as the errno name the app should see. */
export type FailCode = "ENOSPC" | "EIO";

/** Counters for status and metrics. */
export interface WriteLogStats {
  readonly submitted: number;
  readonly durable: number;
  readonly queuedBytes: number;
  readonly commits: number;
  readonly failures: number;
  /** ms since epoch when the oldest queued record was submitted, or null. */
  readonly oldestQueuedAt: number | null;
  readonly failing: { readonly code: FailCode; readonly message: string } | null;
  /** Write -> durable latency of the last commits, ms (for p99 in status and benchmarks). */
  readonly lastCommitMs: number;
}

/** See the module comment. */
export class WriteLog {
  private queue: RecordBody[] = [];
  private queueBytes = 0;
  private queuedAt: number | null = null;
  private inFlight: RecordBody[] | null = null;
  private inFlightBytes = 0;
  private inFlightAt: number | null = null;
  private submittedTicket = 0;
  private durableTicket = 0;
  private waiters: Waiter[] = [];
  private drainWaiters: (() => void)[] = [];
  /** Wakes a coalescing pause early (a waiter arrived or enough is queued). */
  private wake: (() => void) | null = null;
  private running = false;
  private closed = false;
  private failing: { code: FailCode; message: string } | null = null;
  private commits = 0;
  private failures = 0;
  private lastCommitMs = 0;

  constructor(
    private readonly journal: Journal,
    private readonly onFailure: (err: unknown) => void,
    private readonly onRecovered: () => void,
  ) {}

  /** The errno a new mutation must get instead of being applied, or null when writes are accepted. */
  refusal(): FailCode | null {
    if (this.closed) return "EIO";
    return this.failing?.code ?? null;
  }

  /** True while so much is queued that writes should wait (see HIGH_WATER_BYTES). */
  get overHighWater(): boolean {
    return this.queueBytes + this.inFlightBytes > HIGH_WATER_BYTES;
  }

  /** Appends records to the ordered log; returns their ticket for durable(). */
  submit(records: readonly RecordBody[]): number {
    if (records.length === 0) return this.submittedTicket;
    for (const r of records) {
      this.queue.push(r);
      if (r.type === "blob") this.queueBytes += r.data.length;
    }
    this.queuedAt ??= Date.now();
    this.submittedTicket += 1;
    if (this.queueBytes >= COALESCE_BYTES) this.wake?.();
    this.kick();
    return this.submittedTicket;
  }

  /** The ticket of everything submitted so far. */
  get lastTicket(): number {
    return this.submittedTicket;
  }

  /**
   * Resolves once everything up to `ticket` (default: all submitted) is
   * durable in the journal; rejects while the journal is failing.
   */
  durable(ticket = this.submittedTicket): Promise<void> {
    if (ticket <= this.durableTicket) return Promise.resolve();
    if (this.failing) return Promise.reject(failError(this.failing));
    const p = new Promise<void>((resolve, reject) =>
      this.waiters.push({ ticket, resolve, reject }),
    );
    this.wake?.();
    return p;
  }

  /** Resolves once the queue is below the high-water mark again. */
  drained(): Promise<void> {
    if (!this.overHighWater) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Flushes what is queued (retrying until the journal takes it or `deadlineMs` passes), then stops. */
  async close(deadlineMs = 10_000): Promise<void> {
    const until = Date.now() + deadlineMs;
    while ((this.queue.length > 0 || this.inFlight) && Date.now() < until) {
      await this.durable().catch(() => sleep(RETRY_MIN_MS));
    }
    this.closed = true;
  }

  /** Status counters. */
  stats(): WriteLogStats {
    return {
      submitted: this.submittedTicket,
      durable: this.durableTicket,
      queuedBytes: this.queueBytes + this.inFlightBytes,
      commits: this.commits,
      failures: this.failures,
      oldestQueuedAt: this.inFlightAt ?? this.queuedAt,
      failing: this.failing,
      lastCommitMs: this.lastCommitMs,
    };
  }

  private kick(): void {
    if (this.running) return;
    this.running = true;
    void this.run();
  }

  /**
   * Commits until the queue is empty. `running` drops in the same synchronous
   * step that sees the queue empty: a submit in any later microtask kicks anew.
   */
  private async run(): Promise<void> {
    let failed = 0;
    let coalesced = false;
    for (;;) {
      if (this.queue.length === 0 || this.closed) {
        this.running = false;
        return;
      }
      if (
        !coalesced &&
        this.waiters.length === 0 &&
        this.queueBytes < COALESCE_BYTES &&
        !this.failing
      ) {
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            this.wake = null;
            resolve();
          };
          const timer = setTimeout(done, COALESCE_MS);
          this.wake = done;
        });
        coalesced = true;
        continue;
      }
      coalesced = false;
      const batch = this.queue;
      const ticket = this.submittedTicket;
      this.inFlight = batch;
      this.inFlightBytes = this.queueBytes;
      this.inFlightAt = this.queuedAt;
      this.queue = [];
      this.queueBytes = 0;
      this.queuedAt = null;
      try {
        // Durable in its segment is what fsync needs; the index follows within ms.
        await this.journal.append(batch, { lazyIndex: true });
      } catch (err) {
        // Put it back in front: order and content are kept for the retry.
        this.queue = [...batch, ...this.queue];
        this.queueBytes += this.inFlightBytes;
        this.queuedAt = this.inFlightAt ?? this.queuedAt;
        this.inFlight = null;
        this.inFlightBytes = 0;
        this.inFlightAt = null;
        this.failures += 1;
        this.failing = { code: failCode(err), message: (err as Error).message ?? String(err) };
        for (const w of this.waiters.splice(0)) w.reject(failError(this.failing));
        this.onFailure(err);
        failed += 1;
        await sleep(backoffMs(failed, RETRY_MIN_MS, RETRY_MAX_MS));
        continue;
      }
      if (this.inFlightAt !== null) this.lastCommitMs = Date.now() - this.inFlightAt;
      this.inFlight = null;
      this.inFlightBytes = 0;
      this.inFlightAt = null;
      this.commits += 1;
      this.durableTicket = ticket;
      failed = 0;
      if (this.failing) {
        this.failing = null;
        this.onRecovered();
      }
      const still: Waiter[] = [];
      for (const w of this.waiters) {
        if (w.ticket <= ticket) w.resolve();
        else still.push(w);
      }
      this.waiters = still;
      if (!this.overHighWater) for (const d of this.drainWaiters.splice(0)) d();
    }
  }
}

function failCode(err: unknown): FailCode {
  return isNoSpace(err) ? "ENOSPC" : "EIO";
}

function failError(f: { code: FailCode; message: string }): Error {
  return Object.assign(new Error(`journal is refusing writes: ${f.message}`), { code: f.code });
}
