/**
 * A symlink swapped into a restore target's parent after the target was
 * checked (the request answered 202) does not let the restore write outside
 * the allowed root: the work directory is re-verified when it is made and
 * before the final rename (src/restore/apply.ts), the job fails with
 * TARGET_NOT_ALLOWED, and nothing is left outside.
 */
import { mkdir, readdir, rename, symlink } from "node:fs/promises";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { tmpDir, waitFor } from "./helpers/index.js";
import {
  buildModelJournal,
  restoreServer,
  slowJournal,
  TEST_TOKEN,
} from "./support/restore-fixture.js";

const AUTH = { authorization: `Bearer ${TEST_TOKEN}` };
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function job(app: FastifyInstance, id: string) {
  return (await app.inject({ url: `/v1/restores/${id}`, headers: AUTH })).json<{
    state: string;
    bytesDone: number;
    error?: { code: string };
  }>();
}

describe("restore target parent swapped for a symlink after the check", () => {
  it("fails the job with TARGET_NOT_ALLOWED and writes nothing outside the root", async () => {
    const base = await tmpDir("pvj-swap-");
    const root = join(base, "restore");
    const outside = join(base, "outside");
    await mkdir(join(root, "p"), { recursive: true });
    await mkdir(outside);
    const built = await buildModelJournal(join(base, "journal"), {
      seed: 7,
      ops: 60,
      every: 30,
      bigBlocks: 60,
    });
    closers.push(() => built.journal.close());
    const app = await restoreServer({
      journal: slowJournal(built.journal, 10),
      hasher: built.hasher,
      policy: { allowedRoots: [root], forbidden: [join(base, "journal")] },
      concurrency: 1,
    });
    closers.push(() => app.close());
    const cp = built.points[built.points.length - 1]!.cp;
    const post = (target: string) =>
      app.inject({
        method: "POST",
        url: "/v1/restores",
        headers: AUTH,
        payload: { checkpoint: cp.id, target },
      });

    // A keeps the single slot busy, so B is checked now and runs later.
    const a = await post(join(root, "a"));
    expect(a.statusCode).toBe(202);
    const b = await post(join(root, "p", "t"));
    expect(b.statusCode).toBe(202);
    expect(b.json<{ state: string }>().state).toBe("queued");

    // The attack: the checked parent becomes a symlink to a directory outside the root.
    await rename(join(root, "p"), join(root, "p-was"));
    await symlink(outside, join(root, "p"));

    await app.inject({
      method: "DELETE",
      url: `/v1/restores/${a.json<{ id: string }>().id}`,
      headers: AUTH,
    });
    const done = await waitFor(
      async () => {
        const j = await job(app, b.json<{ id: string }>().id);
        return j.state === "done" || j.state === "failed" ? j : null;
      },
      { timeout: 20_000, what: "restore B" },
    );
    expect(done).toMatchObject({ state: "failed", error: { code: "TARGET_NOT_ALLOWED" } });
    expect(await readdir(outside)).toEqual([]);
    expect(await readdir(join(root, "p-was"))).toEqual([]);
  });
});
