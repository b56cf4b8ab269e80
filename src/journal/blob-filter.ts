/**
 * Which blob hashes the index may hold, in 2 MiB of bits: `mayHave` false
 * means the index certainly does not hold the hash, so the append path skips
 * its SQLite lookup. Every append looks each of its blocks up (deduplication);
 * in the first scan of an empty journal nearly all of them miss, and a miss
 * was ~7 us of the main thread per block (30k-file profile: 4-6% of the scan,
 * random 128-bit keys in a B-tree larger than SQLite's 2 MiB page cache).
 *
 * One bit per hash (the hashes are xxh3-128, uniform): a hash that is not
 * stored still finds its bit set with probability stored/2^24, 0.6% at 100k
 * blobs and 6% at 1M, and then costs the lookup it costs today. The index
 * keeps a filter only when it knows every stored hash went through `add`: it
 * starts one for an index without blobs, so a journal opened with blobs
 * looks everything up as before. Removing rows never clears bits: a stale bit
 * only costs a lookup.
 */

/** Bits in the filter: 2^24 = 2 MiB. */
export const FILTER_BITS = 2 ** 24;

/** See the module comment. */
export class BlobFilter {
  private readonly bits = new Uint8Array(FILTER_BITS / 8);

  /** Notes that the index may hold `hash` from now on. */
  add(hash: Uint8Array): void {
    const i = slot(hash);
    this.bits[i >>> 3]! |= 1 << (i & 7);
  }

  /** False when the index certainly does not hold `hash`. */
  mayHave(hash: Uint8Array): boolean {
    const i = slot(hash);
    return (this.bits[i >>> 3]! & (1 << (i & 7))) !== 0;
  }
}

/** The hash's bit: its first 24 bits (any hash of 3 bytes or more; shorter ones share bit 0). */
function slot(hash: Uint8Array): number {
  if (hash.length < 3) return 0;
  return hash[0]! | (hash[1]! << 8) | (hash[2]! << 16);
}
