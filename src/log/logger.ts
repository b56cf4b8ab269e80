import { type Logger, type LoggerOptions, pino } from "pino";

/** A pino logger; components get children via `childLogger`. */
export type { Logger } from "pino";

/** Log levels accepted in config and `PVJ_LOG_LEVEL`. */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
/** One of LOG_LEVELS. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Options for the root logger. `pretty` defaults to "stdout is a TTY". */
export interface RootLoggerOptions {
  readonly level: LogLevel;
  readonly pretty?: boolean;
  /** Where JSON lines go; defaults to stdout (fd 1). Tests pass a stream. */
  readonly destination?: NodeJS.WritableStream;
}

// Tokens and authorization headers must never reach a log line.
const REDACT = {
  paths: ["req.headers.authorization", "token", "*.token", "headers.authorization"],
  censor: "[redacted]",
};

/**
 * Builds the one root logger of a process. Pretty output on a TTY (for a human
 * at a terminal), JSON lines otherwise (for log shippers in Kubernetes).
 */
export function createRootLogger(options: RootLoggerOptions): Logger {
  const base: LoggerOptions = {
    level: options.level,
    base: { pid: process.pid },
    redact: REDACT,
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  const pretty = options.pretty ?? process.stdout.isTTY === true;
  if (options.destination) return pino(base, options.destination);
  if (pretty) {
    return pino({
      ...base,
      transport: {
        target: "pino-pretty",
        options: { colorize: true, translateTime: "SYS:HH:MM:ss.l" },
      },
    });
  }
  return pino(base);
}

/** A child logger for one component (`journal`, `capture`, `http`, ...). */
export function childLogger(root: Logger, component: string): Logger {
  return root.child({ component });
}

/** A logger that drops everything: for tests and library use without a root. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
