// Turns a workload's raw measurements (workload.mjs) into the scenario
// result: per-tool figures, every comparison as a ratio against the peer
// measured in the same run, a wide comparison table for latest.md, a flat
// [label, value, unit] table (the runner's common shape) and headline rows
// for the summary across workloads.
import { percentile, r3 } from "./lib.mjs";

const TOOLS = ["pvjournal", "restic", "borg"];
const MIB = 2 ** 20;
const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const median = (xs) => (xs.length === 0 ? null : percentile(xs, 50));
const maxOf = (xs) => (xs.length === 0 || xs.some((x) => x === null) ? null : Math.max(...xs));
const div = (a, b) =>
  a === null || b === null || a === undefined || b === undefined || b === 0 ? null : a / b;
const scale = (x, f) => (x === null || x === undefined ? null : x / f);

/** Per-tool figures from the rounds; null for a tool that did not run. */
function toolFigures(raw, tool) {
  if (tool !== "pvjournal" && !raw.peers.includes(tool)) return null;
  const rounds = raw.rounds.map((r) => r[tool]);
  const changed = sum(raw.rounds.map((r) => r.changedBytes));
  const stored = rounds.map((r) => r.storedBytes);
  const protect = rounds.map((r) => r.ms);
  const restore = raw.restore[tool] ?? null;
  const f = {
    initialMs: raw.initial[tool].ms,
    initialStoredBytes: raw.initial[tool].storedBytes,
    initialCpuSeconds: raw.initial[tool].cpuSeconds,
    storedPerRoundBytes: median(stored),
    storedPerChangedByte: div(sum(stored), changed),
    totalStoredBytes: raw.total?.[tool] ?? null,
    protectMs: median(protect),
    protectMsMax: maxOf(protect),
    cpuSecondsPerRound:
      rounds[0]?.cpuSeconds === null ? null : median(rounds.map((r) => r.cpuSeconds)),
    peakRssBytes: maxOf(rounds.map((r) => r.peakRssBytes)),
    restoreMs: restore?.ms ?? null,
    restoreMsWithSync: restore?.msWithSync ?? null,
    restoreCpuSeconds: restore?.cpuSeconds ?? null,
    restorePeakRssBytes: restore?.peakRssBytes ?? null,
    restoreVerified: restore?.verified ?? null,
    // The peers have no running process to restore through: their restore is the same command.
    restoreInProcessMsWithSync:
      tool === "pvjournal"
        ? (raw.restoreInProcess?.msWithSync ?? null)
        : (restore?.msWithSync ?? null),
    restoreInProcessCpuSeconds:
      tool === "pvjournal"
        ? (raw.restoreInProcess?.cpuSeconds ?? null)
        : (restore?.cpuSeconds ?? null),
  };
  if (tool === "pvjournal") {
    const lat = raw.rounds.flatMap((r) => r.pvjournal.latencies);
    f.latencySamples = lat.length;
    f.latencyP50Ms = percentile(lat, 50);
    f.latencyP99Ms = percentile(lat, 99);
    f.checkpointMs = median(rounds.map((r) => r.checkpointMs));
    f.initialSegmentBytes = raw.initial.pvjournal.segmentBytes;
    // Journal directory entries at the first checkpoint (segments, index.db, its WAL...).
    f.initialByEntry = raw.initial.pvjournal.byEntry ?? null;
    f.initialIndexWalBytes = f.initialByEntry?.["index.db-wal"] ?? null;
    // Segments hold the data; the rest of the growth is the SQLite index.
    f.segmentsPerChangedByte = div(sum(rounds.map((r) => r.segmentBytes)), changed);
    // Continuous capture: the newest change is at most the capture lag old.
    f.rpoSeconds = scale(f.latencyP99Ms, 1000);
  } else {
    // A backup cannot start more often than it takes to run.
    f.rpoSeconds = scale(f.protectMs, 1000);
  }
  return f;
}

/** Rows of the comparison: [measure, unit, key, divisor, changed]. */
const ROWS = [
  ["first full copy: stored", "MiB", "initialStoredBytes", MIB, "dataset"],
  ["first full copy: of which the index's WAL", "MiB", "initialIndexWalBytes", MIB],
  ["first full copy: time", "s", "initialMs", 1000],
  ["stored per round (median)", "MiB", "storedPerRoundBytes", MIB, "round"],
  ["stored per changed byte", "x", "storedPerChangedByte", 1],
  ["of which segments (data) per changed byte", "x", "segmentsPerChangedByte", 1],
  ["stored after all rounds", "MiB", "totalStoredBytes", MIB],
  ["time to protect a round (median)", "s", "protectMs", 1000],
  ["CPU per round (median)", "CPU s", "cpuSecondsPerRound", 1],
  ["peak RSS during rounds", "MiB", "peakRssBytes", MIB],
  ["capture latency p50 (write -> durable)", "ms", "latencyP50Ms", 1],
  ["capture latency p99 (write -> durable)", "ms", "latencyP99Ms", 1],
  ["RPO achievable", "s", "rpoSeconds", 1],
  ["restore of a past round", "s", "restoreMs", 1000],
  ["restore of a past round, incl. sync", "s", "restoreMsWithSync", 1000],
  ["restore CPU", "CPU s", "restoreCpuSeconds", 1],
  [
    "restore through the running process (POST /v1/restores path), incl. sync",
    "s",
    "restoreInProcessMsWithSync",
    1000,
  ],
  ["restore through the running process: CPU", "CPU s", "restoreInProcessCpuSeconds", 1],
  ["restore peak RSS", "MiB", "restorePeakRssBytes", MIB],
];

/** Headline rows for the summary across workloads (keys of ROWS). */
const SUMMARY = [
  "initialStoredBytes",
  "storedPerRoundBytes",
  "storedPerChangedByte",
  "protectMs",
  "cpuSecondsPerRound",
  "rpoSeconds",
  "restoreMsWithSync",
];

/** A row's measure; bytes per changed byte depend on the block size, so it is named. */
function label(measure, key, blockSize) {
  return key === "storedPerChangedByte" ? `${measure} (${blockSize / 1024} KiB blocks)` : measure;
}

/** Builds the scenario result; `describe` is the workload's own notes. */
export function report(raw, { blockSize, rounds, notes }) {
  const tools = Object.fromEntries(TOOLS.map((t) => [t, toolFigures(raw, t)]));
  const restore = raw.restore;
  const cp = restore.cp
    ? {
        restoreMs: restore.cp.ms,
        restoreMsWithSync: restore.cp.msWithSync,
        restoreCpuSeconds: restore.cp.cpuSeconds,
        restorePeakRssBytes: restore.cp.peakRssBytes,
        restoreVerified: restore.cp.verified,
        restoreInProcessMsWithSync: restore.cp.msWithSync,
        restoreInProcessCpuSeconds: restore.cp.cpuSeconds,
      }
    : null;
  const pvj = tools.pvjournal;
  const ratios = {};
  for (const peer of ["restic", "borg", "cp"]) {
    const f = peer === "cp" ? cp : tools[peer];
    ratios[peer] = f
      ? Object.fromEntries(
          Object.keys(f)
            .filter((k) => typeof f[k] === "number")
            .map((k) => [k, div(f[k], pvj[k])]),
        )
      : null;
  }
  const changedPerRound = median(raw.rounds.map((r) => r.changedBytes));
  const cell = (f, key, d) => (f ? r3(scale(f[key], d)) : null);
  const compare = {
    columns: [
      "measure",
      "unit",
      "changed",
      "pvjournal",
      "restic",
      "borg",
      "cp -r",
      "restic ÷ pvjournal",
      "borg ÷ pvjournal",
      "cp ÷ pvjournal",
    ],
    rows: ROWS.map(([measure, unit, key, d, changed]) => [
      label(measure, key, blockSize),
      unit,
      changed === "dataset"
        ? r3(raw.dataset.bytes / MIB)
        : changed === "round"
          ? r3(changedPerRound / MIB)
          : null,
      cell(pvj, key, d),
      cell(tools.restic, key, d),
      cell(tools.borg, key, d),
      key.startsWith("restore") ? cell(cp, key, d) : null,
      r3(ratios.restic?.[key]),
      r3(ratios.borg?.[key]),
      key.startsWith("restore") ? r3(ratios.cp?.[key]) : null,
    ]),
  };
  const table = [];
  for (const row of compare.rows) {
    for (const [i, col] of compare.columns.entries()) {
      if (i < 3 || row[i] === null) continue;
      table.push([`${row[0]}: ${col}`, row[i], col.includes("÷") ? "x" : row[1]]);
    }
  }
  const summary = SUMMARY.map((key) => {
    const [measure, unit, , d] = ROWS.find((r) => r[2] === key);
    return {
      measure: label(measure, key, blockSize),
      unit,
      pvjournal: cell(pvj, key, d),
      restic: cell(tools.restic, key, d),
      borg: cell(tools.borg, key, d),
      cp: key.startsWith("restore") ? cell(cp, key, d) : null,
      ratios: {
        restic: r3(ratios.restic?.[key]),
        borg: r3(ratios.borg?.[key]),
        cp: key.startsWith("restore") ? r3(ratios.cp?.[key]) : null,
      },
    };
  });
  const unverified = Object.entries(restore)
    .filter(([, v]) => typeof v === "object" && v.verified === false)
    .map(([k]) => k);
  if (raw.restoreInProcess?.verified === false)
    unverified.push("pvjournal (in the running process)");
  const inProcess = raw.restoreInProcess;
  const allNotes = [
    ...notes,
    `${rounds} rounds; restore of round ${restore.round}; pvjournal journal.blockSize ${blockSize / 1024} KiB`,
    "ratios are peer ÷ pvjournal and every measure is a cost (lower is better): above 1 pvjournal wins, below 1 the peer wins",
    "pvjournal runs as a child process like the sidecar (shipped capture defaults: debounce 100 ms, maxWait 500 ms); its CPU and peak RSS cover the whole round (capture works while the app writes); time to protect = last write of the round -> checkpoint durable (settle + checkpoint record). Peers: one `restic backup` / `borg create` run after the round",
    "stored = growth of the journal directory (segments + SQLite index) / repository directory; changed = bytes the workload wrote",
    "RPO achievable: pvjournal = capture latency p99 (every write is in the journal that soon after it completed); peers = their backup run time (they cannot run more often)",
    "restores: `pvjournal restore --checkpoint` (offline CLI; checks every block's hash, makes the tree durable before its rename), `restic restore`, `borg extract`, `cp -r` of the same tree (floor: no checks, no fsync); page cache warm; 'incl. sync' adds a `sync` after the command",
    `restore figures: median of ${restore.reps ?? 1} run(s) per tool, interleaved (every tool once, then again), each into a fresh directory removed after it (the first pvjournal restore is kept: cp copies it); every run (incl. sync, ms): ${Object.entries(
      restore,
    )
      .filter(([, v]) => typeof v === "object" && v.runsMs)
      .map(([k, v]) => `${k} ${v.runsMs.join("/")}`)
      .join(", ")}`,
    inProcess
      ? `restore through the running process: \`prepareRestore\` + \`runRestore\` inside the capture process before it stops (the code path of POST /v1/restores, HTTP aside: no process start, module loading or journal open), median of ${inProcess.runsMs.length}, not interleaved with the other tools; every run (incl. sync, ms): ${inProcess.runsMs.join("/")}; the peers' cells repeat their one restore command`
      : "restore through the running process: not measured",
    raw.missing.length > 0
      ? `peers not installed, skipped (figures null): ${raw.missing.join(", ")} — native-free-benchmarks/setup-peers.sh installs them`
      : "peers: restic and borg installed and measured",
    raw.gnuTime
      ? "peer CPU and peak RSS from GNU time (%U+%S, %M) of each command; pvjournal's from its own process (cpuUsage, VmHWM)"
      : "GNU time (/usr/bin/time, Debian package `time`) is missing: peer CPU and peak RSS are null, wall time only",
    unverified.length === 0
      ? "every restored tree matched the source as it was at that round (names, kinds, contents)"
      : `RESTORED TREE DIFFERS from the source for: ${unverified.join(", ")}`,
  ];
  return {
    figures: {
      blockSize,
      rounds,
      dataset: raw.dataset,
      changedBytesPerRound: changedPerRound,
      peersMissing: raw.missing,
      peerCpuAndRssMeasured: raw.gnuTime,
      restoreRound: restore.round,
      tools: { ...tools, cp },
      ratios,
      perRound: raw.rounds.map((r) => ({
        changedBytes: r.changedBytes,
        writes: r.writes,
        ...Object.fromEntries(
          TOOLS.filter((t) => r[t]).map((t) => {
            const { latencies, ...rest } = r[t];
            return [
              t,
              latencies
                ? {
                    ...rest,
                    latencyP50Ms: percentile(latencies, 50),
                    latencyP99Ms: percentile(latencies, 99),
                  }
                : rest,
            ];
          }),
        ),
      })),
    },
    notes: allNotes,
    table,
    compare,
    summary,
  };
}
