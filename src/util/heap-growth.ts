/**
 * How far V8 lets the JS heap grow beyond live data before the next full GC
 * (`runtime.heapGrowthPercent`). V8's own factor is 1.1-4x, chosen from GC
 * speed (a set percentage overrides it, V8's own caps included): a watch-mode sidecar, whose garbage is promoted in bulk (a capture
 * batch of records lives across minor GCs), settles near 2x its live heap.
 * At 100k files of 1-8 KiB its peak RSS went from 312-323 MiB to 235-245 MiB
 * with 30%, with scan times within this machine's noise (watch-scale,
 * interleaved runs, 2026-12-03).
 *
 * Intercept mode is the opposite case: its garbage is large write batches,
 * and more full GCs cost it throughput (quick intercept runs, same session:
 * sequential writes 80-90 MB/s at V8's default, 59-64 MB/s at 30%; sidecar
 * CPU 15-17 against 25-26 s/GiB). So only a watch-mode sidecar gets 30 by
 * default; the replica was not measured and keeps V8's default.
 *
 * Applied by the CLI as a daemon starts, before the heap has grown; V8 reads
 * the flag at every full GC, so setting it at run time takes effect.
 */
import { setFlagsFromString } from "node:v8";

/** The default for a sidecar whose sources are captured in watch mode. */
export const WATCH_HEAP_GROWTH_PERCENT = 30;

/** The percentage a daemon uses: the configured one, else its role's default. */
export function heapGrowthFor(
  configured: number | null,
  daemon: "sidecar-watch" | "sidecar-intercept" | "replica",
): number {
  if (configured !== null) return configured;
  return daemon === "sidecar-watch" ? WATCH_HEAP_GROWTH_PERCENT : 0;
}

/** Sets V8's heap growing factor to 1 + percent/100; 0 keeps V8's default. */
export function setHeapGrowthPercent(percent: number): void {
  if (!Number.isSafeInteger(percent) || percent < 0)
    throw new RangeError(`heap growth must be a whole percentage >= 0, got ${percent}`);
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`);
}
