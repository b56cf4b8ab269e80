/** The logger of short-lived tool commands: warnings and errors only, on stderr, so stdout stays parseable. */
import { createRootLogger, type Logger, lazyLogger } from "../log/logger.js";

/** A warn-level JSON logger writing to stderr, made (and pino loaded) when first used. */
export function toolLogger(): Logger {
  return lazyLogger(() => createRootLogger({ level: "warn", destination: process.stderr }));
}
