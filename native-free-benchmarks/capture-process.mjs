#!/usr/bin/env node
// pvjournal's side of the peer benchmarks, run as a child process like the
// real sidecar: Capture + Checkpointer + Journal over one source, so that its
// CPU and peak RSS are its own (not the workload generator's) and are
// measured the way the peers' are. The parent drives it with one JSON command
// per stdin line and gets one JSON reply per stdout line:
//   {op:"start"}            initial scan (the first full copy)
//   {op:"mark"}             start of a round: CPU baseline and peak RSS reset
//   {op:"checkpoint",label} settle + checkpoint (the round is protected)
//   {op:"restore",checkpoint,target}  restores a checkpoint in this process,
//                          through the code path of POST /v1/restores (no
//                          process start): restoreMs, restoreCpuSeconds
//   {op:"stop"}             stop capture, close the journal, exit
// Every reply carries cpuSeconds (since the last mark), peakRssBytes (VmHWM
// since the last mark) and the markers that became durable since the last
// reply: [[id, ms]] where ms is wall clock (performance.timeOrigin +
// performance.now(), comparable across processes). Markers are 8 bytes
// "PVJMARK!" + a u64 id that the workload writes into its data.
// Usage: node capture-process.mjs '{"src":DIR,"journal":DIR,"blockSize":N}'
import { readFileSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { Capture } from "../dist/capture/capture.js";
import { Checkpointer } from "../dist/capture/checkpointer.js";
import { Journal } from "../dist/journal/journal.js";
import { silentLogger } from "../dist/log/logger.js";
import { prepareRestore, runRestore } from "../dist/restore/restore.js";
import { BlockHasher } from "../dist/util/hash.js";

/** Shipped capture defaults (debounce 100 ms, maxWait 500 ms); no periodic rescan: settle walks anyway. */
const CAPTURE = {
  debounce: 100,
  maxWait: 500,
  rescanInterval: 0,
  usePolling: false,
  pollInterval: 250,
};
const MARK = Buffer.from("PVJMARK!");
const clock = () => performance.timeOrigin + performance.now();

const cfg = JSON.parse(process.argv[2]);
const journal = await Journal.open({ dir: cfg.journal, blockSize: cfg.blockSize });
const hasher = await BlockHasher.create();
const seen = new Set();
let durable = [];
const append = journal.append.bind(journal);
journal.append = async (bodies) => {
  const res = await append(bodies);
  const t = clock();
  for (const b of bodies) {
    if (b.type !== "blob") continue;
    for (let i = b.data.indexOf(MARK); i >= 0; i = b.data.indexOf(MARK, i + 16)) {
      if (i + 16 > b.data.length) break;
      const id = Number(b.data.readBigUInt64LE(i + 8));
      if (seen.has(id)) continue;
      seen.add(id);
      durable.push([id, t]);
    }
  }
  return res;
};
const logger = silentLogger();
const capture = new Capture({
  journal,
  hasher,
  sources: [{ name: "data", path: cfg.src, ignore: [] }],
  capture: CAPTURE,
  logger,
});
const checkpointer = new Checkpointer({
  journal,
  capture,
  hooks: { pre: null, post: null, timeout: 5000 },
  interval: 0,
  logger,
});

let cpuBase = process.cpuUsage();
let peakResettable = true;

function status(key) {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(
    readFileSync("/proc/self/status", "utf8"),
  );
  return m ? Number(m[1]) * 1024 : null;
}

/** Resets VmHWM to the current RSS ("5" to clear_refs, Linux >= 4.0). */
function resetPeak() {
  try {
    writeFileSync("/proc/self/clear_refs", "5");
  } catch {
    peakResettable = false;
  }
}

function usage() {
  const u = process.cpuUsage(cpuBase);
  const marks = durable;
  durable = [];
  return {
    cpuSeconds: (u.user + u.system) / 1e6,
    peakRssBytes: status("VmHWM"),
    peakResettable,
    segmentBytes: journal.sizeBytes,
    marks,
  };
}

const ops = {
  async start() {
    const t = clock();
    await capture.start();
    return { scanMs: clock() - t };
  },
  async mark() {
    cpuBase = process.cpuUsage();
    resetPeak();
    return {};
  },
  async checkpoint(msg) {
    const t = clock();
    const row = await checkpointer.take(msg.label ?? null);
    return { id: row.id, seq: row.seq, ms: clock() - t };
  },
  async restore(msg) {
    const cpu = process.cpuUsage();
    const t = clock();
    const prepared = await prepareRestore(
      journal,
      { point: { checkpoint: msg.checkpoint }, target: msg.target, paths: null },
      { allowedRoots: null, forbidden: [journal.dir] },
      Date.now(),
    );
    await runRestore(journal, hasher, prepared, {});
    const u = process.cpuUsage(cpu);
    return { restoreMs: clock() - t, restoreCpuSeconds: (u.user + u.system) / 1e6 };
  },
  async stop() {
    await checkpointer.stop();
    await capture.stop();
    await journal.close();
    return {};
  },
};

const lines = createInterface({ input: process.stdin });
let chain = Promise.resolve();
lines.on("line", (line) => {
  chain = chain.then(async () => {
    const msg = JSON.parse(line);
    let reply;
    try {
      reply = { ...(await ops[msg.op](msg)), ...usage() };
    } catch (err) {
      reply = { error: String(err?.stack ?? err) };
    }
    process.stdout.write(`${JSON.stringify(reply)}\n`);
    if (msg.op === "stop") lines.close();
  });
});
