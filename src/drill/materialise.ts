/**
 * Materialises a journal point into a fresh directory for a drill or a
 * failover, fast where it can be (design.md, "Fast drills"):
 *
 * - clone: reflink every file of the point that also exists in the replica's
 *   mirror (at position M), then rewrite only what differs between the point
 *   P and M: the blocks written in (min(P,M), max(P,M)], and the tail of a
 *   file that shrank in that interval. Files absent from the mirror are
 *   written from the journal; directories, symlinks, modes and mtimes come
 *   from the plan. Time grows with the changes since P, not the volume size.
 * - full: the restore applier (every block read from the journal).
 *
 * The clone reads the mirror while it holds still (Mirror.withStable), and
 * never writes to it. Where the filesystem cannot clone (ENOTSUP, EXDEV,
 * EINVAL), the full path runs and the result says so.
 */
import { randomBytes } from "node:crypto";
import { type FileHandle, mkdir, open, rm, symlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { ErrorCode, HashMismatchError, PvjError } from "../errors.js";
import { buildPlan } from "../journal/build-plan.js";
import type { Journal } from "../journal/journal.js";
import { replayNamespace } from "../journal/namespace.js";
import type { PlannedBlock, PlannedEntry, RestorePlan } from "../journal/plan.js";
import type { ResolvedPoint } from "../journal/points.js";
import type { Logger } from "../log/logger.js";
import { silentLogger } from "../log/logger.js";
import type { Mirror } from "../replica/mirror.js";
import { isZero, moveIntoPlace, setAttributes } from "../restore/tree-io.js";
import { fsyncDir, writeAll } from "../util/fs.js";
import type { BlockHasher } from "../util/hash.js";
import { type CloneFile, isCloneUnsupported, reflinkFile } from "./clone.js";

/** How a point was materialised. */
export const MaterialiseMethod = { clone: "clone", full: "full" } as const;
/** "clone" or "full". */
export type MaterialiseMethod = (typeof MaterialiseMethod)[keyof typeof MaterialiseMethod];

/** A cloned file with more than this fraction of its blocks changed is written whole instead. */
const REWRITE_WHOLE_FRACTION = 0.5;
/** Files cloned or written at once: reflinks are metadata calls, 4 keeps two cores busy. */
const CONCURRENCY = 4;

/** A mirror as the materialiser uses it: a directory that equals the journal at some position. */
export interface MirrorView {
  readonly dir: string;
  /**
   * Runs `fn` while the mirror holds still; `fn` gets the mirror's position,
   * or null when the mirror cannot serve as a base (empty, or mid-update).
   */
  stable<T>(fn: (seq: number | null) => Promise<T>): Promise<T>;
}

/** A running replica's mirror: updates wait while a clone reads it. */
export function mirrorView(mirror: Mirror): MirrorView {
  return {
    dir: mirror.dir,
    stable: (fn) => mirror.withStable(() => fn(mirror.dirty ? null : mirror.seq)),
  };
}

/** A mirror already held still by the caller (inside Mirror.moveTo), at `seq`. */
export function heldMirrorView(dir: string, seq: number): MirrorView {
  return { dir, stable: (fn) => fn(seq) };
}

/** Inputs of materialise. */
export interface MaterialiseOptions {
  readonly journal: Journal;
  readonly hasher: BlockHasher;
  readonly point: ResolvedPoint;
  /** Must not exist, or be an empty directory (checked by the caller's target policy). */
  readonly target: string;
  /** The replica's mirror; null (a sidecar) means the full path. */
  readonly mirror: MirrorView | null;
  /** fsync every file and directory (a failover); a drill sandbox is thrown away, so it skips that. */
  readonly durable?: boolean;
  /** Replaces the reflink call (tests exercise the clone logic on filesystems without reflinks). */
  readonly cloneFile?: CloneFile;
  readonly logger?: Logger;
}

/** What materialise did. */
export interface MaterialiseResult {
  readonly method: MaterialiseMethod;
  readonly seconds: number;
  /** Regular files in the result. */
  readonly files: number;
  /** Files cloned from the mirror (the rest were written from the journal). */
  readonly filesCloned: number;
  /** Bytes read from the journal and written (a clone's patches, or everything on the full path). */
  readonly bytesWritten: number;
  /** The mirror position a clone started from; null on the full path. */
  readonly mirrorSeq: number | null;
  /** Why the clone path was not taken, when a mirror was offered. */
  readonly fallback?: string;
}

/** Materialises `point` into `target`, cloning the mirror where possible. */
export async function materialise(opts: MaterialiseOptions): Promise<MaterialiseResult> {
  const started = performance.now();
  const plan = buildPlan(opts.journal, opts.point);
  const files = plan.entries.filter((e) => e.kind === "file").length;
  const seconds = () => (performance.now() - started) / 1000;
  let fallback: string | undefined;
  if (opts.mirror) {
    const r = await build(opts, opts.mirror, plan);
    if (r.ok) return { method: "clone", seconds: seconds(), files, ...r.result };
    fallback = r.reason;
    (opts.logger ?? silentLogger()).info(
      { reason: r.reason },
      "cannot clone the mirror; materialising from the journal",
    );
  }
  const r = await build(opts, null, plan);
  if (!r.ok) throw new PvjError(ErrorCode.INTERNAL, r.reason);
  return {
    method: "full",
    seconds: seconds(),
    files,
    filesCloned: 0,
    bytesWritten: r.result.bytesWritten,
    mirrorSeq: null,
    ...(fallback !== undefined ? { fallback } : {}),
  };
}

type BuildOutcome =
  | {
      ok: true;
      result: { filesCloned: number; bytesWritten: number; mirrorSeq: number | null };
    }
  | { ok: false; reason: string };

/**
 * Builds the point's tree beside `target` and renames it into place. With a
 * mirror, files are cloned from it first and patched; without one (or for
 * files the mirror lacks), files are written from the journal. Unlike the
 * restore applier it fsyncs only when `durable`: a drill sandbox is thrown away.
 */
async function build(
  opts: MaterialiseOptions,
  mirror: MirrorView | null,
  plan: RestorePlan,
): Promise<BuildOutcome> {
  const { journal, target } = opts;
  const log = opts.logger ?? silentLogger();
  const tmp = join(
    dirname(target),
    `.${basename(target)}.pvj-partial-${randomBytes(4).toString("hex")}`,
  );
  await mkdir(dirname(target), { recursive: true });
  await mkdir(tmp);
  try {
    // The skeleton first, outside the mirror's lock: the lock covers only the clones.
    for (const e of plan.entries) {
      const p = join(tmp, e.path);
      if (e.kind === "dir") await mkdir(p, { recursive: true });
      else await mkdir(dirname(p), { recursive: true });
      if (e.kind === "symlink") await symlink(e.target ?? "", p);
    }
    const files = plan.entries.filter((e) => e.kind === "file");
    let cloned = new Set<PlannedEntry>();
    let mirrorSeq: number | null = null;
    if (mirror !== null) {
      const c = await cloneFromMirror(opts, mirror, files, tmp, log);
      if (!c.ok) {
        await rm(tmp, { recursive: true, force: true });
        return { ok: false, reason: c.reason };
      }
      cloned = c.cloned;
      mirrorSeq = c.mirrorSeq;
    }

    const p = opts.point.seq;
    const lo = Math.min(p, mirrorSeq ?? p);
    const hi = Math.max(p, mirrorSeq ?? p);
    const changed = new Map<number, Set<number>>();
    const shrunk = new Map<number, number>();
    if (lo < hi) {
      for (const row of journal.index.blocksChangedBetween(lo, hi)) {
        const s = changed.get(row.file_id) ?? new Set<number>();
        changed.set(row.file_id, s);
        s.add(row.block);
      }
      for (const r of journal.index.all<{ file_id: number; size: number }>(
        "SELECT file_id, min(size) AS size FROM sizes WHERE seq > ? AND seq <= ? AND shrink = 1 GROUP BY file_id",
        lo,
        hi,
      ))
        shrunk.set(r.file_id, r.size);
    }
    const reader = new BlockReader(journal, opts.hasher);
    const bs = journal.blockSize;
    let bytesWritten = 0;
    await pool(files, async (e) => {
      const path = join(tmp, e.path);
      // `x += await f()` would read x before the await and lose the other workers' sums.
      if (!cloned.has(e)) {
        const n = await writeWhole(path, e, reader, opts.durable === true);
        bytesWritten += n;
        return;
      }
      const blocks = new Set(changed.get(e.fileId) ?? []);
      // A shrink in the interval cut everything from its size on: rewrite that tail.
      const cut = shrunk.get(e.fileId);
      const nBlocks = Math.ceil(e.size / bs);
      if (cut !== undefined) for (let b = Math.floor(cut / bs); b < nBlocks; b++) blocks.add(b);
      // Mostly rewritten anyway: writing the file whole beats patching a clone
      // (every patched block of a clone is a copy-on-write break of a shared extent).
      const n =
        blocks.size > nBlocks * REWRITE_WHOLE_FRACTION
          ? await writeWhole(path, e, reader, opts.durable === true)
          : await patch(path, e, [...blocks], reader, bs, opts.durable === true);
      bytesWritten += n;
    });
    // Attributes last, deepest first (as the applier does).
    for (const e of [...plan.entries].reverse()) await setAttributes(join(tmp, e.path), e);
    if (opts.durable) await fsyncDir(tmp);
    await moveIntoPlace(tmp, target);
    return { ok: true, result: { filesCloned: cloned.size, bytesWritten, mirrorSeq } };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}

/**
 * Clones every file of the point that the mirror holds (wherever a rename
 * moved it) while the mirror holds still. Fails as a whole only when the
 * filesystem cannot clone at all; one unreadable file is left to be written.
 */
async function cloneFromMirror(
  opts: MaterialiseOptions,
  mirror: MirrorView,
  files: readonly PlannedEntry[],
  tmp: string,
  log: Logger,
): Promise<
  { ok: true; cloned: Set<PlannedEntry>; mirrorSeq: number } | { ok: false; reason: string }
> {
  const { journal } = opts;
  const clone = opts.cloneFile ?? reflinkFile;
  const cloned = new Set<PlannedEntry>();
  let unsupported: string | null = null;
  const mirrorSeq = await mirror.stable(async (m) => {
    if (m === null || m === 0 || m < journal.baseSeq) {
      unsupported = "the mirror is empty or being updated";
      return 0;
    }
    const pathById = new Map<number, string>();
    for (const [p, e] of replayNamespace(journal.index.nsUpTo(m)))
      if (e.kind === "file") pathById.set(e.fileId, p);
    await pool(files, async (e) => {
      const src = pathById.get(e.fileId);
      if (src === undefined || unsupported !== null) return;
      try {
        await clone(join(mirror.dir, src), join(tmp, e.path));
        cloned.add(e);
      } catch (err) {
        if (isCloneUnsupported(err) && cloned.size === 0) {
          unsupported = `${(err as NodeJS.ErrnoException).code}: the filesystem of ${mirror.dir} and ${dirname(opts.target)} cannot clone files (reflinks)`;
          return;
        }
        log.debug({ err, path: e.path }, "cannot clone from the mirror; writing from the journal");
      }
    });
    return m;
  });
  if (unsupported !== null) return { ok: false, reason: unsupported };
  return { ok: true, cloned, mirrorSeq };
}

/** Runs `fn` over `items`, CONCURRENCY at a time. */
async function pool<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
}

/** Reads blobs from the journal, checking each against the hash recorded at capture. */
class BlockReader {
  private lastHash: Buffer | null = null;
  private lastData: Buffer | null = null;

  constructor(
    private readonly journal: Journal,
    private readonly hasher: BlockHasher,
  ) {}

  async read(b: PlannedBlock, path: string): Promise<Buffer> {
    if (this.lastHash?.equals(b.hash) && this.lastData) return this.lastData;
    const data = await this.journal.readBlob(b.hash);
    if (!this.hasher.hash(data).equals(b.hash)) {
      throw new HashMismatchError(
        `block at offset ${b.offset} of ${path} does not match its recorded hash`,
        { path, offset: b.offset, hint: "the journal is damaged; run `pvjournal verify`" },
      );
    }
    this.lastHash = b.hash;
    this.lastData = data;
    return data;
  }
}

/** Rewrites `blocks` of a cloned file with their content at the point, then sets its size. */
async function patch(
  path: string,
  e: PlannedEntry,
  blocks: readonly number[],
  reader: BlockReader,
  bs: number,
  durable: boolean,
): Promise<number> {
  if (blocks.length === 0 && !durable) {
    // Only the size may differ (a grow or shrink without writes is a size record).
    const fh = await open(path, "r+");
    try {
      if ((await fh.stat()).size !== e.size) await fh.truncate(e.size);
    } finally {
      await fh.close();
    }
    return 0;
  }
  const byOffset = new Map<number, PlannedBlock>();
  for (const b of e.blocks) byOffset.set(b.offset, b);
  const fh = await open(path, "r+");
  let written = 0;
  try {
    for (const b of [...blocks].sort((x, y) => x - y)) {
      const offset = b * bs;
      if (offset >= e.size) continue;
      // The block as it was at the point: its stored range, zeros for the rest.
      const buf = Buffer.alloc(Math.min(bs, e.size - offset));
      const range = byOffset.get(offset);
      if (range) (await reader.read(range, e.path)).copy(buf, 0, 0, range.len);
      await writeAll(fh, buf, offset);
      written += buf.length;
    }
    await fh.truncate(e.size);
    if (durable) await fh.datasync();
  } finally {
    await fh.close();
  }
  return written;
}

/** Writes a whole file from the journal (holes stay holes). */
async function writeWhole(
  path: string,
  e: PlannedEntry,
  reader: BlockReader,
  durable: boolean,
): Promise<number> {
  const fh: FileHandle = await open(path, "w", 0o600);
  let written = 0;
  try {
    for (const b of e.blocks) {
      const data = (await reader.read(b, e.path)).subarray(0, b.len);
      if (!isZero(data)) await writeAll(fh, data, b.offset);
      written += b.len;
    }
    await fh.truncate(e.size);
    if (durable) await fh.datasync();
  } finally {
    await fh.close();
  }
  return written;
}
