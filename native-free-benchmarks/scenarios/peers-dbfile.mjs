// Peers, workload 1: a database-like file (1 GiB; quick 128 MiB) taking
// random 4 KiB page writes, 1% of its pages per round, protected by
// pvjournal, restic and borg side by side (see ../workload.mjs).
import { closeSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { fillHalfCompressible, prng } from "../lib.mjs";
import { report } from "../report.mjs";
import { runWorkload, writeMarker } from "../workload.mjs";

export const name = "peers-dbfile";

/** The database's page size. */
const PAGE = 4096;
/**
 * journal.blockSize 4 KiB, not the 64 KiB default: the database writes 4 KiB
 * pages at random, so 64 KiB blocks would store 16x the changed bytes; 4 KiB
 * costs 16x the index rows per byte, the right trade for a database volume.
 */
const BLOCK = 4096;

export async function run({ quick, tiny }) {
  const size = tiny ? 4 * 2 ** 20 : quick ? 128 * 2 ** 20 : 2 ** 30;
  const rounds = tiny ? 2 : quick ? 3 : 5;
  const pages = size / PAGE;
  const perRound = Math.round(pages / 100);
  const rand = prng(101);
  const file = (dir) => join(dir, "db.sqlite");
  const raw = await runWorkload({
    name,
    blockSize: BLOCK,
    rounds,
    roundMs: tiny ? 200 : quick ? 2000 : 4000,
    restoreRound: 1,
    setup(dir) {
      const fd = openSync(file(dir), "w");
      const chunk = Buffer.allocUnsafe(16 * 2 ** 20);
      for (let off = 0; off < size; off += chunk.length) {
        const n = Math.min(chunk.length, size - off);
        writeSync(fd, fillHalfCompressible(chunk.subarray(0, n), rand), 0, n, off);
      }
      closeSync(fd);
      return { bytes: size, files: 1 };
    },
    round(dir) {
      // 1% of the pages, distinct, in random order; the file stays open like a database's.
      const chosen = new Set();
      while (chosen.size < perRound) chosen.add(rand.int(pages));
      const fd = openSync(file(dir), "r+");
      const page = Buffer.allocUnsafe(PAGE);
      const ops = [...chosen].map((p) => (id) => {
        fillHalfCompressible(page, rand);
        writeMarker(page, id);
        writeSync(fd, page, 0, PAGE, p * PAGE);
        return { bytes: PAGE, marked: true };
      });
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
      `one ${size / 2 ** 20} MiB file of 4 KiB pages (each half random, half repetitive text: about 2:1 compressible); per round ${perRound} distinct random pages (1%) rewritten in place, spread over the round`,
      "pvjournal journal.blockSize 4 KiB, the database's page size: 64 KiB blocks would store 16x the changed bytes for scattered page writes (see peers-history-restore for 64 KiB on the same kind of file)",
    ],
  });
}
