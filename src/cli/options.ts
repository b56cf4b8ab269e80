/**
 * Parsing and cross-checks of command-line options shared by several
 * commands. Commander handles single options; the rules that span options
 * (exactly one point, journal or server) live here and throw UsageError (exit 2).
 */
import { InvalidArgumentError } from "commander";
import { UsageError } from "../errors.js";
import { parseTime as parsePointTime } from "../journal/points.js";

/** A point in the journal's history as named on the command line. */
export type CliPoint =
  | { readonly kind: "checkpoint"; readonly id: string }
  | { readonly kind: "at"; readonly time: Date }
  | { readonly kind: "seq"; readonly seq: number };

/** Where a command reads from: a journal directory (offline) or a running daemon. */
export type CliSource =
  | { readonly kind: "journal"; readonly dir: string }
  | { readonly kind: "server"; readonly url: URL };

/** Commander argParser for `--seq N`: a non-negative safe integer. */
export function parseSeq(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError("expected a non-negative integer sequence number");
  }
  return Number(value);
}

// ISO 8601 date-time with an explicit zone (Z or ±hh:mm): a zoneless time would
// silently depend on the TZ of whoever runs the command.
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/** Commander argParser for `--at TIME`: ISO 8601 with a zone, e.g. 2024-05-01T12:00:00Z. */
export function parseTime(value: string): Date {
  let time = new Date(Number.NaN);
  try {
    // One parser for the CLI and the API (it also refuses impossible dates like Feb 31).
    time = new Date(parsePointTime(value));
  } catch {
    // reported below as a usage error
  }
  if (!ISO_TIME.test(value) || Number.isNaN(time.getTime())) {
    throw new InvalidArgumentError(
      "expected an ISO 8601 time with a zone, e.g. 2024-05-01T12:00:00Z",
    );
  }
  return time;
}

/** Commander argParser for `--server URL`: an http or https URL. */
export function parseServerUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError("expected a URL such as http://127.0.0.1:7070");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new InvalidArgumentError("expected an http:// or https:// URL");
  }
  return url;
}

/** The raw point options as commander parsed them. */
export interface PointOptions {
  readonly checkpoint?: string;
  readonly at?: Date;
  readonly seq?: number;
}

/**
 * The one point named by --checkpoint/--at/--seq (those present in `allowed`).
 * Two or more is a UsageError; none is a UsageError when `required`, else null.
 */
export function choosePoint(
  opts: PointOptions,
  required: boolean,
  allowed: readonly ("checkpoint" | "at" | "seq")[] = ["checkpoint", "at", "seq"],
): CliPoint | null {
  const given: CliPoint[] = [];
  if (opts.checkpoint !== undefined) given.push({ kind: "checkpoint", id: opts.checkpoint });
  if (opts.at !== undefined) given.push({ kind: "at", time: opts.at });
  if (opts.seq !== undefined) given.push({ kind: "seq", seq: opts.seq });
  const names = allowed.map((name) => `--${name}`).join(", ");
  if (given.length > 1) throw new UsageError(`give only one of ${names}`);
  const point = given[0];
  if (point === undefined) {
    if (required) throw new UsageError(`give one of ${names}`);
    return null;
  }
  return point;
}

/** The raw source options as commander parsed them. */
export interface SourceOptions {
  readonly journal?: string;
  readonly server?: URL;
}

/** Exactly one of --journal DIR and --server URL, else a UsageError. */
export function chooseSource(opts: SourceOptions): CliSource {
  if (opts.journal !== undefined && opts.server !== undefined) {
    throw new UsageError("give either --journal or --server, not both");
  }
  if (opts.journal !== undefined) return { kind: "journal", dir: opts.journal };
  if (opts.server !== undefined) return { kind: "server", url: opts.server };
  throw new UsageError("give --journal DIR (offline) or --server URL (through a daemon)");
}
