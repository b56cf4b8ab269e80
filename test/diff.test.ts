import type { FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { diffBody } from "../src/http/bodies.js";
import type { Journal } from "../src/journal/journal.js";
import {
  type ChangedEntry,
  changedBlockBytes,
  type DiffEntry,
  type DiffLists,
  diffEntries,
} from "../src/restore/diff.js";
import { diffPoints } from "../src/restore/diff-journal.js";
import { tmpDir } from "./helpers/index.js";
import { freshSeed } from "./support/prng.js";
import {
  buildModelJournal,
  type ModelState,
  restoreServer,
  TEST_TOKEN,
} from "./support/restore-fixture.js";

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

function entry(path: string, fileId: number, over: Partial<DiffEntry> = {}): DiffEntry {
  return { path, fileId, kind: "file", size: 10, mode: 0o644, mtimeMs: 1000, ...over };
}
const dir = (path: string, fileId: number, over: Partial<DiffEntry> = {}) =>
  entry(path, fileId, { kind: "dir", size: 0, mode: 0o755, ...over });

/** changedBytes stub: 7 when the ids differ (replaced), else 0 unless sizes differ. */
const stub = (a: DiffEntry, b: DiffEntry) =>
  a.fileId !== b.fileId ? 7 : a.size !== b.size ? 3 : 0;

function changed(path: string, over: Partial<ChangedEntry> = {}): ChangedEntry {
  return {
    path,
    kind: "file",
    changedBytes: 0,
    sizeBefore: 10,
    sizeAfter: 10,
    modeChanged: false,
    mtimeChanged: false,
    ...over,
  };
}

const none: DiffLists = { created: [], deleted: [], renamed: [], changed: [] };

describe("diffEntries (pure)", () => {
  const root = dir("data", 1);
  it.each<[string, DiffEntry[], DiffEntry[], DiffLists]>([
    ["identical trees", [root, entry("data/a", 2)], [root, entry("data/a", 2)], none],
    [
      "a created file and directory",
      [root],
      [root, entry("data/a", 2, { size: 5 }), dir("data/d", 3)],
      {
        ...none,
        created: [
          { path: "data/a", kind: "file", bytes: 5 },
          { path: "data/d", kind: "dir", bytes: 0 },
        ],
      },
    ],
    [
      "a deleted directory lists its children",
      [root, dir("data/d", 2), entry("data/d/x", 3)],
      [root],
      {
        ...none,
        deleted: [
          { path: "data/d", kind: "dir" },
          { path: "data/d/x", kind: "file" },
        ],
      },
    ],
    [
      "a renamed file is a rename, not delete + create",
      [root, entry("data/a", 2)],
      [root, entry("data/b", 2)],
      { ...none, renamed: [{ from: "data/a", to: "data/b", kind: "file" }] },
    ],
    [
      "children that moved with a renamed directory are implied",
      [root, dir("data/d", 2), entry("data/d/x", 3), dir("data/d/s", 4), entry("data/d/s/y", 5)],
      [root, dir("data/e", 2), entry("data/e/x", 3), dir("data/e/s", 4), entry("data/e/s/y", 5)],
      { ...none, renamed: [{ from: "data/d", to: "data/e", kind: "dir" }] },
    ],
    [
      "a child moved out of a renamed directory is listed",
      [root, dir("data/d", 2), entry("data/d/x", 3)],
      [root, dir("data/e", 2), entry("data/x2", 3)],
      {
        ...none,
        renamed: [
          { from: "data/d", to: "data/e", kind: "dir" },
          { from: "data/d/x", to: "data/x2", kind: "file" },
        ],
      },
    ],
    [
      "renamed and changed: listed in both, changed under the new path",
      [root, entry("data/a", 2)],
      [root, entry("data/b", 2, { size: 20, mtimeMs: 2000 })],
      {
        ...none,
        renamed: [{ from: "data/a", to: "data/b", kind: "file" }],
        changed: [changed("data/b", { changedBytes: 3, sizeAfter: 20, mtimeChanged: true })],
      },
    ],
    [
      "replaced in place (new identity, same path and kind) is a change",
      [root, entry("data/a", 2)],
      [root, entry("data/a", 9, { mtimeMs: 2000 })],
      { ...none, changed: [changed("data/a", { changedBytes: 7, mtimeChanged: true })] },
    ],
    [
      "a file replaced by a directory is a delete and a create",
      [root, entry("data/a", 2)],
      [root, dir("data/a", 9)],
      {
        ...none,
        created: [{ path: "data/a", kind: "dir", bytes: 0 }],
        deleted: [{ path: "data/a", kind: "file" }],
      },
    ],
    [
      "a mode change alone",
      [root, entry("data/a", 2)],
      [root, entry("data/a", 2, { mode: 0o600 })],
      { ...none, changed: [changed("data/a", { modeChanged: true })] },
    ],
    [
      "a directory's mtime alone is not a change; its mode is",
      [root, dir("data/d", 2), dir("data/m", 3)],
      [root, dir("data/d", 2, { mtimeMs: 5000 }), dir("data/m", 3, { mode: 0o700 })],
      {
        ...none,
        changed: [
          changed("data/m", { kind: "dir", sizeBefore: 0, sizeAfter: 0, modeChanged: true }),
        ],
      },
    ],
    [
      "a retargeted symlink counts its new target's bytes",
      [root, entry("data/l", 2, { kind: "symlink", size: 3, target: "abc" })],
      [root, entry("data/l", 2, { kind: "symlink", size: 5, target: "vwxyz" })],
      {
        ...none,
        changed: [
          changed("data/l", { kind: "symlink", changedBytes: 5, sizeBefore: 3, sizeAfter: 5 }),
        ],
      },
    ],
    [
      "lists are sorted parents first",
      [root],
      [root, entry("data/b-c", 3), dir("data/b", 2), entry("data/b/a", 4)],
      {
        ...none,
        created: [
          { path: "data/b", kind: "dir", bytes: 0 },
          { path: "data/b/a", kind: "file", bytes: 10 },
          { path: "data/b-c", kind: "file", bytes: 10 },
        ],
      },
    ],
  ])("%s", (_name, before, after, want) => {
    expect(diffEntries(before, after, stub)).toEqual(want);
  });
});

describe("changedBlockBytes (pure)", () => {
  const bs = 100;
  it.each<[string, Parameters<typeof changedBlockBytes>[0], number]>([
    [
      "nothing",
      { changedBlocks: [], sizeBefore: 250, sizeAfter: 250, minShrink: null, blockSize: bs },
      0,
    ],
    [
      "one whole block",
      { changedBlocks: [1], sizeBefore: 250, sizeAfter: 250, minShrink: null, blockSize: bs },
      100,
    ],
    [
      "the last, partial block is clipped to the size",
      { changedBlocks: [2], sizeBefore: 250, sizeAfter: 250, minShrink: null, blockSize: bs },
      50,
    ],
    [
      "growth counts the new blocks",
      { changedBlocks: [], sizeBefore: 250, sizeAfter: 450, minShrink: null, blockSize: bs },
      250,
    ],
    [
      "a shrink alone changes no remaining byte",
      { changedBlocks: [], sizeBefore: 450, sizeAfter: 150, minShrink: 150, blockSize: bs },
      0,
    ],
    [
      "cut and regrown: everything past the cut counts",
      { changedBlocks: [0], sizeBefore: 400, sizeAfter: 400, minShrink: 120, blockSize: bs },
      400,
    ],
    [
      "blocks past the new size are ignored",
      { changedBlocks: [7], sizeBefore: 900, sizeAfter: 300, minShrink: 300, blockSize: bs },
      0,
    ],
  ])("%s", (_name, input, want) => {
    expect(changedBlockBytes(input)).toBe(want);
  });
});

/** Checks a diff against the two model states it must describe. */
function checkAgainstModel(
  d: DiffLists,
  a: Map<string, ModelState>,
  b: Map<string, ModelState>,
): void {
  const byIdA = new Map([...a].map(([p, e]) => [e.fileId, { path: p, ...e }]));
  const byIdB = new Map([...b].map(([p, e]) => [e.fileId, { path: p, ...e }]));
  const replaced = new Set(
    [...b]
      .filter(([p, e]) => !byIdA.has(e.fileId) && a.has(p) && !byIdB.has(a.get(p)!.fileId))
      .filter(([p, e]) => a.get(p)!.kind === e.kind)
      .map(([p]) => p),
  );
  const sorted = (xs: string[]) => [...xs].sort();
  expect(sorted(d.created.map((e) => e.path))).toEqual(
    sorted([...b].filter(([p, e]) => !byIdA.has(e.fileId) && !replaced.has(p)).map(([p]) => p)),
  );
  expect(sorted(d.deleted.map((e) => e.path))).toEqual(
    sorted([...a].filter(([p, e]) => !byIdB.has(e.fileId) && !replaced.has(p)).map(([p]) => p)),
  );
  for (const c of d.created) {
    const e = b.get(c.path)!;
    expect(c.kind).toBe(e.kind);
    if (e.kind === "file") expect(c.bytes).toBe(e.content.length);
  }
  // Every move is listed or implied by its parent's move with the same name.
  const moves = new Map<string, string>();
  for (const [id, x] of byIdA) {
    const y = byIdB.get(id);
    if (y && y.kind === x.kind && y.path !== x.path) moves.set(x.path, y.path);
  }
  const listed = new Map(d.renamed.map((r) => [r.from, r.to]));
  for (const [from, to] of listed) expect(moves.get(from)).toBe(to);
  const parent = (p: string) => p.slice(0, p.lastIndexOf("/"));
  const base = (p: string) => p.slice(p.lastIndexOf("/") + 1);
  for (const [from, to] of moves) {
    if (listed.has(from)) continue;
    expect(base(from), `${from} -> ${to} neither listed nor implied`).toBe(base(to));
    expect(moves.get(parent(from))).toBe(parent(to));
  }
  // Changed: exactly the matched (or replaced) files and links whose bytes, mode or mtime differ.
  const want = new Map<string, { before: ModelState; after: ModelState }>();
  for (const [p, after] of b) {
    const before = replaced.has(p) ? a.get(p)! : byIdA.get(after.fileId);
    if (!before || before.kind !== after.kind) continue;
    const differs =
      after.kind === "dir"
        ? before.mode !== after.mode
        : !before.content.equals(after.content) ||
          before.mode !== after.mode ||
          before.mtimeMs !== after.mtimeMs ||
          before.target !== after.target;
    if (differs) want.set(p, { before, after });
  }
  expect(sorted(d.changed.map((c) => c.path))).toEqual(sorted([...want.keys()]));
  for (const c of d.changed) {
    const { before, after } = want.get(c.path)!;
    if (after.kind !== "file") continue;
    expect(c.sizeBefore).toBe(before.content.length);
    expect(c.sizeAfter).toBe(after.content.length);
    expect(c.modeChanged).toBe(before.mode !== after.mode);
    expect(c.mtimeChanged).toBe(before.mtimeMs !== after.mtimeMs);
    let differing = 0;
    for (let i = 0; i < after.content.length; i++)
      if (i >= before.content.length || before.content[i] !== after.content[i]) differing++;
    expect(c.changedBytes, c.path).toBeGreaterThanOrEqual(differing);
    expect(c.changedBytes, c.path).toBeLessThanOrEqual(after.content.length);
  }
}

describe("diff between points of a model-written journal", () => {
  let journal: Journal;

  it("matches the difference of the model trees for every pair of checkpoints", async () => {
    const seed = freshSeed();
    console.log(`diff model seed ${seed} (TEST_SEED=${seed} to replay)`);
    const built = await buildModelJournal(await tmpDir(), { seed, ops: 300, every: 50 });
    journal = built.journal;
    closers.push(() => journal.close());
    const { points } = built;
    expect(points.length).toBe(6);
    let nonEmpty = 0;
    for (let i = 0; i < points.length; i++) {
      for (let j = i; j < points.length; j++) {
        const d = diffPoints(
          journal,
          { checkpoint: points[i]!.cp.id },
          { checkpoint: points[j]!.cp.id },
          Date.now(),
        );
        expect(d.from.seq).toBe(points[i]!.cp.seq);
        expect(d.to.seq).toBe(points[j]!.cp.seq);
        checkAgainstModel(d, points[i]!.state, points[j]!.state);
        if (i === j) expect(d).toMatchObject(none);
        if (d.created.length + d.deleted.length + d.renamed.length + d.changed.length > 0)
          nonEmpty++;
      }
    }
    expect(nonEmpty).toBeGreaterThan(10);
  });

  it("serves the same diff over HTTP for checkpoint, seq and time points; rejects bad ones", async () => {
    const built = await buildModelJournal(await tmpDir(), { seed: 11, ops: 120, every: 40 });
    journal = built.journal;
    closers.push(() => journal.close());
    const app: FastifyInstance = await restoreServer({
      journal,
      hasher: built.hasher,
      policy: { allowedRoots: [], forbidden: [] },
    });
    closers.push(() => app.close());
    const [p1, , p3] = built.points;
    const auth = { authorization: `Bearer ${TEST_TOKEN}` };
    const get = (q: string) => app.inject({ method: "GET", url: `/v1/diff?${q}`, headers: auth });
    const want = diffBody(
      diffPoints(journal, { checkpoint: p1!.cp.id }, { checkpoint: p3!.cp.id }, Date.now()),
    );
    const at = (ts: number) => encodeURIComponent(new Date(ts).toISOString());
    for (const q of [
      `from=cp:${p1!.cp.id}&to=cp:${p3!.cp.id}`,
      `from=seq:${p1!.cp.seq}&to=seq:${p3!.cp.seq}`,
      `from=${at(p1!.cp.ts)}&to=${at(p3!.cp.ts + 500)}`,
    ]) {
      const res = await get(q);
      expect(res.statusCode, q).toBe(200);
      expect(res.json().created).toEqual(want.created);
      expect(res.json().changed).toEqual(want.changed);
      expect(res.json().summary).toEqual(want.summary);
    }
    for (const [q, status, code] of [
      [`from=cp:${p3!.cp.id}&to=cp:${p1!.cp.id}`, 400, "BAD_REQUEST"],
      [`from=cp:${p1!.cp.id}`, 400, "BAD_REQUEST"],
      [`from=yesterday&to=cp:${p1!.cp.id}`, 400, "INVALID_POINT"],
      [`from=cp:999&to=cp:${p1!.cp.id}`, 404, "CHECKPOINT_NOT_FOUND"],
      [`from=cp:${p1!.cp.id}&to=seq:99999999`, 422, "POINT_OUT_OF_RANGE"],
      [`from=cp:${p1!.cp.id}&to=${at(Date.now() + 3_600_000)}`, 422, "POINT_OUT_OF_RANGE"],
      [`from=${at(built.startTs - 3_600_000)}&to=cp:${p1!.cp.id}`, 422, "POINT_OUT_OF_RANGE"],
      [`from=cp:1&to=cp:2&x=1`, 400, "BAD_REQUEST"],
    ] as const) {
      const res = await get(q);
      expect(res.statusCode, q).toBe(status);
      expect(res.json(), q).toEqual({ error: { code, message: expect.any(String) } });
    }
    expect(
      (await app.inject({ method: "GET", url: "/v1/diff?from=cp:1&to=cp:2" })).statusCode,
    ).toBe(401);
  });
});
