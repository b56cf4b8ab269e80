import { createRequire } from "node:module";
import type { Logger, LoggerOptions, pino as Pino } from "pino";

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

let pinoFn: typeof Pino | null = null;

/**
 * pino, loaded when the first logger is made (CommonJS, so synchronously):
 * pino and its dependencies are ~30 modules, ~20-30 ms of a CLI start, and
 * an offline restore usually logs nothing (toolLogger's logger is lazy too).
 */
function pino(): typeof Pino {
  pinoFn ??= (createRequire(import.meta.url)("pino") as { pino: typeof Pino }).pino;
  return pinoFn;
}

/**
 * Builds the one root logger of a process. Pretty output on a TTY (for a human
 * at a terminal), JSON lines otherwise (for log shippers in Kubernetes).
 */
export function createRootLogger(options: RootLoggerOptions): Logger {
  const base: LoggerOptions = {
    level: options.level,
    base: { pid: process.pid },
    redact: REDACT,
    timestamp: pino().stdTimeFunctions.isoTime,
  };
  const pretty = options.pretty ?? process.stdout.isTTY === true;
  if (options.destination) return pino()(base, options.destination);
  if (pretty) {
    return pino()({
      ...base,
      transport: {
        target: "pino-pretty",
        options: { colorize: true, translateTime: "SYS:HH:MM:ss.l" },
      },
    });
  }
  return pino()(base);
}

/** A child logger for one component (`journal`, `capture`, `http`, ...). */
export function childLogger(root: Logger, component: string): Logger {
  return root.child({ component });
}

/** A logger that drops everything: for tests and library use without a root. */
export function silentLogger(): Logger {
  return pino()({ level: "silent" });
}

/**
 * A logger that makes `make()`'s logger on its first use and forwards to it:
 * for short-lived tools that usually log nothing, so pino is never loaded.
 */
export function lazyLogger(make: () => Logger): Logger {
  let real: Logger | null = null;
  const target = (): Logger => {
    real ??= make();
    return real;
  };
  return new Proxy({} as Logger, {
    get(_, prop) {
      const r = target();
      const value: unknown = Reflect.get(r, prop, r);
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(r) : value;
    },
    set(_, prop, value) {
      return Reflect.set(target(), prop, value);
    },
    has(_, prop) {
      return Reflect.has(target(), prop);
    },
  });
}
