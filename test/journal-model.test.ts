import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Journal } from "../src/journal/journal.js";
import { type Point, resolvePoint } from "../src/journal/points.js";
import { applyPlan } from "../src/restore/apply.js";
import { buildPlan } from "../src/restore/build-plan.js";
import type { BlockHasher } from "../src/util/hash.js";
import { openTestJournal, VolumeModel } from "./support/model.js";
import { freshSeed, prng } from "./support/prng.js";
import { diffTrees, readTree, type TreeEntry } from "./support/tree.js";

const dirs: string[] = [];
const journals: Journal[] = [];
afterEach(async () => {
  for (const j of journals.splice(0)) await j.close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "pvj-model-"));
  dirs.push(d);
  return d;
}

async function restoreAndCompare(
  journal: Journal,
  hasher: BlockHasher,
  point: Point,
  want: Map<string, TreeEntry>,
  now: number,
) {
  const target = join(await tmp(), "restore");
  const resolved = resolvePoint(journal, point, now);
  await applyPlan({ journal, plan: buildPlan(journal, resolved), target, hasher });
  const got = await readTree(target);
  return diffTrees(want, got, { mtimes: true, dirMtimes: true });
}

describe("journal model-based restore", () => {
  it("restores checkpoint, seq and at points byte for byte", async () => {
    const seed = freshSeed();
    console.log(`journal model seed=${seed}`);
    const rand = prng(seed);
    let now = 1_800_000_000_000;
    const { journal, hasher } = await openTestJournal(await tmp(), { clock: () => (now += 1000) });
    journals.push(journal);
    const model = new VolumeModel(journal, hasher, rand);
    await model.init();
    const snaps: { seq: number; ts: number; cp: number; tree: Map<string, TreeEntry> }[] = [];
    for (let i = 0; i < 1500; i++) {
      await model.randomOp();
      if (rand.chance(0.03)) {
        const cp = await journal.checkpoint({ label: `s${i}`, consistency: "crash" });
        snaps.push({ seq: cp.seq, ts: cp.ts, cp: cp.id, tree: model.snapshot() });
      }
    }
    const cp = await journal.checkpoint({ label: "final", consistency: "crash" });
    snaps.push({ seq: cp.seq, ts: cp.ts, cp: cp.id, tree: model.snapshot() });
    expect(snaps.length).toBeGreaterThan(5);
    for (const s of snaps) {
      const kind = rand.pick(["checkpoint", "seq", "at"] as const);
      const point: Point =
        kind === "checkpoint"
          ? { checkpoint: s.cp }
          : kind === "seq"
            ? { seq: s.seq }
            : { at: s.ts + 500 };
      const diff = await restoreAndCompare(journal, hasher, point, s.tree, now + 10_000);
      expect(diff, `seed=${seed} point=${JSON.stringify(point)}`).toEqual([]);
    }
  });
});
