/**
 * Failover end to end: a replica following a real change stream is promoted
 * at a checkpoint; its mirror then equals that checkpoint's reference tree,
 * and the stream is no longer applied, also after a restart.
 */
import { copyFile, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { failoverRoutes } from "../src/http/routes/failover.js";
import { Journal } from "../src/journal/journal.js";
import type { FailoverReport } from "../src/replica/failover.js";
import { BlockHasher } from "../src/util/hash.js";
import { tmpDir, waitFor } from "./helpers/index.js";
import {
  appWith,
  caughtUp,
  type ReplicaRig,
  runDrill,
  serveStream,
  startReplica,
} from "./support/drill-rig.js";
import { startSidecar } from "./support/inprocess-sidecar.js";
import { VolumeModel } from "./support/model.js";
import { freshSeed, prng } from "./support/prng.js";
import { diffTrees, readTree, type TreeEntry } from "./support/tree.js";

async function source(ops = 200) {
  const seed = freshSeed();
  console.log(`failover seed=${seed}`);
  const journal = await Journal.open({ dir: await tmpDir(), blockSize: 4096 });
  // Closed after the stream server (hooks run last-registered first): no fd left to the GC.
  onTestFinished(() => journal.close());
  const model = new VolumeModel(journal, await BlockHasher.create(), prng(seed));
  await model.init();
  const snaps = new Map<number, Map<string, TreeEntry>>();
  const more = async (n: number) => {
    for (let i = 0; i < n; i++) await model.randomOp();
    const cp = await journal.checkpoint({ label: null, consistency: "crash" });
    snaps.set(cp.id, model.snapshot());
    return cp;
  };
  for (let i = 0; i < ops / 40; i++) await more(40);
  const { address } = await serveStream(journal);
  return { seed, journal, model, snaps, more, address };
}

async function failover(rep: ReplicaRig, payload?: Record<string, unknown>) {
  return rep.app.inject({
    method: "POST",
    url: "/v1/failover",
    ...(payload ? { payload } : {}),
  });
}

/** Appends at the source and gives the stream time to (not) deliver it. */
async function sourceMovesOn(src: Awaited<ReturnType<typeof source>>, rep: ReplicaRig) {
  const before = rep.journal.lastSeq;
  await src.more(20);
  await new Promise((r) => setTimeout(r, 600));
  expect(src.journal.lastSeq).toBeGreaterThan(before);
  expect(rep.journal.lastSeq).toBe(before);
}

describe("failover", () => {
  it("promotes the replica at an older checkpoint: the mirror equals it, the stream is no longer applied, also after a restart", async () => {
    const src = await source();
    const rep = await startReplica(src.address);
    await caughtUp(rep, src.journal);
    const ids = [...src.snaps.keys()];
    const target = ids[1]!;
    const cp = src.journal.index.checkpoint(target)!;
    const res = await failover(rep, { checkpoint: target });
    expect(res.statusCode, res.body).toBe(200);
    const report = res.json<FailoverReport>();
    expect(report).toMatchObject({
      point: { seq: cp.seq, checkpoint: target, ts: new Date(cp.ts).toISOString() },
      target: rep.mirror.dir,
      mirrorSeqBefore: src.journal.index.lastCheckpoint()!.seq,
    });
    expect(["copy", "clone"]).toContain(report.method);
    expect(report.rtoSeconds).toBeGreaterThan(0);
    expect(report.rtoSeconds).toBeGreaterThanOrEqual(report.materialiseSeconds);
    expect(rep.mirror.seq).toBe(cp.seq);
    expect(
      diffTrees(src.snaps.get(target)!, await readTree(rep.mirror.dir), { mtimes: true }),
    ).toEqual([]);

    const status = (await rep.app.inject({ url: "/v1/status" })).json<{
      ready: boolean;
      replica: {
        promoted: boolean;
        connected: boolean;
        promotion: { seq: number; target: string };
      };
    }>();
    expect(status.ready).toBe(true);
    expect(status.replica).toMatchObject({
      promoted: true,
      connected: false,
      promotion: { seq: cp.seq, target: rep.mirror.dir },
    });
    await sourceMovesOn(src, rep);
    expect(rep.mirror.seq).toBe(cp.seq);

    const again = await failover(rep, {});
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ error: { code: "ALREADY_PROMOTED" } });

    // A restart keeps the promotion: it does not follow the stream again.
    await rep.stop();
    const restarted = await startReplica(src.address, { dir: rep.dir });
    expect(restarted.replica.promoted).toBe(true);
    await sourceMovesOn(src, restarted);
    expect(restarted.mirror.seq).toBe(cp.seq);
    expect(
      diffTrees(src.snaps.get(target)!, await readTree(restarted.mirror.dir), { mtimes: true }),
    ).toEqual([]);
    // The promoted copy still serves drills (from its own journal and mirror).
    const drill = await restarted.app.inject({
      method: "POST",
      url: "/v1/drills",
      payload: { checkpoint: target },
    });
    expect(drill.statusCode).toBe(202);
  });

  it("fails over to the latest checkpoint by default, and rolls back through a clone of the mirror where it can", async () => {
    const src = await source(120);
    // A plain copy stands in for reflinks, so the clone rollback runs on any filesystem.
    const rep = await startReplica(src.address, { cloneFile: (a, b) => copyFile(a, b) });
    await caughtUp(rep, src.journal);
    const last = src.journal.index.lastCheckpoint()!;
    await src.model.randomOp(); // past the last checkpoint: not part of the failover
    await waitFor(() => rep.journal.lastSeq === src.journal.lastSeq, { what: "replica" });
    const res = await failover(rep);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json<FailoverReport>()).toMatchObject({
      point: { seq: last.seq, checkpoint: last.id },
      method: "unchanged",
    });
    expect(
      diffTrees(src.snaps.get(last.id)!, await readTree(rep.mirror.dir), { mtimes: true }),
    ).toEqual([]);

    const src2 = await source(120);
    const rep2 = await startReplica(src2.address, { cloneFile: (a, b) => copyFile(a, b) });
    await caughtUp(rep2, src2.journal);
    const first = [...src2.snaps.keys()][0]!;
    const res2 = await failover(rep2, { checkpoint: first });
    expect(res2.statusCode, res2.body).toBe(200);
    expect(res2.json<FailoverReport>()).toMatchObject({
      method: "clone",
      point: { seq: src2.journal.index.checkpoint(first)!.seq },
    });
    expect(
      diffTrees(src2.snaps.get(first)!, await readTree(rep2.mirror.dir), { mtimes: true }),
    ).toEqual([]);
    // Nothing of the rebuild is left behind in the mirror directory.
    expect((await readdir(rep2.mirror.dir)).sort()).toEqual(["data"]);
  });

  it("materialises into a target under restore.allowedRoots, leaving the mirror as it was", async () => {
    const src = await source(80);
    const rep = await startReplica(src.address);
    await caughtUp(rep, src.journal);
    const mirrorBefore = await readTree(rep.mirror.dir);
    const first = [...src.snaps.keys()][0]!;

    // A bad target is refused before replication stops.
    const refused = await failover(rep, { checkpoint: first, target: "/etc/pvj-nope" });
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({ error: { code: "TARGET_NOT_ALLOWED" } });
    expect(rep.replica.promoted).toBe(false);
    await src.more(10);
    await caughtUp(rep, src.journal);

    const target = join(rep.restoreRoot, "promoted");
    const res = await failover(rep, { checkpoint: first, target });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json<FailoverReport>()).toMatchObject({ target, point: { checkpoint: first } });
    expect(diffTrees(src.snaps.get(first)!, await readTree(target), { mtimes: true })).toEqual([]);
    const last = src.journal.index.lastCheckpoint()!;
    expect(rep.mirror.seq).toBe(last.seq);
    expect(
      diffTrees(src.snaps.get(last.id)!, await readTree(rep.mirror.dir), { mtimes: true }),
    ).toEqual([]);
    expect(mirrorBefore.size).toBeGreaterThan(0);
    await sourceMovesOn(src, rep);
  });

  it("rejects bad requests, and a sidecar answers NOT_A_REPLICA", async () => {
    const src = await source(40);
    const rep = await startReplica(src.address);
    await caughtUp(rep, src.journal);
    const cases: [unknown, number, string][] = [
      [{ checkpoint: 1, at: "2026-01-01T00:00:00Z" }, 400, "BAD_REQUEST"],
      [{ checkpoint: "x" }, 400, "BAD_REQUEST"],
      [{ target: "relative/dir" }, 403, "TARGET_NOT_ALLOWED"],
      [{ mirror: true }, 400, "BAD_REQUEST"],
      [{ checkpoint: 999 }, 404, "CHECKPOINT_NOT_FOUND"],
      [{ at: "2999-01-01T00:00:00Z" }, 422, "POINT_OUT_OF_RANGE"],
    ];
    for (const [payload, status, code] of cases) {
      const res = await failover(rep, payload as Record<string, unknown>);
      expect(res.statusCode, JSON.stringify(payload)).toBe(status);
      expect(res.json()).toMatchObject({ error: { code } });
    }
    expect(rep.replica.promoted).toBe(false);
    expect(rep.replica.status().connected).toBe(true);

    const sidecar = await appWith([failoverRoutes(null)]);
    try {
      const res = await sidecar.inject({ method: "POST", url: "/v1/failover", payload: {} });
      expect(res.statusCode).toBe(409);
      expect(res.json()).toMatchObject({
        error: { code: "NOT_A_REPLICA", message: expect.stringContaining("replica") },
      });
    } finally {
      await sidecar.close();
    }
  });
});

describe("the daemons serve drills and failover", () => {
  it("a sidecar drills (full path) and refuses failover; a replica fails over", async () => {
    const cleanups: (() => Promise<void>)[] = [];
    onTestFinished(async () => {
      for (const c of cleanups.reverse()) await c();
    });
    const { s: sidecar } = await startSidecar({
      prefix: "pvj-failover-daemons-",
      drillLines: [`    hello: ["sh", "-c", 'grep -qx hello "$PVJ_DRILL_DIR/data/hello.txt"']`],
      cleanups,
    });
    await sidecar.checkpointer.take("drill me");
    // A configured command picked by name (request argv is off by default).
    const r = await runDrill(sidecar.app, { verify: "hello" });
    expect(r).toMatchObject({ passed: true, method: "full", materialise: { mirrorSeq: null } });
    expect(r.materialise!.fallback).toBeUndefined();
    const f = await sidecar.app.inject({ method: "POST", url: "/v1/failover", payload: {} });
    expect(f.statusCode).toBe(409);
    expect(f.json()).toMatchObject({ error: { code: "NOT_A_REPLICA" } });
    const metrics = (await sidecar.app.inject({ url: "/metrics" })).body;
    expect(metrics).toMatch(/^pvjournal_drills_total\{result="passed"\} 1$/m);

    const address = await sidecar.app.listen({ host: "127.0.0.1", port: 0 });
    // The real replica daemon (createReplica), as the drill rig builds it.
    const replica = await startReplica(address);
    await waitFor(() => replica.mirror.seq === sidecar.journal.index.lastCheckpoint()!.seq, {
      timeout: 20_000,
      what: "replica mirror",
    });
    const d = await runDrill(replica.app, {});
    expect(d.passed).toBe(true);
    const res = await replica.app.inject({ method: "POST", url: "/v1/failover", payload: {} });
    expect(res.statusCode, res.body).toBe(200);
    const status = (await replica.app.inject({ url: "/v1/status" })).json<{
      replica: { promoted: boolean };
    }>();
    expect(status.replica.promoted).toBe(true);
    expect(await readFile(join(replica.mirror.dir, "data", "hello.txt"), "utf8")).toBe("hello\n");
  });
});
