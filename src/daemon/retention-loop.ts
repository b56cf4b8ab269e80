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
  /** journal.sizeLimit in bytes (0 = none): warn when the journal nears it. */
  sizeLimit?: number;
}): () => Promise<void> {
  let running: Promise<void> | null = null;
  const tick = () => {
    if (running) return;
    const keep = opts.keepAfterSeq?.();
    const limit = opts.sizeLimit ?? 0;
    if (limit > 0 && opts.journal.sizeBytes >= limit * 0.9) {
      opts.logger.warn(
        {
          bytes: opts.journal.sizeBytes,
          sizeLimit: limit,
          heldForReplicasFromSeq:
            keep !== undefined && keep < opts.journal.lastSeq ? keep + 1 : null,
        },
        "journal is near journal.sizeLimit: a replica behind holds records, or the window is too long for the change rate",
      );
    }
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
