/**
 * Block buffers that are reused: the capture's slabs (block-slabs.ts), the
 * segment writer's frame buffer (one per batch, reused), and the journal's
 * promise behind both: once an append resolves, it never reads the caller's
 * block bytes again.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  BlockSlabs,
  MAX_FREE_SLABS,
  overReleases,
  releaseBlock,
  SLAB_BYTES,
} from "../src/capture/block-slabs.js";
import { encodeBatch, encodeRecord } from "../src/journal/codec.js";
import { Journal } from "../src/journal/journal.js";
import type { JournalRecord, RecordBody } from "../src/journal/records.js";
import { encodeFrame } from "../src/journal/segment-format.js";
import { BlockHasher } from "../src/util/hash.js";
import { freshSeed, prng } from "./support/prng.js";

let dir = "";
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = "";
});

describe("BlockSlabs", () => {
  it("never hands out bytes of a block that is still live, and reuses slabs (seeded model)", () => {
    const seed = freshSeed();
    console.log(`block slabs seed=${seed}`);
    const rand = prng(seed);
    const slabs = new BlockSlabs();
    // The model: every live copy and the bytes it must still hold.
    const live: { view: Buffer; want: Buffer }[] = [];
    let copied = 0;
    let liveBytes = 0;
    for (let step = 0; step < 4000; step++) {
      // Up to ~2 MiB live, as between a reader and its append batch.
      if (live.length === 0 || (liveBytes < 2 * 1024 * 1024 && rand.chance(0.6))) {
        // Mostly small blocks; now and then one larger than a slab (its own Buffer).
        const n = rand.chance(0.01) ? SLAB_BYTES + rand.int(1, 4096) : rand.int(1, 9000);
        const want = rand.bytes(n);
        live.push({ view: slabs.copy(want), want });
        copied += n;
        liveBytes += n;
      } else {
        // Mostly in copy order (batches are written in order), sometimes not
        // (a re-read replacing a block, parallel readers).
        const at = rand.chance(0.8) ? 0 : rand.int(0, live.length - 1);
        const [gone] = live.splice(at, 1);
        releaseBlock(gone!.view);
        liveBytes -= gone!.want.length;
      }
      if (step % 97 === 0 || step === 3999) {
        for (const [i, b] of live.entries())
          expect(b.view.equals(b.want), `seed=${seed} step=${step} block=${i}`).toBe(true);
      }
    }
    // Without reuse every SLAB_BYTES copied would be a new slab.
    expect(slabs.allocated, `seed=${seed}`).toBeLessThan(copied / SLAB_BYTES / 2);
    expect(slabs.freeCount).toBeLessThanOrEqual(MAX_FREE_SLABS);
    expect(overReleases).toBe(0);
  });

  it("keeps a slab out of reuse while one block in it is live, and ignores foreign buffers", () => {
    const slabs = new BlockSlabs();
    const kept = slabs.copy(Buffer.alloc(1000, 1));
    const rest: Buffer[] = [];
    // Fill the first slab and start a second, so the first is full.
    for (let i = 0; i < SLAB_BYTES / 1000 + 1; i++) rest.push(slabs.copy(Buffer.alloc(1000, 2)));
    for (const b of rest) releaseBlock(b);
    releaseBlock(Buffer.alloc(1000, 3)); // not from a slab: ignored
    // The first slab is not free: `kept` still lives in it.
    for (let i = 0; i < 4 * (SLAB_BYTES / 1000); i++) slabs.copy(Buffer.alloc(1000, 4));
    expect(kept.equals(Buffer.alloc(1000, 1))).toBe(true);
  });
});

describe("encodeBatch", () => {
  it("frames exactly like one frame per record, in a reused scratch buffer or a fresh one", async () => {
    const hasher = await BlockHasher.create();
    const data = Buffer.from("a block of data ".repeat(300));
    const hash = hasher.hash(data);
    const records: JournalRecord[] = [
      { type: "link", fileId: 1, path: "data/f", kind: "file", seq: 1, ts: 10 },
      { type: "blob", hash, data, seq: 2, ts: 10 },
      {
        type: "blob",
        hash,
        data: data.subarray(0, 9),
        packed: { codec: 1, rawLen: 99 },
        seq: 3,
        ts: 11,
      },
      { type: "write", fileId: 1, block: 0, len: data.length, hash, seq: 4, ts: 11 },
    ];
    const want = Buffer.concat(records.flatMap((r) => encodeFrame(encodeRecord(r))));
    const fresh = encodeBatch(records);
    expect(fresh.bytes.equals(want)).toBe(true);
    const scratch = Buffer.alloc(want.length + 100, 0xee);
    const reused = encodeBatch(records, scratch);
    expect(reused.bytes.buffer).toBe(scratch.buffer);
    expect(reused.bytes.equals(want)).toBe(true);
    let off = 0;
    const offsets = records.map((r) => {
      const at = off;
      off += 8 + encodeRecord(r).length;
      return at;
    });
    expect(reused.offsets).toEqual(offsets);
    // Too small a scratch buffer is not written to.
    const small = Buffer.alloc(16, 0xee);
    expect(encodeBatch(records, small).bytes.equals(want)).toBe(true);
    expect(small.equals(Buffer.alloc(16, 0xee))).toBe(true);
  });
});

describe("journal: the caller's block bytes after an append", () => {
  it("are never read again: overwriting them before the lazy index runs changes nothing stored", async () => {
    dir = await mkdtemp(join(tmpdir(), "pvj-bufs-"));
    const path = join(dir, "j");
    const hasher = await BlockHasher.create();
    const blocks = [0, 1, 2, 3].map((i) => Buffer.alloc(4096, 40 + i));
    const want = blocks.map((b) => Buffer.from(b));
    const hashes = blocks.map((b) => hasher.hash(b));
    const bodies: RecordBody[] = [{ type: "link", fileId: 1, path: "data/f", kind: "file" }];
    blocks.forEach((data, i) => {
      const hash = hashes[i]!;
      bodies.push(
        { type: "blob", hash, data },
        { type: "write", fileId: 1, block: i, len: 4096, hash },
      );
    });
    const j = await Journal.open({
      dir: path,
      blockSize: 4096,
      compression: { codec: "none", level: 1 },
    });
    await j.append(bodies, { lazyIndex: true });
    expect(j.lastSeq).toBe(0); // durable, not indexed yet
    for (const b of blocks) b.fill(0xff); // what a reused slab would do
    // A second batch reuses the segment writer's frame buffer.
    const other = Buffer.alloc(4096, 9);
    await j.append([{ type: "blob", hash: hasher.hash(other), data: other }]);
    for (const [i, h] of hashes.entries()) {
      expect((await j.readBlob(h)).equals(want[i]!)).toBe(true);
      expect(j.index.blob(h)?.len).toBe(4096);
    }
    await j.close();
    // And the segment itself, read back from disk by a fresh open.
    const again = await Journal.open({ dir: path, blockSize: 4096 });
    for (const [i, h] of hashes.entries())
      expect(again.readBlobSync(h).equals(want[i]!)).toBe(true);
    await again.close();
  });
});
