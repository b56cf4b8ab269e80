/**
 * The replica role, assembled: its own journal, the stream source, the
 * follow loop, the mirror, retention, metrics and the HTTP app. The CLI
 * entry point listens and handles signals.
 */

import type { FastifyInstance } from "fastify";
import { Counter, Gauge } from "prom-client";
import type { Config, ReplicaConfig } from "../config/types.js";
import type { CloneFile } from "../drill/clone.js";
import { failoverMaterialiser } from "../drill/failover-materialiser.js";
import type { ApiTokens } from "../http/auth.js";
import type { StatusBody } from "../http/bodies.js";
import { buildServer } from "../http/server.js";
import type { Journal } from "../journal/journal.js";
import { childLogger, type Logger } from "../log/logger.js";
import { createMetrics } from "../metrics/registry.js";
import { Failover } from "../replica/failover.js";
import { Mirror } from "../replica/mirror.js";
import { Replica, replicaId } from "../replica/replica.js";
import { JobQueue } from "../restore/job-queue.js";
import { BlockHasher } from "../util/hash.js";
import { createDrills } from "./drills.js";
import { journalStatusFields, registerJournalMetrics } from "./journal-metrics.js";
import { openJournal, sharedRoutes, targetPolicy } from "./parts.js";
import { retentionStats, startRetentionLoop } from "./retention-loop.js";
import { openReplicaTransport } from "./stream-transport.js";

/** A running replica (not yet listening). */
export interface ReplicaDaemon {
  readonly app: FastifyInstance;
  readonly journal: Journal;
  readonly hasher: BlockHasher;
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

/** Test seams of createReplica. */
export interface ReplicaOptions {
  /** Replaces the reflink call of drills and failover (filesystems without reflinks). */
  readonly cloneFile?: CloneFile;
}

/** Builds a replica from a validated config (role "replica"). */
export async function createReplica(
  config: Config,
  root: Logger,
  secrets: ReplicaSecrets,
  options: ReplicaOptions = {},
): Promise<ReplicaDaemon> {
  const rc = config.replica as ReplicaConfig;
  const journal = await openJournal(config, root);
  const hasher = await BlockHasher.create();
  const log = childLogger(root, "replica");
  const mirror = new Mirror(journal, rc.mirrorDir, hasher, childLogger(root, "mirror"));
  await mirror.init();
  // The change stream's consumer side: the one place the replica picks its transport.
  const transport = await openReplicaTransport(
    config,
    rc.id ?? replicaId(journal),
    secrets,
    log,
  ).catch(async (err: unknown) => {
    await journal.close();
    throw err;
  });
  const source = transport.source;
  const metrics = createMetrics();
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
  const retention = retentionStats(metrics);
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
    const rs = replica.status();
    return {
      role: "replica",
      sources: [],
      ...journalStatusFields(journal, config.journal.sizeLimit),
      retention,
      lagSeconds: rs.lagSeconds,
      ready: rs.ready || rs.promoted,
      replica: { ...rs, source: source.description, mirrorDir: rc.mirrorDir },
    };
  };

  const cloneFile = options.cloneFile ? { cloneFile: options.cloneFile } : {};
  // The mirror is live replication state: no restore, sandbox or failover target goes there.
  const forbidden = [config.journal.dir, rc.mirrorDir];
  const drills = createDrills({
    // One queue of restores and drills: restore.concurrency I/O bursts at once, drills one at a time.
    queue: new JobQueue(config.restore.concurrency),
    role: "replica",
    journal,
    hasher,
    config: config.drills,
    forbidden,
    mirror,
    metrics,
    logger: childLogger(root, "drills"),
    ...cloneFile,
  });
  const failoverLog = childLogger(root, "failover");
  const failover = new Failover({
    journal,
    replica,
    mirror,
    materialiser: failoverMaterialiser({
      journal,
      hasher,
      mirror,
      logger: failoverLog,
      ...cloneFile,
    }),
    policy: targetPolicy(config, forbidden),
    logger: failoverLog,
  });

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
          : `not connected to ${source.description}${s.lastError ? `: ${s.lastError.message}` : ""}`,
      };
    },
    metrics,
    routes: sharedRoutes({
      config,
      root,
      journal,
      hasher,
      status,
      taker: null,
      forbidden,
      drills,
      failover,
    }),
    https: secrets.https,
  }).catch(async (err: unknown) => {
    // Half a daemon must not leave the drill schedule's timer behind.
    await drills.close();
    throw err;
  });

  let stopRetention: (() => Promise<void>) | null = null;
  let stopped = false;
  return {
    app,
    journal,
    hasher,
    replica,
    mirror,
    start() {
      replica.start();
      stopRetention = startRetentionLoop({
        journal,
        hasher,
        retention: config.journal.retention,
        stats: retention,
        intervalMs: config.journal.retentionCheck,
        logger: childLogger(root, "retention"),
      });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await app.close();
      await drills.close();
      await replica.stop();
      await transport.close();
      if (stopRetention) await stopRetention();
      await journal.close();
    },
  };
}
