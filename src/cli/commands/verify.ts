/** `pvjournal verify --journal DIR`: check checksums, index and checkpoints; exit 0 only if all hold. */
import type { Command } from "commander";
import { NotAvailableError } from "../../errors.js";

/** Options of `pvjournal verify`. */
export interface VerifyOptions {
  readonly journal: string;
  readonly repair?: boolean;
  readonly json?: boolean;
}

/** Verifies the journal; not available until issue 3 lands. */
export async function runVerify(_opts: VerifyOptions): Promise<never> {
  throw new NotAvailableError("verify", 3);
}

/** Registers `verify` on the program. */
export function registerVerify(program: Command): Command {
  return program
    .command("verify")
    .usage("--journal DIR [--repair] [--json]")
    .description(
      "checks every record's checksum, the index against the segments, and that every checkpoint is restorable",
    )
    .requiredOption("--journal <dir>", "journal directory")
    .option("--repair", "truncate a torn tail and rebuild the index from the segments")
    .option("--json", "print the report as JSON")
    .action(runVerify);
}
