import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type CliProcess, freePort, runCli, spawnCli, tmpDir, waitFor } from "./helpers/index.js";
import { FsWriter } from "./support/fs-writer.js";
import { freshSeed, prng } from "./support/prng.js";
import { diffTrees, readTree, type TreeEntry } from "./support/tree.js";

const procs: CliProcess[] = [];
afterEach(() => {
  for (const p of procs.splice(0)) p.child.kill("SIGKILL");
});

const TOKEN = "e2e-token";

async function setup() {
  const dir = await tmpDir("pvj-e2e-rep-");
  for (const d of ["data", "replica-mirror", "api-restores"]) await mkdir(join(dir, d));
  await writeFile(join(dir, "token"), `${TOKEN}\n`);
  const sidecarPort = await freePort();
  const replicaPort = await freePort();
  await writeFile(
    join(dir, "sidecar.yaml"),
    [
      "sources:",
      "  - name: data",
      "    path: ./data",
      "journal:",
      "  dir: ./sidecar-journal",
      "  blockSize: 4KiB",
      "api:",
      `  listen: 127.0.0.1:${sidecarPort}`,
      "  tokenFile: ./token",
      "checkpoints:",
      "  interval: 0s",
      "capture:",
      "  debounce: 30ms",
      "  maxWait: 200ms",
      "log:",
      "  level: warn",
    ].join("\n"),
  );
  await writeFile(
    join(dir, "replica.yaml"),
    [
      "journal:",
      "  dir: ./replica-journal",
      "api:",
      `  listen: 127.0.0.1:${replicaPort}`,
      "  tokenFile: ./token",
      "replica:",
      `  source: http://127.0.0.1:${sidecarPort}`,
      "  tokenFile: ./token",
      "  mirrorDir: ./replica-mirror",
      "restore:",
      "  allowedRoots: [./api-restores]",
      "log:",
      "  level: warn",
    ].join("\n"),
  );
  return {
    dir,
    sidecar: `http://127.0.0.1:${sidecarPort}`,
    replica: `http://127.0.0.1:${replicaPort}`,
  };
}

async function api<T>(
  base: string,
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}${path}`, {
    ...init,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      "content-type": "application/json",
      ...(init.headers ?? {}),
    },
  });
  return { status: res.status, body: (await res.json().catch(() => null)) as T };
}

async function start(role: "sidecar" | "replica", dir: string, base: string): Promise<CliProcess> {
  const p = spawnCli([role, "-c", join(dir, `${role}.yaml`)], { cwd: dir });
  procs.push(p);
  // A replica started while the sidecar is down is alive but not caught up: wait for /healthz.
  const probe = role === "sidecar" ? "/readyz" : "/healthz";
  await waitFor(async () => (await fetch(`${base}${probe}`).catch(() => null))?.status === 200, {
    timeout: 30_000,
    what: `${role} ready`,
  });
  return p;
}

async function kill9(p: CliProcess): Promise<void> {
  p.child.kill("SIGKILL");
  await p.exited;
}

describe("sidecar and replica as processes", () => {
  it("every acknowledged checkpoint reaches the replica across kill -9 of either side, and survives site loss", async () => {
    const seed = freshSeed();
    console.log(`e2e replica seed=${seed}`);
    const rand = prng(seed);
    const { dir, sidecar, replica } = await setup();
    const writer = new FsWriter(join(dir, "data"), rand, 4096);
    let sc: CliProcess | null = await start("sidecar", dir, sidecar);
    let rp: CliProcess | null = await start("replica", dir, replica);
    const acked: { id: number; seq: number; tree: Map<string, TreeEntry> }[] = [];

    for (let round = 0; round < 10; round++) {
      const steps = rand.int(5, 25);
      for (let i = 0; i < steps; i++) await writer.step();
      if (sc && rand.chance(0.7)) {
        const r = await api<{ id: number; seq: number }>(sidecar, "/v1/checkpoints", {
          method: "POST",
          body: JSON.stringify({ label: `r${round}` }),
        });
        expect(r.status).toBe(201);
        acked.push({ id: r.body.id, seq: r.body.seq, tree: await readTree(join(dir, "data")) });
      }
      // Kill the replica, then the sidecar, at random moments; restart them a round or two later.
      if (rp && rand.chance(0.35)) {
        await kill9(rp);
        rp = null;
      } else if (!rp) rp = await start("replica", dir, replica);
      if (sc && rand.chance(0.25)) {
        await kill9(sc);
        sc = null;
      } else if (!sc) sc = await start("sidecar", dir, sidecar);
    }
    if (!sc) sc = await start("sidecar", dir, sidecar);
    if (!rp) rp = await start("replica", dir, replica);
    for (let i = 0; i < 10; i++) await writer.step();
    const last = await api<{ id: number; seq: number }>(sidecar, "/v1/checkpoints", {
      method: "POST",
      body: JSON.stringify({ label: "final" }),
    });
    expect(last.status).toBe(201);
    acked.push({ id: last.body.id, seq: last.body.seq, tree: await readTree(join(dir, "data")) });

    // The replica catches up, acknowledges, and its mirror shows the last checkpoint.
    await waitFor(
      async () => {
        const s = await api<{ lastSeq: number; replica: { mirrorSeq: number } }>(
          replica,
          "/v1/status",
        );
        return s.body.lastSeq >= last.body.seq && s.body.replica.mirrorSeq === last.body.seq;
      },
      { timeout: 30_000, what: "replica caught up with the last checkpoint" },
    );
    const st = await api<{ replicas: { ackedSeq: number }[] }>(sidecar, "/v1/status");
    expect(st.body.replicas[0]!.ackedSeq).toBeGreaterThanOrEqual(last.body.seq);
    const mirrorDiff = diffTrees(
      acked[acked.length - 1]!.tree,
      await readTree(join(dir, "replica-mirror", "data")),
      { mtimes: true },
    );
    expect(mirrorDiff, `seed=${seed} mirror`).toEqual([]);

    // A restore through the replica's API equals the reference too.
    const target = join(dir, "api-restores", "last");
    const job = await api<{ id: string }>(replica, "/v1/restores", {
      method: "POST",
      body: JSON.stringify({ checkpoint: last.body.id, target }),
    });
    expect(job.status).toBe(202);
    await waitFor(
      async () =>
        (await api<{ state: string }>(replica, `/v1/restores/${job.body.id}`)).body.state ===
        "done",
      {
        timeout: 20_000,
        what: "API restore on the replica",
      },
    );
    expect(
      diffTrees(acked[acked.length - 1]!.tree, await readTree(join(target, "data")), {
        mtimes: true,
      }),
    ).toEqual([]);

    // Site loss: the sidecar dies and its whole journal is gone.
    await kill9(sc);
    await rm(join(dir, "sidecar-journal"), { recursive: true, force: true });
    const listed = await runCli([
      "checkpoints",
      "--journal",
      join(dir, "replica-journal"),
      "--json",
    ]);
    const ids = (JSON.parse(listed.stdout) as { checkpoints: { id: number }[] }).checkpoints.map(
      (c) => c.id,
    );
    for (const a of acked) {
      expect(ids, `seed=${seed}`).toContain(a.id);
      const target = join(dir, "restores", `cp${a.id}`);
      const r = await runCli([
        "restore",
        "--checkpoint",
        String(a.id),
        "--target",
        target,
        "--journal",
        join(dir, "replica-journal"),
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(
        diffTrees(a.tree, await readTree(join(target, "data")), { mtimes: true }),
        `seed=${seed} cp=${a.id}`,
      ).toEqual([]);
    }
    expect((await runCli(["verify", "--journal", join(dir, "replica-journal")])).code).toBe(0);
  });
});
