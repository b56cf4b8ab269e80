/**
 * In-process sidecar stream + a real replica daemon (createReplica) for the
 * drill and failover tests. Everything is closed when the current test
 * finishes.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { onTestFinished } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import type { Config, DrillsConfig, ReplicaConfig } from "../../src/config/types.js";
import { createReplica } from "../../src/daemon/replica.js";
import type { CloneFile } from "../../src/drill/clone.js";
import type { DrillReport } from "../../src/drill/report.js";
import { streamRoutes } from "../../src/http/routes/stream.js";
import { buildServer, type V1Routes } from "../../src/http/server.js";
import type { Journal } from "../../src/journal/journal.js";
import { type Logger, silentLogger } from "../../src/log/logger.js";
import { createMetrics } from "../../src/metrics/registry.js";
import type { Mirror } from "../../src/replica/mirror.js";
import type { Replica } from "../../src/replica/replica.js";
import { ReplicaTracker } from "../../src/stream/replica-tracker.js";
import { BlockHasher } from "../../src/util/hash.js";
import { tmpDir, waitFor } from "../helpers/index.js";

/**
 * Drill settings for tests: no schedule, 10 s verify timeout. Request argv is
 * allowed here (drills.allowRequestCommands) because most drill tests send
 * their own check; test/drill-security.test.ts covers the default (off).
 */
export function drillsConfig(
  sandboxRoot: string | null,
  over: Partial<DrillsConfig> = {},
): DrillsConfig {
  return {
    sandboxRoot,
    schedule: 0,
    point: "latest",
    verifyCommands: {},
    verify: null,
    allowRequestCommands: true,
    verifyTimeout: 10_000,
    ...over,
  };
}

/** An app with only `routes` under /v1 (no token, always ready), for route-level tests. */
export function appWith(
  routes: readonly V1Routes[],
  role: "sidecar" | "replica" = "sidecar",
): Promise<FastifyInstance> {
  return buildServer({
    logger: silentLogger(),
    token: null,
    bodyLimit: 1024 * 1024,
    role,
    readiness: () => ({ ready: true }),
    metrics: createMetrics(),
    routes,
  });
}

/** Serves a journal's change stream on 127.0.0.1 (a sidecar without capture). */
export async function serveStream(
  journal: Journal,
): Promise<{ address: string; app: FastifyInstance }> {
  const hasher = await BlockHasher.create();
  const app = await appWith([
    streamRoutes({ journal, hasher, tracker: new ReplicaTracker(journal), logger: silentLogger() }),
  ]);
  const address = await app.listen({ host: "127.0.0.1", port: 0 });
  onTestFinished(() => app.close());
  return { address, app };
}

/** Waits until the replica holds all of `src` and its mirror shows the newest checkpoint. */
export async function caughtUp(rep: ReplicaRig, src: Journal): Promise<void> {
  await waitFor(() => rep.journal.lastSeq === src.lastSeq, { timeout: 20_000, what: "replica" });
  await waitFor(() => rep.mirror.seq === src.index.lastCheckpoint()!.seq, {
    timeout: 20_000,
    what: "mirror",
  });
  await rep.replica.mirrorIdle();
}

/** A replica with its HTTP app (status, drills, failover). */
export interface ReplicaRig {
  readonly dir: string;
  readonly journal: Journal;
  readonly mirror: Mirror;
  readonly replica: Replica;
  readonly hasher: BlockHasher;
  readonly app: FastifyInstance;
  readonly sandboxRoot: string;
  readonly restoreRoot: string;
  /** Stops the app, the follow loop and the journal (idempotent). */
  stop(): Promise<void>;
}

/** Options of startReplica. */
export interface ReplicaRigOptions {
  /** Reuse a replica's directories (a restart). */
  readonly dir?: string;
  readonly mirrorDir?: string;
  readonly sandboxRoot?: string;
  readonly drills?: Partial<DrillsConfig>;
  readonly drillsOff?: boolean;
  readonly cloneFile?: CloneFile;
  /** Do not start following (a promoted replica after restart, or a test that drives the mirror). */
  readonly follow?: boolean;
  /** The replica's root logger (tests read the drills' lines). */
  readonly logger?: Logger;
}

/**
 * Starts a replica following `source` (a stream URL): the real assembly
 * (createReplica) from a config written as a user would, with the rig's
 * drills settings and directories laid over it.
 */
export async function startReplica(
  source: string,
  opts: ReplicaRigOptions = {},
): Promise<ReplicaRig> {
  const dir = opts.dir ?? (await tmpDir("pvj-replica-"));
  const mirrorDir = opts.mirrorDir ?? join(dir, "mirror");
  const sandboxRoot = opts.sandboxRoot ?? join(dir, "drills");
  const restoreRoot = join(dir, "restore");
  await writeFile(
    join(dir, "replica.yaml"),
    [
      "journal:",
      "  dir: journal",
      "api:",
      "  listen: 127.0.0.1:0",
      "replica:",
      `  source: ${source}`,
      "  mirrorDir: mirror",
      "restore:",
      "  allowedRoots: [restore]",
      "log:",
      "  level: silent",
      "",
    ].join("\n"),
  );
  const loaded = loadConfig({ file: join(dir, "replica.yaml"), role: "replica", cwd: dir });
  // Laid over after validation: some tests place the sandbox where validation would refuse it.
  const config: Config = {
    ...loaded,
    replica: { ...(loaded.replica as ReplicaConfig), mirrorDir },
    drills: drillsConfig(opts.drillsOff ? null : sandboxRoot, opts.drills),
  };
  const daemon = await createReplica(
    config,
    opts.logger ?? silentLogger(),
    { token: null, https: null, streamToken: null, ca: null },
    opts.cloneFile ? { cloneFile: opts.cloneFile } : {},
  );
  if (opts.follow !== false) daemon.start();
  onTestFinished(() => daemon.stop());
  return {
    dir,
    journal: daemon.journal,
    mirror: daemon.mirror,
    replica: daemon.replica,
    hasher: daemon.hasher,
    app: daemon.app,
    sandboxRoot,
    restoreRoot,
    stop: () => daemon.stop(),
  };
}

/** POSTs a drill and waits for its report. */
export async function runDrill(
  app: FastifyInstance,
  body: Record<string, unknown>,
  timeout = 30_000,
): Promise<DrillReport> {
  const res = await app.inject({ method: "POST", url: "/v1/drills", payload: body });
  if (res.statusCode !== 202) throw new Error(`POST /v1/drills: ${res.statusCode} ${res.body}`);
  return waitDrill(app, res.json<{ id: string }>().id, timeout);
}

/** Polls a drill until it finished. */
export async function waitDrill(
  app: FastifyInstance,
  id: string,
  timeout = 30_000,
): Promise<DrillReport> {
  return waitFor(
    async () => {
      const r = (await app.inject({ method: "GET", url: `/v1/drills/${id}` })).json<DrillReport>();
      return r.state === "done" || r.state === "failed" ? r : null;
    },
    { timeout, interval: 20, what: `drill ${id}` },
  );
}

/** True when `dir`'s filesystem clones files (reflinks). */
export async function reflinkSupported(dir: string): Promise<boolean> {
  const { constants } = await import("node:fs");
  const { copyFile, rm, writeFile } = await import("node:fs/promises");
  const a = join(dir, ".reflink-probe-a");
  const b = join(dir, ".reflink-probe-b");
  await writeFile(a, "x");
  try {
    await copyFile(a, b, constants.COPYFILE_FICLONE_FORCE);
    return true;
  } catch {
    return false;
  } finally {
    await rm(a, { force: true });
    await rm(b, { force: true });
  }
}
