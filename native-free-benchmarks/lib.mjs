// Shared helpers for benchmark scenarios: timing, temp dirs, machine facts, peers.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
} from "node:fs";
import { createServer } from "node:net";
import { cpus, tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The built CLI every scenario runs (`npm run build` first). */
export const CLI = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "cli.js");

/** Milliseconds since an arbitrary origin, high resolution. */
export const now = () => Number(process.hrtime.bigint()) / 1e6;

/** Runs fn and returns [result, elapsed ms]. */
export async function timed(fn) {
  const t = now();
  const r = await fn();
  return [r, now() - t];
}

/** Percentile of an array of numbers (p in 0..100). */
export function percentile(xs, p) {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

/** A scratch directory removed by the returned cleanup. */
export function scratch(prefix = "pvj-bench-", base = process.env.BENCH_DIR ?? tmpdir()) {
  const dir = mkdtempSync(join(base, prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** True when a command is on PATH. */
export function have(cmd) {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

/** Runs a command synchronously, returning elapsed ms (throws on failure). */
export function runTimed(cmd, args, opts = {}) {
  const t = now();
  execFileSync(cmd, args, { stdio: ["ignore", "ignore", "pipe"], ...opts });
  return now() - t;
}

/** Facts about the machine the numbers came from. */
export function machine(dir) {
  let fs = "unknown";
  try {
    fs = execFileSync("df", ["-T", dir], { encoding: "utf8" }).split("\n")[1].split(/\s+/)[1];
  } catch {}
  let kernel = "";
  try {
    kernel = readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
  } catch {}
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? "",
    memoryBytes: totalmem(),
    filesystem: fs,
    kernel,
    node: process.version,
  };
}

/** Deterministic pseudo-random bytes (mulberry32), fast enough for GiBs of test data. */
export function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  return {
    next,
    int: (n) => next() % n,
    fill(buf) {
      for (let i = 0; i + 4 <= buf.length; i += 4) buf.writeUInt32LE(next(), i);
      return buf;
    },
  };
}

/** Round to 3 significant digits for tables. */
export const r3 = (x) => (x === null || x === undefined ? null : Number(Number(x).toPrecision(3)));

/** GNU time (Debian package `time`): measures a child's CPU and peak RSS; null when missing. */
export const GNU_TIME = existsSync("/usr/bin/time") ? "/usr/bin/time" : null;
let measuredRuns = 0;

/**
 * Runs a command to completion and measures it: wall ms always; with GNU time
 * also the child's user+system CPU seconds and peak RSS (bytes), else null.
 * Throws with the command's stderr when it fails. Returns its stdout too.
 */
export function runMeasured(cmd, args, opts = {}) {
  const out = join(tmpdir(), `pvj-bench-time-${process.pid}-${++measuredRuns}`);
  const [file, argv] = GNU_TIME
    ? [GNU_TIME, ["-f", "%U %S %M", "-o", out, cmd, ...args]]
    : [cmd, args];
  const t = now();
  const res = spawnSync(file, argv, {
    stdio: ["ignore", "pipe", "pipe"],
    maxBuffer: 256 * 2 ** 20,
    encoding: "utf8",
    ...opts,
  });
  const ms = now() - t;
  let cpuSeconds = null;
  let peakRssBytes = null;
  if (GNU_TIME && existsSync(out)) {
    // The last line: a failing command makes GNU time prepend "Command exited with...".
    const last = readFileSync(out, "utf8").trim().split("\n").at(-1) ?? "";
    rmSync(out, { force: true });
    const [user, sys, kib] = last.split(" ").map(Number);
    if ([user, sys, kib].every(Number.isFinite)) {
      cpuSeconds = user + sys;
      peakRssBytes = kib * 1024;
    }
  }
  if (res.error || res.status !== 0) {
    const why = res.error ? String(res.error) : `exit ${res.status}`;
    throw new Error(`${cmd} ${args.join(" ")}: ${why}: ${String(res.stderr ?? "").slice(-2000)}`);
  }
  return { ms, cpuSeconds, peakRssBytes, stdout: res.stdout };
}

/** Bytes in all regular files below dir (apparent sizes), 0 when it does not exist. */
export function dirBytes(dir) {
  if (!existsSync(dir)) return 0;
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += dirBytes(p);
    else if (e.isFile()) total += lstatSync(p).size;
  }
  return total;
}

/**
 * A digest of a tree's names, kinds, symlink targets and file contents (not
 * modes or times: `cp -r` keeps neither), to check that restores agree.
 */
export function treeDigest(dir) {
  const h = createHash("sha256");
  const walk = (abs, rel) => {
    const names = readdirSync(abs).sort();
    for (const n of names) {
      const p = join(abs, n);
      const r = `${rel}/${n}`;
      const st = lstatSync(p);
      if (st.isDirectory()) {
        h.update(`d ${r}\n`);
        walk(p, r);
      } else if (st.isSymbolicLink()) h.update(`l ${r} ${readlinkSync(p)}\n`);
      else {
        h.update(`f ${r} ${st.size}\n`);
        h.update(readFileSync(p));
      }
    }
  };
  walk(dir, "");
  return h.digest("hex");
}

/** First line of `cmd --version` (or `cmd version`), null when not installed. */
export function toolVersion(cmd, args = ["--version"]) {
  if (!have(cmd)) return null;
  const res = spawnSync(cmd, args, { encoding: "utf8" });
  return (res.stdout || res.stderr || "").split("\n")[0].trim() || null;
}

/**
 * Fills buf with data about 2:1 compressible, like database pages or
 * documents: each 4 KiB page is half pseudo-random, half repetitive text.
 * Pure random would hide the peers' compression; zeros would exaggerate it.
 */
export function fillHalfCompressible(buf, rand) {
  for (let off = 0; off < buf.length; off += 4096) {
    const end = Math.min(buf.length, off + 4096);
    const mid = Math.min(end, off + 2048);
    rand.fill(buf.subarray(off, mid));
    if (mid < end) TEXT.copy(buf, mid, 0, end - mid);
  }
  return buf;
}
const TEXT = Buffer.from(
  "INSERT INTO orders (id, customer, status, note) VALUES (4711, 'ACME Corp', 'shipped', 'left at the front desk'); "
    .repeat(24)
    .slice(0, 2048),
);

/** A TCP port free on loopback right now (for a daemon's api.listen). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}
