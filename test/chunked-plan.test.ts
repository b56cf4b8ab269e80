/**
 * Planning a large file's blocks in chunks while it is written
 * (src/journal/chunked-plan.ts) and the one range statement per chunk
 * (locatedBlocksIn): the chunks of every file, at every checkpoint of a
 * seeded random history with holes, shrinks and growth, are exactly the
 * blocks the per-block planner finds (one locatedBlockAt per block), and a
 * tree materialised chunk by chunk equals the model; a restore through
 * runRestore plans a file larger than CHUNK_BLOCKS in chunks and its
 * progress ends at its total.
 */
import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { buildChunkedPlan, buildPlan, planBlocksInSlices } from "../src/journal/build-plan.js";
import { CHUNK_BLOCKS, chunkRanges, plannedChunks } from "../src/journal/chunked-plan.js";
import type { PlannedBlock } from "../src/journal/plan.js";
import { materialiseTree, type RestoreProgress } from "../src/restore/materialiser.js";
import { prepareRestore, runRestore } from "../src/restore/restore.js";
import { tmpDir } from "./helpers/index.js";
import { openTestJournal, VolumeModel } from "./support/model.js";
import { freshSeed, prng } from "./support/prng.js";
import { diffTrees, readTree } from "./support/tree.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const BS = 4096;

describe("chunkRanges", () => {
  it("covers every block once, in order, in chunks of at most chunkBlocks", () => {
    expect(chunkRanges(0, 3)).toEqual([]);
    expect(chunkRanges(1, 3)).toEqual([[0, 1]]);
    expect(chunkRanges(3, 3)).toEqual([[0, 3]]);
    expect(chunkRanges(4, 3)).toEqual([
      [0, 3],
      [3, 4],
    ]);
    expect(chunkRanges(7, 2)).toEqual([
      [0, 2],
      [2, 4],
      [4, 6],
      [6, 7],
    ]);
    expect(() => chunkRanges(5, 0)).toThrow(RangeError);
    expect(() => chunkRanges(5, 1.5)).toThrow(RangeError);
  });
});

describe("chunked planning", () => {
  it("plans in chunks exactly what the per-block planner plans, and materialises the model, at every checkpoint", async () => {
    const seed = freshSeed();
    console.log(`chunked-plan seed=${seed}`);
    const rand = prng(seed);
    const dir = await tmpDir("pvj-chunked-");
    const { journal, hasher } = await openTestJournal(join(dir, "journal"), { blockSize: BS });
    cleanups.push(() => journal.close());
    const model = new VolumeModel(journal, hasher, rand);
    await model.init();
    // Large files (many chunks at small chunk sizes) beside the model's small ones.
    const big = ["data/big-a", "data/big-b"];
    for (const p of big) await model.createFile(p, rand.bytes(rand.int(20, 40) * BS + 17));
    const out = join(dir, "out");
    await mkdir(out);
    for (let round = 0; round < 6; round++) {
      for (let i = rand.int(5, 25); i > 0; i--) await model.randomOp();
      for (const p of big) await bigFileOp(model, rand, p);
      const cp = await journal.checkpoint({ label: null, consistency: "crash" });
      const point = { seq: cp.seq, ts: cp.ts, checkpoint: cp.id };
      const whole = buildPlan(journal, point);
      const files = whole.entries.filter((e) => e.kind === "file");
      // The reference: one locatedBlockAt per block number (planBlocksInSlices with every block named).
      const perBlock = await planBlocksInSlices(
        journal,
        point,
        files.map((e) => ({
          fileId: e.fileId,
          size: e.size,
          blocks: new Set(Array.from({ length: Math.ceil(e.size / BS) }, (_, i) => i)),
        })),
      );
      files.forEach((e, i) => {
        expect(strip(e.blocks), `${e.path} whole (round ${round})`).toEqual(strip(perBlock[i]!));
      });
      for (const chunkBlocks of [1, 2, 3, 7]) {
        for (const [i, e] of files.entries()) {
          const chunks = [...plannedChunks(journal, point, e, chunkBlocks)];
          const label = `${e.path} in chunks of ${chunkBlocks} (round ${round})`;
          expect(chunks.length, label).toBe(Math.ceil(e.size / BS / chunkBlocks));
          expect(strip(chunks.flatMap((c) => c.blocks)), label).toEqual(strip(perBlock[i]!));
          expect(
            chunks.reduce((a, c) => a + c.bytes, 0),
            label,
          ).toBe(e.size);
          // Every chunk's blocks lie inside the file range it spans.
          let start = 0;
          for (const c of chunks) {
            for (const b of c.blocks) {
              expect(b.offset, label).toBeGreaterThanOrEqual(start);
              expect(b.offset + b.len, label).toBeLessThanOrEqual(start + c.bytes);
            }
            start += c.bytes;
          }
        }
        const chunkedPlan = buildChunkedPlan(journal, point, null, chunkBlocks);
        const target = join(out, `r${round}-c${chunkBlocks}`);
        let last: RestoreProgress | null = null;
        await materialiseTree({
          journal,
          hasher,
          plan: chunkedPlan.plan,
          target,
          durable: true,
          chunked: {
            entries: chunkedPlan.chunked,
            chunks: (e) => plannedChunks(journal, point, e, chunkBlocks),
          },
          onProgress: (p) => {
            last = p;
          },
        });
        expect(
          diffTrees(model.snapshot(), await readTree(target), { mtimes: true }),
          `round ${round}, chunks of ${chunkBlocks}`,
        ).toEqual([]);
        // The big files are planned in chunks whenever they span more than one.
        const chunkedPaths = [...chunkedPlan.chunked].map((e) => e.path);
        for (const p of big) {
          const size = model.entries.get(p)?.content.length ?? 0;
          if (Math.ceil(size / BS) > chunkBlocks) expect(chunkedPaths).toContain(p);
        }
        expect(last).not.toBeNull();
        expect(last!.bytesDone, `progress round ${round}`).toBe(last!.bytesTotal);
      }
    }
    expect((await readdir(out)).filter((n) => n.includes("pvj-partial"))).toEqual([]);
  });

  it("restores a file larger than CHUNK_BLOCKS through runRestore, chunk by chunk, holes and a shrink included", async () => {
    const dir = await tmpDir("pvj-chunked-restore-");
    const { journal, hasher } = await openTestJournal(join(dir, "journal"), {
      blockSize: BS,
      segmentSize: 4 * 1024 * 1024,
    });
    cleanups.push(() => journal.close());
    const rand = prng(23);
    const model = new VolumeModel(journal, hasher, rand);
    await model.init();
    const blocks = CHUNK_BLOCKS * 2 + 5;
    const content = rand.bytes(blocks * BS);
    // A hole across the first chunk boundary and a zero tail.
    content.fill(0, (CHUNK_BLOCKS - 3) * BS, (CHUNK_BLOCKS + 2) * BS);
    content.fill(0, content.length - 3 * BS);
    await model.createFile("data/large", content);
    await model.truncate("data/large", (CHUNK_BLOCKS * 2 + 1) * BS + 123);
    await model.write("data/large", CHUNK_BLOCKS * BS - 10, rand.bytes(20));
    await model.truncate("data/large", (CHUNK_BLOCKS * 2 + 4) * BS);
    const cp = await journal.checkpoint({ label: null, consistency: "crash" });
    const want = model.snapshot();
    const { chunked } = buildChunkedPlan(
      journal,
      { seq: cp.seq, ts: cp.ts, checkpoint: cp.id },
      null,
      CHUNK_BLOCKS,
    );
    expect([...chunked].map((e) => e.path)).toEqual(["data/large"]);
    const prepared = await prepareRestore(
      journal,
      { point: { checkpoint: cp.id }, target: join(dir, "t"), paths: null },
      { allowedRoots: null, forbidden: [journal.dir] },
      Date.now(),
    );
    let last: RestoreProgress | null = null;
    const r = await runRestore(journal, hasher, prepared, {
      onProgress: (p) => {
        last = p;
      },
    });
    expect(diffTrees(want, await readTree(join(dir, "t")), { mtimes: true })).toEqual([]);
    expect(last!.bytesDone).toBe(last!.bytesTotal);
    expect(r.bytes).toBe((CHUNK_BLOCKS * 2 + 4) * BS);
  });
});

/** Planned blocks as plain values (offset, len, hash, stored length, location). */
function strip(blocks: readonly PlannedBlock[]) {
  return blocks.map((b) => ({ ...b, hash: b.hash.toString("hex") }));
}

/** A random write (inside, across the end, or past it: a hole), shrink or growth of a large file. */
async function bigFileOp(
  model: VolumeModel,
  rand: ReturnType<typeof prng>,
  path: string,
): Promise<void> {
  const e = model.entries.get(path);
  if (e?.kind !== "file") return;
  const size = e.content.length;
  const roll = rand.next();
  if (roll < 0.5) {
    const off = rand.chance(0.2) ? size + rand.int(1, 5 * BS) : rand.int(0, size);
    const data = rand.chance(0.2)
      ? Buffer.alloc(rand.int(1, 3 * BS))
      : rand.bytes(rand.int(1, 4 * BS));
    await model.write(path, off, data);
  } else if (roll < 0.75) await model.truncate(path, rand.int(0, size));
  else await model.truncate(path, size + rand.int(1, 6 * BS));
}
