/**
 * The sidecar's capture, whichever mode the config picks: the watch capture
 * (observe files) or the intercept capture (our FUSE filesystem). Both settle
 * for checkpoints and report the same status shape.
 */
import { Capture, type CaptureStatus } from "../capture/capture.js";
import type { Settleable } from "../capture/checkpointer.js";
import type { Config } from "../config/types.js";
import { InterceptCapture, type InterceptStatus } from "../intercept/intercept.js";
import type { Journal } from "../journal/journal.js";
import type { Logger } from "../log/logger.js";
import type { BlockHasher } from "../util/hash.js";

/** Status of either capture; `intercept` only in intercept mode. */
export type EngineStatus = CaptureStatus & {
  readonly mode: Config["capture"]["mode"];
  readonly intercept?: InterceptStatus;
};

/** What the sidecar needs of a capture. */
export interface CaptureEngine extends Settleable {
  /** Checks that must fail the start with exit 2 (intercept: device, privilege). */
  prepare(): Promise<void>;
  /** Initial scan or reconcile, then continuous capture; resolves when ready. */
  start(): Promise<void>;
  stop(): Promise<void>;
  status(): EngineStatus;
}

/** Builds the capture of `config.capture.mode`. */
export function createCaptureEngine(opts: {
  config: Config;
  journal: Journal;
  hasher: BlockHasher;
  logger: Logger;
  onError: (err: unknown) => void;
}): CaptureEngine {
  const { config } = opts;
  if (config.capture.mode === "intercept") {
    const ic = new InterceptCapture({
      journal: opts.journal,
      hasher: opts.hasher,
      sources: config.sources,
      logger: opts.logger,
      onError: opts.onError,
    });
    return ic;
  }
  const capture = new Capture({
    journal: opts.journal,
    hasher: opts.hasher,
    sources: config.sources,
    capture: config.capture,
    logger: opts.logger,
    onError: opts.onError,
  });
  return {
    consistency: capture.consistency,
    prepare: async () => undefined,
    start: () => capture.start(),
    settle: () => capture.settle(),
    stop: () => capture.stop(),
    status: () => ({ mode: "watch", ...capture.status() }),
  };
}
