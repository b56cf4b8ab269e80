/**
 * The stream transport a daemon uses (config stream.transport): `http`
 * (the sidecar serves GET /v1/stream, the replica pulls it) or `jetstream`
 * (the sidecar publishes to a NATS JetStream stream and learns replica
 * positions from its durable consumers; the replica needs only NATS).
 */
import { readFileSync } from "node:fs";
import { Counter, Gauge } from "prom-client";
import type { Config, ReplicaConfig } from "../config/types.js";
import { ConfigError, ErrorCode, PvjError } from "../errors.js";
import type { Journal } from "../journal/journal.js";
import type { Logger } from "../log/logger.js";
import type { Metrics } from "../metrics/registry.js";
import { HttpStreamSource } from "../stream/http-source.js";
import { connectNats, type NatsOptions } from "../stream/jetstream-connect.js";
import { JetStreamPublisher } from "../stream/jetstream-publisher.js";
import { JetStreamReplicas } from "../stream/jetstream-replicas.js";
import { JetStreamSource } from "../stream/jetstream-source.js";
import type { ReplicaTracker } from "../stream/replica-tracker.js";
import type { StreamSource } from "../stream/source.js";
import type { BlockHasher } from "../util/hash.js";

/** Retry interval while NATS is unreachable (ms). */
const RECONNECT_MS = 5_000;

/** The sidecar's end of the transport (nothing to run for http: the route serves it). */
export interface SidecarTransport {
  start(): void;
  stop(): Promise<void>;
  /** For /v1/status (`stream`), null with http. */
  status(): Record<string, unknown> | null;
  /** What retention must keep for replicas; null = use the tracker's positions. */
  keepAfterSeq(): number | undefined | null;
}

function readSecret(file: string | null, key: string): string | null {
  if (file === null) return null;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? "unreadable";
    throw new ConfigError(`cannot read ${key} (${reason})`, { key, file }, err);
  }
  const value = key.endsWith("tokenFile") ? text.replace(/\r?\n$/, "") : text;
  if (value.trim() === "") throw new ConfigError(`${key} is empty`, { key, file });
  return value;
}

function natsOptions(config: Config, name: string): NatsOptions {
  const n = config.stream.nats;
  return {
    servers: n.servers,
    stream: n.stream,
    replicas: n.replicas,
    token: readSecret(n.tokenFile, "stream.nats.tokenFile"),
    ca: readSecret(n.caFile, "stream.nats.caFile"),
    name,
  };
}

/**
 * Connects and checks the stream (sidecar). Throws when NATS refuses the
 * token or certificate, or the stream carries another journal: the sidecar
 * must not start then.
 */
export async function openSidecarTransport(
  config: Config,
  deps: {
    journal: Journal;
    hasher: BlockHasher;
    tracker: ReplicaTracker;
    logger: Logger;
    metrics: Metrics;
  },
): Promise<SidecarTransport> {
  if (config.stream.transport === "http")
    return { start() {}, async stop() {}, status: () => null, keepAfterSeq: () => null };
  const { journal, logger } = deps;
  const opts = natsOptions(config, "pvjournal-sidecar");
  const registers = [deps.metrics.registry];
  const publishErrors = new Counter({
    name: "pvjournal_stream_publish_errors_total",
    help: "Failed JetStream publish sessions (the publisher re-syncs with the stream and resumes)",
    registers,
  });
  let parts: {
    nc: Awaited<ReturnType<typeof connectNats>>;
    publisher: JetStreamPublisher;
    replicas: JetStreamReplicas;
  } | null = null;
  let lastError: { message: string; at: string } | null = null;
  /** Connects and checks the stream; a refused token, CA or history throws (the sidecar must not start). */
  const open = async () => {
    const nc = await connectNats(opts);
    const publisher = new JetStreamPublisher(nc, {
      stream: opts.stream,
      replicas: opts.replicas,
      maxAgeMs: config.journal.retention,
      journal,
      logger,
      onError: () => publishErrors.inc(),
    });
    try {
      await publisher.open();
    } catch (err) {
      await nc.close();
      throw err;
    }
    const replicas = new JetStreamReplicas(nc, {
      ...opts,
      journal,
      hasher: deps.hasher,
      tracker: deps.tracker,
      logger,
      publishedSeq: () => publisher.status().publishedSeq,
    });
    parts = { nc, publisher, replicas };
  };
  try {
    await open();
  } catch (err) {
    // Unreachable NATS must not stop capture: the journal keeps every record
    // (replicas' positions hold retention) and publishing starts once it answers.
    if (!(err instanceof PvjError && err.code === ErrorCode.IO_ERROR)) throw err;
    lastError = { message: err.message, at: new Date().toISOString() };
    logger.error(
      { err, retryInMs: RECONNECT_MS },
      "NATS is unreachable; capturing on, publishing once it answers",
    );
  }
  const consumers = () => parts?.replicas.status().consumers ?? [];
  new Gauge({
    name: "pvjournal_stream_published_seq",
    help: "Newest journal seq the JetStream stream acknowledged",
    registers,
    collect() {
      this.set(parts?.publisher.status().publishedSeq ?? 0);
    },
  });
  new Gauge({
    name: "pvjournal_stream_replica_acked_seq",
    help: "Newest journal seq durable at each JetStream replica (its consumer's ack floor); -1 when it fell off the stream",
    labelNames: ["replica"],
    registers,
    collect() {
      this.reset();
      for (const c of consumers()) this.set({ replica: c.id }, c.ackedSeq ?? -1);
    },
  });
  new Gauge({
    name: "pvjournal_stream_replica_lag_seconds",
    help: "Age of the oldest record each JetStream replica lacks",
    labelNames: ["replica"],
    registers,
    collect() {
      this.reset();
      for (const c of consumers()) this.set({ replica: c.id }, c.lagSeconds);
    },
  });
  let stopped = false;
  let retry: NodeJS.Timeout | null = null;
  const run = () => {
    if (stopped) return;
    if (parts) {
      parts.publisher.start();
      parts.replicas.start();
      return;
    }
    retry = setTimeout(() => {
      open()
        .then(() => {
          lastError = null;
          logger.info("connected to NATS: publishing");
        })
        .catch((err: unknown) => {
          lastError = { message: (err as Error).message, at: new Date().toISOString() };
          if (!(err instanceof PvjError && err.code === ErrorCode.IO_ERROR))
            logger.error({ err }, "NATS refused this sidecar: not publishing");
          else return;
          stopped = true;
        })
        .finally(run);
    }, RECONNECT_MS);
    retry.unref();
  };
  return {
    start: run,
    async stop() {
      stopped = true;
      if (retry) clearTimeout(retry);
      const p = parts;
      if (!p) return;
      await p.publisher.stop();
      await p.replicas.stop();
      await p.nc.close();
    },
    keepAfterSeq: () => parts?.replicas.keepAfterSeq() ?? null,
    status: () => ({
      transport: "jetstream",
      connected: parts !== null,
      ...(lastError !== null ? { lastError } : {}),
      publisher: parts?.publisher.status() ?? null,
      ...(parts?.replicas.status() ?? { consumers: [] }),
    }),
  };
}

/** The replica's source of records, and what to close with it. */
export interface ReplicaTransport {
  readonly source: StreamSource;
  close(): Promise<void>;
}

/** Builds the replica's StreamSource (jetstream: connects now, so a bad token or CA fails the start). */
export async function openReplicaTransport(
  config: Config,
  id: string,
  secrets: { streamToken: string | null; ca: Buffer | null },
  logger: Logger,
): Promise<ReplicaTransport> {
  const rc = config.replica as ReplicaConfig;
  if (config.stream.transport === "http") {
    const source = new HttpStreamSource({
      source: rc.source ?? "",
      replicaId: id,
      token: secrets.streamToken,
      ca: secrets.ca,
    });
    return { source, close: async () => {} };
  }
  const opts = natsOptions(config, `pvjournal-replica-${id}`);
  // A refused token or CA stops the start; unreachable NATS does not: the
  // replica serves restores meanwhile and its follow loop retries.
  let nc = await connectNats(opts).catch((err: unknown) => {
    if (err instanceof PvjError && err.code === ErrorCode.IO_ERROR) {
      logger.error({ err }, "NATS is unreachable; following once it answers");
      return null;
    }
    throw err;
  });
  const connection = async () => {
    nc ??= await connectNats(opts);
    return nc;
  };
  const source = new JetStreamSource(connection, {
    stream: opts.stream,
    consumer: id,
    servers: opts.servers,
    logger,
  });
  return { source, close: async () => nc?.close() };
}
