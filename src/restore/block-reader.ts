import { HashMismatchError } from "../errors.js";
import type { Journal } from "../journal/journal.js";
import type { BlobLocation, PlannedBlock } from "../journal/plan.js";
import { ReadScratch } from "../journal/read-scratch.js";
import { blobFrameEnd } from "../journal/segment-readers.js";
import type { BlockHasher } from "../util/hash.js";

/**
 * A run of planned blocks read with one pread ends at this many stored
 * bytes, or where the next block is not stored within RUN_GAP bytes after
 * the previous one in the same segment. Blocks a file's first copy (or one
 * large write) appended lie in file order, separated only by their small
 * write records. RUN_RAW_BYTES bounds the run's decompressed blocks, which
 * the reader's scratch holds (text compresses 3-10x).
 */
const RUN_BYTES = 1024 * 1024;
const RUN_RAW_BYTES = 4 * 1024 * 1024;
const RUN_GAP = 4096;

/**
 * Reads blobs from the journal synchronously and checks every one against
 * the hash recorded at capture. Remembers the last blob: sparse and zero runs
 * repeat one hash, and a 1 GiB file of zeros then costs one read, not 262k.
 *
 * A block it returns is a view of the reader's reused buffers (read-scratch.ts:
 * no fresh pages per block), valid until the next `read` or `readPlanned`:
 * callers copy it (write-files.ts does) before asking for another.
 */
export class BlockReader {
  private lastHash: Buffer | null = null;
  private lastData: Buffer | null = null;
  /** Blocks read ahead by readPlanned: `data[k]` is `blocks[from + k]`, unchecked. */
  private ahead: { blocks: readonly PlannedBlock[]; from: number; data: Buffer[] } | null = null;
  private readonly scratch = new ReadScratch();

  constructor(
    private readonly journal: Journal,
    private readonly hasher: BlockHasher,
  ) {}

  /**
   * The blob `hash`, read at `at` when the plan knows where it is stored;
   * `path` and `offset` name the block in the error when it is damaged.
   */
  read(hash: Buffer, path: string, offset: number, at?: BlobLocation): Buffer {
    if (this.lastHash?.equals(hash) && this.lastData) return this.lastData;
    this.forget();
    const data = at
      ? this.journal.readBlobAtSync(hash, at, this.scratch)
      : this.journal.readBlobSync(hash, this.scratch);
    return this.checked(hash, data, path, offset);
  }

  /** Drops what views the scratch: called before each read into it. */
  private forget(): void {
    this.lastHash = null;
    this.lastData = null;
    this.ahead = null;
  }

  /**
   * Block `i` of a file's planned blocks, read together with the blocks
   * after it that are stored next to it (one pread per run instead of per
   * block). A run that fails to read for any reason is read block by block
   * instead, which reports damage precisely and finds blocks retention moved.
   */
  readPlanned(blocks: readonly PlannedBlock[], i: number, path: string): Buffer {
    const b = blocks[i]!;
    if (this.lastHash?.equals(b.hash) && this.lastData) return this.lastData;
    const a = this.ahead;
    if (a && a.blocks === blocks && i >= a.from && i < a.from + a.data.length)
      return this.checked(b.hash, a.data[i - a.from]!, path, b.offset);
    this.forget();
    const run = runFrom(blocks, i);
    if (run > 1) {
      const items = blocks.slice(i, i + run).map((x) => ({ hash: x.hash, at: x.loc! }));
      let data: Buffer[] | null = null;
      try {
        data = this.journal.readBlobRunSync(items, this.scratch);
      } catch {
        // Read one by one below: the precise error, or the moved block, comes from there.
      }
      if (data) {
        this.ahead = { blocks, from: i, data };
        return this.checked(b.hash, data[0]!, path, b.offset);
      }
    }
    return this.read(b.hash, path, b.offset, b.loc);
  }

  private checked(hash: Buffer, data: Buffer, path: string, offset: number): Buffer {
    if (!this.hasher.matches(data, hash)) {
      throw new HashMismatchError(
        `block at offset ${offset} of ${path} does not match its recorded hash`,
        { path, offset, hint: "the journal is damaged; run `pvjournal verify`" },
      );
    }
    this.lastHash = hash;
    this.lastData = data;
    return data;
  }
}

/** How many blocks from `i` on lie stored together (see RUN_BYTES); 1 when `i` has no location. */
function runFrom(blocks: readonly PlannedBlock[], i: number): number {
  const first = blocks[i]!.loc;
  if (!first) return 1;
  let end = blobFrameEnd(first);
  let raw = blocks[i]!.storedLen;
  let j = i + 1;
  for (; j < blocks.length; j++) {
    const at = blocks[j]!.loc;
    if (!at || at.segment !== first.segment || at.segmentId !== first.segmentId) break;
    if (at.offset < end || at.offset - end > RUN_GAP) break;
    const next = blobFrameEnd(at);
    raw += blocks[j]!.storedLen;
    if (next - first.offset > RUN_BYTES || raw > RUN_RAW_BYTES) break;
    end = next;
  }
  return j - i;
}
