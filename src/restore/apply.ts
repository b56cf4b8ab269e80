import { randomBytes } from "node:crypto";
import { type FileHandle, mkdir, open, rm, symlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { ErrorCode, HashMismatchError, PvjError } from "../errors.js";
import type { Journal } from "../journal/journal.js";
import { fsyncDir } from "../util/fs.js";
import type { BlockHasher } from "../util/hash.js";
import type { PlannedEntry, RestorePlan } from "./plan.js";
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
    await moveIntoPlace(tmp, target);
    report();
    return { bytes: bytesDone, files: files.length, entries: plan.entries.length };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw err;
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

  async read(hash: Buffer, context: { path: string; offset: number }): Promise<Buffer> {
    if (this.lastHash?.equals(hash) && this.lastData) return this.lastData;
    const data = await this.journal.readBlob(hash);
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

async function writeFile(
  path: string,
  e: PlannedEntry,
  verifier: BlockVerifier,
  signal: AbortSignal | undefined,
  progress: (n: number) => void,
): Promise<void> {
  const fh: FileHandle = await open(path, "w", 0o600);
  try {
    for (const b of e.blocks) {
      throwIfAborted(signal);
      const data = await verifier.read(b.hash, { path: e.path, offset: b.offset });
      const slice = data.subarray(0, b.len);
      // All-zero ranges stay holes: sparse files stay sparse.
      if (!isZero(slice)) await fh.write(slice, 0, slice.length, b.offset);
      progress(b.len);
    }
    await fh.truncate(e.size);
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new PvjError(ErrorCode.BAD_REQUEST, "restore cancelled");
}
