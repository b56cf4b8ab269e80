#!/usr/bin/env node
// Soak of the whole watch-mode system (a script, not a timed test): a real
// sidecar and a real replica (child processes of dist/cli.js), a seeded
// writer changing the source between checkpoints, and per round one random
// fault or operation: kill -9 of the sidecar or the replica (sometimes with a
// restore or a drill in flight) and restart, a full journal filesystem (a
// small tmpfs, filled, then freed), restores through either API at a random
// acknowledged checkpoint compared byte-exact with the model, drills, and
// retention folding all along (short window, checked every second).
// At the end: both journals verify, no pins are held, neither daemon's
// descriptors grew, and every acknowledged checkpoint still in the window
// restores byte-exact from both journals (older ones must be folded, i.e.
// older than the journal's oldest point).
// Usage: node native-free-benchmarks/soak-cdp.mjs [--rounds N] [--seed S]
//        [--cli path/to/cli.js] [--log info] [--keep]
// Needs root for the tmpfs mount (the full-disk rounds); prints its seed.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  closeSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statfsSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, prng } from "./lib.mjs";

const args = process.argv.slice(2);
if (args.includes("--help") || args.includes("-h")) {
  console.log(
    "Usage: node native-free-benchmarks/soak-cdp.mjs [--rounds N] [--seed S] [--cli path/to/cli.js] [--log LEVEL] [--keep] [--journal-mib N]\n" +
      "  --rounds N  rounds of random faults (default 20)\n" +
      "  --seed S    replays a run's choices (printed at the start)\n" +
      "  --cli F     the pvjournal build to soak (default dist/cli.js)\n" +
      "  --log L     daemons' log level (default warn)\n" +
      "  --keep      keep the run's directory (and a copy of the sidecar journal on failure)\n" +
      "  --journal-mib N  size of the sidecar journal's tmpfs (default 64)",
  );
  process.exit(0);
}
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const rounds = opt("--rounds", 20);
const journalMib = opt("--journal-mib", 64);
const logLevel = args.includes("--log") ? args[args.indexOf("--log") + 1] : "warn";
const seed = opt("--seed", Math.floor(Math.random() * 2 ** 31));
// --cli: a copy of dist/ to soak, so that rebuilding the worktree meanwhile does not change it.
const CLI = args.includes("--cli")
  ? args[args.indexOf("--cli") + 1]
  : join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "cli.js");
const rng = prng(seed);
const rand = () => rng.next() / 4294967296;
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const canMount = process.getuid?.() === 0;

// 45 s window, checked every second, 1 MiB segments: retention folds (writes
// a base) many times per run, while a round's checkpoints stay restorable.
const RETENTION = "45s";
const WINDOW_MS = 45_000;
const root = mkdtempSync("/tmp/wt-faults-soak-");
const [data, sjFs, rj, mirror, restores, drills] = [
  "data",
  "sidecar-fs",
  "replica-journal",
  "mirror",
  "restores",
  "drills",
].map((d) => join(root, d));
for (const d of [data, sjFs, restores, drills]) mkdirSync(d);
// The sidecar's journal on its own filesystem (64 MiB unless --journal-mib), so a round can fill it.
if (canMount) spawnSync("mount", ["-t", "tmpfs", "-o", `size=${journalMib}m`, "tmpfs", sjFs]);
const sj = join(sjFs, "journal");
const [sport, rport] = [await freePort(), await freePort()];
const S = `http://127.0.0.1:${sport}`;
const R = `http://127.0.0.1:${rport}`;
const common = [
  `  retention: ${RETENTION}`,
  "  retentionCheck: 1s",
  "  segmentSize: 1MiB",
  "  blockSize: 4KiB",
];
writeFileSync(
  join(root, "sidecar.yaml"),
  [
    "sources:",
    "  - name: data",
    `    path: ${data}`,
    "journal:",
    `  dir: ${sj}`,
    ...common,
    "api:",
    `  listen: 127.0.0.1:${sport}`,
    "checkpoints:",
    "  interval: 0s",
    "capture:",
    "  debounce: 30ms",
    "  maxWait: 200ms",
    "restore:",
    `  allowedRoots: [${restores}]`,
    "log:",
    `  level: ${logLevel}`,
    "",
  ].join("\n"),
);
writeFileSync(
  join(root, "replica.yaml"),
  [
    "journal:",
    `  dir: ${rj}`,
    ...common,
    "api:",
    `  listen: 127.0.0.1:${rport}`,
    "replica:",
    `  source: ${S}`,
    `  mirrorDir: ${mirror}`,
    "restore:",
    `  allowedRoots: [${restores}]`,
    "drills:",
    `  sandboxRoot: ${drills}`,
    "  verifyCommands:",
    `    tree: ["sh", "-c", "test -d \\"$PVJ_DRILL_DIR/data\\""]`,
    "  verify: tree",
    "log:",
    `  level: ${logLevel}`,
    "",
  ].join("\n"),
);

// ---- the model: the source tree at each acknowledged checkpoint
/** Every entry below `dir`: kind, mode, size, content hash, mtime (ms). */
function treeDigest(dir) {
  const out = new Map();
  const walk = (abs, rel) => {
    for (const n of readdirSync(abs).sort()) {
      const p = join(abs, n);
      const r = `${rel}/${n}`;
      const st = lstatSync(p);
      const mode = st.mode & 0o7777;
      if (st.isDirectory()) {
        out.set(r, { kind: "d", mode });
        walk(p, r);
      } else if (st.isSymbolicLink()) out.set(r, { kind: "l", target: readlinkSync(p) });
      else {
        const sha = createHash("sha256").update(readFileSync(p)).digest("hex");
        out.set(r, { kind: "f", mode, size: st.size, sha, mtimeMs: st.mtimeMs });
      }
    }
  };
  walk(dir, "");
  return out;
}
/** The first difference between two trees, or null (mtimes within 1 ms, as the tests). */
function treeDiff(want, got) {
  for (const [p, w] of want) {
    const g = got.get(p);
    if (!g) return `${p}: missing`;
    for (const k of ["kind", "mode", "size", "sha", "target"])
      if (w[k] !== g[k]) return `${p}: ${k} ${g[k]} != ${w[k]}`;
    if (w.kind === "f" && Math.abs(w.mtimeMs - g.mtimeMs) > 1)
      return `${p}: mtime ${g.mtimeMs} != ${w.mtimeMs}`;
  }
  for (const p of got.keys()) if (!want.has(p)) return `${p}: unexpected`;
  return null;
}

const files = () => {
  const out = [];
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk(data);
  return out;
};
let nameCounter = 0;
/** One seeded change to the source. */
function writerStep() {
  let all = files();
  // The volume stays under 6 MiB: retention briefly holds two bases (old and
  // new) and the log on the 64 MiB journal filesystem, which must fill only
  // in the full-disk rounds.
  const total = () => all.reduce((n, f) => n + lstatSync(f).size, 0);
  while (all.length > 8 && total() > 6 * 1024 * 1024) {
    unlinkSync(pick(all));
    all = files();
  }
  const r = rand();
  const size = () => pick([0, 1, 100, 4096, 5000, 40_000, 300_000, 2_000_000]);
  const bytes = (n) => rng.fill(Buffer.alloc(n));
  if (all.length < 8 || r < 0.25) {
    const dir = rand() < 0.3 ? join(data, `d${nameCounter % 4}`) : data;
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `f${nameCounter++}`), bytes(size()));
  } else if (r < 0.6) {
    const f = pick(all);
    const cur = lstatSync(f).size;
    const off = Math.floor(rand() * (cur + 1));
    const n = Math.floor(rand() * 20_000) + 1;
    const buf = readFileSync(f);
    const next = Buffer.concat([buf.subarray(0, off), bytes(n), buf.subarray(off + n)]);
    writeFileSync(f, next);
  } else if (r < 0.7 && all.length > 8) unlinkSync(pick(all));
  else if (r < 0.8) truncateSync(pick(all), Math.floor(rand() * 50_000));
  else if (r < 0.9) renameSync(pick(all), join(data, `m${nameCounter++}`));
  else writeFileSync(pick(all), bytes(size()));
}

/** Writes zeros to `path` until the filesystem refuses (ENOSPC) or `bytes` are written. */
function fill(path, bytes) {
  const fd = openSync(path, "w");
  try {
    let chunk = 1024 * 1024;
    for (let done = 0; done < bytes && chunk >= 4096; ) {
      try {
        done += writeSync(fd, Buffer.alloc(chunk));
      } catch (err) {
        if (err.code !== "ENOSPC") throw err;
        chunk /= 2;
      }
    }
  } finally {
    closeSync(fd);
  }
}

// ---- daemons
const procs = { sidecar: null, replica: null };
const cfgOf = (role) => join(root, `${role}.yaml`);
async function start(role) {
  const child = spawn(process.execPath, [CLI, role, "-c", cfgOf(role)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  const logFile = join(root, `${role}.log`);
  const onData = (d) => {
    err = (err + d).slice(-20_000);
    if (logLevel !== "warn") writeFileSync(logFile, d, { flag: "a" });
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  child.errTail = () => err;
  procs[role] = child;
  const base = role === "sidecar" ? S : R;
  const probe = role === "sidecar" ? "/readyz" : "/healthz";
  for (let i = 0; i < 1200; i++) {
    if (child.exitCode !== null) throw new Error(`${role} exited ${child.exitCode}: ${err}`);
    const ok = await fetch(`${base}${probe}`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return child;
    await sleep(25);
  }
  throw new Error(`${role} never became ready: ${err}`);
}
/** Retention folds of a daemon's life so far (its counters start at 0 on each start). */
async function countFolds(role) {
  const base = role === "sidecar" ? S : R;
  const st = await api(base, "/v1/status", "GET", undefined, 5000).catch(() => null);
  stats.retentionFolds += st?.body?.retention?.folds ?? 0;
}
async function kill9(role) {
  await countFolds(role);
  const c = procs[role];
  procs[role] = null;
  const gone = new Promise((r) => c.once("exit", r));
  c.kill("SIGKILL");
  await gone;
}
async function stop(role) {
  await countFolds(role);
  const c = procs[role];
  procs[role] = null;
  const gone = new Promise((r) => c.once("exit", r));
  c.kill("SIGTERM");
  const code = await gone;
  if (code !== 0) throw new Error(`${role} exited ${code} on SIGTERM: ${c.errTail()}`);
}
const fdCount = (role) => readdirSync(`/proc/${procs[role].pid}/fd`).length;

async function api(base, path, method = "GET", body = undefined, timeoutMs = 30_000) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}
async function waitFor(what, fn, timeoutMs = 60_000) {
  const t = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => false);
    if (v) return v;
    if (Date.now() > t) throw new Error(`timed out: ${what}`);
    await sleep(50);
  }
}

// ---- checks
const acked = []; // {id, seq, digest}
const stats = {
  sidecarKills: 0,
  replicaKills: 0,
  killsMidRestore: 0,
  killsMidDrill: 0,
  fullDisk: 0,
  fullDiskRefused: 0,
  restores: 0,
  offlineRestores: 0,
  drills: 0,
  retentionFolds: 0,
};

let lastRefusal = "";
async function checkpoint(label) {
  // A quiet checkpoint: nothing writes while it settles, so the model is exact.
  const r = await api(S, "/v1/checkpoints", "POST", { label }, 20_000);
  if (r.status !== 201) {
    lastRefusal = `${r.status} ${JSON.stringify(r.body)}`;
    return null;
  }
  const a = { id: r.body.id, seq: r.body.seq, ts: r.body.ts, digest: treeDigest(data) };
  acked.push(a);
  return a;
}

async function replicaHas(seq) {
  await waitFor(`replica reaches seq ${seq}`, async () => {
    const s = await api(R, "/v1/status");
    return s.status === 200 && s.body.lastSeq >= seq;
  });
}

/** Restores `a` through an API into a fresh target and compares; returns the target's path. */
async function apiRestore(base, a, target) {
  const job = await api(base, "/v1/restores", "POST", { checkpoint: a.id, target });
  if (job.status !== 202)
    throw new Error(`restore of ${a.id}: ${job.status} ${JSON.stringify(job.body)}`);
  return job.body.id;
}
async function restoreAndCompare(base, a, why) {
  const target = join(restores, `r${stats.restores++}`);
  const id = await apiRestore(base, a, target);
  const st = await waitFor(`restore ${id} finishes`, async () => {
    const s = await api(base, `/v1/restores/${id}`);
    return s.body.state === "done" || s.body.state === "failed" ? s.body : false;
  });
  if (st.state !== "done")
    throw new Error(`${why}: restore of ${a.id} failed: ${JSON.stringify(st)}`);
  const diff = treeDiff(a.digest, treeDigest(join(target, "data")));
  if (diff)
    throw new Error(`${why}: restore of checkpoint ${a.id} differs from the model: ${diff}`);
  rmSync(target, { recursive: true, force: true });
}
function offlineRestore(journal, a, why) {
  const target = join(restores, `o${stats.offlineRestores++}`);
  const r = spawnSync(
    process.execPath,
    [CLI, "restore", "--checkpoint", String(a.id), "--target", target, "--journal", journal],
    { encoding: "utf8" },
  );
  if (r.status !== 0)
    throw new Error(`${why}: offline restore of ${a.id} exited ${r.status}: ${r.stderr}`);
  const diff = treeDiff(a.digest, treeDigest(join(target, "data")));
  rmSync(target, { recursive: true, force: true });
  if (diff) throw new Error(`${why}: offline restore of ${a.id} from ${journal} differs: ${diff}`);
}
async function pins(base) {
  return (await api(base, "/v1/status")).body.journal.pins;
}
/**
 * Checkpoints surely still in the window: younger than the window less 10 s
 * (retention folds only what is older than the window, in whole segments).
 */
function restorable() {
  const young = acked.filter((a) => Date.now() - Date.parse(a.ts) < WINDOW_MS - 10_000);
  return young.length > 0 ? young : acked.slice(-1);
}
async function drill(a) {
  const d = await api(R, "/v1/drills", "POST", a ? { checkpoint: a.id } : {});
  if (d.status !== 202) throw new Error(`drill: ${d.status} ${JSON.stringify(d.body)}`);
  return d.body.id;
}
async function drillDone(id) {
  return waitFor(`drill ${id}`, async () => {
    const s = await api(R, `/v1/drills/${id}`);
    return s.body.state === "done" || s.body.state === "failed" ? s.body : false;
  });
}

/** On failure: both daemons' status, the journal filesystem's use, and a copy of the sidecar journal with --keep. */
async function diagnose() {
  for (const [role, base] of [
    ["sidecar", S],
    ["replica", R],
  ]) {
    if (!procs[role]) continue;
    const st = await api(base, "/v1/status", "GET", undefined, 5000).catch((e) => ({
      body: `${e}`,
    }));
    const b = st.body ?? {};
    console.error(
      `--- ${role} status: ${JSON.stringify({ lastSeq: b.lastSeq, journal: b.journal, retention: b.retention, capture: b.capture?.errors, replicas: b.replicas, replica: b.replica })}`,
    );
  }
  const fs = statfsSync(sjFs);
  const segs = existsSync(sj) ? readdirSync(sj, { recursive: true }) : [];
  const sized = segs
    .map((f) => [f, lstatSync(join(sj, f))])
    .filter(([, st]) => st.isFile())
    .map(([f, st]) => `${f} ${st.size}`);
  console.error(
    `--- sidecar journal fs: ${((fs.blocks - fs.bavail) * fs.bsize) >> 20} MiB used of ${(fs.blocks * fs.bsize) >> 20} MiB; ${sized.length} files:\n${sized.join("\n")}`,
  );
  if (args.includes("--keep") && existsSync(sj))
    cpSync(sj, join(root, "sidecar-journal-copy"), { recursive: true });
}

// ---- rounds
console.log(`soak-cdp: ${rounds} rounds, seed ${seed} (--seed ${seed} replays the choices)`);
const t0 = Date.now();
const fds = { sidecar: [], replica: [] };
let failure = null;
try {
  for (let i = 0; i < 10; i++) writerStep();
  await start("sidecar");
  await start("replica");
  fds.sidecar.push(fdCount("sidecar"));
  fds.replica.push(fdCount("replica"));
  for (let round = 1; round <= rounds; round++) {
    for (let k = Math.floor(rand() * 3) + 1; k > 0; k--) {
      for (let i = Math.floor(rand() * 6) + 1; i > 0; i--) writerStep();
      if (!(await checkpoint(`r${round}`)))
        throw new Error(`round ${round}: checkpoint refused: ${lastRefusal}`);
    }
    const action = pick([
      "kill-sidecar",
      "kill-replica",
      "kill-replica-mid-restore",
      "kill-replica-mid-drill",
      "kill-sidecar-mid-restore",
      canMount ? "full-disk" : "restore",
      "restore",
      "restore-replica",
      "drill",
    ]);
    const a = pick(restorable());
    if (action === "kill-sidecar") {
      await kill9("sidecar");
      stats.sidecarKills++;
      for (let i = Math.floor(rand() * 4); i > 0; i--) writerStep(); // changes while down
      await start("sidecar");
    } else if (action === "kill-replica") {
      await kill9("replica");
      stats.replicaKills++;
      await start("replica");
    } else if (action === "kill-replica-mid-restore" || action === "kill-sidecar-mid-restore") {
      const role = action === "kill-sidecar-mid-restore" ? "sidecar" : "replica";
      const base = role === "sidecar" ? S : R;
      if (role === "replica") await replicaHas(a.seq);
      const target = join(restores, `k${round}`);
      await apiRestore(base, a, target);
      await sleep(Math.floor(rand() * 150));
      await kill9(role);
      stats.killsMidRestore++;
      // No half-state: the target is absent or complete.
      const half = existsSync(target) && treeDiff(a.digest, treeDigest(join(target, "data")));
      if (half)
        throw new Error(
          `round ${round}: an interrupted restore left a target that is not complete: ${half}`,
        );
      rmSync(target, { recursive: true, force: true });
      await start(role);
      // Idle again (a restarted replica may pin while it rebuilds its mirror): no pin is left.
      await waitFor(
        `round ${round}: no pins after restart`,
        async () => (await pins(base)) === 0,
        30_000,
      );
      await restoreAndCompare(base, a, `round ${round} retry after kill`);
    } else if (action === "kill-replica-mid-drill") {
      await replicaHas(a.seq);
      await drill(a);
      await sleep(Math.floor(rand() * 150));
      await kill9("replica");
      stats.killsMidDrill++;
      await start("replica");
      // The sandbox of the interrupted drill is removed at start (or reported); the next drill works.
      await waitFor("sandboxes cleaned", async () => readdirSync(drills).length === 0, 20_000);
      const st = await drillDone(await drill(a));
      if (!st.passed)
        throw new Error(`round ${round}: drill after kill failed ${JSON.stringify(st)}`);
      stats.drills++;
    } else if (action === "full-disk") {
      stats.fullDisk++;
      const filler = join(sjFs, "filler");
      const free = () => {
        const s = statfsSync(sjFs);
        return s.bavail * s.bsize;
      };
      fill(filler, free());
      for (let i = 0; i < 4; i++) writerStep();
      const r = await api(S, "/v1/checkpoints", "POST", { label: "full" }, 15_000).catch(() => ({
        status: 0,
      }));
      if (r.status === 201) {
        // It fit: it is acknowledged, so it must hold the model.
        acked.push({ id: r.body.id, seq: r.body.seq, ts: r.body.ts, digest: treeDigest(data) });
      } else stats.fullDiskRefused++;
      unlinkSync(filler);
      // Catches up by itself: the next checkpoint holds everything written while full.
      const after = await waitFor(
        "a checkpoint succeeds once space is back",
        () => checkpoint(`r${round}-freed`),
        60_000,
      );
      await restoreAndCompare(S, after, `round ${round} after the disk was full`);
    } else if (action === "restore") {
      await restoreAndCompare(S, a, `round ${round}`);
    } else if (action === "restore-replica") {
      await replicaHas(a.seq);
      await restoreAndCompare(R, a, `round ${round} (replica)`);
    } else if (action === "drill") {
      await replicaHas(a.seq);
      const st = await drillDone(await drill(rand() < 0.5 ? a : null));
      if (!st.passed) throw new Error(`round ${round}: drill failed ${JSON.stringify(st)}`);
      stats.drills++;
    }
    fds.sidecar.push(fdCount("sidecar"));
    fds.replica.push(fdCount("replica"));
    process.stdout.write(
      `round ${round}: ${action}, ${acked.length} checkpoints, ok (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`,
    );
  }

  // ---- the end: catch up, mirror, pins, descriptors, verify, every checkpoint
  const phase = (what) =>
    console.log(`final: ${what} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  phase("catching up");
  const last = await checkpoint("final");
  await replicaHas(last.seq);
  await waitFor("mirror at the last checkpoint", async () => {
    const s = await api(R, "/v1/status");
    return s.body.replica.mirrorSeq === last.seq;
  });
  const mdiff = treeDiff(last.digest, treeDigest(join(mirror, "data")));
  if (mdiff) throw new Error(`the mirror differs from the last checkpoint: ${mdiff}`);
  for (const [role, base] of [
    ["sidecar", S],
    ["replica", R],
  ]) {
    if ((await pins(base)) !== 0) throw new Error(`${role} holds pins at the end`);
  }
  phase("restoring every checkpoint in the window");
  const fdEnd = { sidecar: fdCount("sidecar"), replica: fdCount("replica") };
  // Listed first, then restored: the final pass takes long enough for the
  // oldest of the window to age out of it meanwhile.
  const window = restorable();
  const folded = acked.length - window.length;
  const listing = JSON.parse(
    spawnSync(process.execPath, [CLI, "checkpoints", "--journal", rj, "--json"], {
      encoding: "utf8",
    }).stdout,
  ).checkpoints.map((c) => c.id);
  for (const a of window)
    if (!listing.includes(a.id)) throw new Error(`checkpoint ${a.id} is not listed on the replica`);
  let finalRestored = 0;
  for (const a of window) {
    if (Date.now() - Date.parse(a.ts) < WINDOW_MS - 5000) {
      await restoreAndCompare(R, a, "final pass (replica)");
      finalRestored++;
    }
  }
  const stillIn = window.filter((a) => Date.now() - Date.parse(a.ts) < WINDOW_MS - 5000);
  phase("stopping both daemons (SIGTERM)");
  await stop("sidecar");
  await stop("replica");
  phase("verifying both journals, offline restores");
  for (const j of [sj, rj]) {
    const v = spawnSync(process.execPath, [CLI, "verify", "--journal", j], { encoding: "utf8" });
    if (v.status !== 0) throw new Error(`verify ${j} exited ${v.status}: ${v.stdout}${v.stderr}`);
  }
  // Offline, from both journals, a sample spread over the window (each is a CLI run).
  const sample = stillIn.filter((_, i) => i % Math.max(1, Math.floor(stillIn.length / 12)) === 0);
  for (const a of [...sample, last]) {
    offlineRestore(rj, a, "final offline (replica journal)");
    offlineRestore(sj, a, "final offline (sidecar journal)");
  }
  const fdLine = (role) =>
    `${role} fds min ${Math.min(...fds[role])} max ${Math.max(...fds[role])} end ${fdEnd[role]}`;
  // A daemon's descriptors: a restarted one starts from its own baseline, so
  // growth means the max over rounds stays bounded, not a per-process diff.
  for (const role of ["sidecar", "replica"]) {
    if (Math.max(...fds[role]) > Math.min(...fds[role]) + 64)
      throw new Error(`${fdLine(role)}: descriptors grew`);
  }
  console.log(
    `soak-cdp: PASS, seed ${seed}: ${rounds} rounds, ${acked.length} acknowledged checkpoints (${window.length} in the window listed on the replica and ${finalRestored} of them restored byte-exact through its API in the final pass, ${folded} folded by retention; ${sample.length + 1} restored offline from both journals), ${JSON.stringify(stats)}; ${fdLine("sidecar")}; ${fdLine("replica")}; both journals verify; no pins; ${((Date.now() - t0) / 1000).toFixed(0)} s`,
  );
} catch (err) {
  failure = err;
  console.error(`soak-cdp: FAIL, seed ${seed}: ${err.stack ?? err}`);
  await diagnose();
  for (const role of ["sidecar", "replica"])
    if (procs[role])
      console.error(`--- ${role} stderr tail:\n${procs[role].errTail().slice(-4000)}`);
} finally {
  for (const role of ["sidecar", "replica"]) if (procs[role]) await kill9(role).catch(() => {});
  if (canMount) spawnSync("umount", ["-l", sjFs]);
  if (!failure || !args.includes("--keep")) rmSync(root, { recursive: true, force: true });
  else console.error(`kept ${root}`);
}
// exitCode, not exit(): a piped stdout must flush the summary line first.
process.exitCode = failure ? 1 : 0;
