/** Runs retention periodically in a daemon. */
import type { Journal } from "../journal/journal.js";
import { runRetention } from "../journal/retention.js";
import type { Logger } from "../log/logger.js";
import type { BlockHasher } from "../util/hash.js";

/** How often retention looks for whole segments older than the window (ms). */
export const RETENTION_CHECK_MS = 60_000;

/**
 * Starts a timer that folds history older than `retention` ms. `keepAfterSeq`
 * (replicas' acknowledged position) protects records not yet replicated.
 * Returns a stop function that waits for a running pass.
 */
export function startRetentionLoop(opts: {
  journal: Journal;
  hasher: BlockHasher;
  retention: number;
  logger: Logger;
  keepAfterSeq?: () => number | undefined;
  intervalMs?: number;
}): () => Promise<void> {
  let running: Promise<void> | null = null;
  const tick = () => {
    if (running) return;
    const keep = opts.keepAfterSeq?.();
    running = runRetention(opts.journal, {
      retention: opts.retention,
      now: Date.now(),
      hasher: opts.hasher,
      ...(keep !== undefined ? { keepAfterSeq: keep } : {}),
    })
      .then((r) => {
        if (r.baseSeq !== null) {
          opts.logger.info(
            {
              baseSeq: r.baseSeq,
              removed: r.removedSegments.length,
              reclaimedBytes: r.reclaimedBytes,
            },
            "retention folded history older than the window",
          );
        }
      })
      .catch((err: unknown) => opts.logger.error({ err }, "retention failed; will retry"))
      .finally(() => {
        running = null;
      });
  };
  const timer = setInterval(tick, opts.intervalMs ?? RETENTION_CHECK_MS);
  timer.unref();
  return async () => {
    clearInterval(timer);
    if (running) await running;
  };
}
