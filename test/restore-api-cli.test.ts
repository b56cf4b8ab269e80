/**
 * The CLI's --server paths (restore, checkpoints, diff) and offline diff,
 * spawned from dist/ against a real listening server. Run `npm run build` first.
 */
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { checkpointBody, diffBody } from "../src/http/bodies.js";
import { diffPoints } from "../src/restore/diff-journal.js";
import type { RestoreJobView } from "../src/restore/jobs.js";
import { freePort, runCli, spawnCli, tmpDir, waitFor } from "./helpers/index.js";
import {
  buildModelJournal,
  type ModelJournal,
  restoreServer,
  slowJournal,
  TEST_TOKEN,
} from "./support/restore-fixture.js";
import { diffTrees, readTree } from "./support/tree.js";

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

interface Live extends ModelJournal {
  readonly app: FastifyInstance;
  readonly url: string;
  readonly root: string;
  readonly journalDir: string;
  readonly tokenFile: string;
}

async function live(opts: { slowMs?: number; bigBlocks?: number } = {}): Promise<Live> {
  const base = await tmpDir("pvj-restore-cli-");
  const root = join(base, "restore");
  const journalDir = join(base, "journal");
  await mkdir(root);
  const tokenFile = join(base, "token");
  await writeFile(tokenFile, `${TEST_TOKEN}\n`);
  const built = await buildModelJournal(journalDir, {
    seed: 21,
    ops: 120,
    every: 40,
    ...(opts.bigBlocks ? { bigBlocks: opts.bigBlocks } : {}),
  });
  closers.push(() => built.journal.close());
  const app = await restoreServer({
    journal: opts.slowMs ? slowJournal(built.journal, opts.slowMs) : built.journal,
    hasher: built.hasher,
    policy: { allowedRoots: [root], forbidden: [journalDir] },
  });
  closers.push(() => app.close());
  const port = await freePort();
  await app.listen({ host: "127.0.0.1", port });
  return { ...built, app, url: `http://127.0.0.1:${port}`, root, journalDir, tokenFile };
}

async function jobs(l: Live): Promise<RestoreJobView[]> {
  const res = await l.app.inject({
    method: "GET",
    url: "/v1/restores",
    headers: { authorization: `Bearer ${TEST_TOKEN}` },
  });
  return res.json().restores;
}

describe("pvjournal restore --server", () => {
  it("restores a checkpoint through the daemon and exits 0", async () => {
    const l = await live();
    const point = l.points[1]!;
    const target = join(l.root, "cli");
    const res = await runCli([
      "restore",
      "--checkpoint",
      String(point.cp.id),
      "--target",
      target,
      "--server",
      l.url,
      "--token-file",
      l.tokenFile,
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toMatch(new RegExp(`restored seq ${point.cp.seq} .* into ${target}`));
    expect(diffTrees(point.tree, await readTree(target), { mtimes: true })).toEqual([]);

    const at = new Date(point.cp.ts + 500).toISOString();
    const sub = join(l.root, "cli-at");
    const byTime = await runCli([
      "restore",
      "--at",
      at,
      "--target",
      sub,
      "--paths",
      "data",
      "--server",
      l.url,
      "--token-file",
      l.tokenFile,
    ]);
    expect(byTime.code, byTime.stderr).toBe(0);
    expect(diffTrees(point.tree, await readTree(sub), { mtimes: true })).toEqual([]);
  });

  it("exits 1 with the daemon's reason for a refused restore, 2 for a relative target", async () => {
    const l = await live();
    const args = ["--server", l.url, "--token-file", l.tokenFile, "--checkpoint", "1"];
    const outside = await runCli(["restore", ...args, "--target", "/tmp/pvj-not-a-root/x"]);
    expect(outside.code).toBe(1);
    expect(outside.stderr).toContain("TARGET_NOT_ALLOWED");
    const unknown = await runCli([
      "restore",
      "--server",
      l.url,
      "--token-file",
      l.tokenFile,
      "--checkpoint",
      "999",
      "--target",
      join(l.root, "x"),
    ]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("CHECKPOINT_NOT_FOUND");
    const noToken = await runCli([
      "restore",
      "--server",
      l.url,
      "--checkpoint",
      "1",
      "--target",
      join(l.root, "x"),
    ]);
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toContain("UNAUTHORIZED");
    const relative = await runCli(["restore", ...args, "--target", "relative/x"]);
    expect(relative.code).toBe(2);
    expect(relative.stderr).toContain("absolute");
    expect(await readdir(l.root)).toEqual([]);
  });

  it("cancels the job on SIGINT and exits 1, leaving nothing behind", async () => {
    const l = await live({ slowMs: 20, bigBlocks: 100 });
    const last = l.points[l.points.length - 1]!;
    const cli = spawnCli([
      "restore",
      "--checkpoint",
      String(last.cp.id),
      "--target",
      join(l.root, "interrupted"),
      "--server",
      l.url,
      "--token-file",
      l.tokenFile,
    ]);
    await waitFor(
      async () => {
        cli.assertRunning();
        return (await jobs(l)).some((j) => j.state === "running" && j.bytesDone > 0);
      },
      { timeout: 15_000, what: "a running restore" },
    );
    cli.child.kill("SIGINT");
    const res = await cli.exited;
    expect(res.code, res.stderr).toBe(1);
    expect(res.stderr).toContain("cancelled");
    const [j] = await jobs(l);
    expect(j).toMatchObject({ state: "failed", error: { code: "CANCELLED" } });
    expect(await readdir(l.root)).toEqual([]);
  });
});

describe("pvjournal checkpoints --server and diff", () => {
  it("lists checkpoints through the daemon like the offline listing", async () => {
    const l = await live();
    const res = await runCli([
      "checkpoints",
      "--server",
      l.url,
      "--token-file",
      l.tokenFile,
      "--json",
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({
      checkpoints: l.points.map((p) => checkpointBody(p.cp)),
    });
    const table = await runCli(["checkpoints", "--server", l.url, "--token-file", l.tokenFile]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^ID\s+SEQ\s+TIME \(UTC\)\s+CONSISTENCY\s+LABEL$/m);
    expect(table.stdout).toContain("cp3");
  });

  it("prints the same diff offline and through the daemon", async () => {
    const l = await live();
    const [a, , c] = l.points;
    const want = diffBody(
      diffPoints(l.journal, { checkpoint: a!.cp.id }, { checkpoint: c!.cp.id }, Date.now()),
    );
    const range = ["--from", `cp:${a!.cp.id}`, "--to", `seq:${c!.cp.seq}`];
    const offline = await runCli(["diff", ...range, "--journal", l.journalDir, "--json"]);
    expect(offline.code, offline.stderr).toBe(0);
    const server = await runCli([
      "diff",
      ...range,
      "--server",
      l.url,
      "--token-file",
      l.tokenFile,
      "--json",
    ]);
    expect(server.code, server.stderr).toBe(0);
    for (const out of [JSON.parse(offline.stdout), JSON.parse(server.stdout)]) {
      expect(out.created).toEqual(want.created);
      expect(out.deleted).toEqual(want.deleted);
      expect(out.renamed).toEqual(want.renamed);
      expect(out.changed).toEqual(want.changed);
      expect(out.summary).toEqual(want.summary);
    }
    const human = await runCli(["diff", ...range, "--journal", l.journalDir]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`from checkpoint ${a!.cp.id}, seq ${a!.cp.seq}`);
    expect(human.stdout).toMatch(/\d+ created \(.*\), \d+ deleted, \d+ renamed, \d+ changed/);
    for (const e of want.created) expect(human.stdout).toContain(`+ ${e.path}`);

    const bad = await runCli([
      "diff",
      "--from",
      "nonsense",
      "--to",
      "cp:1",
      "--journal",
      l.journalDir,
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--from");
    const reversed = await runCli([
      "diff",
      "--from",
      `cp:${c!.cp.id}`,
      "--to",
      `cp:${a!.cp.id}`,
      "--server",
      l.url,
      "--token-file",
      l.tokenFile,
    ]);
    expect(reversed.code).toBe(1);
    expect(reversed.stderr).toContain("later than");
  });
});
