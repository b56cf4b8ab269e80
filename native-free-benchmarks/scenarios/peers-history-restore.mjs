// Peers, workload 4: restore of a past point from a long history. A
// database-like file plus small documents change over many rounds (quick 20,
// full 100); pvjournal journals every change continuously and checkpoints
// each round, restic and borg take a snapshot / archive each round. Then the
// middle round is restored by each (`pvjournal restore --checkpoint`,
// `restic restore`, `borg extract`) and `cp -r` of the same tree is the floor.
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { fillHalfCompressible, prng } from "../lib.mjs";
import { report } from "../report.mjs";
import { runWorkload, writeMarker } from "../workload.mjs";

export const name = "peers-history-restore";

/** The default 64 KiB, deliberately (peers-dbfile shows 4 KiB on a database file). */
const BLOCK = 64 * 1024;
const PAGE = 4096;

export async function run({ quick, tiny }) {
  const MiB = 2 ** 20;
  const dbSize = tiny ? 2 * MiB : quick ? 32 * MiB : 128 * MiB;
  const docs = tiny ? 30 : quick ? 300 : 1000;
  const rounds = tiny ? 3 : quick ? 20 : 100;
  const pages = dbSize / PAGE;
  const rand = prng(404);
  const db = (dir) => join(dir, "db.sqlite");
  const doc = (dir, i) => join(dir, "docs", `doc-${i}.json`);
  const writeDoc = (dir, i, id) => {
    const buf = fillHalfCompressible(Buffer.allocUnsafe(1024 + rand.int(15 * 1024)), rand);
    if (id !== undefined) writeMarker(buf, id);
    writeFileSync(doc(dir, i), buf);
    return buf.length;
  };
  const raw = await runWorkload({
    name,
    blockSize: BLOCK,
    rounds,
    roundMs: tiny ? 100 : quick ? 200 : 300,
    restoreRound: Math.ceil(rounds / 2),
    setup(dir) {
      const fd = openSync(db(dir), "w");
      const chunk = Buffer.allocUnsafe(16 * MiB);
      for (let off = 0; off < dbSize; off += chunk.length) {
        const n = Math.min(chunk.length, dbSize - off);
        writeSync(fd, fillHalfCompressible(chunk.subarray(0, n), rand), 0, n, off);
      }
      closeSync(fd);
      mkdirSync(join(dir, "docs"));
      let bytes = dbSize;
      for (let i = 0; i < docs; i++) bytes += writeDoc(dir, i);
      return { bytes, files: 1 + docs };
    },
    round(dir) {
      // Per round: 0.5% of the database's pages and 2% of the documents rewritten.
      const ops = [];
      const fd = openSync(db(dir), "r+");
      const page = Buffer.allocUnsafe(PAGE);
      for (let i = 0; i < Math.ceil(pages / 200); i++) {
        const p = rand.int(pages);
        ops.push((id) => {
          writeMarker(fillHalfCompressible(page, rand), id);
          writeSync(fd, page, 0, PAGE, p * PAGE);
          return { bytes: PAGE, marked: true };
        });
      }
      for (let i = 0; i < Math.ceil(docs / 50); i++) {
        const d = rand.int(docs);
        ops.push((id) => ({ bytes: writeDoc(dir, d, id), marked: true }));
      }
      ops.push(() => {
        closeSync(fd);
        return { bytes: 0, marked: false };
      });
      return ops;
    },
  });
  return report(raw, {
    blockSize: BLOCK,
    rounds,
    notes: [
      `a ${dbSize / MiB} MiB database-like file and ${docs} documents of 1-16 KiB (all about 2:1 compressible); per round 0.5% of the 4 KiB pages and 2% of the documents rewritten; ${rounds} rounds = ${rounds} checkpoints / snapshots / archives; the restore is of round ${Math.ceil(rounds / 2)}`,
      "pvjournal journal.blockSize 64 KiB (the default), so a 4 KiB page write stores its whole 64 KiB block: compare peers-dbfile (4 KiB blocks)",
    ],
  });
}
