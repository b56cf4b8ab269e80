/**
 * The mirror never sticks: an update that fails on a real full filesystem (a
 * 1 MiB tmpfs, mounted for the test; needs root) leaves the mirror marked
 * dirty, and the next update rebuilds it, once there is space again.
 */
import { execFileSync } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../src/log/logger.js";
import { Mirror } from "../src/replica/mirror.js";
import { tmpDir } from "./helpers/index.js";
import { openTestJournal, VolumeModel } from "./support/model.js";
import { prng } from "./support/prng.js";
import { diffTrees, readTree } from "./support/tree.js";

const isRoot = process.getuid?.() === 0;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function smallFs(size: string): Promise<{ dir: string; resize: (s: string) => void }> {
  const dir = join(await tmpDir("pvj-mirror-fs-"), "fs");
  await mkdir(dir);
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir]);
  cleanups.push(() => {
    execFileSync("umount", ["-l", dir]);
  });
  return {
    dir,
    resize: (s) => execFileSync("mount", ["-o", `remount,size=${s}`, dir]),
  };
}

describe("mirror updates on a full filesystem", () => {
  it.skipIf(!isRoot)(
    "a failed update marks the mirror dirty; the next one rebuilds it and later ones apply",
    async () => {
      const { journal, hasher } = await openTestJournal(await tmpDir("pvj-mirror-j-"));
      cleanups.push(() => journal.close());
      const rand = prng(1313);
      const model = new VolumeModel(journal, hasher, rand);
      await model.init();
      await model.createFile("data/a", rand.bytes(10_000));
      await model.createFile("data/b", rand.bytes(20_000));
      await model.mkdir("data/d");
      const cp1 = await journal.checkpoint({ label: "one", consistency: "crash" });

      const fs = await smallFs("1m");
      const mirror = new Mirror(journal, join(fs.dir, "mirror"), hasher, silentLogger());
      await mirror.init();
      await mirror.advanceTo(cp1.seq);
      expect(diffTrees(model.snapshot(), await readTree(mirror.dir), { mtimes: true })).toEqual([]);

      // 2 MiB into a 1 MiB filesystem: ENOSPC in the middle of the update.
      await model.write("data/a", 0, rand.bytes(5000));
      await model.createFile("data/big", rand.bytes(2 * 1024 * 1024));
      await model.rename("data/b", "data/d/b");
      const cp2 = await journal.checkpoint({ label: "two", consistency: "crash" });
      const want2 = model.snapshot();
      await expect(mirror.advanceTo(cp2.seq)).rejects.toMatchObject({ code: "ENOSPC" });
      expect(mirror.dirty).toBe(true);
      expect(mirror.seq).toBe(cp1.seq);

      // Still full: the retry fails too and stays dirty (it never claims cp2).
      await expect(mirror.advanceTo(cp2.seq)).rejects.toMatchObject({ code: "ENOSPC" });
      expect(mirror.dirty).toBe(true);

      fs.resize("16m");
      await mirror.advanceTo(cp2.seq);
      expect(mirror.dirty).toBe(false);
      expect(mirror.seq).toBe(cp2.seq);
      expect(diffTrees(want2, await readTree(mirror.dir), { mtimes: true })).toEqual([]);

      // Incremental updates work again afterwards.
      await model.write("data/d/b", 100, rand.bytes(300));
      await model.remove("data/big");
      const cp3 = await journal.checkpoint({ label: "three", consistency: "crash" });
      await mirror.advanceTo(cp3.seq);
      expect(mirror.seq).toBe(cp3.seq);
      expect(diffTrees(model.snapshot(), await readTree(mirror.dir), { mtimes: true })).toEqual([]);
      expect(journal.pinCount).toBe(0);
    },
  );
});
