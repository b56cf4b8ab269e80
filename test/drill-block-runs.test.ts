/**
 * blockRuns: which blocks of a file a drill copies from the mirror and which
 * it writes from the journal, as runs, checked against a per-block model.
 */
import { describe, expect, it } from "vitest";
import { type BlockRun, blockRuns, blocksOf } from "../src/drill/block-runs.js";
import { freshSeed, prng } from "./support/prng.js";

/** The model: one answer per block. */
function perBlock(runs: readonly BlockRun[]): ("copy" | "write")[] {
  const out: ("copy" | "write")[] = [];
  for (const r of runs) for (let i = 0; i < r.count; i++) out.push(r.kind);
  return out;
}

describe("blockRuns", () => {
  it("splits a file at the changed blocks, runs at its start and end included", () => {
    expect(blockRuns([0, 1, 5, 9], 10)).toEqual([
      { kind: "write", first: 0, count: 2 },
      { kind: "copy", first: 2, count: 3 },
      { kind: "write", first: 5, count: 1 },
      { kind: "copy", first: 6, count: 3 },
      { kind: "write", first: 9, count: 1 },
    ]);
    expect(blockRuns([3], 10)).toEqual([
      { kind: "copy", first: 0, count: 3 },
      { kind: "write", first: 3, count: 1 },
      { kind: "copy", first: 4, count: 6 },
    ]);
  });

  it("a file with every block changed is one write run, with none one copy run", () => {
    expect(blockRuns([3, 0, 2, 1], 4)).toEqual([{ kind: "write", first: 0, count: 4 }]);
    expect(blockRuns([], 4)).toEqual([{ kind: "copy", first: 0, count: 4 }]);
    expect(blockRuns([], 0)).toEqual([]);
  });

  it("ignores blocks past the end (written before a shrink) and duplicates", () => {
    expect(blockRuns([1, 1, 7, 4, 100], 5)).toEqual([
      { kind: "copy", first: 0, count: 1 },
      { kind: "write", first: 1, count: 1 },
      { kind: "copy", first: 2, count: 2 },
      { kind: "write", first: 4, count: 1 },
    ]);
    expect(blockRuns([5, 6], 5)).toEqual([{ kind: "copy", first: 0, count: 5 }]);
  });

  it("covers every block exactly once, writes exactly the changed ones, in maximal runs (seeded)", () => {
    const seed = freshSeed();
    console.log(`block-runs seed=${seed}`);
    const rand = prng(seed);
    for (let round = 0; round < 500; round++) {
      const nBlocks = rand.int(0, 300);
      const density = rand.next();
      const changed: number[] = [];
      for (let b = 0; b < nBlocks + 20; b++) if (rand.chance(density)) changed.push(b);
      // Some duplicates, in any order: the index may answer them so.
      for (let k = rand.int(0, 5); k > 0 && changed.length > 0; k--)
        changed.push(rand.pick(changed));
      changed.sort(() => rand.next() - 0.5);
      const runs = blockRuns(changed, nBlocks);
      const want = Array.from({ length: nBlocks }, (_, b) =>
        changed.includes(b) ? "write" : "copy",
      );
      const msg = `seed=${seed} round=${round}`;
      expect(perBlock(runs), msg).toEqual(want);
      // In order, contiguous, non-empty, and maximal (neighbours differ).
      let next = 0;
      for (const [i, r] of runs.entries()) {
        expect(r.first, msg).toBe(next);
        expect(r.count, msg).toBeGreaterThan(0);
        if (i > 0) expect(runs[i - 1]!.kind, msg).not.toBe(r.kind);
        next += r.count;
      }
      expect(next, msg).toBe(nBlocks);
      expect(blocksOf(runs, "write"), msg).toBe(want.filter((k) => k === "write").length);
      expect(blocksOf(runs, "copy"), msg).toBe(want.filter((k) => k === "copy").length);
    }
  });
});
