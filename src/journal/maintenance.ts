/**
 * One segment-replacing job per journal at a time: a retention pass (which
 * writes its base outside the journal's exclusive lock, for as long as a
 * volume-sized write takes) and a replica's install of a streamed base both
 * drop segments, and each plans against the segments it saw when it started.
 * Run one inside the other's plan and the later commit undoes the earlier
 * (soak-cdp, 2026-12-02). Take this before `journal.exclusive()`, never inside
 * it: a retention pass holds this while it waits for the exclusive lock.
 */
import type { Journal } from "./journal.js";

const tails = new WeakMap<Journal, Promise<unknown>>();

/**
 * Runs `fn` after every maintenance job queued on `journal` before it (FIFO);
 * at once (in this tick) when none is, so a pass takes the exclusive lock in
 * the order it was started.
 */
export function serialMaintenance<T>(journal: Journal, fn: () => Promise<T>): Promise<T> {
  const prev = tails.get(journal);
  const run = prev ? prev.then(fn, fn) : fn();
  // The queue goes on whether this job fails or not; callers see its own result.
  const tail: Promise<unknown> = run.then(
    () => undefined,
    () => undefined,
  );
  tails.set(journal, tail);
  void tail.then(() => {
    if (tails.get(journal) === tail) tails.delete(journal);
  });
  return run;
}
