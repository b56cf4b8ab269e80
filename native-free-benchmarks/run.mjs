#!/usr/bin/env node
// Benchmark runner: runs every scenario in scenarios/ (or those named on the
// command line), writes results/latest.json and results/latest.md, prints the
// markdown tables. `--quick` shrinks every workload to finish in minutes;
// `--tiny` (for the harness test) shrinks the peer workloads to seconds and
// runs the others as --quick.
// Usage: node native-free-benchmarks/run.mjs [--quick | --tiny] [--out DIR] [scenario ...]
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { GNU_TIME, machine, toolVersion } from "./lib.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const tiny = args.includes("--tiny");
const quick = tiny || args.includes("--quick");
const outIdx = args.indexOf("--out");
const outDir = outIdx >= 0 ? args[outIdx + 1] : join(here, "results");
const only = args.filter((a, i) => !a.startsWith("--") && args[i - 1] !== "--out");
const files = readdirSync(join(here, "scenarios"))
  .filter((f) => f.endsWith(".mjs"))
  .sort();

const known = [];
for (const f of files) known.push((await import(join(here, "scenarios", f))).name);
const unknown = only.filter((n) => !known.includes(n));
if (unknown.length > 0) {
  process.stderr.write(
    `bench: unknown scenario(s): ${unknown.join(", ")}; known: ${known.join(", ")}\n`,
  );
  process.exit(2);
}

const pkg = JSON.parse(readFileSync(join(here, "..", "package.json"), "utf8"));
const results = {
  date: new Date().toISOString(),
  quick,
  tiny,
  command: `node native-free-benchmarks/run.mjs ${args.join(" ")}`.trim(),
  machine: machine(process.env.BENCH_DIR ?? "/tmp"),
  versions: {
    pvjournal: pkg.version,
    node: process.version,
    restic: toolVersion("restic", ["version"]),
    borg: toolVersion("borg"),
    rsync: toolVersion("rsync"),
    cp: toolVersion("cp"),
    gnuTime: GNU_TIME ? toolVersion(GNU_TIME) : null,
  },
  scenarios: {},
};
for (const f of files) {
  const mod = await import(join(here, "scenarios", f));
  if (only.length > 0 && !only.includes(mod.name)) continue;
  process.stderr.write(`bench: ${mod.name}${tiny ? " (tiny)" : quick ? " (quick)" : ""} ...\n`);
  const t = Date.now();
  try {
    results.scenarios[mod.name] = {
      ...(await mod.run({ quick, tiny })),
      seconds: (Date.now() - t) / 1000,
    };
  } catch (err) {
    results.scenarios[mod.name] = { error: String(err?.stack ?? err) };
    process.stderr.write(`bench: ${mod.name} failed: ${err?.stack ?? err}\n`);
  }
}

const cellOf = (v) => (v === null || v === undefined ? "n/a" : String(v));
const row = (cells) => `| ${cells.map(cellOf).join(" | ")} |`;
const md = [
  `# pvjournal benchmarks (${results.date}${tiny ? ", tiny" : quick ? ", quick" : ""})`,
  "",
  `Machine: ${results.machine.cores} cores, ${(results.machine.memoryBytes / 2 ** 30).toFixed(0)} GiB, ${results.machine.filesystem}, Node ${results.machine.node}; ` +
    `restic: ${results.versions.restic ?? "not installed"}; borg: ${results.versions.borg ?? "not installed"}`,
  "",
  `Command: \`${results.command}\``,
  "",
];
// Across workloads: the headline measures of every scenario compared with peers.
const summarised = Object.entries(results.scenarios).filter(([, r]) => r.summary);
if (summarised.length > 0) {
  md.push(
    "## Summary: pvjournal vs. peers (ratio = peer ÷ pvjournal; above 1 pvjournal costs less)",
    "",
    row([
      "workload",
      "measure",
      "unit",
      "pvjournal",
      "restic",
      "borg",
      "cp -r",
      "restic ÷ pvj",
      "borg ÷ pvj",
      "cp ÷ pvj",
    ]),
    row(Array(10).fill("---")),
  );
  for (const [name, r] of summarised) {
    for (const s of r.summary) {
      md.push(
        row([
          name,
          s.measure,
          s.unit,
          s.pvjournal,
          s.restic,
          s.borg,
          s.cp,
          s.ratios.restic,
          s.ratios.borg,
          s.ratios.cp,
        ]),
      );
    }
  }
  md.push("");
}
for (const [name, r] of Object.entries(results.scenarios)) {
  md.push(`## ${name}`, "");
  if (r.error) {
    md.push(`failed: ${r.error.split("\n")[0]}`, "");
    continue;
  }
  if (r.notes) md.push(...r.notes.map((n) => `- ${n}`), "");
  if (r.compare) {
    md.push(row(r.compare.columns), row(r.compare.columns.map(() => "---")));
    for (const cells of r.compare.rows) md.push(row(cells));
  } else {
    md.push("| measure | value | unit |", "|---|---|---|");
    for (const t of r.table ?? []) md.push(`| ${t[0]} | ${t[1] ?? "n/a"} | ${t[2] ?? ""} |`);
  }
  md.push("");
}
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, "latest.json"), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(join(outDir, "latest.md"), `${md.join("\n")}\n`);
process.stdout.write(`${md.join("\n")}\n`);
const failed = Object.values(results.scenarios).some((r) => r.error);
process.exitCode = failed ? 1 : 0;
