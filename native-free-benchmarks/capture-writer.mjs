#!/usr/bin/env node
// Paced writer for the capture-latency scenario, run as a child process so
// that its writes are not delayed by the capture's work (and its CPU is not
// counted as the capture's). Every write carries a marker: 8 bytes "PVJMARK!"
// and an 8-byte id at a 4 KiB-aligned offset. After each tick it prints
// "<id> <ms>" per completed write (ms = wall clock, performance.timeOrigin +
// performance.now(), comparable across processes), and "done <ops> <bytes>"
// at the end.
// Usage: node capture-writer.mjs '{"mode":"files"|"big","path":...,"count":N,"rate":OPS_PER_S,"ms":DURATION,"seed":S}'
import { closeSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { prng } from "./lib.mjs";

/** Marker magic, little-endian "PVJMARK!" (scenarios/capture-latency.mjs looks for it). */
const MARK = Buffer.from("PVJMARK!").readBigUInt64LE(0);
/** Bytes per marked write: one 4 KiB page. */
const WRITE_BYTES = 4096;

const cfg = JSON.parse(process.argv[2]);
const rand = prng(cfg.seed ?? 1);
const clock = () => performance.timeOrigin + performance.now();
const pool = rand.fill(Buffer.allocUnsafe(1024 * 1024));
const buf = Buffer.allocUnsafe(WRITE_BYTES);
let id = 0;
let bytes = 0;
let bigFd = cfg.mode === "big" ? openSync(cfg.path, "r+") : null;
const slots = cfg.mode === "big" ? Math.floor(cfg.size / WRITE_BYTES) : 0;

function writeOne() {
  id += 1;
  const len = cfg.mode === "big" ? WRITE_BYTES : (cfg.fileBytes ?? 1024);
  pool.copy(buf, 0, rand.int(pool.length - len), 0);
  buf.writeBigUInt64LE(MARK, 0);
  buf.writeBigUInt64LE(BigInt(id), 8);
  if (cfg.mode === "big") {
    writeSync(bigFd, buf, 0, len, rand.int(slots) * WRITE_BYTES);
  } else {
    // Overwrite a small file in place (same inode), like an app updating a record.
    // Names as capture-latency.mjs made them: d<i/perDir>/f<i>, or f<i> when flat.
    const i = rand.int(cfg.count);
    const rel = cfg.perDir > 0 ? join(`d${Math.floor(i / cfg.perDir)}`, `f${i}`) : `f${i}`;
    const fd = openSync(join(cfg.path, rel), "r+");
    writeSync(fd, buf, 0, len, 0);
    closeSync(fd);
  }
  bytes += len;
  return `${id} ${clock().toFixed(3)}`;
}

const started = clock();
const tick = () => {
  const elapsed = clock() - started;
  const due = Math.min(
    Math.floor((elapsed / 1000) * cfg.rate),
    Math.floor((cfg.ms / 1000) * cfg.rate),
  );
  const lines = [];
  while (id < due) lines.push(writeOne());
  if (lines.length > 0) process.stdout.write(`${lines.join("\n")}\n`);
  if (elapsed < cfg.ms) setTimeout(tick, 2);
  else {
    if (bigFd !== null) closeSync(bigFd);
    bigFd = null;
    process.stdout.write(`done ${id} ${bytes}\n`);
  }
};
tick();
