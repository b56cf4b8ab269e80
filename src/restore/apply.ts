/**
 * A restore's use of the materialiser: a durable tree (fsynced before the
 * rename into place). Kept as its own entry point for the CLI, the restore
 * jobs, the mirror's rebuild and the tests.
 */
import type { Journal } from "../journal/journal.js";
import type { RestorePlan } from "../journal/plan.js";
import type { BlockHasher } from "../util/hash.js";
import {
  type MaterialiseTreeOptions,
  materialiseTree,
  type RestoreProgress,
} from "./materialiser.js";

export type { RestoreProgress } from "./materialiser.js";

/** Inputs of applyPlan. */
export interface ApplyOptions {
  readonly journal: Journal;
  readonly plan: RestorePlan;
  /** Final directory; must not exist or be empty (checked by the caller's target policy). */
  readonly target: string;
  readonly hasher: BlockHasher;
  readonly onProgress?: (p: RestoreProgress) => void;
  readonly signal?: AbortSignal;
  /** `target` is a real path (checkTarget's answer); see MaterialiseTreeOptions.realTarget. */
  readonly realTarget?: boolean;
  /** Files planned while written (MaterialiseTreeOptions.chunked). */
  readonly chunked?: MaterialiseTreeOptions["chunked"];
}

/** Result of a finished restore. */
export interface ApplyResult {
  readonly bytes: number;
  readonly files: number;
  readonly entries: number;
}

/**
 * Writes a plan into `target`: built under a hidden sibling directory, made
 * durable, and renamed into place at the end, so an interrupted restore
 * never leaves a tree that looks complete. Every block read back from the
 * journal is checked against the hash recorded at capture.
 */
export async function applyPlan(opts: ApplyOptions): Promise<ApplyResult> {
  const r = await materialiseTree({ ...opts, durable: true });
  return { bytes: r.bytes, files: r.files, entries: r.entries };
}
