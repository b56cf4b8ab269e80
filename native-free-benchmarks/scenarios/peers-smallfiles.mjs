// Peers, workload 2: 10k small files (quick 2k) in 100 directories, with
// creates, edits and deletes every round, protected by pvjournal, restic and
// borg side by side (see ../workload.mjs).
import { existsSync, mkdirSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fillHalfCompressible, prng } from "../lib.mjs";
import { report } from "../report.mjs";
import { runWorkload, writeMarker } from "../workload.mjs";

export const name = "peers-smallfiles";

/** The default 64 KiB: every file here is one block. */
const BLOCK = 64 * 1024;
const DIRS = 100;

export async function run({ quick, tiny }) {
  const files = tiny ? 200 : quick ? 2000 : 10_000;
  const rounds = tiny ? 2 : quick ? 3 : 5;
  const rand = prng(202);
  const live = [];
  let serial = 0;
  const path = (dir, n) => join(dir, `d${n % DIRS}`, `doc-${n}.json`);
  /** A document of 1-16 KiB, marked when it can hold a marker. */
  const write = (dir, n, id) => {
    const buf = fillHalfCompressible(Buffer.allocUnsafe(1024 + rand.int(15 * 1024)), rand);
    if (id !== undefined) writeMarker(buf, id);
    writeFileSync(path(dir, n), buf);
    return buf.length;
  };
  const raw = await runWorkload({
    name,
    blockSize: BLOCK,
    rounds,
    roundMs: tiny ? 200 : quick ? 1500 : 3000,
    restoreRound: 1,
    setup(dir) {
      for (let d = 0; d < DIRS; d++) mkdirSync(join(dir, `d${d}`));
      let bytes = 0;
      for (let i = 0; i < files; i++) {
        live.push(serial);
        bytes += write(dir, serial++);
      }
      return { bytes, files };
    },
    round(dir) {
      // Per round: 5% of the files rewritten, 1% deleted, 1% created; an edit
      // that comes after its file's deletion in the shuffled order is a no-op.
      const ops = [];
      const pick = () => live[rand.int(live.length)];
      for (let i = 0; i < Math.ceil(files / 20); i++) {
        const n = pick();
        ops.push((id) => ({
          bytes: existsSync(path(dir, n)) ? write(dir, n, id) : 0,
          marked: true,
        }));
      }
      for (let i = 0; i < Math.ceil(files / 100); i++) {
        const at = rand.int(live.length);
        const n = live[at];
        live.splice(at, 1);
        ops.push(() => {
          unlinkSync(path(dir, n));
          return { bytes: 0, marked: false };
        });
      }
      // Created after the deletions are chosen: a round never deletes what it creates.
      for (let i = 0; i < Math.ceil(files / 100); i++) {
        const n = serial++;
        live.push(n);
        ops.push((id) => ({ bytes: write(dir, n, id), marked: true }));
      }
      // Interleave the kinds of change as an application would.
      for (let i = ops.length - 1; i > 0; i--) {
        const j = rand.int(i + 1);
        [ops[i], ops[j]] = [ops[j], ops[i]];
      }
      return ops;
    },
  });
  return report(raw, {
    blockSize: BLOCK,
    rounds,
    notes: [
      `${files} files of 1-16 KiB (half random, half repetitive text) in ${DIRS} directories; per round 5% rewritten whole, 1% created, 1% deleted, interleaved and spread over the round`,
      "pvjournal journal.blockSize 64 KiB (the default): each file is one block",
    ],
  });
}
