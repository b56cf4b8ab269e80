/**
 * The benchmark harness end to end, so that it cannot rot: the runner runs a
 * journal scenario (--quick) and a peer workload (--tiny: seconds) from dist/
 * (npm test builds first) and must write well-formed results. Checks shapes
 * and correctness (restores verified), never timings. Peers (restic, borg)
 * are used when installed and must be reported as missing otherwise.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..");
const RUNNER = join(ROOT, "native-free-benchmarks", "run.mjs");
const dirs: string[] = [];

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function onPath(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

interface ToolFigures {
  readonly storedPerRoundBytes: number | null;
  readonly protectMs: number | null;
  readonly restoreMs: number | null;
  readonly restoreVerified: boolean | null;
  readonly latencyP99Ms?: number | null;
}

interface PeerFigures {
  readonly peersMissing: string[];
  readonly tools: Record<string, ToolFigures | null>;
  readonly ratios: Record<string, Record<string, number | null> | null>;
}

describe("benchmark harness", () => {
  it("runs a scenario and a peer workload and writes latest.json and latest.md", () => {
    expect(existsSync(join(ROOT, "dist", "cli.js")), "run `npm run build` first").toBe(true);
    const dir = mkdtempSync(join(tmpdir(), "pvj-bench-harness-"));
    dirs.push(dir);
    const out = join(dir, "results");
    const res = spawnSync(
      process.execPath,
      [RUNNER, "--tiny", "--out", out, "journal-append", "peers-applog"],
      { cwd: ROOT, encoding: "utf8", env: { ...process.env, BENCH_DIR: dir }, timeout: 120_000 },
    );
    expect(res.status, res.stderr).toBe(0);

    const json = JSON.parse(readFileSync(join(out, "latest.json"), "utf8"));
    expect(Object.keys(json.scenarios).sort()).toEqual(["journal-append", "peers-applog"]);
    expect(json.machine.cores).toBeGreaterThan(0);
    expect(typeof json.versions.node).toBe("string");

    const append = json.scenarios["journal-append"];
    expect(append.error).toBeUndefined();
    expect(Number.isFinite(append.figures.pvjournalMBps)).toBe(true);
    expect(Number.isFinite(append.figures.appendLatencyP99Ms)).toBe(true);

    const peers = json.scenarios["peers-applog"];
    expect(peers.error).toBeUndefined();
    const f = peers.figures as PeerFigures;
    const pvj = f.tools.pvjournal!;
    for (const v of [pvj.storedPerRoundBytes, pvj.protectMs, pvj.restoreMs, pvj.latencyP99Ms]) {
      expect(Number.isFinite(v)).toBe(true);
    }
    expect(pvj.restoreVerified).toBe(true);
    expect(f.tools.cp?.restoreVerified).toBe(true);
    for (const peer of ["restic", "borg"]) {
      if (onPath(peer)) {
        expect(f.peersMissing).not.toContain(peer);
        expect(Number.isFinite(f.tools[peer]?.protectMs)).toBe(true);
        expect(f.tools[peer]?.restoreVerified).toBe(true);
        expect(Number.isFinite(f.ratios[peer]?.storedPerRoundBytes)).toBe(true);
      } else {
        expect(f.peersMissing).toContain(peer);
        expect(f.tools[peer]).toBeNull();
        expect(f.ratios[peer]).toBeNull();
      }
    }
    expect(Array.isArray(peers.table) && peers.table.length > 0).toBe(true);
    expect(peers.compare.rows.length).toBeGreaterThan(0);

    const md = readFileSync(join(out, "latest.md"), "utf8");
    expect(md).toContain("## Summary: pvjournal vs. peers");
    expect(md).toContain("## journal-append");
    expect(md).toContain("| measure | value | unit |");
    expect(md).toMatch(/\| measure \| unit \| changed \| pvjournal \| restic \| borg \|/);
  });

  it("measures the machine's costs that the other scenarios' ratios depend on", () => {
    const dir = mkdtempSync(join(tmpdir(), "pvj-bench-costs-"));
    dirs.push(dir);
    const out = join(dir, "results");
    const res = spawnSync(process.execPath, [RUNNER, "--tiny", "--out", out, "machine-costs"], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, BENCH_DIR: dir },
      timeout: 120_000,
    });
    expect(res.status, res.stderr).toBe(0);
    const costs = JSON.parse(readFileSync(join(out, "latest.json"), "utf8")).scenarios[
      "machine-costs"
    ];
    expect(costs.error).toBeUndefined();
    const figures = costs.figures as Record<string, number>;
    expect(Object.keys(figures).sort()).toEqual(
      [
        "cliStartMs",
        "createFdatasyncUs",
        "createUs",
        "fdatasync4MiBMs",
        "files",
        "fstatUs",
        "nodeStartMs",
        "pageCacheWriteMBps",
        "pageFaultUs",
        "readFreshBufferUs",
        "readReusedBufferUs",
        "residentPageUs",
      ].sort(),
    );
    for (const [k, v] of Object.entries(figures)) expect(v, k).toBeGreaterThan(0);
    expect(costs.table).toHaveLength(11);
    // The scratch directory (files created and read) is gone afterwards.
    expect(readdirSync(dir).filter((n) => n.startsWith("pvj-bench-costs-"))).toEqual([]);
  });

  it("rejects an unknown scenario name with exit code 2", () => {
    const res = spawnSync(process.execPath, [RUNNER, "--tiny", "no-such-scenario"], {
      cwd: ROOT,
      encoding: "utf8",
    });
    expect(res.status).toBe(2);
    expect(res.stderr).toContain("unknown scenario");
  });
});
