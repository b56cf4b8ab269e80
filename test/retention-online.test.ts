/**
 * Retention writes its base without the journal's exclusive lock: capture and
 * checkpoints go on meanwhile (measured: checkpoints completed during the
 * pass), writes that deduplicate against blobs of the segments being dropped
 * keep their data, every point still restores byte-exact, the journal
 * verifies, and a reader that pins a point before the cut meanwhile makes
 * the pass give up instead of folding it away.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runRetention } from "../src/journal/retention.js";
import { verifyJournal } from "../src/journal/verify.js";
import { prepareRestore, runRestore } from "../src/restore/restore.js";
import { tmpDir } from "./helpers/index.js";
import { openTestJournal, VolumeModel } from "./support/model.js";
import { prng } from "./support/prng.js";
import { diffTrees, readTree, type TreeEntry } from "./support/tree.js";

const HOUR = 3_600_000;
const BS = 4096;

async function history(seed: number) {
  const dir = await tmpDir("pvj-ret-online-");
  let now = Date.now() - 3 * HOUR;
  const { journal, hasher } = await openTestJournal(join(dir, "journal"), {
    blockSize: BS,
    segmentSize: 1024 * 1024,
    clock: () => now,
  });
  const model = new VolumeModel(journal, hasher, prng(seed));
  await model.init();
  const big = model.rand.bytes(6 * 1024 * 1024);
  await model.createFile("data/big", big);
  for (let i = 0; i < 30; i++) await model.randomOp();
  await journal.checkpoint({ label: "old", consistency: "crash" });
  await model.remove("data/big"); // its blobs now live only in old segments
  await journal.checkpoint({ label: "old2", consistency: "crash" });
  now += 2 * HOUR;
  return { dir, journal, hasher, model, big, now: () => now, tick: () => (now += 1000) };
}

async function restoresTo(
  h: Awaited<ReturnType<typeof history>>,
  cp: number,
  want: Map<string, TreeEntry>,
) {
  const target = join(h.dir, "restores", `cp${cp}`);
  const prepared = await prepareRestore(
    h.journal,
    { point: { checkpoint: cp }, target, paths: null },
    { allowedRoots: null, forbidden: [] },
    h.now(),
  );
  await runRestore(h.journal, h.hasher, prepared);
  return diffTrees(want, await readTree(target), { mtimes: true });
}

describe("retention outside the exclusive lock", () => {
  it("checkpoints complete while the base is written; deduplicated late writes keep their blobs", async () => {
    const h = await history(77);
    try {
      let done = false;
      const started = performance.now();
      const pass = runRetention(h.journal, {
        retention: HOUR,
        now: h.now(),
        hasher: h.hasher,
      }).finally(() => {
        done = true;
      });
      const during: { id: number; tree: Map<string, TreeEntry>; ms: number }[] = [];
      let i = 0;
      while (!done) {
        h.tick();
        // Same bytes as blocks of the removed big file: deduplicated against dropped segments.
        await h.model.createFile(`data/copy-${i}`, h.big.subarray(i * 8 * BS, (i + 1) * 8 * BS));
        const t0 = performance.now();
        const cp = await h.journal.checkpoint({ label: `during-${i}`, consistency: "crash" });
        if (!done) during.push({ id: cp.id, tree: h.model.snapshot(), ms: performance.now() - t0 });
        i++;
      }
      const result = await pass;
      const passMs = performance.now() - started;
      const worst = Math.max(...during.map((d) => d.ms));
      console.log(
        `retention pass ${passMs.toFixed(0)} ms; ${during.length} checkpoints completed during it, slowest ${worst.toFixed(1)} ms`,
      );
      expect(result.baseSeq).not.toBeNull();
      expect(result.removedSegments.length).toBeGreaterThan(0);
      expect(during.length).toBeGreaterThan(0);
      expect(h.journal.pinCount).toBe(0);
      const report = await verifyJournal(h.journal, h.hasher);
      expect(report.problems).toEqual([]);
      // A sample of the points taken during the pass (each restore reads the whole volume).
      const step = Math.max(1, Math.floor(during.length / 8));
      for (const d of during.filter((_, k) => k % step === 0 || k === during.length - 1))
        expect(await restoresTo(h, d.id, d.tree), `cp ${d.id}`).toEqual([]);
      const last = await h.journal.checkpoint({ label: "last", consistency: "crash" });
      expect(await restoresTo(h, last.id, h.model.snapshot())).toEqual([]);
    } finally {
      await h.journal.close();
    }
    // A 15-20 s pass, then up to 9 whole-volume restores: ~40 s idle on 2 cores, more under load.
  }, 120_000);

  it("gives up when a reader pins a point before the cut while the base is written", async () => {
    const h = await history(78);
    try {
      const baseBefore = h.journal.baseSeq;
      const pass = runRetention(h.journal, { retention: HOUR, now: h.now(), hasher: h.hasher });
      // Wait until phase 2 has started (the temporary base exists), then pin an old point.
      while (!readdirSync(h.journal.dir).some((n) => n.endsWith(".tmp")))
        await new Promise((r) => setImmediate(r));
      const release = h.journal.pin(1);
      const result = await pass;
      expect(result.baseSeq).toBeNull();
      expect(result.reason).toMatch(/pinned seq 1/);
      expect(h.journal.baseSeq).toBe(baseBefore);
      expect(readdirSync(h.journal.dir).filter((n) => n.endsWith(".tmp"))).toEqual([]);
      release();
      const again = await runRetention(h.journal, {
        retention: HOUR,
        now: h.now(),
        hasher: h.hasher,
      });
      expect(again.baseSeq).not.toBeNull();
      expect((await verifyJournal(h.journal, h.hasher)).problems).toEqual([]);
      expect(existsSync(h.journal.dir)).toBe(true);
    } finally {
      await h.journal.close();
    }
  });
});
