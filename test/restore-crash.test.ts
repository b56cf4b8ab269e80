/**
 * A restore killed with SIGKILL at a random moment (a real CLI child) never
 * leaves a target that looks complete: the target either does not exist, or
 * is the whole tree (the rename into place is the last step, after the
 * durability step). What a killed restore leaves is only a hidden sibling
 * (`.<name>.pvj-partial-*`). Kill times are seeded (TEST_SEED replays).
 */
import { existsSync } from "node:fs";
import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Journal } from "../src/journal/journal.js";
import type { RecordBody } from "../src/journal/records.js";
import { BlockHasher } from "../src/util/hash.js";
import { runCli, spawnCli, tmpDir, waitFor } from "./helpers/index.js";
import { freshSeed, prng } from "./support/prng.js";
import { diffTrees, readTree, type TreeEntry } from "./support/tree.js";

const BS = 4096;
const SMALL = 2000;
const BIG = 3;
const BIG_SIZE = 8 * 1024 * 1024;
const MTIME = 1_700_000_000_000;

/** A journal with 2000 small files and 24 MiB in 3 big ones, and the tree it holds. */
async function buildJournal(dir: string, seed: number) {
  const rand = prng(seed);
  const journal = await Journal.open({ dir, blockSize: BS });
  const hasher = await BlockHasher.create();
  const want = new Map<string, TreeEntry>();
  let fileId = 0;
  const entry = (path: string, kind: "dir" | "file", content?: Buffer): RecordBody[] => {
    const id = ++fileId;
    const mode = kind === "dir" ? 0o755 : 0o644;
    want.set(path.slice("data/".length), {
      kind,
      mode,
      mtimeMs: MTIME,
      ...(content ? { content } : {}),
    });
    const recs: RecordBody[] = [{ type: "link", fileId: id, path, kind }];
    if (content) {
      recs.push({ type: "size", fileId: id, size: content.length });
      for (let off = 0; off < content.length; off += BS) {
        const data = content.subarray(off, Math.min(off + BS, content.length));
        const hash = hasher.hash(data);
        recs.push(
          { type: "blob", hash, data },
          { type: "write", fileId: id, block: off / BS, len: data.length, hash },
        );
      }
    }
    recs.push({ type: "attr", fileId: id, mode, mtimeMs: MTIME });
    return recs;
  };
  await journal.append([{ type: "link", fileId: ++fileId, path: "data", kind: "dir" }]);
  await journal.append([{ type: "attr", fileId, mode: 0o755, mtimeMs: MTIME }]);
  await journal.append(entry("data/small", "dir"));
  const base = rand.bytes(64 * 1024);
  for (let i = 0; i < BIG; i++) {
    const content = Buffer.alloc(BIG_SIZE);
    for (let off = 0; off < BIG_SIZE; off += base.length) base.copy(content, off);
    // Distinct blocks (no dedup shortcut): the block number in every block.
    for (let off = 0; off < BIG_SIZE; off += BS) content.writeUInt32LE(i * 1e6 + off / BS, off);
    await journal.append(entry(`data/big${i}`, "file", content));
  }
  for (let start = 0; start < SMALL; start += 500) {
    const recs: RecordBody[] = [];
    for (let i = start; i < start + 500; i++)
      recs.push(
        ...entry(`data/small/f${i}`, "file", Buffer.from(`${i} `.repeat(rand.int(1, 900)))),
      );
    await journal.append(recs);
  }
  const cp = await journal.checkpoint({ label: "all", consistency: "crash" });
  await journal.close();
  return { want, checkpoint: cp.id };
}

describe("a restore killed mid-way (SIGKILL of the CLI)", () => {
  it("never leaves a complete-looking target; a later restore completes", async () => {
    const seed = freshSeed();
    console.log(`restore-crash seed=${seed}`);
    const rand = prng(seed);
    const dir = await tmpDir("pvj-restore-crash-");
    const jdir = join(dir, "journal");
    const t0 = Date.now();
    const { want, checkpoint } = await buildJournal(jdir, seed);
    console.log(`built in ${Date.now() - t0} ms`);
    const out = join(dir, "out");
    await mkdir(out);
    const args = (target: string) => [
      "restore",
      "--checkpoint",
      String(checkpoint),
      "--target",
      target,
      "--journal",
      jdir,
    ];
    let interrupted = 0;
    for (let k = 0; k < 4; k++) {
      const name = `t${k}`;
      const target = join(out, name);
      const cli = spawnCli(args(target));
      // Kill once the work directory exists, at a seeded moment into the copy.
      await waitFor(async () => {
        if (cli.child.exitCode !== null) return true;
        return (await readdir(out)).some((n) => n.startsWith(`.${name}.pvj-partial-`));
      });
      await new Promise((r) => setTimeout(r, rand.int(0, 100)));
      cli.child.kill("SIGKILL");
      await cli.exited;
      const names = (await readdir(out)).filter((n) => n === name || n.includes(`.${name}.`));
      for (const n of names) expect(n === name || n.startsWith(`.${name}.pvj-partial-`)).toBe(true);
      if (existsSync(target)) {
        // The rename happened: then the tree is whole.
        expect(diffTrees(want, await readTree(join(target, "data")), { mtimes: true })).toEqual([]);
      } else {
        interrupted += 1;
      }
    }
    // The seeded kills land inside the copy (writing takes far longer than 100 ms).
    expect(interrupted).toBeGreaterThan(0);
    const t1 = Date.now();
    const done = await runCli(args(join(out, "final")));
    console.log(`restored in ${Date.now() - t1} ms`);
    expect(done.code, done.stderr).toBe(0);
    expect(diffTrees(want, await readTree(join(out, "final", "data")), { mtimes: true })).toEqual(
      [],
    );
  }, 120_000);
});
