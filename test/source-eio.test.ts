/**
 * A source file that returns EIO on read, on a real failing filesystem: a
 * tiny FUSE passthrough (support/eio-fuse.ts, on our own protocol codec)
 * serves the source and fails READ for chosen files. The sidecar (a real
 * child process) counts the failure, logs it as a warning, shows it in
 * /v1/status and the metrics, keeps what it journaled before, keeps capturing
 * the other files, does not crash, and captures the file again once it reads.
 * Needs root and /dev/fuse (mounts), like the intercept tests.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, describe, expect, it } from "vitest";
import {
  type CliProcess,
  freePort,
  makeTmpDir,
  runCli,
  spawnCli,
  waitFor,
} from "./helpers/index.js";
import { runCommand } from "./support/command.js";
import { prng } from "./support/prng.js";
import { diffTrees, readTree, type TreeEntry } from "./support/tree.js";

const canMount = process.getuid?.() === 0 && existsSync("/dev/fuse");
const SHIM = join(import.meta.dirname, "support", "eio-fuse.ts");
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

/** Mounts the shim; resolves once it serves. Registered for cleanup (unmount, kill) at once. */
async function mountShim(backing: string, mnt: string, control: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", SHIM, backing, mnt, control], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  cleanups.push(async () => {
    await runCommand(["umount", "-l", mnt]);
    child.kill("SIGKILL");
  });
  let err = "";
  child.stderr!.on("data", (d) => {
    err += d;
  });
  const lines = createInterface({ input: child.stdout! });
  await new Promise<void>((resolve, reject) => {
    lines.on("line", (l) => l === "serving" && resolve());
    child.on("exit", (code) => reject(new Error(`shim exited ${code}: ${err}`)));
    setTimeout(() => reject(new Error(`shim did not serve: ${err}`)), 20_000).unref();
  });
  return child;
}

describe("a source file that returns EIO", () => {
  it.skipIf(!canMount)(
    "is counted, logged and shown; journaled data stays; other files go on; it recovers",
    async () => {
      const rand = prng(1313);
      const dir = await makeTmpDir("pvj-eio-");
      // Removed last (cleanups run in reverse): after the unmount.
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      const backing = join(dir, "backing");
      const mnt = join(dir, "mnt");
      const restores = join(dir, "restores");
      await mkdir(backing);
      await mkdir(restores);
      const control = join(dir, "eio-files");
      await writeFile(control, "");
      await writeFile(join(backing, "good"), rand.bytes(100_000));
      await writeFile(join(backing, "bad"), rand.bytes(200_000));
      await mountShim(backing, mnt, control);
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      await writeFile(
        join(dir, "sidecar.yaml"),
        [
          "sources:",
          "  - name: data",
          `    path: ${mnt}`,
          "journal:",
          `  dir: ${join(dir, "journal")}`,
          "  blockSize: 4KiB",
          "api:",
          `  listen: 127.0.0.1:${port}`,
          "checkpoints:",
          "  interval: 0s",
          "capture:",
          "  debounce: 30ms",
          "  maxWait: 200ms",
          // inotify does not see changes made behind a FUSE mount: the rescan does.
          "  rescanInterval: 300ms",
          "restore:",
          `  allowedRoots: [${restores}]`,
          "log:",
          "  level: warn",
        ].join("\n"),
      );
      const sc: CliProcess = spawnCli(["sidecar", "-c", join(dir, "sidecar.yaml")], {
        cwd: dir,
        timeout: 120_000,
      });
      cleanups.push(async () => sc.child.kill("SIGKILL"));
      await waitFor(
        async () => {
          sc.assertRunning();
          return (await fetch(`${base}/readyz`)).status === 200;
        },
        { timeout: 30_000, what: "sidecar ready" },
      );
      const post = async () => {
        const r = await fetch(`${base}/v1/checkpoints`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "{}",
        });
        expect(r.status).toBe(201);
        return (await r.json()) as { id: number };
      };
      let restores_n = 0;
      const restoreAt = async (point: string[]): Promise<Map<string, TreeEntry>> => {
        const target = join(restores, `r${restores_n++}`);
        const r = await runCli(
          ["restore", ...point, "--target", target, "--journal", join(dir, "journal")],
          { timeout: 60_000 },
        );
        expect(r.code, r.stderr).toBe(0);
        const tree = await readTree(join(target, "data"));
        await rm(target, { recursive: true });
        return tree;
      };
      const restore = (id: number) => restoreAt(["--checkpoint", String(id)]);
      const status = async () =>
        (await (await fetch(`${base}/v1/status`)).json()) as {
          lastSeq: number;
          capture: { errors: number; lastError: { message: string } | null };
        };

      const cp1 = await post();
      const tree1 = await readTree(backing);
      expect(diffTrees(tree1, await restore(cp1.id), { mtimes: true })).toEqual([]);

      // The fault: every read of `bad` fails; both files change behind the mount.
      await writeFile(control, "bad\n");
      await writeFile(join(backing, "bad"), rand.bytes(200_000));
      await writeFile(join(backing, "good"), rand.bytes(120_000));
      const failed = await waitFor(
        async () => {
          const s = await status();
          return s.capture.errors > 0 && /EIO/.test(s.capture.lastError?.message ?? "") ? s : null;
        },
        { timeout: 20_000, what: "the EIO shown in /v1/status" },
      );
      expect(failed.capture.lastError?.message).toMatch(/bad/);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      const counted = /pvjournal_capture_errors_total (\d+)/.exec(metrics);
      expect(Number(counted?.[1] ?? 0)).toBeGreaterThan(0);
      expect(sc.stdout() + sc.stderr()).toMatch(/"level":40[^\n]*EIO/);

      // A checkpoint cannot claim `bad`: it is refused, naming the path (not "internal error").
      const refused = await fetch(`${base}/v1/checkpoints`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      expect(refused.status).toBe(500);
      const body = (await refused.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe("IO_ERROR");
      expect(body.error.message).toMatch(/data\/bad.*EIO/);
      // Other files go on: `good` is journaled anew; `bad` keeps what was journaled.
      const want2 = new Map(tree1);
      want2.set("good", (await readTree(backing)).get("good")!);
      await waitFor(
        async () => {
          const seq = (await status()).lastSeq;
          return (
            diffTrees(want2, await restoreAt(["--seq", String(seq)]), { mtimes: true }).length === 0
          );
        },
        { timeout: 20_000, interval: 300, what: "the journal with the new good and the old bad" },
      );
      // No crash loop: the same process serves on, errors counted, not fatal.
      await new Promise((r) => setTimeout(r, 1000));
      sc.assertRunning();
      expect((await status()).capture.errors).toBeGreaterThanOrEqual(failed.capture.errors);
      expect(diffTrees(tree1, await restore(cp1.id), { mtimes: true })).toEqual([]);

      // The fault clears: the retried path is captured, the next checkpoint has it.
      await writeFile(control, "");
      const tree3 = await readTree(backing);
      await waitFor(
        async () =>
          diffTrees(tree3, await restore((await post()).id), { mtimes: true }).length === 0,
        { timeout: 20_000, interval: 300, what: "bad captured again once it reads" },
      );
      sc.child.kill("SIGTERM");
      expect((await sc.exited).code).toBe(0);
    },
  );
});
