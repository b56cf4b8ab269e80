/** `pvjournal status --server URL [--json]`: the daemon's status. */
import type { Command } from "commander";
import { NotAvailableError } from "../../errors.js";
import { parseServerUrl } from "../options.js";

/** Options of `pvjournal status`. */
export interface StatusOptions {
  readonly server: URL;
  readonly json?: boolean;
  readonly tokenFile?: string;
}

/** Prints the daemon's status; not available until issue 4 lands. */
export async function runStatus(_opts: StatusOptions): Promise<never> {
  throw new NotAvailableError("status", 4);
}

/** Registers `status` on the program. */
export function registerStatus(program: Command): Command {
  return program
    .command("status")
    .usage("--server URL [--json] [--token-file F]")
    .description("the daemon's status, human-readable (--json for machines)")
    .requiredOption("--server <url>", "daemon base URL, e.g. http://127.0.0.1:7070", parseServerUrl)
    .option("--json", "print JSON")
    .option("--token-file <file>", "file holding the API bearer token")
    .action(runStatus);
}
