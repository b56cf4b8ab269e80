/**
 * `pvjournal restore (--checkpoint ID | --at TIME | --seq N) --target DIR
 * (--journal DIR | --server URL)`: materialise a point into a directory.
 */
import type { Command } from "commander";
import { formatBytes } from "../../config/size.js";
import { NotAvailableError, UsageError } from "../../errors.js";
import type { Point } from "../../journal/points.js";
import { prepareRestore, runRestore as restoreJournal } from "../../restore/restore.js";
import { BlockHasher } from "../../util/hash.js";
import { openForTool } from "../journal-access.js";
import {
  type CliPoint,
  choosePoint,
  chooseSource,
  parseSeq,
  parseServerUrl,
  parseTime,
} from "../options.js";
import { createProgress } from "../progress.js";
import { toolLogger } from "../tool-logger.js";

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

/** Converts the CLI's point to the journal's. */
export function toJournalPoint(p: CliPoint): Point {
  if (p.kind === "seq") return { seq: p.seq };
  if (p.kind === "at") return { at: p.time.getTime() };
  if (!/^\d+$/.test(p.id))
    throw new UsageError(`--checkpoint expects a checkpoint id (a number), got "${p.id}"`);
  return { checkpoint: Number(p.id) };
}

/** Restores offline from a journal directory (through a daemon: issue 6). */
export async function runRestore(opts: RestoreOptions): Promise<void> {
  const point = toJournalPoint(choosePoint(opts, true)!);
  const source = chooseSource(opts);
  if (source.kind === "server") throw new NotAvailableError("restore through a daemon", 6);
  const { journal } = await openForTool(source.dir, toolLogger());
  try {
    const hasher = await BlockHasher.create();
    const prepared = await prepareRestore(
      journal,
      { point, target: opts.target, paths: opts.paths ?? null },
      // Offline: the operator chooses any target, but never the journal itself.
      { allowedRoots: null, forbidden: [journal.dir] },
      Date.now(),
    );
    const progress = createProgress("restore");
    const started = Date.now();
    const result = await restoreJournal(journal, hasher, prepared, {
      onProgress: (p) =>
        progress.update(p.bytesDone, p.bytesTotal, `${p.filesDone}/${p.filesTotal} files`),
    });
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    progress.finish(
      `restored seq ${result.point.seq} (${new Date(result.point.ts).toISOString()}) into ${prepared.target}: ` +
        `${result.files} files, ${formatBytes(result.bytes)} in ${secs}s`,
    );
  } finally {
    await journal.close();
  }
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
