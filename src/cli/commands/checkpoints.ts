/** `pvjournal checkpoints --journal DIR [--json]`: list restore points. */
import type { Command } from "commander";
import { checkpointBody } from "../../http/bodies.js";
import type { CheckpointRow } from "../../journal/index-db.js";
import { apiRequest } from "../api-client.js";
import { openForTool } from "../journal-access.js";
import { chooseSource, parseServerUrl } from "../options.js";

/** Options of `pvjournal checkpoints`. */
export interface CheckpointsOptions {
  readonly journal?: string;
  readonly server?: URL;
  readonly tokenFile?: string;
  readonly json?: boolean;
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

/** A checkpoint as GET /v1/checkpoints returns it. */
type CheckpointAnswer = ReturnType<typeof checkpointBody>;

/** The API's largest page (GET /v1/checkpoints?limit). */
const API_LIMIT = 10_000;

/** Turns an API checkpoint back into a row (for the table). */
function fromAnswer(cp: CheckpointAnswer): CheckpointRow {
  return {
    id: cp.id,
    seq: cp.seq,
    ts: Date.parse(cp.ts),
    label: cp.label,
    consistency: cp.consistency,
    hooks: cp.hooks ?? null,
  };
}

/**
 * Fetches every checkpoint through the API, a page at a time: each page
 * starts at the newest time seen, and rows already listed are skipped.
 */
async function checkpointsFromServer(opts: CheckpointsOptions, server: URL) {
  const api = { server, ...(opts.tokenFile ? { tokenFile: opts.tokenFile } : {}) };
  const rows: CheckpointRow[] = [];
  const seen = new Set<number>();
  let from: string | null = null;
  for (;;) {
    const query: string = `limit=${API_LIMIT}${from ? `&from=${encodeURIComponent(from)}` : ""}`;
    const page: { checkpoints: CheckpointAnswer[] } = await apiRequest<{
      checkpoints: CheckpointAnswer[];
    }>(api, "GET", `/v1/checkpoints?${query}`);
    const fresh = page.checkpoints.filter((cp) => !seen.has(cp.id));
    for (const cp of fresh) {
      seen.add(cp.id);
      rows.push(fromAnswer(cp));
    }
    const last: CheckpointAnswer | undefined = page.checkpoints[page.checkpoints.length - 1];
    if (page.checkpoints.length < API_LIMIT || fresh.length === 0 || !last) return rows;
    from = last.ts;
  }
}

/** Lists checkpoints offline from a journal directory, or through a daemon with --server. */
export async function runCheckpoints(opts: CheckpointsOptions): Promise<void> {
  const source = chooseSource(opts);
  let rows: CheckpointRow[];
  if (source.kind === "server") rows = await checkpointsFromServer(opts, source.url);
  else {
    const { journal } = await openForTool(source.dir);
    try {
      rows = journal.index.checkpoints(0, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
    } finally {
      await journal.close();
    }
  }
  process.stdout.write(
    opts.json
      ? `${JSON.stringify({ checkpoints: rows.map(checkpointBody) }, null, 2)}\n`
      : checkpointTable(rows),
  );
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
