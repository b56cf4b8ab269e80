// Journal append throughput: group commit (concurrent writers, one fdatasync
// per batch) vs. a plain file with write+fdatasync per record (the naive
// durable log) and vs. one write + one fdatasync of the same bytes (the
// floor, not durable per record). Also bytes on disk per changed byte.
import { closeSync, fdatasyncSync, openSync, readdirSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { Journal } from "../../dist/journal/journal.js";
import { BlockHasher } from "../../dist/util/hash.js";
import { now, percentile, prng, r3, scratch } from "../lib.mjs";

export const name = "journal-append";

export async function run({ quick }) {
  const records = quick ? 4000 : 40000;
  const size = 4096;
  const writers = 32;
  const rand = prng(42);
  const hasher = await BlockHasher.create();
  const blocks = Array.from({ length: records }, () => rand.fill(Buffer.allocUnsafe(size)));
  const hashes = blocks.map((b) => hasher.hash(b));
  const payload = records * size;

  // pvjournal: `writers` concurrent appenders, each awaiting its own durable ack.
  const s1 = scratch();
  const journal = await Journal.open({ dir: s1.dir, blockSize: size });
  const lat = [];
  let next = 0;
  const t0 = now();
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (next < records) {
        const i = next++;
        const t = now();
        await journal.append([
          { type: "blob", hash: hashes[i], data: blocks[i] },
          { type: "write", fileId: 1, block: i, len: size, hash: hashes[i] },
        ]);
        lat.push(now() - t);
      }
    }),
  );
  const pvjMs = now() - t0;
  await journal.close();
  const onDisk = readdirSync(s1.dir).reduce((a, f) => a + statSync(join(s1.dir, f)).size, 0);
  s1.cleanup();

  // Naive durable log: write + fdatasync per record (capped: it is slow).
  const naiveRecords = Math.min(records, quick ? 1000 : 5000);
  const s2 = scratch();
  let fd = openSync(join(s2.dir, "log"), "w");
  const t1 = now();
  for (let i = 0; i < naiveRecords; i++) {
    writeSync(fd, blocks[i]);
    fdatasyncSync(fd);
  }
  const naiveMs = now() - t1;
  closeSync(fd);

  // Floor: the same bytes in one go, one fdatasync.
  fd = openSync(join(s2.dir, "floor"), "w");
  const t2 = now();
  for (let i = 0; i < records; i++) writeSync(fd, blocks[i]);
  fdatasyncSync(fd);
  const floorMs = now() - t2;
  closeSync(fd);
  s2.cleanup();

  const mbps = (bytes, ms) => bytes / 1e6 / (ms / 1000);
  const pvj = mbps(payload, pvjMs);
  const naive = mbps(naiveRecords * size, naiveMs);
  const floor = mbps(payload, floorMs);
  return {
    figures: {
      records,
      recordBytes: size,
      writers,
      pvjournalMBps: pvj,
      naiveFdatasyncPerRecordMBps: naive,
      floorOneFdatasyncMBps: floor,
      ratioVsNaive: pvj / naive,
      ratioVsFloor: pvj / floor,
      appendLatencyP50Ms: percentile(lat, 50),
      appendLatencyP99Ms: percentile(lat, 99),
      bytesOnDiskPerChangedByte: onDisk / payload,
    },
    notes: [
      `${records} random 4 KiB blocks, ${writers} concurrent writers, each waiting for its own durable acknowledgement`,
      "naive = write(2)+fdatasync(2) per record on a plain file; floor = all bytes then one fdatasync (no per-record durability)",
    ],
    table: [
      ["pvjournal group commit", r3(pvj), "MB/s"],
      ["plain write+fdatasync per record", r3(naive), "MB/s"],
      ["ratio pvjournal / naive", r3(pvj / naive), "x"],
      ["plain write, one fdatasync (floor)", r3(floor), "MB/s"],
      ["ratio pvjournal / floor", r3(pvj / floor), "x"],
      ["append latency p50", r3(percentile(lat, 50)), "ms"],
      ["append latency p99", r3(percentile(lat, 99)), "ms"],
      ["bytes on disk per changed byte (segments + index)", r3(onDisk / payload), "x"],
    ],
  };
}
