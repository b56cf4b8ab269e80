/**
 * `pvjournal restore (--checkpoint ID | --at TIME | --seq N) --target DIR
 * (--journal DIR | --server URL)`: materialise a point into a directory.
 */
import type { Command } from "commander";
import { NotAvailableError } from "../../errors.js";
import { choosePoint, chooseSource, parseSeq, parseServerUrl, parseTime } from "../options.js";

/** Options of `pvjournal restore`. */
export interface RestoreOptions {
  readonly checkpoint?: string;
  readonly at?: Date;
  readonly seq?: number;
  readonly target: string;
  readonly journal?: string;
  readonly server?: URL;
  readonly paths?: string[];
  readonly tokenFile?: string;
}

/** Restores; offline not available until issue 3, through a daemon until issue 6. */
export async function runRestore(opts: RestoreOptions): Promise<never> {
  choosePoint(opts, true);
  const source = chooseSource(opts);
  throw source.kind === "journal"
    ? new NotAvailableError("offline restore", 3)
    : new NotAvailableError("restore through a daemon", 6);
}

/** Registers `restore` on the program. */
export function registerRestore(program: Command): Command {
  return program
    .command("restore")
    .usage(
      "(--checkpoint ID | --at TIME | --seq N) --target DIR (--journal DIR | --server URL) [--paths P...] [--token-file F]",
    )
    .description(
      "restores a point into --target: offline from --journal, or through a daemon with --server",
    )
    .option("--checkpoint <id>", "restore this checkpoint")
    .option("--at <time>", "restore the newest position at or before this ISO 8601 time", parseTime)
    .option("--seq <n>", "restore up to this journal sequence number", parseSeq)
    .requiredOption("--target <dir>", "directory to restore into (one subdirectory per source)")
    .option("--journal <dir>", "journal directory (offline, no daemon needed)")
    .option("--server <url>", "daemon base URL instead of --journal", parseServerUrl)
    .option("--paths <path...>", "restore only these paths (relative to a source, e.g. data/db)")
    .option("--token-file <file>", "file holding the API bearer token (with --server)")
    .action(runRestore);
}
