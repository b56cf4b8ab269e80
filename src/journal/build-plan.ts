import type { Journal } from "./journal.js";
import type { NsEntry } from "./namespace.js";
import { replayNamespace } from "./namespace.js";
import {
  type BlockVersion,
  effectiveBlocks,
  type PlannedEntry,
  planBytes,
  type RestorePlan,
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

/** One entry's attributes, block versions and shrinks at the point. */
function planEntry(journal: Journal, point: ResolvedPoint, e: OutlineEntry): PlannedEntry {
  const ix = journal.index;
  const bs = journal.blockSize;
  const attr = ix.attrAt(e.fileId, point.seq);
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
  const versions: BlockVersion[] = [];
  const nBlocks = Math.ceil(e.size / bs);
  for (let b = 0; b < nBlocks; b++) {
    const v = ix.blockAt(e.fileId, b, point.seq);
    if (v) versions.push(v);
  }
  const shrinks = ix.shrinksUpTo(e.fileId, point.seq);
  return { ...base, size: e.size, blocks: effectiveBlocks(versions, shrinks, e.size, bs) };
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
  const entries: PlannedEntry[] = [];
  let slice = performance.now();
  for (const e of outline.entries) {
    if (performance.now() - slice >= PLAN_SLICE_MS) {
      await new Promise<void>((r) => setImmediate(r));
      signal?.throwIfAborted();
      slice = performance.now();
    }
    entries.push(planEntry(journal, outline.point, e));
  }
  return toPlan(outline.point, entries);
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
  const outline = outlinePlan(journal, point, paths);
  return toPlan(
    point,
    outline.entries.map((e) => planEntry(journal, point, e)),
  );
}
