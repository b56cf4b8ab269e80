/**
 * Process lifecycle for the daemon commands: waiting for a shutdown signal and
 * closing within a deadline. Only CLI entry commands handle signals.
 */
import type { FastifyInstance } from "fastify";
import type { Logger } from "../log/logger.js";

/** Signals that ask a daemon to stop: SIGTERM from Kubernetes, SIGINT from a terminal. */
export const SHUTDOWN_SIGNALS = ["SIGTERM", "SIGINT"] as const;

/**
 * 10 s: well inside Kubernetes' default 30 s terminationGracePeriodSeconds,
 * leaving time for the journal to flush after the server has closed.
 */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;

/**
 * Resolves with the first shutdown signal. The handlers are removed at once,
 * so a second signal gets Node's default action and kills a stuck shutdown.
 */
export function waitForShutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const handler = (signal: NodeJS.Signals) => {
      for (const s of SHUTDOWN_SIGNALS) process.off(s, handler);
      resolve(signal);
    };
    for (const s of SHUTDOWN_SIGNALS) process.on(s, handler);
  });
}

/**
 * Closes the server (stops accepting, waits for in-flight requests). Resolves
 * false if that takes longer than `timeoutMs`, e.g. a client holding a stream open.
 */
export async function closeServer(
  app: FastifyInstance,
  log: Logger,
  timeoutMs = DEFAULT_SHUTDOWN_TIMEOUT_MS,
): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
    timer.unref();
  });
  const closed = app.close().then(() => true as const);
  const done = await Promise.race([closed, deadline]);
  clearTimeout(timer);
  if (!done) log.warn({ timeoutMs }, "server did not close in time");
  return done;
}
