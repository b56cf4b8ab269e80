/** `pvjournal sidecar -c FILE`: capture every source into the local journal and serve the API. */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Command } from "commander";
import type { Config } from "../../config/types.js";
import { ConfigError, ErrorCode, PvjError } from "../../errors.js";
import type { buildServer } from "../../http/server.js";
import type { Logger } from "../../log/logger.js";
import { heapGrowthFor, setHeapGrowthPercent } from "../../util/heap-growth.js";
import type { CliContext } from "../context.js";
import { ExitCode } from "../exit.js";
import { DEFAULT_SHUTDOWN_TIMEOUT_MS, waitForShutdownSignal } from "../lifecycle.js";
import { readApiTokens } from "../token.js";

/** Options of `pvjournal sidecar` as commander parses them. */
export interface DaemonOptions {
  readonly config?: string;
  readonly listen?: string;
  readonly journal?: string;
  readonly logLevel?: string;
}

/** Turns the daemon flags into the config loader's dotted keys (flag > env > file > default). */
export function daemonFlags(opts: DaemonOptions): Record<string, unknown> {
  const flags: Record<string, unknown> = {};
  if (opts.listen !== undefined) flags["api.listen"] = opts.listen;
  if (opts.journal !== undefined) flags["journal.dir"] = opts.journal;
  if (opts.logLevel !== undefined) flags["log.level"] = opts.logLevel;
  return flags;
}

/** Adds the config flags shared by the daemon commands (sidecar, replica). */
export function addDaemonOptions(cmd: Command): Command {
  return cmd
    .option("-c, --config <file>", "YAML config file (default: the embedded default config)")
    .option("--listen <host:port>", "API address (api.listen)")
    .option("--journal <dir>", "journal directory (journal.dir)")
    .option("--log-level <level>", "trace|debug|info|warn|error|fatal|silent (log.level)");
}

function readPem(file: string, key: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? "unreadable";
    throw new ConfigError(`cannot read the TLS file (${reason})`, { key, file }, err);
  }
}

/** Reads the TLS pair named by api.tlsCert/api.tlsKey; null when TLS is off. */
export function readTls(config: Config): { cert: Buffer; key: Buffer } | null {
  const { tlsCert, tlsKey } = config.api;
  if (tlsCert === null || tlsKey === null) return null;
  return { cert: readPem(tlsCert, "api.tlsCert"), key: readPem(tlsKey, "api.tlsKey") };
}

/** Runs the sidecar until SIGTERM/SIGINT; resolves with the exit code. */
export async function runSidecar(opts: DaemonOptions): Promise<ExitCode> {
  const { EMBEDDED_DEFAULT_CONFIG_PATH, loadConfig } = await import("../../config/load.js");
  const { childLogger, createRootLogger } = await import("../../log/logger.js");
  const config = loadConfig({
    file: opts.config ?? EMBEDDED_DEFAULT_CONFIG_PATH,
    // The config module is the only reader of PVJ_* variables; the CLI hands them over.
    env: process.env,
    flags: daemonFlags(opts),
    role: "sidecar",
    // The embedded default protects ./data: create it so `pvjournal sidecar`
    // with no arguments starts in an empty directory.
    createMissingSources:
      opts.config === undefined || resolve(opts.config) === resolve(EMBEDDED_DEFAULT_CONFIG_PATH),
  });
  const mode = config.capture.mode === "intercept" ? "sidecar-intercept" : "sidecar-watch";
  setHeapGrowthPercent(heapGrowthFor(config.runtime.heapGrowthPercent, mode));
  const root = createRootLogger({ level: config.log.level });
  const log = childLogger(root, "sidecar");
  const token = readApiTokens(config.api);
  const https = readTls(config);
  if (token === null)
    log.warn("api.tokenFile is not set: /v1 routes are open to anyone who can reach the port");

  // Handlers before the listener: a signal that arrives as soon as /healthz
  // answers (a fast `kill -INT`, a pod deleted at start) is a clean stop, not
  // Node's default kill.
  const shutdown = waitForShutdownSignal();
  const { createSidecar } = await import("../../daemon/sidecar.js");
  const sidecar = await createSidecar(config, root, { token, https });
  return serveUntil(sidecar, shutdown, config, log);
}

/** A daemon as the CLI runs it: its server, then start and stop. */
export interface ServedDaemon {
  readonly app: Awaited<ReturnType<typeof buildServer>>;
  start(): void;
  stop(): Promise<void>;
}

/**
 * Listens, starts the daemon, and runs it until `shutdown` (a signal)
 * resolves; the exit code. Listening first: /healthz answers and /readyz
 * says 503 while the daemon starts (the sidecar's initial scan).
 */
export async function serveUntil(
  daemon: ServedDaemon,
  shutdown: Promise<NodeJS.Signals>,
  config: Config,
  log: Logger,
): Promise<ExitCode> {
  try {
    await listen(daemon.app, config, log);
  } catch (err) {
    await daemon.stop();
    throw err;
  }
  daemon.start();
  const signal = await shutdown;
  log.info({ signal }, "shutting down");
  const closed = await stopWithin(daemon.stop(), log);
  log.info("stopped");
  return closed ? ExitCode.OK : ExitCode.FAILURE;
}

/** Waits for a daemon's stop, at most DEFAULT_SHUTDOWN_TIMEOUT_MS; false when it took longer. */
export async function stopWithin(stopping: Promise<void>, log: Logger): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), DEFAULT_SHUTDOWN_TIMEOUT_MS);
    timer.unref();
  });
  const done = await Promise.race([stopping.then(() => true as const), deadline]);
  clearTimeout(timer);
  if (!done) {
    log.warn({ timeoutMs: DEFAULT_SHUTDOWN_TIMEOUT_MS }, "shutdown did not finish in time");
    // Whatever is stuck (a connection, a pending read) would keep the process
    // alive for good after "stopped": exit 1 once the last log lines are out.
    setTimeout(() => process.exit(ExitCode.FAILURE), 1000).unref();
  }
  return done;
}

/** Listens on api.listen; a failure names the key. */
export async function listen(
  app: Awaited<ReturnType<typeof buildServer>>,
  config: Config,
  log: Logger,
): Promise<void> {
  try {
    const address = await app.listen({ host: config.api.host, port: config.api.port });
    log.info({ address }, "listening");
  } catch (err) {
    await app.close();
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new PvjError(
      ErrorCode.IO_ERROR,
      `cannot listen on ${config.api.listen} (${reason})`,
      { key: "api.listen" },
      err,
    );
  }
}

/** Registers `sidecar` on the program. */
export function registerSidecar(program: Command, ctx: CliContext): Command {
  return addDaemonOptions(
    program
      .command("sidecar")
      .usage("[-c FILE] [--listen HOST:PORT] [--journal DIR] [--log-level LEVEL]")
      .description(
        "initial scan, then continuous capture of every source into the local journal; serves the HTTP API and the change stream",
      ),
  ).action(async (opts: DaemonOptions) => {
    ctx.exitCode = await runSidecar(opts);
  });
}
