/**
 * The clone and copy paths of a drill (materialise.ts): every file of the
 * point that the mirror holds is cloned (a reflink) or copied (a byte copy in
 * the kernel) from it, then only the blocks that differ between the point P
 * and the mirror's position M are written over it from the journal, each
 * one hash-checked (changes.ts, block-runs.ts).
 *
 * Byte copies in one pass over two cores: the copies run in libuv's thread
 * pool, CLONE_CONCURRENCY at a time, while this thread plans the journal's
 * blocks and patches each file as soon as its copy is done. Before, every
 * copy finished before the first block was planned or written, so one core
 * idled in each phase. Reflinks cost metadata only: they all finish first
 * and the materialiser writes their patches, as before.
 *
 * Files written whole from the journal (absent from the mirror, a failed
 * copy, or rewritten whole) are handed back to the materialiser as "create"
 * tasks: it opens them ahead in the pool (open-ahead.ts), which many small
 * files need. Copies patched here are handed back as tasks with nothing
 * left to write: the materialiser still sets their size and, for a failover,
 * fdatasyncs them.
 */
import { dirname, join } from "node:path";
import type { BlockRequest } from "../journal/build-plan.js";
import { planBlocksInSlices } from "../journal/build-plan.js";
import type { Journal } from "../journal/journal.js";
import { replayNamespace } from "../journal/namespace.js";
import type { PlannedBlock, PlannedEntry } from "../journal/plan.js";
import type { ResolvedPoint } from "../journal/points.js";
import type { Logger } from "../log/logger.js";
import { BlockReader } from "../restore/block-reader.js";
import { eachLimited } from "../restore/durable.js";
import { type FileTask, Pacer, type PatchWrite, writeTask } from "../restore/write-files.js";
import type { BlockHasher } from "../util/hash.js";
import { type BlockRun, blockRuns, blocksOf } from "./block-runs.js";
import { blocksToRewrite, type Changes, changesBetween } from "./changes.js";
import { type CloneFile, copyWholeFile, isCloneUnsupported } from "./clone.js";
import type { MirrorView } from "./materialise.js";

/**
 * Clones or copies in flight: each is one thread-pool call (a reflink's
 * metadata, or a whole file's copy_file_range), so four keep libuv's pool busy.
 */
const CLONE_CONCURRENCY = 4;
/**
 * A clone with more than this fraction of its blocks changed is written
 * whole instead: every patched block of a reflink is a copy-on-write break
 * of a shared extent. A byte copy shares nothing, so it is patched unless
 * nothing of it is left to copy (the copy runs on the other core, while a
 * block from the journal costs this thread a read, a checksum and a hash).
 */
const REWRITE_CLONE_FRACTION = 0.5;

/** Inputs of filesFromMirror. */
export interface FromMirrorOptions {
  readonly journal: Journal;
  readonly hasher: BlockHasher;
  readonly point: ResolvedPoint;
  readonly mirror: MirrorView;
  /** The reflink (or a stand-in); where it is unsupported, files are copied (copyWholeFile). */
  readonly clone: CloneFile;
  readonly logger: Logger;
  /** The drill's target, named when the filesystem cannot clone. */
  readonly target: string;
}

/** What filesFromMirror did: a task for every file, or why the mirror cannot serve. */
export type FromMirror =
  | {
      readonly ok: true;
      /** "clone": reflinks, which share the mirror's extents; "copy": byte copies. */
      readonly method: "clone" | "copy";
      /** Why the files were copied, not cloned. */
      readonly fallback: string | null;
      readonly tasks: Map<PlannedEntry, FileTask>;
      readonly filesCloned: number;
      /** Bytes written from the journal here (the "create" tasks are not written yet). */
      readonly bytesPatched: number;
      readonly mirrorSeq: number;
    }
  | { readonly ok: false; readonly reason: string };

/** How one file is produced. */
interface FilePlan {
  readonly entry: PlannedEntry;
  /** The mirror's copy to clone, or null: written whole from the journal. */
  readonly src: string | null;
  /** Journal blocks to write over the clone; null: the file is written whole. */
  readonly runs: readonly BlockRun[] | null;
}

/**
 * Produces `files` under `tmp` from the mirror, while it holds still
 * (MirrorView.stable), and patches them from the journal (module comment).
 */
export async function filesFromMirror(
  opts: FromMirrorOptions,
  tmp: string,
  files: readonly PlannedEntry[],
): Promise<FromMirror> {
  const { journal, mirror } = opts;
  const held = await mirror.stable(async (m) => {
    if (m === null || m === 0 || m < journal.baseSeq)
      return { ok: false as const, reason: "the mirror is empty or being updated" };
    const pathById = new Map<number, string>();
    for (const [p, e] of replayNamespace(journal.index.nsUpTo(m)))
      if (e.kind === "file") pathById.set(e.fileId, p);
    // A reflink is tried once first: where the filesystem cannot clone, the
    // files are copied instead, in the same work directory (no second
    // skeleton, no second namespace replay). A byte copy needs no probe:
    // any filesystem copies, and a file whose copy fails is written from
    // the journal.
    // What differs is read from the index while the probe runs in the pool.
    const probing = probe(opts, files, pathById, tmp);
    const changes = changesBetween(journal, opts.point.seq, m);
    const { tried, unsupported } = await probing;
    const method: "clone" | "copy" = unsupported === null ? "clone" : "copy";
    const clone = unsupported === null ? opts.clone : copyWholeFile;
    if (unsupported !== null)
      opts.logger.info(
        { reason: unsupported },
        "cannot clone the mirror; copying it and patching from the journal",
      );
    const plans = files.map((e) => planFile(opts, method, e, pathById.get(e.fileId), changes));
    const done = new Map<FilePlan, Promise<boolean>>();
    for (const p of plans) {
      const t = tried.get(p.entry);
      if (t !== undefined) done.set(p, Promise.resolve(t));
    }
    const rest = plans.filter((p) => p.src !== null && !done.has(p));
    const settle = new Map<FilePlan, (ok: boolean) => void>();
    for (const p of rest) done.set(p, new Promise<boolean>((r) => settle.set(p, r)));
    const copies = eachLimited(rest, CLONE_CONCURRENCY, async (p) => {
      try {
        await clone(join(mirror.dir, p.src!), join(tmp, p.entry.path));
        settle.get(p)!(true);
      } catch (err) {
        opts.logger.debug({ err, path: p.entry.path }, "cannot clone from the mirror");
        settle.get(p)!(false);
      }
    });
    // Byte copies: patching starts now, while they run on the pool. Reflinks
    // are metadata (about a millisecond each), so there is nothing to
    // overlap: they finish first and the materialiser writes the patches,
    // as before (on XFS, 1% changed, medians of 10 runs in one process:
    // 15-16 ms so, 18-20 ms patching here). The mirror is released as soon
    // as the last clone or copy is done (patches read only the journal).
    const patching =
      method === "copy"
        ? patchAll(opts, plans, done, tmp, true)
        : copies.then(() => patchAll(opts, plans, done, tmp, false));
    // Awaited below, after the copies: never an unhandled rejection meanwhile.
    patching.catch(() => undefined);
    await copies;
    return { ok: true as const, mirrorSeq: m, method, fallback: unsupported, patching };
  });
  if (!held.ok) return held;
  const { patching, ...rest } = held;
  return { ...rest, ...(await patching) };
}

/**
 * Clones the point's files that the mirror holds, one by one, until one
 * succeeds or the filesystem says it cannot clone (`unsupported`, why);
 * `tried` is what each try did. A file that fails for another reason (gone
 * from the mirror meanwhile) is written from the journal.
 */
async function probe(
  opts: FromMirrorOptions,
  files: readonly PlannedEntry[],
  pathById: ReadonlyMap<number, string>,
  tmp: string,
): Promise<{ tried: Map<PlannedEntry, boolean>; unsupported: string | null }> {
  const tried = new Map<PlannedEntry, boolean>();
  for (const e of files) {
    const src = pathById.get(e.fileId);
    if (src === undefined) continue;
    try {
      await opts.clone(join(opts.mirror.dir, src), join(tmp, e.path));
      tried.set(e, true);
      break;
    } catch (err) {
      if (isCloneUnsupported(err)) {
        const code = (err as NodeJS.ErrnoException).code;
        const unsupported = `${code}: the filesystem of ${opts.mirror.dir} and ${dirname(opts.target)} cannot clone files (reflinks)`;
        return { tried, unsupported };
      }
      opts.logger.debug({ err, path: e.path }, "cannot clone from the mirror");
      tried.set(e, false);
    }
  }
  return { tried, unsupported: null };
}

/** What patchAll did. */
interface Patched {
  readonly tasks: Map<PlannedEntry, FileTask>;
  readonly filesCloned: number;
  readonly bytesPatched: number;
}

function planFile(
  opts: FromMirrorOptions,
  method: "clone" | "copy",
  entry: PlannedEntry,
  src: string | undefined,
  changes: Changes,
): FilePlan {
  if (src === undefined) return { entry, src: null, runs: null };
  const bs = opts.journal.blockSize;
  const nBlocks = Math.ceil(entry.size / bs);
  const blocks = blocksToRewrite(entry, changes, bs);
  const runs = blockRuns(blocks, nBlocks);
  if (method === "clone") {
    // A reflink costs nothing, so even a file rewritten whole is cloned (and counted).
    const whole = blocks.size > nBlocks * REWRITE_CLONE_FRACTION;
    return { entry, src, runs: whole ? null : runs };
  }
  // Nothing of the mirror's copy survives: copying it would be wasted.
  if (nBlocks > 0 && blocksOf(runs, "copy") === 0) return { entry, src: null, runs: null };
  return { entry, src, runs };
}

/**
 * Plans the journal blocks of every file, then takes each file's clone or
 * copy as it is done, in order; returns a task for every file (module
 * comment). `overlapped` (byte copies, still running): each copy is patched
 * here at once; otherwise (reflinks, all done) the patch tasks are returned
 * for the materialiser to write.
 */
async function patchAll(
  opts: FromMirrorOptions,
  plans: readonly FilePlan[],
  done: ReadonlyMap<FilePlan, Promise<boolean>>,
  tmp: string,
  overlapped: boolean,
): Promise<Patched> {
  const { journal, point } = opts;
  const bs = journal.blockSize;
  const request = (p: FilePlan, whole: boolean): BlockRequest => ({
    fileId: p.entry.fileId,
    size: p.entry.size,
    blocks: whole || p.runs === null ? null : writtenBlocks(p.runs),
  });
  const planned = await planBlocksInSlices(
    journal,
    point,
    plans.map((p) => request(p, false)),
  );
  const reader = new BlockReader(journal, opts.hasher);
  const pacer = new Pacer();
  const tasks = new Map<PlannedEntry, FileTask>();
  const failed: number[] = [];
  let filesCloned = 0;
  let bytesPatched = 0;
  for (const [i, p] of plans.entries()) {
    const path = join(tmp, p.entry.path);
    const clone = done.get(p);
    const cloned = clone ? await clone : false;
    if (cloned) filesCloned += 1;
    if (!cloned && p.runs !== null) {
      // Its clone failed: planned again whole below, written by the materialiser.
      failed.push(i);
      continue;
    }
    const create = { kind: "create", path, label: p.entry.path, size: p.entry.size } as const;
    if (p.runs === null) {
      tasks.set(p.entry, { ...create, blocks: planned[i]! });
      continue;
    }
    const writes = patchWrites(p.entry, p.runs, planned[i]!, bs);
    const patch = {
      kind: "patch",
      path,
      label: p.entry.path,
      size: p.entry.size,
      cut: null,
    } as const;
    if (!overlapped) {
      tasks.set(p.entry, { ...patch, writes });
      continue;
    }
    // Written here, while the next files copy; the materialiser still sets
    // the size and, for a failover, fdatasyncs the file.
    tasks.set(p.entry, { ...patch, writes: [] });
    if (writes.length === 0) continue;
    await writeTask({ ...patch, writes }, reader, pacer, (n) => {
      bytesPatched += n;
    });
    // Lets the pool's finished copies start the next ones (their callbacks
    // run on this thread): a patch loop can otherwise run for many files.
    await new Promise<void>((r) => setImmediate(r));
  }
  const again = await planBlocksInSlices(
    journal,
    point,
    failed.map((i) => request(plans[i]!, true)),
  );
  failed.forEach((i, k) => {
    const e = plans[i]!.entry;
    const path = join(tmp, e.path);
    tasks.set(e, { kind: "create", path, label: e.path, size: e.size, blocks: again[k]! });
  });
  return { tasks, filesCloned, bytesPatched };
}

function writtenBlocks(runs: readonly BlockRun[]): Set<number> {
  const s = new Set<number>();
  for (const r of runs)
    if (r.kind === "write") for (let b = r.first; b < r.first + r.count; b++) s.add(b);
  return s;
}

/** The writes over a clone: each block of a write run as it was at the point (zeros past its stored range). */
function patchWrites(
  e: PlannedEntry,
  runs: readonly BlockRun[],
  planned: readonly PlannedBlock[],
  bs: number,
): PatchWrite[] {
  const byOffset = new Map(planned.map((b) => [b.offset, b]));
  const writes: PatchWrite[] = [];
  for (const r of runs) {
    if (r.kind !== "write") continue;
    for (let b = r.first; b < r.first + r.count; b++) {
      const offset = b * bs;
      writes.push({
        offset,
        len: Math.min(bs, e.size - offset),
        block: byOffset.get(offset) ?? null,
      });
    }
  }
  return writes;
}
