/**
 * A replica that installs a base over a journal of its own (it fell behind
 * the source's window) keeps every record appended afterwards: SQLite gives
 * the new base segment the id of the dropped one when that was the last row,
 * so the writer must not mistake the base for its old active segment.
 */
import { describe, expect, it } from "vitest";
import { Journal } from "../src/journal/journal.js";
import type { JournalRecord } from "../src/journal/records.js";
import { baseBodies, installBase } from "../src/journal/retention.js";
import { verifyJournal } from "../src/journal/verify.js";
import { silentLogger } from "../src/log/logger.js";
import { BlockHasher } from "../src/util/hash.js";
import { tmpDir } from "./helpers/index.js";
import { BS, distinctWrites, follow } from "./support/journal-writes.js";

describe("installing a base over a replica's own history", () => {
  it.each([1, 4])("keeps later appends after %i round(s) of following", async (segments) => {
    const dir = await tmpDir("pvj-base-over-");
    const hasher = await BlockHasher.create();
    const opts = { blockSize: BS, segmentSize: 256 * 1024, logger: silentLogger() };
    const src = await Journal.open({ dir: `${dir}/src`, ...opts });
    const rep = await Journal.open({ dir: `${dir}/rep`, ...opts });
    await src.append([
      { type: "link", fileId: 1, path: "data", kind: "dir" },
      { type: "link", fileId: 2, path: "data/f", kind: "file" },
      { type: "size", fileId: 2, size: 64 * BS },
    ]);
    // The replica follows for a while (one, or several ~1 MiB segments), then falls behind.
    for (let s = 0; s < segments; s++) {
      await src.append(distinctWrites(hasher, 0, 60, s * 7));
      await follow(src, rep);
    }
    if (segments === 1) expect(rep.index.segments().length).toBe(1);
    else expect(rep.index.segments().length).toBeGreaterThan(1);
    await src.append(distinctWrites(hasher, 10, 50, 99));
    const cut = src.lastSeq;
    await rep.exclusive(() =>
      installBase(
        rep,
        cut,
        src.lastTs,
        baseBodies(src, cut, hasher, () => true),
        rep.index.segments(),
      ),
    );
    expect(rep.lastSeq).toBe(cut);
    // Later records from the source land in a segment of their own.
    const later = await src.append(distinctWrites(hasher, 30, 2, 150));
    const tail: JournalRecord[] = [];
    for await (const r of src.records(cut + 1)) tail.push(r);
    await rep.appendStamped(tail);
    const cp = await src.checkpoint({ label: "after", consistency: "fuzzy" });
    const cpRec: JournalRecord[] = [];
    for await (const r of src.records(later.lastSeq + 1)) cpRec.push(r);
    await rep.appendStamped(cpRec);
    await rep.close();
    const reopened = await Journal.open({ dir: `${dir}/rep`, ...opts });
    try {
      expect(reopened.lastSeq).toBe(cp.seq);
      const report = await verifyJournal(reopened, hasher);
      expect(report.problems).toEqual([]);
    } finally {
      await reopened.close();
      await src.close();
    }
  });
});
