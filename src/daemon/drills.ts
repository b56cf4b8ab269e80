/**
 * The drill service of a daemon: the runner (drill queue and reports), its
 * metrics and the schedule (drills.schedule). Built by the daemon assembly;
 * the drill routes only call it.
 */
import type { DrillsConfig } from "../config/types.js";
import type { CloneFile } from "../drill/clone.js";
import { mirrorView } from "../drill/materialise.js";
import { registerDrillMetrics } from "../drill/metrics.js";
import type { DrillReport } from "../drill/report.js";
import { DrillRunner } from "../drill/runner.js";
import { startDrillSchedule } from "../drill/schedule.js";
import type { Journal } from "../journal/journal.js";
import type { Logger } from "../log/logger.js";
import type { Metrics } from "../metrics/registry.js";
import type { Mirror } from "../replica/mirror.js";
import { JobQueue } from "../restore/job-queue.js";
import type { BlockHasher } from "../util/hash.js";

/** What a daemon's drills need. */
export interface DrillServiceDeps {
  readonly role: "sidecar" | "replica";
  readonly journal: Journal;
  readonly hasher: BlockHasher;
  readonly config: DrillsConfig;
  /** Paths a sandbox may never overlap: sources, the journal, the mirror. */
  readonly forbidden: readonly string[];
  /** The replica's mirror (fast clone path); null on a sidecar. */
  readonly mirror: Mirror | null;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly clock?: () => number;
  /** Replaces the reflink call (tests). */
  readonly cloneFile?: CloneFile;
  /** The daemon's one queue of restores and drills; default: one of its own. */
  readonly queue?: JobQueue;
}

/** A daemon's drills: the runner the routes call, and how to stop it all. */
export interface DrillService {
  readonly role: "sidecar" | "replica";
  readonly runner: DrillRunner;
  /** The queue the drills run in (the restore routes share it). */
  readonly queue: JobQueue;
  /** Stops the schedule, then the runner (a running drill is recorded as stopped). */
  close(): Promise<void>;
}

/** Builds the runner, registers its metrics and starts the schedule (a no-op when off). */
export function createDrills(deps: DrillServiceDeps): DrillService {
  let observe: ((r: DrillReport) => void) | null = null;
  const queue = deps.queue ?? new JobQueue(1);
  const runner = new DrillRunner({
    queue,
    journal: deps.journal,
    hasher: deps.hasher,
    config: deps.config,
    forbidden: deps.forbidden,
    mirror: deps.mirror ? mirrorView(deps.mirror) : null,
    logger: deps.logger,
    onFinished: (r) => observe?.(r),
    ...(deps.clock ? { clock: deps.clock } : {}),
    ...(deps.cloneFile ? { cloneFile: deps.cloneFile } : {}),
  });
  observe = registerDrillMetrics(deps.metrics.registry, runner.lastPassed());
  const stopSchedule = startDrillSchedule({
    runner,
    journal: deps.journal,
    config: deps.config,
    logger: deps.logger,
  });
  let closed: Promise<void> | null = null;
  return {
    role: deps.role,
    runner,
    queue,
    close() {
      closed ??= (async () => {
        stopSchedule();
        await runner.close();
      })();
      return closed;
    },
  };
}
