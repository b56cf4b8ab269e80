/** Polling with a hard timeout, instead of sleeps that are too short on a slow CI machine. */

/** Thrown from a waitFor callback to stop waiting at once (e.g. the daemon died). */
export class StopWaiting extends Error {}

/** Options of waitFor. */
export interface WaitForOptions {
  /** Give up after this many ms (default 5000). */
  readonly timeout?: number;
  /** Poll every this many ms (default 25). */
  readonly interval?: number;
  /** Included in the timeout error. */
  readonly what?: string;
}

/**
 * Calls `fn` until it returns a value other than false/undefined/null without
 * throwing, and resolves with that value. On timeout rejects with the last
 * error (or a message naming `what`). A StopWaiting error rejects at once.
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  options: WaitForOptions = {},
): Promise<Exclude<T, false | null | undefined>> {
  const timeout = options.timeout ?? 5000;
  const interval = options.interval ?? 25;
  const deadline = Date.now() + timeout;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== false && value !== null && value !== undefined) {
        return value as Exclude<T, false | null | undefined>;
      }
      lastError = undefined;
    } catch (err) {
      if (err instanceof StopWaiting) throw err;
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const what = options.what ?? "condition";
      const reason = lastError instanceof Error ? `: ${lastError.message}` : "";
      throw new Error(`waitFor timed out after ${timeout} ms waiting for ${what}${reason}`, {
        cause: lastError,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
