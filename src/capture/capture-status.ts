/**
 * What the capture reports (for /v1/status, /readyz and metrics), and two
 * small helpers of capture.ts.
 */

/** The capture's state for /v1/status, /readyz and metrics. */
export interface CaptureStatus {
  /** The initial scan is done (/readyz). */
  readonly ready: boolean;
  readonly scanning: {
    readonly active: boolean;
    readonly paths: number;
    readonly bytesRead: number;
  };
  readonly dirtyPaths: number;
  /** When the oldest un-journaled change was noticed (ms since epoch), or null. */
  readonly oldestDirtyAt: number | null;
  /** Time of the last successful capture pass (ms since epoch), or null. */
  readonly lastCaptureAt: number | null;
  readonly lastError: { readonly message: string; readonly at: number } | null;
  /** True while the newest capture attempt failed (e.g. ENOSPC on the journal): retrying. */
  readonly degraded: boolean;
  readonly errors: number;
  readonly filesTracked: number;
  readonly bytesTracked: number;
}

/**
 * Two event-loop turns: the first ends the current phase, the second runs a
 * fresh poll phase, in which libuv reads every inotify event the kernel
 * queued before now and hands it to the watcher (which marks the path dirty).
 */
export async function eventTurns(): Promise<void> {
  for (let i = 0; i < 2; i++) await new Promise<void>((r) => setImmediate(r));
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
