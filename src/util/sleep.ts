/** Waiting without a timer left behind. */

/**
 * Resolves after `ms`, or as soon as `signal` aborts (at once when it already
 * has): a loop that sleeps between attempts wakes for a stop instead of
 * finishing its wait. Never rejects.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

/**
 * The retry policy every loop uses: `minMs` after the first failure, doubling
 * with each further one, never more than `maxMs`. `failures` counts from 1.
 */
export function backoffMs(failures: number, minMs: number, maxMs: number): number {
  return Math.min(maxMs, minMs * 2 ** Math.max(0, failures - 1));
}
