import { buildPlan } from "./build-plan.js";
import type { Journal } from "./journal.js";
import type { EntryKind } from "./records.js";

/** What the journal believes one path looks like at its newest position. */
export interface KnownEntry {
  readonly fileId: number;
  readonly kind: EntryKind;
  readonly mode: number;
  readonly mtimeMs: number;
  readonly size: number;
  readonly target?: string;
  /**
   * Hash per block index as journaled; null where the block is a hole or was
   * cut by a later shrink (the differ must then compare by re-reading).
   */
  readonly blocks: (Buffer | null)[];
}

/**
 * The journal's view of every path at its newest position: the differ's warm
 * start after a restart (so only what changed while the sidecar was down is
 * journaled again).
 */
export function knownState(journal: Journal): Map<string, KnownEntry> {
  const out = new Map<string, KnownEntry>();
  if (journal.lastSeq === 0) return out;
  const plan = buildPlan(journal, { seq: journal.lastSeq, ts: journal.lastTs, checkpoint: null });
  const bs = journal.blockSize;
  for (const e of plan.entries) {
    const blocks: (Buffer | null)[] = new Array(Math.ceil(e.size / bs)).fill(null);
    for (const b of e.blocks) {
      // A block cut short by a shrink no longer matches its stored hash.
      if (b.len === b.storedLen) blocks[b.offset / bs] = b.hash;
    }
    out.set(e.path, {
      fileId: e.fileId,
      kind: e.kind,
      mode: e.mode,
      mtimeMs: e.mtimeMs,
      size: e.size,
      ...(e.target !== undefined ? { target: e.target } : {}),
      blocks,
    });
  }
  return out;
}
