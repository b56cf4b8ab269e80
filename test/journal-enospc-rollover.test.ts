/**
 * A segment rollover on a full filesystem (a real 1 MiB tmpfs; needs root)
 * fails cleanly: no handle leaks, no header-only file is left behind to make
 * every retry fail with EEXIST, and once space is back appends go on.
 * Regression: found by native-free-benchmarks/soak-cdp.mjs (seed 1), where a
 * sidecar stayed stuck on `EEXIST seg-….pvj` after its journal disk was freed.
 */
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { mkdir, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Journal } from "../src/journal/journal.js";
import { verifyJournal } from "../src/journal/verify.js";
import { BlockHasher } from "../src/util/hash.js";
import { tmpDir } from "./helpers/index.js";
import { prng } from "./support/prng.js";

const isRoot = process.getuid?.() === 0;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const openFds = () => readdirSync("/proc/self/fd").length;

describe("segment rollover on a full filesystem", () => {
  it.skipIf(!isRoot)(
    "fails without leaking or leaving a file; appends resume once space is back",
    async () => {
      const fs = join(await tmpDir("pvj-enospc-roll-"), "fs");
      await mkdir(fs);
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", fs]);
      cleanups.push(() => {
        execFileSync("umount", ["-l", fs]);
      });
      const dir = join(fs, "journal");
      const journal = await Journal.open({ dir, blockSize: 4096, segmentSize: 16 * 1024 });
      let closed = false;
      cleanups.push(async () => {
        if (!closed) await journal.close();
      });
      const hasher = await BlockHasher.create();
      const rand = prng(4242);
      const stored: Buffer[] = [];
      const batch = () => {
        const blocks = [0, 1, 2].map(() => rand.bytes(4096));
        return {
          blocks,
          bodies: blocks.map((b) => ({ type: "blob" as const, hash: hasher.hash(b), data: b })),
        };
      };
      for (let i = 0; i < 4; i++) {
        const b = batch();
        await journal.append(b.bodies);
        stored.push(...b.blocks);
      }
      // Fill every byte that is left (a filler file grows until ENOSPC).
      const filler = join(fs, "filler");
      await writeFile(filler, Buffer.alloc(2 * 1024 * 1024)).catch(() => undefined);
      const fdsFull = openFds();
      let refused = 0;
      for (let i = 0; i < 8; i++) {
        const b = batch();
        try {
          await journal.append(b.bodies);
          stored.push(...b.blocks);
        } catch (err) {
          expect(String(err)).toMatch(/ENOSPC/);
          refused++;
        }
      }
      expect(refused).toBeGreaterThan(0);
      expect(openFds()).toBeLessThanOrEqual(fdsFull);
      const files = () =>
        readdirSync(dir)
          .filter((n) => n.endsWith(".pvj"))
          .sort();
      expect(files()).toEqual(
        journal
          .segments()
          .map((s) => s.name)
          .sort(),
      );

      await unlink(filler);
      for (let i = 0; i < 4; i++) {
        const b = batch();
        await journal.append(b.bodies);
        stored.push(...b.blocks);
      }
      for (const b of stored) expect((await journal.readBlob(hasher.hash(b))).equals(b)).toBe(true);
      closed = true;
      await journal.close();
      const reopened = await Journal.open({ dir, blockSize: 4096, segmentSize: 16 * 1024 });
      try {
        const report = await verifyJournal(reopened, hasher);
        expect(report.problems).toEqual([]);
        expect(report.ok).toBe(true);
      } finally {
        await reopened.close();
      }
    },
  );
});
