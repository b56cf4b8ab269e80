/**
 * The replica role, assembled: its own journal, the stream source, the
 * follow loop, the mirror, retention, metrics and the HTTP app. The CLI
 * entry point listens and handles signals.
 */

import type { FastifyInstance, FastifyPluginAsync } from "fastify";
import { Counter, Gauge } from "prom-client";
import type { Config, ReplicaConfig } from "../config/types.js";
import type { ApiTokens } from "../http/auth.js";
import { checkpointBody, checkpointRoutes } from "../http/routes/checkpoints.js";
import { drillRoutes } from "../http/routes/drills.js";
import { failoverRoutes } from "../http/routes/failover.js";
import { restoreApiRoutes } from "../http/routes/restores.js";
import { type StatusBody, statusRoutes } from "../http/routes/status.js";
import { buildServer } from "../http/server.js";
import { Journal } from "../journal/journal.js";
import { childLogger, type Logger } from "../log/logger.js";
import { createMetrics } from "../metrics/registry.js";
import { Mirror } from "../replica/mirror.js";
import { Replica, replicaId } from "../replica/replica.js";
import { JobQueue } from "../restore/job-queue.js";
import { HttpStreamSource } from "../stream/http-source.js";
import { BlockHasher } from "../util/hash.js";
import { journalStatus, registerJournalMetrics } from "./journal-metrics.js";
import { startRetentionLoop } from "./retention-loop.js";

/** A running replica (not yet listening). */
export interface ReplicaDaemon {
  readonly app: FastifyInstance;
  readonly journal: Journal;
  readonly replica: Replica;
  readonly mirror: Mirror;
  start(): void;
  stop(): Promise<void>;
}

/** Secrets the CLI read for the replica. */
export interface ReplicaSecrets {
  readonly token: string | ApiTokens | null;
  readonly https: { cert: Buffer; key: Buffer } | null;
  /** Bearer token for the sidecar's stream (replica.tokenFile). */
  readonly streamToken: string | null;
  /** CA that signed the sidecar's certificate (replica.caFile). */
  readonly ca: Buffer | null;
}

/** Extra route plugins a feature adds to a daemon (restores, drills, failover). */
export type RouteFactory = (ctx: {
  journal: Journal;
  hasher: BlockHasher;
  logger: Logger;
}) => FastifyPluginAsync;

/** Builds a replica from a validated config (role "replica"). */
export async function createReplica(
  config: Config,
  root: Logger,
  secrets: ReplicaSecrets,
): Promise<ReplicaDaemon> {
  const rc = config.replica as ReplicaConfig;
  const journal = await Journal.open({
    dir: config.journal.dir,
    blockSize: config.journal.blockSize,
    segmentSize: config.journal.segmentSize,
    logger: childLogger(root, "journal"),
  });
  const hasher = await BlockHasher.create();
  const log = childLogger(root, "replica");
  const mirror = new Mirror(journal, rc.mirrorDir, hasher, childLogger(root, "mirror"));
  await mirror.init();
  const source = new HttpStreamSource({
    source: rc.source,
    replicaId: replicaId(journal),
    token: secrets.streamToken,
    ca: secrets.ca,
  });
  const metrics = createMetrics();
  // One queue of restores and drills: restore.concurrency I/O bursts at once, drills one at a time.
  const jobQueue = new JobQueue(config.restore.concurrency);
  const registers = [metrics.registry];
  const ackFailures = new Counter({
    name: "pvjournal_replica_ack_failures_total",
    help: "Acks the sidecar did not accept, by error code (it keeps unacknowledged records)",
    labelNames: ["code"],
    registers,
  });
  const streamErrors = new Counter({
    name: "pvjournal_replica_stream_errors_total",
    help: "Failed stream sessions: kind=corrupt (bad data) or connection",
    labelNames: ["kind"],
    registers,
  });
  const replica = new Replica(journal, source, mirror, log, {
    onAckFailure: (code) => ackFailures.inc({ code }),
    onStreamError: (kind) => streamErrors.inc({ kind }),
  });
  registerJournalMetrics(metrics, journal, config.journal.sizeLimit);
  new Gauge({
    name: "pvjournal_replica_lag_seconds",
    help: "Age of the newest source change not yet durable at the replica",
    registers,
    collect() {
      this.set(replica.status().lagSeconds);
    },
  });
  new Gauge({
    name: "pvjournal_replica_connected",
    help: "1 while the replica is connected to the sidecar's stream",
    registers,
    collect() {
      this.set(replica.status().connected ? 1 : 0);
    },
  });
  new Gauge({
    name: "pvjournal_mirror_seq",
    help: "Journal position the mirror shows",
    registers,
    collect() {
      this.set(mirror.seq);
    },
  });

  const status = (): StatusBody => {
    const cp = journal.index.lastCheckpoint();
    const rs = replica.status();
    return {
      role: "replica",
      sources: [],
      lastSeq: journal.lastSeq,
      lastCheckpoint: cp ? checkpointBody(cp) : null,
      journal: journalStatus(journal, config.journal.sizeLimit),
      lagSeconds: rs.lagSeconds,
      ready: rs.ready || rs.promoted,
      replica: { ...rs, source: rc.source, mirrorDir: rc.mirrorDir },
    };
  };

  const app = await buildServer({
    logger: root,
    token: secrets.token,
    bodyLimit: config.api.bodyLimit,
    role: "replica",
    readiness: () => {
      const s = replica.status();
      if (s.promoted || s.ready) return { ready: true };
      // Not ready yet: still catching up, or the sidecar is unreachable (ready after a grace period).
      return {
        ready: false,
        reason: s.connected
          ? "catching up with the sidecar"
          : `not connected to ${rc.source}${s.lastError ? `: ${s.lastError.message}` : ""}`,
      };
    },
    metrics,
    routes: [
      statusRoutes(status),
      checkpointRoutes({ journal, taker: null }),
      ...restoreApiRoutes({
        journal,
        hasher,
        policy: {
          allowedRoots: config.restore.allowedRoots,
          // The mirror is live replication state and the sandboxes belong to drills.
          forbidden: [config.journal.dir, rc.mirrorDir],
          sandboxRoot: config.drills.sandboxRoot,
        },
        concurrency: config.restore.concurrency,
        logger: childLogger(root, "restore"),
        queue: jobQueue,
      }),
      drillRoutes({
        role: "replica",
        queue: jobQueue,
        journal,
        hasher,
        config: config.drills,
        forbidden: [config.journal.dir, rc.mirrorDir],
        mirror,
        metrics,
        logger: childLogger(root, "drills"),
      }),
      failoverRoutes({
        journal,
        hasher,
        replica,
        mirror,
        policy: {
          allowedRoots: config.restore.allowedRoots,
          forbidden: [config.journal.dir, rc.mirrorDir],
          sandboxRoot: config.drills.sandboxRoot,
        },
        logger: childLogger(root, "failover"),
      }),
    ],
    https: secrets.https,
  });

  let stopRetention: (() => Promise<void>) | null = null;
  let stopped = false;
  return {
    app,
    journal,
    replica,
    mirror,
    start() {
      replica.start();
      stopRetention = startRetentionLoop({
        journal,
        hasher,
        retention: config.journal.retention,
        logger: childLogger(root, "retention"),
      });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await app.close();
      await replica.stop();
      if (stopRetention) await stopRetention();
      await journal.close();
    },
  };
}
