// Peers, workload 3: an append-only application log (256 MiB; quick 32 MiB)
// growing by 16 MiB (quick 4 MiB) of lines per round, protected by
// pvjournal, restic and borg side by side (see ../workload.mjs).
import { closeSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { prng } from "../lib.mjs";
import { report } from "../report.mjs";
import { runWorkload, writeMarker } from "../workload.mjs";

export const name = "peers-applog";

/** The default 64 KiB: appends rewrite the last partial block and add new ones. */
const BLOCK = 64 * 1024;
/** Bytes per append: a logger's buffered flush. */
const APPEND = 8 * 1024;
const HEX = "0123456789abcdef";

export async function run({ quick, tiny }) {
  const MiB = 2 ** 20;
  const initial = tiny ? 2 * MiB : quick ? 32 * MiB : 256 * MiB;
  const growth = tiny ? 0.5 * MiB : quick ? 4 * MiB : 16 * MiB;
  const rounds = tiny ? 2 : quick ? 3 : 5;
  const rand = prng(303);
  let n = 0;
  let ts = Date.UTC(2026, 0, 1);
  /** About `bytes` of log lines. */
  const lines = (bytes) => {
    const out = [];
    let len = 0;
    while (len < bytes) {
      n += 1;
      ts += rand.int(20);
      let req = "";
      for (let i = 0; i < 16; i++) req += HEX[rand.int(16)];
      const line = `${new Date(ts).toISOString()} INFO [worker-${n % 8}] req=${req} GET /api/v1/orders/${rand.int(1e6)} status=${rand.int(50) === 0 ? 500 : 200} bytes=${rand.int(1e5)} ms=${rand.int(900)}\n`;
      out.push(line);
      len += line.length;
    }
    return Buffer.from(out.join(""));
  };
  const file = (dir) => join(dir, "app.log");
  const raw = await runWorkload({
    name,
    blockSize: BLOCK,
    rounds,
    roundMs: tiny ? 200 : quick ? 1500 : 3000,
    restoreRound: 1,
    setup(dir) {
      const fd = openSync(file(dir), "w");
      for (let done = 0; done < initial; )
        done += writeSync(fd, lines(Math.min(MiB, initial - done)));
      closeSync(fd);
      return { bytes: initial, files: 1 };
    },
    round(dir) {
      const fd = openSync(file(dir), "a");
      const ops = [];
      for (let done = 0; done < growth; done += APPEND) {
        ops.push((id) => {
          const buf = lines(APPEND);
          writeMarker(buf, id);
          return { bytes: writeSync(fd, buf), marked: true };
        });
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
      `one log file of ${initial / MiB} MiB of text lines (about 3:1 compressible), appended by ${growth / MiB} MiB per round in 8 KiB flushes spread over the round`,
      "pvjournal journal.blockSize 64 KiB (the default): each append rewrites the file's last partial block and adds new blocks",
    ],
  });
}
