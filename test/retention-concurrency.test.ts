/**
 * Journal readers that span awaits must not block writers: building a base
 * (a replica's bootstrap, retention) while capture appends used to fail every
 * append with better-sqlite3's "connection is busy" (an open iterator).
 */
import { describe, expect, it } from "vitest";
import { baseBodies } from "../src/journal/retention.js";
import { tmpDir } from "./helpers/index.js";
import { openTestJournal, VolumeModel } from "./support/model.js";
import { prng } from "./support/prng.js";

describe("base bodies while the journal is appended to", () => {
  it("every append between two base records succeeds", async () => {
    const { journal, hasher } = await openTestJournal(await tmpDir("pvj-base-"));
    try {
      const model = new VolumeModel(journal, hasher, prng(21));
      await model.init();
      for (let i = 0; i < 40; i++) await model.randomOp();
      const cut = await journal.checkpoint({ label: "cut", consistency: "crash" });
      for (let i = 0; i < 40; i++) await model.randomOp();
      await journal.checkpoint({ label: "after", consistency: "crash" });
      let bodies = 0;
      let blobsAfterCut = 0;
      const before = journal.lastSeq;
      for await (const body of baseBodies(journal, cut.seq, hasher, () => true)) {
        bodies += 1;
        if (body.type === "blob") blobsAfterCut += 1;
        await model.createFile(`data/new-${bodies}`, model.rand.bytes(100));
      }
      expect(bodies).toBeGreaterThan(0);
      expect(blobsAfterCut).toBeGreaterThan(0);
      expect(journal.lastSeq).toBeGreaterThan(before + bodies);
    } finally {
      await journal.close();
    }
  });
});
