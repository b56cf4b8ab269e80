// Drives one peer workload: the same data and the same rounds of changes,
// protected side by side in one run by pvjournal (continuous capture in a
// child process, a checkpoint at the end of each round) and by restic and
// borg (one backup run after each round), then a restore of a past round by
// each and by `cp -r` (the floor). The scenario files (scenarios/peers-*.mjs)
// only describe the data and the changes; report.mjs turns the measurements
// into figures, ratios and tables.
import { execFileSync } from "node:child_process";
import { lstatSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { dirBytes, GNU_TIME, now, percentile, scratch, treeDigest } from "./lib.mjs";
import { borgPeer, cpTree, pvjournalRestore, resticPeer, startCapture } from "./peers.mjs";

const clock = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/**
 * Ops run in bursts at least this many ms apart (timers are too coarse for
 * one op per ms), so a round's changes are spread over time like an app's.
 */
const SLICE_MS = 10;

/** Writes the marker capture-process.mjs looks for ("PVJMARK!" + u64 id) at buf[off]. */
export function writeMarker(buf, id, off = 0) {
  buf.write("PVJMARK!", off, "latin1");
  buf.writeBigUInt64LE(BigInt(id), off + 8);
}

/**
 * Runs ops evenly spread over ms (op i is due at i/n of it); each op(markId)
 * returns {bytes, marked}. lastAt is when the last op completed.
 */
async function drive(ops, ms, ids) {
  const writtenAt = new Map();
  let bytes = 0;
  const t0 = now();
  for (let i = 0; i < ops.length; ) {
    const wait = t0 + (ms * i) / ops.length - now();
    if (wait >= SLICE_MS) {
      await sleep(wait);
      continue;
    }
    const id = ids.next++;
    const r = ops[i++](id);
    bytes += r.bytes;
    if (r.marked) writtenAt.set(id, clock());
  }
  return { bytes, writtenAt, lastAt: clock() };
}

/** The measurements a peer run leaves, in one shape for every tool. */
const measured = (m, bytes) => ({
  ms: m.ms,
  cpuSeconds: m.cpuSeconds,
  peakRssBytes: m.peakRssBytes,
  storedBytes: bytes,
});

/**
 * Runs a workload spec: {name, blockSize, rounds, roundMs, restoreRound,
 * setup(dataDir) -> {bytes, files}, round(dataDir, r) -> ops}. Returns the
 * raw measurements for report.mjs.
 */
export async function runWorkload(spec) {
  const s = scratch(`pvj-bench-${spec.name}-`);
  const parent = join(s.dir, "src");
  const data = join(parent, "data");
  const jdir = join(s.dir, "journal");
  mkdirSync(data, { recursive: true });
  const peers = [resticPeer(s.dir), borgPeer(s.dir)].filter((p) => p !== null);
  const missing = ["restic", "borg"].filter((n) => !peers.some((p) => p.name === n));
  const ids = { next: 1 };
  const out = {
    peers: peers.map((p) => p.name),
    missing,
    gnuTime: GNU_TIME !== null,
    dataset: null,
    initial: {},
    rounds: [],
    restore: {},
  };
  try {
    out.dataset = spec.setup(data);
    execFileSync("sync"); // the dataset's writeback must not land in anyone's timing
    const pvj = startCapture({ src: data, journal: jdir, blockSize: spec.blockSize });
    let restorePoint = null;
    try {
      // Round 0: the first full copy.
      const t0 = now();
      const st = await pvj.call({ op: "start" });
      const c0 = await pvj.call({ op: "checkpoint", label: "initial" });
      out.initial.pvjournal = {
        ms: now() - t0,
        cpuSeconds: st.cpuSeconds + c0.cpuSeconds,
        peakRssBytes: c0.peakRssBytes,
        storedBytes: dirBytes(jdir),
        segmentBytes: c0.segmentBytes,
        // Where those bytes are (segments, index.db, its WAL...), to choose the next storage change.
        byEntry: Object.fromEntries(
          readdirSync(jdir, { withFileTypes: true }).map((e) => [
            e.name,
            e.isDirectory() ? dirBytes(join(jdir, e.name)) : lstatSync(join(jdir, e.name)).size,
          ]),
        ),
      };
      for (const p of peers) {
        p.init();
        out.initial[p.name] = measured(p.backup(parent, "data", "round-0"), p.bytes());
      }
      let prevSegments = c0.segmentBytes;
      const prev = Object.fromEntries(
        Object.entries(out.initial).map(([k, v]) => [k, v.storedBytes]),
      );
      for (let r = 1; r <= spec.rounds; r++) {
        await pvj.call({ op: "mark" });
        const w = await drive(spec.round(data, r), spec.roundMs, ids);
        const cp = await pvj.call({ op: "checkpoint", label: `round-${r}` });
        const protectMs = clock() - w.lastAt;
        const latencies = [];
        for (const [id, t] of cp.marks) {
          const written = w.writtenAt.get(id);
          if (written !== undefined) latencies.push(Math.max(0, t - written));
        }
        const jBytes = dirBytes(jdir);
        const round = {
          changedBytes: w.bytes,
          writes: w.writtenAt.size,
          pvjournal: {
            ms: protectMs,
            checkpointMs: cp.ms,
            cpuSeconds: cp.cpuSeconds,
            peakRssBytes: cp.peakResettable ? cp.peakRssBytes : null,
            storedBytes: jBytes - prev.pvjournal,
            segmentBytes: cp.segmentBytes - prevSegments,
            latencies,
          },
        };
        prev.pvjournal = jBytes;
        prevSegments = cp.segmentBytes;
        for (const p of peers) {
          const b = p.backup(parent, "data", `round-${r}`);
          const bytes = p.bytes();
          round[p.name] = { ...measured(b, bytes - prev[p.name]), id: b.id };
          prev[p.name] = bytes;
        }
        if (r === spec.restoreRound) {
          restorePoint = { round: r, checkpoint: cp.id, digest: treeDigest(data) };
          for (const p of peers) restorePoint[p.name] = round[p.name].id;
        }
        out.rounds.push(round);
      }
      out.total = {
        pvjournal: dirBytes(jdir),
        ...Object.fromEntries(peers.map((p) => [p.name, p.bytes()])),
      };
      if (restorePoint) out.restoreInProcess = await restoreInProcess(s.dir, pvj, restorePoint);
    } finally {
      await pvj.stop();
    }
    if (restorePoint) out.restore = restoreAll(s.dir, jdir, peers, restorePoint);
  } finally {
    // BENCH_KEEP=1 keeps the scratch directory (journal, peers, restores) for profiling.
    if (process.env.BENCH_KEEP) console.error(`kept ${s.dir}`);
    else s.cleanup();
  }
  return out;
}

/**
 * Restores taken per tool: this VM's page cache and writeback make a single
 * restore swing 2-10x from minute to minute (cp -r && sync of the same tree:
 * 0.13-1.04 s within an hour), so every tool restores RESTORE_REPS times,
 * interleaved (pvjournal, the peers, cp, then again), and the median counts.
 */
const RESTORE_REPS = 3;

/**
 * Restores the chosen round RESTORE_REPS times inside the running capture
 * process, through the code path of POST /v1/restores (prepareRestore +
 * runRestore: the same hash checks and durable rename as the CLI), so no
 * process start, module loading or journal open is paid: what an operator
 * restoring through a running sidecar or replica waits for, HTTP aside. Runs
 * before the capture process stops (the journal's lock is its own), so not
 * interleaved with the other tools' restores.
 */
async function restoreInProcess(dir, pvj, point) {
  const list = [];
  for (let rep = 0; rep < RESTORE_REPS; rep++) {
    const target = join(dir, "restores-in-process", `pvjournal-${rep}`);
    execFileSync("sync");
    const r = await pvj.call({ op: "restore", checkpoint: point.checkpoint, target });
    if (r.error) throw new Error(`in-process restore failed: ${r.error}`);
    const ts = now();
    execFileSync("sync");
    list.push({
      ms: r.restoreMs,
      msWithSync: r.restoreMs + (now() - ts),
      cpuSeconds: r.restoreCpuSeconds,
      verified: treeDigest(join(target, "data")) === point.digest,
    });
    rmSync(target, { recursive: true, force: true });
  }
  return summariseRuns(list);
}

/** Medians of a tool's restore runs, whether every tree matched, and every run incl. sync (ms). */
function summariseRuns(list) {
  const med = (k) =>
    percentile(
      list.map((r) => r[k]),
      50,
    );
  return {
    ms: med("ms"),
    msWithSync: med("msWithSync"),
    cpuSeconds: med("cpuSeconds"),
    verified: list.every((r) => r.verified),
    runsMs: list.map((r) => Math.round(r.msWithSync)),
  };
}

/** Restores the chosen round with every tool (sync before, sync timed after) and checks each tree. */
function restoreAll(dir, jdir, peers, point) {
  const base = join(dir, "restores");
  const res = { round: point.round, reps: RESTORE_REPS };
  const runs = {};
  const one = (name, fn, target, tree, keep = false) => {
    execFileSync("sync");
    const m = fn();
    const ts = now();
    execFileSync("sync");
    runs[name] = runs[name] ?? [];
    runs[name].push({
      ms: m.ms,
      msWithSync: m.ms + (now() - ts),
      cpuSeconds: m.cpuSeconds,
      peakRssBytes: m.peakRssBytes,
      verified: treeDigest(tree) === point.digest,
    });
    if (!keep) rmSync(target, { recursive: true, force: true });
  };
  for (let rep = 0; rep < RESTORE_REPS; rep++) {
    const pvjTarget = join(base, `pvjournal-${rep}`);
    // The first pvjournal restore is kept: cp copies it (the source as it was at the round).
    one(
      "pvjournal",
      () => pvjournalRestore(jdir, point.checkpoint, pvjTarget),
      pvjTarget,
      join(pvjTarget, "data"),
      rep === 0,
    );
    for (const p of peers) {
      const target = join(base, `${p.name}-${rep}`);
      one(p.name, () => p.restore(point[p.name], target), target, join(target, "data"));
    }
    const ref = join(base, "pvjournal-0", "data");
    const cpTarget = join(base, `cp-${rep}`);
    one("cp", () => cpTree(ref, join(cpTarget, "data")), cpTarget, join(cpTarget, "data"));
  }
  for (const [name, list] of Object.entries(runs)) {
    res[name] = {
      ...summariseRuns(list),
      peakRssBytes: Math.max(...list.map((r) => r.peakRssBytes ?? 0)),
    };
  }
  return res;
}
