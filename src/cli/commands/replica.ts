/** `pvjournal replica -c FILE`: follow a sidecar's stream into a journal and a live mirror. */
import type { Command } from "commander";
import type { ReplicaConfig } from "../../config/types.js";
import { ConfigError } from "../../errors.js";
import { heapGrowthFor, setHeapGrowthPercent } from "../../util/heap-growth.js";
import type { CliContext } from "../context.js";
import type { ExitCode } from "../exit.js";
import { waitForShutdownSignal } from "../lifecycle.js";
import { readApiTokens, readTokenFile } from "../token.js";
import {
  addDaemonOptions,
  type DaemonOptions,
  daemonFlags,
  readTls,
  serveUntil,
} from "./sidecar.js";

/** Runs the replica until SIGTERM/SIGINT; resolves with the exit code. */
export async function runReplica(opts: DaemonOptions): Promise<ExitCode> {
  if (opts.config === undefined) {
    throw new ConfigError(
      "the replica needs a config file with a replica section (-c FILE); see config/examples/replica.yaml",
      { key: "replica" },
    );
  }
  const { loadConfig } = await import("../../config/load.js");
  const { childLogger, createRootLogger } = await import("../../log/logger.js");
  const { readCa } = await import("../../stream/http-source.js");
  const config = loadConfig({
    file: opts.config,
    env: process.env,
    flags: daemonFlags(opts),
    role: "replica",
  });
  setHeapGrowthPercent(heapGrowthFor(config.runtime.heapGrowthPercent, "replica"));
  const rc = config.replica as ReplicaConfig;
  const root = createRootLogger({ level: config.log.level });
  const log = childLogger(root, "replica");
  const token = readApiTokens(config.api);
  const streamToken =
    rc.tokenFile === null ? null : readTokenFile(rc.tokenFile, "replica.tokenFile");
  let ca: Buffer | null;
  try {
    ca = readCa(rc.caFile);
  } catch (err) {
    throw new ConfigError(
      `cannot read the CA file (${(err as NodeJS.ErrnoException).code ?? "unreadable"})`,
      { key: "replica.caFile", ...(rc.caFile ? { file: rc.caFile } : {}) },
      err,
    );
  }
  // Handlers before the listener, as in the sidecar: an early signal is a clean stop.
  const shutdown = waitForShutdownSignal();
  const { createReplica } = await import("../../daemon/replica.js");
  const daemon = await createReplica(config, root, {
    token,
    https: readTls(config),
    streamToken,
    ca,
  });
  return serveUntil(daemon, shutdown, config, log);
}

/** Registers `replica` on the program. */
export function registerReplica(program: Command, ctx: CliContext): Command {
  return addDaemonOptions(
    program
      .command("replica")
      .usage("[-c FILE] [--listen HOST:PORT] [--journal DIR] [--log-level LEVEL]")
      .description(
        "follows a sidecar's change stream into its own journal and a live mirror directory; serves the HTTP API (restores, drills, failover)",
      ),
  ).action(async (opts: DaemonOptions) => {
    ctx.exitCode = await runReplica(opts);
  });
}
