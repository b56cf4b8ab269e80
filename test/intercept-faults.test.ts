/**
 * Intercept mode under faults, with a real sidecar child process and a real
 * FUSE mount: kill -9 while an app writes (three times), a dead mount, long
 * names, 4 GiB offsets, concurrent writers on one file, and a missing
 * privilege (exit 2 with what to grant).
 */
import { randomFillSync } from "node:crypto";
import { closeSync, existsSync, openSync, writeSync } from "node:fs";
import { chmod, chown, mkdir, open, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { CLI_PATH } from "./helpers/cli.js";
import { waitFor } from "./helpers/wait.js";
import { runCommand } from "./support/command.js";
import { checkRecords, startWriter } from "./support/record-writer.js";
import { type CheckpointAnswer, SidecarRig } from "./support/sidecar-proc.js";
import { diffTrees, readTree } from "./support/tree.js";

let rig: SidecarRig | null = null;
afterEach(async () => {
  await rig?.close();
  rig = null;
});

function errCode(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => "ok",
    (err: NodeJS.ErrnoException) => err.code ?? String(err),
  );
}

describe.runIf(existsSync("/dev/fuse"))("intercept capture: faults", () => {
  it("kill -9 during writes, three times: every answered checkpoint restores, the mount serves again", async () => {
    rig = await SidecarRig.create({ intercept: true });
    await rig.start();
    const answered: CheckpointAnswer[] = [];
    for (let round = 0; round < 3; round++) {
      const w = startWriter(rig.mnt());
      for (let i = 0; i < 8; i++) {
        await sleep(60);
        answered.push(await rig.checkpoint(`k${round}-${i}`));
      }
      await rig.kill();
      // The app sees a failed disk, not a hang.
      expect(await w.done).toMatch(/ENOTCONN|ECONNABORTED|EIO/);
      expect(await errCode(stat(join(rig.mnt(), "f0")))).toBe("ENOTCONN");
      await rig.start(); // detaches the stale mount, reconciles, serves
      expect((await stat(join(rig.mnt(), "f0"))).isFile()).toBe(true);
    }
    for (const cp of answered) {
      const tree = await rig.restoreOffline(cp.id);
      for (let f = 0; f < 3; f++) {
        const e = tree.get(`data/f${f}`);
        if (e) expect(checkRecords(f, e.content!), `checkpoint ${cp.id}`).toEqual([]);
      }
    }
    // What the volume holds now, including writes a kill cut off from the journal, is caught up.
    const last = await rig.checkpoint("after");
    const restored = await rig.restoreOffline(last.id);
    const live = await readTree(rig.mnt());
    const got = new Map(
      [...restored].filter(([p]) => p.startsWith("data/")).map(([p, e]) => [p.slice(5), e]),
    );
    expect(diffTrees(live, got)).toEqual([]);
    const verify = await runCommand([
      process.execPath,
      CLI_PATH,
      "verify",
      "--journal",
      rig.journalDir,
    ]);
    expect(verify.code, verify.output).toBe(0);
  }, 180_000);

  it("long names, 4 GiB offsets and concurrent writers on one file", async () => {
    rig = await SidecarRig.create({ intercept: true });
    await rig.start();
    const mnt = rig.mnt();
    const long = "n".repeat(255);
    await writeFile(join(mnt, long), "max length");
    expect(await errCode(writeFile(join(mnt, `${long}x`), "too long"))).toBe("ENAMETOOLONG");
    const fh = await open(join(mnt, "sparse"), "w");
    await fh.write(Buffer.from("tail"), 0, 4, 4 * 1024 ** 3 + 123);
    await fh.close();
    expect((await stat(join(mnt, "sparse"))).size).toBe(4 * 1024 ** 3 + 127);
    // Two processes write overlapping ranges of one file at once.
    const script = (byte: number) =>
      `const fs=require("fs");const fd=fs.openSync(process.argv[1],"r+");const b=Buffer.alloc(3000,${byte});for(let i=0;i<400;i++)fs.writeSync(fd,b,0,b.length,(i*1237)%60000);fs.fsyncSync(fd);`;
    await writeFile(join(mnt, "shared"), Buffer.alloc(64 * 1024));
    const runs = [1, 2].map((b) =>
      runCommand([process.execPath, "-e", script(b), join(mnt, "shared")]),
    );
    for (const r of await Promise.all(runs)) expect(r.code, r.output).toBe(0);
    const cp = await rig.checkpoint("edge");
    const target = await rig.restoreOfflineTo(cp.id);
    expect(await readFile(join(target, "data", long), "utf8")).toBe("max length");
    expect(await readFile(join(target, "data", "shared"))).toEqual(
      await readFile(join(mnt, "shared")),
    );
    const st = await stat(join(target, "data", "sparse"));
    expect(st.size).toBe(4 * 1024 ** 3 + 127);
    expect(st.blocks * 512).toBeLessThan(1024 * 1024); // a hole, not 4 GiB of zeros
    const tail = await open(join(target, "data", "sparse"), "r");
    const b = Buffer.alloc(4);
    await tail.read(b, 0, 4, 4 * 1024 ** 3 + 123);
    await tail.close();
    expect(b.toString()).toBe("tail");
    // Created entries belong to the caller; a set-group-ID directory passes on its group
    // (and the bit, to subdirectories), as on the volume.
    await chmod(rig.root, 0o755); // mkdtemp made it 0700: let another user reach the mount
    await mkdir(join(mnt, "shared-dir"));
    await chown(join(mnt, "shared-dir"), 0, 1);
    await chmod(join(mnt, "shared-dir"), 0o2777);
    const touch = await runCommand([
      "runuser",
      "-u",
      "nobody",
      "--",
      "sh",
      "-c",
      `touch ${mnt}/shared-dir/f && mkdir ${mnt}/shared-dir/sub`,
    ]);
    expect(touch.code, touch.output).toBe(0);
    const made = await stat(join(mnt, "shared-dir", "f"));
    expect([made.uid, made.gid]).toEqual([65534, 1]);
    expect((await stat(join(mnt, "shared-dir", "sub"))).mode & 0o2000).toBe(0o2000);
    expect((await stat(join(rig.src(), "shared-dir", "f"))).gid).toBe(1);
    // A clean stop (SIGTERM) exits 0 and detaches the mount even while a file
    // is held open on it: the holder gets an error, never a hang.
    const held = openSync(join(mnt, "shared"), "r+");
    await rig.stop();
    // Writes need the daemon (cached reads may still be served by the kernel).
    expect(() => writeSync(held, Buffer.from("x"), 0, 1, 0)).toThrow(/ENOTCONN|ENODEV|EIO/);
    try {
      closeSync(held);
    } catch {
      // ENOTCONN: the connection is gone; the descriptor is released anyway
    }
    const mounts = await readFile("/proc/self/mountinfo", "utf8");
    expect(mounts).not.toContain(` ${mnt} `);
  }, 120_000);

  it("a full journal disk gives the app ENOSPC, loses nothing acknowledged, and catches up once there is space", async () => {
    rig = await SidecarRig.create({ intercept: true });
    await mkdir(rig.journalDir);
    const mounted = await runCommand([
      "mount",
      "-t",
      "tmpfs",
      "-o",
      "size=3m",
      "tmpfs",
      rig.journalDir,
    ]);
    expect(mounted.code, mounted.output).toBe(0);
    try {
      await rig.start();
      const fh = await open(join(rig.mnt(), "big"), "w");
      let acknowledged = 0;
      let refused = "";
      const chunk = Buffer.alloc(64 * 1024);
      for (let i = 0; i < 400 && refused === ""; i++) {
        // Random bytes: the journal compresses blocks, and a constant chunk
        // would take almost no space and never fill the disk.
        randomFillSync(chunk);
        chunk[0] = i % 251;
        try {
          await fh.write(chunk, 0, chunk.length, i * chunk.length);
          acknowledged = i + 1;
        } catch (err) {
          refused = (err as NodeJS.ErrnoException).code ?? String(err);
        }
        await sleep(2);
      }
      expect(refused).toBe("ENOSPC");
      const status = await rig.status();
      const capture = status.capture as {
        degraded: boolean;
        lastError: { message: string } | null;
      };
      expect(capture.degraded).toBe(true);
      expect(capture.lastError?.message).toMatch(/ENOSPC|no space/i);
      const human = await runCommand([process.execPath, CLI_PATH, "status", "--server", rig.base]);
      expect(human.output).toMatch(/capture: +intercept/);
      expect(human.output).toMatch(/DEGRADED: .*(ENOSPC|no space)/i);
      // A checkpoint cannot be answered while the journal cannot take it.
      const cp = await fetch(`${rig.base}/v1/checkpoints`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      expect(cp.status).toBeGreaterThanOrEqual(500);
      // Space comes back: the held records go in by themselves, writes are taken again.
      expect((await runCommand(["mount", "-o", "remount,size=256m", rig.journalDir])).code).toBe(0);
      await waitFor(
        async () => !((await rig!.status()).capture as { degraded: boolean }).degraded,
        {
          timeout: 20_000,
          what: "capture recovers",
        },
      );
      await fh.write(Buffer.from("after"), 0, 5, acknowledged * chunk.length);
      await fh.close();
      const answered = await rig.checkpoint("after-enospc");
      const restored = await rig.restoreOfflineTo(answered.id);
      const got = await readFile(join(restored, "data", "big"));
      expect(got.equals(await readFile(join(rig.mnt(), "big")))).toBe(true);
      for (let i = 0; i < acknowledged; i++) expect(got[i * chunk.length]).toBe(i % 251);
      await rig.stop();
    } finally {
      await rig.kill();
      await runCommand(["umount", "-l", rig.mnt()]);
      await runCommand(["umount", "-l", rig.journalDir]);
    }
  }, 120_000);

  it("without CAP_SYS_ADMIN the sidecar exits 2 and says what to grant", async () => {
    rig = await SidecarRig.create({ intercept: true });
    const r = await runCommand([
      "setpriv",
      "--bounding-set=-sys_admin",
      "--inh-caps=-sys_admin",
      process.execPath,
      CLI_PATH,
      "sidecar",
      "-c",
      rig.configFile,
    ]);
    expect(r.code, r.output).toBe(2);
    expect(r.output).toMatch(/CAP_SYS_ADMIN/);
    expect(r.output).toMatch(/privileged: true/);
    expect(r.output).toMatch(/capture\.mode/);
  }, 60_000);
});
