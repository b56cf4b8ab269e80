/**
 * Seeded fuzz of every /v1 route of a real in-process sidecar (fast-check):
 * 500 generated bodies, query strings and headers per route. No 5xx, every
 * 4xx in the contract's error shape, nothing written outside the allowed
 * root, no request-supplied command ever runs, and the daemon keeps serving.
 * The seed is printed; rerun with API_FUZZ_SEED.
 */
import { existsSync } from "node:fs";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import type { Sidecar } from "../src/daemon/sidecar.js";
import { startSidecar } from "./support/inprocess-sidecar.js";

const SEED = Number(process.env.API_FUZZ_SEED ?? Date.now() % 2 ** 31);
console.log(`api fuzz seed=${SEED} (API_FUZZ_SEED=${SEED} to rerun)`);
const RUNS = 500;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function sidecar(): Promise<{ s: Sidecar; dir: string; cp: number }> {
  const { s, dir } = await startSidecar({
    prefix: "pvj-api-fuzz-",
    drillLines: ['    ok: ["true"]'],
    prepare: async (d) => {
      await mkdir(join(d, "data", "sub"), { recursive: true });
      await writeFile(join(d, "data", "sub", "x"), "x");
      await mkdir(join(d, "outside"));
    },
    cleanups,
  });
  const cp = await s.checkpointer.take("fuzz");
  return { s, dir, cp: cp.id };
}

/** Values a client might send where a point, path or command goes. */
function scalar(dir: string) {
  return fc.oneof(
    fc.integer({ min: -5, max: 50 }),
    fc.constantFrom(0, 1, 2, 2 ** 53, -1, 1.5, Number.MAX_SAFE_INTEGER),
    fc.string({ maxLength: 40 }),
    fc.constantFrom(
      "2026-01-01T00:00:00.000Z",
      "2999-01-01T00:00:00Z",
      new Date().toISOString(),
      "cp:1",
      "seq:1",
      "ok",
      "../../etc",
      "/etc/passwd",
      join(dir, "outside", "t"),
      join(dir, "restore", "fuzz"),
      join(dir, "restore", "..", "outside", "t"),
      join(dir, "data"),
      join(dir, "journal"),
      "\u0000",
    ),
    fc.constant(null),
    fc.boolean(),
    fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }),
    fc.record({
      command: fc.array(fc.constantFrom("sh", "-c", "touch PWNED", "true"), { maxLength: 3 }),
    }),
  );
}

function body(dir: string) {
  const keys = ["checkpoint", "at", "seq", "target", "paths", "verify", "keep", "label", "bogus"];
  return fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.dictionary(fc.constantFrom(...keys), scalar(dir), { maxKeys: 5 }),
  );
}

function query(dir: string) {
  const keys = ["from", "to", "limit", "format", "replica", "x"];
  return fc
    .dictionary(
      fc.constantFrom(...keys),
      fc.oneof(
        scalar(dir).map((v) => (typeof v === "string" ? v : JSON.stringify(v))),
        fc.string({ maxLength: 20 }),
      ),
      {
        maxKeys: 4,
      },
    )
    .map((q) => new URLSearchParams(q as Record<string, string>).toString());
}

const headers = fc.record(
  {
    "content-type": fc.constantFrom(
      "application/json",
      "text/plain",
      "application/x-www-form-urlencoded",
      "",
    ),
    authorization: fc.constantFrom("Bearer x", "Basic Zm9vOmJhcg==", ""),
    accept: fc.constantFrom("application/json", "text/html", "*/*"),
  },
  { requiredKeys: [] },
);

describe(`API fuzz (seed ${SEED})`, () => {
  it("every /v1 route: no 5xx, the contract's error shape, nothing outside the root, no request command runs", async () => {
    const { s, dir, cp } = await sidecar();
    const id = fc.oneof(
      fc.string({ maxLength: 20 }),
      fc.constantFrom("d-abcdef12", "0123456789abcdef", "..%2F", `${cp}`),
    );
    const routes: {
      name: string;
      req: fc.Arbitrary<{ method: string; url: string; payload?: unknown }>;
    }[] = [
      {
        name: "POST /v1/checkpoints",
        req: body(dir).map((b) => ({ method: "POST", url: "/v1/checkpoints", payload: b })),
      },
      {
        name: "GET /v1/checkpoints",
        req: query(dir).map((q) => ({ method: "GET", url: `/v1/checkpoints?${q}` })),
      },
      {
        name: "POST /v1/restores",
        req: body(dir).map((b) => ({ method: "POST", url: "/v1/restores", payload: b })),
      },
      {
        name: "GET /v1/restores/:id",
        req: id.map((i) => ({ method: "GET", url: `/v1/restores/${encodeURIComponent(i)}` })),
      },
      {
        name: "DELETE /v1/restores/:id",
        req: id.map((i) => ({ method: "DELETE", url: `/v1/restores/${encodeURIComponent(i)}` })),
      },
      {
        name: "GET /v1/timeline",
        req: query(dir).map((q) => ({ method: "GET", url: `/v1/timeline?${q}` })),
      },
      {
        name: "GET /v1/diff",
        req: query(dir).map((q) => ({ method: "GET", url: `/v1/diff?${q}` })),
      },
      {
        name: "POST /v1/drills",
        req: body(dir).map((b) => ({ method: "POST", url: "/v1/drills", payload: b })),
      },
      {
        name: "GET /v1/drills",
        req: query(dir).map((q) => ({ method: "GET", url: `/v1/drills?${q}` })),
      },
      {
        name: "GET /v1/drills/:id",
        req: fc
          .tuple(id, query(dir))
          .map(([i, q]) => ({ method: "GET", url: `/v1/drills/${encodeURIComponent(i)}?${q}` })),
      },
      {
        name: "POST /v1/failover",
        req: body(dir).map((b) => ({ method: "POST", url: "/v1/failover", payload: b })),
      },
      {
        name: "GET /v1/status",
        req: query(dir).map((q) => ({ method: "GET", url: `/v1/status?${q}` })),
      },
      {
        name: "POST /v1/replicas/:id/ack",
        req: fc.tuple(id, body(dir)).map(([i, b]) => ({
          method: "POST",
          url: `/v1/replicas/${encodeURIComponent(i)}/ack`,
          payload: b,
        })),
      },
    ];
    const statuses = new Map<number, number>();
    for (const route of routes) {
      await fc.assert(
        fc.asyncProperty(route.req, headers, async (req, hdrs) => {
          const h: Record<string, string> = {};
          for (const [k, v] of Object.entries(hdrs)) if (v) h[k] = v;
          const payload = req.payload === undefined ? undefined : JSON.stringify(req.payload);
          const res = await s.app.inject({
            method: req.method as "GET",
            url: req.url,
            headers: h,
            ...(payload !== undefined ? { payload } : {}),
          });
          statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
          expect(
            res.statusCode,
            `${route.name} ${req.url} ${payload ?? ""} ${res.body}`,
          ).toBeLessThan(500);
          if (res.statusCode >= 400) {
            const j = res.json() as { error?: { code?: unknown; message?: unknown } };
            expect(Object.keys(j)).toEqual(["error"]);
            expect(typeof j.error?.code).toBe("string");
            expect(typeof j.error?.message).toBe("string");
          }
        }),
        { seed: SEED, numRuns: RUNS },
      );
    }
    console.log(`api fuzz statuses: ${JSON.stringify(Object.fromEntries(statuses))}`);
    expect((await s.app.inject({ url: "/healthz" })).statusCode).toBe(200);
    expect((await s.app.inject({ url: "/v1/status" })).statusCode).toBe(200);
    expect(await readdir(join(dir, "outside"))).toEqual([]);
    expect(existsSync(join(dir, "PWNED"))).toBe(false);
    expect(existsSync(join(dir, "data", "PWNED"))).toBe(false);
  }, 300_000);
});
