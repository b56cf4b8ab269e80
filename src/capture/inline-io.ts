/**
 * When a sync pass may call the filesystem synchronously, on the main thread.
 *
 * An async fs call is a round trip through libuv's thread pool: a queued
 * request, a futex wake of a pool thread, a completion callback and a promise
 * on the way back. For a page-cached file of a few KiB each round trip costs
 * far more than the syscall it carries, and a small file took six of them
 * (lstat, open, fstat, read, lstat, close). The 30k-file profile of the initial
 * scan (1-8 KiB files, 2 cores, 2026-12-06): 39% of the main thread's busy
 * samples sat in those calls' submissions and 26% of its wall time was idle,
 * waiting for the pool, while four pool threads and the main thread shared
 * two cores.
 *
 * So a pass lstat's paths and reads small files with synchronous calls while
 * they are fast, and gives the event loop a turn every SLICE_MS of that work
 * (HTTP, inotify events and timers wait at most one slice plus one file). One
 * call slower than SLOW_CALL_MS says the data is not in the page cache or the
 * filesystem is remote: SLOW_STREAK such calls in a row send the pass back to
 * the thread pool (where slow calls overlap and never stall the loop) for
 * ASYNC_HOLD_MS, then it tries again. One slow call alone says little: the
 * first read of a pass pays for lazy set-up (8 ms here), and on 2 busy cores
 * the main thread is now and then preempted for a few ms in any call.
 */
import { performance } from "node:perf_hooks";
import { setImmediate as turn } from "node:timers/promises";

/** Synchronous work between two event-loop turns, ms. */
export const SLICE_MS = 10;
/**
 * One synchronous call (or one small file's whole read) slower than this, ms,
 * switches the pass to the thread pool: a page-cached lstat costs ~1-3 us and
 * a cached 256 KiB read ~0.1 ms, a disk read ~0.1-10 ms and more.
 */
export const SLOW_CALL_MS = 2;
/** Slow calls in a row that send the pass to the thread pool. */
export const SLOW_STREAK = 3;
/** How long the pass stays on the thread pool after SLOW_STREAK slow calls, ms. */
export const ASYNC_HOLD_MS = 5000;
/**
 * Files up to this size (bytes, by the lstat that found them) are read with
 * synchronous calls: at most one read(2) of this much blocks the loop, ~0.1 ms
 * from the page cache. Larger files keep the overlapped 1 MiB windows.
 */
export const INLINE_READ_BYTES = 256 * 1024;

/** The switch between synchronous calls and the thread pool, and the slice clock. */
export class InlineIo {
  private sliceStart: number;
  private asyncUntil = Number.NEGATIVE_INFINITY;
  /** Slow calls since the last fast one. */
  private streak = 0;
  /** Times the pass went back to the thread pool (diagnostics, tests). */
  fallbacks = 0;

  constructor(
    /** False: never call synchronously (every call goes through the thread pool). */
    readonly enabled = true,
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.sliceStart = clock();
  }

  /** True when the next small call may be synchronous. */
  get on(): boolean {
    return this.enabled && this.clock() >= this.asyncUntil;
  }

  /** Runs synchronous `fn`, timed: SLOW_STREAK calls over SLOW_CALL_MS in a row switch to the pool for a while. */
  timed<T>(fn: () => T): T {
    const t = this.clock();
    try {
      return fn();
    } finally {
      const end = this.clock();
      this.streak = end - t > SLOW_CALL_MS ? this.streak + 1 : 0;
      if (this.streak >= SLOW_STREAK) {
        this.streak = 0;
        this.asyncUntil = end + ASYNC_HOLD_MS;
        this.fallbacks += 1;
      }
    }
  }

  /** Gives the event loop a turn once SLICE_MS have passed since the last one. */
  async maybeYield(): Promise<void> {
    if (this.clock() - this.sliceStart < SLICE_MS) return;
    await turn();
    this.sliceStart = this.clock();
  }
}
