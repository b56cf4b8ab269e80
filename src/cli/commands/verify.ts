/** `pvjournal verify --journal DIR`: check checksums, index and checkpoints; exit 0 only if all hold. */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { Command } from "commander";
import { CorruptionError } from "../../errors.js";
import { INDEX_FILE } from "../../journal/options.js";
import type { VerifyReport } from "../../journal/verify.js";
import type { BlockHasher } from "../../util/hash.js";
import { openForTool } from "../journal-access.js";
import { createProgress } from "../progress.js";

/** Options of `pvjournal verify`. */
export interface VerifyOptions {
  readonly journal: string;
  readonly repair?: boolean;
  readonly json?: boolean;
}

async function verifyOnce(
  dir: string,
  hasher: BlockHasher,
  quiet: boolean,
): Promise<{ report: VerifyReport; readOnly: boolean }> {
  const { verifyJournal } = await import("../../journal/verify.js");
  const { journal, readOnly } = await openForTool(dir);
  try {
    const progress = createProgress("verify");
    const report = await verifyJournal(
      journal,
      hasher,
      quiet ? undefined : (d, t) => progress.update(d, t),
    );
    return { report, readOnly };
  } finally {
    await journal.close();
  }
}

function printReport(r: VerifyReport): string {
  const head = `${r.ok ? "OK" : "FAILED"}: ${r.segments} segments, ${r.records} records, ${r.checkpoints} checkpoints checked`;
  return `${[head, ...r.problems.map((p) => `  ${p.kind}: ${p.message}`)].join("\n")}\n`;
}

/**
 * Verifies a journal; with --repair, a journal whose segments are intact but
 * whose index disagrees gets its index rebuilt from the segments, then is
 * verified again. Damaged segments cannot be repaired: they are reported.
 */
export async function runVerify(opts: VerifyOptions): Promise<void> {
  const { BlockHasher } = await import("../../util/hash.js");
  const hasher = await BlockHasher.create();
  let { report, readOnly } = await verifyOnce(opts.journal, hasher, opts.json === true);
  let repaired = false;
  if (!report.ok && opts.repair) {
    if (readOnly)
      throw new CorruptionError("cannot repair: a running daemon holds the journal", {
        path: opts.journal,
      });
    if (report.problems.every((p) => p.kind !== "damage")) {
      for (const f of [INDEX_FILE, `${INDEX_FILE}-wal`, `${INDEX_FILE}-shm`])
        await rm(join(opts.journal, f), { force: true });
      ({ report } = await verifyOnce(opts.journal, hasher, opts.json === true));
      repaired = true;
    }
  }
  process.stdout.write(
    opts.json ? `${JSON.stringify({ ...report, repaired }, null, 2)}\n` : printReport(report),
  );
  if (repaired && !opts.json) process.stdout.write("index rebuilt from the segments\n");
  if (!report.ok) {
    throw new CorruptionError(
      `journal ${opts.journal} failed verification (${report.problems.length} problems)`,
      {
        path: opts.journal,
        ...(report.problems.some((p) => p.kind === "damage")
          ? {}
          : { hint: "run with --repair to rebuild the index" }),
      },
    );
  }
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
