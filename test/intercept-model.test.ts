/**
 * Intercept mode against a model: seeded random operations through a real
 * FUSE mount served by a real sidecar child process, checkpoints in between;
 * the mount must read back as the model at every cut, and every checkpoint
 * must restore (offline CLI) byte-exact to the model's state at that cut,
 * file mtimes and modes included. TEST_SEED=<n> replays a run.
 */
import { existsSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { FsModel } from "./support/fs-model.js";
import { freshSeed, prng } from "./support/prng.js";
import { type CheckpointAnswer, SidecarRig } from "./support/sidecar-proc.js";
import { diffTrees, readTree, type TreeEntry } from "./support/tree.js";

const BLOCK = 8 * 1024;
let rig: SidecarRig | null = null;

afterEach(async () => {
  await rig?.close();
  rig = null;
});

function withoutMtimes(t: Map<string, TreeEntry>): Map<string, TreeEntry> {
  return new Map([...t].map(([p, e]) => [p, { ...e, mtimeMs: 0 }]));
}

describe.runIf(existsSync("/dev/fuse"))("intercept capture: model", () => {
  it("every checkpoint of a random workload through the mount restores byte-exact to the model", async () => {
    const seed = freshSeed();
    console.log(`intercept model seed: ${seed} (TEST_SEED=${seed} replays)`);
    const rand = prng(seed);
    rig = await SidecarRig.create({ intercept: true });
    await rig.start();
    const model = new FsModel(rig.mnt(), rand, BLOCK);
    const cuts: { cp: CheckpointAnswer; tree: Map<string, TreeEntry>; ops: string[] }[] = [];
    for (let round = 0; round < 10; round++) {
      const ops: string[] = [];
      for (let i = 0; i < 15; i++) ops.push(await model.step());
      const cp = await rig.checkpoint(`r${round}`);
      expect(cp.consistency).toBe("crash");
      const live = await readTree(rig.mnt());
      // The mount itself reads back as the model (content, kinds, modes, targets).
      const wanted = new Map([...model.tree()].map(([p, e]) => [p, { ...e, mtimeMs: 0 }]));
      expect(diffTrees(wanted, withoutMtimes(live)), `seed ${seed}, ops ${ops.join("; ")}`).toEqual(
        [],
      );
      cuts.push({ cp, tree: live, ops });
    }
    for (const { cp, tree, ops } of cuts) {
      const restored = await rig.restoreOffline(cp.id);
      const got = new Map(
        [...restored].filter(([p]) => p.startsWith("data/")).map(([p, e]) => [p.slice(5), e]),
      );
      expect(
        diffTrees(tree, got, { mtimes: true }),
        `seed ${seed}, checkpoint ${cp.id}, ops before it: ${ops.join("; ")}`,
      ).toEqual([]);
    }
    // The backing volume holds exactly what the mount shows.
    expect(diffTrees(await readTree(rig.mnt()), await readTree(rig.src()))).toEqual([]);
  }, 240_000);
});
