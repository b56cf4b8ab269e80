// Drill materialisation time for a 1 GiB volume (quick: 256 MiB) with 1%,
// 10% and 50% of its 64 KiB blocks changed between the drilled point P and
// the mirror's position M, in the same run:
//   clone: reflink the mirror, rewrite the changed blocks from the journal
//          (needs a reflink filesystem: a loop-mounted XFS image, root only);
//   copy:  the same with a byte copy of the mirror's files (where reflinks
//          are not supported: ext4, tmpfs);
//   full:  write every block from the journal (a sidecar, no mirror);
//   cp -r: of the mirror directory (coreutils >= 9 reflinks by default where
//          it can, so `cp -r --reflink=never` is reported too).
// The mirror and every output live on the same filesystem; page cache warm.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { materialise, mirrorView } from "../../dist/drill/materialise.js";
import { Journal } from "../../dist/journal/journal.js";
import { silentLogger } from "../../dist/log/logger.js";
import { Mirror } from "../../dist/replica/mirror.js";
import { BlockHasher } from "../../dist/util/hash.js";
import { have, now, percentile, prng, r3, runTimed, scratch } from "../lib.mjs";

export const name = "drill";

/** The answer of a filesystem without reflinks, so the copy path runs on the XFS image too. */
const noReflinks = async () => {
  throw Object.assign(new Error("operation not supported"), { code: "ENOTSUP" });
};

/** Mounts a sparse XFS image with reflinks under `dir`; returns its mount point and an unmount, or a reason. */
function mountXfs(dir, bytes) {
  // DRILL_NO_XFS=1: everything on the scratch filesystem (ext4 here), to measure the copy path
  // where the kernel really copies (on XFS, copy_file_range within one filesystem shares extents).
  if (process.env.DRILL_NO_XFS) return { skipped: "DRILL_NO_XFS is set" };
  if (process.getuid?.() !== 0) return { skipped: "not root (a loop mount needs root)" };
  if (!have("mkfs.xfs")) return { skipped: "mkfs.xfs missing (apt-get install xfsprogs)" };
  const img = join(dir, "xfs.img");
  const mnt = join(dir, "xfs");
  mkdirSync(mnt);
  execFileSync("truncate", ["-s", String(bytes), img]);
  execFileSync("mkfs.xfs", ["-q", "-m", "reflink=1", img]);
  const m = spawnSync("mount", ["-o", "loop", img, mnt], { encoding: "utf8" });
  if (m.status !== 0) return { skipped: `mount -o loop failed: ${m.stderr.trim()}` };
  return { mnt, unmount: () => execFileSync("umount", [mnt]) };
}

export async function run({ quick }) {
  const volume = quick ? 256 * 2 ** 20 : 2 ** 30;
  const nFiles = 16;
  const fileSize = volume / nFiles;
  const bs = 64 * 1024;
  // The page cache and writeback make single runs noisy on a 2-core machine: median of 3.
  const reps = quick ? 1 : 3;
  const blocksPerFile = fileSize / bs;
  const totalBlocks = volume / bs;
  const rand = prng(42);
  const hasher = await BlockHasher.create();
  const s = scratch();
  const xfs = mountXfs(s.dir, volume * 4);
  const fsDir = xfs.mnt ?? join(s.dir, "fs");
  mkdirSync(fsDir, { recursive: true });
  const notes = [];
  const table = [];
  const figures = { volumeBytes: volume, blockSize: bs, clone: xfs.mnt ? "xfs" : xfs.skipped };
  const journal = await Journal.open({
    dir: join(s.dir, "journal"),
    blockSize: bs,
    segmentSize: 256 * 2 ** 20,
  });
  try {
    let fileId = 0;
    await journal.append([
      { type: "link", fileId: ++fileId, path: "data", kind: "dir" },
      { type: "attr", fileId, mode: 0o755, mtimeMs: Date.now() },
    ]);
    const ids = [];
    const block = Buffer.allocUnsafe(bs);
    const writeRecords = (f, b) => {
      rand.fill(block);
      const data = Buffer.from(block);
      const hash = hasher.hash(data);
      return [
        { type: "blob", hash, data },
        { type: "write", fileId: ids[f], block: b, len: bs, hash },
      ];
    };
    for (let f = 0; f < nFiles; f++) {
      ids.push(++fileId);
      await journal.append([
        { type: "link", fileId, path: `data/f${f}.bin`, kind: "file" },
        { type: "size", fileId, size: fileSize },
      ]);
      for (let b0 = 0; b0 < blocksPerFile; b0 += 256) {
        const recs = [];
        for (let b = b0; b < Math.min(b0 + 256, blocksPerFile); b++)
          recs.push(...writeRecords(f, b));
        await journal.append(recs);
      }
      await journal.append([{ type: "attr", fileId, mode: 0o644, mtimeMs: Date.now() }]);
    }
    let point = await journal.checkpoint({ label: "base", consistency: "crash" });
    const mirror = new Mirror(journal, join(fsDir, "mirror"), hasher, silentLogger());
    await mirror.init();
    await mirror.advanceTo(point.seq);
    const cpNever = spawnSync("cp", ["--reflink=never", "--version"]).status === 0;

    for (const pct of [1, 10, 50]) {
      // Change pct% of the volume's blocks (distinct, at random), then move the mirror past them.
      const n = Math.round((totalBlocks * pct) / 100);
      const chosen = new Set();
      while (chosen.size < n) chosen.add(rand.int(totalBlocks));
      const list = [...chosen];
      for (let i = 0; i < list.length; i += 256) {
        const recs = [];
        for (const g of list.slice(i, i + 256))
          recs.push(...writeRecords(Math.floor(g / blocksPerFile), g % blocksPerFile));
        await journal.append(recs);
      }
      const m = await journal.checkpoint({ label: `${pct}%`, consistency: "crash" });
      await mirror.advanceTo(m.seq);
      execFileSync("sync");
      const p = { seq: point.seq, ts: point.ts, checkpoint: point.id };
      const out = (x) => join(fsDir, `${x}-${pct}`);
      // Median of `reps` runs, each into a fresh directory removed (and synced) afterwards.
      const median = async (name, fn) => {
        const times = [];
        for (let i = 0; i < reps; i++) {
          const target = out(`${name}${i}`);
          const t = now();
          await fn(target);
          times.push(now() - t);
          rmSync(target, { recursive: true });
          execFileSync("sync");
        }
        return percentile(times, 50);
      };
      /** Median time of drills from the mirror that must take path `method`. */
      const fromMirror = (method, extra = {}) =>
        median(method, async (target) => {
          const r = await materialise({
            journal,
            hasher,
            point: p,
            target,
            mirror: mirrorView(mirror),
            ...extra,
          });
          if (r.method !== method)
            throw new Error(`expected the ${method} path, got ${r.method}: ${r.fallback}`);
        });
      const cloneMs = !xfs.mnt ? null : await fromMirror("clone");
      // A filesystem without reflinks (ext4, tmpfs): the mirror's files are copied instead.
      const copyMs = await fromMirror("copy", { cloneFile: noReflinks });
      const fullMs = await median("full", (target) =>
        materialise({ journal, hasher, point: p, target, mirror: null }),
      );
      const cpMs = await median("cp", async (target) => {
        runTimed("cp", ["-r", mirror.dir, target]);
      });
      const cpNeverMs = !cpNever
        ? null
        : await median("cpn", async (target) => {
            runTimed("cp", ["-r", "--reflink=never", mirror.dir, target]);
          });
      const cpNeverSyncMs = !cpNever
        ? null
        : await median("cpns", async (target) => {
            runTimed("sh", ["-c", `cp -r --reflink=never '${mirror.dir}' '${target}' && sync`]);
          });
      figures[`pct${pct}`] = {
        changedBlocks: n,
        cloneMs,
        copyMs,
        fullMs,
        cpMs,
        cpNeverMs,
        cpNeverSyncMs,
      };
      table.push(
        [
          `${pct}% changed: clone path`,
          cloneMs === null ? null : r3(cloneMs),
          cloneMs === null ? `ms (skipped: ${xfs.skipped})` : "ms",
        ],
        [`${pct}% changed: copy path (mirror copied, no reflinks)`, r3(copyMs), "ms"],
        [`${pct}% changed: full path (no mirror)`, r3(fullMs), "ms"],
        [`${pct}% changed: cp -r of the mirror${xfs.mnt ? " (reflinks)" : ""}`, r3(cpMs), "ms"],
        ...(cpNeverMs === null
          ? []
          : [
              [`${pct}% changed: cp -r --reflink=never`, r3(cpNeverMs), "ms"],
              [`${pct}% changed: cp -r --reflink=never && sync`, r3(cpNeverSyncMs), "ms"],
            ]),
      );
      point = m;
    }
  } finally {
    await journal.close();
    xfs.unmount?.();
    s.cleanup();
  }
  notes.push(
    `${(volume / 2 ** 20).toFixed(0)} MiB volume in ${nFiles} files, 64 KiB blocks, random data; each row drills the point before the change, with the mirror after it`,
    xfs.mnt
      ? "mirror and outputs on a loop-mounted XFS image (reflink=1); journal on the scratch filesystem"
      : `clone path skipped: ${xfs.skipped}; full and cp on the scratch filesystem`,
    "clone, copy and full include planning and the hash check of every block read from the journal; none fsyncs (a drill sandbox is thrown away), nor does plain cp -r",
    `median of ${reps} run(s) each; sync after each run`,
  );
  return { figures, notes, table };
}
