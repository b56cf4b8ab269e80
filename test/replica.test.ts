import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { streamRoutes } from "../src/http/routes/stream.js";
import { buildServer } from "../src/http/server.js";
import { Journal } from "../src/journal/journal.js";
import { runRetention } from "../src/journal/retention.js";
import { silentLogger } from "../src/log/logger.js";
import { createMetrics } from "../src/metrics/registry.js";
import { Mirror } from "../src/replica/mirror.js";
import { Replica, replicaId } from "../src/replica/replica.js";
import { prepareRestore, runRestore } from "../src/restore/restore.js";
import { HttpStreamSource } from "../src/stream/http-source.js";
import { ReplicaTracker } from "../src/stream/replica-tracker.js";
import { encodeMessage } from "../src/stream/wire.js";
import { BlockHasher } from "../src/util/hash.js";
import { selfSignedCert, tmpDir, waitFor } from "./helpers/index.js";
import { VolumeModel } from "./support/model.js";
import { freshSeed, prng } from "./support/prng.js";
import { diffTrees, readTree, type TreeEntry } from "./support/tree.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function sidecarServer(
  journal: Journal,
  token: string | null,
  https: { cert: Buffer; key: Buffer } | null = null,
) {
  const hasher = await BlockHasher.create();
  const tracker = new ReplicaTracker(journal);
  const app = await buildServer({
    logger: silentLogger(),
    token,
    bodyLimit: 1024 * 1024,
    role: "sidecar",
    readiness: () => ({ ready: true }),
    metrics: createMetrics(),
    routes: [streamRoutes({ journal, hasher, tracker, logger: silentLogger() })],
    https,
  });
  const address = await app.listen({ host: "127.0.0.1", port: 0 });
  cleanups.push(() => app.close());
  return { app, address, tracker };
}

async function startReplica(source: string, token: string | null, ca: Buffer | null = null) {
  const dir = await tmpDir();
  const journal = await Journal.open({ dir: join(dir, "journal") });
  const hasher = await BlockHasher.create();
  const mirror = new Mirror(journal, join(dir, "mirror"), hasher, silentLogger());
  await mirror.init();
  const replica = new Replica(
    journal,
    new HttpStreamSource({ source, replicaId: replicaId(journal), token, ca }),
    mirror,
    silentLogger(),
  );
  replica.start();
  cleanups.push(async () => {
    await replica.stop();
    await journal.close();
  });
  return { journal, replica, mirror, hasher, dir };
}

async function restoreEquals(
  journal: Journal,
  hasher: BlockHasher,
  cp: number,
  want: Map<string, TreeEntry>,
) {
  const target = join(await tmpDir(), "t");
  const prepared = await prepareRestore(
    journal,
    { point: { checkpoint: cp }, target, paths: null },
    { allowedRoots: null, forbidden: [] },
    Date.now(),
  );
  await runRestore(journal, hasher, prepared);
  return diffTrees(want, await readTree(target), { mtimes: true });
}

describe("replication over the change stream", () => {
  it("follows the stream, keeps checkpoints and a mirror equal to the last checkpoint", async () => {
    const seed = freshSeed();
    console.log(`replica seed=${seed}`);
    const rand = prng(seed);
    const src = await Journal.open({
      dir: await tmpDir(),
      blockSize: 4096,
      segmentSize: 64 * 1024,
    });
    cleanups.push(() => src.close());
    const hasher = await BlockHasher.create();
    const model = new VolumeModel(src, hasher, rand);
    await model.init();
    const { address, tracker } = await sidecarServer(src, "s3cret");
    const rep = await startReplica(address, "s3cret");
    const snaps: { cp: number; tree: Map<string, TreeEntry> }[] = [];
    for (let i = 0; i < 400; i++) {
      await model.randomOp();
      if (i % 40 === 39)
        snaps.push({
          cp: (await src.checkpoint({ label: `c${i}`, consistency: "crash" })).id,
          tree: model.snapshot(),
        });
    }
    await waitFor(() => rep.journal.lastSeq === src.lastSeq, {
      timeout: 20_000,
      what: "replica caught up",
    });
    await waitFor(() => rep.mirror.seq === src.index.lastCheckpoint()!.seq, {
      timeout: 20_000,
      what: "mirror caught up",
    });
    await rep.replica.mirrorIdle();
    for (const s of snaps) {
      expect(rep.journal.index.checkpoint(s.cp)?.label).toBe(src.index.checkpoint(s.cp)?.label);
      expect(
        await restoreEquals(rep.journal, rep.hasher, s.cp, s.tree),
        `seed=${seed} cp=${s.cp}`,
      ).toEqual([]);
    }
    expect(
      diffTrees(snaps[snaps.length - 1]!.tree, await readTree(rep.mirror.dir), { mtimes: true }),
      `seed=${seed} mirror`,
    ).toEqual([]);
    await waitFor(() => tracker.list()[0]?.ackedSeq === src.lastSeq, {
      timeout: 10_000,
      what: "ack",
    });
    expect(rep.replica.status()).toMatchObject({ connected: true, ready: true });
  });

  it("bootstraps a new replica from a base when the sidecar folded its history", async () => {
    const seed = freshSeed();
    console.log(`replica bootstrap seed=${seed}`);
    const rand = prng(seed);
    let now = 1_800_000_000_000;
    const src = await Journal.open({
      dir: await tmpDir(),
      blockSize: 4096,
      segmentSize: 32 * 1024,
      clock: () => (now += 1000),
    });
    cleanups.push(() => src.close());
    const hasher = await BlockHasher.create();
    const model = new VolumeModel(src, hasher, rand);
    await model.init();
    const snaps: { cp: number; seq: number; tree: Map<string, TreeEntry> }[] = [];
    for (let i = 0; i < 300; i++) {
      await model.randomOp();
      if (i % 30 === 29) {
        const cp = await src.checkpoint({ label: null, consistency: "crash" });
        snaps.push({ cp: cp.id, seq: cp.seq, tree: model.snapshot() });
      }
    }
    const mid = snaps[4]!;
    const r = await runRetention(src, {
      retention: now - src.index.checkpoint(mid.cp)!.ts,
      now,
      hasher,
    });
    expect(r.baseSeq).not.toBeNull();
    const { address } = await sidecarServer(src, null);
    const rep = await startReplica(address, null);
    await waitFor(() => rep.journal.lastSeq === src.lastSeq, {
      timeout: 20_000,
      what: "replica caught up",
    });
    await rep.replica.mirrorIdle();
    await waitFor(() => rep.mirror.seq === snaps[snaps.length - 1]!.seq, {
      timeout: 20_000,
      what: "mirror",
    });
    expect(rep.journal.baseSeq).toBe(r.baseSeq);
    for (const s of snaps.filter((x) => x.seq >= r.baseSeq!)) {
      expect(
        await restoreEquals(rep.journal, rep.hasher, s.cp, s.tree),
        `seed=${seed} cp=${s.cp}`,
      ).toEqual([]);
    }
    expect(
      diffTrees(snaps[snaps.length - 1]!.tree, await readTree(rep.mirror.dir), { mtimes: true }),
    ).toEqual([]);
  });

  it("rejects a wrong token, a truncated frame and a bad checksum, retries, and applies nothing twice", async () => {
    const src = await Journal.open({ dir: await tmpDir(), blockSize: 4096 });
    cleanups.push(() => src.close());
    const hasher = await BlockHasher.create();
    const model = new VolumeModel(src, hasher, prng(3));
    await model.init();
    for (let i = 0; i < 30; i++) await model.randomOp();
    const cp = await src.checkpoint({ label: null, consistency: "crash" });
    const { address } = await sidecarServer(src, "right");
    const wrong = await startReplica(address, "wrong");
    await waitFor(() => wrong.replica.status().lastError !== null, {
      timeout: 10_000,
      what: "401",
    });
    expect(wrong.replica.status().lastError!.message).toMatch(/refused the stream/);
    expect(wrong.journal.lastSeq).toBe(0);

    // A hostile or broken peer: good frames, then a damaged one, then a truncated one.
    const records: unknown[] = [];
    for await (const r of src.records(1)) records.push(r);
    let attempt = 0;
    const evil: Server = createServer((req, res) => {
      if (req.method === "POST") {
        res.writeHead(200, { "content-type": "application/json" }).end('{"ackedSeq":0}');
        return;
      }
      attempt += 1;
      const from = Number(new URL(req.url!, "http://x").searchParams.get("from"));
      res.writeHead(200);
      res.write(
        encodeMessage({
          t: "hello",
          journalId: src.id,
          lastSeq: src.lastSeq,
          baseSeq: 0,
          blockSize: src.blockSize,
        }),
      );
      const mine = (records as { seq: number }[]).filter((r) => r.seq >= from);
      const good = encodeMessage({ t: "records", records: mine.slice(0, 5) as never });
      res.write(good);
      const bad = encodeMessage({ t: "records", records: mine.slice(5, 10) as never });
      if (attempt === 1) {
        bad[bad.length - 1] = bad[bad.length - 1]! ^ 0xff; // checksum mismatch
        res.end(bad);
      } else if (attempt === 2) {
        res.end(bad.subarray(0, bad.length - 3)); // truncated
      } else {
        res.write(bad);
        res.end(encodeMessage({ t: "records", records: mine.slice(10) as never }));
      }
    });
    await new Promise<void>((r) => evil.listen(0, "127.0.0.1", () => r()));
    cleanups.push(() => new Promise((r) => evil.close(() => r())));
    const port = (evil.address() as { port: number }).port;
    const rep = await startReplica(`http://127.0.0.1:${port}`, null);
    await waitFor(() => rep.journal.lastSeq === src.lastSeq, {
      timeout: 20_000,
      what: "replica after retries",
    });
    expect(attempt).toBeGreaterThanOrEqual(3);
    expect(rep.replica.status().reconnects).toBeGreaterThanOrEqual(2);
    await rep.replica.mirrorIdle();
    expect(await restoreEquals(rep.journal, rep.hasher, cp.id, model.snapshot())).toEqual([]);
    // Every seq appears once: the index has exactly the source's record count.
    expect(rep.journal.index.recordCount()).toBe(src.index.recordCount());
  });

  it("streams over TLS, verifying the sidecar's certificate against the configured CA", async () => {
    const src = await Journal.open({ dir: await tmpDir(), blockSize: 4096 });
    cleanups.push(() => src.close());
    const hasher = await BlockHasher.create();
    const model = new VolumeModel(src, hasher, prng(5));
    await model.init();
    for (let i = 0; i < 20; i++) await model.randomOp();
    const cp = await src.checkpoint({ label: null, consistency: "crash" });
    const good = selfSignedCert(await tmpDir());
    const other = selfSignedCert(await tmpDir());
    const { address } = await sidecarServer(src, null, { cert: good.cert, key: good.key });
    expect(address).toMatch(/^https:/);
    // A CA that did not sign the sidecar's certificate: refused, nothing applied.
    const wrong = await startReplica(address, null, other.cert);
    await waitFor(() => wrong.replica.status().lastError !== null, {
      timeout: 10_000,
      what: "TLS failure",
    });
    expect(wrong.replica.status().lastError!.message).toMatch(/certificate/i);
    expect(wrong.journal.lastSeq).toBe(0);
    const rep = await startReplica(address, null, good.cert);
    await waitFor(() => rep.journal.lastSeq === src.lastSeq, {
      timeout: 20_000,
      what: "replica over TLS",
    });
    await rep.replica.mirrorIdle();
    expect(await restoreEquals(rep.journal, rep.hasher, cp.id, model.snapshot())).toEqual([]);
  });
});
