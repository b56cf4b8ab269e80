import type { LocatedBlockRow } from "./index-db.js";
import type { Journal } from "./journal.js";
import type { NsEntry } from "./namespace.js";
import { replayNamespace } from "./namespace.js";
import {
  type BlobLocation,
  type BlockVersion,
  effectiveBlocks,
  type PlannedBlock,
  type PlannedEntry,
  planBytes,
  type RestorePlan,
  type Shrink,
  selectEntries,
  sortByPath,
} from "./plan.js";
import type { ResolvedPoint } from "./points.js";

/** The cheap first half of a plan: which entries a point has, and their sizes. */
export interface PlanOutline {
  readonly point: ResolvedPoint;
  readonly entries: readonly (NsEntry & { readonly path: string; readonly size: number })[];
  /** Regular files in the outline. */
  readonly files: number;
  /** Sum of file sizes: the bytes to write, holes included (the plan's bytesTotal excludes them). */
  readonly fileBytes: number;
}

/**
 * Replays the namespace up to the point and looks up each file's size: one
 * indexed lookup per entry. A restore job answers with this at once and
 * plans the blocks (one lookup per block) inside the job.
 */
export function outlinePlan(
  journal: Journal,
  point: ResolvedPoint,
  paths: readonly string[] | null = null,
): PlanOutline {
  // One read transaction: one snapshot, and SQLite's read lock taken once.
  return journal.index.tx(() => outlineIn(journal, point, paths));
}

function outlineIn(
  journal: Journal,
  point: ResolvedPoint,
  paths: readonly string[] | null,
): PlanOutline {
  const ix = journal.index;
  const tree = replayNamespace(ix.nsUpTo(point.seq));
  let files = 0;
  let fileBytes = 0;
  const entries = selectEntries(
    [...tree].map(([path, e]) => ({ path, ...e })),
    paths,
  ).map((e) => {
    if (e.kind !== "file") return { ...e, size: 0 };
    const size = ix.sizeAt(e.fileId, point.seq)?.size ?? 0;
    files += 1;
    fileBytes += size;
    return { ...e, size };
  });
  return { point, entries, files, fileBytes };
}

/** A planner yields to the event loop after this long (ms), so the daemon keeps answering. */
const PLAN_SLICE_MS = 20;

type OutlineEntry = PlanOutline["entries"][number];

/** One entry's attributes, block versions and shrinks at the point (`blocks`: false leaves them out). */
function planEntry(
  journal: Journal,
  point: ResolvedPoint,
  e: OutlineEntry,
  blocks = true,
): PlannedEntry {
  const attr = journal.index.attrAt(e.fileId, point.seq);
  const base = {
    path: e.path,
    kind: e.kind,
    fileId: e.fileId,
    mode: attr?.mode ?? 0o644,
    mtimeMs: attr?.mtime ?? point.ts,
  };
  if (e.kind !== "file") {
    return {
      ...base,
      ...(e.target !== undefined ? { target: e.target } : {}),
      size: 0,
      blocks: [],
    };
  }
  return { ...base, size: e.size, blocks: blocks ? fileBlocks(journal, point, e, null) : [] };
}

/**
 * The planned blocks of a file at the point: every block, or only those in
 * `only` (block numbers), each cut by the shrinks after it as a whole-file
 * plan would cut it. Call inside a read transaction.
 */
function fileBlocks(
  journal: Journal,
  point: ResolvedPoint,
  e: { readonly fileId: number; readonly size: number },
  only: ReadonlySet<number> | null,
): PlannedBlock[] {
  const ix = journal.index;
  const nBlocks = Math.ceil(e.size / journal.blockSize);
  // One statement per block: locatedBlocksIn over the whole file measured no
  // faster end to end (its rows cost what the calls saved); chunks use it.
  const wanted = only === null ? null : [...only].filter((b) => b < nBlocks).sort((x, y) => x - y);
  const count = wanted === null ? nBlocks : wanted.length;
  const rows: LocatedBlockRow[] = [];
  for (let i = 0; i < count; i++) {
    const row = ix.locatedBlockAt(e.fileId, wanted === null ? i : wanted[i]!, point.seq);
    if (row) rows.push(row);
  }
  const shrinks = ix.shrinksUpTo(e.fileId, point.seq);
  return effectiveBlocks(versionsOf(rows), shrinks, e.size, journal.blockSize);
}

/**
 * The planned blocks [from, to) of a file at the point, with one range
 * statement: what a whole-file plan holds for those blocks (`shrinks`:
 * the file's shrinks up to the point, oldest first). Call inside a read
 * transaction.
 */
export function fileBlockRange(
  journal: Journal,
  point: ResolvedPoint,
  e: { readonly fileId: number; readonly size: number },
  from: number,
  to: number,
  shrinks: readonly Shrink[],
): PlannedBlock[] {
  const rows = journal.index.locatedBlocksIn(e.fileId, from, to, point.seq);
  return effectiveBlocks(versionsOf(rows), shrinks, e.size, journal.blockSize);
}

/** Index rows as block versions with their blob locations. */
function versionsOf(rows: readonly LocatedBlockRow[]): BlockVersion[] {
  const versions: BlockVersion[] = [];
  let prev = null as BlobLocation | null;
  for (const row of rows) {
    const [block, seq, len, hash, segmentId, offset, storedLen, segment] = row;
    // No location: the index lost the blob; the read looks it up by hash (and reports it).
    let loc: BlobLocation | undefined;
    if (segmentId !== null && offset !== null && storedLen !== null && segment !== null) {
      if (prev?.offset === offset && prev.segmentId === segmentId && prev.segment === segment)
        // Runs of one hash (a zero-filled region) share one location object.
        loc = prev;
      else {
        // The segment's name string is shared too: the row's copy dies young.
        const name = prev?.segment === segment ? prev.segment : segment;
        loc = prev = { segmentId, segment: name, offset, len: storedLen };
      }
    }
    versions.push(loc ? { block, seq, len, hash, loc } : { block, seq, len, hash });
  }
  return versions;
}

function toPlan(point: ResolvedPoint, entries: PlannedEntry[]): RestorePlan {
  sortByPath(entries);
  return { seq: point.seq, ts: point.ts, entries, bytesTotal: planBytes(entries) };
}

/**
 * Completes an outline into a plan in slices of PLAN_SLICE_MS, yielding to
 * the event loop between them (100k files take seconds: a restore job plans
 * while the daemon keeps answering). An aborted `signal` stops it between slices.
 */
export async function planInSlices(
  journal: Journal,
  outline: PlanOutline,
  signal?: AbortSignal,
): Promise<RestorePlan> {
  const entries = await inSlices(journal, outline.entries, signal, (e) =>
    planEntry(journal, outline.point, e),
  );
  return toPlan(outline.point, entries);
}

/**
 * A plan without file blocks: every entry with its attributes and size, and
 * `blocks` empty (one lookup per entry instead of one per block). Only for a
 * materialiser that plans the blocks it writes itself (planBlocksInSlices):
 * written as it is, every file would come out as a hole.
 */
export async function planAttributesInSlices(
  journal: Journal,
  outline: PlanOutline,
  signal?: AbortSignal,
): Promise<RestorePlan> {
  const entries = await inSlices(journal, outline.entries, signal, (e) =>
    planEntry(journal, outline.point, e, false),
  );
  return toPlan(outline.point, entries);
}

/** Files whose blocks to plan: all of them (`blocks` null) or only the block numbers given. */
export interface BlockRequest {
  readonly fileId: number;
  readonly size: number;
  readonly blocks: ReadonlySet<number> | null;
}

/**
 * The planned blocks at `point` of each request, in request order, planned
 * in slices as planInSlices plans: what a drill from a mirror needs for the
 * blocks that differ from the mirror and the files it cannot clone, so its
 * planning grows with those, not with the volume.
 */
export function planBlocksInSlices(
  journal: Journal,
  point: ResolvedPoint,
  requests: readonly BlockRequest[],
  signal?: AbortSignal,
): Promise<PlannedBlock[][]> {
  return inSlices(journal, requests, signal, (r) => fileBlocks(journal, point, r, r.blocks));
}

/** `plan` of every item in order, in read transactions of PLAN_SLICE_MS with a yield between. */
async function inSlices<T, R>(
  journal: Journal,
  all: readonly T[],
  signal: AbortSignal | undefined,
  plan: (item: T) => R,
): Promise<R[]> {
  const out: R[] = [];
  let i = 0;
  while (i < all.length) {
    // One read transaction per slice: SQLite then takes its read lock once,
    // not per statement (32k block lookups: 160-310 ms instead of 310-490).
    journal.index.tx(() => {
      const slice = performance.now();
      while (i < all.length && performance.now() - slice < PLAN_SLICE_MS) out.push(plan(all[i++]!));
    });
    if (i < all.length) {
      await new Promise<void>((r) => setImmediate(r));
      signal?.throwIfAborted();
    }
  }
  return out;
}

/** A plan whose `chunked` file entries have no blocks yet: plannedChunks plans them as they are written. */
export interface ChunkedPlan {
  readonly plan: RestorePlan;
  readonly chunked: ReadonlySet<PlannedEntry>;
}

/**
 * buildPlan, except that files of more than `chunkBlocks` blocks are left
 * without blocks (chunked-plan.ts plans them while they are written). The
 * plan's bytesTotal counts such a file at its size, holes included, as the
 * materialiser's progress then does.
 */
export function buildChunkedPlan(
  journal: Journal,
  point: ResolvedPoint,
  paths: readonly string[] | null,
  chunkBlocks: number,
): ChunkedPlan {
  const split = splitter(journal, point, chunkBlocks);
  const entries = journal.index.tx(() => outlineIn(journal, point, paths).entries.map(split.plan));
  return split.done(toPlan(point, entries));
}

/** buildChunkedPlan of an outline in slices, as planInSlices plans (a restore job). */
export async function planChunkedInSlices(
  journal: Journal,
  outline: PlanOutline,
  chunkBlocks: number,
  signal?: AbortSignal,
): Promise<ChunkedPlan> {
  const split = splitter(journal, outline.point, chunkBlocks);
  const entries = await inSlices(journal, outline.entries, signal, split.plan);
  return split.done(toPlan(outline.point, entries));
}

/** Plans entries, leaving files of more than `chunkBlocks` blocks without blocks, and collects those. */
function splitter(journal: Journal, point: ResolvedPoint, chunkBlocks: number) {
  const chunked = new Set<PlannedEntry>();
  return {
    plan: (e: OutlineEntry): PlannedEntry => {
      const later = e.kind === "file" && Math.ceil(e.size / journal.blockSize) > chunkBlocks;
      const p = planEntry(journal, point, e, !later);
      if (later) chunked.add(p);
      return p;
    },
    done: (plan: RestorePlan): ChunkedPlan => {
      let later = 0;
      for (const e of chunked) later += e.size;
      return { plan: { ...plan, bytesTotal: plan.bytesTotal + later }, chunked };
    },
  };
}

/**
 * Reads what a point needs from the index and hands it to the pure planner,
 * synchronously. Cost: one replay of namespace events, then one indexed
 * lookup per block of each live file (log n each), so planning grows with
 * volume size x log(history).
 */
export function buildPlan(
  journal: Journal,
  point: ResolvedPoint,
  paths: readonly string[] | null = null,
): RestorePlan {
  return journal.index.tx(() => {
    const outline = outlineIn(journal, point, paths);
    return toPlan(
      point,
      outline.entries.map((e) => planEntry(journal, point, e)),
    );
  });
}
