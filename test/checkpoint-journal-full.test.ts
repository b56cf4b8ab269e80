/**
 * A checkpoint asked of a sidecar whose journal filesystem is full (a real
 * 8 MiB tmpfs, filled to the last block; needs root) is refused with 507
 * JOURNAL_FULL and a message that says what to do, not 500 "internal error".
 * Capture counts the failure in /v1/status; once space is back the next
 * checkpoint holds everything written meanwhile, and the earlier checkpoint
 * still restores byte-exact. Found by native-free-benchmarks/soak-cdp.mjs,
 * where a full journal answered 500 IO_ERROR "journal write failed: ENOSPC".
 */
import { execFileSync } from "node:child_process";
import { closeSync, openSync, statfsSync, writeSync } from "node:fs";
import { mkdir, rm, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  type CliProcess,
  freePort,
  makeTmpDir,
  runCli,
  spawnCli,
  waitFor,
} from "./helpers/index.js";
import { prng } from "./support/prng.js";
import { diffTrees, readTree } from "./support/tree.js";

const isRoot = process.getuid?.() === 0;
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
});

/** Writes zeros to `path` until the filesystem refuses, halving the chunk down to one page. */
function fillUp(path: string): void {
  const fd = openSync(path, "w");
  try {
    for (let chunk = 1 << 20; chunk >= 4096; ) {
      try {
        writeSync(fd, Buffer.alloc(chunk));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
        chunk /= 2;
      }
    }
  } finally {
    closeSync(fd);
  }
}

describe("a checkpoint on a full journal filesystem", () => {
  it.skipIf(!isRoot)(
    "answers 507 JOURNAL_FULL, counts it, and catches up once space is back",
    async () => {
      const rand = prng(507);
      const dir = await makeTmpDir("pvj-journal-full-");
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      const fs = join(dir, "fs");
      const data = join(dir, "data");
      await mkdir(fs);
      await mkdir(data);
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", fs]);
      cleanups.push(() => execFileSync("umount", ["-l", fs]));
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      await writeFile(
        join(dir, "sidecar.yaml"),
        [
          "sources:",
          "  - name: data",
          `    path: ${data}`,
          "journal:",
          `  dir: ${join(fs, "journal")}`,
          "  blockSize: 4KiB",
          "  segmentSize: 1MiB",
          "api:",
          `  listen: 127.0.0.1:${port}`,
          "checkpoints:",
          "  interval: 0s",
          "capture:",
          "  debounce: 30ms",
          "  maxWait: 200ms",
          "log:",
          "  level: warn",
        ].join("\n"),
      );
      const sc: CliProcess = spawnCli(["sidecar", "-c", join(dir, "sidecar.yaml")], {
        cwd: dir,
        timeout: 120_000,
      });
      cleanups.push(() => sc.child.kill("SIGKILL"));
      await waitFor(
        async () => {
          sc.assertRunning();
          return (await fetch(`${base}/readyz`).catch(() => null))?.status === 200;
        },
        { timeout: 30_000, what: "sidecar ready" },
      );
      const post = () =>
        fetch(`${base}/v1/checkpoints`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "{}",
        });
      const restore = async (id: number, name: string) => {
        const target = join(dir, name);
        const r = await runCli(
          [
            "restore",
            "--checkpoint",
            String(id),
            "--target",
            target,
            "--journal",
            join(fs, "journal"),
          ],
          { timeout: 60_000 },
        );
        expect(r.code, r.stderr).toBe(0);
        return readTree(join(target, "data"));
      };

      // Random bytes: zstd cannot shrink them, so the journal needs their full size.
      await writeFile(join(data, "a"), rand.bytes(300_000));
      const first = await post();
      expect(first.status).toBe(201);
      const cp1 = (await first.json()) as { id: number };
      const tree1 = await readTree(data);

      const filler = join(fs, "filler");
      fillUp(filler);
      expect(statfsSync(fs).bavail).toBe(0);
      await writeFile(join(data, "b"), rand.bytes(400_000));
      await writeFile(join(data, "a"), rand.bytes(300_000));
      const refused = await post();
      expect(refused.status).toBe(507);
      const body = (await refused.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe("JOURNAL_FULL");
      expect(body.error.message).toMatch(/full.*free space under journal\.dir/);
      const st = (await (await fetch(`${base}/v1/status`)).json()) as {
        capture: { errors: number; lastError: { message: string } | null };
      };
      expect(st.capture.errors).toBeGreaterThan(0);
      expect(st.capture.lastError?.message).toMatch(/full|ENOSPC/);
      sc.assertRunning();

      // Space is back: capture catches up by itself and the next checkpoint holds it all.
      await unlink(filler);
      const tree2 = await readTree(data);
      const cp2 = await waitFor(
        async () => {
          const r = await post();
          return r.status === 201 ? ((await r.json()) as { id: number }) : null;
        },
        { timeout: 30_000, interval: 200, what: "a checkpoint once space is back" },
      );
      expect(diffTrees(tree2, await restore(cp2.id, "r2"), { mtimes: true })).toEqual([]);
      expect(diffTrees(tree1, await restore(cp1.id, "r1"), { mtimes: true })).toEqual([]);
      sc.child.kill("SIGTERM");
      expect((await sc.exited).code).toBe(0);
    },
    120_000,
  );
});
