/**
 * The one materialiser: writes a plan as a new tree for a restore, a drill
 * sandbox or a mirror rebuild. Everything is built in a hidden sibling
 * directory, made durable in one step at the end (durable.ts) when asked,
 * and renamed into place last, so an interrupted materialisation never
 * leaves a tree that looks complete. Directories and symlinks first, then
 * the files (write-files.ts: synchronous, coalesced, every block's hash
 * checked), then modes and mtimes deepest first, then durability, then the
 * rename. A caller can replace how files are produced (a drill clones the
 * mirror and patches the clones) through `prepareFiles`.
 */
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  close,
  closeSync,
  fdatasync,
  lutimesSync,
  mkdirSync,
  symlinkSync,
  utimesSync,
} from "node:fs";
import { mkdir, realpath, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { ErrorCode, PvjError } from "../errors.js";
import type { PlannedChunk } from "../journal/chunked-plan.js";
import type { Journal } from "../journal/journal.js";
import type { PlannedEntry, RestorePlan } from "../journal/plan.js";
import type { BlockHasher } from "../util/hash.js";
import { BlockReader } from "./block-reader.js";
import { type DurableMethod, makeDurable } from "./durable.js";
import { OpenAhead } from "./open-ahead.js";
import { moveIntoPlace } from "./tree-io.js";
import { type FileTask, Pacer, writeTaskTo } from "./write-files.js";
import { Writeback } from "./writeback.js";

/** Progress of a running materialisation. */
export interface RestoreProgress {
  readonly bytesDone: number;
  readonly bytesTotal: number;
  readonly filesDone: number;
  readonly filesTotal: number;
}

/** Inputs of materialiseTree. */
export interface MaterialiseTreeOptions {
  readonly journal: Journal;
  readonly plan: RestorePlan;
  /** Final directory; must not exist or be empty (checked by the caller's target policy). */
  readonly target: string;
  readonly hasher: BlockHasher;
  /** Make the tree durable before the rename (restores, failover); a drill sandbox is thrown away. */
  readonly durable: boolean;
  readonly onProgress?: (p: RestoreProgress) => void;
  readonly signal?: AbortSignal;
  /**
   * `target` is a real path (checkTarget's answer): its parent must still
   * resolve to itself when the work directory is made and before the final
   * rename. Without it, the parent's real path at the start is the reference.
   */
  readonly realTarget?: boolean;
  /**
   * File entries of the plan left without blocks (buildChunkedPlan) and how
   * to plan them: each is written chunk by chunk as `chunks` plans it.
   */
  readonly chunked?: {
    readonly entries: ReadonlySet<PlannedEntry>;
    readonly chunks: (e: PlannedEntry) => Iterable<PlannedChunk>;
  };
  /**
   * Produces some files another way once the skeleton exists (a drill clones
   * them from the mirror) and returns the task for each; files it leaves out
   * are written whole from the journal.
   */
  readonly prepareFiles?: (
    tmp: string,
    files: readonly PlannedEntry[],
  ) => Promise<Map<PlannedEntry, FileTask>>;
}

/** What materialiseTree did. */
export interface MaterialiseTreeResult {
  /** File bytes covered (holes included). */
  readonly bytes: number;
  readonly files: number;
  readonly entries: number;
  /** Null when `durable` was false. */
  readonly durableMethod: DurableMethod | null;
}

/** Materialises `plan` at `target` (see the module comment). */
export async function materialiseTree(
  opts: MaterialiseTreeOptions,
): Promise<MaterialiseTreeResult> {
  const { plan, target } = opts;
  const tmp = join(
    dirname(target),
    `.${basename(target)}.pvj-partial-${randomBytes(4).toString("hex")}`,
  );
  const parent = opts.realTarget ? dirname(target) : await realpath(dirname(target));
  await mkdir(tmp, { recursive: false });
  const files = plan.entries.filter((e) => e.kind === "file");
  let bytesDone = 0;
  let filesDone = 0;
  const report = () =>
    opts.onProgress?.({
      bytesDone,
      bytesTotal: plan.bytesTotal,
      filesDone,
      filesTotal: files.length,
    });
  const pacer = new Pacer(opts.signal);
  try {
    await assertStillBelow(tmp, parent, target);
    const dirs = await skeleton(tmp, plan.entries, pacer);
    const prepared = opts.prepareFiles ? await opts.prepareFiles(tmp, files) : new Map();
    const reader = new BlockReader(opts.journal, opts.hasher);
    const chunked = opts.chunked;
    const tasks: FileTask[] = files.map((e): FileTask => {
      const ready = prepared.get(e);
      if (ready) return ready;
      const file = { path: join(tmp, e.path), label: e.path, size: e.size };
      return chunked?.entries.has(e)
        ? { ...file, kind: "chunked", chunks: chunked.chunks(e) }
        : { ...file, kind: "create", blocks: e.blocks };
    });
    // Files are created ahead in the thread pool (open-ahead.ts). Durable
    // trees: each file's fdatasync starts as soon as it is written, on its
    // still-open descriptor, while the next files are written (16 in flight).
    const opener = new OpenAhead(tasks);
    const syncing: Promise<void>[] = [];
    let synced: PromiseSettledResult<void>[] = [];
    try {
      for (const [i, task] of tasks.entries()) {
        const fd = await opener.take(i);
        // Durable trees: a large file's writeback starts while it is written (writeback.ts).
        const writeback = opts.durable ? new Writeback(fd) : null;
        try {
          await writeTaskTo(fd, task, reader, pacer, (n) => {
            bytesDone += n;
            writeback?.wrote(n);
          });
          await writeback?.finish();
        } catch (err) {
          await writeback?.settle();
          closeSync(fd);
          throw err;
        }
        if (opts.durable) {
          if (syncing.length >= 16) await syncing.shift();
          const p = datasyncAndClose(fd);
          p.catch(() => undefined);
          syncing.push(p);
        } else closeSync(fd);
        filesDone += 1;
        report();
      }
    } finally {
      await opener.close();
      // Every descriptor is closed before the tree is removed or renamed.
      synced = await Promise.allSettled(syncing.splice(0));
    }
    const failed = synced.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    // Attributes last, deepest first: writing into a directory changes its mtime,
    // and a read-only directory mode must not stop its children being written.
    await setAllAttributes(tmp, plan.entries, pacer);
    // Files are synced already: only the directories are left.
    const durableMethod = opts.durable ? await makeDurable(tmp, [], dirs) : null;
    pacer.check();
    await assertStillBelow(tmp, parent, target);
    await moveIntoPlace(tmp, target, opts.durable);
    report();
    return { bytes: bytesDone, files: files.length, entries: plan.entries.length, durableMethod };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}

/**
 * Directories, parents of files, and symlinks, synchronously (one syscall
 * each); returns every directory made (the durability step fsyncs them).
 */
async function skeleton(
  tmp: string,
  entries: readonly PlannedEntry[],
  pacer: Pacer,
): Promise<string[]> {
  const made = new Set<string>([tmp]);
  // Parents first, so every directory made (also an ancestor a path selection needs) is known.
  const ensure = (dir: string): void => {
    if (made.has(dir)) return;
    ensure(dirname(dir));
    mkdirSync(dir);
    made.add(dir);
  };
  for (const e of entries) {
    const p = join(tmp, e.path);
    if (e.kind === "dir") ensure(p);
    else ensure(dirname(p));
    if (e.kind === "symlink") symlinkSync(e.target ?? "", p);
    if (pacer.due(0)) await pacer.pause();
  }
  return [...made];
}

/**
 * Mode and mtime of every entry, deepest first (a symlink gets only its
 * mtime: Linux has no lchmod). Synchronous calls with periodic yields: two
 * thread-pool round trips per file cost more than the syscalls themselves.
 */
async function setAllAttributes(
  tmp: string,
  entries: readonly PlannedEntry[],
  pacer: Pacer,
): Promise<void> {
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i]!;
    const p = join(tmp, e.path);
    const mtime = e.mtimeMs / 1000;
    if (e.kind === "symlink") lutimesSync(p, mtime, mtime);
    else {
      chmodSync(p, e.mode & 0o7777);
      utimesSync(p, mtime, mtime);
    }
    if (pacer.due(0)) await pacer.pause();
  }
}

/** fdatasync then close, both in the thread pool; the descriptor is closed either way. */
function datasyncAndClose(fd: number): Promise<void> {
  return new Promise((resolve, reject) =>
    fdatasync(fd, (err) => close(fd, () => (err ? reject(err) : resolve()))),
  );
}

/**
 * Refuses to go on when the work directory no longer resolves below the
 * checked parent: a directory on the way was swapped for a symlink after the
 * target was checked (Node has no openat/O_NOFOLLOW walk, so the path is
 * re-verified when the work directory is made and before the final rename;
 * the caller then removes what was written, through the same path).
 */
async function assertStillBelow(tmp: string, parent: string, target: string): Promise<void> {
  const real = await realpath(tmp);
  if (real !== join(parent, basename(tmp))) {
    throw new PvjError(
      ErrorCode.TARGET_NOT_ALLOWED,
      `restore target ${target}: its parent now resolves to ${dirname(real)}, not ${parent} (a symlink was swapped in after the check)`,
      { path: target },
    );
  }
}
