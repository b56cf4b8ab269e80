/**
 * journal/flat-body.ts writes record bodies without msgpackr. Segments must
 * not change: on seeded records of every type, every body it writes is byte
 * for byte what msgpackr (the codec's options) writes, the ones it declines
 * are exactly the ones it cannot write the same way, and every record reads
 * back unchanged through the codec.
 */
import { Packr } from "msgpackr";
import { describe, expect, it } from "vitest";
import { decodeRecord, encodeBatch, encodeRecord } from "../src/journal/codec.js";
import { packFlatBody } from "../src/journal/flat-body.js";
import type { JournalRecord } from "../src/journal/records.js";
import { freshSeed, prng } from "./support/prng.js";

/** The codec's Packr options (codec.ts). */
const reference = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" });

type Rand = ReturnType<typeof prng>;

const isAscii = (s: string) => {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return false;
  return true;
};

/** Numbers across every msgpack form: fixints, 8/16/32-bit, negatives, floats, beyond 2^32. */
function number(rand: Rand): number {
  const bound = rand.pick([0x20, 0x80, 0x100, 0x10000, 2 ** 32, 2 ** 40, 2 ** 53]);
  const n = rand.int(0, bound - 1);
  const v = rand.chance(0.2) && n !== 0 ? -n : n; // not -0: msgpack has no negative zero integer
  return rand.chance(0.2) ? v + rand.next() : v;
}

/** Paths: mostly ASCII of any length class, sometimes not (é, emoji: left to msgpackr). */
function path(rand: Rand): string {
  // Every string header class: fixstr, str8, str16 and (rarely: slow to build) str32.
  const len = rand.chance(0.005) ? 70_000 : rand.pick([1, 10, 31, 32, 200, 255, 256, 300]);
  const s = String.fromCharCode(
    ...Array.from({ length: Math.min(len, 300) }, () => rand.int(0x20, 0x7e)),
  )
    .repeat(Math.ceil(len / 300))
    .slice(0, len);
  return rand.chance(0.1) ? s + rand.pick(["é", "日本", "\u{1f600}"]) : s;
}

function record(rand: Rand, seq: number): JournalRecord {
  const ts = 1.7e12 + rand.int(0, 1e6);
  const fileId = rand.chance(0.5) ? rand.int(1, 200) : number(rand);
  switch (rand.int(0, 7)) {
    case 0:
      return rand.chance(0.2)
        ? { type: "link", seq, ts, fileId, path: path(rand), kind: "symlink", target: path(rand) }
        : { type: "link", seq, ts, fileId, path: path(rand), kind: rand.pick(["file", "dir"]) };
    case 1:
      return { type: "attr", seq, ts, fileId, mode: rand.int(0, 0o177777), mtimeMs: number(rand) };
    case 2:
      return { type: "size", seq, ts, fileId, size: number(rand) };
    case 3:
      return {
        type: "write",
        seq,
        ts,
        fileId,
        block: number(rand),
        len: rand.int(1, 65536),
        hash: rand.bytes(rand.chance(0.01) ? 70_000 : rand.pick([16, 255, 256])),
      };
    case 4:
      return { type: "unlink", seq, ts, path: path(rand) };
    case 5:
      return { type: "rename", seq, ts, from: path(rand), to: path(rand) };
    case 6:
      return rand.chance(0.5)
        ? { type: "checkpoint", seq, ts, id: rand.int(1, 1e6), label: null, consistency: "crash" }
        : {
            type: "checkpoint",
            seq,
            ts,
            id: rand.int(1, 1e6),
            label: path(rand),
            consistency: "app",
            hooks: { pre: { ok: true, exitCode: 0, output: "" } },
          };
    default:
      // A key order other than the usual, and an optional field present as undefined.
      return { fileId, seq, type: "link", ts, kind: "file", path: path(rand), target: undefined };
  }
}

describe("record bodies without msgpackr", () => {
  it("are byte for byte msgpackr's, and read back unchanged (seeded)", () => {
    const seed = freshSeed();
    console.log(`flat body seed=${seed}`);
    const rand = prng(seed);
    let flat = 0;
    let declined = 0;
    const batch: JournalRecord[] = [];
    for (let i = 1; i <= 3000; i++) {
      const rec = record(rand, i);
      const { seq: _s, ts: _t, ...body } = rec;
      const want = Buffer.from(reference.pack(body));
      const got = packFlatBody(rec);
      const plain = Object.values(body).every(
        (v) =>
          v === null ||
          typeof v === "number" ||
          Buffer.isBuffer(v) ||
          (typeof v === "string" && isAscii(v)),
      );
      // It declines exactly what it cannot write: non-ASCII, undefined, nested objects.
      expect(got === null, `record ${i} ${rec.type}`).toBe(!plain);
      if (got !== null) {
        expect(got.equals(want), `record ${i} ${rec.type}`).toBe(true);
        flat++;
      } else declined++;
      // The payload: tag, seq and ts (17 bytes), then the body.
      const payload = encodeRecord(rec);
      expect(payload.subarray(17).equals(want)).toBe(true);
      expect(decodeRecord(payload)).toEqual(rec);
      batch.push(rec);
    }
    // Both paths ran: most records are flat, some are left to msgpackr.
    expect(flat).toBeGreaterThan(2000);
    expect(declined).toBeGreaterThan(100);
    const { bytes, offsets } = encodeBatch(batch);
    expect(offsets).toHaveLength(batch.length);
    expect(bytes.length).toBeGreaterThan(0);
  });

  it("declines objects that are not plain records", () => {
    class Odd {
      type = "size";
      fileId = 1;
      size = 2;
    }
    expect(packFlatBody(new Odd())).toBeNull();
    expect(packFlatBody({ type: "size", fileId: 1, size: 2 })).not.toBeNull();
  });
});
