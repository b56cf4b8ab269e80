import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterEach, describe, expect, it } from "vitest";
import { Journal } from "../src/journal/journal.js";
import { verifyJournal } from "../src/journal/verify.js";
import { prepareRestore, runRestore } from "../src/restore/restore.js";
import { BlockHasher } from "../src/util/hash.js";
import { freshSeed, prng } from "./support/prng.js";
import { readTree, treeDigest } from "./support/tree.js";

const dirs: string[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const CHILD = join(import.meta.dirname, "support", "crash-child.ts");

/** Runs the child until it has acknowledged a few checkpoints, then SIGKILLs it at a random moment. */
async function runAndKill(dir: string, seed: number, run: number, waitMs: number) {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", CHILD, dir, String(seed), String(run)],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  children.push(child);
  const acked: { cp: number; digest: string }[] = [];
  let stderr = "";
  child.stderr!.on("data", (d) => {
    stderr += d;
  });
  const lines = createInterface({ input: child.stdout! });
  const exited = new Promise<void>((res) => child.on("exit", () => res()));
  let started!: () => void;
  const startedP = new Promise<void>((res) => {
    started = res;
  });
  lines.on("line", (l) => {
    const m = JSON.parse(l) as { started?: boolean; cp?: number; digest?: string };
    if (m.started) started();
    if (m.cp !== undefined) acked.push({ cp: m.cp, digest: m.digest! });
  });
  await Promise.race([startedP, exited]);
  await new Promise((r) => setTimeout(r, waitMs));
  child.kill("SIGKILL");
  await exited;
  if (!child.killed && stderr) throw new Error(`child failed: ${stderr}`);
  return acked;
}

describe("journal crash safety", () => {
  it("keeps every acknowledged checkpoint across kill -9", async () => {
    const seed = freshSeed();
    console.log(`journal crash seed=${seed}`);
    const rand = prng(seed);
    const dir = await mkdtemp(join(tmpdir(), "pvj-crash-"));
    dirs.push(dir);
    const hasher = await BlockHasher.create();
    const all: { run: number; cp: number; digest: string }[] = [];
    for (let run = 0; run < 6; run++) {
      const acked = await runAndKill(dir, seed + run, run, rand.int(200, 900));
      all.push(...acked.map((a) => ({ run, ...a })));
      const journal = await Journal.open({ dir });
      try {
        // The newest acknowledged checkpoint (written just before the kill)
        // and a random sample of older ones, across all runs so far.
        const sample = [
          ...acked.slice(-2).map((a) => ({ run, ...a })),
          ...Array.from({ length: 4 }, () => rand.pick(all)),
        ];
        for (const a of sample) {
          const target = join(await mkdtemp(join(tmpdir(), "pvj-crash-r-")), "t");
          dirs.push(target.slice(0, -2));
          const prepared = await prepareRestore(
            journal,
            { point: { checkpoint: a.cp }, target, paths: [`r${a.run}`] },
            { allowedRoots: null, forbidden: [dir] },
            Date.now(),
          );
          await runRestore(journal, hasher, prepared);
          expect(treeDigest(await readTree(target)), `seed=${seed} run=${a.run} cp=${a.cp}`).toBe(
            a.digest,
          );
        }
        const report = await verifyJournal(journal, hasher);
        expect(report.problems, `seed=${seed}`).toEqual([]);
      } finally {
        await journal.close();
      }
    }
    expect(all.length).toBeGreaterThan(6);
  });
});
