import { mkdir, readdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { FastifyInstance, InjectOptions } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { CHUNK_BLOCKS } from "../src/journal/chunked-plan.js";
import type { Journal } from "../src/journal/journal.js";
import { isAtOrBelow } from "../src/journal/records.js";
import type { RestoreJobView } from "../src/restore/jobs.js";
import { prepareRestore, runRestore } from "../src/restore/restore.js";
import { tmpDir, waitFor } from "./helpers/index.js";
import { freshSeed, prng } from "./support/prng.js";
import {
  buildModelJournal,
  type ModelJournal,
  type ModelPoint,
  restoreServer,
  slowJournal,
  TEST_TOKEN,
} from "./support/restore-fixture.js";
import { diffTrees, readTree, type TreeEntry } from "./support/tree.js";

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

const AUTH = { authorization: `Bearer ${TEST_TOKEN}` };
const ERROR_SHAPE = {
  error: { code: expect.stringMatching(/^[A-Z][A-Z0-9_]*$/), message: expect.any(String) },
};

/** A temp layout: restore roots, a journal and a source inside one root, a dir outside every root. */
interface Rig extends ModelJournal {
  readonly base: string;
  readonly root: string;
  readonly shared: string;
  readonly journalDir: string;
  readonly sourceDir: string;
  readonly outside: string;
  readonly app: FastifyInstance;
}

async function rig(
  opts: { seed?: number; slowMs?: number; concurrency?: number; bigBlocks?: number } = {},
): Promise<Rig> {
  const base = await tmpDir("pvj-restore-api-");
  const root = join(base, "restore");
  const shared = join(base, "shared");
  const journalDir = join(shared, "journal");
  const sourceDir = join(shared, "source");
  const outside = join(base, "outside");
  for (const d of [root, shared, sourceDir, outside]) await mkdir(d, { recursive: true });
  await writeFile(join(outside, "keep"), "outside the roots");
  await symlink(outside, join(root, "escape"));
  await mkdir(join(root, "full"));
  await writeFile(join(root, "full", "x"), "occupied");
  await writeFile(join(root, "file"), "a file");
  await symlink("loop", join(root, "loop"));
  const built = await buildModelJournal(journalDir, {
    seed: opts.seed ?? 3,
    ops: 160,
    every: 40,
    ...(opts.bigBlocks ? { bigBlocks: opts.bigBlocks } : {}),
  });
  closers.push(() => built.journal.close());
  const app = await restoreServer({
    journal: opts.slowMs ? slowJournal(built.journal, opts.slowMs) : built.journal,
    hasher: built.hasher,
    policy: { allowedRoots: [root, shared], forbidden: [journalDir, sourceDir] },
    concurrency: opts.concurrency ?? 2,
  });
  closers.push(() => app.close());
  return { ...built, base, root, shared, journalDir, sourceDir, outside, app };
}

function post(app: FastifyInstance, body: unknown, extra: Partial<InjectOptions> = {}) {
  return app.inject({
    method: "POST",
    url: "/v1/restores",
    headers: { ...AUTH, "content-type": "application/json" },
    payload: JSON.stringify(body),
    ...extra,
  });
}

async function job(app: FastifyInstance, id: string): Promise<RestoreJobView> {
  const res = await app.inject({ method: "GET", url: `/v1/restores/${id}`, headers: AUTH });
  expect(res.statusCode).toBe(200);
  return res.json();
}

async function finished(app: FastifyInstance, id: string): Promise<RestoreJobView> {
  return waitFor(
    async () => {
      const j = await job(app, id);
      return j.state === "done" || j.state === "failed" ? j : null;
    },
    { timeout: 30_000, what: `restore ${id}` },
  );
}

/** Everything below `base` except the journal (SQLite touches its files on reads). */
async function filesystem(r: Rig): Promise<Map<string, TreeEntry>> {
  const tree = await readTree(r.base);
  for (const k of [...tree.keys()]) if (isAtOrBelow(k, "shared/journal")) tree.delete(k);
  return tree;
}

async function offline(journal: Journal, r: Rig, point: ModelPoint, paths: string[] | null) {
  const target = join(await tmpDir(), "offline");
  const prepared = await prepareRestore(
    journal,
    { point: { checkpoint: point.cp.id }, target, paths },
    { allowedRoots: null, forbidden: [r.journalDir] },
    Date.now(),
  );
  await runRestore(journal, r.hasher, prepared);
  return readTree(target);
}

const iso = (ms: number) => new Date(ms).toISOString();

describe("restore through the API", () => {
  it("equals the offline restore and the model, byte for byte, for checkpoint, seq and at points, whole and with paths", async () => {
    const r = await rig();
    let n = 0;
    for (const point of [r.points[1]!, r.points[3]!]) {
      const whole = await offline(r.journal, r, point, null);
      expect(diffTrees(point.tree, whole, { mtimes: true })).toEqual([]);
      // The checkpoint is its own append batch: 500 ms after it, nothing newer exists yet.
      for (const p of [
        { checkpoint: point.cp.id },
        { seq: point.cp.seq },
        { at: iso(point.cp.ts + 500) },
      ]) {
        const target = join(r.root, `whole-${n++}`);
        const res = await post(r.app, { ...p, target });
        expect(res.statusCode, JSON.stringify(p)).toBe(202);
        expect(res.headers.location).toBe(`/v1/restores/${res.json().id}`);
        const done = await finished(r.app, res.json().id);
        expect(done).toMatchObject({ state: "done", point: { seq: point.cp.seq } });
        expect(done.bytesDone).toBe(done.bytesTotal);
        expect(done.files).toBe(done.filesTotal);
        expect(done.error).toBeUndefined();
        const got = await readTree(target);
        expect(diffTrees(point.tree, got, { mtimes: true })).toEqual([]);
        expect(diffTrees(whole, got, { mtimes: true, dirMtimes: true })).toEqual([]);
      }
      // A subset: a directory with children if there is one, else a file.
      const dirs = [...point.state].filter(
        ([p, e]) =>
          e.kind === "dir" &&
          p !== "data" &&
          [...point.state.keys()].some((k) => k.startsWith(`${p}/`)),
      );
      const files = [...point.state].filter(([, e]) => e.kind === "file");
      for (const [subset] of [dirs[0] ?? files[0]!, files[files.length - 1]!]) {
        const target = join(r.root, `part-${n++}`);
        const res = await post(r.app, { checkpoint: point.cp.id, target, paths: [subset] });
        expect(res.statusCode).toBe(202);
        expect((await finished(r.app, res.json().id)).state).toBe("done");
        const got = await readTree(target);
        const want = new Map([...point.tree].filter(([p]) => isAtOrBelow(p, subset)));
        const gotSubset = new Map([...got].filter(([p]) => isAtOrBelow(p, subset)));
        expect(diffTrees(want, gotSubset, { mtimes: true })).toEqual([]);
        // Everything else in the target is an ancestor of the subset.
        for (const p of got.keys())
          if (!gotSubset.has(p)) expect(subset.startsWith(`${p}/`)).toBe(true);
        expect(
          diffTrees(await offline(r.journal, r, point, [subset]), got, { mtimes: true }),
        ).toEqual([]);
      }
    }
    const list = await r.app.inject({ method: "GET", url: "/v1/restores", headers: AUTH });
    expect(list.json().restores).toHaveLength(n);
  });

  it("answers bad requests with a 4xx in the contract's shape and writes nothing", async () => {
    const r = await rig();
    const cp = r.points[0]!.cp;
    const before = await filesystem(r);
    const ok = { checkpoint: cp.id };
    const t = join(r.root, "new");
    const cases: [string, unknown, number, string][] = [
      ["no point", { target: t }, 400, "BAD_REQUEST"],
      ["two points", { checkpoint: cp.id, seq: cp.seq, target: t }, 400, "BAD_REQUEST"],
      [
        "three points",
        { checkpoint: cp.id, seq: 1, at: iso(cp.ts), target: t },
        400,
        "BAD_REQUEST",
      ],
      ["a word for at", { at: "yesterday", target: t }, 400, "INVALID_POINT"],
      ["at without a zone", { at: "2026-01-01T00:00:00", target: t }, 400, "INVALID_POINT"],
      ["unknown checkpoint", { checkpoint: 9999, target: t }, 404, "CHECKPOINT_NOT_FOUND"],
      ["ancient at", { at: iso(r.startTs - 3_600_000), target: t }, 422, "POINT_OUT_OF_RANGE"],
      ["future at", { at: iso(Date.now() + 3_600_000), target: t }, 422, "POINT_OUT_OF_RANGE"],
      ["seq past the end", { seq: 10 ** 9, target: t }, 422, "POINT_OUT_OF_RANGE"],
      ["seq 0", { seq: 0, target: t }, 422, "POINT_OUT_OF_RANGE"],
      ["checkpoint as a string", { checkpoint: String(cp.id), target: t }, 400, "BAD_REQUEST"],
      ["negative seq", { seq: -1, target: t }, 400, "BAD_REQUEST"],
      ["fractional seq", { seq: 1.5, target: t }, 400, "BAD_REQUEST"],
      ["at as a number", { at: cp.ts, target: t }, 400, "BAD_REQUEST"],
      ["target as a number", { ...ok, target: 5 }, 400, "BAD_REQUEST"],
      ["no target", ok, 400, "BAD_REQUEST"],
      ["empty target", { ...ok, target: "" }, 400, "BAD_REQUEST"],
      ["paths as a string", { ...ok, target: t, paths: "data" }, 400, "BAD_REQUEST"],
      ["paths with a number", { ...ok, target: t, paths: [1] }, 400, "BAD_REQUEST"],
      ["paths with ..", { ...ok, target: t, paths: ["data/../x"] }, 400, "BAD_REQUEST"],
      ["paths that never existed", { ...ok, target: t, paths: ["data/nope"] }, 404, "NOT_FOUND"],
      ["an unknown field", { ...ok, target: t, force: true }, 400, "BAD_REQUEST"],
      ["a relative target", { ...ok, target: "restore/x" }, 403, "TARGET_NOT_ALLOWED"],
      [
        "a target outside the roots",
        { ...ok, target: join(r.outside, "x") },
        403,
        "TARGET_NOT_ALLOWED",
      ],
      ["/", { ...ok, target: "/" }, 403, "TARGET_NOT_ALLOWED"],
      ["a root itself", { ...ok, target: r.root }, 403, "TARGET_NOT_ALLOWED"],
      ["..", { ...ok, target: `${r.root}/../outside/y` }, 403, "TARGET_NOT_ALLOWED"],
      [
        "through a symlink out of the root",
        { ...ok, target: join(r.root, "escape", "z") },
        403,
        "TARGET_NOT_ALLOWED",
      ],
      [
        "the escaping symlink itself",
        { ...ok, target: join(r.root, "escape") },
        403,
        "TARGET_NOT_ALLOWED",
      ],
      ["the journal dir", { ...ok, target: r.journalDir }, 403, "TARGET_NOT_ALLOWED"],
      [
        "inside the journal dir",
        { ...ok, target: join(r.journalDir, "sub") },
        403,
        "TARGET_NOT_ALLOWED",
      ],
      ["the source", { ...ok, target: r.sourceDir }, 403, "TARGET_NOT_ALLOWED"],
      ["above the source", { ...ok, target: r.shared }, 403, "TARGET_NOT_ALLOWED"],
      ["a NUL byte", { ...ok, target: `${r.root}/a\u0000b` }, 403, "TARGET_NOT_ALLOWED"],
      ["a non-empty target", { ...ok, target: join(r.root, "full") }, 409, "TARGET_NOT_EMPTY"],
      ["a file as target", { ...ok, target: join(r.root, "file") }, 409, "TARGET_NOT_EMPTY"],
      ["below a file", { ...ok, target: join(r.root, "file", "x") }, 403, "TARGET_NOT_ALLOWED"],
      [
        "through a symlink loop",
        { ...ok, target: join(r.root, "loop", "x") },
        403,
        "TARGET_NOT_ALLOWED",
      ],
      [
        "a name too long",
        { ...ok, target: join(r.root, "n".repeat(300), "x") },
        403,
        "TARGET_NOT_ALLOWED",
      ],
      ["an array body", [ok], 400, "BAD_REQUEST"],
      ["a null body", null, 400, "BAD_REQUEST"],
    ];
    for (const [name, body, status, code] of cases) {
      const res = await post(r.app, body);
      expect(res.statusCode, name).toBe(status);
      expect(res.json(), name).toEqual({ error: { code, message: expect.any(String) } });
    }
    const missing = await post(r.app, { target: t });
    expect(missing.json().error.message).toContain("checkpoint, at, seq");

    const raw: [string, Partial<InjectOptions>, number, string][] = [
      ["broken JSON", { payload: '{"checkpoint": 1,' }, 400, "BAD_REQUEST"],
      ["an empty JSON body", { payload: "" }, 400, "BAD_REQUEST"],
      [
        "XML",
        { payload: "<restore/>", headers: { ...AUTH, "content-type": "application/xml" } },
        415,
        "UNSUPPORTED_MEDIA_TYPE",
      ],
      [
        "an oversized body",
        { payload: JSON.stringify({ ...ok, target: t, paths: ["x".repeat(100_000)] }) },
        413,
        "PAYLOAD_TOO_LARGE",
      ],
      ["no token", { headers: { "content-type": "application/json" } }, 401, "UNAUTHORIZED"],
      [
        "a wrong token",
        { headers: { authorization: "Bearer nope", "content-type": "application/json" } },
        401,
        "UNAUTHORIZED",
      ],
    ];
    for (const [name, extra, status, code] of raw) {
      const res = await post(r.app, { ...ok, target: t }, extra);
      expect(res.statusCode, name).toBe(status);
      expect(res.json(), name).toEqual({ error: { code, message: expect.any(String) } });
    }

    for (const [method, url, status, code] of [
      ["GET", "/v1/restores/0123456789abcdef", 404, "NOT_FOUND"],
      ["DELETE", "/v1/restores/0123456789abcdef", 404, "NOT_FOUND"],
      ["GET", "/v1/restores/..%2F..%2Fetc", 400, "BAD_REQUEST"],
      ["GET", "/v1/restores/XYZ", 400, "BAD_REQUEST"],
      ["DELETE", "/v1/restores/1", 400, "BAD_REQUEST"],
    ] as const) {
      const res = await r.app.inject({ method, url, headers: AUTH });
      expect(res.statusCode, url).toBe(status);
      expect(res.json(), url).toEqual({ error: { code, message: expect.any(String) } });
    }
    expect(
      (await r.app.inject({ method: "GET", url: "/v1/restores/0123456789abcdef" })).statusCode,
    ).toBe(401);

    expect(diffTrees(before, await filesystem(r), { mtimes: true, dirMtimes: true })).toEqual([]);
    const list = await r.app.inject({ method: "GET", url: "/v1/restores", headers: AUTH });
    expect(list.json()).toEqual({ restores: [] });
  });

  it("survives a seeded fuzz of bad bodies: all 4xx, nothing written, then a valid restore works", async () => {
    const seed = freshSeed();
    console.log(`restore API fuzz seed ${seed} (TEST_SEED=${seed} to replay)`);
    const rand = prng(seed);
    const r = await rig();
    const cp = r.points[2]!.cp;
    const before = await filesystem(r);
    const junk = (): unknown =>
      rand.pick<() => unknown>([
        () => null,
        () => rand.chance(0.5),
        // Never a usable id or seq: negative or fractional.
        () => (rand.chance(0.5) ? -rand.int(1, 1000) : rand.int(0, 1000) + 0.5),
        () => 2 ** 60,
        () => "",
        () => "x".repeat(rand.int(1, 5000)),
        () => rand.bytes(rand.int(1, 40)).toString("latin1"),
        () => "../../etc",
        () => [null],
        () => [rand.int(0, 5)],
        () => ({ nested: { deep: [1, "a"] } }),
        () => "\u0000",
      ])();
    const goodTarget = () =>
      join(r.root, `fuzz-${rand.int(0, 1e6)}`, ...(rand.chance(0.3) ? ["deeper"] : []));
    const badTarget = () =>
      rand.pick<() => unknown>([
        () => join(r.outside, `x${rand.int(0, 99)}`),
        () => r.root,
        () => r.shared,
        () => `${r.root}/../outside/${rand.int(0, 99)}`,
        () => `${r.root}/a/../../outside`,
        () => join(r.root, "escape", `z${rand.int(0, 99)}`),
        () => join(r.root, "escape"),
        () => join(r.root, "full"),
        () => join(r.root, "file"),
        () => join(r.root, "file", "under-a-file"),
        () => join(r.root, "loop", `l${rand.int(0, 9)}`),
        () => join(r.root, "n".repeat(rand.int(256, 400))),
        () => r.journalDir,
        () => join(r.journalDir, "x"),
        () => r.sourceDir,
        () => join(r.sourceDir, "x"),
        () => "relative/path",
        () => "",
        () => "/",
        () => "/etc/pvj-fuzz",
        () => `${r.root}/nul\u0000`,
        junk,
      ])();
    const goodPoint = (): Record<string, unknown> =>
      rand.pick([{ checkpoint: cp.id }, { seq: cp.seq }, { at: iso(cp.ts) }]);
    const badPoint = (): Record<string, unknown> =>
      rand.pick<() => Record<string, unknown>>([
        () => ({}),
        () => ({ checkpoint: 9999 }),
        () => ({ checkpoint: -1 }),
        () => ({ checkpoint: String(cp.id) }),
        () => ({ seq: 10 ** 9 }),
        () => ({ seq: -3 }),
        () => ({ seq: 0 }),
        () => ({ at: iso(r.startTs - 86_400_000) }),
        () => ({ at: iso(Date.now() + 86_400_000) }),
        () => ({ at: "not a time" }),
        () => ({ at: "2026-01-01T00:00:00" }),
        () => ({ checkpoint: cp.id, seq: cp.seq }),
        () => ({ checkpoint: cp.id, at: iso(cp.ts) }),
        () => ({ seq: junk() }),
        () => ({ checkpoint: junk() }),
        () => ({ at: junk() }),
      ])();
    const badPaths = () =>
      rand.pick<() => unknown>([
        () => ["data/never-existed"],
        () => ["data/../x"],
        () => [""],
        () => "data",
        () => [1],
        () => Array.from({ length: 1001 }, () => "data"),
        junk,
      ])();
    const payloads: { body: string | Buffer; contentType: string }[] = [];
    for (let i = 0; i < 300; i++) {
      const mode = rand.int(0, 5);
      let body: unknown;
      if (mode === 0)
        body = { ...badPoint(), target: rand.chance(0.5) ? goodTarget() : badTarget() };
      else if (mode === 1) body = { ...goodPoint(), target: badTarget() };
      else if (mode === 2) body = { ...goodPoint(), target: goodTarget(), paths: badPaths() };
      else if (mode === 3)
        body = { ...goodPoint(), target: goodTarget(), [`k${rand.int(0, 9)}`]: junk() };
      else if (mode === 4)
        body = rand.chance(0.5) ? junk() : [{ ...goodPoint(), target: goodTarget() }];
      if (mode === 5) {
        const valid = JSON.stringify({ ...goodPoint(), target: goodTarget() });
        payloads.push(
          rand.chance(0.5)
            ? {
                body: valid.slice(0, rand.int(0, valid.length - 1)),
                contentType: "application/json",
              }
            : {
                body: rand.bytes(rand.int(1, 200)),
                contentType: rand.pick(["application/json", "text/plain"]),
              },
        );
      } else {
        // Valid paths only where something else is already wrong (modes 0, 1, 3).
        const obj = body as Record<string, unknown>;
        if (rand.chance(0.3) && mode !== 2 && mode !== 4 && !("paths" in obj))
          obj.paths = rand.chance(0.5) ? ["data"] : badPaths();
        payloads.push({ body: JSON.stringify(body) ?? "null", contentType: "application/json" });
      }
    }
    for (const [i, p] of payloads.entries()) {
      const res = await r.app.inject({
        method: "POST",
        url: "/v1/restores",
        headers: { ...AUTH, "content-type": p.contentType },
        payload: p.body,
      });
      const what = `#${i} (seed ${seed}): ${String(p.body).slice(0, 200)}`;
      expect(res.statusCode, what).toBeGreaterThanOrEqual(400);
      expect(res.statusCode, what).toBeLessThan(500);
      expect(res.json(), what).toEqual(ERROR_SHAPE);
    }
    expect(diffTrees(before, await filesystem(r), { mtimes: true, dirMtimes: true })).toEqual([]);
    const list = await r.app.inject({ method: "GET", url: "/v1/restores", headers: AUTH });
    expect(list.json()).toEqual({ restores: [] });

    const target = join(r.root, "after-fuzz");
    const res = await post(r.app, { checkpoint: cp.id, target });
    expect(res.statusCode).toBe(202);
    expect((await finished(r.app, res.json().id)).state).toBe("done");
    expect(diffTrees(r.points[2]!.tree, await readTree(target), { mtimes: true })).toEqual([]);
  });
});

describe("restore jobs", () => {
  /** Names in the root other than the fixtures (escape, full, file). */
  async function leftovers(r: Rig): Promise<string[]> {
    return (await readdir(r.root))
      .filter((n) => !["escape", "full", "file", "loop"].includes(n))
      .sort();
  }

  it("writes a file of more than CHUNK_BLOCKS blocks chunk by chunk in a job: the model's bytes, progress ending at its total", async () => {
    const r = await rig({ bigBlocks: CHUNK_BLOCKS + 300 });
    const last = r.points[r.points.length - 1]!;
    const target = join(r.root, "chunked");
    const res = await post(r.app, { checkpoint: last.cp.id, target });
    expect(res.statusCode).toBe(202);
    const done = await finished(r.app, res.json().id);
    expect(done).toMatchObject({ state: "done", point: { seq: last.cp.seq } });
    expect(done.bytesDone).toBe(done.bytesTotal);
    expect(done.bytesTotal).toBeGreaterThanOrEqual((CHUNK_BLOCKS + 300) * 4096);
    expect(diffTrees(last.tree, await readTree(target), { mtimes: true })).toEqual([]);
    expect(diffTrees(last.tree, await offline(r.journal, r, last, null), { mtimes: true })).toEqual(
      [],
    );
  });

  it("cancels a running restore (no target, no temp dir), a queued one, and refuses a busy target", async () => {
    const r = await rig({ slowMs: 15, concurrency: 1, bigBlocks: 80 });
    const last = r.points[r.points.length - 1]!;
    const cp = last.cp;
    const a = await post(r.app, { checkpoint: cp.id, target: join(r.root, "deep", "er", "a") });
    expect(a.statusCode).toBe(202);
    const b = await post(r.app, { checkpoint: cp.id, target: join(r.root, "b") });
    expect(b.statusCode).toBe(202);
    expect(b.json().state).toBe("queued");
    expect(b.json().bytesTotal).toBeGreaterThan(80 * 4096 - 1);
    await waitFor(async () => {
      const j = await job(r.app, a.json().id);
      return j.state === "running" && j.bytesDone > 0;
    });

    for (const target of [
      join(r.root, "deep", "er", "a"),
      join(r.root, "deep", "er", "a", "in"),
      join(r.root, "b"),
    ]) {
      const busy = await post(r.app, { checkpoint: cp.id, target });
      expect(busy.statusCode, target).toBe(409);
      expect(busy.json().error.code).toBe("TARGET_NOT_EMPTY");
    }

    const cb = await r.app.inject({
      method: "DELETE",
      url: `/v1/restores/${b.json().id}`,
      headers: AUTH,
    });
    expect(cb.statusCode).toBe(200);
    expect(cb.json()).toMatchObject({
      state: "failed",
      error: { code: "CANCELLED" },
      startedAt: null,
    });

    const ca = await r.app.inject({
      method: "DELETE",
      url: `/v1/restores/${a.json().id}`,
      headers: AUTH,
    });
    expect(ca.statusCode).toBe(200);
    expect(ca.json()).toMatchObject({ state: "failed", error: { code: "CANCELLED" } });
    expect(ca.json().bytesDone).toBeLessThan(ca.json().bytesTotal);
    // No target, no hidden temp dir, and the parents the job created are gone too.
    expect(await leftovers(r)).toEqual([]);
    // Cancelling again is harmless and says the same.
    const again = await r.app.inject({
      method: "DELETE",
      url: `/v1/restores/${a.json().id}`,
      headers: AUTH,
    });
    expect(again.json()).toEqual(ca.json());
    expect((await job(r.app, a.json().id)).state).toBe("failed");

    // The target is free again.
    const c = await post(r.app, { checkpoint: cp.id, target: join(r.root, "b") });
    expect(c.statusCode).toBe(202);
    expect((await finished(r.app, c.json().id)).state).toBe("done");
    expect(diffTrees(last.tree, await readTree(join(r.root, "b")), { mtimes: true })).toEqual([]);
  });

  it("reports a job that fails with its reason and leaves what was there", async () => {
    const r = await rig({ slowMs: 10, concurrency: 1, bigBlocks: 40 });
    const cp = r.points[r.points.length - 1]!.cp;
    const a = await post(r.app, { checkpoint: cp.id, target: join(r.root, "a") });
    const b = await post(r.app, { checkpoint: cp.id, target: join(r.root, "b") });
    expect(b.json().state).toBe("queued");
    // Someone fills b's target while b waits: the restore must not overwrite it.
    await mkdir(join(r.root, "b"));
    await writeFile(join(r.root, "b", "mine"), "not yours");
    expect((await finished(r.app, a.json().id)).state).toBe("done");
    const fb = await finished(r.app, b.json().id);
    expect(fb.state).toBe("failed");
    expect(fb.error).toEqual({
      code: "TARGET_NOT_EMPTY",
      message: expect.stringContaining("not empty"),
    });
    expect(await leftovers(r)).toEqual(["a", "b"]);
    expect(await readdir(join(r.root, "b"))).toEqual(["mine"]);
  });

  it("cancels running restores when the server closes", async () => {
    const r = await rig({ slowMs: 15, bigBlocks: 60 });
    const a = await post(r.app, {
      checkpoint: r.points[r.points.length - 1]!.cp.id,
      target: join(r.root, "x", "a"),
    });
    await waitFor(async () => (await job(r.app, a.json().id)).state === "running");
    await r.app.close();
    expect(await leftovers(r)).toEqual([]);
  });
});

describe("OpenAPI", () => {
  it("describes every restore route with its body, responses and error codes", async () => {
    const r = await rig();
    const doc = (await r.app.inject({ method: "GET", url: "/docs/json" })).json();
    const post = doc.paths["/v1/restores"].post;
    expect(
      Object.keys(post.requestBody.content["application/json"].schema.properties).sort(),
    ).toEqual(["at", "checkpoint", "paths", "seq", "target"]);
    expect(Object.keys(post.responses).sort()).toEqual([
      "202",
      "400",
      "401",
      "403",
      "404",
      "409",
      "413",
      "415",
      "422",
      "503",
    ]);
    expect(post.responses["403"].description).toContain("TARGET_NOT_ALLOWED");
    for (const [path, method, codes] of [
      ["/v1/restores", "get", ["200", "401"]],
      ["/v1/restores/{id}", "get", ["200", "400", "401", "404"]],
      ["/v1/restores/{id}", "delete", ["200", "400", "401", "404"]],
      ["/v1/diff", "get", ["200", "400", "401", "404", "422"]],
      ["/v1/timeline", "get", ["200", "400", "401"]],
    ] as const) {
      expect(Object.keys(doc.paths[path][method].responses).sort(), `${method} ${path}`).toEqual(
        codes,
      );
    }
  });
});
