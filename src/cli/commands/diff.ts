/** `pvjournal diff --from POINT --to POINT`: what changed between two points. */
import type { Command } from "commander";
import { NotAvailableError } from "../../errors.js";
import { chooseSource, parseServerUrl } from "../options.js";

/** Options of `pvjournal diff`. POINT is `cp:ID`, `seq:N` or an ISO 8601 time. */
export interface DiffOptions {
  readonly from: string;
  readonly to: string;
  readonly journal?: string;
  readonly server?: URL;
  readonly tokenFile?: string;
  readonly json?: boolean;
}

/** Diffs two points; not available until issue 6 lands. */
export async function runDiff(opts: DiffOptions): Promise<never> {
  chooseSource(opts);
  throw new NotAvailableError("diff", 6);
}

/** Registers `diff` on the program. */
export function registerDiff(program: Command): Command {
  return program
    .command("diff")
    .usage("--from POINT --to POINT (--journal DIR | --server URL) [--json] [--token-file F]")
    .description("what changed between two points: files created, deleted, renamed, changed; bytes")
    .requiredOption("--from <point>", "older point: cp:ID, seq:N or an ISO 8601 time")
    .requiredOption("--to <point>", "newer point: cp:ID, seq:N or an ISO 8601 time")
    .option("--journal <dir>", "journal directory (offline)")
    .option("--server <url>", "daemon base URL instead of --journal", parseServerUrl)
    .option("--token-file <file>", "file holding the API bearer token (with --server)")
    .option("--json", "print JSON instead of a table")
    .action(runDiff);
}
