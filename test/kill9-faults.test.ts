/**
 * kill -9 of real daemons (child processes of dist/cli.js) in the middle of
 * the long operations: retention writing a base, the replica updating its
 * mirror, a restore, a drill. After each restart: nothing acknowledged is
 * lost, no half-state is left (a restore target is absent or complete, the
 * mirror is rebuilt or current, a drill sandbox is gone and its report says
 * it was interrupted), no pin is held, the operation works when retried, and
 * the journals verify. Replay with TEST_SEED=<seed>.
 */
import { readdirSync } from "node:fs";
import { mkdir, open, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Journal } from "../src/journal/journal.js";
import { type CliProcess, freePort, runCli, spawnCli, tmpDir, waitFor } from "./helpers/index.js";
import { freshSeed, prng } from "./support/prng.js";
import { diffTrees, readTree, type TreeEntry } from "./support/tree.js";

const procs: CliProcess[] = [];
afterEach(() => {
  for (const p of procs.splice(0)) p.child.kill("SIGKILL");
});

const EXACT = { mtimes: true };
/** 24 MiB: a base or a restore of it takes long enough (100s of ms) to be hit by a kill. */
const BIG = 24 * 1024 * 1024;

interface Rig {
  dir: string;
  sidecar: string;
  replica: string;
  data: string;
  sj: string;
  rj: string;
}

async function rig(opts: { retention?: string } = {}): Promise<Rig> {
  const dir = await tmpDir("pvj-kill9-");
  for (const d of ["data", "mirror", "restores", "drills"]) await mkdir(join(dir, d));
  const [sp, rp] = [await freePort(), await freePort()];
  const journal = (d: string) => [
    "journal:",
    `  dir: ./${d}`,
    "  blockSize: 64KiB",
    "  segmentSize: 4MiB",
    `  retention: ${opts.retention ?? "24h"}`,
    "  retentionCheck: 200ms",
  ];
  await writeFile(
    join(dir, "sidecar.yaml"),
    [
      "sources:",
      "  - name: data",
      "    path: ./data",
      ...journal("sj"),
      "api:",
      `  listen: 127.0.0.1:${sp}`,
      "checkpoints:",
      "  interval: 0s",
      "capture:",
      "  debounce: 30ms",
      "  maxWait: 200ms",
      "restore:",
      "  allowedRoots: [./restores]",
      "log:",
      "  level: warn",
    ].join("\n"),
  );
  await writeFile(
    join(dir, "replica.yaml"),
    [
      ...journal("rj"),
      "api:",
      `  listen: 127.0.0.1:${rp}`,
      "replica:",
      `  source: http://127.0.0.1:${sp}`,
      "  mirrorDir: ./mirror",
      "restore:",
      "  allowedRoots: [./restores]",
      "drills:",
      "  sandboxRoot: ./drills",
      "log:",
      "  level: warn",
    ].join("\n"),
  );
  return {
    dir,
    sidecar: `http://127.0.0.1:${sp}`,
    replica: `http://127.0.0.1:${rp}`,
    data: join(dir, "data"),
    sj: join(dir, "sj"),
    rj: join(dir, "rj"),
  };
}

async function start(r: Rig, role: "sidecar" | "replica"): Promise<CliProcess> {
  const p = spawnCli([role, "-c", join(r.dir, `${role}.yaml`)], { cwd: r.dir, timeout: 300_000 });
  procs.push(p);
  const base = role === "sidecar" ? r.sidecar : r.replica;
  await waitFor(
    async () => {
      p.assertRunning();
      return (await fetch(`${base}${role === "sidecar" ? "/readyz" : "/healthz"}`)).status === 200;
    },
    { timeout: 30_000, what: `${role} ready` },
  );
  return p;
}

async function kill9(p: CliProcess): Promise<void> {
  p.child.kill("SIGKILL");
  await p.exited;
}

async function api<T>(
  base: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

interface Acked {
  id: number;
  seq: number;
  tree: Map<string, TreeEntry>;
}

async function checkpoint(r: Rig): Promise<Acked> {
  const res = await api<{ id: number; seq: number }>(r.sidecar, "/v1/checkpoints", {});
  expect(res.status).toBe(201);
  return { id: res.body.id, seq: res.body.seq, tree: await readTree(r.data) };
}

async function pins(base: string): Promise<number> {
  return (await api<{ journal: { pins: number } }>(base, "/v1/status")).body.journal.pins;
}

/** Waits until the daemon is idle with no pin held (a restarted replica pins while it rebuilds its mirror). */
async function noPins(base: string): Promise<void> {
  await waitFor(async () => (await pins(base)) === 0, { timeout: 20_000, what: "no pins held" });
}

async function offlineRestore(r: Rig, journal: string, a: Acked, name: string): Promise<void> {
  const target = join(r.dir, "restores", name);
  const res = await runCli(
    ["restore", "--checkpoint", String(a.id), "--target", target, "--journal", journal],
    { timeout: 60_000 },
  );
  expect(res.code, res.stderr).toBe(0);
  expect(diffTrees(a.tree, await readTree(join(target, "data")), EXACT)).toEqual([]);
  await rm(target, { recursive: true, force: true });
}

async function verify(journal: string): Promise<void> {
  const v = await runCli(["verify", "--journal", journal], { timeout: 60_000 });
  expect(v.code, v.stdout + v.stderr).toBe(0);
}

/** Rewrites `n` random 64 KiB blocks of `file`. */
async function scribble(file: string, rand: ReturnType<typeof prng>, n: number): Promise<void> {
  const fh = await open(file, "r+");
  try {
    for (let i = 0; i < n; i++) {
      await fh.write(rand.bytes(65536), 0, 65536, rand.int(0, BIG / 65536 - 1) * 65536);
    }
  } finally {
    await fh.close();
  }
}

describe("kill -9 in the middle of long operations", () => {
  it("a temporary base left by a killed retention pass is removed when the journal opens", async () => {
    const dir = await tmpDir("pvj-kill9-tmpbase-");
    const j = await Journal.open({ dir, blockSize: 4096 });
    await j.close();
    // As retention.ts names it while writing: never renamed, never indexed.
    await writeFile(join(dir, "base-0000000000000007.pvj.tmp"), Buffer.alloc(70_000));
    const again = await Journal.open({ dir, blockSize: 4096 });
    await again.close();
    expect(readdirSync(dir).filter((n) => n.endsWith(".tmp"))).toEqual([]);
  });

  it("during retention writing a base: restart, the newest checkpoint restores, retention resumes, verify passes", async () => {
    const seed = freshSeed();
    console.log(`kill9 retention seed=${seed}`);
    const rand = prng(seed);
    const r = await rig({ retention: "1s" });
    await writeFile(join(r.data, "big"), rand.bytes(BIG));
    let sc = await start(r, "sidecar");
    let last = await checkpoint(r);
    const tmpBase = () => readdirSync(r.sj).some((n) => n.endsWith(".tmp"));
    for (let round = 0; round < 2; round++) {
      // Enough changes to fill log segments past the window: retention must fold.
      await scribble(join(r.data, "big"), rand, 80);
      last = await checkpoint(r);
      // Wait for a base being written (its temporary file), then kill at once.
      await waitFor(tmpBase, { timeout: 20_000, interval: 2, what: "retention writing a base" });
      await kill9(sc);
      sc = await start(r, "sidecar");
      await offlineRestore(r, r.sj, last, `ret${round}`);
    }
    // Retention resumes: it folds again (the oldest point moves) and leaves no temporary base.
    const oldest = async () =>
      (await api<{ journal: { oldest: string } }>(r.sidecar, "/v1/status")).body.journal.oldest;
    const before = await oldest();
    await scribble(join(r.data, "big"), rand, 80);
    last = await checkpoint(r);
    await waitFor(async () => !tmpBase() && (await oldest()) > before, {
      timeout: 20_000,
      what: "retention folding again after the restarts",
    });
    await offlineRestore(r, r.sj, last, "ret-final");
    await kill9(sc);
    await verify(r.sj);
  });

  it("during a mirror update, a restore and a drill: no half-state, no pins, retries work", async () => {
    const seed = freshSeed();
    console.log(`kill9 replica seed=${seed}`);
    const rand = prng(seed);
    const r = await rig();
    await writeFile(join(r.data, "big"), rand.bytes(BIG));
    await writeFile(join(r.data, "small"), rand.bytes(1000));
    const sc = await start(r, "sidecar");
    let rp = await start(r, "replica");
    let last = await checkpoint(r);
    const status = () =>
      api<{ lastSeq: number; replica: { mirrorSeq: number } }>(r.replica, "/v1/status");
    const mirrorAt = async (a: Acked) => {
      await waitFor(async () => (await status()).body.replica.mirrorSeq === a.seq, {
        timeout: 30_000,
        what: `mirror at seq ${a.seq}`,
      });
      expect(diffTrees(a.tree, await readTree(join(r.dir, "mirror", "data")), EXACT)).toEqual([]);
    };
    await mirrorAt(last);

    // 1. Mirror updates: a new 24 MiB file arrives; kill the replica while it lands.
    for (let i = 0; i < 2; i++) {
      await writeFile(join(r.data, `new${i}`), rand.bytes(BIG));
      await scribble(join(r.data, "big"), rand, 20);
      last = await checkpoint(r);
      await waitFor(async () => (await status()).body.lastSeq >= last.seq - 50, {
        timeout: 30_000,
        interval: 2,
        what: "the replica receiving the change",
      });
      await kill9(rp);
      rp = await start(r, "replica");
      await mirrorAt(last);
    }

    // 2. A restore through the replica's API, killed mid-way.
    const target = join(r.dir, "restores", "t");
    const job = await api<{ id: string }>(r.replica, "/v1/restores", {
      checkpoint: last.id,
      target,
    });
    expect(job.status).toBe(202);
    await waitFor(
      async () =>
        (await api<{ bytesDone: number }>(r.replica, `/v1/restores/${job.body.id}`)).body
          .bytesDone > 0,
      { timeout: 20_000, interval: 2, what: "restore under way" },
    );
    await kill9(rp);
    // The target is absent (its work directory is hidden, never the target's name).
    const names = readdirSync(join(r.dir, "restores"));
    expect(names.filter((n) => !n.startsWith("."))).toEqual([]);
    rp = await start(r, "replica");
    await noPins(r.replica);
    const retry = await api<{ id: string }>(r.replica, "/v1/restores", {
      checkpoint: last.id,
      target,
    });
    expect(retry.status).toBe(202);
    await waitFor(
      async () =>
        (await api<{ state: string }>(r.replica, `/v1/restores/${retry.body.id}`)).body.state ===
        "done",
      { timeout: 30_000, what: "restore retry done" },
    );
    expect(diffTrees(last.tree, await readTree(join(target, "data")), EXACT)).toEqual([]);
    // The retry reclaimed the interrupted restore's work directory.
    expect(readdirSync(join(r.dir, "restores"))).toEqual(["t"]);
    expect(await pins(r.replica)).toBe(0);

    // 3. A drill, killed while it materialises.
    const drill = await api<{ id: string }>(r.replica, "/v1/drills", { checkpoint: last.id });
    expect(drill.status).toBe(202);
    await waitFor(() => readdirSync(join(r.dir, "drills")).length > 0, {
      timeout: 20_000,
      interval: 2,
      what: "drill sandbox created",
    });
    await kill9(rp);
    rp = await start(r, "replica");
    // The interrupted drill is reported as such and its sandbox removed; no pin is held.
    const report = await api<{ state: string; passed: boolean; error?: { message: string } }>(
      r.replica,
      `/v1/drills/${drill.body.id}`,
    );
    expect(report.body.state).toBe("failed");
    expect(report.body.error?.message).toMatch(/interrupted/);
    await waitFor(() => readdirSync(join(r.dir, "drills")).length === 0, {
      timeout: 10_000,
      what: "interrupted sandbox removed",
    });
    await noPins(r.replica);
    const next = await api<{ id: string }>(r.replica, "/v1/drills", { checkpoint: last.id });
    expect(next.status).toBe(202);
    const done = await waitFor(
      async () => {
        const d = await api<{ state: string; passed: boolean }>(
          r.replica,
          `/v1/drills/${next.body.id}`,
        );
        return d.body.state === "done" || d.body.state === "failed" ? d.body : null;
      },
      { timeout: 30_000, what: "next drill" },
    );
    expect(done.passed, JSON.stringify(done)).toBe(true);
    expect(await pins(r.replica)).toBe(0);
    expect(await pins(r.sidecar)).toBe(0);

    // SIGTERM with a replica streaming: the sidecar ends the stream and exits 0
    // at once (it used to wait out its 10 s deadline, then never exit; found by soak-cdp.mjs).
    const t0 = Date.now();
    sc.child.kill("SIGTERM");
    const res = await sc.exited;
    expect(res.code, res.stderr).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
    rp.child.kill("SIGTERM");
    expect((await rp.exited).code).toBe(0);
    await verify(r.rj);
    await verify(r.sj);
    await offlineRestore(r, r.rj, last, "final-replica");
  });
});
