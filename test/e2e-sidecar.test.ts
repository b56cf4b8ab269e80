/**
 * End-to-end: a real `pvjournal sidecar` child process, a seeded random
 * writer on its two sources, checkpoints over HTTP with a reference copy of
 * the sources at each, and every checkpoint restored OFFLINE by the CLI
 * (some while the daemon still runs, the rest after it stopped) and compared
 * byte-exact: contents, sizes, modes, symlinks, file and directory mtimes.
 * Native (inotify) and polling watchers. Replay a failure with TEST_SEED=<seed>.
 */
import { afterEach, describe, expect, it } from "vitest";
import { FsWriter } from "./support/fs-writer.js";
import { freshSeed, prng } from "./support/prng.js";
import { SidecarRig } from "./support/sidecar-proc.js";
import { diffTrees, type TreeEntry } from "./support/tree.js";

const rigs: SidecarRig[] = [];
afterEach(async () => {
  for (const r of rigs.splice(0)) await r.close();
});

const EXACT = { mtimes: true, dirMtimes: true };
/** Writing time per mode; two modes and the restores fit in well under two minutes. */
const WRITE_MS = 20_000;
const MAX_CHECKPOINTS = 10;

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

describe.each([
  { mode: "native", usePolling: false, blockSize: "64KiB", writerBlock: 4096 },
  { mode: "polling", usePolling: true, blockSize: "4KiB", writerBlock: 4096 },
])("sidecar end-to-end ($mode)", ({ mode, usePolling, blockSize, writerBlock }) => {
  it("every checkpoint of a random workload restores byte-exact with the offline CLI", async () => {
    const seed = freshSeed();
    console.log(`e2e sidecar random writer (${mode}) seed=${seed}`);
    const rand = prng(seed);
    const rig = await SidecarRig.create({ names: ["data", "conf"], usePolling, blockSize });
    rigs.push(rig);
    const data = new FsWriter(rig.src("data"), rand, writerBlock);
    const conf = new FsWriter(rig.src("conf"), rand, writerBlock);
    // Some history before the sidecar starts: the initial scan must capture it.
    for (let i = 0; i < 20; i++) await data.step();
    for (let i = 0; i < 5; i++) await conf.step();
    await rig.start();

    const snaps: { id: number; tree: Map<string, TreeEntry>; ops: string[] }[] = [];
    let ops: string[] = [];
    const deadline = Date.now() + WRITE_MS;
    while (Date.now() < deadline && snaps.length < MAX_CHECKPOINTS) {
      const n = rand.int(10, 40);
      for (let i = 0; i < n; i++) {
        ops.push(await (rand.chance(0.8) ? data : conf).step());
        if (rand.chance(0.3)) await sleep(rand.int(0, 80));
      }
      // Sometimes let the event path catch up first, sometimes checkpoint at once.
      if (rand.chance(0.5)) await sleep(rand.int(0, 600));
      // The writer is paused: the reference is what every completed write left.
      const cp = await rig.checkpoint(`s${snaps.length}`);
      // Watch mode re-reads files at different moments: it never claims "crash".
      expect(cp.consistency).toBe("fuzzy");
      snaps.push({ id: cp.id, tree: await rig.reference(), ops });
      ops = [];
    }
    expect(snaps.length).toBeGreaterThanOrEqual(4);

    const check = async (s: (typeof snaps)[number], when: string) => {
      const diff = diffTrees(s.tree, await rig.restoreOffline(s.id), EXACT);
      expect(
        diff,
        `seed=${seed} ${mode} checkpoint ${s.id} (${when}) after: ${s.ops.join("; ")}`,
      ).toEqual([]);
    };
    // Offline restores while the daemon still runs (the journal is shared, read-only)...
    const live = [snaps[0]!, snaps[snaps.length - 1]!];
    for (const s of live) await check(s, "daemon running");
    const status = await rig.status();
    const capture = status.capture as { errors: number; ready: boolean };
    expect(capture.ready).toBe(true);
    expect(capture.errors, rig.stderr()).toBe(0);
    // ...and the rest after a clean stop.
    await rig.stop();
    for (const s of snaps.slice(1, -1)) await check(s, "daemon stopped");
  });
});
