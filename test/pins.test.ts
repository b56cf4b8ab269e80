import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Sidecar } from "../src/daemon/sidecar.js";
import { waitFor } from "./helpers/index.js";
import { drillReport, startSidecar } from "./support/inprocess-sidecar.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function sidecar(): Promise<{ s: Sidecar; dir: string }> {
  return startSidecar({
    prefix: "pvj-pins-",
    drillLines: ['    slow: ["sh", "-c", "sleep 1"]'],
    cleanups,
  });
}

async function pins(s: Sidecar): Promise<number> {
  const status = (await s.app.inject({ url: "/v1/status" })).json<{ journal: { pins: number } }>();
  return status.journal.pins;
}

describe("retention pins", () => {
  it("no failed restore, drill, diff or failover request leaves a pin behind", async () => {
    const { s, dir } = await sidecar();
    const cp = await s.checkpointer.take("one");
    const cases: [string, string, unknown, number][] = [
      // paths that match nothing: the request that used to leak its pin
      [
        "POST",
        "/v1/restores",
        { checkpoint: cp.id, target: join(dir, "restore", "a"), paths: ["nope"] },
        404,
      ],
      ["POST", "/v1/restores", { checkpoint: cp.id, target: join(dir, "elsewhere") }, 403],
      [
        "POST",
        "/v1/restores",
        { at: "2000-01-01T00:00:00.000Z", target: join(dir, "restore", "b") },
        422,
      ],
      ["POST", "/v1/restores", { checkpoint: 9999, target: join(dir, "restore", "c") }, 404],
      ["POST", "/v1/drills", { verify: { command: ["true"] } }, 403],
      ["POST", "/v1/drills", { verify: "missing" }, 400],
      ["POST", "/v1/drills", { checkpoint: 9999 }, 404],
      ["GET", `/v1/diff?from=cp:9999&to=cp:${cp.id}`, undefined, 404],
      ["POST", "/v1/failover", {}, 409],
    ];
    for (let round = 0; round < 3; round++) {
      for (const [method, url, payload, status] of cases) {
        const res = await s.app.inject({
          method: method as "GET" | "POST",
          url,
          ...(payload !== undefined ? { payload: payload as object } : {}),
        });
        expect(res.statusCode, `${method} ${url} ${JSON.stringify(payload)}`).toBe(status);
        expect(await pins(s), `${method} ${url} ${JSON.stringify(payload)}`).toBe(0);
      }
    }
    expect(s.journal.minPinnedSeq()).toBeUndefined();
    const metrics = (await s.app.inject({ url: "/metrics" })).body;
    expect(metrics).toMatch(/^pvjournal_journal_pins 0$/m);

    // Successful readers release theirs too.
    const ok = await s.app.inject({
      method: "POST",
      url: "/v1/restores",
      payload: { checkpoint: cp.id, target: join(dir, "restore", "ok") },
    });
    expect(ok.statusCode).toBe(202);
    const id = ok.json<{ id: string }>().id;
    await waitFor(
      async () =>
        (await s.app.inject({ url: `/v1/restores/${id}` })).json<{ state: string }>().state ===
        "done",
      { timeout: 10_000, what: "restore done" },
    );
    expect(
      (await s.app.inject({ url: `/v1/diff?from=cp:${cp.id}&to=cp:${cp.id}` })).statusCode,
    ).toBe(200);
    expect(await pins(s)).toBe(0);
  });

  it("a drill pins its point while it runs and releases it when done", async () => {
    const { s } = await sidecar();
    const cp = await s.checkpointer.take("one");
    const res = await s.app.inject({
      method: "POST",
      url: "/v1/drills",
      payload: { verify: "slow" },
    });
    expect(res.statusCode).toBe(202);
    expect(s.journal.minPinnedSeq()).toBe(cp.seq);
    expect(await pins(s)).toBe(1);
    const id = res.json<{ id: string }>().id;
    const report = await drillReport(s, id);
    expect(report.passed).toBe(true);
    expect(await pins(s)).toBe(0);
  });
});
