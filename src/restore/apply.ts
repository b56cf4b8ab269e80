import { randomBytes } from "node:crypto";
import { closeSync, fdatasync, ftruncateSync, openSync, writevSync } from "node:fs";
import { mkdir, realpath, rm, symlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { promisify } from "node:util";
import { ErrorCode, HashMismatchError, PvjError } from "../errors.js";
import type { Journal } from "../journal/journal.js";
import type { PlannedEntry, RestorePlan } from "../journal/plan.js";
import { fsyncDir, unwritten } from "../util/fs.js";
import type { BlockHasher } from "../util/hash.js";
import { isZero, moveIntoPlace, setAttributes } from "./tree-io.js";

/** Progress of a running restore. */
export interface RestoreProgress {
  readonly bytesDone: number;
  readonly bytesTotal: number;
  readonly filesDone: number;
  readonly filesTotal: number;
}

/** Inputs of applyPlan. */
export interface ApplyOptions {
  readonly journal: Journal;
  readonly plan: RestorePlan;
  /** Final directory; must not exist or be empty (checked by the caller's target policy). */
  readonly target: string;
  readonly hasher: BlockHasher;
  readonly onProgress?: (p: RestoreProgress) => void;
  readonly signal?: AbortSignal;
  /** Files restored at once; 4 keeps two cores busy with hashing and I/O. */
  readonly concurrency?: number;
  /**
   * `target` is a real path (checkTarget's answer): its parent must still
   * resolve to itself when the work directory is made and before the final
   * rename. Without it, the parent's real path at the start is the reference.
   */
  readonly realTarget?: boolean;
}

/** Result of a finished restore. */
export interface ApplyResult {
  readonly bytes: number;
  readonly files: number;
  readonly entries: number;
}

/**
 * Writes a plan into `target`: everything is built under a hidden sibling
 * directory, fsynced, and renamed into place at the end, so an interrupted
 * restore never leaves a tree that looks complete. Every block read back from
 * the journal is checked against the hash recorded at capture.
 */
export async function applyPlan(opts: ApplyOptions): Promise<ApplyResult> {
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
  try {
    await assertStillBelow(tmp, parent, target);
    for (const e of plan.entries) {
      const p = join(tmp, e.path);
      if (e.kind === "dir") await mkdir(p, { recursive: true });
      else await mkdir(dirname(p), { recursive: true });
      if (e.kind === "symlink") await symlink(e.target ?? "", p);
    }
    const verifier = new BlockVerifier(opts.journal, opts.hasher);
    let next = 0;
    const worker = async () => {
      while (next < files.length) {
        const e = files[next++]!;
        throwIfAborted(opts.signal);
        await writeFile(join(tmp, e.path), e, verifier, opts.signal, (n) => {
          bytesDone += n;
        });
        filesDone += 1;
        report();
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(opts.concurrency ?? 4, Math.max(files.length, 1)) }, worker),
    );
    // Attributes last, deepest first: writing into a directory changes its mtime,
    // and a read-only directory mode must not stop its children being written.
    for (const e of [...plan.entries].reverse()) await setAttributes(join(tmp, e.path), e);
    await fsyncDir(tmp);
    await assertStillBelow(tmp, parent, target);
    await moveIntoPlace(tmp, target);
    report();
    return { bytes: bytesDone, files: files.length, entries: plan.entries.length };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
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

/** Reads blobs and checks their hashes, remembering the last one (sparse/zero runs repeat it). */
class BlockVerifier {
  private lastHash: Buffer | null = null;
  private lastData: Buffer | null = null;

  constructor(
    private readonly journal: Journal,
    private readonly hasher: BlockHasher,
  ) {}

  read(hash: Buffer, context: { path: string; offset: number }): Buffer {
    if (this.lastHash?.equals(hash) && this.lastData) return this.lastData;
    const data = this.journal.readBlobSync(hash);
    if (!this.hasher.hash(data).equals(hash)) {
      throw new HashMismatchError(
        `block at offset ${context.offset} of ${context.path} does not match its recorded hash`,
        {
          path: context.path,
          offset: context.offset,
          hint: "the journal is damaged; run `pvjournal verify`",
        },
      );
    }
    this.lastHash = hash;
    this.lastData = data;
    return data;
  }
}

/**
 * A restore yields to the event loop after this many bytes or milliseconds,
 * so the daemon keeps answering (progress, cancellation) during a restore.
 */
const YIELD_BYTES = 8 * 1024 * 1024;
const YIELD_MS = 20;
/** Adjacent blocks are written together up to this size: one syscall per 1 MiB, not per 4 KiB block. */
const RUN_BYTES = 1024 * 1024;

async function writeFile(
  path: string,
  e: PlannedEntry,
  verifier: BlockVerifier,
  signal: AbortSignal | undefined,
  progress: (n: number) => void,
): Promise<void> {
  // Synchronous reads and writes with periodic yields: per-block async calls
  // cost two thread-pool round trips each and made 4 KiB-block restores CPU-bound.
  const fd = openSync(path, "w", 0o600);
  try {
    let run: Buffer[] = [];
    let runStart = 0;
    let runLen = 0;
    let sinceYield = 0;
    let lastYield = Date.now();
    const flush = () => {
      if (runLen > 0) writevAll(fd, run, runStart);
      run = [];
      runLen = 0;
    };
    for (const b of e.blocks) {
      throwIfAborted(signal);
      const slice = verifier.read(b.hash, { path: e.path, offset: b.offset }).subarray(0, b.len);
      // All-zero ranges stay holes: sparse files stay sparse.
      if (isZero(slice)) flush();
      else {
        if (runLen > 0 && (runStart + runLen !== b.offset || runLen >= RUN_BYTES)) flush();
        if (runLen === 0) runStart = b.offset;
        run.push(slice);
        runLen += slice.length;
      }
      progress(b.len);
      sinceYield += b.len;
      if (sinceYield >= YIELD_BYTES || Date.now() - lastYield >= YIELD_MS) {
        flush();
        sinceYield = 0;
        await new Promise<void>((r) => setImmediate(r));
        lastYield = Date.now();
      }
    }
    flush();
    ftruncateSync(fd, e.size);
    await fdatasyncAsync(fd);
  } finally {
    closeSync(fd);
  }
}

/** writev until every byte is written (short writes are legal). */
function writevAll(fd: number, buffers: Buffer[], position: number): void {
  let pos = position;
  let rest = buffers;
  while (rest.length > 0) {
    const n = writevSync(fd, rest, pos);
    pos += n;
    rest = unwritten(rest, n);
  }
}

const fdatasyncAsync = promisify(fdatasync);

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new PvjError(ErrorCode.BAD_REQUEST, "restore cancelled");
}
