/**
 * What both roles are built from: the journal, the /v1 routes they share
 * (status, checkpoints, restores, drills, failover) and the target policy.
 * sidecar.ts and replica.ts add what only their role has (capture and the
 * stream producer route; the stream source, the follow loop and the mirror).
 */
import type { Config } from "../config/types.js";
import type { StatusBody } from "../http/bodies.js";
import { type CheckpointRoutesDeps, checkpointRoutes } from "../http/routes/checkpoints.js";
import { drillRoutes } from "../http/routes/drills.js";
import { failoverRoutes } from "../http/routes/failover.js";
import { restoreApiRoutes } from "../http/routes/restores.js";
import { statusRoutes } from "../http/routes/status.js";
import type { V1Routes } from "../http/server.js";
import { Journal } from "../journal/journal.js";
import { childLogger, type Logger } from "../log/logger.js";
import type { Failover } from "../replica/failover.js";
import type { TargetPolicy } from "../restore/target.js";
import type { BlockHasher } from "../util/hash.js";
import type { DrillService } from "./drills.js";

/** Opens the role's journal as configured. */
export function openJournal(config: Config, root: Logger): Promise<Journal> {
  return Journal.open({
    dir: config.journal.dir,
    blockSize: config.journal.blockSize,
    segmentSize: config.journal.segmentSize,
    compression: { codec: config.journal.compression, level: config.journal.compressionLevel },
    logger: childLogger(root, "journal"),
  });
}

/**
 * Where restores and failover targets may go: below restore.allowedRoots,
 * never into `forbidden` (the role's live directories), nor into a drill
 * sandbox (drills own them; they may sit below a restore root).
 */
export function targetPolicy(config: Config, forbidden: readonly string[]): TargetPolicy {
  return {
    allowedRoots: config.restore.allowedRoots,
    forbidden,
    sandboxRoot: config.drills.sandboxRoot,
  };
}

/** The /v1 routes both roles serve, over the objects the role built. */
export function sharedRoutes(p: {
  readonly config: Config;
  readonly root: Logger;
  readonly journal: Journal;
  readonly hasher: BlockHasher;
  readonly status: () => StatusBody;
  /** Takes checkpoints on request; null on a replica (its checkpoints come with the stream). */
  readonly taker: CheckpointRoutesDeps["taker"];
  /** The role's live directories: no restore, drill sandbox or failover target may touch them. */
  readonly forbidden: readonly string[];
  readonly drills: DrillService;
  /** The replica's failover; null on a sidecar. */
  readonly failover: Failover | null;
}): V1Routes[] {
  return [
    statusRoutes(p.status),
    checkpointRoutes({ journal: p.journal, taker: p.taker }),
    ...restoreApiRoutes({
      journal: p.journal,
      hasher: p.hasher,
      policy: targetPolicy(p.config, p.forbidden),
      concurrency: p.config.restore.concurrency,
      logger: childLogger(p.root, "restore"),
      // One queue of restores and drills (the drill service's).
      queue: p.drills.queue,
    }),
    drillRoutes({ role: p.drills.role, runner: p.drills.runner }),
    failoverRoutes(p.failover),
  ];
}
