// zstd level against compression CPU on this suite's data (the peers' text log
// lines, the half-random database pages, random bytes), per 4 KiB and 64 KiB
// block, one block at a time as the journal compresses them (block-codec.ts).
// Usage: node native-free-benchmarks/compression-levels.mjs
import { Decoder, Encoder } from "@toondepauw/node-zstd";
import { fillHalfCompressible, prng } from "./lib.mjs";

const HEX = "0123456789abcdef";
const rand = prng(303);
let n = 0;
let ts = Date.UTC(2026, 0, 1);
/** The log lines of scenarios/peers-applog.mjs. */
function lines(bytes) {
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
  return Buffer.from(out.join("")).subarray(0, bytes);
}
const MiB = 2 ** 20;
const data = {
  log: lines(16 * MiB),
  db: fillHalfCompressible(Buffer.alloc(16 * MiB), prng(101)),
  random: prng(7).fill(Buffer.alloc(16 * MiB)),
};
const dec = new Decoder();
console.log(
  "| data | block | level | stored / raw | compress MB/s (CPU) | decompress MB/s (CPU) |",
);
console.log("| --- | --- | --- | --- | --- | --- |");
for (const [name, buf] of Object.entries(data)) {
  for (const bs of [4096, 65536]) {
    const blocks = [];
    for (let o = 0; o < buf.length; o += bs) blocks.push(buf.subarray(o, o + bs));
    for (const level of [1, 3, 6, 9]) {
      const enc = new Encoder(level);
      let t = process.cpuUsage();
      const packed = blocks.map((b) => enc.encodeSync(b));
      const c = process.cpuUsage(t);
      t = process.cpuUsage();
      for (const p of packed) dec.decodeSync(p);
      const d = process.cpuUsage(t);
      const stored = packed.reduce((a, p, i) => a + Math.min(p.length + 5, blocks[i].length), 0);
      const mbps = (u) => (buf.length / (u.user + u.system)).toFixed(0);
      console.log(
        `| ${name} | ${bs / 1024} KiB | ${level} | ${(stored / buf.length).toFixed(3)} | ${mbps(c)} | ${mbps(d)} |`,
      );
    }
  }
}
