/**
 * `pvjournal restore (--checkpoint ID | --at TIME | --seq N) --target DIR
 * (--journal DIR | --server URL)`: materialise a point into a directory.
 */
import { isAbsolute } from "node:path";
import type { Command } from "commander";
import { ErrorCode, PvjError, UsageError } from "../../errors.js";
import type { Point } from "../../journal/points.js";
import type { RestoreJobView } from "../../restore/jobs.js";
import { formatBytes } from "../../util/size.js";
import { sleep } from "../../util/sleep.js";
import { type ApiTarget, apiRequest } from "../api-client.js";
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

/** Restores offline from a journal directory, or through a daemon's API with --server. */
export async function runRestore(opts: RestoreOptions): Promise<void> {
  const point = toJournalPoint(choosePoint(opts, true)!);
  const source = chooseSource(opts);
  if (source.kind === "server") {
    await restoreThroughServer(
      { server: source.url, ...(opts.tokenFile ? { tokenFile: opts.tokenFile } : {}) },
      point,
      opts,
    );
    return;
  }
  const [{ BlockHasher }, { prepareRestore, runRestore: restoreJournal }] = await Promise.all([
    import("../../util/hash.js"),
    import("../../restore/restore.js"),
  ]);
  const { journal } = await openForTool(source.dir);
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

/** How often a followed job is polled: smooth enough for a bar, negligible load. */
const POLL_MS = 250;

/** The POST /v1/restores body for a point. */
export function restoreBody(
  point: Point,
  target: string,
  paths: readonly string[] | undefined,
): Record<string, unknown> {
  const named =
    "checkpoint" in point
      ? { checkpoint: point.checkpoint }
      : "seq" in point
        ? { seq: point.seq }
        : { at: new Date(point.at).toISOString() };
  return { ...named, target, ...(paths && paths.length > 0 ? { paths } : {}) };
}

/**
 * Posts a restore job and follows it to the end with a progress bar. SIGINT
 * cancels the job on the daemon (DELETE) and fails; the job's own failure
 * fails with its reason. The daemon checks everything before answering 202,
 * so a bad point or target fails here at once with the daemon's message.
 */
async function restoreThroughServer(
  api: ApiTarget,
  point: Point,
  opts: RestoreOptions,
): Promise<void> {
  if (!isAbsolute(opts.target)) {
    throw new UsageError(
      "with --server, --target must be an absolute path on the daemon's machine",
    );
  }
  let job = await apiRequest<RestoreJobView>(
    api,
    "POST",
    "/v1/restores",
    restoreBody(point, opts.target, opts.paths),
  );
  const interrupted = new AbortController();
  const onSigint = () => interrupted.abort();
  process.once("SIGINT", onSigint);
  const progress = createProgress("restore");
  const started = Date.now();
  try {
    while (job.state === "queued" || job.state === "running") {
      if (interrupted.signal.aborted) {
        job = await apiRequest<RestoreJobView>(api, "DELETE", `/v1/restores/${job.id}`);
        if (job.state === "done") {
          progress.finish(`restore ${job.id} finished before it could be cancelled`);
          return;
        }
        progress.finish(`restore ${job.id} cancelled; the daemon removed what it had written`);
        throw new PvjError(ErrorCode.INTERNAL, `restore ${job.id} interrupted`);
      }
      if (job.state === "running") {
        progress.update(job.bytesDone, job.bytesTotal, `${job.files}/${job.filesTotal} files`);
      }
      await sleep(POLL_MS, interrupted.signal);
      if (!interrupted.signal.aborted)
        job = await apiRequest<RestoreJobView>(api, "GET", `/v1/restores/${job.id}`);
    }
  } finally {
    process.off("SIGINT", onSigint);
  }
  if (job.state === "failed") {
    const reason = job.error ? `${job.error.message} (${job.error.code})` : "unknown reason";
    progress.finish(`restore ${job.id} failed`);
    throw new PvjError(ErrorCode.INTERNAL, `restore ${job.id} failed: ${reason}`);
  }
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  progress.finish(
    `restored seq ${job.point.seq} (${job.point.ts}) into ${job.target}: ` +
      `${job.filesTotal} files, ${formatBytes(job.bytesTotal)} in ${secs}s (job ${job.id})`,
  );
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
