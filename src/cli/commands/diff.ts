/** `pvjournal diff --from POINT --to POINT`: what changed between two points. */
import type { Command } from "commander";
import { PvjError, UsageError } from "../../errors.js";
import { diffBody } from "../../http/bodies.js";
import { type Point, parsePoint } from "../../journal/points.js";
import { formatBytes } from "../../util/size.js";
import { apiRequest } from "../api-client.js";
import { openForTool } from "../journal-access.js";
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

/** A diff as the API and `--json` show it. */
export type DiffAnswer = ReturnType<typeof diffBody>;

function cliPoint(text: string, flag: string): Point {
  try {
    return parsePoint(text);
  } catch (err) {
    if (err instanceof PvjError) throw new UsageError(`${flag}: ${err.message}`);
    throw err;
  }
}

function pointText(p: DiffAnswer["from"]): string {
  return `${p.checkpoint !== null ? `checkpoint ${p.checkpoint}, ` : ""}seq ${p.seq} (${p.ts})`;
}

/**
 * Formats a diff for humans: one line per entry, marked `+` created, `-`
 * deleted, `>` renamed, `~` changed, then a summary line. Pure.
 */
export function formatDiff(d: DiffAnswer): string {
  const lines = [`from ${pointText(d.from)}`, `to   ${pointText(d.to)}`];
  const suffix = (kind: string) => (kind === "dir" ? "/" : kind === "symlink" ? "@" : "");
  for (const e of d.created)
    lines.push(
      `+ ${e.path}${suffix(e.kind)}${e.kind === "file" ? ` (${formatBytes(e.bytes)})` : ""}`,
    );
  for (const e of d.deleted) lines.push(`- ${e.path}${suffix(e.kind)}`);
  for (const e of d.renamed) lines.push(`> ${e.from}${suffix(e.kind)} -> ${e.to}${suffix(e.kind)}`);
  for (const e of d.changed) {
    const what: string[] = [];
    if (e.changedBytes > 0) what.push(`${formatBytes(e.changedBytes)} changed`);
    if (e.sizeBefore !== e.sizeAfter)
      what.push(`size ${formatBytes(e.sizeBefore)} -> ${formatBytes(e.sizeAfter)}`);
    if (e.modeChanged) what.push("mode");
    if (e.mtimeChanged) what.push("mtime");
    lines.push(`~ ${e.path}${suffix(e.kind)}: ${what.join(", ")}`);
  }
  const s = d.summary;
  lines.push(
    s.created + s.deleted + s.renamed + s.changed === 0
      ? "no changes"
      : `${s.created} created (${formatBytes(s.createdBytes)}), ${s.deleted} deleted, ` +
          `${s.renamed} renamed, ${s.changed} changed (${formatBytes(s.changedBytes)})`,
  );
  return `${lines.join("\n")}\n`;
}

/** Diffs two points offline from --journal, or through a daemon with --server. */
export async function runDiff(opts: DiffOptions): Promise<void> {
  const source = chooseSource(opts);
  const from = cliPoint(opts.from, "--from");
  const to = cliPoint(opts.to, "--to");
  let answer: DiffAnswer;
  if (source.kind === "server") {
    const query = `from=${encodeURIComponent(opts.from)}&to=${encodeURIComponent(opts.to)}`;
    answer = await apiRequest<DiffAnswer>(
      { server: source.url, ...(opts.tokenFile ? { tokenFile: opts.tokenFile } : {}) },
      "GET",
      `/v1/diff?${query}`,
    );
  } else {
    const { diffPoints } = await import("../../restore/diff-journal.js");
    const { journal } = await openForTool(source.dir);
    try {
      answer = diffBody(diffPoints(journal, from, to, Date.now()));
    } finally {
      await journal.close();
    }
  }
  process.stdout.write(opts.json ? `${JSON.stringify(answer, null, 2)}\n` : formatDiff(answer));
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
