// Planning time for one point in journals of 10k, 100k and 1M records: one
// file of 4096 blocks rewritten at random (so history per block grows with
// n). Planning does one indexed lookup per block, so it should grow with
// log(n), not n. Baseline in the same run: the smallest journal.
import { join } from "node:path";
import { buildPlan } from "../../dist/journal/build-plan.js";
import { Journal } from "../../dist/journal/journal.js";
import { BlockHasher } from "../../dist/util/hash.js";
import { now, prng, r3, scratch } from "../lib.mjs";

export const name = "journal-planning";

export async function run({ quick }) {
  const sizes = quick ? [10_000, 100_000] : [10_000, 100_000, 1_000_000];
  const blocks = 4096;
  const bs = 4096;
  const hasher = await BlockHasher.create();
  const contents = Array.from({ length: 256 }, (_, i) => Buffer.alloc(bs, i));
  const hashes = contents.map((c) => hasher.hash(c));
  const rows = [];
  for (const n of sizes) {
    const s = scratch();
    const rand = prng(n);
    const journal = await Journal.open({ dir: join(s.dir, "j"), blockSize: bs });
    await journal.append([
      { type: "link", fileId: 1, path: "data", kind: "dir" },
      { type: "link", fileId: 2, path: "data/db", kind: "file" },
      { type: "size", fileId: 2, size: blocks * bs },
      ...contents.map((data, i) => ({ type: "blob", hash: hashes[i], data })),
    ]);
    const tBuild = now();
    for (let done = 0; done < n; ) {
      const batch = [];
      for (let k = 0; k < 5000 && done < n; k++, done++) {
        const c = rand.int(256);
        batch.push({ type: "write", fileId: 2, block: rand.int(blocks), len: bs, hash: hashes[c] });
      }
      await journal.append(batch);
    }
    const buildMs = now() - tBuild;
    const mid = Math.floor(journal.lastSeq / 2);
    const times = [];
    for (const seq of [journal.lastSeq, mid, journal.lastSeq, mid, journal.lastSeq]) {
      const t = now();
      buildPlan(journal, { seq, ts: journal.lastTs, checkpoint: null });
      times.push(now() - t);
    }
    times.sort((a, b) => a - b);
    rows.push({ records: n, planMs: times[2], buildMs });
    await journal.close();
    s.cleanup();
  }
  const base = rows[0].planMs;
  return {
    figures: { rows, baseline: "smallest journal" },
    notes: [
      "one 16 MiB file, 4096 blocks of 4 KiB, random rewrites; median of 5 plans at the newest and a middle point",
    ],
    table: rows.flatMap((r) => [
      [`plan, ${r.records} records`, r3(r.planMs), "ms"],
      [
        `ratio vs ${rows[0].records} records (log n ratio ${r3(Math.log(r.records) / Math.log(rows[0].records))})`,
        r3(r.planMs / base),
        "x",
      ],
    ]),
  };
}
