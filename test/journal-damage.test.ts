import { appendFile, open, readdir, rm, stat, truncate } from "node:fs/promises";
import { join } from "node:path";
import Database from "better-sqlite3";
import { beforeAll, describe, expect, it } from "vitest";
import { CorruptionError } from "../src/errors.js";
import { INDEX_FILE, Journal } from "../src/journal/journal.js";
import { verifyJournal } from "../src/journal/verify.js";
import { prepareRestore, runRestore } from "../src/restore/restore.js";
import { BlockHasher } from "../src/util/hash.js";
import { runCli, tmpDir } from "./helpers/index.js";
import { openTestJournal, VolumeModel } from "./support/model.js";
import { prng } from "./support/prng.js";
import { diffTrees, readTree, type TreeEntry } from "./support/tree.js";

let hasher: BlockHasher;
beforeAll(async () => {
  hasher = await BlockHasher.create();
});

/** A journal with several segments and checkpoints; returns the reference tree of each checkpoint. */
async function buildJournal(dir: string, seed = 7) {
  const { journal } = await openTestJournal(dir, { segmentSize: 32 * 1024 });
  const model = new VolumeModel(journal, hasher, prng(seed));
  await model.init();
  const trees = new Map<number, Map<string, TreeEntry>>();
  for (let i = 0; i < 300; i++) {
    await model.randomOp();
    if (i % 50 === 49)
      trees.set(
        (await journal.checkpoint({ label: null, consistency: "crash" })).id,
        model.snapshot(),
      );
  }
  await journal.close();
  return trees;
}

async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith(".pvj")).sort();
}

async function restoreAll(
  journal: Journal,
  trees: Map<number, Map<string, TreeEntry>>,
  scratch: string,
) {
  for (const [cp, tree] of trees) {
    const target = join(scratch, `cp${cp}-${Math.random().toString(36).slice(2)}`);
    const prepared = await prepareRestore(
      journal,
      { point: { checkpoint: cp }, target, paths: null },
      { allowedRoots: null, forbidden: [] },
      Date.now(),
    );
    await runRestore(journal, hasher, prepared);
    expect(diffTrees(tree, await readTree(target), { mtimes: true })).toEqual([]);
  }
}

describe("journal damage", () => {
  it("reports a flipped byte in the middle of a segment; restores never return its bytes silently", async () => {
    const dir = await tmpDir();
    const trees = await buildJournal(dir);
    const segs = await segmentFiles(dir);
    expect(segs.length).toBeGreaterThan(3);
    const victim = join(dir, segs[1]!);
    const fh = await open(victim, "r+");
    const pos = Math.floor((await fh.stat()).size / 2);
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, pos);
    b[0] = b[0]! ^ 0xff;
    await fh.write(b, 0, 1, pos);
    await fh.close();

    const journal = await Journal.open({ dir });
    const report = await verifyJournal(journal, hasher);
    expect(report.ok).toBe(false);
    expect(report.problems.some((p) => p.kind === "damage" && p.segment === segs[1])).toBe(true);
    // Every restore either succeeds byte-exact or fails loudly.
    const scratch = await tmpDir();
    for (const [cp, tree] of trees) {
      const target = join(scratch, `cp${cp}`);
      try {
        const prepared = await prepareRestore(
          journal,
          { point: { checkpoint: cp }, target, paths: null },
          { allowedRoots: null, forbidden: [] },
          Date.now(),
        );
        await runRestore(journal, hasher, prepared);
        expect(diffTrees(tree, await readTree(target), { mtimes: true })).toEqual([]);
      } catch (err) {
        expect(err).toBeInstanceOf(CorruptionError);
        await expect(stat(target)).rejects.toThrow(/ENOENT/);
      }
    }
    await journal.close();
    const cli = await runCli(["verify", "--journal", dir]);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain(segs[1]!);
  });

  it("refuses to open a journal whose older segment was truncated, naming it", async () => {
    const dir = await tmpDir();
    await buildJournal(dir);
    const segs = await segmentFiles(dir);
    await truncate(join(dir, segs[0]!), 1000);
    await expect(Journal.open({ dir })).rejects.toThrow(new RegExp(segs[0]!));
  });

  it("truncates a torn tail and keeps everything acknowledged", async () => {
    const dir = await tmpDir();
    const trees = await buildJournal(dir);
    const segs = await segmentFiles(dir);
    const last = join(dir, segs[segs.length - 1]!);
    const before = (await stat(last)).size;
    await appendFile(last, Buffer.from([0x40, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7]));
    const journal = await Journal.open({ dir });
    expect((await stat(last)).size).toBe(before);
    expect((await verifyJournal(journal, hasher)).problems).toEqual([]);
    await restoreAll(journal, trees, await tmpDir());
    await journal.close();
  });

  it("rebuilds a deleted index from the segments", async () => {
    const dir = await tmpDir();
    const trees = await buildJournal(dir);
    for (const f of [INDEX_FILE, `${INDEX_FILE}-wal`, `${INDEX_FILE}-shm`])
      await rm(join(dir, f), { force: true });
    const journal = await Journal.open({ dir });
    expect((await verifyJournal(journal, hasher)).problems).toEqual([]);
    await restoreAll(journal, trees, await tmpDir());
    await journal.close();
  });

  it("verify --repair rebuilds an index that disagrees with the segments", async () => {
    const dir = await tmpDir();
    await buildJournal(dir);
    // The damage is done behind the journal's back, straight on the SQLite file.
    const db = new Database(join(dir, INDEX_FILE));
    db.prepare("DELETE FROM blocks WHERE seq % 3 = 0").run();
    db.close();
    const bad = await runCli(["verify", "--journal", dir]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/missing from the index/);
    expect(bad.stderr).toMatch(/--repair/);
    const fixed = await runCli(["verify", "--journal", dir, "--repair"]);
    expect(fixed.stdout).toMatch(/^OK/);
    expect(fixed.code).toBe(0);
  });
});

describe("offline CLI", () => {
  it("lists checkpoints and restores one byte for byte; bad points exit 1 with a clear message", async () => {
    const dir = await tmpDir();
    const trees = await buildJournal(dir, 11);
    const list = await runCli(["checkpoints", "--journal", dir, "--json"]);
    expect(list.code).toBe(0);
    const { checkpoints } = JSON.parse(list.stdout) as {
      checkpoints: { id: number; seq: number; ts: string }[];
    };
    expect(checkpoints.map((c) => c.id)).toEqual([...trees.keys()]);
    const table = await runCli(["checkpoints", "--journal", dir]);
    expect(table.stdout).toMatch(/^ID\s+SEQ\s+TIME/);

    const scratch = await tmpDir();
    const [cp, tree] = [...trees][1]!;
    const target = join(scratch, "restored");
    const r = await runCli([
      "restore",
      "--checkpoint",
      String(cp),
      "--target",
      target,
      "--journal",
      dir,
    ]);
    expect(r.stderr).toMatch(/restored seq/);
    expect(r.code).toBe(0);
    expect(diffTrees(tree, await readTree(target), { mtimes: true })).toEqual([]);

    const again = await runCli([
      "restore",
      "--checkpoint",
      String(cp),
      "--target",
      target,
      "--journal",
      dir,
    ]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/not empty/);
    const missing = await runCli([
      "restore",
      "--checkpoint",
      "999",
      "--target",
      join(scratch, "x"),
      "--journal",
      dir,
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/checkpoint 999 not found/);
    const future = await runCli([
      "restore",
      "--at",
      "2999-01-01T00:00:00Z",
      "--target",
      join(scratch, "y"),
      "--journal",
      dir,
    ]);
    expect(future.code).toBe(1);
    expect(future.stderr).toMatch(/in the future/);
    const both = await runCli([
      "restore",
      "--seq",
      "3",
      "--checkpoint",
      "1",
      "--target",
      join(scratch, "z"),
      "--journal",
      dir,
    ]);
    expect(both.code).toBe(2);
  });
});
