// The index's filter of stored blob hashes (journal/blob-filter.ts): no false
// negatives, few false positives, and deduplication unchanged through it, across
// lazy indexing and a reopen (which drops the filter).
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BlobFilter, FILTER_BITS } from "../src/journal/blob-filter.js";
import { Journal } from "../src/journal/journal.js";
import type { RecordBody } from "../src/journal/records.js";
import { BlockHasher } from "../src/util/hash.js";

const hasher = await BlockHasher.create();
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe("BlobFilter", () => {
  it("has every hash added, and few that were not (one bit per hash)", () => {
    const f = new BlobFilter();
    const added = Array.from({ length: 100_000 }, () => randomBytes(16));
    for (const h of added) f.add(h);
    expect(added.every((h) => f.mayHave(h))).toBe(true);
    let hits = 0;
    for (let i = 0; i < 100_000; i++) if (f.mayHave(randomBytes(16))) hits += 1;
    // Expected 100k / 2^24 = 0.6%; 1.2% leaves room for chance.
    expect(hits / 100_000).toBeLessThan((2 * 100_000) / FILTER_BITS);
    const short = new BlobFilter();
    expect(short.mayHave(Buffer.alloc(0))).toBe(false);
    short.add(Buffer.alloc(0));
    expect(short.mayHave(Buffer.of(1))).toBe(true); // short hashes share a bit: never a false negative
  });
});

function blob(data: Buffer): RecordBody {
  return { type: "blob", hash: hasher.hash(data), data };
}

describe("deduplication through the filter", () => {
  it("drops blocks already stored, indexed or not yet, before and after a reopen", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pvj-blobfilter-"));
    dirs.push(dir);
    const a = randomBytes(4096);
    const b = randomBytes(4096);
    const c = randomBytes(4096);
    let j = await Journal.open({ dir, blockSize: 4096 });
    try {
      expect((await j.append([blob(a)])).lastSeq).toBe(1);
      expect((await j.append([blob(a), blob(b)])).lastSeq).toBe(2); // a dropped: no seq
      // Lazily indexed: the backlog answers for b until the index has it.
      await j.append([blob(c)], { lazyIndex: true });
      expect((await j.append([blob(b), blob(c)])).lastSeq).toBe(3); // both dropped
    } finally {
      await j.close();
    }
    j = await Journal.open({ dir, blockSize: 4096 });
    try {
      expect((await j.append([blob(a), blob(b), blob(c)])).lastSeq).toBe(3);
      const d = randomBytes(4096);
      expect((await j.append([blob(d), blob(d)])).lastSeq).toBe(4);
      for (const x of [a, b, c, d]) expect((await j.readBlob(hasher.hash(x))).equals(x)).toBe(true);
    } finally {
      await j.close();
    }
  });
});
