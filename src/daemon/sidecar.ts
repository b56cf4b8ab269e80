/**
 * The sidecar role, assembled: journal, capture, checkpointer, retention,
 * metrics and the HTTP app. The CLI entry point listens and handles signals;
 * everything else lives here so tests can run a sidecar in-process too.
 */

import type { FastifyInstance } from "fastify";
import { Counter, Gauge } from "prom-client";
import { Checkpointer } from "../capture/checkpointer.js";
import type { Config } from "../config/types.js";
import type { ApiTokens } from "../http/auth.js";
import type { StatusBody } from "../http/bodies.js";
import { streamRoutes } from "../http/routes/stream.js";
import { buildServer } from "../http/server.js";
import type { Journal } from "../journal/journal.js";
import { childLogger, type Logger } from "../log/logger.js";
import { createMetrics } from "../metrics/registry.js";
import { JobQueue } from "../restore/job-queue.js";
import { ReplicaTracker } from "../stream/replica-tracker.js";
import { BlockHasher } from "../util/hash.js";
import { type CaptureEngine, createCaptureEngine } from "./capture-engine.js";
import { createDrills } from "./drills.js";
import { journalStatusFields, registerJournalMetrics } from "./journal-metrics.js";
import { openJournal, sharedRoutes } from "./parts.js";
import { retentionStats, startRetentionLoop } from "./retention-loop.js";
import { openSidecarTransport } from "./stream-transport.js";

/** A running sidecar (not yet listening). */
export interface Sidecar {
  readonly app: FastifyInstance;
  readonly journal: Journal;
  readonly capture: CaptureEngine;
  readonly checkpointer: Checkpointer;
  /** Starts capture (initial scan in the background) and the background loops. */
  start(): void;
  /** Stops everything, flushing the journal. Idempotent. */
  stop(): Promise<void>;
}

/** Builds a sidecar from a validated config. */
export async function createSidecar(
  config: Config,
  root: Logger,
  secrets: {
    token: string | ApiTokens | null;
    https: { cert: Buffer; key: Buffer } | null;
  },
): Promise<Sidecar> {
  const log = childLogger(root, "sidecar");
  const journal = await openJournal(config, root);
  const hasher = await BlockHasher.create();
  const metrics = createMetrics();
  registerJournalMetrics(metrics, journal, config.journal.sizeLimit);
  const retention = retentionStats(metrics);
  const captureErrors = new Counter({
    name: "pvjournal_capture_errors_total",
    help: "Capture errors (journal writes, unreadable files); capture retries",
    registers: [metrics.registry],
  });
  const capture = createCaptureEngine({
    config,
    journal,
    hasher,
    logger: childLogger(root, "capture"),
    onError: () => captureErrors.inc(),
  });
  try {
    await capture.prepare();
  } catch (err) {
    await journal.close();
    throw err;
  }
  const checkpointer = new Checkpointer({
    journal,
    capture,
    hooks: config.checkpoints.hooks,
    interval: config.checkpoints.interval,
    logger: childLogger(root, "checkpoints"),
  });
  const tracker = new ReplicaTracker(journal);
  const transport = await openSidecarTransport(config, {
    journal,
    hasher,
    tracker,
    logger: childLogger(root, "stream"),
    metrics,
  }).catch(async (err: unknown) => {
    await journal.close();
    throw err;
  });
  const lagSeconds = () => {
    const s = capture.status();
    return s.oldestDirtyAt === null ? 0 : Math.max(0, (Date.now() - s.oldestDirtyAt) / 1000);
  };
  const registers = [metrics.registry];
  new Gauge({
    name: "pvjournal_capture_lag_seconds",
    help: "Age of the oldest change not yet journaled",
    registers,
    collect() {
      this.set(lagSeconds());
    },
  });
  new Gauge({
    name: "pvjournal_capture_dirty_paths",
    help: "Paths known changed, waiting to be captured",
    registers,
    collect() {
      this.set(capture.status().dirtyPaths);
    },
  });
  new Gauge({
    name: "pvjournal_capture_degraded",
    help: "1 while the newest capture attempt failed (retrying)",
    registers,
    collect() {
      this.set(capture.status().degraded ? 1 : 0);
    },
  });
  new Gauge({
    name: "pvjournal_ready",
    help: "1 once the initial scan is done",
    registers,
    collect() {
      this.set(capture.status().ready ? 1 : 0);
    },
  });

  const status = (): StatusBody => {
    const cap = capture.status();
    return {
      role: "sidecar",
      sources: config.sources.map((s) => ({
        name: s.name,
        path: s.path,
        ...(s.mountPoint !== null ? { mountPoint: s.mountPoint } : {}),
      })),
      ...journalStatusFields(journal, config.journal.sizeLimit),
      retention,
      lagSeconds: lagSeconds(),
      ready: cap.ready,
      capture: cap,
      replicas: tracker.list(),
      ...(transport.status() !== null ? { stream: transport.status() } : {}),
    };
  };

  // Never written by a restore or a drill (drill sandboxes may sit below a
  // restore root; drills own them): the volumes, their intercept mounts, the journal.
  const liveDirs = [
    ...config.sources.flatMap((s) => (s.mountPoint !== null ? [s.path, s.mountPoint] : [s.path])),
    config.journal.dir,
  ];
  // Single-site setups drill on the sidecar (full materialisation: no mirror to clone).
  const drills = createDrills({
    // One queue of restores and drills: restore.concurrency I/O bursts at once, drills one at a time.
    queue: new JobQueue(config.restore.concurrency),
    role: "sidecar",
    journal,
    hasher,
    config: config.drills,
    forbidden: liveDirs,
    mirror: null,
    metrics,
    logger: childLogger(root, "drills"),
  });
  const app = await buildServer({
    logger: root,
    token: secrets.token,
    bodyLimit: config.api.bodyLimit,
    role: "sidecar",
    readiness: () => {
      const s = capture.status();
      if (!s.ready)
        return {
          ready: false,
          reason:
            s.mode === "intercept"
              ? `intercept mount not serving yet${s.lastError ? `: ${s.lastError.message}` : " (reconcile in progress)"}`
              : `initial scan in progress (${s.scanning.paths} paths so far)`,
        };
      if (s.degraded)
        return {
          ready: false,
          reason: `capture is failing and retrying: ${s.lastError?.message ?? "unknown error"}`,
        };
      return { ready: true };
    },
    metrics,
    routes: [
      ...sharedRoutes({
        config,
        root,
        journal,
        hasher,
        status,
        taker: checkpointer,
        forbidden: liveDirs,
        drills,
        failover: null,
      }),
      // The change stream over HTTP; with stream.transport: jetstream the sidecar also publishes (stream-transport.ts).
      streamRoutes({ journal, hasher, tracker, logger: childLogger(root, "stream") }),
    ],
    https: secrets.https,
  }).catch(async (err: unknown) => {
    // Half a daemon must not leave the drill schedule's timer behind.
    await drills.close();
    throw err;
  });

  let stopRetention: (() => Promise<void>) | null = null;
  let started: Promise<void> | null = null;
  let stopped = false;
  return {
    app,
    journal,
    capture,
    checkpointer,
    start() {
      started = capture
        .start()
        .catch((err: unknown) => log.error({ err }, "capture failed to start"));
      checkpointer.start();
      transport.start();
      stopRetention = startRetentionLoop({
        journal,
        hasher,
        retention: config.journal.retention,
        stats: retention,
        intervalMs: config.journal.retentionCheck,
        logger: childLogger(root, "retention"),
        // Every record a replica has not acknowledged is kept, whatever its age.
        keepAfterSeq: () => {
          const k = transport.keepAfterSeq();
          return k === null ? tracker.keepAfterSeq() : k;
        },
        sizeLimit: config.journal.sizeLimit,
      });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await app.close();
      await drills.close();
      await checkpointer.stop();
      await capture.stop();
      if (started) await started;
      if (stopRetention) await stopRetention();
      await transport.stop();
      await journal.close();
    },
  };
}
