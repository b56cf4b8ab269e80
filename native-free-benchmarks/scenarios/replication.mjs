// Replication over loopback: (1) write-to-durable-at-replica latency p50/p99
// for small changes arriving continuously; (2) stream throughput for a burst
// of changed blocks vs. `rsync` of the same changed data (as files) in the
// same run. The sidecar side (journal + stream server) and the replica
// (follow loop + journal + mirror) run in this process on loopback HTTP.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { streamRoutes } from "../../dist/http/routes/stream.js";
import { buildServer } from "../../dist/http/server.js";
import { Journal } from "../../dist/journal/journal.js";
import { silentLogger } from "../../dist/log/logger.js";
import { createMetrics } from "../../dist/metrics/registry.js";
import { Mirror } from "../../dist/replica/mirror.js";
import { Replica, replicaId } from "../../dist/replica/replica.js";
import { HttpStreamSource } from "../../dist/stream/http-source.js";
import { ReplicaTracker } from "../../dist/stream/replica-tracker.js";
import { BlockHasher } from "../../dist/util/hash.js";
import { have, now, percentile, prng, r3, runTimed, scratch } from "../lib.mjs";

export const name = "replication";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function run({ quick }) {
  const s = scratch();
  const bs = 64 * 1024;
  const hasher = await BlockHasher.create();
  const rand = prng(11);
  const src = await Journal.open({ dir: join(s.dir, "src"), blockSize: bs });
  const tracker = new ReplicaTracker(src);
  const app = await buildServer({
    logger: silentLogger(),
    token: null,
    bodyLimit: 1 << 20,
    role: "sidecar",
    readiness: () => ({ ready: true }),
    metrics: createMetrics(),
    routes: [streamRoutes({ journal: src, hasher, tracker, logger: silentLogger() })],
  });
  const address = await app.listen({ host: "127.0.0.1", port: 0 });
  const rj = await Journal.open({ dir: join(s.dir, "replica") });
  const mirror = new Mirror(rj, join(s.dir, "mirror"), hasher, silentLogger());
  await mirror.init();
  const replica = new Replica(
    rj,
    new HttpStreamSource({ source: address, replicaId: replicaId(rj), token: null, ca: null }),
    mirror,
    silentLogger(),
  );
  replica.start();
  await src.append([
    { type: "link", fileId: 1, path: "data", kind: "dir" },
    { type: "link", fileId: 2, path: "data/db", kind: "file" },
  ]);

  // (1) Latency: one changed 4 KiB-in-64 KiB block every 50 ms.
  const samples = quick ? 60 : 300;
  const lat = [];
  for (let i = 0; i < samples; i++) {
    const data = rand.fill(Buffer.allocUnsafe(bs));
    const hash = hasher.hash(data);
    const t = now();
    const r = await src.append([
      { type: "blob", hash, data },
      { type: "write", fileId: 2, block: rand.int(1024), len: bs, hash },
    ]);
    while (rj.lastSeq < r.lastSeq) await rj.waitForAppend(rj.lastSeq, 50);
    lat.push(now() - t);
    await sleep(50);
  }

  // (2) Throughput: a burst of changed blocks.
  const mib = quick ? 128 : 512;
  const blocks = (mib * 1024 * 1024) / bs;
  const burst = Array.from({ length: blocks }, () => rand.fill(Buffer.allocUnsafe(bs)));
  const t0 = now();
  let last = 0;
  for (let i = 0; i < blocks; i += 64) {
    const recs = [];
    for (let k = i; k < Math.min(blocks, i + 64); k++) {
      const hash = hasher.hash(burst[k]);
      recs.push(
        { type: "blob", hash, data: burst[k] },
        { type: "write", fileId: 2, block: 2048 + k, len: bs, hash },
      );
    }
    last = (await src.append(recs)).lastSeq;
  }
  while (rj.lastSeq < last) await rj.waitForAppend(rj.lastSeq, 100);
  const streamMs = now() - t0;
  await replica.stop();
  await app.close();
  await src.close();
  await rj.close();

  // rsync of the same changed bytes (as 64 files of equal total size) into an empty directory.
  let rsyncMs = null;
  if (have("rsync")) {
    const from = join(s.dir, "rsync-src");
    mkdirSync(from);
    const per = burst.length / 64;
    for (let f = 0; f < 64; f++)
      writeFileSync(join(from, `f${f}`), Buffer.concat(burst.slice(f * per, (f + 1) * per)));
    rsyncMs = runTimed("rsync", ["-a", "--whole-file", `${from}/`, join(s.dir, "rsync-dst")]);
  }
  s.cleanup();
  const mbps = (ms) => (mib * 1.048576) / (ms / 1000);
  return {
    figures: {
      latencyP50Ms: percentile(lat, 50),
      latencyP99Ms: percentile(lat, 99),
      burstMiB: mib,
      streamMBps: mbps(streamMs),
      rsyncMBps: rsyncMs === null ? null : mbps(rsyncMs),
      ratioVsRsync: rsyncMs === null ? null : rsyncMs / streamMs,
      peersMissing: have("rsync") ? [] : ["rsync"],
    },
    notes: [
      "latency: from the sidecar's durable append to durable at the replica (fsynced in its own journal), loopback HTTP",
      `throughput: ${mib} MiB of changed 64 KiB blocks appended at the sidecar until durable at the replica; includes the sidecar's own fsyncs`,
      "rsync: local `rsync -a --whole-file` of the same bytes as files (no fsync), the floor for shipping changed data",
      "goal: p99 under 1.5 s",
    ],
    table: [
      ["write-to-durable-at-replica p50", r3(percentile(lat, 50)), "ms"],
      ["write-to-durable-at-replica p99", r3(percentile(lat, 99)), "ms"],
      ["stream throughput (append + ship + replica fsync)", r3(mbps(streamMs)), "MB/s"],
      ["rsync of the same bytes", rsyncMs === null ? "not installed" : r3(mbps(rsyncMs)), "MB/s"],
      ["ratio stream / rsync", rsyncMs === null ? null : r3(rsyncMs / streamMs), "x"],
    ],
  };
}
