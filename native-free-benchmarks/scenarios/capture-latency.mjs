// Capture: write-to-durable latency, CPU per GB changed, sidecar memory, and
// the cost of capturing one changed block of a big file vs. `cat` of it.
//
// Latency: the capture runs in-process (real chokidar, real Journal with
// fdatasync, shipped default debounce 100 ms / maxWait 500 ms); a paced writer
// runs as a CHILD process (capture-writer.mjs) so its writes are never delayed
// by the capture's work and its CPU is not counted. Every write carries a
// unique marker; a write is durable when journal.append() — which resolves
// after fdatasync and the index commit — has returned a blob holding its
// marker. Latency = that moment minus the moment the writer's write(2)
// returned. A write overwritten by a later one before it was captured has no
// latency of its own (reported as superseded).
// RSS: a real `pvjournal sidecar` child process over N small files, after its
// initial scan.
import { execFileSync, spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Capture } from "../../dist/capture/capture.js";
import { Journal } from "../../dist/journal/journal.js";
import { silentLogger } from "../../dist/log/logger.js";
import { BlockHasher } from "../../dist/util/hash.js";
import { CLI, freePort, now, percentile, prng, r3, scratch } from "../lib.mjs";

export const name = "capture-latency";

const here = dirname(fileURLToPath(import.meta.url));
const WRITER = join(here, "..", "capture-writer.mjs");
/** The shipped defaults (config/pvjournal.yaml), no periodic rescan. */
const CAPTURE = {
  debounce: 100,
  maxWait: 500,
  rescanInterval: 0,
  usePolling: false,
  pollInterval: 250,
};
const BLOCK = 64 * 1024;
const clock = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const cpuSeconds = (u) => (u.user + u.system) / 1e6;
const GIB = 1024 ** 3;
/** Must match capture-writer.mjs: "PVJMARK!" little-endian, at every 4 KiB-aligned write. */
const MARK = Buffer.from("PVJMARK!").readBigUInt64LE(0);
const WRITE_BYTES = 4096;

/** In-process capture of one source into a fresh journal, recording when each marker became durable. */
async function startCapture(src, journalDir) {
  const journal = await Journal.open({ dir: journalDir, blockSize: BLOCK });
  const hasher = await BlockHasher.create();
  const durableAt = new Map();
  const append = journal.append.bind(journal);
  journal.append = async (bodies) => {
    const res = await append(bodies);
    const t = clock();
    for (const b of bodies) {
      if (b.type !== "blob") continue;
      for (let off = 0; off + 16 <= b.data.length; off += WRITE_BYTES) {
        if (b.data.readBigUInt64LE(off) !== MARK) continue;
        const id = Number(b.data.readBigUInt64LE(off + 8));
        if (!durableAt.has(id)) durableAt.set(id, t);
      }
    }
    return res;
  };
  const capture = new Capture({
    journal,
    hasher,
    sources: [{ name: "data", path: src, ignore: [] }],
    capture: CAPTURE,
    logger: silentLogger(),
  });
  const t = now();
  await capture.start();
  const scanMs = now() - t;
  return {
    capture,
    journal,
    durableAt,
    scanMs,
    async close() {
      await capture.stop();
      await journal.close();
    },
  };
}

/** Runs the paced writer child; resolves with each write's completion time and the totals. */
function runWriter(cfg) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER, JSON.stringify(cfg)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const writtenAt = new Map();
    let totals = null;
    createInterface({ input: child.stdout }).on("line", (line) => {
      const [a, b, c] = line.split(" ");
      if (a === "done") totals = { ops: Number(b), bytes: Number(c) };
      else writtenAt.set(Number(a), Number(b));
    });
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 && totals
        ? resolve({ writtenAt, ...totals })
        : reject(new Error(`writer exited ${code}`)),
    );
  });
}

/** Drives one workload against an in-process capture: latencies, CPU, bytes. */
async function measure(rig, writerCfg) {
  const cpu0 = process.cpuUsage();
  const read0 = rig.capture.counters.bytesRead;
  const t0 = now();
  const w = await runWriter(writerCfg);
  // Whatever the event path has not captured yet is captured by a settle.
  await rig.capture.settle();
  const seconds = (now() - t0) / 1000;
  const cpu = cpuSeconds(process.cpuUsage(cpu0));
  const lat = [];
  for (const [id, t] of w.writtenAt) {
    const d = rig.durableAt.get(id);
    if (d !== undefined) lat.push(Math.max(0, d - t));
  }
  return {
    ops: w.ops,
    bytes: w.bytes,
    samples: lat.length,
    superseded: w.ops - lat.length,
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
    max: percentile(lat, 100),
    cpuSecondsPerGB: cpu / (w.bytes / GIB),
    cpuShare: cpu / seconds,
    bytesReadPerByteChanged: (rig.capture.counters.bytesRead - read0) / w.bytes,
  };
}

function procStatus(pid) {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (key) =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? Number.NaN);
  return { rss: kib("VmRSS") * 1024, hwm: kib("VmHWM") * 1024 };
}

/** A real sidecar child over `src`: time to ready and RSS after the initial scan. */
async function sidecarRss(src, dir) {
  const port = await freePort();
  const cfg = join(dir, "rss.yaml");
  writeFileSync(
    cfg,
    [
      "sources:",
      "  - name: data",
      `    path: ${src}`,
      "journal:",
      `  dir: ${join(dir, "rss-journal")}`,
      "api:",
      `  listen: 127.0.0.1:${port}`,
      "checkpoints:",
      "  interval: 0",
      "drills:",
      "  sandboxRoot: null",
      "restore:",
      "  allowedRoots: []",
      "log:",
      "  level: warn",
      "",
    ].join("\n"),
  );
  const child = spawn(process.execPath, [CLI, "sidecar", "-c", cfg], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  const exited = new Promise((r) => child.on("close", r));
  try {
    const t = now();
    for (;;) {
      if (child.exitCode !== null) throw new Error(`sidecar exited ${child.exitCode}: ${stderr}`);
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`)
        .then((r) => r.status === 200)
        .catch(() => false);
      if (ok) break;
      if (now() - t > 600_000) throw new Error("sidecar not ready after 10 minutes");
      await sleep(50);
    }
    const readyMs = now() - t;
    // Let the post-scan garbage settle, then sample.
    await sleep(2000);
    const mem = procStatus(child.pid);
    return { readyMs, ...mem };
  } finally {
    child.kill("SIGTERM");
    await exited;
  }
}

/** File i is `d<i/perDir>/f<i>` (perDir > 0) or `f<i>` (flat); capture-writer.mjs uses the same names. */
function smallName(i, perDir) {
  return perDir > 0 ? join(`d${Math.floor(i / perDir)}`, `f${i}`) : `f${i}`;
}

function makeSmallFiles(dir, from, to, bytes, rand, perDir) {
  const buf = Buffer.allocUnsafe(bytes);
  for (let i = from; i < to; i++) {
    if (perDir > 0 && i % perDir === 0) mkdirSync(join(dir, `d${i / perDir}`), { recursive: true });
    writeFileSync(join(dir, smallName(i, perDir)), rand.fill(buf));
  }
}

function makeBigFile(file, size, rand) {
  const chunk = Buffer.allocUnsafe(16 * 1024 * 1024);
  const fd = openSync(file, "w");
  for (let off = 0; off < size; off += chunk.length)
    writeSync(fd, rand.fill(chunk), 0, Math.min(chunk.length, size - off));
  closeSync(fd);
}

export async function run({ quick }) {
  const files = 10_000;
  const churnRate = quick ? 200 : 500;
  const churnMs = quick ? 8_000 : 30_000;
  const bigSize = quick ? 256 * 1024 * 1024 : GIB;
  const bigMs = quick ? 8_000 : 30_000;
  const rate10MB = Math.round((10 * 1e6) / WRITE_BYTES);
  const rand = prng(11);
  const s = scratch("pvj-bench-capture-");
  try {
    // (a) 10k small files churning: random 1 KiB in-place rewrites, in 100
    // directories of 100 files (a typical tree) and in one flat directory
    // (chokidar re-lists and lstats a whole directory on each event in it).
    const small = join(s.dir, "small");
    mkdirSync(small);
    makeSmallFiles(small, 0, files, 1024, rand, 100);
    const flat = join(s.dir, "flat");
    mkdirSync(flat);
    makeSmallFiles(flat, 0, files, 1024, rand, 0);
    const churn = async (dir, perDir, journal) => {
      const rig = await startCapture(dir, join(s.dir, journal));
      try {
        const m = await measure(rig, {
          mode: "files",
          path: dir,
          count: files,
          perDir,
          fileBytes: 1024,
          rate: churnRate,
          ms: churnMs,
          seed: 1,
        });
        return { ...m, scanMs: rig.scanMs };
      } finally {
        await rig.close();
      }
    };
    const a = await churn(small, 100, "journal-a");
    const aFlat = await churn(flat, 0, "journal-a-flat");
    const rss10k = await sidecarRss(small, s.dir);

    // (b) random 4 KiB writes at 10 MB/s into one big file.
    const bigDir = join(s.dir, "big");
    mkdirSync(bigDir);
    const big = join(bigDir, "volume.img");
    makeBigFile(big, bigSize, rand);
    const rigB = await startCapture(bigDir, join(s.dir, "journal-b"));
    let b;
    const one = [];
    const cat = [];
    try {
      b = await measure(rigB, {
        mode: "big",
        path: big,
        size: bigSize,
        rate: rate10MB,
        ms: bigMs,
        seed: 2,
      });
      b.scanMs = rigB.scanMs;
      // One changed 4 KiB block: write, then settle (the checkpoint barrier) vs. cat of the file.
      for (let i = 0; i < 5; i++) {
        await sleep(300);
        const fd = openSync(big, "r+");
        writeSync(
          fd,
          rand.fill(Buffer.allocUnsafe(WRITE_BYTES)),
          0,
          WRITE_BYTES,
          rand.int(bigSize / WRITE_BYTES) * WRITE_BYTES,
        );
        closeSync(fd);
        const t = now();
        await rigB.capture.settle();
        one.push(now() - t);
        const tc = now();
        execFileSync("sh", ["-c", `cat "${big}" > /dev/null`]);
        cat.push(now() - tc);
      }
    } finally {
      await rigB.close();
    }

    let rss100k = null;
    if (!quick) {
      makeSmallFiles(small, files, 100_000, 1024, rand, 100);
      mkdirSync(join(s.dir, "rss100k"));
      rss100k = await sidecarRss(small, join(s.dir, "rss100k"));
    }

    const mib = (x) => x / 2 ** 20;
    const oneMs = percentile(one, 50);
    const catMs = percentile(cat, 50);
    const bigLabel = `${bigSize / 2 ** 20} MiB`;
    const figures = {
      smallFiles: { files, dirs: files / 100, rate: churnRate, seconds: churnMs / 1000, ...a },
      smallFilesFlat: { files, dirs: 1, rate: churnRate, seconds: churnMs / 1000, ...aFlat },
      bigFile: { bytes: bigSize, rateMBps: 10, seconds: bigMs / 1000, ...b },
      oneBlock: {
        fileBytes: bigSize,
        settleMsP50: oneMs,
        catMsP50: catMs,
        settleMs: one,
        catMs: cat,
      },
      rss10k,
      rss100k,
      goals: {
        smallFilesP99Under1s: a.p99 !== null && a.p99 < 1000,
        smallFilesFlatP99Under1s: aFlat.p99 !== null && aFlat.p99 < 1000,
        bigFileP99Under1s: b.p99 !== null && b.p99 < 1000,
        rss10kUnder256MiB: rss10k.rss < 256 * 2 ** 20,
      },
    };
    return {
      figures,
      notes: [
        `capture in-process with the shipped defaults (debounce ${CAPTURE.debounce} ms, maxWait ${CAPTURE.maxWait} ms, 64 KiB blocks, native inotify); writer in a child process; latency = write(2) returned -> journal append (fdatasync + index commit) holding the write's marker`,
        `(a) ${files} files of 1 KiB in ${files / 100} directories (flat: all in one), ${churnRate} random in-place 1 KiB rewrites/s for ${churnMs / 1000} s; (b) ${bigLabel} file, random 4 KiB writes at 10 MB/s (${rate10MB}/s) for ${bigMs / 1000} s`,
        "CPU = process.cpuUsage of the capture process (hashing, reading, journaling, chokidar) during the run, per GiB written by the writer; the capture re-reads a whole changed file, so a big file under random writes costs (file size x passes) of reads",
        `one block: 4 KiB written into the ${bigLabel} file, then capture.settle() (the checkpoint barrier: re-read and hash the file, journal the block, walk the source) vs. \`cat file > /dev/null\` (page cache warm), median of 5`,
        "RSS: real `pvjournal sidecar` child after its initial scan (+2 s), /proc VmRSS and VmHWM (peak)",
        "chokidar re-lists a directory and lstats every entry on each event in it (throttled to about once a second, plus once more after): a directory of 10k entries keeps about a core busy under churn, which delays the capture (flat rows)",
        `goals: p99 < 1 s for (a) ${figures.goals.smallFilesP99Under1s ? "MET" : "MISSED"} (flat: ${figures.goals.smallFilesFlatP99Under1s ? "MET" : "MISSED"}) and (b) ${figures.goals.bigFileP99Under1s ? "MET" : "MISSED"}; RSS < 256 MiB at 10k files ${figures.goals.rss10kUnder256MiB ? "MET" : "MISSED"}`,
      ],
      table: [
        ["(a) small files: write-to-durable p50", r3(a.p50), "ms"],
        ["(a) small files: write-to-durable p99 (goal < 1000)", r3(a.p99), "ms"],
        ["(a) small files: samples / superseded", `${a.samples} / ${a.superseded}`, "writes"],
        ["(a) small files: CPU per GiB changed", r3(a.cpuSecondsPerGB), "CPU s/GiB"],
        ["(a) small files: capture CPU share", r3(a.cpuShare), "cores"],
        ["(a) initial scan of 10k files (in-process)", r3(a.scanMs), "ms"],
        ["(a, flat dir) small files: write-to-durable p50", r3(aFlat.p50), "ms"],
        ["(a, flat dir) small files: write-to-durable p99", r3(aFlat.p99), "ms"],
        ["(a, flat dir) samples / superseded", `${aFlat.samples} / ${aFlat.superseded}`, "writes"],
        ["(a, flat dir) capture CPU share", r3(aFlat.cpuShare), "cores"],
        [`(b) ${bigLabel} file @10 MB/s: write-to-durable p50`, r3(b.p50), "ms"],
        [`(b) ${bigLabel} file @10 MB/s: write-to-durable p99 (goal < 1000)`, r3(b.p99), "ms"],
        ["(b) samples / superseded", `${b.samples} / ${b.superseded}`, "writes"],
        ["(b) CPU per GiB changed", r3(b.cpuSecondsPerGB), "CPU s/GiB"],
        ["(b) capture CPU share", r3(b.cpuShare), "cores"],
        ["(b) bytes read per byte changed", r3(b.bytesReadPerByteChanged), "x"],
        [`one changed block in ${bigLabel}: settle (p50)`, r3(oneMs), "ms"],
        [`baseline: cat of the ${bigLabel} file (p50, cached)`, r3(catMs), "ms"],
        ["ratio settle / cat", r3(oneMs / catMs), "x"],
        ["sidecar RSS, 10k files (goal < 256 MiB)", r3(mib(rss10k.rss)), "MiB"],
        ["sidecar peak RSS (VmHWM), 10k files", r3(mib(rss10k.hwm)), "MiB"],
        ["sidecar time to ready, 10k files", r3(rss10k.readyMs), "ms"],
        ["sidecar RSS, 100k files", rss100k ? r3(mib(rss100k.rss)) : null, "MiB"],
        ["sidecar peak RSS (VmHWM), 100k files", rss100k ? r3(mib(rss100k.hwm)) : null, "MiB"],
        ["sidecar time to ready, 100k files", rss100k ? r3(rss100k.readyMs) : null, "ms"],
      ],
    };
  } finally {
    s.cleanup();
  }
}
