/**
 * What a drill from the mirror does with each block of a file, as runs: a
 * "copy" run comes from the mirror's copy of the file, a "write" run from the
 * journal (the blocks that differ between the point and the mirror). Pure:
 * the I/O (from-mirror.ts) follows the runs, the tests check them.
 */

/** Blocks `first` .. `first + count - 1` of a file, all taken the same way. */
export interface BlockRun {
  readonly kind: "copy" | "write";
  readonly first: number;
  readonly count: number;
}

/**
 * Splits blocks [0, nBlocks) into maximal runs, in block order: "write" where
 * `changed` holds the block, "copy" elsewhere. Block numbers at or past
 * `nBlocks` (written before a shrink) and duplicates are ignored.
 */
export function blockRuns(changed: Iterable<number>, nBlocks: number): BlockRun[] {
  const sorted = [...new Set(changed)].filter((b) => b >= 0 && b < nBlocks).sort((x, y) => x - y);
  const runs: BlockRun[] = [];
  let next = 0;
  let i = 0;
  while (i < sorted.length) {
    const first = sorted[i]!;
    let end = first + 1;
    while (i + 1 < sorted.length && sorted[i + 1] === end) {
      end += 1;
      i += 1;
    }
    i += 1;
    if (first > next) runs.push({ kind: "copy", first: next, count: first - next });
    runs.push({ kind: "write", first, count: end - first });
    next = end;
  }
  if (next < nBlocks) runs.push({ kind: "copy", first: next, count: nBlocks - next });
  return runs;
}

/** Blocks the runs of `kind` cover. */
export function blocksOf(runs: readonly BlockRun[], kind: BlockRun["kind"]): number {
  let n = 0;
  for (const r of runs) if (r.kind === kind) n += r.count;
  return n;
}
