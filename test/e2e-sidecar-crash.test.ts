/**
 * Crash: a real sidecar is SIGKILLed in the middle of a burst of writes (and
 * of the random writer, sometimes with a checkpoint request in flight), the
 * sources change while it is down, and it is restarted — several times. After
 * each restart every acknowledged checkpoint (201 received) restores
 * byte-exact with the offline CLI, a checkpoint answered while the writers
 * ran just before the kill is listed and restorable, and the next checkpoint holds the
 * changes made while the sidecar was down. Replay with TEST_SEED=<seed>.
 */
import { mkdir, open, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runCli } from "./helpers/cli.js";
import { FsWriter } from "./support/fs-writer.js";
import { freshSeed, prng } from "./support/prng.js";
import { type CheckpointAnswer, SidecarRig } from "./support/sidecar-proc.js";
import { diffTrees, type TreeEntry } from "./support/tree.js";

const rigs: SidecarRig[] = [];
afterEach(async () => {
  for (const r of rigs.splice(0)) await r.close();
});

const EXACT = { mtimes: true, dirMtimes: true };
const CRASHES = 4;

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

/** Writes 1..64 bytes at random offsets of one file, 5-40 ms apart, until stopped. */
async function burst(file: string, rand: ReturnType<typeof prng>, stop: () => boolean) {
  let writes = 0;
  while (!stop()) {
    const fh = await open(file, "r+");
    try {
      const size = (await fh.stat()).size;
      const data = rand.bytes(rand.int(1, 64));
      await fh.write(data, 0, data.length, rand.chance(0.2) ? size : rand.int(0, size));
    } finally {
      await fh.close();
    }
    writes += 1;
    await sleep(rand.int(5, 40));
  }
  return writes;
}

describe("sidecar crash safety", () => {
  it("acknowledged checkpoints survive SIGKILL mid-burst; changes made while down are captured", async () => {
    const seed = freshSeed();
    console.log(`e2e sidecar crash seed=${seed}`);
    const rand = prng(seed);
    const rig = await SidecarRig.create({ names: ["data"], blockSize: "4KiB" });
    rigs.push(rig);
    // The burst target lives outside the random writer's tree (which it may delete or move).
    await mkdir(join(rig.src("data"), "tree"));
    const writer = new FsWriter(join(rig.src("data"), "tree"), rand, 4096);
    for (let i = 0; i < 20; i++) await writer.step();
    const hot = join(rig.src("data"), "hot.db");
    const fh = await open(hot, "w");
    await fh.write(rand.bytes(64 * 1024), 0, 64 * 1024, 0);
    await fh.close();
    await rig.start();

    const acked: { cp: CheckpointAnswer; tree: Map<string, TreeEntry>; why: string }[] = [];
    const midCrash: number[] = [];
    const ops: string[] = [];
    const verifyAcked = async (when: string) => {
      for (const a of acked) {
        const diff = diffTrees(a.tree, await rig.restoreOffline(a.cp.id), EXACT);
        expect(diff, `seed=${seed} checkpoint ${a.cp.id} (${a.why}) ${when}`).toEqual([]);
      }
    };
    const quietCheckpoint = async (why: string) => {
      const cp = await rig.checkpoint(why);
      acked.push({ cp, tree: await rig.reference(), why });
      return cp;
    };

    for (let crash = 0; crash < CRASHES; crash++) {
      for (let k = rand.int(1, 2); k > 0; k--) {
        for (let i = rand.int(5, 20); i > 0; i--) ops.push(await writer.step());
        await quietCheckpoint(`crash${crash}-before`);
      }
      // Mid-burst: the hot file and the random writer run while the sidecar is killed.
      let stopping = false;
      const bursting = burst(hot, prng(seed + crash), () => stopping);
      const writing = (async () => {
        while (!stopping) ops.push(await writer.step());
      })();
      // Sometimes a checkpoint request is in flight when the kill lands.
      let inflight: Promise<CheckpointAnswer | null> | null = null;
      if (rand.chance(0.5))
        inflight = sleep(rand.int(0, 300)).then(() =>
          rig.checkpoint(`crash${crash}-inflight`).catch(() => null),
        );
      await sleep(rand.int(150, 900));
      await rig.kill();
      const answered = inflight ? await inflight : null;
      stopping = true;
      await Promise.all([bursting, writing]);
      if (answered) midCrash.push(answered.id);

      // While down: more changes, including to the hot file.
      for (let i = rand.int(5, 15); i > 0; i--) ops.push(await writer.step());
      const fh2 = await open(hot, "r+");
      await fh2.write(rand.bytes(100), 0, 100, rand.int(0, (await fh2.stat()).size));
      await fh2.close();

      await rig.start();
      await verifyAcked(`after crash ${crash}`);
      // A checkpoint answered just before the kill (writers running, so no
      // reference to compare with) is still listed and restorable.
      for (const id of midCrash) await rm(await rig.restoreOfflineTo(id), { recursive: true });
      // The next checkpoint holds what changed while the sidecar was down.
      const cp = await quietCheckpoint(`crash${crash}-after`);
      const diff = diffTrees(acked.at(-1)!.tree, await rig.restoreOffline(cp.id), EXACT);
      expect(diff, `seed=${seed} first checkpoint after crash ${crash}`).toEqual([]);
    }

    await rig.stop();
    const verify = await runCli(["verify", "--journal", rig.journalDir], { timeout: 60_000 });
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    const listed = await runCli(["checkpoints", "--journal", rig.journalDir, "--json"]);
    expect(listed.code).toBe(0);
    const ids = (JSON.parse(listed.stdout) as { checkpoints: { id: number }[] }).checkpoints.map(
      (c) => c.id,
    );
    for (const a of acked) expect(ids).toContain(a.cp.id);
    for (const id of midCrash) expect(ids).toContain(id);
    console.log(
      `crash test: ${acked.length} acknowledged checkpoints, ${midCrash.length} answered mid-crash, ${ops.length} writer ops`,
    );
  });
});
