import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { ErrorCode, RequestError } from "../errors.js";
import { buildChunkedPlan } from "../journal/build-plan.js";
import { CHUNK_BLOCKS, chunkedOption } from "../journal/chunked-plan.js";
import type { Journal } from "../journal/journal.js";
import { withPin } from "../journal/pins.js";
import { type Point, type ResolvedPoint, resolvePoint } from "../journal/points.js";
import type { BlockHasher } from "../util/hash.js";
import { type ApplyResult, applyPlan, type RestoreProgress } from "./apply.js";
import { checkTarget, type TargetPolicy } from "./target.js";

/** A restore request, already parsed. */
export interface RestoreRequest {
  readonly point: Point;
  readonly target: string;
  /** Journal paths (`<source>/<path>`) to restore; null or empty = everything. */
  readonly paths: readonly string[] | null;
}

/** Checks and normalises user-given restore paths (`data/db/`, `/data` -> `data/db`, `data`). */
export function normalisePaths(paths: readonly string[] | null | undefined): string[] | null {
  if (!paths || paths.length === 0) return null;
  return paths.map((p) => {
    const clean = p.replace(/^\/+|\/+$/g, "");
    if (clean.length === 0 || clean.split("/").some((c) => c === ".." || c === "." || c === "")) {
      throw new RequestError(
        ErrorCode.BAD_REQUEST,
        `invalid restore path "${p}": use <source>/<path>, e.g. data/db`,
      );
    }
    return clean;
  });
}

/**
 * Resolves the point and the target (both checked before anything is
 * written) and returns what a restore will do. Separate from `runRestore` so
 * the API can answer 4xx synchronously and run the copy as a job.
 */
export async function prepareRestore(
  journal: Journal,
  req: RestoreRequest,
  policy: TargetPolicy,
  now: number,
): Promise<{ point: ResolvedPoint; target: string; paths: string[] | null }> {
  const point = resolvePoint(journal, req.point, now);
  const paths = normalisePaths(req.paths);
  const target = await checkTarget(req.target, policy);
  return { point, target, paths };
}

/** Materialises a prepared restore into its target. */
export async function runRestore(
  journal: Journal,
  hasher: BlockHasher,
  prepared: { point: ResolvedPoint; target: string; paths: string[] | null },
  opts: { onProgress?: (p: RestoreProgress) => void; signal?: AbortSignal } = {},
): Promise<ApplyResult & { point: ResolvedPoint }> {
  return withPin(journal, prepared.point.seq, () => restorePinned(journal, hasher, prepared, opts));
}

async function restorePinned(
  journal: Journal,
  hasher: BlockHasher,
  prepared: { point: ResolvedPoint; target: string; paths: string[] | null },
  opts: { onProgress?: (p: RestoreProgress) => void; signal?: AbortSignal },
): Promise<ApplyResult & { point: ResolvedPoint }> {
  // Large files are planned chunk by chunk while they are written (chunked-plan.ts).
  const { plan, chunked } = buildChunkedPlan(journal, prepared.point, prepared.paths, CHUNK_BLOCKS);
  if (prepared.paths && plan.entries.length === 0) {
    throw new RequestError(
      ErrorCode.NOT_FOUND,
      `none of ${prepared.paths.join(", ")} existed at seq ${prepared.point.seq}`,
    );
  }
  await mkdir(dirname(prepared.target), { recursive: true });
  const result = await applyPlan({
    journal,
    plan,
    target: prepared.target,
    hasher,
    realTarget: true,
    chunked: chunkedOption(journal, prepared.point, chunked),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return { ...result, point: prepared.point };
}
