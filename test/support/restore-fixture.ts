/**
 * A journal written by the reference model, with checkpoints, on a fake clock
 * in the recent past (so `at` points resolve between records and "the future"
 * is really later), plus the restore API mounted on a real fastify app.
 */
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { checkpointRoutes } from "../../src/http/routes/checkpoints.js";
import { type RestoreApiDeps, restoreApiRoutes } from "../../src/http/routes/restores.js";
import { buildServer } from "../../src/http/server.js";
import type { CheckpointRow } from "../../src/journal/index-db.js";
import type { Journal } from "../../src/journal/journal.js";
import type { BlobLocation } from "../../src/journal/plan.js";
import { silentLogger } from "../../src/log/logger.js";
import { createMetrics } from "../../src/metrics/registry.js";
import type { BlockHasher } from "../../src/util/hash.js";
import { openTestJournal, VolumeModel } from "./model.js";
import { prng } from "./prng.js";
import type { TreeEntry } from "./tree.js";

/** One path of the model with its identity, as it was at a checkpoint. */
export interface ModelState {
  readonly fileId: number;
  readonly kind: "file" | "dir" | "symlink";
  readonly mode: number;
  readonly mtimeMs: number;
  readonly content: Buffer;
  readonly target?: string;
}

/** A checkpoint and the model at that moment. */
export interface ModelPoint {
  readonly cp: CheckpointRow;
  readonly tree: Map<string, TreeEntry>;
  readonly state: Map<string, ModelState>;
}

/** What buildModelJournal returns. */
export interface ModelJournal {
  readonly journal: Journal;
  readonly hasher: BlockHasher;
  readonly model: VolumeModel;
  readonly points: ModelPoint[];
  /** The fake clock's first value: everything in the journal is later. */
  readonly startTs: number;
}

/**
 * Writes `ops` random operations and a checkpoint every `every` operations;
 * with `bigBlocks`, then a file `data/big` of that many random blocks and a
 * final checkpoint.
 */
export async function buildModelJournal(
  dir: string,
  opts: { seed: number; ops?: number; every?: number; bigBlocks?: number },
): Promise<ModelJournal> {
  const startTs = Date.now() - 3_600_000;
  let t = startTs;
  // One second per append batch: every record of a batch shares its ts.
  const clock = () => {
    t += 1000;
    return t;
  };
  const { journal, hasher } = await openTestJournal(join(dir), { clock });
  const rand = prng(opts.seed);
  const model = new VolumeModel(journal, hasher, rand);
  await model.init();
  const points: ModelPoint[] = [];
  const checkpoint = async () => {
    const cp = await journal.checkpoint({ label: `cp${points.length + 1}`, consistency: "crash" });
    const state = new Map<string, ModelState>();
    for (const [p, e] of model.entries)
      state.set(p, {
        fileId: e.fileId,
        kind: e.kind,
        mode: e.mode,
        mtimeMs: e.mtimeMs,
        content: Buffer.from(e.content),
        ...(e.target !== undefined ? { target: e.target } : {}),
      });
    points.push({ cp, tree: model.snapshot(), state });
  };
  const ops = opts.ops ?? 200;
  const every = opts.every ?? 40;
  for (let i = 0; i < ops; i++) {
    await model.randomOp();
    if (i % every === every - 1) await checkpoint();
  }
  if (opts.bigBlocks) {
    // Last, so no random operation shrinks it: restores of the final point take long.
    await model.createFile("data/big", rand.bytes(opts.bigBlocks * journal.blockSize));
    await checkpoint();
  }
  return { journal, hasher, model, points, startTs };
}

/** The bearer token of test servers. */
export const TEST_TOKEN = "restore-test-token";

/** A fastify app with the checkpoint list and the restore, diff and timeline routes (not listening). */
export async function restoreServer(
  deps: Omit<RestoreApiDeps, "logger" | "concurrency"> & { concurrency?: number },
  bodyLimit = 64 * 1024,
): Promise<FastifyInstance> {
  return buildServer({
    logger: silentLogger(),
    token: TEST_TOKEN,
    bodyLimit,
    role: "sidecar",
    readiness: () => ({ ready: true }),
    metrics: createMetrics(),
    routes: [
      checkpointRoutes({ journal: deps.journal, taker: null }),
      ...restoreApiRoutes({ logger: silentLogger(), concurrency: 2, ...deps }),
    ],
  });
}

/** A view of `journal` whose block reads take `ms` each: a slow disk, so a restore can be caught running. */
export function slowJournal(journal: Journal, ms: number): Journal {
  const slow = Object.create(journal) as Journal;
  slow.readBlob = async (hash: Buffer) => {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return journal.readBlob(hash);
  };
  // The restore applier reads synchronously: sleep synchronously too.
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  slow.readBlobSync = (hash: Buffer) => {
    Atomics.wait(sleeper, 0, 0, ms);
    return journal.readBlobSync(hash);
  };
  // Planned blocks carry their location and are read through this one.
  slow.readBlobAtSync = (hash: Buffer, at: BlobLocation) => {
    Atomics.wait(sleeper, 0, 0, ms);
    return journal.readBlobAtSync(hash, at);
  };
  // A run read would take every block's sleep at once, before the first
  // block's progress: failing it sends the reader down its block-by-block
  // fallback, so the sleeps stay one per block.
  slow.readBlobRunSync = () => {
    throw new Error("slow journal: read block by block");
  };
  return slow;
}
