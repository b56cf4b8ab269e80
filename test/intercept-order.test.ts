/**
 * Ordering: an app writes two files alternately with an fsync after each
 * write (A0 B0 A1 B1 ...) while checkpoints are taken as fast as they are
 * answered. A cut holds a prefix of that order: never a later write of one
 * file without every earlier write of the other.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { checkRecords, RECORD, recordBytes } from "./support/record-writer.js";
import { type CheckpointAnswer, SidecarRig } from "./support/sidecar-proc.js";

let rig: SidecarRig | null = null;
afterEach(async () => {
  await rig?.close();
  rig = null;
});

const ROUNDS = 600;
const SCRIPT = `
import { openSync, writeSync, fsyncSync } from "node:fs";
const [dir, rounds] = process.argv.slice(1);
const RECORD = ${RECORD};
${recordBytes.toString()}
const fds = [openSync(dir + "/a", "w"), openSync(dir + "/b", "w")];
for (let i = 0; i < Number(rounds); i++) {
  for (let f = 0; f < 2; f++) {
    writeSync(fds[f], recordBytes(f, i), 0, RECORD, i * RECORD);
    fsyncSync(fds[f]);
  }
}
`;

describe.runIf(existsSync("/dev/fuse"))("intercept capture: order", () => {
  it("no checkpoint holds a later write of one file without the earlier writes of the other", async () => {
    rig = await SidecarRig.create({ intercept: true });
    await rig.start();
    const child = spawn(
      process.execPath,
      ["--input-type=module", "-e", SCRIPT, rig.mnt(), String(ROUNDS)],
      {
        stdio: "inherit",
      },
    );
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    let done = false;
    void exited.then(() => {
      done = true;
    });
    const cps: CheckpointAnswer[] = [];
    while (!done) {
      cps.push(await rig.checkpoint(null));
      await sleep(40);
    }
    expect(await exited).toBe(0);
    cps.push(await rig.checkpoint("end"));
    expect(cps.length).toBeGreaterThan(5);
    let interleaved = 0;
    // Every checkpoint would take minutes to restore; an even sample of 30 plus the last.
    const step = Math.max(1, Math.floor(cps.length / 30));
    const sample = cps.filter((_, i) => i % step === 0 || i === cps.length - 1);
    for (const cp of sample) {
      const tree = await rig.restoreOffline(cp.id);
      const a = tree.get("data/a")?.content ?? Buffer.alloc(0);
      const b = tree.get("data/b")?.content ?? Buffer.alloc(0);
      expect([...checkRecords(0, a), ...checkRecords(1, b)], `checkpoint ${cp.id}`).toEqual([]);
      const na = a.length / RECORD;
      const nb = b.length / RECORD;
      // A_i is before B_i, which is before A_(i+1): a prefix has na = nb or na = nb + 1.
      expect(na === nb || na === nb + 1, `checkpoint ${cp.id}: a has ${na}, b has ${nb}`).toBe(
        true,
      );
      if (na > 0 && na < ROUNDS) interleaved += 1;
    }
    // The cuts really fell inside the workload, not only before and after it.
    expect(interleaved).toBeGreaterThan(2);
    const last = await rig.restoreOffline(cps.at(-1)!.id);
    expect(last.get("data/a")!.content!.length).toBe(ROUNDS * RECORD);
  }, 180_000);
});
