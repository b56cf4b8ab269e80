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
 * - copy: where the filesystem cannot clone, the same with a byte copy in
 *   the kernel (clone.ts: copyWholeFile) instead of a reflink; files that
 *   would be rewritten whole anyway are not copied first.
 * - full: the shared materialiser (restore/materialiser.ts), every block
 *   read from the journal (no mirror: a sidecar).
 *
 * Both paths build through the same materialiser: a hidden sibling
 * directory, synchronous coalesced writes with a hash check on every block,
 * one durability step at the end when `durable` (a failover), the rename last.
 *
 * The clone reads the mirror while it holds still (Mirror.withStable), and
 * never writes to it. Where the filesystem cannot clone (ENOTSUP, EXDEV,
 * EINVAL), the copy path runs and the result says why (`fallback`).
 */
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { ErrorCode, PvjError } from "../errors.js";
import {
  type BlockRequest,
  outlinePlan,
  planAttributesInSlices,
  planBlocksInSlices,
  planInSlices,
} from "../journal/build-plan.js";
import type { Journal } from "../journal/journal.js";
import { replayNamespace } from "../journal/namespace.js";
import type { PlannedEntry, RestorePlan } from "../journal/plan.js";
import type { ResolvedPoint } from "../journal/points.js";
import type { Logger } from "../log/logger.js";
import { silentLogger } from "../log/logger.js";
import type { Mirror } from "../replica/mirror.js";
import { eachLimited } from "../restore/durable.js";
import { materialiseTree } from "../restore/materialiser.js";
import type { FileTask, PatchWrite } from "../restore/write-files.js";
import type { BlockHasher } from "../util/hash.js";
import { type CloneFile, copyWholeFile, isCloneUnsupported, reflinkFile } from "./clone.js";

/** How a point was materialised. */
export const MaterialiseMethod = { clone: "clone", copy: "copy", full: "full" } as const;
/** "clone", "copy" or "full". */
export type MaterialiseMethod = (typeof MaterialiseMethod)[keyof typeof MaterialiseMethod];

/** A cloned file with more than this fraction of its blocks changed is written whole instead. */
const REWRITE_WHOLE_FRACTION = 0.5;
/** Reflinks in flight: each is one metadata call through the thread pool. */
const CLONE_CONCURRENCY = 4;

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
  /** Files cloned (or copied) from the mirror; the rest were written from the journal. */
  readonly filesCloned: number;
  /** Bytes read from the journal and written (a clone's patches, or everything on the full path). */
  readonly bytesWritten: number;
  /** The mirror position a clone or copy started from; null on the full path. */
  readonly mirrorSeq: number | null;
  /** Why the clone path was not taken, when a mirror was offered. */
  readonly fallback?: string;
}

/** Materialises `point` into `target`, cloning the mirror where possible. */
export async function materialise(opts: MaterialiseOptions): Promise<MaterialiseResult> {
  const started = performance.now();
  const outline = outlinePlan(opts.journal, opts.point);
  const files = outline.files;
  const seconds = () => (performance.now() - started) / 1000;
  let fallback: string | undefined;
  if (opts.mirror) {
    // Blocks are planned once the clone shows which ones differ from the
    // mirror (fileTasks): one lookup per entry here, not one per block.
    const plan = await planAttributesInSlices(opts.journal, outline);
    const r = await build(opts, opts.mirror, plan, opts.cloneFile ?? reflinkFile);
    if (r.ok) return { method: "clone", seconds: seconds(), files, ...r.result };
    fallback = r.reason;
    (opts.logger ?? silentLogger()).info(
      { reason: r.reason },
      "cannot clone the mirror; copying it and patching from the journal",
    );
    const c = await build(opts, opts.mirror, plan, copyWholeFile);
    if (c.ok) return { method: "copy", seconds: seconds(), files, ...c.result, fallback };
    fallback = `${fallback}; ${c.reason}`;
  }
  const r = await build(opts, null, await planInSlices(opts.journal, outline));
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

/** Thrown inside the materialiser's prepare step when the filesystem cannot clone at all. */
class CloneUnsupported extends Error {}

/**
 * Builds the point's tree at `target` through the shared materialiser. With a
 * mirror, files are cloned from it first and only what differs is patched;
 * the rest (or everything, without a mirror) is written from the journal.
 * With a mirror `plan` holds no blocks (planAttributesInSlices): fileTasks
 * plans what is written.
 */
async function build(
  opts: MaterialiseOptions,
  mirror: MirrorView | null,
  plan: RestorePlan,
  clone: CloneFile = reflinkFile,
): Promise<BuildOutcome> {
  const { journal, target } = opts;
  const log = opts.logger ?? silentLogger();
  await mkdir(dirname(target), { recursive: true });
  let filesCloned = 0;
  let mirrorSeq: number | null = null;
  try {
    const r = await materialiseTree({
      journal,
      plan,
      target,
      hasher: opts.hasher,
      durable: opts.durable === true,
      ...(mirror === null
        ? {}
        : {
            prepareFiles: async (tmp: string, files: readonly PlannedEntry[]) => {
              const c = await cloneFromMirror(opts, mirror, files, tmp, log, clone);
              if (!c.ok) throw new CloneUnsupported(c.reason);
              filesCloned = c.cloned.size;
              mirrorSeq = c.mirrorSeq;
              return fileTasks(opts, c.changes, c.cloned, files, tmp);
            },
          }),
    });
    return { ok: true, result: { filesCloned, bytesWritten: r.bytes, mirrorSeq } };
  } catch (err) {
    if (err instanceof CloneUnsupported) return { ok: false, reason: err.message };
    throw err;
  }
}

/**
 * A task for every file of the point, its blocks planned now: a cloned file
 * needs only what differs between P and the mirror's position M (the blocks
 * written in (min(P,M), max(P,M)], and the tail from the smallest size a
 * shrink in that interval cut the file to); a file that was not cloned, or
 * that differs in most of its blocks, is written whole.
 */
async function fileTasks(
  opts: MaterialiseOptions,
  { changed, sizes }: Changes,
  cloned: ReadonlySet<PlannedEntry>,
  files: readonly PlannedEntry[],
  tmp: string,
): Promise<Map<PlannedEntry, FileTask>> {
  const bs = opts.journal.blockSize;
  // Per file: null to write it whole, else the blocks its clone must rewrite.
  const rewrite = files.map((e): Set<number> | null => {
    if (!cloned.has(e)) return null;
    const blocks = blocksToRewrite(e, changed, sizes, bs);
    // Mostly rewritten anyway: writing the file whole beats patching a clone
    // (every patched block of a clone is a copy-on-write break of a shared extent).
    return rewrittenWhole(e, blocks, bs) ? null : blocks;
  });
  const requests: BlockRequest[] = files.map((e, i) => ({
    fileId: e.fileId,
    size: e.size,
    blocks: rewrite[i]!,
  }));
  const planned = await planBlocksInSlices(opts.journal, opts.point, requests);
  const tasks = new Map<PlannedEntry, FileTask>();
  files.forEach((e, i) => {
    const path = join(tmp, e.path);
    const blocks = rewrite[i]!;
    if (blocks === null) {
      tasks.set(e, { kind: "create", path, label: e.path, size: e.size, blocks: planned[i]! });
      return;
    }
    const byOffset = new Map(planned[i]!.map((b) => [b.offset, b]));
    const writes: PatchWrite[] = [];
    for (const b of [...blocks].sort((x, y) => x - y)) {
      const offset = b * bs;
      if (offset >= e.size) continue;
      // The block as it was at the point: its stored range, zeros for the rest.
      writes.push({
        offset,
        len: Math.min(bs, e.size - offset),
        block: byOffset.get(offset) ?? null,
      });
    }
    tasks.set(e, { kind: "patch", path, label: e.path, size: e.size, cut: null, writes });
  });
  return tasks;
}

/** Blocks written in (min(P,M), max(P,M)] by file, and the smallest size a shrink there cut each file to. */
interface Changes {
  readonly changed: ReadonlyMap<number, ReadonlySet<number>>;
  readonly sizes: ReadonlyMap<number, number | null>;
}

function changesBetween(journal: Journal, p: number, m: number): Changes {
  const lo = Math.min(p, m);
  const hi = Math.max(p, m);
  const changed = new Map<number, Set<number>>();
  const sizes =
    lo < hi ? journal.index.sizesChangedBetween(lo, hi) : new Map<number, number | null>();
  if (lo < hi) {
    for (const row of journal.index.blocksChangedBetween(lo, hi)) {
      const s = changed.get(row.file_id) ?? new Set<number>();
      changed.set(row.file_id, s);
      s.add(row.block);
    }
  }
  return { changed, sizes };
}

/** The blocks of `e` a clone of the mirror's copy must rewrite (a shrink's tail included). */
function blocksToRewrite(
  e: PlannedEntry,
  changed: ReadonlyMap<number, ReadonlySet<number>>,
  sizes: ReadonlyMap<number, number | null>,
  bs: number,
): Set<number> {
  const blocks = new Set(changed.get(e.fileId) ?? []);
  const nBlocks = Math.ceil(e.size / bs);
  // A shrink in the interval cut everything from its size on: rewrite that tail.
  const cut = sizes.get(e.fileId);
  if (cut !== undefined && cut !== null)
    for (let b = Math.floor(cut / bs); b < nBlocks; b++) blocks.add(b);
  return blocks;
}

function rewrittenWhole(e: PlannedEntry, blocks: ReadonlySet<number>, bs: number): boolean {
  return blocks.size > Math.ceil(e.size / bs) * REWRITE_WHOLE_FRACTION;
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
  clone: CloneFile,
): Promise<
  | { ok: true; cloned: Set<PlannedEntry>; mirrorSeq: number; changes: Changes }
  | { ok: false; reason: string }
> {
  const { journal } = opts;
  // A byte copy of a file that is then rewritten whole would be wasted; a reflink costs nothing.
  const copying = clone === copyWholeFile;
  const cloned = new Set<PlannedEntry>();
  let unsupported: string | null = null;
  // What differs between the point and the mirror: the patches, and (copying) which files to skip.
  let changes: Changes = { changed: new Map(), sizes: new Map() };
  const mirrorSeq = await mirror.stable(async (m) => {
    if (m === null || m === 0 || m < journal.baseSeq) {
      unsupported = "the mirror is empty or being updated";
      return 0;
    }
    const pathById = new Map<number, string>();
    for (const [p, e] of replayNamespace(journal.index.nsUpTo(m)))
      if (e.kind === "file") pathById.set(e.fileId, p);
    changes = changesBetween(journal, opts.point.seq, m);
    const { changed, sizes } = changes;
    const bs = journal.blockSize;
    await eachLimited(files, CLONE_CONCURRENCY, async (e) => {
      const src = pathById.get(e.fileId);
      if (src === undefined || unsupported !== null) return;
      if (copying && rewrittenWhole(e, blocksToRewrite(e, changed, sizes, bs), bs)) return;
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
  return { ok: true, cloned, mirrorSeq, changes };
}
