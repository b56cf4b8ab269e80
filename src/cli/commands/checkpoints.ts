/** `pvjournal checkpoints --journal DIR [--json]`: list restore points. */
import type { Command } from "commander";
import { NotAvailableError } from "../../errors.js";
import type { CheckpointRow } from "../../journal/index-db.js";
import { openForTool } from "../journal-access.js";
import { chooseSource, parseServerUrl } from "../options.js";
import { toolLogger } from "../tool-logger.js";

/** Options of `pvjournal checkpoints`. */
export interface CheckpointsOptions {
  readonly journal?: string;
  readonly server?: URL;
  readonly tokenFile?: string;
  readonly json?: boolean;
}

/** A checkpoint as the API and `--json` show it. */
export function checkpointJson(cp: CheckpointRow) {
  return {
    id: cp.id,
    seq: cp.seq,
    ts: new Date(cp.ts).toISOString(),
    label: cp.label,
    consistency: cp.consistency,
    ...(cp.hooks ? { hooks: cp.hooks } : {}),
  };
}

/** Formats checkpoints as an aligned table for humans. */
export function checkpointTable(rows: readonly CheckpointRow[]): string {
  if (rows.length === 0) return "no checkpoints\n";
  const lines = [["ID", "SEQ", "TIME (UTC)", "CONSISTENCY", "LABEL"]];
  for (const cp of rows) {
    lines.push([
      String(cp.id),
      String(cp.seq),
      new Date(cp.ts).toISOString(),
      cp.consistency,
      cp.label ?? "",
    ]);
  }
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  return `${lines
    .map((l) =>
      l
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")}\n`;
}

/** Lists checkpoints offline from a journal directory (through a daemon: issue 6). */
export async function runCheckpoints(opts: CheckpointsOptions): Promise<void> {
  const source = chooseSource(opts);
  if (source.kind === "server") throw new NotAvailableError("checkpoints through a daemon", 6);
  const { journal } = await openForTool(source.dir, toolLogger());
  try {
    const rows = journal.index.checkpoints(0, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
    process.stdout.write(
      opts.json
        ? `${JSON.stringify({ checkpoints: rows.map(checkpointJson) }, null, 2)}\n`
        : checkpointTable(rows),
    );
  } finally {
    await journal.close();
  }
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
