/**
 * Journal-level writers for the base-install tests: block writes of distinct,
 * incompressible content (so segments fill and roll over although blocks are
 * zstd-compressed, and nothing de-duplicates against older, dead blocks), and
 * a replica following a source journal in-process.
 */
import type { Journal } from "../../src/journal/journal.js";
import type { JournalRecord, RecordBody } from "../../src/journal/records.js";
import type { BlockHasher } from "../../src/util/hash.js";

/** Block size of these writes, bytes. */
export const BS = 4096;

let unique = 0;

/** n writes of distinct content to blocks from..from+n-1 of file 2. */
export function distinctWrites(
  hasher: BlockHasher,
  from: number,
  n: number,
  fill: number,
): RecordBody[] {
  const out: RecordBody[] = [];
  for (let i = 0; i < n; i++) {
    // xorshift32: incompressible, and a new stream for every block.
    const data = Buffer.alloc(BS);
    let x = (++unique * 2654435761 + fill) >>> 0 || 1;
    for (let o = 0; o < BS; o += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      data.writeUInt32LE(x >>> 0, o);
    }
    const hash = hasher.hash(data);
    out.push(
      { type: "blob", hash, data },
      { type: "write", fileId: 2, block: from + i, len: BS, hash },
    );
  }
  return out;
}

/** Appends to `rep` every record of `src` it lacks, stamped as the source stamped them. */
export async function follow(src: Journal, rep: Journal): Promise<void> {
  const recs: JournalRecord[] = [];
  for await (const r of src.records(rep.lastSeq + 1)) recs.push(r);
  if (recs.length > 0) await rep.appendStamped(recs);
}
