import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { buildPlan } from "../src/journal/build-plan.js";
import { INDEX_FILE, Journal } from "../src/journal/journal.js";
import { type Point, resolvePoint } from "../src/journal/points.js";
import { chooseRetention, runRetention } from "../src/journal/retention.js";
import { applyPlan } from "../src/restore/apply.js";
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

  it("keeps every point inside the window restorable after retention, also after an index rebuild", async () => {
    const seed = freshSeed();
    console.log(`journal retention seed=${seed}`);
    const rand = prng(seed);
    let now = 1_800_000_000_000;
    const dir = await tmp();
    const { journal, hasher } = await openTestJournal(dir, {
      clock: () => (now += 1000),
      segmentSize: 64 * 1024,
    });
    const model = new VolumeModel(journal, hasher, rand);
    await model.init();
    const snaps: { seq: number; ts: number; cp: number; tree: Map<string, TreeEntry> }[] = [];
    for (let i = 0; i < 800; i++) {
      await model.randomOp();
      if (rand.chance(0.05)) {
        const cp = await journal.checkpoint({ label: null, consistency: "crash" });
        snaps.push({ seq: cp.seq, ts: cp.ts, cp: cp.id, tree: model.snapshot() });
      }
    }
    const before = journal.segments().length;
    const mid = snaps[Math.floor(snaps.length / 2)]!;
    const result = await runRetention(journal, {
      retention: now - mid.ts + 1,
      now: now + 1,
      hasher,
    });
    expect(result.baseSeq, result.reason).not.toBeNull();
    expect(result.removedSegments.length).toBeGreaterThan(0);
    expect(journal.segments().length).toBeLessThan(before);
    const check = async (j: Journal) => {
      for (const s of snaps) {
        if (s.seq >= result.baseSeq!) {
          const diff = await restoreAndCompare(
            j,
            hasher,
            { checkpoint: s.cp },
            s.tree,
            now + 10_000,
          );
          expect(diff, `seed=${seed} cp=${s.cp}`).toEqual([]);
        } else {
          expect(() => resolvePoint(j, { checkpoint: s.cp }, now)).toThrow(/not found|older/);
          expect(() => resolvePoint(j, { at: s.ts }, now + 2)).toThrow(/before the oldest/);
        }
      }
    };
    await check(journal);
    // More history after the fold, then a rebuild of the index from the segments alone.
    for (let i = 0; i < 100; i++) await model.randomOp();
    const cp = await journal.checkpoint({ label: "after", consistency: "crash" });
    snaps.push({ seq: cp.seq, ts: cp.ts, cp: cp.id, tree: model.snapshot() });
    await journal.close();
    await rm(join(dir, INDEX_FILE));
    await rm(join(dir, `${INDEX_FILE}-wal`), { force: true });
    await rm(join(dir, `${INDEX_FILE}-shm`), { force: true });
    const reopened = await Journal.open({ dir });
    journals.push(reopened);
    expect(reopened.lastSeq).toBe(cp.seq);
    await check(reopened);
  });
});

describe("retention choice (pure)", () => {
  const seg = (id: number, kind: number, first: number, last: number) => ({
    id,
    name: `s${id}`,
    kind,
    first_seq: first,
    last_seq: last,
    bytes: 100,
  });
  const segments = [seg(1, 0, 1, 100), seg(2, 0, 101, 200), seg(3, 0, 201, 300)];
  it.each([
    [
      "nothing older than the window",
      { cutoffByTime: 0, keepAfterSeq: undefined, baseSeq: 0 },
      null,
    ],
    [
      "frees the whole segments before the cut",
      { cutoffByTime: 250, keepAfterSeq: undefined, baseSeq: 0 },
      [1, 2],
    ],
    [
      "an unacknowledged replica holds the cut back",
      { cutoffByTime: 250, keepAfterSeq: 150, baseSeq: 0 },
      [1],
    ],
    [
      "a replica that acknowledged nothing holds everything",
      { cutoffByTime: 250, keepAfterSeq: 0, baseSeq: 0 },
      null,
    ],
    [
      "no whole segment before the cut",
      { cutoffByTime: 50, keepAfterSeq: undefined, baseSeq: 0 },
      null,
    ],
    [
      "never the active segment",
      { cutoffByTime: 400, keepAfterSeq: undefined, baseSeq: 0 },
      [1, 2],
    ],
  ])("%s", (_name, input, dropped) => {
    const r = chooseRetention({ ...input, activeSegmentId: 3, segments });
    if (dropped === null) expect("reason" in r).toBe(true);
    else expect("drop" in r ? r.drop.map((s) => s.id) : r).toEqual(dropped);
  });
});
