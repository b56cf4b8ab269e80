/**
 * Where the file reader copies changed blocks: 256 KiB slabs that are reused
 * once every block copied into them has been released, instead of fresh
 * ArrayBuffers. At 100k files of 1-8 KiB the scan copies ~450 MiB of blocks;
 * as fresh slabs that was 17-64 MiB of dead ArrayBuffers at any moment
 * (`process.memoryUsage().arrayBuffers`), because V8 frees them only at the
 * major GCs that external memory growth triggers, and glibc keeps the pages.
 *
 * A block is released by whoever consumed it last: the capture's append
 * batch once the journal has written it (the journal reads no block bytes
 * after an append resolves: index-work.ts), or the reader when a re-read
 * replaced a block it had not handed on. A block that is never released
 * (its file vanished mid-read, an append failed) only keeps its slab out of
 * reuse: the slab is then garbage collected like any Buffer.
 */

/** Slab size; a larger block gets a Buffer of its own (not reused). */
export const SLAB_BYTES = 256 * 1024;
/** Free slabs kept for reuse per pool (4 MiB: a capture batch's worth). */
export const MAX_FREE_SLABS = 16;

interface Slab {
  readonly buf: Buffer;
  readonly pool: BlockSlabs;
  /** Bytes handed out since the slab was (re)started. */
  used: number;
  /** Blocks handed out and not released yet. */
  live: number;
  /** False while blocks are still being copied into it. */
  full: boolean;
}

/** Slab of each slab-backed ArrayBuffer (weak: a slab never released is collected). */
const slabOf = new WeakMap<ArrayBufferLike, Slab>();

/**
 * Releases of a slab block whose slab had no live block: a double release,
 * which would let a slab be reused under a live block. Should stay 0 (tests
 * assert it); not every double release is caught, only those that reach 0.
 */
export let overReleases = 0;

/** Copies of blocks in reusable slabs; one pool is shared by a capture's readers. */
export class BlockSlabs {
  private current: Slab | null = null;
  private readonly free: Slab[] = [];
  /** Slabs allocated (not reused): for tests and diagnostics. */
  allocated = 0;

  /** A copy of `data` that stays intact until released. */
  copy(data: Uint8Array): Buffer {
    if (data.length > SLAB_BYTES) return Buffer.from(data);
    let slab = this.current;
    if (slab === null || slab.buf.length - slab.used < data.length) {
      if (slab !== null) this.retire(slab);
      slab = this.take();
      this.current = slab;
    }
    const out = slab.buf.subarray(slab.used, slab.used + data.length);
    out.set(data);
    slab.used += data.length;
    slab.live += 1;
    return out;
  }

  /** Free slabs waiting for reuse. */
  get freeCount(): number {
    return this.free.length;
  }

  /** A slab no longer copied into: reusable at once if nothing in it is live. */
  private retire(slab: Slab): void {
    slab.full = true;
    if (slab.live === 0) this.recycle(slab);
  }

  /** Called by releaseBlock for a full slab whose last block went. */
  recycle(slab: Slab): void {
    if (this.free.length >= MAX_FREE_SLABS) return;
    slab.used = 0;
    slab.full = false;
    this.free.push(slab);
  }

  private take(): Slab {
    const reused = this.free.pop();
    if (reused) return reused;
    this.allocated += 1;
    const slab: Slab = {
      buf: Buffer.allocUnsafeSlow(SLAB_BYTES),
      pool: this,
      used: 0,
      live: 0,
      full: false,
    };
    slabOf.set(slab.buf.buffer, slab);
    return slab;
  }
}

/**
 * Declares that nothing reads `data` any more (a Buffer from BlockSlabs.copy,
 * released at most once); any other Buffer is ignored.
 */
export function releaseBlock(data: Buffer): void {
  const slab = slabOf.get(data.buffer);
  if (slab === undefined) return;
  if (slab.live === 0) {
    overReleases += 1;
    return;
  }
  slab.live -= 1;
  if (slab.live === 0 && slab.full) slab.pool.recycle(slab);
}
