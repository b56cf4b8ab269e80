// Restore throughput of a checkpoint vs. `cp -r` of the same tree (the floor
// for materialising a tree), both in the same run on the same filesystem.
// pvjournal's restore checks every block's hash and makes the tree durable (syncfs or fsyncs) before its rename; cp does
// neither, so `cp -r && sync` is reported too.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildPlan } from "../../dist/journal/build-plan.js";
import { Journal } from "../../dist/journal/journal.js";
import { applyPlan } from "../../dist/restore/apply.js";
import { BlockHasher } from "../../dist/util/hash.js";
import { now, prng, r3, runTimed, scratch } from "../lib.mjs";

export const name = "journal-restore";

export async function run({ quick }) {
  const bigFiles = quick ? 16 : 64;
  const bigSize = 16 * 1024 * 1024;
  const smallFiles = quick ? 1000 : 5000;
  const smallSize = 4096;
  const bs = 64 * 1024;
  const rand = prng(7);
  const hasher = await BlockHasher.create();
  const s = scratch();
  const src = join(s.dir, "src", "data");
  mkdirSync(join(src, "small"), { recursive: true });
  const journal = await Journal.open({ dir: join(s.dir, "journal"), blockSize: bs });
  let fileId = 0;
  const link = (path, kind) => ({ type: "link", fileId: ++fileId, path, kind });
  await journal.append([
    link("data", "dir"),
    { type: "attr", fileId, mode: 0o755, mtimeMs: Date.now() },
  ]);
  await journal.append([
    link("data/small", "dir"),
    { type: "attr", fileId, mode: 0o755, mtimeMs: Date.now() },
  ]);
  let bytes = 0;
  const addFile = async (rel, size) => {
    const content = rand.fill(Buffer.allocUnsafe(size));
    writeFileSync(join(src, rel), content);
    const recs = [link(`data/${rel}`, "file"), { type: "size", fileId, size }];
    for (let off = 0; off < size; off += bs) {
      const data = content.subarray(off, Math.min(off + bs, size));
      const hash = hasher.hash(data);
      recs.push(
        { type: "blob", hash, data },
        { type: "write", fileId, block: off / bs, len: data.length, hash },
      );
    }
    recs.push({ type: "attr", fileId, mode: 0o644, mtimeMs: Date.now() });
    await journal.append(recs);
    bytes += size;
  };
  for (let i = 0; i < bigFiles; i++) await addFile(`big${i}.bin`, bigSize);
  for (let i = 0; i < smallFiles; i++) await addFile(`small/s${i}`, smallSize);
  const cp = await journal.checkpoint({ label: "bench", consistency: "crash" });
  execFileSync("sync");

  const tPlan = now();
  const plan = buildPlan(journal, { seq: cp.seq, ts: cp.ts, checkpoint: cp.id });
  const planMs = now() - tPlan;
  const t = now();
  await applyPlan({ journal, plan, target: join(s.dir, "restored"), hasher });
  const restoreMs = now() - t + planMs;
  await journal.close();
  execFileSync("sync");
  const cpMs = runTimed("cp", ["-r", join(s.dir, "src"), join(s.dir, "cp1")]);
  const cpSyncMs = runTimed("sh", [
    "-c",
    `cp -r '${join(s.dir, "src")}' '${join(s.dir, "cp2")}' && sync`,
  ]);
  s.cleanup();
  const mbps = (ms) => bytes / 1e6 / (ms / 1000);
  return {
    figures: {
      bytes,
      files: bigFiles + smallFiles,
      planMs,
      restoreMs,
      cpMs,
      cpSyncMs,
      ratioVsCp: cpMs / restoreMs,
      ratioVsCpSync: cpSyncMs / restoreMs,
    },
    notes: [
      `${bigFiles} x 16 MiB + ${smallFiles} x 4 KiB files (${(bytes / 2 ** 20).toFixed(0)} MiB), 64 KiB blocks, page cache warm for both`,
      "ratio = cp time / pvjournal time (1.0 = as fast as cp; goal >= 0.8)",
    ],
    table: [
      [
        "pvjournal restore (plan + hash check + durable before the rename)",
        r3(mbps(restoreMs)),
        "MB/s",
      ],
      ["of which planning", r3(planMs), "ms"],
      ["cp -r", r3(mbps(cpMs)), "MB/s"],
      ["cp -r && sync", r3(mbps(cpSyncMs)), "MB/s"],
      ["ratio vs cp -r", r3(cpMs / restoreMs), "x"],
      ["ratio vs cp -r && sync", r3(cpSyncMs / restoreMs), "x"],
    ],
  };
}
