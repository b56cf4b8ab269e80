/**
 * What differs between a point P and the mirror's position M: the blocks
 * written in (min(P,M), max(P,M)] by file, and the smallest size a shrink in
 * that interval cut each file to. A clone or copy of the mirror's file needs
 * exactly those blocks rewritten (and the tail from that size on).
 */
import type { Journal } from "../journal/journal.js";
import type { PlannedEntry } from "../journal/plan.js";

/** Blocks written in (min(P,M), max(P,M)] by file, and the smallest size a shrink there cut each file to. */
export interface Changes {
  readonly changed: ReadonlyMap<number, ReadonlySet<number>>;
  readonly sizes: ReadonlyMap<number, number | null>;
}

export function changesBetween(journal: Journal, p: number, m: number): Changes {
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
export function blocksToRewrite(
  e: PlannedEntry,
  { changed, sizes }: Changes,
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
