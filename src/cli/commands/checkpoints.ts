/** `pvjournal checkpoints --journal DIR [--json]`: list restore points. */
import type { Command } from "commander";
import { NotAvailableError } from "../../errors.js";
import { chooseSource, parseServerUrl } from "../options.js";

/** Options of `pvjournal checkpoints`. */
export interface CheckpointsOptions {
  readonly journal?: string;
  readonly server?: URL;
  readonly tokenFile?: string;
  readonly json?: boolean;
}

/** Lists checkpoints; not available until issue 3 lands. */
export async function runCheckpoints(opts: CheckpointsOptions): Promise<never> {
  chooseSource(opts);
  throw new NotAvailableError("checkpoints", 3);
}

/** Registers `checkpoints` on the program. */
export function registerCheckpoints(program: Command): Command {
  return program
    .command("checkpoints")
    .usage("(--journal DIR | --server URL) [--json] [--token-file F]")
    .description("lists restore points straight from a journal directory (or through a daemon)")
    .option("--journal <dir>", "journal directory (offline, no daemon needed)")
    .option("--server <url>", "daemon base URL instead of --journal", parseServerUrl)
    .option("--token-file <file>", "file holding the API bearer token (with --server)")
    .option("--json", "print JSON instead of a table")
    .action(runCheckpoints);
}
