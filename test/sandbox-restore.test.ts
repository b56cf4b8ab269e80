/**
 * drills.sandboxRoot equal to (or below) restore.allowedRoots[0], a setting
 * users will try: restores work beside the sandboxes; only a sandbox itself
 * (and the sandbox root) is off limits. A real in-process sidecar.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Sidecar } from "../src/daemon/sidecar.js";
import { checkTarget } from "../src/restore/target.js";
import { tmpDir, waitFor } from "./helpers/index.js";
import { drillReport, startSidecar } from "./support/inprocess-sidecar.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function sidecar(sandboxRoot: string): Promise<{ s: Sidecar; dir: string }> {
  return startSidecar({
    prefix: "pvj-sandbox-",
    sandboxRoot,
    drillLines: [
      `    hello: ["sh", "-c", 'grep -qx hello "$PVJ_DRILL_DIR/data/hello.txt"']`,
      "  verify: hello",
    ],
    cleanups,
  });
}

async function restore(s: Sidecar, cp: number, target: string) {
  const res = await s.app.inject({
    method: "POST",
    url: "/v1/restores",
    payload: { checkpoint: cp, target },
  });
  if (res.statusCode !== 202) return res.statusCode;
  const id = res.json<{ id: string }>().id;
  const state = await waitFor(
    async () => {
      const st = (await s.app.inject({ url: `/v1/restores/${id}` })).json<{ state: string }>()
        .state;
      return st === "done" || st === "failed" ? st : null;
    },
    { timeout: 10_000, what: "restore" },
  );
  return state;
}

describe("drills.sandboxRoot inside restore.allowedRoots", () => {
  for (const sandbox of ["restore", "restore/drills"]) {
    it(`sandboxRoot ${sandbox}: restores and drills both work; sandboxes stay off limits`, async () => {
      const { s, dir } = await sidecar(sandbox);
      const cp = await s.checkpointer.take("one");
      const drill = await s.app.inject({ method: "POST", url: "/v1/drills", payload: {} });
      expect(drill.statusCode).toBe(202);
      expect(await restore(s, cp.id, join(dir, "restore", "r1"))).toBe("done");
      expect(await readFile(join(dir, "restore", "r1", "data", "hello.txt"), "utf8")).toBe(
        "hello\n",
      );
      expect(await restore(s, cp.id, join(dir, sandbox, "drill-d-abc123"))).toBe(403);
      expect(await restore(s, cp.id, join(dir, sandbox, "drill-x", "deeper"))).toBe(403);
      if (sandbox !== "restore") expect(await restore(s, cp.id, join(dir, sandbox))).toBe(403);
      const id = drill.json<{ id: string }>().id;
      const report = await drillReport(s, id);
      expect(report.passed).toBe(true);
      expect(s.journal.pinCount).toBe(0);
    });
  }

  it("checkTarget: beside the sandboxes is fine, in one or above the root is not", async () => {
    const dir = await tmpDir("pvj-sandbox-unit-");
    const policy = { allowedRoots: [dir], forbidden: [], sandboxRoot: join(dir, "drills") };
    await expect(checkTarget(join(dir, "a"), policy)).resolves.toBe(join(dir, "a"));
    await expect(checkTarget(join(dir, "drills", "mine"), policy)).resolves.toBe(
      join(dir, "drills", "mine"),
    );
    await expect(checkTarget(join(dir, "drills", "drill-1"), policy)).rejects.toMatchObject({
      code: "TARGET_NOT_ALLOWED",
    });
    await expect(checkTarget(join(dir, "drills"), policy)).rejects.toMatchObject({
      code: "TARGET_NOT_ALLOWED",
    });
  });
});
