/** The logger of short-lived tool commands: warnings and errors only, on stderr, so stdout stays parseable. */
import { createRootLogger, type Logger } from "../log/logger.js";

/** A warn-level JSON logger writing to stderr. */
export function toolLogger(): Logger {
  return createRootLogger({ level: "warn", destination: process.stderr });
}
