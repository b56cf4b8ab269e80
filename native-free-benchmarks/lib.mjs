// Shared helpers for benchmark scenarios: timing, temp dirs, machine facts, peers.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";

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
