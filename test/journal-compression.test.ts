import { cpSync } from "node:fs";
import { mkdtemp, open, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CorruptionError } from "../src/errors.js";
import {
  BlockCodec,
  BlockPacker,
  blockContent,
  PACK_WAVE,
  SYNC_PACK_BYTES,
} from "../src/journal/block-codec.js";
import { buildPlan } from "../src/journal/build-plan.js";
import { decodeRecord, encodeRecord } from "../src/journal/codec.js";
import { INDEX_FILE, Journal } from "../src/journal/journal.js";
import { resolvePoint } from "../src/journal/points.js";
import type { BlobRecord, JournalRecord, RecordBody } from "../src/journal/records.js";
import { runRetention } from "../src/journal/retention.js";
import { encodeFrame, FRAME_HEADER_BYTES, HEADER_BYTES } from "../src/journal/segment-format.js";
import { verifyJournal } from "../src/journal/verify.js";
import { silentLogger } from "../src/log/logger.js";
import { applyPlan } from "../src/restore/apply.js";
import { produceStream } from "../src/stream/producer.js";
import { ReplicaTracker } from "../src/stream/replica-tracker.js";
import { encodeMessage, FrameDecoder, type StreamMessage } from "../src/stream/wire.js";
import { BlockHasher } from "../src/util/hash.js";
import { openTestJournal, VolumeModel } from "./support/model.js";
import { freshSeed, prng } from "./support/prng.js";
import { diffTrees, readTree, type TreeEntry } from "./support/tree.js";

const FIXTURE = join(import.meta.dirname, "fixtures", "journal-uncompressed");
const dirs: string[] = [];
const journals: Journal[] = [];
afterEach(async () => {
  for (const j of journals.splice(0)) await j.close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "pvj-zstd-"));
  dirs.push(d);
  return d;
}

async function openJ(dir: string, opts: Partial<Parameters<typeof Journal.open>[0]> = {}) {
  const j = await Journal.open({ dir, blockSize: 4096, ...opts });
  journals.push(j);
  return j;
}

const LINE = "2026-01-01T00:00:00.000Z INFO [worker-3] GET /api/v1/orders/4711 status=200 ms=12\n";
const text = (n: number, salt = 0) =>
  Buffer.from(`${salt}:${LINE.repeat(Math.ceil(n / LINE.length) + 1)}`).subarray(0, n);
const random = (n: number, seed = 1) => {
  const r = prng(seed);
  return r.bytes(n);
};

const hasherP = BlockHasher.create();
async function blob(data: Buffer): Promise<BlobRecord> {
  return { type: "blob", hash: (await hasherP).hash(data), data };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe("block codec", () => {
  it("compresses text, stores random and empty blocks raw, and decodes both", async () => {
    const packer = new BlockPacker();
    const bodies = [await blob(text(4096)), await blob(random(4096)), await blob(Buffer.alloc(0))];
    const out = packer.pack(bodies) as readonly BlobRecord[];
    expect(Array.isArray(out)).toBe(true);
    expect(out[0]!.packed).toEqual({ codec: BlockCodec.zstd, rawLen: 4096 });
    expect(out[0]!.data.length).toBeLessThan(1024);
    expect(out[0]!.hash.equals(bodies[0]!.hash)).toBe(true); // the hash stays the block's
    expect(out[1]!.packed).toBeUndefined();
    expect(out[1]!.data).toBe(bodies[1]!.data);
    expect(out[2]!.packed).toBeUndefined();
    for (const [i, rec] of out.entries()) {
      const stored = decodeRecord(encodeRecord({ ...rec, seq: i + 1, ts: 5 }));
      expect(stored.type).toBe("blob");
      expect(blockContent(stored as BlobRecord).equals(bodies[i]!.data)).toBe(true);
    }
  });

  it("compresses large appends on the thread pool with the same result", async () => {
    const packer = new BlockPacker({ codec: "zstd", level: 3 });
    const bodies: RecordBody[] = [];
    for (let i = 0; i * 64 * 1024 <= SYNC_PACK_BYTES; i++) bodies.push(await blob(text(65536, i)));
    const pending = packer.pack(bodies);
    expect(pending).toBeInstanceOf(Promise);
    const async = (await pending) as BlobRecord[];
    for (const [i, rec] of async.entries()) {
      expect(rec.data.equals(packer.packBlobSync(bodies[i] as BlobRecord).data)).toBe(true);
      expect(blockContent(rec).equals((bodies[i] as BlobRecord).data)).toBe(true);
    }
  });

  it("after incompressible blocks in a row it tries one block in at most 17, and resumes on the first that compresses", async () => {
    const packer = new BlockPacker();
    const rnd = await Promise.all(Array.from({ length: 200 }, (_, i) => blob(random(4096, i))));
    for (const b of rnd) expect((packer.pack([b]) as BlobRecord[])[0]!.packed).toBeUndefined();
    const txt = await Promise.all(Array.from({ length: 40 }, (_, i) => blob(text(4096, i))));
    const packed = txt.map((b) => (packer.pack([b]) as BlobRecord[])[0]!.packed !== undefined);
    const first = packed.indexOf(true);
    expect(first).toBeGreaterThan(0); // skipped while backing off: stored raw, still correct
    expect(first).toBeLessThanOrEqual(16);
    expect(packed.slice(first).every(Boolean)).toBe(true);
    // One incompressible block among compressible ones skips nothing.
    const mixed = [txt[0]!, rnd[0]!, txt[1]!, rnd[1]!, txt[2]!];
    const out = packer.pack(mixed) as BlobRecord[];
    expect(out.map((b) => b.packed !== undefined)).toEqual([true, false, true, false, true]);
  });

  it("on the thread pool too, incompressible blocks in a row get one try in at most 17, and it resumes on the first that compresses", async () => {
    const packer = new BlockPacker();
    // One append above SYNC_PACK_BYTES (the pool path), as a capture batch of small random files.
    const n = 2 * (SYNC_PACK_BYTES / 4096);
    const rnd = await Promise.all(Array.from({ length: n }, (_, i) => blob(random(4096, i))));
    const pending = packer.pack(rnd);
    expect(pending).toBeInstanceOf(Promise);
    const out = (await pending) as BlobRecord[];
    expect(out.every((b, i) => b.packed === undefined && b.data === rnd[i]!.data)).toBe(true);
    // One wave, then the synchronous path's budget: one try in at most 17.
    expect(packer.tries).toBeLessThanOrEqual(PACK_WAVE + Math.ceil(n / 17) + 1);
    const txt = await Promise.all(Array.from({ length: n }, (_, i) => blob(text(4096, i))));
    const packed = ((await packer.pack(txt)) as BlobRecord[]).map((b) => b.packed !== undefined);
    const first = packed.indexOf(true);
    expect(first).toBeGreaterThanOrEqual(0);
    expect(first).toBeLessThanOrEqual(16);
    expect(packed.slice(first).every(Boolean)).toBe(true);
    for (const [i, rec] of ((await packer.pack(txt)) as BlobRecord[]).entries())
      expect(blockContent(rec).equals(txt[i]!.data)).toBe(true);
  });

  it("compression none leaves every record as it was", async () => {
    const bodies = [await blob(text(4096))];
    expect(new BlockPacker({ codec: "none", level: 1 }).pack(bodies)).toBe(bodies);
  });

  it("a damaged compressed payload is JOURNAL_CORRUPT, never another exception", async () => {
    const rec = new BlockPacker().packBlobSync(await blob(text(8192)));
    expect(rec.packed).toBeDefined();
    const garbage = Buffer.from(rec.data);
    garbage.fill(0xa5, 0, 8); // the zstd frame header is gone
    expect(codeOf(() => blockContent({ ...rec, data: garbage }))).toBe("JOURNAL_CORRUPT");
    expect(codeOf(() => blockContent({ ...rec, data: rec.data.subarray(0, 7) }))).toBe(
      "JOURNAL_CORRUPT",
    );
    expect(codeOf(() => blockContent({ ...rec, packed: { codec: 1, rawLen: 8191 } }))).toBe(
      "JOURNAL_CORRUPT",
    );
    expect(codeOf(() => blockContent({ ...rec, packed: { codec: 9, rawLen: 8192 } }))).toBe(
      "JOURNAL_CORRUPT",
    );
    const payload = encodeRecord({ ...rec, seq: 1, ts: 1 });
    payload[1 + 8 + 8 + 16] = 7; // unknown codec byte
    expect(() => decodeRecord(payload)).toThrow(CorruptionError);
    expect(() => encodeRecord({ ...rec, packed: { codec: 7, rawLen: 1 }, seq: 1, ts: 1 })).toThrow(
      CorruptionError,
    );
  });
});

describe("journal with compression", () => {
  it("reads every block back by hash (async and sync), stores text smaller, streams blobs as stored", async () => {
    const dir = await tmp();
    const j = await openJ(dir);
    const blocks = [
      text(4096, 1),
      random(4096, 2),
      Buffer.alloc(4096),
      text(1000, 3),
      random(7, 4),
    ];
    const bodies = await Promise.all(blocks.map(blob));
    await j.append(bodies);
    for (const [i, b] of bodies.entries()) {
      expect((await j.readBlob(b.hash)).equals(blocks[i]!)).toBe(true);
      expect(j.readBlobSync(b.hash).equals(blocks[i]!)).toBe(true);
    }
    const stored = await Promise.all(bodies.map((b) => j.readStoredBlob(b.hash)));
    expect(stored.map((s) => s.packed !== undefined)).toEqual([true, false, true, true, false]);
    const seg = j.segments()[0]!;
    expect(seg.bytes).toBeLessThan(4096 * 2 + 2000);

    // The stream hands records on as they are stored; a replica keeps them so.
    const streamed: JournalRecord[] = [];
    for await (const r of j.records(1)) streamed.push(r);
    expect(streamed.map((r) => r.type === "blob" && r.packed !== undefined)).toEqual([
      true,
      false,
      true,
      true,
      false,
    ]);
    const replica = await openJ(await tmp());
    await replica.appendStamped(streamed);
    expect(replica.segments()[0]!.bytes).toBe(seg.bytes);
    for (const [i, b] of bodies.entries()) {
      expect((await replica.readBlob(b.hash)).equals(blocks[i]!)).toBe(true);
      const s = await replica.readStoredBlob(b.hash);
      expect(s.data.equals(stored[i]!.data)).toBe(true);
    }
    expect((await verifyJournal(replica, await hasherP)).ok).toBe(true);
  });

  it("keeps the order of a large (thread pool) append and a small one queued after it", async () => {
    const j = await openJ(await tmp());
    const big = await Promise.all(Array.from({ length: 64 }, (_, i) => blob(text(4096, 100 + i))));
    const small = await blob(text(4096, 999));
    const [a, b] = await Promise.all([j.append(big), j.append([small])]);
    expect(a.lastSeq).toBe(64);
    expect(b.firstSeq).toBe(65);
    const seqs: number[] = [];
    for await (const r of j.records(1)) {
      if (r.type === "blob") expect(r.packed?.codec).toBe(BlockCodec.zstd);
      seqs.push(r.seq);
    }
    expect(seqs).toEqual(Array.from({ length: 65 }, (_, i) => i + 1));
    expect(j.readBlobSync(small.hash).equals(small.data)).toBe(true);
  });

  it("a compressed block damaged on disk (checksum intact) fails reads with JOURNAL_CORRUPT and verify reports it", async () => {
    const dir = await tmp();
    const j = await openJ(dir);
    const good = await blob(text(4096, 1));
    const bad = await blob(text(4096, 2));
    await j.append([good, bad]);
    const loc = j.index.blob(bad.hash)!;
    const name = j.segments().find((s) => s.id === loc.segment_id)!.name;
    // Rewrite the frame with garbage where the zstd frame starts and a matching checksum:
    // only the codec can notice.
    const fh = await open(join(dir, name), "r+");
    const payload = Buffer.alloc(1 + 8 + 8 + 16 + loc.len);
    await fh.read(payload, 0, payload.length, loc.offset + FRAME_HEADER_BYTES);
    payload.fill(0x5a, 1 + 8 + 8 + 16 + 5, 1 + 8 + 8 + 16 + 5 + 6);
    const [head, body] = encodeFrame(payload);
    await fh.write(
      Buffer.concat([head!, body!]),
      0,
      FRAME_HEADER_BYTES + payload.length,
      loc.offset,
    );
    await fh.close();
    await expect(j.readBlob(bad.hash)).rejects.toMatchObject({ code: "JOURNAL_CORRUPT" });
    expect(codeOf(() => j.readBlobSync(bad.hash))).toBe("JOURNAL_CORRUPT");
    expect((await j.readBlob(good.hash)).equals(good.data)).toBe(true);
    const report = await verifyJournal(j, await hasherP);
    expect(report.ok).toBe(false);
    expect(report.problems.some((p) => p.kind === "damage" && p.offset === loc.offset)).toBe(true);
  });

  it("opens a journal written before compression, reads and restores it, and appends compressed blocks to it", async () => {
    const hasher = await hasherP;
    const content = Buffer.concat([
      Buffer.from(
        "2026-01-01T00:00:00.000Z INFO [worker-1] GET /api/v1/orders status=200\n".repeat(200),
      ).subarray(0, 10000),
      (() => {
        const rnd = Buffer.alloc(4096);
        let x = 7;
        for (let i = 0; i < rnd.length; i++) {
          x = (x * 1103515245 + 12345) >>> 0;
          rnd[i] = x >>> 24;
        }
        return rnd;
      })(),
    ]);
    for (const rebuild of [false, true]) {
      const dir = join(await tmp(), "j");
      cpSync(FIXTURE, dir, { recursive: true, filter: (p) => !p.endsWith(".mjs") });
      if (rebuild) await rm(join(dir, INDEX_FILE));
      const j = await openJ(dir);
      expect(j.blockSize).toBe(4096);
      const cp = j.index.lastCheckpoint()!;
      expect(cp.label).toBe("old-format");
      for await (const r of j.records(1)) if (r.type === "blob") expect(r.packed).toBeUndefined();
      const target = join(await tmp(), "restore");
      const point = resolvePoint(j, { checkpoint: cp.id }, Date.now());
      await applyPlan({ journal: j, plan: buildPlan(j, point), target, hasher });
      const tree = await readTree(target);
      expect(tree.get("data/app.log")?.content?.equals(content)).toBe(true);
      // New blocks go in compressed next to the old raw ones.
      const fresh = await blob(text(4096, 42));
      await j.append([fresh]);
      expect((await j.readStoredBlob(fresh.hash)).packed).toBeDefined();
      expect((await verifyJournal(j, hasher)).ok).toBe(true);
      await j.close();
      const again = await openJ(dir);
      expect((await again.readBlob(fresh.hash)).equals(fresh.data)).toBe(true);
      expect((await again.readBlob(hasher.hash(content.subarray(0, 4096)))).length).toBe(4096);
      expect((await stat(join(dir, "seg-0000000000000001.pvj"))).size).toBeGreaterThan(14096);
    }
  });
});

describe("the stream and compressed blocks", () => {
  async function streamed(j: Journal, codecs: string | undefined): Promise<BlobRecord[]> {
    const blobs: BlobRecord[] = [];
    let closed = false;
    const decoder = new FrameDecoder();
    await produceStream(
      { journal: j, hasher: await hasherP, tracker: new ReplicaTracker(j), logger: silentLogger() },
      { replica: "r1", from: 1, ...(codecs !== undefined ? { codecs } : {}) },
      {
        get closed() {
          return closed;
        },
        async send(msg: StreamMessage) {
          // Through the wire encoding, as a replica gets it.
          for (const m of decoder.push(encodeMessage(msg))) {
            if (m.t === "records") for (const r of m.records) if (r.type === "blob") blobs.push(r);
            if (m.t === "heartbeat") closed = true;
          }
        },
      },
    );
    return blobs;
  }

  it("carries compressed blocks as stored to a replica that reads zstd, decompressed to one that does not", async () => {
    const j = await openJ(await tmp());
    const block = text(4096, 5);
    await j.append([await blob(block), await blob(random(4096, 6))]);
    const asStored = await streamed(j, "zstd");
    expect(asStored[0]!.packed).toEqual({ codec: BlockCodec.zstd, rawLen: 4096 });
    expect(asStored[0]!.data.equals((await j.readStoredBlob(asStored[0]!.hash)).data)).toBe(true);
    expect(blockContent(asStored[0]!).equals(block)).toBe(true);
    for (const old of [undefined, ""]) {
      const plain = await streamed(j, old);
      expect(plain[0]!.packed).toBeUndefined();
      expect(plain[0]!.data.equals(block)).toBe(true);
      expect(plain[1]!.data.equals(asStored[1]!.data)).toBe(true);
    }
  });
});

describe("seeded model with compression on", () => {
  it("restores every checkpoint byte for byte from the journal, after retention, and from a replica fed by its stream", async () => {
    const seed = freshSeed();
    console.log(`journal compression model seed=${seed}`);
    const rand = prng(seed);
    let now = 1_800_000_000_000;
    const dir = await tmp();
    const { journal, hasher } = await openTestJournal(dir, {
      clock: () => (now += 1000),
      segmentSize: 64 * 1024,
    });
    journals.push(journal);
    const model = new VolumeModel(journal, hasher, rand);
    // Text, zeros, random and half-and-half content: blocks stored packed and raw.
    model.bytes = (n) => {
      const kind = rand.int(0, 3);
      if (kind === 0) return text(n, rand.int(0, 1e6));
      if (kind === 1) return rand.bytes(n);
      const b = text(n, rand.int(0, 1e6));
      rand.bytes(Math.floor(n / 2)).copy(b, kind === 2 ? 0 : n - Math.floor(n / 2));
      return b;
    };
    await model.init();
    const snaps: { cp: number; seq: number; tree: Map<string, TreeEntry> }[] = [];
    for (let i = 0; i < 600; i++) {
      await model.randomOp();
      if (rand.chance(0.05)) {
        const cp = await journal.checkpoint({ label: null, consistency: "crash" });
        snaps.push({ cp: cp.id, seq: cp.seq, tree: model.snapshot() });
      }
    }
    const cp = await journal.checkpoint({ label: "final", consistency: "crash" });
    snaps.push({ cp: cp.id, seq: cp.seq, tree: model.snapshot() });
    let packed = 0;
    let raw = 0;
    for await (const r of journal.records(1)) {
      if (r.type !== "blob") continue;
      if (r.packed) packed += 1;
      else raw += 1;
    }
    expect(packed, `seed=${seed}`).toBeGreaterThan(10);
    expect(raw, `seed=${seed}`).toBeGreaterThan(10);

    const restoreAll = async (j: Journal, fromSeq: number) => {
      for (const s of snaps) {
        if (s.seq < fromSeq) continue;
        const target = join(await tmp(), "restore");
        const point = resolvePoint(j, { checkpoint: s.cp }, now + 10_000);
        await applyPlan({ journal: j, plan: buildPlan(j, point), target, hasher });
        const diff = diffTrees(s.tree, await readTree(target), { mtimes: true, dirMtimes: true });
        expect(diff, `seed=${seed} cp=${s.cp}`).toEqual([]);
      }
    };
    await restoreAll(journal, 0);

    // A replica stores what the stream carries, byte for byte.
    const replica = await openJ(await tmp(), { clock: () => now });
    const batch: JournalRecord[] = [];
    for await (const r of journal.records(1)) batch.push(r);
    await replica.appendStamped(batch);
    // Frames only: the primary's 64 KiB segments have more 16-byte headers.
    const frames = (j: Journal) => j.sizeBytes - HEADER_BYTES * j.segments().length;
    expect(frames(replica)).toBe(frames(journal));
    await restoreAll(replica, 0);
    expect((await verifyJournal(replica, hasher)).ok, `seed=${seed}`).toBe(true);

    // Retention folds the older half into a base that keeps compressed blocks as stored.
    const mid = snaps[Math.floor(snaps.length / 2)]!;
    const result = await runRetention(journal, {
      retention: now - (journal.index.tsAtSeq(mid.seq) ?? now) + 1,
      now: now + 1,
      hasher,
    });
    expect(result.baseSeq, result.reason).not.toBeNull();
    await restoreAll(journal, result.baseSeq!);
    const report = await verifyJournal(journal, hasher);
    expect(report.problems, `seed=${seed}`).toEqual([]);
  });
});
