/** `pvjournal checkpoint [--label L]`: ask a running daemon for a checkpoint. */
import type { Command } from "commander";
import { NotAvailableError } from "../../errors.js";
import { parseServerUrl } from "../options.js";

/** Options of `pvjournal checkpoint`. */
export interface CheckpointOptions {
  readonly label?: string;
  readonly server: URL;
  readonly tokenFile?: string;
  readonly json?: boolean;
}

/** Requests the checkpoint; not available until issue 4 lands. */
export async function runCheckpoint(_opts: CheckpointOptions): Promise<never> {
  throw new NotAvailableError("checkpoint", 4);
}

/** Registers `checkpoint` on the program. */
export function registerCheckpoint(program: Command): Command {
  return program
    .command("checkpoint")
    .usage("[--label L] --server URL [--token-file F] [--json]")
    .description("asks a running daemon for a checkpoint")
    .option("--label <label>", "label stored with the checkpoint")
    .requiredOption("--server <url>", "daemon base URL, e.g. http://127.0.0.1:7070", parseServerUrl)
    .option("--token-file <file>", "file holding the API bearer token")
    .option("--json", "print the checkpoint as JSON")
    .action(runCheckpoint);
}
