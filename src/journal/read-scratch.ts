/**
 * The buffers one reader reuses across synchronous blob reads (a restore's
 * BlockReader owns one): segment frames are read into one, packed blocks
 * decompressed into the other. What such a read returns are views of them,
 * valid until the next read with the same scratch.
 *
 * Why: a restore is a short-lived process, and every page it touches for
 * the first time costs a page fault. Fresh buffers per run and per block
 * touched about 1.5x the restored bytes in new pages (the 128 MiB 4 KiB-block
 * restore: 34k minor faults) and made V8 collect for the external memory;
 * on this VM 64 MiB of fresh 1 MiB buffers took 50-74 ms to fill against
 * under 1 ms for a reused one.
 */

/** Sizes are rounded up to this, so a series of runs grows a buffer once or twice. */
const GRAIN = 1024 * 1024;

export class ReadScratch {
  private frames = Buffer.alloc(0);
  private blocks = Buffer.alloc(0);

  /** A buffer of at least `n` bytes for frames read from a segment. */
  forFrames(n: number): Buffer {
    if (this.frames.length < n) this.frames = Buffer.allocUnsafe(Math.ceil(n / GRAIN) * GRAIN);
    return this.frames;
  }

  /** A buffer of at least `n` bytes for decompressed blocks. */
  forBlocks(n: number): Buffer {
    if (this.blocks.length < n) this.blocks = Buffer.allocUnsafe(Math.ceil(n / GRAIN) * GRAIN);
    return this.blocks;
  }
}
