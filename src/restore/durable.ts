/**
 * Makes a freshly written tree durable in one step after all of it is
 * written, instead of an fsync per file on the critical path: fdatasync of
 * each file and fsync of each directory, DURABLE_CONCURRENCY at a time. Very
 * large trees: one syncfs(2) of the target's filesystem (`sync -f`,
 * coreutils; Node has no binding), one pass over every dirty page and inode
 * (10k 4 KiB files on a quiet disk: about 70 ms, against 350 ms for 10k
 * fdatasyncs four at a time through libuv's thread pool), falling back to
 * the fsyncs when `sync -f` cannot run. Errors (EIO from writeback) are thrown: a
 * tree that may not be on disk is never renamed into place.
 */
import { open } from "node:fs/promises";
import { ErrorCode, PvjError } from "../errors.js";
import { fsyncDir } from "../util/fs.js";
import { type CommandOutcome, runCommand } from "../util/run-command.js";

/**
 * At or above this many files and directories, one syncfs is used instead of
 * an fsync each. syncfs also flushes everyone else's dirty data on that
 * filesystem: on a shared, busy filesystem it measured slower than the
 * parallel fsyncs of a 2k-10k file restore (benchmarks of issue 16), so only
 * trees where per-file fsyncs cost seconds use it.
 */
const SYNCFS_MIN_ENTRIES = 50_000;
/** fsyncs in flight (libuv runs four at a time; more keep its queue full). */
const DURABLE_CONCURRENCY = 16;
/** A syncfs of a large restore may write gigabytes: an hour before it counts as hung. */
const SYNCFS_TIMEOUT_MS = 60 * 60 * 1000;

/** Runs `fn` over `items`, `limit` at a time: the one worker pool of the materialisers. */
export async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function syncfs(root: string): Promise<CommandOutcome> {
  return runCommand(["sync", "-f", root], { timeoutMs: SYNCFS_TIMEOUT_MS, tailBytes: 2048 });
}

/** How a tree was made durable (tests and logs). */
export type DurableMethod = "syncfs" | "fsync";

/**
 * Makes `files` (data) and `dirs` (entries) durable; `root` names the
 * filesystem for syncfs. Returns the method used.
 */
export async function makeDurable(
  root: string,
  files: readonly string[],
  dirs: readonly string[],
  syncfsMinEntries = SYNCFS_MIN_ENTRIES,
): Promise<DurableMethod> {
  if (files.length + dirs.length >= syncfsMinEntries) {
    const o = await syncfs(root);
    if (o.exitCode === 0) return "syncfs";
    // A `sync` without -f (old coreutils) says so; anything else that ran and
    // failed is writeback reporting an error (EIO, ENOSPC on a thin volume).
    const noFlag = /invalid option|unrecognized option|usage/i.test(o.output);
    if ((o.exitCode !== null && !noFlag) || o.timedOut) {
      throw new PvjError(
        ErrorCode.IO_ERROR,
        `syncfs of ${root} failed: ${o.error ?? ""} ${o.output.trim()}`.trim(),
        { path: root },
      );
    }
    // Could not start (no coreutils sync in the image): fsync one by one.
  }
  await eachLimited(files, DURABLE_CONCURRENCY, async (p) => {
    const fh = await open(p, "r");
    try {
      await fh.datasync();
    } finally {
      await fh.close();
    }
  });
  await eachLimited(dirs, DURABLE_CONCURRENCY, fsyncDir);
  return "fsync";
}
