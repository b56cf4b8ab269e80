// What this machine charges for the operations every other scenario is made
// of, measured in the same run, so a ratio can be read against its cause:
// a page fault, a process start, a small file's open/read/close (with a
// reused buffer, and with a fresh 128 KiB buffer per file as GNU cat does),
// a small file's create, an fdatasync, page-cache writes and a bare syscall.
//
// Why: the same ratio means different things on different machines. On the
// 2-core VM of 2026-12-06 a page fault cost 11.6 us (bare metal: well under
// 1 us), so GNU cat, which maps a fresh buffer for every file, read 10k small
// files in 1.35-1.40 s where cksum (one buffer for all) took 0.23-0.30 s, and
// the watch-scale goal "scan at >= 0.5 of cat" read 0.47 where a run whose
// cat was fast read 0.09 for about the same scan. These figures say which
// kind of machine a report came from.
import { execFileSync } from "node:child_process";
import {
  closeSync,
  fdatasyncSync,
  fstatSync,
  mkdirSync,
  openSync,
  readSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { CLI, now, percentile, prng, r3, scratch } from "../lib.mjs";

export const name = "machine-costs";

const PAGE = 4096;
const MIB = 2 ** 20;

/** Median of `reps` runs of fn (each returns a number). */
function median(reps, fn) {
  return percentile(
    Array.from({ length: reps }, () => fn()),
    50,
  );
}

/** us per 4 KiB page to first-touch `bytes` of fresh memory, and to touch it again. */
function pageFaults(bytes) {
  // allocUnsafeSlow of this size is a fresh anonymous mapping: no page is resident yet.
  const buf = Buffer.allocUnsafeSlow(bytes);
  let t = now();
  for (let i = 0; i < bytes; i += PAGE) buf[i] = 1;
  const first = ((now() - t) * 1000) / (bytes / PAGE);
  t = now();
  for (let i = 0; i < bytes; i += PAGE) buf[i] = 2;
  const again = ((now() - t) * 1000) / (bytes / PAGE);
  return { first, again };
}

/** ms for a process to start and exit. */
function processStart(args) {
  return median(5, () => {
    const t = now();
    execFileSync(process.execPath, args, { stdio: "ignore" });
    return now() - t;
  });
}

/** us per file to read `paths` whole: open, read into `bufFor()`, close. */
function readFiles(paths, bufFor) {
  const t = now();
  for (const p of paths) {
    const fd = openSync(p, "r");
    const buf = bufFor();
    readSync(fd, buf, 0, buf.length, 0);
    closeSync(fd);
  }
  return ((now() - t) * 1000) / paths.length;
}

/** us per file to create, write and close (and fdatasync, when asked) `n` files of `data`. */
function createFiles(dir, n, data, sync) {
  mkdirSync(dir);
  const t = now();
  for (let i = 0; i < n; i++) {
    const fd = openSync(join(dir, `f${i}`), "w");
    writeSync(fd, data);
    if (sync) fdatasyncSync(fd);
    closeSync(fd);
  }
  return ((now() - t) * 1000) / n;
}

export async function run({ quick }) {
  const files = quick ? 1000 : 4000;
  const s = scratch("pvj-bench-costs-");
  const rand = prng(23);
  try {
    const faults = [0, 1, 2].map(() => pageFaults(64 * MIB));
    const fault = percentile(
      faults.map((f) => f.first),
      50,
    );
    const resident = percentile(
      faults.map((f) => f.again),
      50,
    );
    const nodeStart = processStart(["-e", "0"]);
    const cliStart = processStart([CLI, "--version"]);

    const data = rand.fill(Buffer.allocUnsafe(PAGE));
    const create = createFiles(join(s.dir, "plain"), files, data, false);
    const createSync = createFiles(join(s.dir, "synced"), Math.min(files, 500), data, true);
    const paths = Array.from({ length: files }, (_, i) => join(s.dir, "plain", `f${i}`));
    readFiles(paths, () => Buffer.allocUnsafe(PAGE)); // page cache and code warm
    const reused = Buffer.allocUnsafeSlow(128 * 1024);
    const readReused = median(3, () => readFiles(paths, () => reused));
    // 128 KiB + 8 KiB, GNU cat's buffer: above glibc's mmap threshold, so a mapping per file.
    const readFresh = median(3, () => readFiles(paths, () => Buffer.allocUnsafeSlow(139264)));

    const big = Buffer.alloc(4 * MIB, 7);
    const fd = openSync(join(s.dir, "big"), "w");
    let fdatasyncMs;
    let writeMBps;
    let fstatUs;
    try {
      fdatasyncMs = median(5, () => {
        writeSync(fd, big);
        const t = now();
        fdatasyncSync(fd);
        return now() - t;
      });
      const t = now();
      for (let i = 0; i < 16; i++) writeSync(fd, big.subarray(0, MIB));
      writeMBps = 16 / ((now() - t) / 1000);
      const calls = 100_000;
      const ts = now();
      for (let i = 0; i < calls; i++) fstatSync(fd);
      fstatUs = ((now() - ts) * 1000) / calls;
    } finally {
      closeSync(fd);
    }
    const figures = {
      pageFaultUs: fault,
      residentPageUs: resident,
      nodeStartMs: nodeStart,
      cliStartMs: cliStart,
      createUs: create,
      createFdatasyncUs: createSync,
      readReusedBufferUs: readReused,
      readFreshBufferUs: readFresh,
      fdatasync4MiBMs: fdatasyncMs,
      pageCacheWriteMBps: writeMBps,
      fstatUs,
      files,
    };
    return {
      figures,
      notes: [
        "page fault: first write to each 4 KiB page of a fresh 64 MiB buffer (median of 3 buffers), against writing the same pages again",
        `process start: median of 5 \`node -e 0\` and \`node dist/cli.js --version\` (the floor under every offline CLI restore)`,
        `small files: ${files} files of 4 KiB in one directory (page cache warm); read = open, one read, close, into one reused 128 KiB buffer or a fresh 136 KiB buffer per file (GNU cat's way: a mapping and an unmapping per file); median of 3 passes`,
        "fdatasync: after a 4 MiB write to the same file, median of 5; page-cache write: 16 MiB in 1 MiB writes; fstat: one syscall on an open descriptor, 100k times",
      ],
      table: [
        ["page fault (first touch of a 4 KiB page)", r3(fault), "us"],
        ["touch of a resident page", r3(resident), "us"],
        ["process start: node -e 0", r3(nodeStart), "ms"],
        ["process start: pvjournal --version", r3(cliStart), "ms"],
        ["small file: create, write 4 KiB, close", r3(create), "us"],
        ["small file: create, write 4 KiB, fdatasync, close", r3(createSync), "us"],
        ["small file: open, read, close (reused buffer)", r3(readReused), "us"],
        ["small file: open, read, close (fresh 136 KiB buffer, as GNU cat)", r3(readFresh), "us"],
        ["fdatasync after a 4 MiB write", r3(fdatasyncMs), "ms"],
        ["page-cache write, 1 MiB writes", r3(writeMBps), "MiB/s"],
        ["one syscall (fstat)", r3(fstatUs), "us"],
      ],
    };
  } finally {
    s.cleanup();
  }
}
