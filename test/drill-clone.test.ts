/**
 * The fast drill path: clone the mirror, rewrite what differs between the
 * point and the mirror. Its logic is checked everywhere with a plain copy
 * standing in for the reflink; the real reflink path, and that its time
 * follows the changes rather than the volume size, on a loop-mounted XFS
 * image (root and xfsprogs needed; skipped with a message otherwise).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type MaterialiseResult, materialise, mirrorView } from "../src/drill/materialise.js";
import { Journal } from "../src/journal/journal.js";
import type { RecordBody } from "../src/journal/records.js";
import { silentLogger } from "../src/log/logger.js";
import { Mirror } from "../src/replica/mirror.js";
import { BlockHasher } from "../src/util/hash.js";
import { tmpDir, waitFor } from "./helpers/index.js";
import { reflinkSupported, runDrill, serveStream, startReplica } from "./support/drill-rig.js";
import { VolumeModel } from "./support/model.js";
import { freshSeed, prng } from "./support/prng.js";
import { diffTrees, readTree, type TreeEntry } from "./support/tree.js";

/** A byte copy standing in for a reflink: same result, so the patch logic is tested on any filesystem. */
const plainCopy = (a: string, b: string) => copyFile(a, b);
/** A filesystem without reflinks, as ext4 answers FICLONE. */
const noReflinks = async () => {
  throw Object.assign(new Error("operation not supported"), { code: "ENOTSUP" });
};

describe("clone path logic (plain copy standing in for reflinks)", () => {
  it("materialises points older and newer than the mirror exactly, rewriting only what changed", async () => {
    const seed = freshSeed();
    console.log(`drill-clone seed=${seed}`);
    const dir = await tmpDir();
    const journal = await Journal.open({ dir: join(dir, "journal"), blockSize: 4096 });
    const hasher = await BlockHasher.create();
    const model = new VolumeModel(journal, hasher, prng(seed));
    await model.init();
    const cps: { seq: number; ts: number; id: number; tree: Map<string, TreeEntry> }[] = [];
    for (let i = 0; i < 500; i++) {
      await model.randomOp();
      if (i % 50 === 49) {
        const cp = await journal.checkpoint({ label: null, consistency: "crash" });
        cps.push({ seq: cp.seq, ts: cp.ts, id: cp.id, tree: model.snapshot() });
      }
    }
    const mirror = new Mirror(journal, join(dir, "mirror"), hasher, silentLogger());
    await mirror.init();
    // Block lookups while planning: a drill from the mirror plans only the
    // blocks it writes (what differs from the mirror, files it cannot clone).
    let lookups = 0;
    const locatedBlockAt = journal.index.locatedBlockAt.bind(journal.index);
    journal.index.locatedBlockAt = (...args) => {
      lookups += 1;
      return locatedBlockAt(...args);
    };
    try {
      let n = 0;
      for (const m of [cps[6]!, cps[9]!, cps[2]!]) {
        let copies = 0;
        await mirror.moveTo(m.seq);
        expect(diffTrees(m.tree, await readTree(mirror.dir), { mtimes: true })).toEqual([]);
        const before = await readTree(mirror.dir);
        for (const p of cps) {
          const target = join(dir, "sandboxes", `s${n++}`);
          const drill = (cloneFile: (a: string, b: string) => Promise<void>) =>
            materialise({
              journal,
              hasher,
              point: { seq: p.seq, ts: p.ts, checkpoint: p.id },
              target,
              mirror: mirrorView(mirror),
              cloneFile,
            });
          lookups = 0;
          const r = await drill(plainCopy);
          const clonePathLookups = lookups;
          expect(r.method).toBe("clone");
          expect(r.mirrorSeq).toBe(m.seq);
          expect(
            diffTrees(p.tree, await readTree(target), { mtimes: true, dirMtimes: true }),
            `seed=${seed} mirror=cp${m.id} point=cp${p.id}`,
          ).toEqual([]);
          if (p.seq === m.seq) {
            expect(r.bytesWritten).toBe(0);
            // Every file was cloned and nothing differs: not one block planned.
            if (r.filesCloned === r.files) expect(clonePathLookups).toBe(0);
          }
          await rm(target, { recursive: true });
          // A full plan looks up every block of every file: the clone path never more.
          lookups = 0;
          const full = await materialise({
            journal,
            hasher,
            point: { seq: p.seq, ts: p.ts, checkpoint: p.id },
            target,
            mirror: null,
          });
          expect(full.method).toBe("full");
          expect(clonePathLookups).toBeLessThanOrEqual(lookups);
          await rm(target, { recursive: true });
          // A filesystem that refuses reflinks: the copy path, same tree, and
          // files rewritten whole are not copied first.
          const copied = await drill(noReflinks);
          if (r.filesCloned === 0) {
            // Nothing in common with the mirror: no clone was tried, so none failed.
            expect(copied).toMatchObject({ method: "clone", filesCloned: 0 });
          } else {
            expect(copied).toMatchObject({ method: "copy", mirrorSeq: m.seq });
            expect(copied.fallback).toMatch(/^ENOTSUP.*cannot clone/);
            copies += 1;
          }
          expect(copied.bytesWritten).toBeLessThanOrEqual(r.bytesWritten);
          expect(copied.filesCloned).toBeLessThanOrEqual(r.filesCloned);
          expect(
            diffTrees(p.tree, await readTree(target), { mtimes: true, dirMtimes: true }),
            `copy: seed=${seed} mirror=cp${m.id} point=cp${p.id}`,
          ).toEqual([]);
          await rm(target, { recursive: true });
        }
        expect(copies, "points that took the copy path").toBeGreaterThan(0);
        // The mirror is read, never written.
        expect(
          diffTrees(before, await readTree(mirror.dir), { mtimes: true, dirMtimes: true }),
        ).toEqual([]);
      }
    } finally {
      await journal.close();
    }
  });

  it("waits for a mirror update in progress and never clones a half-updated mirror", async () => {
    const dir = await tmpDir();
    const journal = await Journal.open({ dir: join(dir, "journal"), blockSize: 4096 });
    const hasher = await BlockHasher.create();
    const model = new VolumeModel(journal, hasher, prng(11));
    await model.init();
    const cps: { seq: number; ts: number; id: number; tree: Map<string, TreeEntry> }[] = [];
    for (let i = 0; i < 200; i++) {
      await model.randomOp();
      if (i % 40 === 39) {
        const cp = await journal.checkpoint({ label: null, consistency: "crash" });
        cps.push({ ...cp, tree: model.snapshot() });
      }
    }
    const mirror = new Mirror(journal, join(dir, "mirror"), hasher, silentLogger());
    await mirror.init();
    try {
      await mirror.advanceTo(cps[0]!.seq);
      // Updates and drills interleave; each drill sees some whole mirror position.
      const updates = Promise.all(cps.slice(1).map((c) => mirror.advanceTo(c.seq)));
      const results: MaterialiseResult[] = [];
      for (let i = 0; i < 4; i++) {
        const p = cps[1]!;
        const target = join(dir, `s${i}`);
        results.push(
          await materialise({
            journal,
            hasher,
            point: { seq: p.seq, ts: p.ts, checkpoint: p.id },
            target,
            mirror: mirrorView(mirror),
            cloneFile: plainCopy,
          }),
        );
        expect(diffTrees(p.tree, await readTree(target), { mtimes: true })).toEqual([]);
      }
      await updates;
      expect(results.every((r) => r.method === "clone")).toBe(true);
    } finally {
      await journal.close();
    }
  });

  it("copies the mirror where the filesystem cannot clone it, patches nothing it need not, and says why", async () => {
    const src = await (async () => {
      const journal = await Journal.open({ dir: await tmpDir(), blockSize: 4096 });
      const model = new VolumeModel(journal, await BlockHasher.create(), prng(5));
      await model.init();
      for (let i = 0; i < 60; i++) await model.randomOp();
      const cp = await journal.checkpoint({ label: null, consistency: "crash" });
      return { journal, model, cp, tree: model.snapshot() };
    })();
    const bases = [tmpdir()];
    // tmpfs has no reflinks either.
    const shm = spawnSync("findmnt", ["-n", "-o", "FSTYPE", "/dev/shm"], { encoding: "utf8" });
    if (shm.stdout?.trim() === "tmpfs") bases.push("/dev/shm");
    const { address } = await serveStream(src.journal);
    for (const base of bases) {
      const dir = await mkdtemp(join(base, "pvj-fallback-"));
      try {
        const rep = await startReplica(address, { dir });
        await waitFor(() => rep.mirror.seq === src.cp.seq, { timeout: 20_000, what: "mirror" });
        const r = await runDrill(rep.app, { keep: true });
        if (await reflinkSupported(dir)) {
          console.log(`${base} supports reflinks: the fallback is not exercised there`);
          expect(r.method).toBe("clone");
        } else {
          expect(r).toMatchObject({ method: "copy", passed: true });
          expect(r.materialise!.fallback).toMatch(
            /^(ENOTSUP|EOPNOTSUPP|EXDEV|EINVAL).*cannot clone/,
          );
          // The mirror is at the drilled point: every file comes from it, nothing from the journal.
          const files = [...src.tree.values()].filter((e) => e.kind === "file").length;
          expect(r.materialise).toMatchObject({ files, filesCloned: files, bytesWritten: 0 });
        }
        expect(diffTrees(src.tree, await readTree(r.sandbox!), { mtimes: true })).toEqual([]);
        await rep.stop();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    await src.journal.close();
  });
});

// --- the real reflink path on XFS ----------------------------------------------

/** Why the XFS tests cannot run here, or null when they can. */
function xfsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return "not root (mounting a loop image needs root)";
  const which = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
  if (!which("mkfs.xfs")) return "mkfs.xfs is missing: install xfsprogs (apt-get install xfsprogs)";
  if (!which("mount")) return "mount is missing";
  return null;
}

const skipXfs = xfsUnavailable();
if (skipXfs) console.warn(`SKIPPED the reflink (XFS) drill tests: ${skipXfs}`);

describe.skipIf(skipXfs !== null)("clone path on a loop-mounted XFS image with reflink=1", () => {
  let root = "";
  let mnt = "";
  let mounted = false;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "pvj-xfs-"));
    mnt = join(root, "mnt");
    await mkdir(mnt);
    const img = join(root, "xfs.img");
    // Sparse: only what the tests write takes disk space.
    execFileSync("truncate", ["-s", "1G", img]);
    execFileSync("mkfs.xfs", ["-q", "-m", "reflink=1", img]);
    execFileSync("mount", ["-o", "loop", img, mnt]);
    mounted = true;
  });
  afterAll(async () => {
    if (mounted) execFileSync("umount", [mnt]);
    if (root) await rm(root, { recursive: true, force: true });
  });

  it("a drill on a replica whose mirror is on XFS clones it and passes", async () => {
    const journal = await Journal.open({ dir: await tmpDir(), blockSize: 4096 });
    const model = new VolumeModel(journal, await BlockHasher.create(), prng(9));
    await model.init();
    for (let i = 0; i < 150; i++) await model.randomOp();
    const cp = await journal.checkpoint({ label: null, consistency: "crash" });
    const tree = model.snapshot();
    const { address } = await serveStream(journal);
    const dir = await mkdtemp(join(mnt, "replica-"));
    const rep = await startReplica(address, { dir });
    await waitFor(() => rep.mirror.seq === cp.seq, { timeout: 20_000, what: "mirror" });
    await rep.replica.mirrorIdle();
    const r = await runDrill(rep.app, {
      keep: true,
      verify: { command: ["sh", "-c", "test -d data"] },
    });
    expect(r, JSON.stringify(r)).toMatchObject({
      method: "clone",
      passed: true,
      materialise: { mirrorSeq: cp.seq },
    });
    expect(r.materialise!.filesCloned).toBeGreaterThan(0);
    expect(diffTrees(tree, await readTree(r.sandbox!), { mtimes: true })).toEqual([]);
    await rep.stop();
    await journal.close();
  });

  it("takes time proportional to the changes since the point, not to the volume size (256 MiB volume)", async () => {
    const bs = 64 * 1024;
    const hasher = await BlockHasher.create();
    const journal = await Journal.open({
      dir: await tmpDir(),
      blockSize: bs,
      segmentSize: 256 * 1024 * 1024,
    });
    const rand = prng(21);
    // The volume: one 192 MiB file and 64 files of 1 MiB, random bytes (nothing deduplicates).
    const files = new Map<string, Buffer>([["data/big.bin", Buffer.alloc(192 * 1024 * 1024)]]);
    for (let i = 0; i < 64; i++) files.set(`data/f${i}`, Buffer.alloc(1024 * 1024));
    const ids = new Map<string, number>();
    let fileId = 0;
    await journal.append([
      { type: "link", fileId: ++fileId, path: "data", kind: "dir" },
      { type: "attr", fileId, mode: 0o755, mtimeMs: 1_700_000_000_000 },
    ]);
    const fill = (b: Buffer) => {
      for (let i = 0; i + 4 <= b.length; i += 4) b.writeUInt32LE((rand.next() * 2 ** 32) >>> 0, i);
      return b;
    };
    const blockRecords = (path: string, block: number): RecordBody[] => {
      const data = files.get(path)!.subarray(block * bs, (block + 1) * bs);
      const hash = hasher.hash(data);
      return [
        { type: "blob", hash, data: Buffer.from(data) },
        { type: "write", fileId: ids.get(path)!, block, len: data.length, hash },
      ];
    };
    for (const [path, content] of files) {
      fill(content);
      ids.set(path, ++fileId);
      const recs: RecordBody[] = [
        { type: "link", fileId, path, kind: "file" },
        { type: "size", fileId, size: content.length },
      ];
      for (let b = 0; b < content.length / bs; b++) recs.push(...blockRecords(path, b));
      recs.push({ type: "attr", fileId, mode: 0o644, mtimeMs: 1_700_000_000_000 });
      await journal.append(recs);
    }
    const digests = () =>
      new Map([...files].map(([p, c]) => [p, createHash("sha256").update(c).digest("hex")]));
    const change = async (blocks: number) => {
      const recs: RecordBody[] = [];
      const paths = [...files.keys()];
      for (let i = 0; i < blocks; i++) {
        const path = rand.chance(0.75) ? "data/big.bin" : rand.pick(paths);
        const b = rand.int(0, files.get(path)!.length / bs - 1);
        fill(files.get(path)!.subarray(b * bs, (b + 1) * bs));
        recs.push(...blockRecords(path, b));
      }
      await journal.append(recs);
      const cp = await journal.checkpoint({ label: null, consistency: "crash" });
      return { point: { seq: cp.seq, ts: cp.ts, checkpoint: cp.id }, digests: digests() };
    };
    const cp0 = await change(0);
    const many = 1024; // a quarter of the volume's 4096 blocks
    await change(many);
    const cp1 = await change(0);
    const cp2 = await change(1);
    // The mirror is at cp2. P = cp1 differs by 1 block; P = cp0 by about `many`.
    const mirror = new Mirror(journal, join(mnt, "mirror"), hasher, silentLogger());
    await mirror.init();
    await mirror.advanceTo(cp2.point.seq);
    execFileSync("sync");
    const drills = join(mnt, "drills");
    await mkdir(drills);
    const run = async (name: string, point: typeof cp0.point, useMirror: boolean) => {
      const target = join(drills, name);
      const r = await materialise({
        journal,
        hasher,
        point,
        target,
        mirror: useMirror ? mirrorView(mirror) : null,
      });
      return { r, target };
    };
    const check = async (target: string, want: Map<string, string>) => {
      for (const [p, d] of want) {
        const got = createHash("sha256")
          .update(await readFile(join(target, p)))
          .digest("hex");
        expect(got, p).toBe(d);
      }
    };
    try {
      const one = await run("one", cp1.point, true);
      const lots = await run("many", cp0.point, true);
      const same = await run("same", cp2.point, true);
      const full = await run("full", cp1.point, false);
      console.log(
        `XFS reflink drill, 256 MiB volume: 0 blocks changed ${same.r.seconds.toFixed(3)} s, ` +
          `1 block ${one.r.seconds.toFixed(3)} s, ${many} blocks ${lots.r.seconds.toFixed(3)} s; ` +
          `full materialisation ${full.r.seconds.toFixed(3)} s`,
      );
      expect(one.r).toMatchObject({ method: "clone", filesCloned: 65, bytesWritten: bs });
      expect(same.r).toMatchObject({ method: "clone", bytesWritten: 0 });
      expect(lots.r.method).toBe("clone");
      expect(lots.r.bytesWritten).toBeGreaterThan(800 * bs);
      expect(full.r.method).toBe("full");
      await check(one.target, cp1.digests);
      await check(lots.target, cp0.digests);
      await check(same.target, cp2.digests);
      await check(full.target, cp1.digests);
      // The clone shares extents: the sandbox costs (almost) no space.
      expect((await stat(join(one.target, "data/big.bin"))).size).toBe(192 * 1024 * 1024);
      // Time follows the changes: one block costs a fraction of the full copy and of many blocks.
      expect(one.r.seconds).toBeLessThan(full.r.seconds / 4);
      expect(one.r.seconds).toBeLessThan(lots.r.seconds);
    } finally {
      await journal.close();
    }
  });
});
