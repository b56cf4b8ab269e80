/**
 * The restore's read path reuses its buffers (issue 16): zstd decodes into a
 * caller's buffer through the wasm exports, the BlockReader's blocks are
 * views of its scratch valid until its next read, and the file writer copies
 * every block before asking for the next one.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BlockPacker, blockContent } from "../src/journal/block-codec.js";
import { ReadScratch } from "../src/journal/read-scratch.js";
import { usesWasmExports, zstdDecode } from "../src/journal/zstd-decoder.js";
import type { BlockReader } from "../src/restore/block-reader.js";
import { type FileTask, Pacer, writeTask } from "../src/restore/write-files.js";
import { BlockHasher } from "../src/util/hash.js";
import { tmpDir } from "./helpers/index.js";

const text = (n: number, seed: number) => {
  let s = "";
  for (let i = 0; s.length < n; i++) s += `line ${seed} ${i} ${(i * 7919 + seed) % 1000}\n`;
  return Buffer.from(s.slice(0, n));
};

describe("zstd decoding into reused buffers", () => {
  it("calls the wasm exports directly (zstddec's instance was found)", () => {
    expect(usesWasmExports()).toBe(true);
  });

  it("decodes into the front of a caller's buffer, and short on a corrupt or too large frame", async () => {
    const hasher = await BlockHasher.create();
    const packer = new BlockPacker();
    const into = Buffer.alloc(128 * 1024, 0xee);
    for (const size of [4096, 65536, 100_000]) {
      const raw = text(size, size);
      const rec = packer.packBlobSync({ type: "blob", hash: hasher.hash(raw), data: raw });
      expect(rec.packed).toBeDefined();
      const out = blockContent(rec, undefined, into);
      expect(out.buffer).toBe(into.buffer);
      expect(out.byteOffset).toBe(into.byteOffset);
      expect(out.equals(raw)).toBe(true);
      // Not into a buffer: a fresh one, the same bytes.
      expect(blockContent(rec).equals(raw)).toBe(true);
      // A frame larger than the capacity given, or damaged: short (blockContent turns it into JOURNAL_CORRUPT).
      expect(zstdDecode(rec.data, size - 1, into).length).toBeLessThan(size - 1);
      const bad = Buffer.from(rec.data);
      bad.fill(0xa5, 0, 8);
      expect(zstdDecode(bad, size, into).length).toBeLessThan(size);
    }
  });

  it("grows a scratch buffer to what is asked and keeps it for smaller asks", () => {
    const s = new ReadScratch();
    const a = s.forBlocks(10);
    expect(a.length).toBeGreaterThanOrEqual(10);
    expect(s.forBlocks(5)).toBe(a);
    const b = s.forFrames(3 * 1024 * 1024 + 1);
    expect(b.length).toBeGreaterThanOrEqual(3 * 1024 * 1024 + 1);
    expect(s.forFrames(1)).toBe(b);
  });
});

describe("file writer and borrowed blocks", () => {
  it("copies each block before reading the next: a reader reusing one buffer still writes every block", async () => {
    const dir = await tmpDir();
    const bs = 4096;
    const n = 700; // > 2.5 MiB: several runs, some written on the thread pool
    const shared = Buffer.alloc(bs);
    // Like BlockReader: every block is a view of the same buffer, overwritten by the next read.
    const reader = {
      readPlanned(_blocks: unknown, i: number) {
        shared.fill(i % 251);
        shared.writeUInt32LE(i, 0);
        return shared;
      },
    } as unknown as BlockReader;
    const blocks = Array.from({ length: n }, (_, i) => ({
      offset: i * bs,
      len: bs,
      hash: Buffer.alloc(16),
      storedLen: bs,
    }));
    const task: FileTask = {
      kind: "create",
      path: join(dir, "f"),
      label: "f",
      size: n * bs,
      blocks,
    };
    await writeTask(task, reader, new Pacer(), () => undefined);
    const got = await readFile(join(dir, "f"));
    expect(got.length).toBe(n * bs);
    for (let i = 0; i < n; i++) {
      const block = got.subarray(i * bs, (i + 1) * bs);
      expect(block.readUInt32LE(0)).toBe(i);
      expect(block[bs - 1]).toBe(i % 251);
    }
  });
});
