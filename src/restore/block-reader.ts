import { HashMismatchError } from "../errors.js";
import type { Journal } from "../journal/journal.js";
import type { BlobLocation } from "../journal/plan.js";
import type { BlockHasher } from "../util/hash.js";

/**
 * Reads blobs from the journal synchronously and checks every one against
 * the hash recorded at capture. Remembers the last blob: sparse and zero runs
 * repeat one hash, and a 1 GiB file of zeros then costs one read, not 262k.
 */
export class BlockReader {
  private lastHash: Buffer | null = null;
  private lastData: Buffer | null = null;

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
    const data = at ? this.journal.readBlobAtSync(hash, at) : this.journal.readBlobSync(hash);
    if (!this.hasher.hash(data).equals(hash)) {
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
