// What compressing several blocks together would save over one block at a
// time (block-codec.ts compresses each block alone, so any block reads back
// by random access). Measures zstd level 1 on this suite's data: the
// peers-smallfiles documents (1-16 KiB, one block each, half random and half
// text) grouped in arrival order up to 16 / 64 / 256 KiB, and the
// peers-dbfile pages (4 KiB blocks) grouped 4 and 16 at a time. Each group is
// charged 4 bytes per member (an offset), the "does not shrink by 1/32 →
// store raw" rule applies per block or group as in the journal.
// Usage: node native-free-benchmarks/compression-grouping.mjs
import { Encoder } from "@toondepauw/node-zstd";
import { fillHalfCompressible, prng } from "./lib.mjs";

const MiB = 2 ** 20;
const enc = new Encoder(1);
/** Stored bytes of one block or group: compressed plus the 5-byte codec header, or raw. */
const stored = (b) => {
  const c = enc.encodeSync(b);
  return c.length + 5 < b.length - b.length / 32 ? c.length + 5 : b.length;
};
const mib = (n) => (n / MiB).toFixed(3);

const rand = prng(202);
const docs = [];
for (let i = 0; i < 2000; i++)
  docs.push(fillHalfCompressible(Buffer.allocUnsafe(1024 + rand.int(15 * 1024)), rand));
const alone = docs.reduce((s, b) => s + stored(b), 0);
console.log("| data | grouping | stored MiB | vs one block at a time |");
console.log("| --- | --- | --- | --- |");
console.log(`| 2000 documents, 1-16 KiB | one block at a time | ${mib(alone)} | 1 |`);
for (const target of [16 * 1024, 64 * 1024, 256 * 1024]) {
  let total = 0;
  let group = [];
  let len = 0;
  const flush = () => {
    if (group.length === 0) return;
    total += stored(Buffer.concat(group)) + 4 * group.length;
    group = [];
    len = 0;
  };
  for (const b of docs) {
    if (len + b.length > target) flush();
    group.push(b);
    len += b.length;
  }
  flush();
  console.log(
    `| 2000 documents, 1-16 KiB | up to ${target / 1024} KiB | ${mib(total)} | ${(total / alone).toFixed(3)} |`,
  );
}
const db = fillHalfCompressible(Buffer.allocUnsafe(32 * MiB), prng(1));
const pages = (size) => {
  let total = 0;
  for (let off = 0; off < db.length; off += size)
    total += stored(db.subarray(off, off + size)) + (size > 4096 ? (4 * size) / 4096 : 0);
  return total;
};
const one = pages(4096);
console.log(`| 32 MiB of database pages | one 4 KiB block at a time | ${mib(one)} | 1 |`);
for (const size of [16 * 1024, 64 * 1024])
  console.log(
    `| 32 MiB of database pages | ${size / 4096} blocks together | ${mib(pages(size))} | ${(pages(size) / one).toFixed(3)} |`,
  );
