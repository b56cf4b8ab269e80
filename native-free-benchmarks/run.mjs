#!/usr/bin/env node
// Benchmark runner: runs every scenario in scenarios/ (or those named on the
// command line), writes results/latest.json and results/latest.md, prints the
// markdown table. `--quick` shrinks every workload to finish in minutes.
// Usage: node native-free-benchmarks/run.mjs [--quick] [scenario ...]
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { machine } from "./lib.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes("--quick");
const outIdx = args.indexOf("--out");
const outDir = outIdx >= 0 ? args[outIdx + 1] : join(here, "results");
const only = args.filter((a, i) => !a.startsWith("--") && args[i - 1] !== "--out");
const files = readdirSync(join(here, "scenarios"))
  .filter((f) => f.endsWith(".mjs"))
  .sort();

const results = {
  date: new Date().toISOString(),
  quick,
  machine: machine(process.env.BENCH_DIR ?? "/tmp"),
  scenarios: {},
};
for (const f of files) {
  const mod = await import(join(here, "scenarios", f));
  if (only.length > 0 && !only.includes(mod.name)) continue;
  process.stderr.write(`bench: ${mod.name}${quick ? " (quick)" : ""} ...\n`);
  const t = Date.now();
  try {
    results.scenarios[mod.name] = {
      ...(await mod.run({ quick })),
      seconds: (Date.now() - t) / 1000,
    };
  } catch (err) {
    results.scenarios[mod.name] = { error: String(err?.stack ?? err) };
    process.stderr.write(`bench: ${mod.name} failed: ${err?.stack ?? err}\n`);
  }
}

const md = [
  `# pvjournal benchmarks (${results.date}${quick ? ", quick" : ""})`,
  "",
  `Machine: ${results.machine.cores} cores, ${(results.machine.memoryBytes / 2 ** 30).toFixed(0)} GiB, ${results.machine.filesystem}, Node ${results.machine.node}`,
  "",
];
for (const [name, r] of Object.entries(results.scenarios)) {
  md.push(`## ${name}`, "");
  if (r.error) {
    md.push(`failed: ${r.error.split("\n")[0]}`, "");
    continue;
  }
  if (r.notes) md.push(...r.notes.map((n) => `- ${n}`), "");
  md.push("| measure | value | unit |", "|---|---|---|");
  for (const row of r.table ?? []) md.push(`| ${row[0]} | ${row[1] ?? "n/a"} | ${row[2] ?? ""} |`);
  md.push("");
}
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, "latest.json"), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(join(outDir, "latest.md"), `${md.join("\n")}\n`);
process.stdout.write(`${md.join("\n")}\n`);
const failed = Object.values(results.scenarios).some((r) => r.error);
process.exitCode = failed ? 1 : 0;
