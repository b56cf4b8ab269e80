/**
 * The promise intercept mode exists for: a live PostgreSQL under pgbench,
 * with a CHECKPOINT every ~2 s, checkpointed by pvjournal at least ten times;
 * every checkpoint restores offline, starts (crash recovery), passes
 * pg_amcheck --heapallindexed and keeps the pgbench invariant. The same
 * workload in watch mode must never label a point "crash".
 */
import { existsSync } from "node:fs";
import { chmod, chown, mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { freePort } from "./helpers/net.js";
import { runCommand } from "./support/command.js";
import {
  amcheck,
  initdb,
  type PgCluster,
  pgBinDir,
  pgbench,
  pgbenchInit,
  pgbenchSums,
  pgStart,
  pgStop,
  psql,
} from "./support/postgres.js";
import { type CheckpointAnswer, SidecarRig } from "./support/sidecar-proc.js";

let rig: SidecarRig | null = null;
let live: PgCluster | null = null;
afterEach(async () => {
  if (live) await pgStop(live, "immediate").catch(() => undefined);
  live = null;
  await rig?.close();
  rig = null;
});

const PG_UID = Number((await runCommand(["id", "-u", "postgres"])).output.trim() || "-1");
const PG_GID = Number((await runCommand(["id", "-g", "postgres"])).output.trim() || "-1");
const available = existsSync("/dev/fuse") && pgBinDir() !== null && PG_UID > 0;

/** Runs pgbench on a cluster in `parent` and takes `n` pvjournal checkpoints while it runs. */
async function workload(r: SidecarRig, parent: string, n: number): Promise<CheckpointAnswer[]> {
  await chmod(r.root, 0o755);
  await chown(parent, PG_UID, PG_GID);
  const socketDir = join(r.root, "sock");
  await mkdir(socketDir, { mode: 0o777 });
  await chmod(socketDir, 0o777);
  const c: PgCluster = { dataDir: join(parent, "pgdata"), port: await freePort(), socketDir };
  await initdb(c.dataDir);
  await pgStart(c, ["checkpoint_timeout=30s", "max_wal_size=64MB"]);
  live = c;
  await pgbenchInit(c, 4);
  let running = true;
  const bench = pgbench(c, 4, 4 + n).finally(() => {
    running = false;
  });
  const cps: CheckpointAnswer[] = [];
  for (let i = 0; running && cps.length < n; i++) {
    await sleep(450);
    if (i % 4 === 1) await psql(c, "CHECKPOINT");
    cps.push(await r.checkpoint(`pgbench-${i}`));
  }
  await bench;
  await pgStop(c);
  live = null;
  return cps;
}

/** Restores a checkpoint, starts it (crash recovery), checks it; the problems found ([] when healthy). */
async function check(r: SidecarRig, cp: CheckpointAnswer): Promise<string[]> {
  const target = await r.restoreOfflineTo(cp.id);
  const dataDir = join(target, "data", "pgdata");
  await runCommand(["chown", "-R", "postgres:postgres", target]);
  await chmod(target, 0o755);
  await chmod(join(target, ".."), 0o755);
  await chmod(dataDir, 0o700);
  // The original server is stopped; its pid file in the copy is stale.
  await rm(join(dataDir, "postmaster.pid"), { force: true });
  const c: PgCluster = { dataDir, port: await freePort(), socketDir: join(r.root, "sock") };
  const problems: string[] = [];
  try {
    await pgStart(c);
    const a = await amcheck(c);
    if (!a.ok) problems.push(`pg_amcheck: ${a.output.slice(0, 500)}`);
    const sums = await pgbenchSums(c);
    if (new Set(sums).size !== 1) problems.push(`pgbench invariant broken: ${sums.join(" / ")}`);
  } catch (err) {
    problems.push(`cannot start: ${(err as Error).message.slice(0, 500)}`);
  } finally {
    await pgStop(c, "immediate").catch(() => undefined);
    await rm(target, { recursive: true, force: true });
  }
  return problems;
}

describe.runIf(available)("intercept capture: PostgreSQL under pgbench", () => {
  it("every checkpoint restores, starts, passes pg_amcheck and the pgbench invariant", async () => {
    rig = await SidecarRig.create({ intercept: true });
    await rig.start();
    const cps = await workload(rig, rig.mnt(), 10);
    expect(cps.length).toBeGreaterThanOrEqual(10);
    for (const cp of cps) {
      expect(cp.consistency).toBe("crash");
      expect(await check(rig, cp), `checkpoint ${cp.id}`).toEqual([]);
    }
  }, 600_000);

  it("watch mode labels the same workload's checkpoints fuzzy, never crash", async () => {
    rig = await SidecarRig.create({ blockSize: "8KiB" });
    await rig.start();
    const cps = await workload(rig, rig.src(), 5);
    expect(cps.map((c) => c.consistency)).toEqual(cps.map(() => "fuzzy"));
    let broken = 0;
    for (const cp of cps) if ((await check(rig, cp)).length > 0) broken += 1;
    // Informational: how many of these fuzzy points a database could not use.
    console.log(`watch mode: ${broken} of ${cps.length} fuzzy checkpoints came back broken`);
  }, 600_000);
});
