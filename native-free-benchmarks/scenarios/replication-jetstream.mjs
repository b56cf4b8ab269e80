// Replication through NATS JetStream (stream.transport: jetstream) against
// the HTTP stream in the same run, on loopback, with a real three-node
// JetStream cluster (Debian's nats-server) and a stream of replication factor 3:
// (1) stream throughput: a burst of changed 64 KiB blocks appended at the
//     sidecar until durable at one replica, HTTP vs JetStream R3;
// (2) sidecar CPU per GB streamed: the sidecar side alone (HTTP: the stream
//     route serving a reader in a child process; JetStream: the publisher);
// (3) checkpoint -> durable at every replica, p50/p99, three JetStream
//     replicas, under a 10 MB/s random-write workload.
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect as tcp } from "node:net";
import { join } from "node:path";
import { streamRoutes } from "../../dist/http/routes/stream.js";
import { buildServer } from "../../dist/http/server.js";
import { Journal } from "../../dist/journal/journal.js";
import { silentLogger } from "../../dist/log/logger.js";
import { createMetrics } from "../../dist/metrics/registry.js";
import { Mirror } from "../../dist/replica/mirror.js";
import { Replica, replicaId } from "../../dist/replica/replica.js";
import { HttpStreamSource } from "../../dist/stream/http-source.js";
import { connectNats } from "../../dist/stream/jetstream-connect.js";
import { JetStreamPublisher } from "../../dist/stream/jetstream-publisher.js";
import { JetStreamSource } from "../../dist/stream/jetstream-source.js";
import { ReplicaTracker } from "../../dist/stream/replica-tracker.js";
import { BlockHasher } from "../../dist/util/hash.js";
import { freePort, have, now, percentile, prng, r3, scratch } from "../lib.mjs";

export const name = "replication-jetstream";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const NATS = have("/usr/sbin/nats-server") ? "/usr/sbin/nats-server" : "nats-server";
const BS = 64 * 1024;

async function startCluster(dir) {
  mkdirSync(dir, { recursive: true });
  const ports = [await freePort(), await freePort(), await freePort()];
  const routes = [await freePort(), await freePort(), await freePort()];
  const procs = ports.map((port, i) => {
    const conf = join(dir, `n${i}.conf`);
    writeFileSync(
      conf,
      [
        `server_name: n${i}`,
        `listen: "127.0.0.1:${port}"`,
        "max_payload: 8388608",
        `jetstream { store_dir: "${join(dir, `n${i}`)}", max_file_store: 8G }`,
        `cluster { name: b, listen: 127.0.0.1:${routes[i]}, routes: [${routes.map((p) => `nats-route://127.0.0.1:${p}`).join(", ")}] }`,
      ].join("\n"),
    );
    return spawn(NATS, ["-c", conf], { stdio: "ignore" });
  });
  for (const port of ports) {
    for (;;) {
      const ok = await new Promise((res) => {
        const s = tcp(port, "127.0.0.1");
        s.once("connect", () => res(s.destroy() || true));
        s.once("error", () => res(false));
      });
      if (ok) break;
      await sleep(50);
    }
  }
  await sleep(1500); // JetStream meta leader election
  return {
    urls: ports.map((p) => `nats://127.0.0.1:${p}`),
    procs,
    stop: () => {
      for (const p of procs) p.kill("SIGKILL");
    },
  };
}

function cpuSeconds(pid) {
  // utime + stime of a process, in seconds (clock ticks of 1/100 s on Linux).
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

async function fill(journal, hasher, rand, mib, fileId = 2) {
  await journal.append([
    { type: "link", fileId: 1, path: "data", kind: "dir" },
    { type: "link", fileId, path: "data/db", kind: "file" },
  ]);
  const blocks = (mib * 1024 * 1024) / BS;
  let last = 0;
  for (let i = 0; i < blocks; i += 64) {
    const recs = [];
    for (let k = i; k < Math.min(blocks, i + 64); k++) {
      const data = rand.fill(Buffer.allocUnsafe(BS));
      const hash = hasher.hash(data);
      recs.push({ type: "blob", hash, data }, { type: "write", fileId, block: k, len: BS, hash });
    }
    last = (await journal.append(recs)).lastSeq;
  }
  return last;
}

async function replicaOn(dir, source, hasher) {
  const rj = await Journal.open({ dir: join(dir, "j") });
  const mirror = new Mirror(rj, join(dir, "m"), hasher, silentLogger());
  await mirror.init();
  const rep = new Replica(rj, source(rj), mirror, silentLogger());
  return { rj, rep };
}

export async function run({ quick }) {
  if (!have(NATS))
    return {
      figures: { peersMissing: ["nats-server"] },
      notes: ["nats-server not installed"],
      table: [],
    };
  const s = scratch("pvj-bench-js-");
  const hasher = await BlockHasher.create();
  const cluster = await startCluster(join(s.dir, "nats"));
  const mib = quick ? 128 : 512;
  const out = {};
  try {
    // (1) throughput, HTTP then JetStream R3, the same burst size.
    {
      const src = await Journal.open({ dir: join(s.dir, "h-src"), blockSize: BS });
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
      const { rj, rep } = await replicaOn(
        join(s.dir, "h-rep"),
        (j) =>
          new HttpStreamSource({ source: address, replicaId: replicaId(j), token: null, ca: null }),
        hasher,
      );
      rep.start();
      const t0 = now();
      const last = await fill(src, hasher, prng(1), mib);
      while (rj.lastSeq < last) await rj.waitForAppend(rj.lastSeq, 100);
      out.httpMs = now() - t0;
      await rep.stop();
      // (2) HTTP sidecar CPU: a child process reads the whole stream and discards it.
      const cpu0 = process.cpuUsage();
      const t1 = now();
      await new Promise((res, rej) => {
        const reader = spawn(
          process.execPath,
          [
            "--input-type=module",
            "-e",
            `
          import { FrameDecoder } from ${JSON.stringify(new URL("../../dist/stream/wire.js", import.meta.url).href)};
          const res = await fetch(${JSON.stringify(`${address}/v1/stream?from=1&replica=cpu`)});
          const d = new FrameDecoder();
          for await (const c of res.body) for (const m of d.push(Buffer.from(c))) if (m.t === "heartbeat" && m.lastSeq <= ${last}) process.exit(0);`,
          ],
          { stdio: "inherit" },
        );
        reader.on("exit", (c) => (c === 0 ? res() : rej(new Error(`reader exited ${c}`))));
      });
      const c = process.cpuUsage(cpu0);
      out.httpCpuS = (c.user + c.system) / 1e6;
      out.httpServeMs = now() - t1;
      await app.close();
      await src.close();
      await rj.close();
    }
    {
      const src = await Journal.open({ dir: join(s.dir, "j-src"), blockSize: BS });
      const nc = await connectNats({
        servers: cluster.urls,
        stream: "bench",
        replicas: 3,
        token: null,
        ca: null,
        name: "bench-sidecar",
      });
      const pub = new JetStreamPublisher(nc, {
        stream: "bench",
        replicas: 3,
        maxAgeMs: 3600_000,
        journal: src,
        logger: silentLogger(),
      });
      await pub.open();
      pub.start();
      const rnc = await connectNats({
        servers: cluster.urls,
        stream: "bench",
        replicas: 3,
        token: null,
        ca: null,
        name: "bench-replica",
      });
      const { rj, rep } = await replicaOn(
        join(s.dir, "j-rep"),
        () =>
          new JetStreamSource(async () => rnc, {
            stream: "bench",
            consumer: "r1",
            servers: cluster.urls,
            logger: silentLogger(),
          }),
        hasher,
      );
      rep.start();
      const t0 = now();
      const last = await fill(src, hasher, prng(1), mib);
      while (rj.lastSeq < last) await rj.waitForAppend(rj.lastSeq, 100);
      out.jsMs = now() - t0;
      await rep.stop();
      await rj.close();
      await rnc.close();
      await pub.stop();
      await nc.close();
      // (2) JetStream sidecar CPU: a fresh publisher ships the whole journal to a new stream.
      const nc2 = await connectNats({
        servers: cluster.urls,
        stream: "bench2",
        replicas: 3,
        token: null,
        ca: null,
        name: "bench-cpu",
      });
      const pub2 = new JetStreamPublisher(nc2, {
        stream: "bench2",
        replicas: 3,
        maxAgeMs: 3600_000,
        journal: src,
        logger: silentLogger(),
      });
      await pub2.open();
      const natsCpu0 = cluster.procs.reduce((a, p) => a + cpuSeconds(p.pid), 0);
      const cpu0 = process.cpuUsage();
      const t1 = now();
      pub2.start();
      while (pub2.status().publishedSeq < last) await sleep(20);
      const c = process.cpuUsage(cpu0);
      out.jsCpuS = (c.user + c.system) / 1e6;
      out.jsServeMs = now() - t1;
      out.natsCpuS = cluster.procs.reduce((a, p) => a + cpuSeconds(p.pid), 0) - natsCpu0;
      await pub2.stop();
      await nc2.close();
      await src.close();
    }
    // (3) checkpoint -> durable at all three replicas under 10 MB/s of random 64 KiB writes.
    {
      const src = await Journal.open({ dir: join(s.dir, "l-src"), blockSize: BS });
      const nc = await connectNats({
        servers: cluster.urls,
        stream: "lat",
        replicas: 3,
        token: null,
        ca: null,
        name: "lat-sidecar",
      });
      const pub = new JetStreamPublisher(nc, {
        stream: "lat",
        replicas: 3,
        maxAgeMs: 3600_000,
        journal: src,
        logger: silentLogger(),
      });
      await pub.open();
      pub.start();
      const reps = [];
      for (let i = 0; i < 3; i++) {
        const rnc = await connectNats({
          servers: [cluster.urls[i]],
          stream: "lat",
          replicas: 3,
          token: null,
          ca: null,
          name: `lat-r${i}`,
        });
        const r = await replicaOn(
          join(s.dir, `l-rep${i}`),
          () =>
            new JetStreamSource(async () => rnc, {
              stream: "lat",
              consumer: `r${i}`,
              servers: [cluster.urls[i]],
              logger: silentLogger(),
            }),
          hasher,
        );
        r.rep.start();
        reps.push({ ...r, rnc });
      }
      await src.append([
        { type: "link", fileId: 1, path: "data", kind: "dir" },
        { type: "link", fileId: 2, path: "data/db", kind: "file" },
      ]);
      const rand = prng(7);
      const seconds = quick ? 15 : 40;
      let stop = false;
      // 10 MB/s: 16 random 64 KiB blocks every 100 ms.
      const writer = (async () => {
        while (!stop) {
          const t = now();
          const recs = [];
          for (let k = 0; k < 16; k++) {
            const data = rand.fill(Buffer.allocUnsafe(BS));
            const hash = hasher.hash(data);
            recs.push(
              { type: "blob", hash, data },
              { type: "write", fileId: 2, block: rand.int(16384), len: BS, hash },
            );
          }
          await src.append(recs);
          await sleep(Math.max(0, 100 - (now() - t)));
        }
      })();
      const lat = [];
      const end = now() + seconds * 1000;
      let n = 0;
      while (now() < end) {
        await sleep(250);
        const t = now();
        const cp = await src.checkpoint({ label: `c${n++}`, consistency: "fuzzy" });
        await Promise.all(
          reps.map(async ({ rj }) => {
            while (rj.lastSeq < cp.seq) await rj.waitForAppend(rj.lastSeq, 20);
          }),
        );
        lat.push(now() - t);
      }
      stop = true;
      await writer;
      out.lat = lat;
      for (const r of reps) {
        await r.rep.stop();
        await r.rj.close();
        await r.rnc.close();
      }
      await pub.stop();
      await nc.close();
      await src.close();
    }
  } finally {
    cluster.stop();
    s.cleanup();
  }
  const mbps = (ms) => (mib * 1.048576) / (ms / 1000);
  const gb = (mib * 1.048576) / 1000;
  const ratio = out.httpMs / out.jsMs;
  return {
    figures: {
      burstMiB: mib,
      httpMBps: mbps(out.httpMs),
      jetstreamR3MBps: mbps(out.jsMs),
      ratioJetstreamVsHttp: ratio,
      httpSidecarCpuSecPerGB: out.httpCpuS / gb,
      jetstreamSidecarCpuSecPerGB: out.jsCpuS / gb,
      natsServersCpuSecPerGB: out.natsCpuS / gb,
      checkpointDurableAt3P50Ms: percentile(out.lat, 50),
      checkpointDurableAt3P99Ms: percentile(out.lat, 99),
      checkpointSamples: out.lat.length,
      peersMissing: [],
    },
    notes: [
      `throughput: ${mib} MiB of changed 64 KiB blocks appended at the sidecar until durable at one replica (its fsync), loopback; JetStream stream R3 on a 3-node cluster`,
      "sidecar CPU per GB: this process's CPU while only the sidecar side ships the pre-filled journal (HTTP: a child process reads the stream; JetStream: the publisher until every message is acknowledged); NATS servers' CPU is reported apart",
      "checkpoint latency: a checkpoint every 250 ms under 10 MB/s of random 64 KiB writes, until durable in all three replicas' journals",
      "goals: JetStream >= 0.5x HTTP; checkpoint -> durable at every replica p99 < 1 s",
    ],
    table: [
      ["stream throughput HTTP (1 replica)", r3(mbps(out.httpMs)), "MB/s"],
      ["stream throughput JetStream R3 (1 replica)", r3(mbps(out.jsMs)), "MB/s"],
      ["ratio JetStream / HTTP", r3(ratio), "x"],
      ["sidecar CPU per GB, HTTP", r3(out.httpCpuS / gb), "s/GB"],
      ["sidecar CPU per GB, JetStream", r3(out.jsCpuS / gb), "s/GB"],
      ["NATS servers' CPU per GB (3 nodes, R3)", r3(out.natsCpuS / gb), "s/GB"],
      ["checkpoint -> durable at 3 replicas p50", r3(percentile(out.lat, 50)), "ms"],
      ["checkpoint -> durable at 3 replicas p99", r3(percentile(out.lat, 99)), "ms"],
    ],
  };
}
