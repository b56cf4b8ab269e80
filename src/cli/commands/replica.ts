/** `pvjournal replica -c FILE`: follow a sidecar's stream into a journal and a live mirror. */
import type { Command } from "commander";
import { NotAvailableError } from "../../errors.js";
import { addDaemonOptions, type DaemonOptions } from "./sidecar.js";

/** Runs the replica; not available until issue 5 lands. */
export async function runReplica(_opts: DaemonOptions): Promise<never> {
  throw new NotAvailableError("replica", 5);
}

/** Registers `replica` on the program. */
export function registerReplica(program: Command): Command {
  return addDaemonOptions(
    program
      .command("replica")
      .usage("[-c FILE] [--listen HOST:PORT] [--journal DIR] [--log-level LEVEL]")
      .description(
        "follows a sidecar's change stream into its own journal and a live mirror directory; serves the HTTP API (restores, drills, failover)",
      ),
  ).action(runReplica);
}
