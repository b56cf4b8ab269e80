/**
 * Planned blocks stored next to each other are read with one pread per run
 * (BlockReader.readPlanned). Every block is still checked on its own, and a
 * damaged frame inside a run costs only that block: the run falls back to
 * reads one by one, which name the damaged block exactly.
 */
import { open } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CorruptionError } from "../src/errors.js";
import { buildPlan } from "../src/journal/build-plan.js";
import { resolvePoint } from "../src/journal/points.js";
import { FRAME_HEADER_BYTES } from "../src/journal/segment-format.js";
import { BlockReader } from "../src/restore/block-reader.js";
import { tmpDir } from "./helpers/index.js";
import { openTestJournal } from "./support/model.js";
import { freshSeed, prng } from "./support/prng.js";

const BS = 4096;
const BLOCKS = 64;
const BLOB_PREFIX = 1 + 8 + 8 + 16;

describe("run reads of planned blocks", () => {
  it("reads a file's blocks in runs, byte for byte; a damaged frame fails only its block, by name", async () => {
    const seed = freshSeed();
    console.log(`restore-runs seed ${seed}`);
    const r = prng(seed);
    const { journal, hasher } = await openTestJournal(await tmpDir("pvj-runs-"), {
      blockSize: BS,
      segmentSize: 8 * 1024 * 1024,
    });
    try {
      const blocks = Array.from({ length: BLOCKS }, () => r.bytes(BS));
      await journal.append([
        { type: "link", fileId: 1, path: "data", kind: "dir" },
        { type: "link", fileId: 2, path: "data/f", kind: "file" },
        { type: "size", fileId: 2, size: BLOCKS * BS },
        ...blocks.flatMap((data, block) => {
          const hash = hasher.hash(data);
          return [
            { type: "blob" as const, hash, data },
            { type: "write" as const, fileId: 2, block, len: BS, hash },
          ];
        }),
      ]);
      const cp = await journal.checkpoint({ label: null, consistency: "crash" });
      const plan = buildPlan(journal, resolvePoint(journal, { checkpoint: cp.id }, Date.now()));
      const file = plan.entries.find((e) => e.path === "data/f")!;
      expect(file.blocks).toHaveLength(BLOCKS);
      expect(file.blocks.every((b) => b.loc !== undefined)).toBe(true);

      const reads = countReads(journal);
      const reader = new BlockReader(journal, hasher);
      for (let i = 0; i < BLOCKS; i++)
        expect(reader.readPlanned(file.blocks, i, "data/f").equals(blocks[i]!)).toBe(true);
      // 64 blocks of 4 KiB and their write records: one run, one pread.
      expect(reads.runs).toBe(1);
      expect(reads.single).toBe(0);

      // Flip one byte inside the data of a block in the middle of the run.
      const bad = r.int(1, BLOCKS - 2);
      const loc = file.blocks[bad]!.loc!;
      const fh = await open(join(journal.dir, loc.segment), "r+");
      const at = loc.offset + FRAME_HEADER_BYTES + BLOB_PREFIX + 100;
      const one = Buffer.alloc(1);
      await fh.read(one, 0, 1, at);
      one[0] = one[0]! ^ 0xff;
      await fh.write(one, 0, 1, at);
      await fh.close();
      await journal.segmentsChanged();

      const again = new BlockReader(journal, hasher);
      for (let i = 0; i < BLOCKS; i++) {
        if (i === bad) {
          let err: unknown;
          try {
            again.readPlanned(file.blocks, i, "data/f");
          } catch (e) {
            err = e;
          }
          expect(err, `block ${i}`).toBeInstanceOf(CorruptionError);
          expect((err as CorruptionError).message).toContain(`at offset ${loc.offset}`);
        } else expect(again.readPlanned(file.blocks, i, "data/f").equals(blocks[i]!)).toBe(true);
      }
    } finally {
      await journal.close();
    }
  });
});

/** Counts run reads and located single reads through the journal. */
function countReads(journal: Awaited<ReturnType<typeof openTestJournal>>["journal"]) {
  const n = { runs: 0, single: 0 };
  const run = journal.readBlobRunSync.bind(journal);
  const at = journal.readBlobAtSync.bind(journal);
  journal.readBlobRunSync = (items) => {
    n.runs += 1;
    return run(items);
  };
  journal.readBlobAtSync = (hash, loc) => {
    n.single += 1;
    return at(hash, loc);
  };
  return n;
}
