/**
 * Intercept mode's watchdog (see watchdog-worker.ts): the main thread beats
 * once a second while it is responsive and the journal makes progress; a
 * worker thread kills the process when the beats stop.
 */
import { Worker } from "node:worker_threads";

/** No beat for this long (ms) kills the daemon. Longer than any journal commit or planning pause. */
export const WATCHDOG_LIMIT_MS = 60_000;
const BEAT_MS = 1000;

/** Starts the watchdog; `healthy()` false (e.g. a journal commit stuck) withholds the beat. */
export function startWatchdog(healthy: () => boolean, limitMs = WATCHDOG_LIMIT_MS): () => void {
  const beat = new SharedArrayBuffer(4);
  const view = new Int32Array(beat);
  const worker = new Worker(new URL("./watchdog-worker.js", import.meta.url), {
    workerData: { beat, limitMs },
  });
  worker.unref();
  const timer = setInterval(() => {
    if (healthy()) Atomics.add(view, 0, 1);
  }, BEAT_MS);
  timer.unref();
  return () => {
    clearInterval(timer);
    Atomics.store(view, 0, -1);
  };
}
