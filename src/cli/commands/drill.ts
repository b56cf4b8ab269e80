/** `pvjournal drill [--checkpoint ID | --at TIME] [--verify CMD]`: run a failover drill. */
import type { Command } from "commander";
import { NotAvailableError } from "../../errors.js";
import { choosePoint, parseServerUrl, parseTime } from "../options.js";

/** Options of `pvjournal drill`. */
export interface DrillOptions {
  readonly checkpoint?: string;
  readonly at?: Date;
  readonly verify?: string;
  readonly keep?: boolean;
  readonly server: URL;
  readonly tokenFile?: string;
  readonly json?: boolean;
}

/** Runs the drill; not available until issue 7 lands. */
export async function runDrill(opts: DrillOptions): Promise<never> {
  // No point means the latest one; two is a usage error.
  choosePoint(opts, false, ["checkpoint", "at"]);
  throw new NotAvailableError("drill", 7);
}

/** Registers `drill` on the program. */
export function registerDrill(program: Command): Command {
  return program
    .command("drill")
    .usage(
      "[--checkpoint ID | --at TIME] [--verify CMD] [--keep] --server URL [--token-file F] [--json]",
    )
    .description("runs a failover drill through the API and prints its report")
    .option("--checkpoint <id>", "drill this checkpoint (default: the latest point)")
    .option("--at <time>", "drill the newest position at or before this ISO 8601 time", parseTime)
    .option(
      "--verify <cmd>",
      "command run in the sandbox (PVJ_DRILL_DIR, PVJ_DRILL_POINT_TS, PVJ_DRILL_POINT_SEQ)",
    )
    .option("--keep", "keep the sandbox after the drill")
    .requiredOption("--server <url>", "daemon base URL, e.g. http://127.0.0.1:7070", parseServerUrl)
    .option("--token-file <file>", "file holding the API bearer token")
    .option("--json", "print the report as JSON")
    .action(runDrill);
}
