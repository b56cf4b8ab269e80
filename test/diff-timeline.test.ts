import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { INDEX_FILE } from "../src/journal/options.js";
import { bucketCount, chooseBucketMs, fillBuckets, MAX_BUCKETS } from "../src/restore/timeline.js";
import { tmpDir } from "./helpers/index.js";
import { buildModelJournal, restoreServer, TEST_TOKEN } from "./support/restore-fixture.js";

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

describe("timeline bucketing (pure)", () => {
  it.each([
    ["an instant", 10 * S, 10 * S, S],
    ["99 s", 0, 99 * S, S],
    ["100 s: one more aligned bucket than fits at 1 s", 0, 100 * S, 2 * S],
    ["an hour", 0, H, M],
    ["an unaligned hour", 30 * S, H + 30 * S, M],
    ["a day", 0, D, 15 * M],
    ["30 days", 0, 30 * D, 12 * H],
    ["a year", 0, 365 * D, 7 * D],
    ["ten years: whole days beyond the list", 0, 3650 * D, 37 * D],
  ])("%s", (_name, from, to, want) => {
    expect(chooseBucketMs(from, to)).toBe(want);
    expect(bucketCount(from, to, want)).toBeLessThanOrEqual(MAX_BUCKETS);
  });

  it("picks sizes for arbitrary spans within the bucket limit", () => {
    for (let span = 1; span < 1000 * D; span = Math.ceil(span * 1.7)) {
      const from = 1_700_000_123_456;
      const size = chooseBucketMs(from, from + span);
      expect(bucketCount(from, from + span, size), `span ${span}`).toBeLessThanOrEqual(MAX_BUCKETS);
    }
  });

  it("lays out dense aligned buckets and fills sparse rows", () => {
    const rows = {
      records: [
        { b: 10, n: 4 },
        { b: 12, n: 1 },
      ],
      bytes: [{ b: 10, n: 8192 }],
      files: [{ b: 12, n: 1 }],
      checkpoints: [{ b: 11, n: 2 }],
    };
    expect(fillBuckets(10_500, 12_000, 1000, rows)).toEqual([
      {
        start: 10_000,
        end: 11_000,
        records: 4,
        bytesWritten: 8192,
        filesChanged: 0,
        checkpoints: 0,
      },
      { start: 11_000, end: 12_000, records: 0, bytesWritten: 0, filesChanged: 0, checkpoints: 2 },
      { start: 12_000, end: 13_000, records: 1, bytesWritten: 0, filesChanged: 1, checkpoints: 0 },
    ]);
  });
});

describe("GET /v1/timeline", () => {
  it("sums to the journal's records and writes, lists checkpoints, rejects bad ranges", async () => {
    const built = await buildModelJournal(await tmpDir(), { seed: 5, ops: 150, every: 30 });
    const { journal } = built;
    closers.push(() => journal.close());
    const app = await restoreServer({
      journal,
      hasher: built.hasher,
      policy: { allowedRoots: [], forbidden: [] },
    });
    closers.push(() => app.close());
    const get = (q: string) =>
      app.inject({
        method: "GET",
        url: `/v1/timeline${q}`,
        headers: { authorization: `Bearer ${TEST_TOKEN}` },
      });

    const res = await get("");
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.buckets.length).toBeLessThanOrEqual(MAX_BUCKETS);
    expect(body.buckets.length).toBeGreaterThan(1);
    const sum = (k: string) =>
      body.buckets.reduce((a: number, b: Record<string, number>) => a + b[k]!, 0);
    expect(sum("records")).toBe(journal.index.recordCount());
    // The test reads the index on its own connection: product code has no raw-SQL door.
    const db = new Database(join(journal.dir, INDEX_FILE), { readonly: true });
    const written = (db.prepare("SELECT sum(len) AS n FROM blocks").get() as { n: number }).n;
    db.close();
    expect(sum("bytesWritten")).toBe(written);
    expect(sum("checkpoints")).toBe(built.points.length);
    expect(sum("filesChanged")).toBeGreaterThan(0);
    expect(body.checkpoints.map((c: { id: number }) => c.id)).toEqual(
      built.points.map((p) => p.cp.id),
    );
    expect(body.checkpointsTruncated).toBe(false);
    for (const b of body.buckets)
      expect(Date.parse(b.end) - Date.parse(b.start)).toBe(body.bucketSeconds * 1000);

    // A window around the second checkpoint only.
    const cp = built.points[1]!.cp;
    const iso = (ms: number) => encodeURIComponent(new Date(ms).toISOString());
    const narrow = await get(`?from=${iso(cp.ts - 5000)}&to=${iso(cp.ts + 5000)}`);
    expect(narrow.statusCode).toBe(200);
    expect(narrow.json().checkpoints.map((c: { id: number }) => c.id)).toEqual([cp.id]);
    expect(narrow.json().bucketSeconds).toBe(1);

    for (const q of [
      `?from=${iso(cp.ts)}&to=${iso(cp.ts - 1)}`,
      "?from=yesterday",
      "?to=2026-01-01",
      "?bogus=1",
    ]) {
      const r = await get(q);
      expect(r.statusCode, q).toBe(400);
      expect(r.json(), q).toEqual({ error: { code: "BAD_REQUEST", message: expect.any(String) } });
    }
  });
});
