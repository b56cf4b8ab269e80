// Intercept capture (capture.mode: intercept): direct I/O on the backing
// volume's filesystem vs. the same I/O through the sidecar's FUSE mount, same
// run, same filesystem, reported as ratios (intercept ÷ direct).
//
// A real `pvjournal sidecar` child serves BENCH/vol at BENCH/mnt; the direct
// runs use BENCH/direct (same filesystem, no FUSE). The I/O runs in a worker
// thread of this process (synchronous calls, like an app), so that the main
// thread can sample the sidecar's /v1/status and /proc/PID/stat meanwhile.
// Every 8 KiB of data written carries a unique stamp: the journal stores a
// block whose content it already has only once, so repeated buffers would
// flatter it.
//
// Workloads: (1) sequential 1 MiB writes then fsync; (2) 8 KiB random writes
// into a preallocated file, fsync every 32; (3) random 4 KiB reads of a file
// read once before (page cache); (4) pgbench -c 4 on PostgreSQL 15 with a
// CHECKPOINT every 2 s, initdb'd in the mount vs. in the direct dir; (5)
// write -> durable latency, two ways: (a) paced 8 KiB write + fdatasync, the
// fdatasync's latency (what an app waits for: journal group commit + volume
// fdatasync; an upper bound of the journal part), and (b) under the load of
// (1) and (2): /v1/status `capture.intercept.log.lastCommitMs` polled every
// 20 ms, each new commit's value is the age of its oldest record when the
// commit became durable = the worst write -> durable latency in that commit;
// (6) journal directory growth (segments, and segments + SQLite index) per
// byte written by (2); (7) sidecar CPU (utime+stime of all its threads from
// /proc/PID/stat) per GiB written, for (1) and (2).
import { execFileSync, spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { CLI, dirBytes, freePort, now, percentile, r3, scratch } from "../lib.mjs";

export const name = "intercept";

const PG_BIN = "/usr/lib/postgresql/15/bin";
const MIB = 2 ** 20;
const GIB = 2 ** 30;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const GOALS = {
  seq: 0.5,
  randw: 0.45,
  randr: 0.9,
  pgbench: 0.5,
  p99DurableMs: 50,
  journalBytesPerByte: 1.2,
};

/** The I/O of every workload, run in a worker thread (CommonJS, eval). */
const IO_WORKER = `
const { parentPort, workerData: t } = require("node:worker_threads");
const fs = require("node:fs");
const { randomFillSync } = require("node:crypto");
const now = () => Number(process.hrtime.bigint()) / 1e6;
const pause = new Int32Array(new SharedArrayBuffer(4));
let stamp = BigInt(t.seed) << 32n;
// Unique content per 8 KiB: random bytes, and a counter at every 8 KiB.
function stamped(buf) {
  for (let o = 0; o + 8 <= buf.length; o += 8192) buf.writeBigUInt64LE(stamp++, o);
  return buf;
}
let x = t.seed >>> 0;
const rnd = (n) => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x % n; };
function writeFile(file, bytes, chunk) {
  const buf = randomFillSync(Buffer.allocUnsafe(chunk));
  const fd = fs.openSync(file, "w");
  const t0 = now();
  for (let off = 0; off < bytes; off += chunk) fs.writeSync(fd, stamped(buf), 0, Math.min(chunk, bytes - off), off);
  const tw = now();
  fs.fsyncSync(fd);
  const t1 = now();
  fs.closeSync(fd);
  return { ms: t1 - t0, writeMs: tw - t0, fsyncMs: t1 - tw, bytes };
}
const tasks = {
  seq: () => writeFile(t.file, t.bytes, 1 << 20),
  prealloc: () => writeFile(t.file, t.bytes, 1 << 20),
  randw() {
    const buf = randomFillSync(Buffer.allocUnsafe(8192));
    const blocks = t.bytes / 8192;
    const fd = fs.openSync(t.file, "r+");
    let ops = 0;
    const t0 = now();
    const until = t0 + t.ms;
    while (ops < t.maxOps) {
      fs.writeSync(fd, stamped(buf), 0, 8192, rnd(blocks) * 8192);
      ops += 1;
      if (ops % t.fsyncEvery === 0) {
        fs.fsyncSync(fd);
        if (now() >= until) break;
      }
    }
    fs.fsyncSync(fd);
    const ms = now() - t0;
    fs.closeSync(fd);
    return { ops, ms, bytes: ops * 8192 };
  },
  randr() {
    const fd = fs.openSync(t.file, "r");
    const big = Buffer.allocUnsafe(1 << 20);
    const tw = now();
    for (let off = 0; off < t.bytes; off += big.length) fs.readSync(fd, big, 0, big.length, off);
    const warmMs = now() - tw;
    const buf = Buffer.allocUnsafe(4096);
    const blocks = t.bytes / 4096;
    let ops = 0;
    const t0 = now();
    const until = t0 + t.ms;
    for (;;) {
      for (let i = 0; i < 256; i++) fs.readSync(fd, buf, 0, 4096, rnd(blocks) * 4096);
      ops += 256;
      if (now() >= until) break;
    }
    const ms = now() - t0;
    fs.closeSync(fd);
    return { ops, ms, warmMs };
  },
  lat() {
    const buf = randomFillSync(Buffer.allocUnsafe(8192));
    const blocks = t.bytes / 8192;
    const fd = fs.openSync(t.file, "r+");
    const write = [];
    const sync = [];
    for (let i = 0; i < t.n; i++) {
      const a = now();
      fs.writeSync(fd, stamped(buf), 0, 8192, rnd(blocks) * 8192);
      const b = now();
      fs.fdatasyncSync(fd);
      const c = now();
      write.push(b - a);
      sync.push(c - b);
      Atomics.wait(pause, 0, 0, t.intervalMs);
    }
    fs.closeSync(fd);
    return { write, sync };
  },
};
parentPort.postMessage(tasks[t.task]());
`;

function io(task) {
  return new Promise((resolve, reject) => {
    const w = new Worker(IO_WORKER, { eval: true, workerData: { seed: 1, ...task } });
    w.once("message", resolve);
    w.once("error", reject);
    w.once("exit", (code) => code !== 0 && reject(new Error(`io worker exited ${code}`)));
  });
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process (all threads), seconds. */
function cpuOf(pid) {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

function isMounted(mp) {
  try {
    return readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .some((l) => l.split(" ")[4] === mp);
  } catch {
    return false;
  }
}

/** The FUSE connection id of the mount at `mp` (its device minor, from mountinfo), or null. */
function fuseConnection(mp) {
  try {
    for (const l of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
      const f = l.split(" ");
      if (f[4] === mp) return Number(f[2].split(":")[1]);
    }
  } catch {}
  return null;
}

/** Aborts FUSE connection `id` (mounting fusectl first if needed); true when done. */
function abortFuse(id) {
  const ctl = "/sys/fs/fuse/connections";
  if (!existsSync(join(ctl, String(id))))
    spawnSync("mount", ["-t", "fusectl", "fusectl", ctl], { stdio: "ignore" });
  try {
    writeFileSync(join(ctl, String(id), "abort"), "1");
    return true;
  } catch {
    return false;
  }
}

/** Bytes of the journal's segment files only (the data; the rest is the SQLite index). */
function segmentBytes(dir) {
  let total = 0;
  for (const n of readdirSync(dir)) if (n.endsWith(".pvj")) total += statSync(join(dir, n)).size;
  return total;
}

async function startSidecar(dir, { vol, mnt, journal }) {
  const port = await freePort();
  const cfg = join(dir, "sidecar.yaml");
  mkdirSync(join(dir, "restore"), { recursive: true });
  writeFileSync(
    cfg,
    [
      "sources:",
      "  - name: data",
      `    path: ${vol}`,
      `    mountPoint: ${mnt}`,
      "journal:",
      `  dir: ${journal}`,
      "capture:",
      "  mode: intercept",
      "api:",
      `  listen: 127.0.0.1:${port}`,
      "checkpoints:",
      "  interval: 0s",
      "restore:",
      `  allowedRoots: [${join(dir, "restore")}]`,
      "log:",
      "  level: warn",
      "",
    ].join("\n"),
  );
  // BENCH_INTERCEPT_NODE_ARGS: node flags for the sidecar, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
  // (Node 20 refuses --cpu-prof in NODE_OPTIONS); the profile is written on a clean exit.
  const nodeArgs = (process.env.BENCH_INTERCEPT_NODE_ARGS ?? "").split(" ").filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, CLI, "sidecar", "-c", cfg], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr = (stderr + d).slice(-8000);
  });
  const exited = new Promise((r) => child.on("close", r));
  const base = `http://127.0.0.1:${port}`;
  const t = now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sidecar exited ${child.exitCode}: ${stderr}`);
    const ok = await fetch(`${base}/readyz`)
      .then((r) => r.status === 200)
      .catch(() => false);
    if (ok) break;
    if (now() - t > 60_000) {
      child.kill("SIGKILL");
      throw new Error(`sidecar not ready after 60 s: ${stderr}`);
    }
    await sleep(25);
  }
  const conn = fuseConnection(mnt);
  return {
    pid: child.pid,
    readyMs: now() - t,
    stderr: () => stderr,
    async status() {
      const r = await fetch(`${base}/v1/status`);
      return (await r.json()).capture.intercept;
    },
    /**
     * SIGTERM; after `graceMs` SIGKILL, and when even that does not end it (a
     * thread of the sidecar blocked on its own mount, see stop() below), an
     * abort of its FUSE connection through fusectl; then a lazy unmount.
     * Returns how it ended.
     */
    async stop(graceMs) {
      const t0 = now();
      // Workaround: InterceptCapture.stop() stats the mount point from the
      // thread that serves it; with the root's attributes out of the kernel's
      // 1 s cache that GETATTR waits for itself forever. A stat from here
      // (answered by the sidecar) refreshes the cache just before.
      try {
        statSync(mnt);
      } catch {}
      child.kill("SIGTERM");
      const within = (ms) => Promise.race([exited.then(() => true), sleep(ms).then(() => false)]);
      const clean = await within(graceMs);
      let aborted = false;
      if (!clean) {
        child.kill("SIGKILL");
        if (!(await within(1000)) && conn !== null) {
          aborted = abortFuse(conn);
          await within(2000);
        }
      }
      if (isMounted(mnt)) spawnSync("umount", ["-l", mnt]);
      return { cleanExit: clean, aborted, ms: now() - t0 };
    },
  };
}

/**
 * Samples the write log while `fn` runs: each new commit's lastCommitMs (its
 * oldest record's submit -> durable), and how many commits the polls missed.
 */
async function sampled(sc, fn) {
  const lat = [];
  let stop = false;
  let polls = 0;
  let prev = (await sc.status()).log;
  const first = prev;
  const poller = (async () => {
    while (!stop) {
      await sleep(20);
      const log = (await sc.status().catch(() => null))?.log;
      if (!log) continue;
      polls += 1;
      if (log.commits > prev.commits) lat.push(log.lastCommitMs);
      prev = log;
    }
  })();
  const cpu0 = cpuOf(sc.pid);
  let res;
  try {
    res = await fn();
  } finally {
    stop = true;
    await poller;
  }
  const cpu = cpuOf(sc.pid) - cpu0;
  const last = (await sc.status()).log;
  return {
    res,
    cpuSeconds: cpu,
    commits: last.commits - first.commits,
    commitSamples: lat.length,
    commitMs: lat,
    polls,
    commitMsP50: percentile(lat, 50),
    commitMsP99: percentile(lat, 99),
    commitMsMax: percentile(lat, 100),
  };
}

/** Waits until the write log has nothing queued (one workload must not bleed into the next). */
async function drained(sc) {
  for (let i = 0; i < 600; i++) {
    const log = (await sc.status()).log;
    if (log.queuedBytes === 0 && log.durable === log.submitted) return;
    await sleep(50);
  }
}

// ---------------------------------------------------------------- PostgreSQL

function asPostgres(cmd, args, opts = {}) {
  const res = spawnSync("runuser", ["-u", "postgres", "--", join(PG_BIN, cmd), ...args], {
    encoding: "utf8",
    maxBuffer: 64 * MIB,
    ...opts,
  });
  if (res.status !== 0)
    throw new Error(`${cmd} ${args.join(" ")}: exit ${res.status}: ${res.stderr?.slice(-2000)}`);
  return res.stdout;
}

function asPostgresAsync(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn("runuser", ["-u", "postgres", "--", join(PG_BIN, cmd), ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      err = (err + d).slice(-4000);
    });
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd}: exit ${code}: ${err}`)),
    );
  });
}

function pgAvailable() {
  if (process.getuid?.() !== 0) return "needs root (to run PostgreSQL as the postgres user)";
  for (const b of ["initdb", "pg_ctl", "pgbench", "psql"])
    if (!existsSync(join(PG_BIN, b))) return `${join(PG_BIN, b)} not installed`;
  if (spawnSync("id", ["postgres"], { stdio: "ignore" }).status !== 0) return "no postgres user";
  return null;
}

/** initdb, pgbench -i -s SCALE, then pgbench -c 4 -T SECONDS with a CHECKPOINT every 2 s. */
async function pgbench(dataDir, sockDir, port, { scale, seconds }) {
  mkdirSync(dataDir, { recursive: true });
  chownSync(dataDir, pgUid(), pgGid());
  chmodSync(dataDir, 0o700);
  const conn = ["-h", sockDir, "-p", String(port)];
  let t = now();
  asPostgres("initdb", ["-D", dataDir, "--auth=trust", "-U", "postgres", "-E", "UTF8"]);
  const initdbMs = now() - t;
  asPostgres("pg_ctl", [
    "-D",
    dataDir,
    "-l",
    join(sockDir, `pg-${port}.log`),
    "-w",
    "-o",
    `-p ${port} -k ${sockDir} -c listen_addresses=''`,
    "start",
  ]);
  try {
    t = now();
    asPostgres("pgbench", [...conn, "-i", "-s", String(scale), "-q", "postgres"]);
    const initMs = now() - t;
    let stop = false;
    let checkpoints = 0;
    const cp = (async () => {
      while (!stop) {
        await sleep(2000);
        if (stop) break;
        await asPostgresAsync("psql", [...conn, "-XAtq", "-c", "CHECKPOINT", "postgres"])
          .then(() => {
            checkpoints += 1;
          })
          .catch(() => undefined);
      }
    })();
    let out;
    try {
      out = await asPostgresAsync("pgbench", [
        ...conn,
        "-c",
        "4",
        "-j",
        "2",
        "-T",
        String(seconds),
        "postgres",
      ]);
    } finally {
      stop = true;
      await cp;
    }
    const tps = Number(/tps = ([\d.]+)/.exec(out)?.[1] ?? Number.NaN);
    const latMs = Number(/latency average = ([\d.]+) ms/.exec(out)?.[1] ?? Number.NaN);
    return { initdbMs, initMs, tps, latMs, checkpoints };
  } finally {
    spawnSync("runuser", [
      "-u",
      "postgres",
      "--",
      join(PG_BIN, "pg_ctl"),
      "-D",
      dataDir,
      "-m",
      "fast",
      "-w",
      "stop",
    ]);
  }
}

let pgIds = null;
function pgIdsOf() {
  pgIds ??= {
    uid: Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim()),
    gid: Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim()),
  };
  return pgIds;
}
const pgUid = () => pgIdsOf().uid;
const pgGid = () => pgIdsOf().gid;

// ---------------------------------------------------------------- the scenario

function skipped(why) {
  return {
    skipped: why,
    figures: { skipped: why },
    notes: [`skipped: ${why}`],
    table: [["intercept benchmarks", "skipped", why]],
  };
}

export async function run({ quick, tiny }) {
  if (!existsSync("/dev/fuse")) return skipped("/dev/fuse is missing (intercept mode needs FUSE)");
  if (process.getuid?.() !== 0)
    return skipped("needs root (CAP_SYS_ADMIN) to mount FUSE; run as root");
  if (!existsSync(CLI)) throw new Error("dist/cli.js missing: run `npm run build` first");
  const size = tiny
    ? { seq: 16 * MIB, file: 16 * MIB, randwMs: 1000, randrMs: 500, lat: 20, reps: 1 }
    : quick
      ? { seq: 128 * MIB, file: 128 * MIB, randwMs: 5000, randrMs: 3000, lat: 200, reps: 1 }
      : { seq: 256 * MIB, file: 256 * MIB, randwMs: 10_000, randrMs: 5000, lat: 500, reps: 2 };
  const pgWhy = tiny ? "skipped in --tiny (takes minutes)" : pgAvailable();
  const pgCfg = { scale: 10, seconds: quick ? 10 : 20 };

  const s = scratch("pvj-bench-intercept-");
  chmodSync(s.dir, 0o755);
  const vol = join(s.dir, "vol");
  const mnt = join(s.dir, "mnt");
  const direct = join(s.dir, "direct");
  const journal = join(s.dir, "journal");
  for (const d of [vol, mnt, direct]) mkdirSync(d);
  let sc = null;
  let stopped = null;
  try {
    sc = await startSidecar(s.dir, { vol, mnt, journal });
    const where = { direct, intercept: mnt };
    const fig = { readyMs: sc.readyMs, sizes: size, pgbenchConfig: pgCfg, clkTck: CLK_TCK };

    // (1) sequential 1 MiB writes, then fsync; reps alternate direct/intercept.
    const seq = { direct: [], intercept: [], load: [] };
    for (let rep = 0; rep < size.reps; rep++) {
      for (const k of ["direct", "intercept"]) {
        const file = join(where[k], `seq-${rep}`);
        const m = await sampled(sc, () => io({ task: "seq", file, bytes: size.seq, seed: rep }));
        seq[k].push({ MBps: m.res.bytes / 1e6 / (m.res.ms / 1000), ...m.res });
        if (k === "intercept") seq.load.push(m);
        await drained(sc);
        rmSync(file);
      }
    }

    // (2) 8 KiB random writes in a preallocated file, fsync every 32.
    const randw = { direct: [], intercept: [], load: [], journal: [] };
    for (const k of ["direct", "intercept"]) {
      await io({ task: "prealloc", file: join(where[k], "rand"), bytes: size.file, seed: 7 });
    }
    await drained(sc);
    for (let rep = 0; rep < size.reps; rep++) {
      for (const k of ["direct", "intercept"]) {
        const j0 = { all: dirBytes(journal), seg: segmentBytes(journal) };
        const m = await sampled(sc, () =>
          io({
            task: "randw",
            file: join(where[k], "rand"),
            bytes: size.file,
            ms: size.randwMs,
            maxOps: 1e9,
            fsyncEvery: 32,
            seed: 100 + rep,
          }),
        );
        randw[k].push({ iops: m.res.ops / (m.res.ms / 1000), ...m.res });
        if (k === "intercept") {
          await drained(sc);
          randw.load.push(m);
          randw.journal.push({
            bytesWritten: m.res.bytes,
            allBytes: dirBytes(journal) - j0.all,
            segmentBytes: segmentBytes(journal) - j0.seg,
          });
        }
      }
    }

    // (3) random 4 KiB reads of a cached file (the random-write file, read whole first).
    const randr = { direct: [], intercept: [] };
    for (const k of ["direct", "intercept"]) {
      const r = await io({
        task: "randr",
        file: join(where[k], "rand"),
        bytes: size.file,
        ms: size.randrMs,
      });
      randr[k].push({ iops: r.ops / (r.ms / 1000), ...r });
    }

    // (5a) paced 8 KiB write + fdatasync: the app's write -> durable.
    const lat = {};
    for (const k of ["direct", "intercept"]) {
      const r = await io({
        task: "lat",
        file: join(where[k], "rand"),
        bytes: size.file,
        n: size.lat,
        intervalMs: 5,
        seed: 9,
      });
      lat[k] = {
        n: r.sync.length,
        writeP50: percentile(r.write, 50),
        writeP99: percentile(r.write, 99),
        fdatasyncP50: percentile(r.sync, 50),
        fdatasyncP99: percentile(r.sync, 99),
        fdatasyncMax: percentile(r.sync, 100),
      };
    }
    for (const k of ["direct", "intercept"]) rmSync(join(where[k], "rand"));
    await drained(sc);

    // (4) pgbench.
    let pg = null;
    if (!pgWhy) {
      const sock = join(s.dir, "pgsock");
      mkdirSync(sock);
      chownSync(sock, pgUid(), pgGid());
      pg = {};
      for (const k of ["direct", "intercept"]) {
        const port = await freePort();
        const m = await sampled(sc, () => pgbench(join(where[k], "pg"), sock, port, pgCfg));
        pg[k] = { ...m.res, sidecarCpuSeconds: m.cpuSeconds };
        if (k === "intercept") pg.load = m;
      }
    }

    const status = await sc.status();
    stopped = await sc.stop(3000);
    sc = null;

    // ------------------------------------------------------------ figures
    const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
    const div = (a, b) => (a === null || b === null || !b ? null : a / b);
    const seqD = mean(seq.direct.map((x) => x.MBps));
    const seqI = mean(seq.intercept.map((x) => x.MBps));
    const rwD = mean(randw.direct.map((x) => x.iops));
    const rwI = mean(randw.intercept.map((x) => x.iops));
    const rrD = mean(randr.direct.map((x) => x.iops));
    const rrI = mean(randr.intercept.map((x) => x.iops));
    const jWritten = randw.journal.reduce((a, j) => a + j.bytesWritten, 0);
    const jSeg = div(
      randw.journal.reduce((a, j) => a + j.segmentBytes, 0),
      jWritten,
    );
    const jAll = div(
      randw.journal.reduce((a, j) => a + j.allBytes, 0),
      jWritten,
    );
    const cpuPerGiB = (loads, bytes) =>
      div(
        loads.reduce((a, m) => a + m.cpuSeconds, 0),
        bytes / GIB,
      );
    const seqCpu = cpuPerGiB(
      seq.load,
      seq.intercept.reduce((a, x) => a + x.bytes, 0),
    );
    const rwCpu = cpuPerGiB(randw.load, jWritten);
    const pooled = (loads) => loads.flatMap((m) => m.commitMs);
    const loadP99 = (loads) => percentile(pooled(loads), 99);
    const loadP50 = (loads) => percentile(pooled(loads), 50);
    const ratios = {
      seq: div(seqI, seqD),
      randw: div(rwI, rwD),
      randr: div(rrI, rrD),
      pgbench: pg ? div(pg.intercept.tps, pg.direct.tps) : null,
    };
    const met = {
      seq: ratios.seq !== null && ratios.seq >= GOALS.seq,
      randw: ratios.randw !== null && ratios.randw >= GOALS.randw,
      randr: ratios.randr !== null && ratios.randr >= GOALS.randr,
      pgbench: ratios.pgbench === null ? null : ratios.pgbench >= GOALS.pgbench,
      p99Durable: lat.intercept.fdatasyncP99 < GOALS.p99DurableMs,
      p99DurableUnderRandwLoad: loadP99(randw.load) < GOALS.p99DurableMs,
      journalBytesPerByte: jAll !== null && jAll <= GOALS.journalBytesPerByte,
    };
    Object.assign(fig, {
      seq,
      randw,
      randr,
      latency: lat,
      pgbench: pg,
      pgbenchSkipped: pgWhy,
      journalPerByteSegments: jSeg,
      journalPerByteAll: jAll,
      cpuSecondsPerGiB: { seq: seqCpu, randw: rwCpu },
      ratios,
      goals: GOALS,
      met,
      finalStatus: status,
      stop: stopped,
    });
    const yes = (b) => (b === null ? "n/a" : b ? "yes" : "NO");
    const pgRow = (label, key, unit, f = (x) => x) =>
      pg
        ? [
            label,
            unit,
            r3(f(pg.direct[key])),
            r3(f(pg.intercept[key])),
            r3(div(f(pg.intercept[key]), f(pg.direct[key]))),
            "",
            "",
          ]
        : [label, unit, null, null, null, "", `skipped: ${pgWhy}`];
    const rows = [
      [
        "(1) sequential 1 MiB writes + fsync",
        "MB/s",
        r3(seqD),
        r3(seqI),
        r3(ratios.seq),
        `≥ ${GOALS.seq}`,
        yes(met.seq),
      ],
      [
        "(2) 8 KiB random writes, fsync every 32",
        "IOPS",
        r3(rwD),
        r3(rwI),
        r3(ratios.randw),
        `≥ ${GOALS.randw}`,
        yes(met.randw),
      ],
      [
        "(3) random 4 KiB reads, cached file",
        "IOPS",
        r3(rrD),
        r3(rrI),
        r3(ratios.randr),
        `≥ ${GOALS.randr}`,
        yes(met.randr),
      ],
      pg
        ? [
            "(4) pgbench -c 4 (CHECKPOINT every 2 s)",
            "tps",
            r3(pg.direct.tps),
            r3(pg.intercept.tps),
            r3(ratios.pgbench),
            `≥ ${GOALS.pgbench}`,
            yes(met.pgbench),
          ]
        : ["(4) pgbench -c 4", "tps", null, null, null, `≥ ${GOALS.pgbench}`, `skipped: ${pgWhy}`],
      pgRow("(4) pgbench latency average", "latMs", "ms"),
      pgRow("(4) initdb", "initdbMs", "s", (x) => x / 1000),
      pgRow(`(4) pgbench -i -s ${pgCfg.scale}`, "initMs", "s", (x) => x / 1000),
      [
        "(5a) 8 KiB write + fdatasync, paced: fdatasync p50",
        "ms",
        r3(lat.direct.fdatasyncP50),
        r3(lat.intercept.fdatasyncP50),
        r3(div(lat.intercept.fdatasyncP50, lat.direct.fdatasyncP50)),
        "",
        "",
      ],
      [
        "(5a) ... fdatasync p99 (write -> durable in journal + volume)",
        "ms",
        r3(lat.direct.fdatasyncP99),
        r3(lat.intercept.fdatasyncP99),
        r3(div(lat.intercept.fdatasyncP99, lat.direct.fdatasyncP99)),
        `< ${GOALS.p99DurableMs} ms`,
        yes(met.p99Durable),
      ],
      [
        "(5a) ... write(2) p50 (journal submit, no wait)",
        "ms",
        r3(lat.direct.writeP50),
        r3(lat.intercept.writeP50),
        r3(div(lat.intercept.writeP50, lat.direct.writeP50)),
        "",
        "",
      ],
      [
        "(5b) under (2): commit latency p50 (oldest record submit -> durable)",
        "ms",
        null,
        r3(loadP50(randw.load)),
        null,
        "",
        "",
      ],
      [
        "(5b) under (2): commit latency p99",
        "ms",
        null,
        r3(loadP99(randw.load)),
        null,
        `< ${GOALS.p99DurableMs} ms`,
        yes(met.p99DurableUnderRandwLoad),
      ],
      ["(5b) under (1): commit latency p50", "ms", null, r3(loadP50(seq.load)), null, "", ""],
      [
        "(5b) under (1): commit latency p99 (no fsync until the end: queue up to 64 MiB)",
        "ms",
        null,
        r3(loadP99(seq.load)),
        null,
        "",
        "",
      ],
      ["(6) journal growth per byte written by (2), segments", "x", null, r3(jSeg), null, "", ""],
      [
        "(6) journal growth per byte written by (2), segments + index",
        "x",
        null,
        r3(jAll),
        null,
        `≤ ${GOALS.journalBytesPerByte}`,
        yes(met.journalBytesPerByte),
      ],
      [
        "(7) sidecar CPU per GiB written, (1) sequential",
        "CPU s/GiB",
        null,
        r3(seqCpu),
        null,
        "",
        "",
      ],
      [
        "(7) sidecar CPU per GiB written, (2) 8 KiB random",
        "CPU s/GiB",
        null,
        r3(rwCpu),
        null,
        "",
        "",
      ],
      pg
        ? [
            "(7) sidecar CPU during pgbench (init + run)",
            "CPU s",
            r3(pg.direct.sidecarCpuSeconds),
            r3(pg.intercept.sidecarCpuSeconds),
            null,
            "",
            "",
          ]
        : ["(7) sidecar CPU during pgbench", "CPU s", null, null, null, "", "skipped"],
      ["sidecar start to /readyz 200", "ms", null, r3(fig.readyMs), null, "", ""],
      [
        "sidecar exit on SIGTERM (else SIGKILL after 3 s)",
        "",
        null,
        stopped.cleanExit
          ? `clean, ${r3(stopped.ms)} ms`
          : `did not exit${stopped.aborted ? " (SIGKILL + fusectl abort)" : ""}`,
        null,
        "",
        "",
      ],
    ];
    return {
      figures: fig,
      notes: [
        `direct = ${direct} and intercept = the sidecar's mount of ${vol}, same filesystem (${fsType(s.dir)}), same run; a real \`pvjournal sidecar\` child, journal block size 8 KiB (the intercept default)`,
        `sizes: sequential ${size.seq / MIB} MiB per run, random writes/reads in a ${size.file / MIB} MiB file for ${size.randwMs / 1000} s / ${size.randrMs / 1000} s; ${size.reps} rep(s) alternating direct and intercept, mean of reps; every 8 KiB written is unique (no dedup)`,
        "(5a): paced 8 KiB write then fdatasync every 5 ms; fdatasync returns once the journal group commit and the volume fdatasync are durable: an upper bound of write -> durable in the journal as the app sees it",
        "(5b): /v1/status capture.intercept.log polled every 20 ms during the workload; each new commit's lastCommitMs = age of the oldest record of that commit when it became durable (the worst write in it); commits between two polls are not sampled",
        "(6): growth of the journal directory (segments; segments + SQLite index and WAL) during (2) through the mount, divided by the bytes (2) wrote",
        "(7): /proc/PID/stat utime+stime of the sidecar (all threads) during the workload, per GiB the workload wrote through the mount",
        pg
          ? `(4): PostgreSQL 15 initdb'd in the mount vs. the direct dir, run as postgres, pgbench -i -s ${pgCfg.scale}, then pgbench -c 4 -j 2 -T ${pgCfg.seconds} with psql CHECKPOINT every 2 s`
          : `(4): pgbench ${pgWhy}`,
      ],
      compare: {
        columns: ["measure", "unit", "direct", "intercept", "intercept ÷ direct", "goal", "met"],
        rows,
      },
      table: rows.map((r) => [r[0], r[3], r[1]]),
    };
  } finally {
    if (sc) stopped = await sc.stop(3000).catch(() => null);
    if (isMounted(mnt)) spawnSync("umount", ["-l", mnt]);
    s.cleanup();
  }
}

function fsType(dir) {
  try {
    return execFileSync("df", ["-T", dir], { encoding: "utf8" }).split("\n")[1].split(/\s+/)[1];
  } catch {
    return "unknown";
  }
}
