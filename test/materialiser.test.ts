/**
 * The one materialiser (src/restore/materialiser.ts) behind restores, drill
 * sandboxes and the mirror: a seeded random history is materialised at every
 * checkpoint by all three users and compared with the model (contents,
 * modes, mtimes, symlinks, empty directories), holes stay holes, and the
 * durability step picks syncfs for many files and fsync for few (or when
 * `sync -f` cannot run).
 */
import { mkdir, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { materialise } from "../src/drill/materialise.js";
import { buildPlan, outlinePlan, planInSlices } from "../src/journal/build-plan.js";
import { silentLogger } from "../src/log/logger.js";
import { Mirror } from "../src/replica/mirror.js";
import { applyPlan } from "../src/restore/apply.js";
import { makeDurable } from "../src/restore/durable.js";
import { materialiseTree } from "../src/restore/materialiser.js";
import { tmpDir } from "./helpers/index.js";
import { openTestJournal, VolumeModel } from "./support/model.js";
import { freshSeed, prng } from "./support/prng.js";
import { diffTrees, readTree } from "./support/tree.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("one materialiser for restore, drill and mirror", () => {
  it("materialises every checkpoint of a random history exactly, through all three users", async () => {
    const seed = freshSeed();
    console.log(`materialiser seed=${seed}`);
    const dir = await tmpDir("pvj-mat-");
    const { journal, hasher } = await openTestJournal(join(dir, "journal"));
    cleanups.push(() => journal.close());
    const rand = prng(seed);
    const model = new VolumeModel(journal, hasher, rand);
    await model.init();
    const mirror = new Mirror(journal, join(dir, "mirror"), hasher, silentLogger());
    await mirror.init();
    const out = join(dir, "out");
    await mkdir(out);
    for (let round = 0; round < 8; round++) {
      const ops = rand.int(5, 40);
      for (let i = 0; i < ops; i++) await model.randomOp();
      const cp = await journal.checkpoint({ label: null, consistency: "crash" });
      const want = model.snapshot();
      const point = { seq: cp.seq, ts: cp.ts, checkpoint: cp.id };

      const restored = join(out, `restore-${round}`);
      await applyPlan({ journal, plan: buildPlan(journal, point), target: restored, hasher });
      expect(
        diffTrees(want, await readTree(restored), { mtimes: true }),
        `restore ${round}`,
      ).toEqual([]);

      const sandbox = join(out, `drill-${round}`);
      const d = await materialise({ journal, hasher, point, target: sandbox, mirror: null });
      expect(d.method).toBe("full");
      expect(diffTrees(want, await readTree(sandbox), { mtimes: true }), `drill ${round}`).toEqual(
        [],
      );

      // The mirror moves forward incrementally (never a rebuild: it is not dirty).
      await mirror.advanceTo(cp.seq);
      expect(mirror.dirty).toBe(false);
      expect(
        diffTrees(want, await readTree(mirror.dir), { mtimes: true }),
        `mirror ${round}`,
      ).toEqual([]);
    }
    // Nothing half-made is left beside the targets.
    expect((await readdir(out)).filter((n) => n.includes("pvj-partial"))).toEqual([]);
  });

  it("plans in slices exactly what the synchronous planner plans", async () => {
    const seed = freshSeed();
    console.log(`materialiser plan seed=${seed}`);
    const { journal, hasher } = await openTestJournal(await tmpDir("pvj-mat-plan-"));
    cleanups.push(() => journal.close());
    const model = new VolumeModel(journal, hasher, prng(seed));
    await model.init();
    for (let i = 0; i < 200; i++) await model.randomOp();
    const cp = await journal.checkpoint({ label: null, consistency: "crash" });
    const point = { seq: cp.seq, ts: cp.ts, checkpoint: cp.id };
    const sliced = await planInSlices(journal, outlinePlan(journal, point));
    expect(sliced).toEqual(buildPlan(journal, point));
    const outline = outlinePlan(journal, point);
    expect(outline.files).toBe(sliced.entries.filter((e) => e.kind === "file").length);
    // The outline counts holes; the plan does not.
    expect(outline.fileBytes).toBeGreaterThanOrEqual(sliced.bytesTotal);
  });

  it("keeps holes as holes and makes the tree durable before the rename", async () => {
    const dir = await tmpDir("pvj-mat-holes-");
    const { journal, hasher } = await openTestJournal(join(dir, "journal"), { blockSize: 4096 });
    cleanups.push(() => journal.close());
    const model = new VolumeModel(journal, hasher, prng(5));
    await model.init();
    // 4 MiB with data only in the first and last block.
    const content = Buffer.alloc(4 * 1024 * 1024);
    content.fill(7, 0, 4096);
    content.fill(9, content.length - 4096);
    await model.createFile("data/sparse", content);
    await model.mkdir("data/many");
    for (let i = 0; i < 70; i++)
      await model.createFile(`data/many/f${i}`, Buffer.from(`file ${i}`));
    const cp = await journal.checkpoint({ label: null, consistency: "crash" });
    const point = { seq: cp.seq, ts: cp.ts, checkpoint: cp.id };
    const target = join(dir, "t");
    const r = await materialiseTree({
      journal,
      hasher,
      plan: buildPlan(journal, point),
      target,
      durable: true,
    });
    expect(r.durableMethod).toBe("fsync");
    const st = await stat(join(target, "data", "sparse"));
    expect(st.size).toBe(content.length);
    expect(st.blocks * 512).toBeLessThan(64 * 1024);
    expect(diffTrees(model.snapshot(), await readTree(target), { mtimes: true })).toEqual([]);
  });

  it("ends every file at its size whether the writes reach it, stop short of it (a zero tail), or pass a shrink", async () => {
    // The writer skips the final ftruncate when the writes already end at
    // the size: every other case must still come out at the exact size.
    const dir = await tmpDir("pvj-mat-sizes-");
    const { journal, hasher } = await openTestJournal(join(dir, "journal"), { blockSize: 4096 });
    cleanups.push(() => journal.close());
    const model = new VolumeModel(journal, hasher, prng(11));
    await model.init();
    const mirror = new Mirror(journal, join(dir, "mirror"), hasher, silentLogger());
    await mirror.init();
    const data = (n: number, fill: number) => Buffer.alloc(n, fill);
    await model.createFile("data/exact", data(3 * 4096, 1));
    await model.createFile("data/partial", data(2 * 4096 + 100, 2));
    const zeroTail = Buffer.concat([data(4096, 3), Buffer.alloc(2 * 4096 + 10)]);
    await model.createFile("data/zero-tail", zeroTail);
    await model.createFile("data/grows", data(4096, 4));
    await model.createFile("data/shrinks", data(4 * 4096, 5));
    const check = async (round: string) => {
      const cp = await journal.checkpoint({ label: null, consistency: "crash" });
      const point = { seq: cp.seq, ts: cp.ts, checkpoint: cp.id };
      const want = model.snapshot();
      const target = join(dir, `restore-${round}`);
      await applyPlan({ journal, plan: buildPlan(journal, point), target, hasher });
      expect(diffTrees(want, await readTree(target), { mtimes: true }), round).toEqual([]);
      // The mirror patches its existing files in place (cut, writes, size).
      await mirror.advanceTo(cp.seq);
      expect(diffTrees(want, await readTree(mirror.dir), { mtimes: true }), round).toEqual([]);
    };
    await check("created");
    // Grows past its data with zeros only (the patch writes nothing at the end),
    // shrinks into a block, and the zero tail gets longer.
    await model.truncate("data/grows", 5 * 4096 + 7);
    await model.truncate("data/shrinks", 4096 + 1);
    await model.truncate("data/zero-tail", 6 * 4096);
    await check("resized");
    expect((await stat(join(dir, "restore-resized", "data", "grows"))).size).toBe(5 * 4096 + 7);
    expect((await stat(join(mirror.dir, "data", "shrinks"))).size).toBe(4096 + 1);
  });

  it("fsyncs file by file, syncfs only for very large trees (and not when sync -f cannot run)", async () => {
    const dir = await tmpDir("pvj-mat-durable-");
    const few = [join(dir, "a"), join(dir, "b")];
    for (const f of few) await writeFile(f, "x");
    expect(await makeDurable(dir, few, [dir])).toBe("fsync");
    const many = Array.from({ length: 80 }, (_, i) => join(dir, `m${i}`));
    for (const f of many) await writeFile(f, "y");
    expect(await makeDurable(dir, many, [dir])).toBe("fsync");
    expect(await makeDurable(dir, many, [dir], 64)).toBe("syncfs");
    const path = process.env.PATH;
    process.env.PATH = join(dir, "no-such-bin");
    try {
      expect(await makeDurable(dir, many, [dir], 64)).toBe("fsync");
    } finally {
      process.env.PATH = path;
    }
  });
});
