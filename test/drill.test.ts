/**
 * Failover drills through the HTTP API on a replica that follows a real
 * change stream: verify commands that pass, fail and hang, reports that
 * survive a restart, the HTML page, the CLI, scheduled drills and metrics,
 * and replication that keeps flowing while drills run.
 */
import { existsSync } from "node:fs";
import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { describe, expect, it, onTestFinished, vi } from "vitest";
import { main } from "../src/cli/main.js";
import type { DrillReport } from "../src/drill/report.js";
import { Journal } from "../src/journal/journal.js";
import { createRootLogger } from "../src/log/logger.js";
import { BlockHasher } from "../src/util/hash.js";
import { tmpDir, waitFor } from "./helpers/index.js";
import {
  caughtUp,
  reflinkSupported,
  runDrill,
  serveStream,
  startReplica,
  waitDrill,
} from "./support/drill-rig.js";
import { VolumeModel } from "./support/model.js";
import { freshSeed, prng } from "./support/prng.js";
import { diffTrees, readTree, type TreeEntry } from "./support/tree.js";

/** A source journal with a random history and checkpoints, served as a stream. */
async function source(ops = 120, bigFile = 0) {
  const seed = freshSeed();
  console.log(`drill seed=${seed}`);
  const journal = await Journal.open({ dir: await tmpDir(), blockSize: 4096 });
  // Closed after the stream server (hooks run last-registered first): no fd left to the GC.
  onTestFinished(() => journal.close());
  const hasher = await BlockHasher.create();
  const model = new VolumeModel(journal, hasher, prng(seed));
  await model.init();
  if (bigFile > 0) await model.createFile("data/big.bin", model.rand.bytes(bigFile));
  const snaps = new Map<number, Map<string, TreeEntry>>();
  const checkpoint = async () => {
    const cp = await journal.checkpoint({ label: null, consistency: "crash" });
    snaps.set(cp.id, model.snapshot());
    return cp;
  };
  for (let i = 0; i < ops; i++) {
    await model.randomOp();
    if (i % 30 === 29) await checkpoint();
  }
  const last = await checkpoint();
  const { address } = await serveStream(journal);
  return { seed, journal, model, snaps, checkpoint, last, address };
}

const sh = (script: string, timeout?: string) => ({
  command: ["sh", "-c", script],
  ...(timeout ? { timeout } : {}),
});

describe("drills on a replica", () => {
  it("materialises the latest checkpoint into a sandbox, verifies it there and passes with RPO and RTO", async () => {
    const src = await source();
    const rep = await startReplica(src.address);
    await caughtUp(rep, src.journal);
    const script = [
      "set -e",
      'test "$(pwd -P)" = "$PVJ_DRILL_DIR"',
      'test -d "$PVJ_DRILL_DIR/data"',
      'echo "seq=$PVJ_DRILL_POINT_SEQ ts=$PVJ_DRILL_POINT_TS"',
    ].join("\n");
    const r = await runDrill(rep.app, { verify: sh(script), keep: true });
    expect(r, JSON.stringify(r)).toMatchObject({
      state: "done",
      passed: true,
      trigger: "api",
      point: {
        seq: src.last.seq,
        checkpoint: src.last.id,
        ts: new Date(src.last.ts).toISOString(),
      },
      verify: { exitCode: 0, timedOut: false },
      keep: true,
    });
    expect(r.verify!.output).toContain(
      `seq=${src.last.seq} ts=${new Date(src.last.ts).toISOString()}`,
    );
    expect(r.rpoSeconds).toBeGreaterThanOrEqual(0);
    expect(r.rtoSeconds).toBeGreaterThan(0);
    expect(r.materialiseSeconds).toBeGreaterThan(0);
    expect(r.rtoSeconds!).toBeGreaterThanOrEqual(r.materialiseSeconds!);
    // ext4 and tmpfs cannot clone: the report says the mirror was copied instead, and why.
    const clones = await reflinkSupported(rep.dir);
    expect(r.method).toBe(clones ? "clone" : "copy");
    if (!clones) expect(r.materialise!.fallback).toMatch(/cannot clone/);
    // The kept sandbox is the checkpoint, byte for byte, with modes and mtimes.
    expect(r.sandbox).toBe(join(rep.sandboxRoot, `drill-${r.id}`));
    expect(
      diffTrees(src.snaps.get(src.last.id)!, await readTree(r.sandbox!), { mtimes: true }),
    ).toEqual([]);
    // An older checkpoint, not kept: its sandbox is gone afterwards.
    const older = [...src.snaps.keys()][1]!;
    const r2 = await runDrill(rep.app, {
      checkpoint: older,
      verify: sh('test "$PVJ_DRILL_POINT_SEQ" -gt 0 && ls data >/dev/null'),
    });
    expect(r2).toMatchObject({ state: "done", passed: true, point: { checkpoint: older } });
    expect(r2.sandbox).toBeUndefined();
    expect(await readdir(rep.sandboxRoot)).toEqual([`drill-${r.id}`]);
    // The mirror was not touched: it still equals the last checkpoint, nothing added.
    expect(
      diffTrees(src.snaps.get(src.last.id)!, await readTree(rep.mirror.dir), { mtimes: true }),
    ).toEqual([]);
    const list = (await rep.app.inject({ url: "/v1/drills" })).json<{ drills: DrillReport[] }>();
    expect(list.drills.map((d) => d.id)).toEqual([r2.id, r.id]);
  });

  it("a failing verify command fails the drill with its exit code and output; a hanging one is killed at its timeout", async () => {
    const src = await source(40);
    const rep = await startReplica(src.address);
    await caughtUp(rep, src.journal);
    const bad = await runDrill(rep.app, {
      verify: sh("echo checking; echo 'table t is corrupt' >&2; exit 3"),
    });
    expect(bad).toMatchObject({
      state: "done",
      passed: false,
      verify: { exitCode: 3, timedOut: false, error: "exited with code 3" },
    });
    expect(bad.verify!.output).toContain("checking\ntable t is corrupt");
    expect(bad.rtoSeconds).not.toBeNull();

    const t0 = Date.now();
    const hung = await runDrill(rep.app, { verify: sh("sleep 30 & sleep 30", "300ms") });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(hung).toMatchObject({ state: "done", passed: false, verify: { timedOut: true } });
    expect(hung.verify!.exitCode).toBeNull();
    expect(hung.verify!.error).toMatch(/timed out after 300 ms/);
    expect(hung.verify!.seconds).toBeLessThan(5);
    expect(await readdir(rep.sandboxRoot)).toEqual([]);

    // A command that cannot start at all.
    const missing = await runDrill(rep.app, { verify: { command: ["/nonexistent/check"] } });
    expect(missing).toMatchObject({ state: "done", passed: false, verify: { exitCode: null } });
    expect(missing.verify!.error).toMatch(/cannot run \/nonexistent\/check/);
  });

  it("rejects bad requests with the contract's error shape", async () => {
    const src = await source(20);
    const rep = await startReplica(src.address);
    await caughtUp(rep, src.journal);
    const cases: [unknown, number, string][] = [
      [{ checkpoint: 1, at: "2026-01-01T00:00:00Z" }, 400, "BAD_REQUEST"],
      [{ checkpoint: "1" }, 400, "BAD_REQUEST"],
      [{ checkpoint: -1 }, 400, "BAD_REQUEST"],
      [{ at: "yesterday" }, 400, "INVALID_POINT"],
      [{ verify: { command: [] } }, 400, "BAD_REQUEST"],
      [{ verify: { command: "test -d data" } }, 400, "BAD_REQUEST"],
      [{ verify: { command: ["true"], timeout: "soon" } }, 400, "BAD_REQUEST"],
      [{ verify: { command: ["true"], timeout: "0" } }, 400, "BAD_REQUEST"],
      [{ verify: { command: ["true"], shell: true } }, 400, "BAD_REQUEST"],
      [{ keep: "yes" }, 400, "BAD_REQUEST"],
      [{ bogus: 1 }, 400, "BAD_REQUEST"],
      [[1], 400, "BAD_REQUEST"],
      [{ checkpoint: 9999 }, 404, "CHECKPOINT_NOT_FOUND"],
      [{ at: "2999-01-01T00:00:00Z" }, 422, "POINT_OUT_OF_RANGE"],
      [{ at: "2000-01-01T00:00:00Z" }, 422, "POINT_OUT_OF_RANGE"],
    ];
    for (const [payload, status, code] of cases) {
      const res = await rep.app.inject({
        method: "POST",
        url: "/v1/drills",
        payload: payload as object,
      });
      expect(res.statusCode, JSON.stringify(payload)).toBe(status);
      expect(res.json(), JSON.stringify(payload)).toMatchObject({ error: { code } });
      expect(Object.keys(res.json())).toEqual(["error"]);
    }
    expect((await rep.app.inject({ url: "/v1/drills/d-nope1234" })).json()).toMatchObject({
      error: { code: "NOT_FOUND" },
    });
    expect((await rep.app.inject({ url: "/v1/drills/..%2Fetc" })).statusCode).toBe(400);
    expect((await rep.app.inject({ url: "/v1/drills?limit=0" })).statusCode).toBe(400);
    // No body at all: the latest checkpoint, no verify command.
    const res = await rep.app.inject({ method: "POST", url: "/v1/drills" });
    expect(res.statusCode).toBe(202);
    const r = await waitDrill(rep.app, res.json<{ id: string }>().id);
    expect(r).toMatchObject({ passed: true, verify: null, point: { checkpoint: src.last.id } });

    const off = await startReplica(src.address, { drillsOff: true });
    const disabled = await off.app.inject({ method: "POST", url: "/v1/drills", payload: {} });
    expect(disabled.statusCode).toBe(409);
    expect(disabled.json()).toMatchObject({
      error: { code: "DRILLS_DISABLED", message: expect.stringContaining("drills.sandboxRoot") },
    });
  });

  it("renders a self-contained HTML report with everything escaped", async () => {
    const src = await source(20);
    const rep = await startReplica(src.address);
    await caughtUp(rep, src.journal);
    const r = await runDrill(rep.app, {
      verify: sh("echo '<script>alert(1)</script> & \"quotes\"'; exit 1"),
    });
    const res = await rep.app.inject({ url: `/v1/drills/${r.id}?format=html` });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/html/);
    const page = res.body;
    expect(page).toMatch(/^<!DOCTYPE html>/);
    expect(page).toContain("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;");
    expect(page).not.toContain("<script>");
    expect(page).not.toMatch(/(src|href)=/); // nothing external
    expect(page).toContain("FAILED");
    expect(page).toContain(r.id);
    expect(page).toContain(`seq ${r.point.seq}`);
    expect((await rep.app.inject({ url: `/v1/drills/${r.id}?format=pdf` })).statusCode).toBe(400);
  });

  it("keeps reports across a restart (the journal's index) and marks interrupted drills failed", async () => {
    const src = await source(30);
    const rep = await startReplica(src.address);
    await caughtUp(rep, src.journal);
    const a = await runDrill(rep.app, { verify: sh("true") });
    const b = await runDrill(rep.app, { verify: sh("false") });
    // A drill still running when the daemon stops is killed and recorded as such.
    const res = await rep.app.inject({
      method: "POST",
      url: "/v1/drills",
      payload: { verify: sh("sleep 20") },
    });
    const c = res.json<{ id: string }>().id;
    await waitFor(
      async () =>
        (await rep.app.inject({ url: `/v1/drills/${c}` })).json<DrillReport>().materialise,
      { timeout: 10_000, what: "drill c verifying" },
    );
    await rep.stop();

    const again = await startReplica(src.address, { dir: rep.dir });
    const list = (await again.app.inject({ url: "/v1/drills" })).json<{ drills: DrillReport[] }>();
    expect(list.drills.map((d) => d.id)).toEqual([c, b.id, a.id]);
    expect(list.drills[1]).toEqual(b);
    expect(list.drills[2]).toEqual(a);
    expect(list.drills[0]).toMatchObject({ state: "done", passed: false });
    expect(list.drills[0]!.verify!.error).toMatch(/daemon is stopping/);
    expect((await again.app.inject({ url: `/v1/drills/${a.id}` })).json()).toEqual(a);
    expect(await readdir(again.sandboxRoot)).toEqual([]);
    // The last success survives too, as a metric.
    const metrics = (await again.app.inject({ url: "/metrics" })).body;
    const last = /^pvjournal_drill_last_success_timestamp_seconds (\S+)$/m.exec(metrics);
    expect(Number(last?.[1])).toBeCloseTo(Date.parse(a.finishedAt!) / 1000, 2);
  });

  it("runs scheduled drills (random point) with metrics, and logs a failed one at error level", async () => {
    const src = await source(90);
    const lines: string[] = [];
    const logger = createRootLogger({
      level: "info",
      destination: new Writable({
        write(chunk, _enc, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    });
    const rep = await startReplica(src.address, {
      logger,
      drills: {
        schedule: 100,
        point: "random",
        verify: ["sh", "-c", `test -d data && test "$PVJ_DRILL_POINT_SEQ" -le ${src.last.seq}`],
        verifyTimeout: 5000,
      },
    });
    await caughtUp(rep, src.journal);
    const reports = await waitFor(
      async () => {
        const l = (await rep.app.inject({ url: "/v1/drills" })).json<{ drills: DrillReport[] }>();
        const done = l.drills.filter((d) => d.trigger === "schedule" && d.state === "done");
        return done.length >= 3 ? done : null;
      },
      { timeout: 20_000, what: "three scheduled drills" },
    );
    for (const r of reports) {
      expect(r.passed, JSON.stringify(r)).toBe(true);
      expect(src.snaps.has(r.point.checkpoint!)).toBe(true);
    }
    const metrics = (await rep.app.inject({ url: "/metrics" })).body;
    expect(
      Number(/pvjournal_drills_total\{result="passed"\} (\d+)/.exec(metrics)?.[1]),
    ).toBeGreaterThanOrEqual(3);
    expect(metrics).toMatch(/pvjournal_drills_total\{result="failed"\} 0/);
    expect(Number(/^pvjournal_drill_rto_seconds (\S+)$/m.exec(metrics)?.[1])).toBeGreaterThan(0);
    expect(
      Number(/^pvjournal_drill_last_success_timestamp_seconds (\S+)$/m.exec(metrics)?.[1]),
    ).toBeGreaterThan(Date.now() / 1000 - 60);

    const failed = await runDrill(rep.app, { verify: sh("exit 7") });
    expect(failed.passed).toBe(false);
    const errLine = await waitFor(() =>
      lines
        .map((l) => JSON.parse(l) as { level: number; msg: string; drill?: string })
        .find((l) => l.drill === failed.id && l.level === 50),
    );
    expect(errLine.msg).toMatch(/drill failed: exited with code 7/);
    const after = (await rep.app.inject({ url: "/metrics" })).body;
    expect(after).toMatch(/pvjournal_drills_total\{result="failed"\} 1/);
  });

  it("pvjournal drill posts, follows and prints the report; exit 0 only when it passed", async () => {
    const src = await source(30);
    const rep = await startReplica(src.address);
    await caughtUp(rep, src.journal);
    const url = await rep.app.listen({ host: "127.0.0.1", port: 0 });
    const out: string[] = [];
    const write = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
      out.push(String(chunk));
      return true;
    });
    const errWrite = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      const ok = await main([
        "drill",
        "--server",
        url,
        "--verify",
        'test -d "$PVJ_DRILL_DIR/data" && echo fine',
      ]);
      expect(ok).toBe(0);
      const text = out.join("");
      expect(text).toMatch(/drill d-\S+: PASSED/);
      expect(text).toContain(`checkpoint ${src.last.id}, seq ${src.last.seq}`);
      expect(text).toMatch(/RPO: +\d+\.\d{3} s/);
      expect(text).toMatch(/RTO: +\d+\.\d{3} s/);
      expect(text).toMatch(/materialised: (copy|clone) of the mirror/);
      expect(text).toMatch(/verify: +exit 0/);
      out.length = 0;
      const first = [...src.snaps.keys()][0]!;
      const bad = await main([
        "drill",
        "--server",
        url,
        "--checkpoint",
        String(first),
        "--verify",
        "echo nope; exit 4",
        "--json",
      ]);
      expect(bad).toBe(1);
      const report = JSON.parse(out.join("")) as DrillReport;
      expect(report).toMatchObject({
        passed: false,
        point: { checkpoint: first },
        verify: { exitCode: 4 },
      });
      expect(report.verify!.command).toEqual(["sh", "-c", "echo nope; exit 4"]);
      expect(
        await main(["drill", "--server", url, "--checkpoint", "1", "--at", "2026-01-01T00:00:00Z"]),
      ).toBe(2);
      expect(await main(["drill", "--server", url, "--verify-timeout", "5s"])).toBe(2);
    } finally {
      write.mockRestore();
      errWrite.mockRestore();
    }
  });
});

describe("drills while replication runs", () => {
  it("never pause replication or touch the mirror: lag stays small, the mirror advances and equals the last checkpoint", async () => {
    const src = await source(60, 8 * 1024 * 1024);
    const rep = await startReplica(src.address);
    await caughtUp(rep, src.journal);
    let writing = true;
    let lastCp = src.last;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        await src.model.randomOp();
        if (i % 10 === 9) lastCp = await src.checkpoint();
        await new Promise((r) => setTimeout(r, 2));
      }
      lastCp = await src.checkpoint();
    })();
    const mirrorAtStart = rep.mirror.seq;
    const replicaAtStart = rep.journal.lastSeq;
    const lags: number[] = [];
    const sampler = setInterval(() => {
      lags.push(rep.replica.status().lagSeconds);
    }, 20);
    try {
      for (let i = 0; i < 3; i++) {
        const r = await runDrill(rep.app, {
          verify: sh('sleep 0.3; test -d "$PVJ_DRILL_DIR/data"'),
        });
        expect(r, JSON.stringify(r)).toMatchObject({ state: "done", passed: true });
      }
    } finally {
      clearInterval(sampler);
      writing = false;
      await writer;
    }
    // Records kept arriving and the mirror kept advancing while drills ran.
    expect(rep.journal.lastSeq).toBeGreaterThan(replicaAtStart);
    expect(rep.mirror.seq).toBeGreaterThan(mirrorAtStart);
    expect(lags.length).toBeGreaterThan(10);
    expect(Math.max(...lags)).toBeLessThan(2);
    await caughtUp(rep, src.journal);
    expect(rep.mirror.seq).toBe(lastCp.seq);
    expect(
      diffTrees(src.snaps.get(lastCp.id)!, await readTree(rep.mirror.dir), { mtimes: true }),
    ).toEqual([]);
    const status = (await rep.app.inject({ url: "/v1/status" })).json<{ lagSeconds: number }>();
    expect(status.lagSeconds).toBeLessThan(2);
    expect(await readdir(rep.sandboxRoot)).toEqual([]);
  });

  it("a sandbox may not overlap the mirror or the journal", async () => {
    const src = await source(10);
    const dir = await tmpDir();
    await mkdir(join(dir, "mirror"), { recursive: true });
    // sandboxRoot inside the mirror: the drill fails before writing anything there.
    const rep = await startReplica(src.address, {
      dir,
      mirrorDir: join(dir, "mirror"),
      sandboxRoot: join(dir, "mirror", "drills"),
    });
    await caughtUp(rep, src.journal);
    const r = await runDrill(rep.app, {});
    expect(r).toMatchObject({
      state: "failed",
      passed: false,
      error: { code: "TARGET_NOT_ALLOWED" },
    });
    expect(existsSync(join(dir, "mirror", "drills"))).toBe(false);
  });
});
