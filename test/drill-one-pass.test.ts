/**
 * The one pass of a drill from the mirror (from-mirror.ts): each file is
 * copied (or cloned) from the mirror and only the runs of blocks that differ
 * between the point and the mirror are written from the journal. Files
 * chosen so that a wrong run shows: changes at a file's first and last
 * blocks, a file with every block changed, files that grew and shrank, a
 * hole written over, a partial last block, an empty file, files absent from
 * the mirror; in both directions (point before and after the mirror). The
 * trees must be exact, and the bytes taken from the journal exactly the
 * changed runs.
 */
import { copyFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { materialise, mirrorView } from "../src/drill/materialise.js";
import { Journal } from "../src/journal/journal.js";
import type { RecordBody } from "../src/journal/records.js";
import { silentLogger } from "../src/log/logger.js";
import { Mirror } from "../src/replica/mirror.js";
import { BlockHasher } from "../src/util/hash.js";
import { tmpDir } from "./helpers/index.js";
import { freshSeed, prng } from "./support/prng.js";
import { diffTrees, readTree, type TreeEntry } from "./support/tree.js";

const BS = 4096;
const MTIME = 1_700_000_000_000;
/** A byte copy standing in for a reflink, so the clone path's logic runs on any filesystem. */
const plainCopy = (a: string, b: string) => copyFile(a, b);
/** A filesystem without reflinks, as ext4 answers FICLONE. */
const noReflinks = async () => {
  throw Object.assign(new Error("operation not supported"), { code: "ENOTSUP" });
};

/** Files as the journal should hold them, and the records that say so. */
class Volume {
  private nextId = 1;
  private readonly files = new Map<string, { id: number; content: Buffer }>();
  recs: RecordBody[] = [];

  constructor(
    private readonly hasher: BlockHasher,
    private readonly rand: ReturnType<typeof prng>,
  ) {
    this.recs.push(
      { type: "link", fileId: this.nextId, path: "data", kind: "dir" },
      { type: "attr", fileId: this.nextId++, mode: 0o755, mtimeMs: MTIME },
    );
  }

  create(path: string, size: number): void {
    const id = this.nextId++;
    this.files.set(path, { id, content: Buffer.alloc(0) });
    this.recs.push(
      { type: "link", fileId: id, path: `data/${path}`, kind: "file" },
      { type: "attr", fileId: id, mode: 0o644, mtimeMs: MTIME },
    );
    this.size(path, size);
  }

  /** Grow (zeros, a hole) or shrink. */
  size(path: string, size: number): void {
    const f = this.files.get(path)!;
    const c = Buffer.alloc(size);
    f.content.copy(c, 0, 0, Math.min(size, f.content.length));
    f.content = c;
    this.recs.push({ type: "size", fileId: f.id, size });
  }

  /** New random bytes in each block (within the file's size). */
  write(path: string, ...blocks: number[]): void {
    const f = this.files.get(path)!;
    for (const b of blocks) {
      const len = Math.min(BS, f.content.length - b * BS);
      const data = this.rand.bytes(len);
      data.copy(f.content, b * BS);
      const hash = this.hasher.hash(data);
      this.recs.push(
        { type: "blob", hash, data },
        { type: "write", fileId: f.id, block: b, len, hash },
      );
    }
  }

  unlink(path: string): void {
    this.files.delete(path);
    this.recs.push({ type: "unlink", path: `data/${path}` });
  }

  async commit(journal: Journal) {
    await journal.append(this.recs);
    this.recs = [];
    const cp = await journal.checkpoint({ label: null, consistency: "crash" });
    const tree = new Map<string, TreeEntry>([
      ["data", { kind: "dir", mode: 0o755, mtimeMs: MTIME }],
    ]);
    for (const [p, f] of this.files)
      tree.set(`data/${p}`, {
        kind: "file",
        mode: 0o644,
        mtimeMs: MTIME,
        content: Buffer.from(f.content),
      });
    return { point: { seq: cp.seq, ts: cp.ts, checkpoint: cp.id }, tree };
  }
}

describe("a drill from the mirror in one pass", () => {
  it("writes exactly the changed runs over each copy, and copies nothing wholly changed", async () => {
    const seed = freshSeed();
    console.log(`drill-one-pass seed=${seed}`);
    const dir = await tmpDir();
    const journal = await Journal.open({ dir: join(dir, "journal"), blockSize: BS });
    const hasher = await BlockHasher.create();
    const v = new Volume(hasher, prng(seed));
    const files: [string, number][] = [
      ["start-end", 10 * BS],
      ["all", 4 * BS],
      ["grow", 3 * BS],
      ["shrink", 6 * BS],
      ["holes", 8 * BS],
      ["gone", 3 * BS],
      ["same", 5 * BS],
      ["tail", 3 * BS + BS / 2],
      ["empty", 0],
    ];
    for (const [p, size] of files) {
      v.create(p, size);
      // "holes" keeps blocks 1-6 as holes.
      const blocks = p === "holes" ? [0, 7] : [...Array(Math.ceil(size / BS)).keys()];
      v.write(p, ...blocks);
    }
    const p0 = await v.commit(journal);
    v.write("start-end", 0, 1, 9);
    v.write("all", 2, 0, 3, 1);
    v.size("grow", 6 * BS);
    v.write("grow", 3, 4); // block 5 stays a hole
    v.size("shrink", 2 * BS + 100);
    v.write("holes", 3);
    v.write("tail", 3);
    v.unlink("gone");
    v.create("new", 2 * BS);
    v.write("new", 0, 1);
    const p1 = await v.commit(journal);

    const mirror = new Mirror(journal, join(dir, "mirror"), hasher, silentLogger());
    await mirror.init();
    // Per direction, the bytes the copy path takes from the journal, file by file.
    const cases = [
      {
        name: "point before the mirror",
        mirrorAt: p1,
        at: p0,
        // start-end 0,1,9; all written whole (4); grow: its blocks 3-4 are past
        // the point's size (0); shrink: the cut tail 2-5 (4); holes: zeros over 3
        // (1); tail: the half block 3; gone: absent from the mirror, whole (3).
        copyBytes: (3 + 4 + 0 + 4 + 1 + 3) * BS + BS / 2,
        // Every file but "all" (all blocks changed) and "gone" (not in the mirror).
        copied: 7,
        // The clone path clones every file the mirror holds.
        cloned: 8,
      },
      {
        name: "point after the mirror",
        mirrorAt: p0,
        at: p1,
        // start-end 3; all whole 4; grow 3-4 (2); shrink: its last, 100-byte
        // block; holes 1; tail the half block; new: absent, whole (2).
        copyBytes: (3 + 4 + 2 + 1 + 2) * BS + 100 + BS / 2,
        copied: 7,
        cloned: 8,
      },
    ];
    try {
      let n = 0;
      for (const c of cases) {
        await mirror.moveTo(c.mirrorAt.point.seq);
        const before = await readTree(mirror.dir);
        // A clone that fails for one file (not for lack of reflinks): that file
        // comes from the journal. A first clone failing so, then the
        // filesystem refusing reflinks: the copy path, in the same directory.
        const failing = (path: string) => (a: string, b: string) =>
          b.endsWith(path)
            ? Promise.reject(Object.assign(new Error("i/o error"), { code: "EIO" }))
            : copyFile(a, b);
        let calls = 0;
        const eioThenNoReflinks = () =>
          Promise.reject(
            calls++ === 0
              ? Object.assign(new Error("i/o error"), { code: "EIO" })
              : Object.assign(new Error("operation not supported"), { code: "ENOTSUP" }),
          );
        const variants = [
          { name: "copy", cloneFile: noReflinks, method: "copy", cloned: c.copied },
          { name: "clone", cloneFile: plainCopy, method: "clone", cloned: c.cloned },
          {
            name: "clone, start-end failing",
            cloneFile: failing("data/start-end"),
            method: "clone",
            cloned: c.cloned - 1,
          },
          // The first file tried ("all") is one the copy path writes whole anyway.
          {
            name: "copy after EIO",
            cloneFile: eioThenNoReflinks,
            method: "copy",
            cloned: c.copied,
          },
        ] as const;
        for (const x of variants) {
          const target = join(dir, `s${n++}`);
          const r = await materialise({
            journal,
            hasher,
            point: c.at.point,
            target,
            mirror: mirrorView(mirror),
            cloneFile: x.cloneFile,
          });
          const what = `${c.name}, ${x.name}, seed=${seed}`;
          expect(r.method, what).toBe(x.method);
          expect(diffTrees(c.at.tree, await readTree(target), { mtimes: true }), what).toEqual([]);
          expect(r.filesCloned, what).toBe(x.cloned);
          if (x.method === "copy") {
            expect(r.bytesWritten, what).toBe(c.copyBytes);
            expect(r.fallback, what).toMatch(/^ENOTSUP.*cannot clone/);
          } else expect(r.fallback, what).toBeUndefined();
          await rm(target, { recursive: true });
        }
        // The mirror is read, never written.
        expect(
          diffTrees(before, await readTree(mirror.dir), { mtimes: true, dirMtimes: true }),
        ).toEqual([]);
      }
    } finally {
      await journal.close();
    }
  });
});
