/**
 * stream.transport: jetstream end to end: a real three-node JetStream
 * cluster, a sidecar with a seeded writer and two replicas as child
 * processes, each replica with its own journal and mirror, through kill -9
 * of a NATS node, the sidecar and each replica, and a replica stopped for
 * longer than the stream's age limit (it bootstraps from the Object Store).
 */
import { cp, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Journal } from "../src/journal/journal.js";
import { type CliProcess, freePort, runCli, spawnCli, tmpDir, waitFor } from "./helpers/index.js";
import { type NatsCluster, startNatsCluster } from "./helpers/nats.js";
import { makeTmpDir } from "./helpers/tmp.js";
import { FsWriter } from "./support/fs-writer.js";
import { freshSeed, prng } from "./support/prng.js";
import { diffTrees, readTree, type TreeEntry } from "./support/tree.js";

const TOKEN = "e2e-js-token";
/** journal.retention of the sidecar = the stream's age limit (s). */
const STREAM_AGE_S = 12;

let natsDir: string;
let cluster: NatsCluster;
beforeAll(async () => {
  natsDir = await makeTmpDir("pvj-jetstream-nats-");
  cluster = await startNatsCluster(natsDir);
}, 30_000);
afterAll(async () => {
  await cluster?.stop();
  await rm(natsDir, { recursive: true, force: true });
});

interface Daemon {
  readonly name: string;
  readonly base: string;
  readonly yaml: string;
}

function streamYaml(stream: string, urls: readonly string[]): string[] {
  return [
    "stream:",
    "  transport: jetstream",
    "  nats:",
    `    servers: [${urls.join(", ")}]`,
    `    stream: ${stream}`,
    "    replicas: 3",
  ];
}

async function sidecarConfig(dir: string, name: string, stream: string): Promise<Daemon> {
  const port = await freePort();
  await mkdir(join(dir, `${name}-data`), { recursive: true });
  const yaml = join(dir, `${name}.yaml`);
  await writeFile(
    yaml,
    [
      "sources:",
      "  - name: data",
      `    path: ./${name}-data`,
      "journal:",
      `  dir: ./${name}-journal`,
      "  blockSize: 4KiB",
      `  retention: ${STREAM_AGE_S}s`,
      "api:",
      `  listen: 127.0.0.1:${port}`,
      "  tokenFile: ./token",
      "checkpoints:",
      "  interval: 0s",
      "capture:",
      "  debounce: 30ms",
      "  maxWait: 200ms",
      ...streamYaml(stream, cluster.urls),
      "log:",
      "  level: warn",
    ].join("\n"),
  );
  return { name, base: `http://127.0.0.1:${port}`, yaml };
}

async function replicaConfig(dir: string, name: string, stream: string): Promise<Daemon> {
  const port = await freePort();
  await mkdir(join(dir, `${name}-mirror`), { recursive: true });
  const yaml = join(dir, `${name}.yaml`);
  await writeFile(
    yaml,
    [
      "journal:",
      `  dir: ./${name}-journal`,
      "api:",
      `  listen: 127.0.0.1:${port}`,
      "  tokenFile: ./token",
      "replica:",
      `  id: ${name}`,
      `  mirrorDir: ./${name}-mirror`,
      ...streamYaml(stream, cluster.urls),
      "log:",
      "  level: warn",
    ].join("\n"),
  );
  return { name, base: `http://127.0.0.1:${port}`, yaml };
}

async function api<T>(base: string, path: string, init: RequestInit = {}) {
  const res = await fetch(`${base}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
  });
  return { status: res.status, body: (await res.json().catch(() => null)) as T };
}

function spawnDaemon(role: "sidecar" | "replica", d: Daemon, dir: string): CliProcess {
  return spawnCli([role, "-c", d.yaml], { cwd: dir, timeout: 300_000 });
}

async function start(role: "sidecar" | "replica", d: Daemon, dir: string): Promise<CliProcess> {
  const p = spawnDaemon(role, d, dir);
  await waitFor(
    async () => {
      p.assertRunning();
      const probe = role === "sidecar" ? "/readyz" : "/healthz";
      return (await fetch(`${d.base}${probe}`).catch(() => null))?.status === 200;
    },
    { timeout: 30_000, what: `${d.name} ready` },
  );
  return p;
}

async function kill9(p: CliProcess | null): Promise<void> {
  if (!p) return;
  p.child.kill("SIGKILL");
  await p.exited;
}

/** A stopped daemon's journal: its base seq, its records' seqs, and those of its blobs. */
async function seqs(dir: string): Promise<{ base: number; records: number[]; blobs: number[] }> {
  const j = await Journal.open({ dir, readOnly: true });
  try {
    const records: number[] = [];
    const blobs: number[] = [];
    for await (const r of j.records(j.baseSeq + 1))
      (r.type === "blob" ? blobs : records).push(r.seq);
    return { base: j.baseSeq, records, blobs };
  } finally {
    await j.close();
  }
}

describe("stream.transport: jetstream", () => {
  it("every acknowledged checkpoint reaches both replicas through node, sidecar and replica kills, a bootstrap, and site loss", async () => {
    const seed = freshSeed();
    console.log(`e2e jetstream seed=${seed}`);
    const rand = prng(seed);
    const dir = await tmpDir("pvj-jetstream-");
    await writeFile(join(dir, "token"), `${TOKEN}\n`);
    const sd = await sidecarConfig(dir, "sidecar", "pvj-e2e");
    const ra = await replicaConfig(dir, "dr-a", "pvj-e2e");
    const rb = await replicaConfig(dir, "dr-b", "pvj-e2e");
    const writer = new FsWriter(join(dir, "sidecar-data"), rand, 4096);
    let sc: CliProcess | null = await start("sidecar", sd, dir);
    let pa: CliProcess | null = await start("replica", ra, dir);
    let pb: CliProcess | null = await start("replica", rb, dir);
    const acked: { id: number; seq: number; at: number; tree: Map<string, TreeEntry> }[] = [];
    const checkpoint = async (label: string) => {
      const r = await api<{ id: number; seq: number }>(sd.base, "/v1/checkpoints", {
        method: "POST",
        body: JSON.stringify({ label }),
      });
      expect(r.status).toBe(201);
      acked.push({ ...r.body, at: Date.now(), tree: await readTree(join(dir, "sidecar-data")) });
    };
    const round = async (label: string) => {
      const steps = rand.int(5, 20);
      for (let i = 0; i < steps; i++) await writer.step();
      await checkpoint(label);
    };

    for (let r = 0; r < 3; r++) await round(`warm${r}`);
    // kill -9 of one NATS node mid-stream (R3 keeps quorum), then its restart.
    const node = rand.int(0, 2);
    await cluster.kill(node);
    for (let r = 0; r < 2; r++) await round(`node-down${r}`);
    await cluster.restart(node);
    await round("node-back");
    // kill -9 of the sidecar: it resumes from the stream's last message.
    await kill9(sc);
    sc = null;
    for (let i = 0; i < 5; i++) await writer.step();
    sc = await start("sidecar", sd, dir);
    await round("sidecar-back");
    // kill -9 of each replica.
    await kill9(pa);
    await round("a-down");
    pa = await start("replica", ra, dir);
    await kill9(pb);
    await round("b-down");
    pb = await start("replica", rb, dir);
    await round("both-back");
    // dr-b stopped for longer than the stream's age limit: it must bootstrap.
    await waitFor(
      async () =>
        (await api<{ replica: { mirrorSeq: number } }>(rb.base, "/v1/status")).body.replica
          .mirrorSeq === acked[acked.length - 1]!.seq,
      { timeout: 20_000, what: "dr-b caught up before its long stop" },
    );
    await kill9(pb);
    const stoppedAt = Date.now();
    while (Date.now() - stoppedAt < (STREAM_AGE_S + 6) * 1000) await round("b-away");
    pb = await start("replica", rb, dir);
    await round("final");
    // Which checkpoints come after dr-b's base depends on when the sidecar
    // wrote it (at the newest seq, each time the stream aged past the stored
    // one), possibly after "final": once dr-b has bootstrapped and caught up,
    // two more rounds are after its base whatever the timing was.
    const final = acked[acked.length - 1]!.seq;
    await waitFor(
      async () =>
        (await api<{ replica: { mirrorSeq: number } }>(rb.base, "/v1/status")).body.replica
          .mirrorSeq >= final,
      { timeout: 60_000, what: "dr-b bootstrapped and caught up with the final round" },
    );
    for (let r = 0; r < 2; r++) await round(`after-base${r}`);
    const last = acked[acked.length - 1]!;

    for (const [d, p] of [
      [ra, pa],
      [rb, pb],
    ] as const) {
      let seen: unknown = null;
      await waitFor(
        async () => {
          const s = await api<{ lastSeq: number; replica: { mirrorSeq: number } }>(
            d.base,
            "/v1/status",
          );
          seen = s.body;
          return s.body.lastSeq >= last.seq && s.body.replica.mirrorSeq === last.seq;
        },
        { timeout: 60_000, what: `${d.name} caught up with the last checkpoint` },
      ).catch(async (err: unknown) => {
        const side = (await api(sd.base, "/v1/status")).body;
        if (process.env.JS_DEBUG_KEEP)
          await cp(dir, process.env.JS_DEBUG_KEEP, { recursive: true });
        throw new Error(
          `${(err as Error).message}\n${d.name}: ${JSON.stringify(seen)}\n${p?.stderr()}\nsidecar: ${JSON.stringify(side)}\n${sc?.stderr()}`,
        );
      });
      expect(
        diffTrees(last.tree, await readTree(join(dir, `${d.name}-mirror`, "data")), {
          mtimes: true,
        }),
        `seed=${seed} ${d.name} mirror`,
      ).toEqual([]);
    }
    // The sidecar sees both replicas' positions (their consumers' ack floors) and the base.
    const st = await waitFor(
      async () => {
        const s = await api<{
          stream: {
            publisher: { state: string; publishedSeq: number };
            consumers: { id: string; ackedSeq: number | null; fellOff: boolean }[];
            base: { seq: number } | null;
          };
        }>(sd.base, "/v1/status");
        const c = s.body.stream.consumers;
        return c.length === 2 && c.every((x) => (x.ackedSeq ?? 0) >= last.seq) ? s.body : null;
      },
      { timeout: 20_000, what: "sidecar status shows both replicas caught up" },
    );
    expect(st.stream.publisher.state).toBe("publishing");
    expect(st.stream.base?.seq, "the sidecar wrote a base").toBeGreaterThan(0);
    const metrics = await (await fetch(`${sd.base}/metrics`)).text();
    expect(metrics).toMatch(/pvjournal_stream_replica_acked_seq\{replica="dr-a"\} \d+/);
    expect(metrics).toMatch(/pvjournal_stream_replica_lag_seconds\{replica="dr-b"\}/);

    await kill9(sc);
    await kill9(pa);
    await kill9(pb);
    // No duplicate, no gap: dr-a holds every record once, dr-b every record after its base.
    const sSeqs = await seqs(join(dir, "sidecar-journal"));
    const aSeqs = await seqs(join(dir, "dr-a-journal"));
    const bSeqs = await seqs(join(dir, "dr-b-journal"));
    // Exactly the sidecar's records, each once, in order (a replica that installed a base
    // drops later blobs it already holds: de-duplication, not loss).
    expect(aSeqs.records, `seed=${seed} dr-a records`).toEqual(sSeqs.records);
    expect(aSeqs.blobs, `seed=${seed} dr-a blobs`).toEqual(sSeqs.blobs);
    const baseSeq = bSeqs.base;
    expect(baseSeq, "dr-b bootstrapped from a base").toBeGreaterThan(0);
    expect(bSeqs.records, `seed=${seed} dr-b records`).toEqual(
      sSeqs.records.filter((x) => x > baseSeq),
    );
    const sBlobs = new Set(sSeqs.blobs);
    expect(bSeqs.blobs.filter((x) => !sBlobs.has(x))).toEqual([]);
    expect(new Set(bSeqs.blobs).size).toBe(bSeqs.blobs.length);

    // Site loss: the sidecar's journal is gone; every checkpoint restores from dr-a, and
    // every checkpoint after dr-b's base from dr-b, byte-exact.
    await rm(join(dir, "sidecar-journal"), { recursive: true, force: true });
    for (const d of [ra, rb]) {
      const listed = await runCli([
        "checkpoints",
        "--journal",
        join(dir, `${d.name}-journal`),
        "--json",
      ]);
      const ids = (JSON.parse(listed.stdout) as { checkpoints: { id: number }[] }).checkpoints.map(
        (c) => c.id,
      );
      const want = acked.filter((a) => d === ra || a.seq > baseSeq);
      expect(want.length).toBeGreaterThan(d === ra ? 10 : 1);
      for (const a of want) {
        expect(ids, `seed=${seed} ${d.name}`).toContain(a.id);
        const target = join(dir, "restores", `${d.name}-cp${a.id}`);
        const r = await runCli([
          "restore",
          "--checkpoint",
          String(a.id),
          "--target",
          target,
          "--journal",
          join(dir, `${d.name}-journal`),
        ]);
        if (r.code !== 0 && process.env.JS_DEBUG_KEEP)
          await cp(dir, process.env.JS_DEBUG_KEEP, { recursive: true });
        expect(r.code, `seed=${seed} ${d.name} cp=${a.id} (base ${baseSeq}): ${r.stderr}`).toBe(0);
        expect(
          diffTrees(a.tree, await readTree(join(target, "data")), { mtimes: true }),
          `seed=${seed} ${d.name} cp=${a.id}`,
        ).toEqual([]);
      }
    }
  }, 240_000);

  it("a second sidecar with another journal on the same stream is refused; nothing interleaves", async () => {
    const dir = await tmpDir("pvj-jetstream-two-");
    await writeFile(join(dir, "token"), `${TOKEN}\n`);
    const first = await sidecarConfig(dir, "first", "pvj-two");
    const second = await sidecarConfig(dir, "second", "pvj-two");
    const writer = new FsWriter(join(dir, "first-data"), prng(1), 4096);
    const p1 = await start("sidecar", first, dir);
    for (let i = 0; i < 10; i++) await writer.step();
    const cp = await api<{ seq: number }>(first.base, "/v1/checkpoints", {
      method: "POST",
      body: "{}",
    });
    expect(cp.status).toBe(201);
    await writeFile(join(dir, "second-data", "x"), "other history");
    const r = await spawnDaemon("sidecar", second, dir).exited;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refusing to interleave/);
    // The first one goes on publishing its own history.
    await waitFor(
      async () => {
        const s = await api<{ stream: { publisher: { publishedSeq: number; state: string } } }>(
          first.base,
          "/v1/status",
        );
        return (
          s.body.stream.publisher.state === "publishing" &&
          s.body.stream.publisher.publishedSeq >= cp.body.seq
        );
      },
      { timeout: 10_000, what: "first sidecar still publishing" },
    );
    await kill9(p1);
  }, 60_000);
});
