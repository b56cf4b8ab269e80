import { readdirSync, readSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Journal } from "../src/journal/journal.js";
import { ReadHandles } from "../src/journal/read-handles.js";
import { BlockHasher } from "../src/util/hash.js";
import { tmpDir } from "./helpers/index.js";
import { freshSeed, prng } from "./support/prng.js";

const journals: Journal[] = [];
afterEach(async () => {
  for (const j of journals.splice(0)) await j.close();
});

/** Descriptors this process has open right now. */
function openFds(): number {
  return readdirSync("/proc/self/fd").length;
}

const BOUND = 4;

describe("the journal's bounded read-descriptor cache", () => {
  it("reads across more segments than the bound with at most the bound open, results intact", async () => {
    const seed = freshSeed();
    console.log(`read-handles seed=${seed}`);
    const rand = prng(seed);
    const dir = await tmpDir("pvj-fdcache-");
    // 16 KiB segments: each batch of three 4 KiB blocks rolls over, so 40 batches make ~40 segments.
    const journal = await Journal.open({
      dir,
      blockSize: 4096,
      segmentSize: 16 * 1024,
      maxReadHandles: BOUND,
    });
    journals.push(journal);
    const hasher = await BlockHasher.create();
    const blocks: Buffer[] = [];
    for (let i = 0; i < 40; i++) {
      const batch = [0, 1, 2].map(() => {
        const b = Buffer.alloc(4096);
        for (let k = 0; k < b.length; k += 4) b.writeUInt32LE(rand.int(0, 0xffffffff), k);
        blocks.push(b);
        return { type: "blob" as const, hash: hasher.hash(b), data: b };
      });
      await journal.append(batch);
    }
    expect(journal.segments().length).toBeGreaterThan(BOUND * 4);
    const base = openFds();
    let peak = 0;
    const sample = () => {
      peak = Math.max(peak, openFds() - base);
    };
    // Random order, async and sync reads mixed: every segment is visited, many times.
    for (let round = 0; round < 3; round++) {
      const order = blocks.map((_, i) => i).sort(() => rand.int(0, 2) - 1);
      for (const i of order) {
        const b = blocks[i]!;
        const got = rand.chance(0.5)
          ? await journal.readBlob(hasher.hash(b))
          : journal.readBlobSync(hasher.hash(b));
        expect(got.equals(b)).toBe(true);
        sample();
      }
    }
    let n = 0;
    for await (const rec of journal.records(1)) {
      if (rec.type === "blob") expect(rec.data.equals(blocks[n++]!)).toBe(true);
      sample();
    }
    expect(n).toBe(blocks.length);
    // Concurrent reads may hold more while in flight; once settled the bound holds again.
    const all = await Promise.all(blocks.map((b) => journal.readBlob(hasher.hash(b))));
    expect(all.every((got, i) => got.equals(blocks[i]!))).toBe(true);
    sample();
    console.log(`read-handles: ${journal.segments().length} segments, peak +${peak} fds`);
    expect(peak).toBeLessThanOrEqual(BOUND);
    await journal.invalidateReaders();
    expect(openFds() - base).toBeLessThanOrEqual(0);
  });

  it("eviction and clear() never close a descriptor a read still holds", async () => {
    const dir = await tmpDir("pvj-fdcache-unit-");
    const paths: string[] = [];
    for (let i = 0; i < 6; i++) {
      const p = join(dir, `f${i}`);
      await writeFile(p, `file-${i}`);
      paths.push(p);
    }
    const cache = new ReadHandles(2);
    const read = (fd: number) => {
      const buf = Buffer.alloc(16);
      return buf.subarray(0, readSync(fd, buf, 0, 16, 0)).toString();
    };
    const held = await cache.acquire(0, paths[0]!);
    // Fill past the bound while 0 is held: 0 is busy, so idle ones are evicted instead.
    for (let i = 1; i < 6; i++) {
      const l = i % 2 ? cache.acquireSync(i, paths[i]!) : await cache.acquire(i, paths[i]!);
      expect(read(l.fd)).toBe(`file-${i}`);
      l.release();
      expect(cache.openCount).toBeLessThanOrEqual(2);
    }
    expect(read(held.fd)).toBe("file-0");
    await cache.clear();
    // Dropped but still held: still readable, still counted, closed at release.
    expect(read(held.fd)).toBe("file-0");
    expect(cache.openCount).toBe(1);
    held.release();
    expect(cache.openCount).toBe(0);
    // Two concurrent acquires of a new key share one open.
    const [a, b] = await Promise.all([cache.acquire(9, paths[1]!), cache.acquire(9, paths[1]!)]);
    expect(a.fd).toBe(b.fd);
    a.release();
    b.release();
    expect(cache.openCount).toBe(1);
    await expect(cache.acquire(10, join(dir, "missing"))).rejects.toThrow(/ENOENT/);
    expect(cache.openCount).toBe(1);
    await cache.clear();
    expect(cache.openCount).toBe(0);
  });
});
