// The index's time rows: a group's records get theirs in runs (one statement
// per run of consecutive seqs at one ts, journal/index-work.ts), and every
// record still has exactly its own row, for local and stamped appends.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Journal } from "../src/journal/journal.js";
import type { JournalRecord, RecordBody } from "../src/journal/records.js";
import { BlockHasher } from "../src/util/hash.js";
import { tmpDir } from "./helpers/index.js";
import { freshSeed, prng } from "./support/prng.js";

const hasher = await BlockHasher.create();
function expectTimes(j: Journal, want: Map<number, number>): void {
  expect(j.index.recordCount()).toBe(want.size);
  for (const [seq, ts] of want) expect(j.index.tsAtSeq(seq), `seq ${seq}`).toBe(ts);
}

describe("time rows", () => {
  it("one per record, for local groups (lazy or not, with dropped duplicates) and stamped ones with gaps (seeded)", async () => {
    const seed = freshSeed();
    console.log(`time rows seed=${seed}`);
    const rand = prng(seed).next;
    let clock = 1_000;
    const src = await Journal.open({
      dir: join(await tmpDir("pvj-times-"), "src"),
      blockSize: 4096,
      clock: () => clock,
    });
    const dst = await Journal.open({
      dir: join(await tmpDir("pvj-times-"), "dst"),
      blockSize: 4096,
    });
    try {
      const want = new Map<number, number>();
      const stored: JournalRecord[] = [];
      const seen: Buffer[] = [];
      for (let g = 0; g < 30; g++) {
        clock += Math.floor(rand() * 3); // sometimes the same ms as the group before
        const bodies: RecordBody[] = [];
        const n = 1 + Math.floor(rand() * 12);
        for (let i = 0; i < n; i++) {
          const fileId = src.allocateFileId();
          // Some blocks repeat (dropped: no seq consumed), splitting nothing.
          const data =
            rand() < 0.3 && seen.length > 0
              ? seen[Math.floor(rand() * seen.length)]!
              : randomBytes(64);
          seen.push(data);
          const hash = hasher.hash(data);
          bodies.push(
            { type: "link", fileId, path: `data/f${fileId}`, kind: "file" },
            { type: "blob", hash, data },
            { type: "write", fileId, block: 0, len: data.length, hash },
            { type: "attr", fileId, mode: 0o644, mtimeMs: clock },
          );
        }
        const r = await src.append(bodies, { lazyIndex: rand() < 0.5 });
        for (let s = r.firstSeq; s <= r.lastSeq; s++) want.set(s, r.ts);
      }
      await src.checkpoint({ label: "end", consistency: "crash" });
      for await (const rec of src.records(1)) stored.push(rec);
      want.set(src.lastSeq, src.lastTs);
      expectTimes(src, want);
      // A replica receives them stamped: with a gap (records skipped) and each with its own ts.
      const sent = stored.filter((_, i) => i % 7 !== 3);
      await dst.appendStamped(sent);
      expectTimes(dst, new Map(sent.map((r) => [r.seq, r.ts])));
    } finally {
      await src.close();
      await dst.close();
    }
  });
});
