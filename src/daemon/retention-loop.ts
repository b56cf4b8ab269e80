/** Runs retention periodically in a daemon, and keeps what it did for /v1/status and metrics. */
import { Counter } from "prom-client";
import type { Journal } from "../journal/journal.js";
import { runRetention } from "../journal/retention.js";
import type { Logger } from "../log/logger.js";
import type { Metrics } from "../metrics/registry.js";
import type { BlockHasher } from "../util/hash.js";

/** How often retention looks for whole segments older than the window (ms). */
export const RETENTION_CHECK_MS = 60_000;

/** What retention has done since start: `retention` in /v1/status. */
export interface RetentionStats {
  passes: number;
  /** Passes that folded history into a new base. */
  folds: number;
  /** Passes that failed (the next pass retries); lastError says why. */
  failures: number;
  reclaimedBytes: number;
  lastFoldAt: string | null;
  lastError: string | null;
  /** Replicas' unacknowledged records start here: retention keeps them whatever their age. */
  heldForReplicasFromSeq: number | null;
}

/** Fresh counters, and their Prometheus view in `metrics`. */
export function retentionStats(metrics: Metrics): RetentionStats {
  const stats: RetentionStats = {
    passes: 0,
    folds: 0,
    failures: 0,
    reclaimedBytes: 0,
    lastFoldAt: null,
    lastError: null,
    heldForReplicasFromSeq: null,
  };
  const registers = [metrics.registry];
  new Counter({
    name: "pvjournal_retention_folds_total",
    help: "Retention passes that folded history into a new base",
    registers,
    collect() {
      this.reset();
      this.inc(stats.folds);
    },
  });
  new Counter({
    name: "pvjournal_retention_failures_total",
    help: "Retention passes that failed (retried on the next check); see retention.lastError in /v1/status",
    registers,
    collect() {
      this.reset();
      this.inc(stats.failures);
    },
  });
  return stats;
}

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
  stats: RetentionStats;
  keepAfterSeq?: () => number | undefined;
  intervalMs?: number;
  /** journal.sizeLimit in bytes (0 = none): warn when the journal nears it. */
  sizeLimit?: number;
}): () => Promise<void> {
  const { stats } = opts;
  let running: Promise<void> | null = null;
  const tick = () => {
    if (running) return;
    const keep = opts.keepAfterSeq?.();
    const held = keep !== undefined && keep < opts.journal.lastSeq ? keep + 1 : null;
    stats.heldForReplicasFromSeq = held;
    const limit = opts.sizeLimit ?? 0;
    if (limit > 0 && opts.journal.sizeBytes >= limit * 0.9) {
      opts.logger.warn(
        { bytes: opts.journal.sizeBytes, sizeLimit: limit, heldForReplicasFromSeq: held },
        "journal is near journal.sizeLimit: a replica behind holds records, or the window is too long for the change rate",
      );
    }
    stats.passes++;
    running = runRetention(opts.journal, {
      retention: opts.retention,
      now: Date.now(),
      hasher: opts.hasher,
      ...(keep !== undefined ? { keepAfterSeq: keep } : {}),
    })
      .then((r) => {
        if (r.baseSeq !== null) {
          stats.folds++;
          stats.reclaimedBytes += r.reclaimedBytes;
          stats.lastFoldAt = new Date().toISOString();
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
      .catch((err: unknown) => {
        stats.failures++;
        stats.lastError = (err as Error).message;
        opts.logger.error({ err }, "retention failed; will retry");
      })
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
