/**
 * Materialises a journal point into a fresh directory for a drill or a
 * failover, fast where it can be (design.md, "Fast drills"):
 *
 * - clone: reflink every file of the point that also exists in the replica's
 *   mirror (at position M), then rewrite only what differs between the point
 *   P and M: the blocks written in (min(P,M), max(P,M)], and the tail of a
 *   file that shrank in that interval. Files absent from the mirror are
 *   written from the journal; directories, symlinks, modes and mtimes come
 *   from the plan. Time grows with the changes since P, not the volume size.
 * - copy: where the filesystem cannot clone, the same with a byte copy in
 *   the kernel (clone.ts: copyWholeFile) instead of a reflink, patched while
 *   the next files copy (from-mirror.ts); a file with every block changed is
 *   not copied first.
 * - full: the shared materialiser (restore/materialiser.ts), every block
 *   read from the journal (no mirror: a sidecar).
 *
 * Both paths build through the same materialiser: a hidden sibling
 * directory, synchronous coalesced writes with a hash check on every block,
 * one durability step at the end when `durable` (a failover), the rename last.
 *
 * The clone reads the mirror while it holds still (Mirror.withStable), and
 * never writes to it. Where the filesystem cannot clone (ENOTSUP, EXDEV,
 * EINVAL), the copy path runs in the same work directory, right after the
 * first refused reflink, and the result says why (`fallback`).
 */
import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { ErrorCode, PvjError } from "../errors.js";
import { outlinePlan, planAttributesInSlices, planInSlices } from "../journal/build-plan.js";
import type { Journal } from "../journal/journal.js";
import type { PlannedEntry, RestorePlan } from "../journal/plan.js";
import type { ResolvedPoint } from "../journal/points.js";
import type { Logger } from "../log/logger.js";
import { silentLogger } from "../log/logger.js";
import type { Mirror } from "../replica/mirror.js";
import { materialiseTree } from "../restore/materialiser.js";
import type { BlockHasher } from "../util/hash.js";
import { type CloneFile, reflinkFile } from "./clone.js";
import { filesFromMirror } from "./from-mirror.js";

/** How a point was materialised. */
export const MaterialiseMethod = { clone: "clone", copy: "copy", full: "full" } as const;
/** "clone", "copy" or "full". */
export type MaterialiseMethod = (typeof MaterialiseMethod)[keyof typeof MaterialiseMethod];

/** A mirror as the materialiser uses it: a directory that equals the journal at some position. */
export interface MirrorView {
  readonly dir: string;
  /**
   * Runs `fn` while the mirror holds still; `fn` gets the mirror's position,
   * or null when the mirror cannot serve as a base (empty, or mid-update).
   */
  stable<T>(fn: (seq: number | null) => Promise<T>): Promise<T>;
}

/** A running replica's mirror: updates wait while a clone reads it. */
export function mirrorView(mirror: Mirror): MirrorView {
  return {
    dir: mirror.dir,
    stable: (fn) => mirror.withStable(() => fn(mirror.dirty ? null : mirror.seq)),
  };
}

/** A mirror already held still by the caller (inside Mirror.moveTo), at `seq`. */
export function heldMirrorView(dir: string, seq: number): MirrorView {
  return { dir, stable: (fn) => fn(seq) };
}

/** Inputs of materialise. */
export interface MaterialiseOptions {
  readonly journal: Journal;
  readonly hasher: BlockHasher;
  readonly point: ResolvedPoint;
  /** Must not exist, or be an empty directory (checked by the caller's target policy). */
  readonly target: string;
  /** The replica's mirror; null (a sidecar) means the full path. */
  readonly mirror: MirrorView | null;
  /** fsync every file and directory (a failover); a drill sandbox is thrown away, so it skips that. */
  readonly durable?: boolean;
  /** Replaces the reflink call (tests exercise the clone logic on filesystems without reflinks). */
  readonly cloneFile?: CloneFile;
  readonly logger?: Logger;
}

/** What materialise did. */
export interface MaterialiseResult {
  readonly method: MaterialiseMethod;
  readonly seconds: number;
  /** Regular files in the result. */
  readonly files: number;
  /** Files cloned (or copied) from the mirror; the rest were written from the journal. */
  readonly filesCloned: number;
  /** Bytes read from the journal and written (a clone's patches, or everything on the full path). */
  readonly bytesWritten: number;
  /** The mirror position a clone or copy started from; null on the full path. */
  readonly mirrorSeq: number | null;
  /** Why the clone path was not taken, when a mirror was offered. */
  readonly fallback?: string;
}

/** Materialises `point` into `target`, cloning the mirror where possible. */
export async function materialise(opts: MaterialiseOptions): Promise<MaterialiseResult> {
  const started = performance.now();
  const outline = outlinePlan(opts.journal, opts.point);
  const files = outline.files;
  const seconds = () => (performance.now() - started) / 1000;
  let fallback: string | undefined;
  if (opts.mirror) {
    // Blocks are planned once the mirror's position shows which ones differ
    // (from-mirror.ts): one lookup per entry here, not one per block.
    const plan = await planAttributesInSlices(opts.journal, outline);
    const r = await build(opts, opts.mirror, plan, opts.cloneFile ?? reflinkFile);
    if (r.ok) {
      const { method, fallback: why, ...result } = r.result;
      return { method, seconds: seconds(), files, ...result, ...(why ? { fallback: why } : {}) };
    }
    fallback = r.reason;
  }
  const r = await build(opts, null, await planInSlices(opts.journal, outline));
  if (!r.ok) throw new PvjError(ErrorCode.INTERNAL, r.reason);
  return {
    method: "full",
    seconds: seconds(),
    files,
    filesCloned: 0,
    bytesWritten: r.result.bytesWritten,
    mirrorSeq: null,
    ...(fallback !== undefined ? { fallback } : {}),
  };
}

type BuildOutcome =
  | {
      ok: true;
      result: {
        method: MaterialiseMethod;
        fallback: string | null;
        filesCloned: number;
        bytesWritten: number;
        mirrorSeq: number | null;
      };
    }
  | { ok: false; reason: string };

/** Thrown inside the materialiser's prepare step when the mirror cannot serve as a base. */
class MirrorUnusable extends Error {}

/**
 * Builds the point's tree at `target` through the shared materialiser. With a
 * mirror, files are cloned (or, where the filesystem cannot clone, copied)
 * from it and only what differs is written from the journal
 * (from-mirror.ts), in the same work directory; without one, everything is
 * written from the journal (method "full"). With a mirror `plan` holds no
 * blocks (planAttributesInSlices): from-mirror.ts plans what is written.
 */
async function build(
  opts: MaterialiseOptions,
  mirror: MirrorView | null,
  plan: RestorePlan,
  clone: CloneFile = reflinkFile,
): Promise<BuildOutcome> {
  const { journal, target } = opts;
  const logger = opts.logger ?? silentLogger();
  await mkdir(dirname(target), { recursive: true });
  let method: MaterialiseMethod = "full";
  let fallback: string | null = null;
  let filesCloned = 0;
  let bytesPatched = 0;
  let mirrorSeq: number | null = null;
  try {
    const r = await materialiseTree({
      journal,
      plan,
      target,
      hasher: opts.hasher,
      durable: opts.durable === true,
      ...(mirror === null
        ? {}
        : {
            prepareFiles: async (tmp: string, files: readonly PlannedEntry[]) => {
              const c = await filesFromMirror({ ...opts, mirror, clone, logger }, tmp, files);
              if (!c.ok) throw new MirrorUnusable(c.reason);
              method = c.method;
              fallback = c.fallback;
              filesCloned = c.filesCloned;
              bytesPatched = c.bytesPatched;
              mirrorSeq = c.mirrorSeq;
              return c.tasks;
            },
          }),
    });
    return {
      ok: true,
      result: { method, fallback, filesCloned, bytesWritten: bytesPatched + r.bytes, mirrorSeq },
    };
  } catch (err) {
    if (err instanceof MirrorUnusable) return { ok: false, reason: err.message };
    throw err;
  }
}
