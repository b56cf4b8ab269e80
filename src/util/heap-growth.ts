/**
 * How far V8 lets the JS heap grow beyond live data before the next full GC
 * (`runtime.heapGrowthPercent`). V8's own factor is 1.1-4x, chosen from GC
 * speed: a daemon whose garbage is promoted in bulk (a capture batch of
 * records lives across minor GCs) settles near 2x its live heap. At 100k
 * files of 1-8 KiB the sidecar's peak RSS went from 312-323 MiB to
 * 235-245 MiB with 30%, with scan times within this machine's noise
 * (watch-scale, interleaved runs, 2026-12-03).
 *
 * Applied by the CLI as a daemon starts, before the heap has grown; V8 reads
 * the flag at every full GC, so setting it at run time takes effect.
 */
import { setFlagsFromString } from "node:v8";

/** Sets V8's heap growing factor to 1 + percent/100; 0 keeps V8's default. */
export function setHeapGrowthPercent(percent: number): void {
  if (!Number.isSafeInteger(percent) || percent < 0)
    throw new RangeError(`heap growth must be a whole percentage >= 0, got ${percent}`);
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`);
}
