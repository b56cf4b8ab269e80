/**
 * Strict validation of a POST /v1/restores body. The route's JSON schema
 * documents the same rules, but fastify's ajv coerces types ("3" -> 3,
 * "data" -> ["data"]); a restore must not guess what a malformed request
 * meant, so this pure function checks the body as sent, first.
 */
import { isAbsolute } from "node:path";
import { ErrorCode, RequestError } from "../../errors.js";
import { type Point, parseTime } from "../../journal/points.js";
import type { RestoreRequest } from "../../restore/restore.js";

/** Longest target or restore path accepted (PATH_MAX on Linux). */
export const MAX_PATH_LENGTH = 4096;
/** Most `paths` entries per request. */
export const MAX_RESTORE_PATHS = 1000;

const KEYS = new Set(["checkpoint", "at", "seq", "target", "paths"]);

function bad(message: string): RequestError {
  return new RequestError(ErrorCode.BAD_REQUEST, message);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function nonNegativeInteger(v: unknown, name: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0)
    throw bad(`${name} must be a non-negative integer`);
  return v;
}

/**
 * Parses `{checkpoint | at | seq, target, paths?}`: exactly one point
 * (checkpoint: integer id; at: ISO 8601 time with a zone; seq: non-negative
 * integer), an absolute target, optional non-empty path strings. Throws
 * BAD_REQUEST (400), INVALID_POINT (400) or TARGET_NOT_ALLOWED (403). Pure.
 */
export function parseRestoreBody(body: unknown): RestoreRequest {
  if (!isPlainObject(body)) throw bad("the body must be a JSON object");
  const unknown = Object.keys(body).filter((k) => !KEYS.has(k));
  if (unknown.length > 0)
    throw bad(`unknown field(s) ${unknown.map((k) => JSON.stringify(k)).join(", ")}`);
  const given = (["checkpoint", "at", "seq"] as const).filter((k) => body[k] !== undefined);
  if (given.length !== 1) {
    throw bad(
      given.length === 0
        ? "give exactly one of checkpoint, at, seq"
        : `give exactly one of checkpoint, at, seq (got ${given.join(" and ")})`,
    );
  }
  let point: Point;
  if (given[0] === "checkpoint")
    point = { checkpoint: nonNegativeInteger(body.checkpoint, "checkpoint") };
  else if (given[0] === "seq") point = { seq: nonNegativeInteger(body.seq, "seq") };
  else {
    if (typeof body.at !== "string" || body.at.length > 64)
      throw bad("at must be an ISO 8601 time string, e.g. 2026-11-25T12:00:00.000Z");
    point = { at: parseTime(body.at) };
  }
  const target = body.target;
  if (typeof target !== "string" || target.length === 0 || target.length > MAX_PATH_LENGTH)
    throw bad(`target must be a non-empty string of at most ${MAX_PATH_LENGTH} characters`);
  if (!isAbsolute(target)) {
    // Relative to what? The daemon's working directory is nobody's business.
    throw new RequestError(
      ErrorCode.TARGET_NOT_ALLOWED,
      `restore target ${target}: must be an absolute path`,
      { path: target },
    );
  }
  let paths: string[] | null = null;
  if (body.paths !== undefined) {
    const p = body.paths;
    if (
      !Array.isArray(p) ||
      p.length > MAX_RESTORE_PATHS ||
      !p.every((x) => typeof x === "string" && x.length > 0 && x.length <= MAX_PATH_LENGTH)
    ) {
      throw bad(`paths must be an array of at most ${MAX_RESTORE_PATHS} non-empty strings`);
    }
    paths = p as string[];
  }
  return { point, target, paths };
}
