import type { Journal } from "./journal.js";
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

/**
 * Reads what a point needs from the index and hands it to the pure planner.
 * Cost: one replay of namespace events, then one indexed lookup per block of
 * each live file (log n each), so planning grows with volume size x log(history).
 */
export function buildPlan(
  journal: Journal,
  point: ResolvedPoint,
  paths: readonly string[] | null = null,
): RestorePlan {
  const ix = journal.index;
  const bs = journal.blockSize;
  const tree = replayNamespace(ix.nsUpTo(point.seq));
  const live = selectEntries(
    [...tree].map(([path, e]) => ({ path, ...e })),
    paths,
  );
  const entries: PlannedEntry[] = [];
  for (const e of live) {
    const attr = ix.attrAt(e.fileId, point.seq);
    const base = {
      path: e.path,
      kind: e.kind,
      fileId: e.fileId,
      mode: attr?.mode ?? 0o644,
      mtimeMs: attr?.mtime ?? point.ts,
    };
    if (e.kind !== "file") {
      entries.push({
        ...base,
        ...(e.target !== undefined ? { target: e.target } : {}),
        size: 0,
        blocks: [],
      });
      continue;
    }
    const size = ix.sizeAt(e.fileId, point.seq)?.size ?? 0;
    const versions: BlockVersion[] = [];
    const nBlocks = Math.ceil(size / bs);
    for (let b = 0; b < nBlocks; b++) {
      const v = ix.blockAt(e.fileId, b, point.seq);
      if (v) versions.push(v);
    }
    const shrinks = ix.shrinksUpTo(e.fileId, point.seq);
    entries.push({ ...base, size, blocks: effectiveBlocks(versions, shrinks, size, bs) });
  }
  sortByPath(entries);
  return { seq: point.seq, ts: point.ts, entries, bytesTotal: planBytes(entries) };
}
