/**
 * The per-block checks of a restore after their copy-free rewrites:
 * BlockHasher.matches agrees with hash().equals on seeded random blocks
 * (and rejects every single-bit change of the expected hash and a short
 * one), isZero's first/last-byte shortcut agrees with a byte loop, and a
 * frame checksum (one reused length buffer) still finds a changed byte.
 */
import { describe, expect, it } from "vitest";
import { checkFrame, encodeFrame } from "../src/journal/segment-format.js";
import { isZero } from "../src/restore/tree-io.js";
import { BlockHasher } from "../src/util/hash.js";
import { freshSeed, prng } from "./support/prng.js";

describe("per-block restore checks", () => {
  it("matches() agrees with hash().equals and rejects any changed or short hash", async () => {
    const seed = freshSeed();
    console.log(`restore-checks hash seed=${seed}`);
    const rand = prng(seed);
    const hasher = await BlockHasher.create();
    for (let i = 0; i < 200; i++) {
      const data = rand.bytes(rand.int(0, 9000));
      const want = hasher.hash(data);
      expect(hasher.matches(data, want)).toBe(true);
      const bad = Buffer.from(want);
      const at = rand.int(0, bad.length - 1);
      bad[at] = bad[at]! ^ (1 << rand.int(0, 7));
      expect(hasher.matches(data, bad), `seed=${seed} block ${i} byte ${at}`).toBe(false);
      expect(hasher.matches(data, want.subarray(0, 15))).toBe(false);
      // Another block's hash never matches (and hash() still returns what matches() checks).
      const other = rand.bytes(data.length + 1);
      expect(hasher.matches(other, want)).toBe(false);
      expect(hasher.matches(other, hasher.hash(other))).toBe(true);
    }
  });

  it("isZero agrees with a byte loop, the shortcut bytes and the memcmp alike", () => {
    const seed = freshSeed();
    console.log(`restore-checks zero seed=${seed}`);
    const rand = prng(seed);
    const model = (b: Buffer) => b.every((x) => x === 0);
    expect(isZero(Buffer.alloc(0))).toBe(true);
    for (let i = 0; i < 500; i++) {
      const len = rand.int(1, 200_000);
      const b = Buffer.alloc(len);
      // Zero, or one non-zero byte at the start, the end, or anywhere.
      const where = rand.pick(["none", "first", "last", "any"] as const);
      if (where === "first") b[0] = rand.int(1, 255);
      if (where === "last") b[len - 1] = rand.int(1, 255);
      if (where === "any") b[rand.int(0, len - 1)] = rand.int(1, 255);
      expect(isZero(b), `seed=${seed} len=${len} ${where}`).toBe(model(b));
    }
  });

  it("frame checksums still cover the length and every payload byte", () => {
    const seed = freshSeed();
    console.log(`restore-checks frame seed=${seed}`);
    const rand = prng(seed);
    for (let i = 0; i < 100; i++) {
      const payload = rand.bytes(rand.int(1, 5000));
      const frame = Buffer.concat(encodeFrame(payload));
      const ok = checkFrame(frame, 0);
      expect(ok.ok).toBe(true);
      const bad = Buffer.from(frame);
      const at = rand.int(8, bad.length - 1);
      bad[at] = bad[at]! ^ 0x10;
      expect(checkFrame(bad, 0), `seed=${seed} frame ${i} byte ${at}`).toEqual({
        ok: false,
        reason: "checksum",
      });
    }
  });
});
