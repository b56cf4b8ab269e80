/**
 * The request fields several routes share, each written once: how a request
 * names a point (checkpoint, at, seq) and a target path, as JSON schema
 * properties, the message a bad value gets, and the checks a schema cannot
 * express (one point at most, a time that parses, an absolute target).
 */
import { isAbsolute } from "node:path";
import { ErrorCode, RequestError } from "../errors.js";
import { type Point, parseTime } from "../journal/points.js";

/** Longest target or restore path accepted (PATH_MAX on Linux). */
export const MAX_PATH_LENGTH = 4096;

const nonNegative = { type: "integer", minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;

/** How a request body names a point: the properties of its JSON schema. */
export const pointFields = {
  checkpoint: { ...nonNegative, description: "Checkpoint id" },
  at: {
    type: "string",
    maxLength: 64,
    description:
      "Newest position at or before this ISO 8601 time (with a zone, e.g. 2026-11-25T12:00:00.000Z)",
  },
} as const;

/** A journal position, for the routes that take one (restores). */
export const seqField = { ...nonNegative, description: "Journal position" } as const;

/** A target directory (absolute; checked against restore.allowedRoots by the target policy). */
export const targetField = { type: "string", minLength: 1, maxLength: MAX_PATH_LENGTH } as const;

/** What a bad value of a shared field is told (validation.ts bodyErrors). */
export const FIELD_MESSAGES = {
  checkpoint: "checkpoint must be a non-negative integer",
  seq: "seq must be a non-negative integer",
  at: "at must be an ISO 8601 time string, e.g. 2026-11-25T12:00:00.000Z",
  target: `target must be a non-empty string of at most ${MAX_PATH_LENGTH} characters`,
} as const;

type PointKey = "checkpoint" | "at" | "seq";

function bad(message: string): RequestError {
  return new RequestError(ErrorCode.BAD_REQUEST, message);
}

/**
 * The point a schema-valid body names, from `keys` in that order:
 * `required` = exactly one of them, otherwise at most one (null = none, the
 * route's default point). Throws BAD_REQUEST, or INVALID_POINT for a time
 * that does not parse. Pure.
 */
export function pointOf(
  body: { readonly checkpoint?: number; readonly at?: string; readonly seq?: number },
  keys: readonly PointKey[],
  required: boolean,
): Point | null {
  const given = keys.filter((k) => body[k] !== undefined);
  const list = keys.join(", ");
  if (required && given.length !== 1) {
    throw bad(
      given.length === 0
        ? `give exactly one of ${list}`
        : `give exactly one of ${list} (got ${given.join(" and ")})`,
    );
  }
  if (given.length > 1) throw bad(`give at most one of ${list}`);
  if (body.checkpoint !== undefined && given[0] === "checkpoint")
    return { checkpoint: body.checkpoint };
  if (body.seq !== undefined && given[0] === "seq") return { seq: body.seq };
  if (body.at !== undefined && given[0] === "at") return { at: parseTime(body.at) };
  return null;
}

/**
 * `target` as given, when absolute; TARGET_NOT_ALLOWED (403) otherwise:
 * relative to what? The daemon's working directory is nobody's business.
 */
export function absoluteTarget(target: string, what: "restore" | "failover"): string {
  if (!isAbsolute(target)) {
    throw new RequestError(
      ErrorCode.TARGET_NOT_ALLOWED,
      `${what} target ${target}: must be an absolute path`,
      { path: target },
    );
  }
  return target;
}
