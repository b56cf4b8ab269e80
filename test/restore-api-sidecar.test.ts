/**
 * End to end, in-process: a real sidecar (capture, journal, API) on a temp
 * source that a seeded writer changes. Restores and diffs through the API
 * match the source as it was; a fuzz of bad restore bodies changes nothing
 * and capture keeps working: a checkpoint taken afterwards restores exactly.
 */
import { lstat, mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config/load.js";
import { createSidecar, type Sidecar } from "../src/daemon/sidecar.js";
import { isAtOrBelow } from "../src/journal/records.js";
import { silentLogger } from "../src/log/logger.js";
import { tmpDir, waitFor } from "./helpers/index.js";
import { FsWriter } from "./support/fs-writer.js";
import { freshSeed, prng } from "./support/prng.js";
import { diffTrees, readTree, type TreeEntry } from "./support/tree.js";

const TOKEN = "sidecar-e2e-token";
const AUTH = { authorization: `Bearer ${TOKEN}` };
const EXACT = { mtimes: true, dirMtimes: true };

const sidecars: Sidecar[] = [];
afterEach(async () => {
  for (const s of sidecars.splice(0)) await s.stop();
});

/** The source as a restore lays it out: `data/...`, the root included. */
async function reference(src: string): Promise<Map<string, TreeEntry>> {
  const st = await lstat(src);
  const out = new Map<string, TreeEntry>([
    ["data", { kind: "dir", mode: st.mode & 0o7777, mtimeMs: st.mtimeMs }],
  ]);
  for (const [p, e] of await readTree(src)) out.set(`data/${p}`, e);
  return out;
}

interface DiffAnswer {
  created: { path: string }[];
  deleted: { path: string }[];
  renamed: { from: string; to: string }[];
  changed: { path: string; sizeAfter: number }[];
}

/** Applies a diff's namespace changes to the old path set (renames by their deepest listed ancestor). */
function applyDiff(before: Iterable<string>, d: DiffAnswer): Set<string> {
  const deleted = new Set(d.deleted.map((e) => e.path));
  const out = new Set<string>();
  for (const p of before) {
    if (deleted.has(p)) continue;
    const r = d.renamed
      .filter((x) => isAtOrBelow(p, x.from))
      .sort((a, b) => b.from.length - a.from.length)[0];
    out.add(r ? r.to + p.slice(r.from.length) : p);
  }
  for (const e of d.created) out.add(e.path);
  return out;
}

describe("a live sidecar", () => {
  it("restores and diffs checkpoints exactly, and keeps capturing through a fuzz of bad restores", async () => {
    const seed = freshSeed();
    console.log(`sidecar e2e seed ${seed} (TEST_SEED=${seed} to replay)`);
    const rand = prng(seed);
    const base = await tmpDir("pvj-sidecar-e2e-");
    const src = join(base, "src");
    const root = join(base, "restore");
    await mkdir(src);
    await mkdir(root);
    await writeFile(join(base, "token"), TOKEN);
    const file = join(base, "pvjournal.yaml");
    await writeFile(
      file,
      [
        "sources:",
        "  - name: data",
        "    path: ./src",
        "journal:",
        "  dir: ./journal",
        "  blockSize: 4KiB",
        "api:",
        "  listen: 127.0.0.1:7070",
        "  tokenFile: ./token",
        "checkpoints:",
        "  interval: 0s",
        "capture:",
        "  debounce: 30ms",
        "  maxWait: 150ms",
        "  rescanInterval: 0s",
        "restore:",
        "  allowedRoots: [./restore]",
        "log:",
        "  level: silent",
      ].join("\n"),
    );
    const config = loadConfig({ file, role: "sidecar", cwd: base });
    const sidecar = await createSidecar(config, silentLogger(), { token: TOKEN, https: null });
    sidecars.push(sidecar);
    sidecar.start();
    const { app } = sidecar;
    await waitFor(
      async () => (await app.inject({ method: "GET", url: "/readyz" })).statusCode === 200,
      {
        timeout: 20_000,
        what: "initial scan",
      },
    );

    const writer = new FsWriter(src, rand, 4096);
    const checkpoint = async () => {
      const res = await app.inject({
        method: "POST",
        url: "/v1/checkpoints",
        headers: { ...AUTH, "content-type": "application/json" },
        payload: "{}",
      });
      expect(res.statusCode, res.body).toBe(201);
      return { id: res.json().id as number, ref: await reference(src) };
    };
    const restore = async (body: Record<string, unknown>) => {
      const res = await app.inject({
        method: "POST",
        url: "/v1/restores",
        headers: { ...AUTH, "content-type": "application/json" },
        payload: JSON.stringify(body),
      });
      expect(res.statusCode, res.body).toBe(202);
      return waitFor(
        async () => {
          const j = (
            await app.inject({ method: "GET", url: `/v1/restores/${res.json().id}`, headers: AUTH })
          ).json();
          return j.state === "done" || j.state === "failed" ? j : null;
        },
        { timeout: 30_000, what: "restore" },
      );
    };

    for (let i = 0; i < 30; i++) await writer.step();
    const cp1 = await checkpoint();
    for (let i = 0; i < 30; i++) await writer.step();
    const cp2 = await checkpoint();

    for (const cp of [cp1, cp2]) {
      const target = join(root, `cp${cp.id}`);
      expect((await restore({ checkpoint: cp.id, target })).state).toBe("done");
      expect(diffTrees(cp.ref, await readTree(target), EXACT)).toEqual([]);
    }

    // The diff explains the second tree from the first.
    const d = (
      await app.inject({
        method: "GET",
        url: `/v1/diff?from=cp:${cp1.id}&to=cp:${cp2.id}`,
        headers: AUTH,
      })
    ).json() as DiffAnswer;
    expect([...applyDiff(cp1.ref.keys(), d)].sort()).toEqual([...cp2.ref.keys()].sort());
    const changed = new Set(d.changed.map((c) => c.path));
    for (const [p, e] of cp2.ref) {
      const old = cp1.ref.get(p);
      if (e.kind !== "file" || old?.kind !== "file" || d.created.some((c) => c.path === p))
        continue;
      if (!old.content!.equals(e.content!) || old.mode !== e.mode) expect(changed, p).toContain(p);
    }
    for (const c of d.changed) {
      const e = cp2.ref.get(c.path)!;
      if (e.kind === "file") expect(c.sizeAfter).toBe(e.content!.length);
    }

    // A fuzz of bad bodies: every one refused, nothing written.
    const before = await readTree(root);
    for (let i = 0; i < 150; i++) {
      const body = rand.pick<() => Record<string, unknown>>([
        () => ({ target: join(root, `f${i}`) }),
        () => ({ checkpoint: cp1.id, seq: 1, target: join(root, `f${i}`) }),
        () => ({ checkpoint: 10_000 + i, target: join(root, `f${i}`) }),
        () => ({
          at: new Date(Date.now() + 86_400_000).toISOString(),
          target: join(root, `f${i}`),
        }),
        () => ({ at: "2000-01-01T00:00:00Z", target: join(root, `f${i}`) }),
        () => ({ checkpoint: cp1.id, target: join(src, `f${i}`) }),
        () => ({ checkpoint: cp1.id, target: src }),
        () => ({ checkpoint: cp1.id, target: config.journal.dir }),
        () => ({ checkpoint: cp1.id, target: `${root}/../src/f${i}` }),
        () => ({ checkpoint: cp1.id, target: join(base, `f${i}`) }),
        () => ({ checkpoint: cp1.id, target: join(root, `cp${cp1.id}`) }),
        () => ({ checkpoint: String(cp1.id), target: join(root, `f${i}`) }),
        () => ({ checkpoint: cp1.id, target: join(root, `f${i}`), paths: ["data/../.."] }),
      ])();
      const res = await app.inject({
        method: "POST",
        url: "/v1/restores",
        headers: { ...AUTH, "content-type": "application/json" },
        payload: JSON.stringify(body),
      });
      expect(res.statusCode, JSON.stringify(body)).toBeGreaterThanOrEqual(400);
      expect(res.statusCode, JSON.stringify(body)).toBeLessThan(500);
      expect(Object.keys(res.json())).toEqual(["error"]);
    }
    expect(diffTrees(before, await readTree(root), EXACT)).toEqual([]);
    expect((await readdir(base)).sort()).toEqual([
      "journal",
      "pvjournal.yaml",
      "restore",
      "src",
      "token",
    ]);

    // Capture kept going: a write after the fuzz is in the next checkpoint, restored exactly.
    // (The random writer runs first: it may rename or delete anything it sees.)
    for (let i = 0; i < 10; i++) await writer.step();
    await writeFile(join(src, "after-fuzz.txt"), "still capturing\n");
    const cp3 = await checkpoint();
    expect(cp3.ref.has("data/after-fuzz.txt")).toBe(true);
    const target = join(root, "final");
    expect((await restore({ checkpoint: cp3.id, target })).state).toBe("done");
    expect(diffTrees(cp3.ref, await readTree(target), EXACT)).toEqual([]);
  });
});
