/**
 * Seeded fuzz of the stream frame decoder (fast-check): valid streams split
 * anywhere decode exactly; truncated, bit-flipped, oversized and garbage
 * input never crashes it with anything but a CorruptionError and never yields
 * a message that was not sent. The seed is printed; rerun with PVJ_FUZZ_SEED.
 */
import { crc32 } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CorruptionError } from "../src/errors.js";
import { packValue } from "../src/journal/codec.js";
import type { JournalRecord } from "../src/journal/records.js";
import { encodeMessage, FrameDecoder, type StreamMessage } from "../src/stream/wire.js";

// Not a PVJ_ variable on purpose: the config module rejects unknown PVJ_ names, and tests read none.
const SEED = Number(process.env.WIRE_FUZZ_SEED ?? Date.now() % 2 ** 31);
console.log(`wire fuzz seed=${SEED} (WIRE_FUZZ_SEED=${SEED} to rerun)`);
const RUNS = 300;

const hash = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((a) => Buffer.from(a));
const record = fc.oneof(
  fc.record({
    type: fc.constant("blob"),
    seq: fc.nat(1e9),
    ts: fc.nat(2e12),
    hash,
    data: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  }),
  fc.record({
    type: fc.constant("write"),
    seq: fc.nat(1e9),
    ts: fc.nat(2e12),
    fileId: fc.nat(1e6),
    block: fc.nat(1e6),
    len: fc.nat(65536),
    hash,
  }),
);
const message: fc.Arbitrary<StreamMessage> = fc.oneof(
  fc.record({
    t: fc.constant("hello" as const),
    journalId: fc.uuid(),
    lastSeq: fc.nat(1e9),
    baseSeq: fc.nat(1e9),
    blockSize: fc.constantFrom(4096, 65536),
  }),
  fc.record({
    t: fc.constant("heartbeat" as const),
    lastSeq: fc.nat(1e9),
    lastTs: fc.nat(2e12),
    pendingSinceTs: fc.option(fc.nat(2e12), { nil: null }),
  }),
  fc.record({ t: fc.constant("base-end" as const), seq: fc.nat(1e9) }),
  fc.record({
    t: fc.constant("records" as const),
    // The arbitraries above build well-formed blob and write records.
    records: fc.array(record, { maxLength: 5 }) as unknown as fc.Arbitrary<JournalRecord[]>,
  }),
);
const stream = fc.array(message, { minLength: 1, maxLength: 6 });

/** Feeds `bytes` in chunks cut at `cuts`; returns what came out and how it ended. */
function decode(bytes: Buffer, cuts: readonly number[]) {
  const d = new FrameDecoder();
  const out: StreamMessage[] = [];
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  let at = 0;
  let error: unknown = null;
  try {
    for (const p of [...points, bytes.length]) {
      if (p < at) continue;
      out.push(...d.push(bytes.subarray(at, p)));
      at = p;
    }
  } catch (err) {
    error = err;
  }
  return { out, error, pending: d.pending };
}

const params = { seed: SEED, numRuns: RUNS };
const cuts = fc.array(fc.nat(), { maxLength: 12 });

describe(`stream frame decoder fuzz (seed ${SEED})`, () => {
  it("a valid stream split at any points decodes to exactly the messages sent", () => {
    fc.assert(
      fc.property(stream, cuts, (msgs, cs) => {
        const bytes = Buffer.concat(msgs.map(encodeMessage));
        const r = decode(bytes, cs);
        expect(r.error).toBeNull();
        expect(r.pending).toBe(0);
        expect(r.out).toEqual(msgs);
      }),
      params,
    );
  });

  it("a truncated stream yields a prefix of what was sent and leaves bytes pending", () => {
    fc.assert(
      fc.property(stream, fc.nat(), cuts, (msgs, cut, cs) => {
        const frames = msgs.map(encodeMessage);
        const bytes = Buffer.concat(frames);
        const n = cut % bytes.length;
        const r = decode(bytes.subarray(0, n), cs);
        expect(r.error).toBeNull();
        expect(r.out).toEqual(msgs.slice(0, r.out.length));
        let boundary = 0;
        const ends = new Set([0, ...frames.map((f) => (boundary += f.length))]);
        expect(r.pending > 0).toBe(!ends.has(n));
      }),
      params,
    );
  });

  it("a flipped bit is detected: a CorruptionError or an incomplete frame, never a message that was not sent", () => {
    fc.assert(
      fc.property(stream, fc.nat(), fc.nat(7), cuts, (msgs, pos, bit, cs) => {
        const bytes = Buffer.concat(msgs.map(encodeMessage));
        const i = pos % bytes.length;
        bytes[i] = bytes[i]! ^ (1 << bit);
        const r = decode(bytes, cs);
        if (r.error !== null) expect(r.error).toBeInstanceOf(CorruptionError);
        expect(r.error !== null || r.pending > 0).toBe(true);
        expect(r.out).toEqual(msgs.slice(0, r.out.length));
        expect(r.out.length).toBeLessThan(msgs.length);
      }),
      params,
    );
  });

  it("oversized or zero lengths are refused at once, before buffering the frame", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.constant(0), fc.integer({ min: 24 * 1024 * 1024 + 1, max: 2 ** 32 - 1 })),
        (len) => {
          const head = Buffer.alloc(8);
          head.writeUInt32LE(len, 0);
          const d = new FrameDecoder();
          expect(() => d.push(head)).toThrow(CorruptionError);
        },
      ),
      params,
    );
  });

  it("garbage, framed with a valid checksum or not, throws only CorruptionError", () => {
    const framed = (payload: Buffer) => {
      const head = Buffer.alloc(8);
      head.writeUInt32LE(payload.length, 0);
      head.writeUInt32LE(crc32(payload), 4);
      return Buffer.concat([head, payload]);
    };
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
          fc.uint8Array({ minLength: 1, maxLength: 200 }).map((a) => framed(Buffer.from(a))),
          fc.jsonValue().map((v) => framed(packValue(v))),
        ),
        cuts,
        (bytes, cs) => {
          const r = decode(bytes, cs);
          if (r.error !== null) expect(r.error).toBeInstanceOf(CorruptionError);
          for (const m of r.out) expect(typeof (m as { t: unknown }).t).toBe("string");
        },
      ),
      params,
    );
  });
});
