/**
 * A block read while retention switches the index over must come from the
 * file the index names now. Regression (soak-cdp seed 7, a replica restore
 * during its own retention pass: "checksum mismatch in segment
 * base-0000000000068495.pvj at offset 524181"): SQLite gives a new base the
 * id of the base it replaces when that was the newest row, and the readers
 * cached file names (and descriptors) by segment id, so between the index
 * switch and the readers' refresh a read went to the old base's file at the
 * new base's offset.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { runRetention } from "../src/journal/retention.js";
import { SegmentKind } from "../src/journal/segment-format.js";
import { tmpDir } from "./helpers/index.js";
import { openTestJournal } from "./support/model.js";

const BS = 4096;
/** One append per simulated second; 100 s of history. */
const SECONDS = 100;

describe("reads across a retention pass whose base reuses the old base's id", () => {
  it("read the block the index names, in the new base, byte-exact", async () => {
    let now = 1_000_000;
    const { journal, hasher } = await openTestJournal(await tmpDir("pvj-reuse-id-"), {
      blockSize: BS,
      segmentSize: 64 * 1024,
      clock: () => now,
    });
    try {
      await journal.append([
        { type: "link", fileId: 1, path: "data", kind: "dir" },
        { type: "link", fileId: 2, path: "data/f", kind: "file" },
        { type: "size", fileId: 2, size: 8 * BS },
      ]);
      // Blocks 0..7 of one file, each rewritten every 8 s with random bytes:
      // every segment holds a mix of superseded and live blocks.
      const content = new Map<string, Buffer>();
      for (let s = 0; s < SECONDS; s++) {
        now += 1_000;
        const data = randomBytes(BS);
        const hash = hasher.hash(data);
        content.set(hash.toString("hex"), data);
        await journal.append([
          { type: "blob", hash, data },
          { type: "write", fileId: 2, block: s % 8, len: BS, hash },
        ]);
        if (s % 10 === 9) await journal.checkpoint({ label: null, consistency: "crash" });
      }
      const stored = () =>
        [...content].filter(([h]) => journal.index.hasBlob(Buffer.from(h, "hex")));
      const readAll = () => {
        let n = 0;
        for (const [h, data] of stored()) {
          expect(journal.readBlobSync(Buffer.from(h, "hex"))).toEqual(data);
          n += 1;
        }
        return n;
      };
      const baseId = () => journal.index.segments().find((x) => x.kind === SegmentKind.base)?.id;

      // Pass A folds the oldest 30 s; then every stored block is read (the readers cache).
      const a = await runRetention(journal, { retention: 70_000, now, hasher });
      expect(a.baseSeq, "pass A folded").not.toBeNull();
      const firstBase = baseId();
      expect(readAll()).toBeGreaterThan(0);
      // Where each block is now, as a restore plan records it (PlannedBlock.loc).
      const planned = stored().map(([h, data]) => {
        const hash = Buffer.from(h, "hex");
        const at = journal.index.blob(hash)!;
        const loc = { segmentId: at.segment_id, segment: at.name!, offset: at.offset, len: at.len };
        return { hash, data, loc };
      });
      for (const p of planned) expect(journal.readBlobAtSync(p.hash, p.loc)).toEqual(p.data);

      // Pass B folds 30 s more of the same segments (none was created since):
      // reads between its index switch and the readers' refresh.
      const changed = journal.segmentsChanged.bind(journal);
      let windowReads = 0;
      journal.segmentsChanged = async () => {
        windowReads = readAll();
        await changed();
      };
      const b = await runRetention(journal, { retention: 40_000, now, hasher });
      expect(b.baseSeq, "pass B folded further").toBeGreaterThan(a.baseSeq ?? 0);
      expect(baseId(), "precondition: the new base reuses the old base's id").toBe(firstBase);
      expect(windowReads).toBeGreaterThan(0);
      expect(readAll()).toBe(windowReads);
      // Locations planned before pass B are stale now (the base was rewritten
      // under the same id and name): each read finds that out and looks again.
      const moved = planned.filter((p) => {
        const at = journal.index.blob(p.hash);
        return at !== null && (at.offset !== p.loc.offset || at.name !== p.loc.segment);
      });
      expect(moved.length, "precondition: pass B moved planned blocks").toBeGreaterThan(0);
      for (const p of planned.filter((x) => journal.index.hasBlob(x.hash)))
        expect(journal.readBlobAtSync(p.hash, p.loc)).toEqual(p.data);
    } finally {
      await journal.close();
    }
  });
});
