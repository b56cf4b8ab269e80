/**
 * Pure: parses a POST /v1/drills body as sent (fastify's ajv would coerce
 * types). `verify` is a command name from drills.verifyCommands, or a raw
 * `{command: [argv...]}` that the runner accepts only when
 * drills.allowRequestCommands is set.
 */

import { COMMAND_NAME_RE } from "../../config/convert.js";
import { MAX_TIMER_MS, parseDuration } from "../../config/duration.js";
import type { DrillRequest } from "../../drill/runner.js";
import { ErrorCode, RequestError } from "../../errors.js";
import { type Point, parseTime } from "../../journal/points.js";

/** Longest verify argv accepted, in items and per item. */
export const MAX_ARGV = 256;
const MAX_ARG_LENGTH = 8192;

function bad(message: string): RequestError {
  return new RequestError(ErrorCode.BAD_REQUEST, message);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Parses an optional `{checkpoint | at}` (at most one): null = the default point. Pure. */
export function parseOptionalPoint(body: Record<string, unknown>): Point | null {
  const given = (["checkpoint", "at"] as const).filter((k) => body[k] !== undefined);
  if (given.length > 1) throw bad("give at most one of checkpoint, at");
  if (body.checkpoint !== undefined) {
    const c = body.checkpoint;
    if (typeof c !== "number" || !Number.isSafeInteger(c) || c < 0)
      throw bad("checkpoint must be a non-negative integer");
    return { checkpoint: c };
  }
  if (body.at !== undefined) {
    if (typeof body.at !== "string" || body.at.length > 64)
      throw bad("at must be an ISO 8601 time string, e.g. 2026-11-25T12:00:00.000Z");
    return { at: parseTime(body.at) };
  }
  return null;
}

const KEYS = new Set(["checkpoint", "at", "verify", "keep"]);

/**
 * Parses `{checkpoint | at ?, verify?: "NAME" | {command: [argv...], timeout?: "60s"} | null, keep?}`.
 * Throws BAD_REQUEST or INVALID_POINT.
 */
export function parseDrillBody(body: unknown): DrillRequest {
  const b = body === undefined || body === null ? {} : body;
  if (!isPlainObject(b)) throw bad("the body must be a JSON object");
  const unknown = Object.keys(b).filter((k) => !KEYS.has(k));
  if (unknown.length > 0)
    throw bad(`unknown field(s) ${unknown.map((k) => JSON.stringify(k)).join(", ")}`);
  const point = parseOptionalPoint(b);
  if (b.keep !== undefined && typeof b.keep !== "boolean") throw bad("keep must be true or false");
  const keep = b.keep === true;
  if (b.verify === undefined) return { point, keep };
  if (b.verify === null) return { point, keep, verify: null };
  if (typeof b.verify === "string") {
    if (!COMMAND_NAME_RE.test(b.verify))
      throw bad("verify must name a command of drills.verifyCommands ([a-z0-9_-]+)");
    return { point, keep, verify: { name: b.verify } };
  }
  const v = b.verify;
  if (!isPlainObject(v))
    throw bad('verify must be a command name ("pg-check") or {command: [argv...], timeout?}');
  const extra = Object.keys(v).filter((k) => k !== "command" && k !== "timeout");
  if (extra.length > 0)
    throw bad(`unknown field(s) in verify: ${extra.map((k) => JSON.stringify(k)).join(", ")}`);
  const cmd = v.command;
  if (
    !Array.isArray(cmd) ||
    cmd.length === 0 ||
    cmd.length > MAX_ARGV ||
    !cmd.every((a) => typeof a === "string" && a.length <= MAX_ARG_LENGTH) ||
    (cmd[0] as string).length === 0
  ) {
    throw bad(
      `verify.command must be an argv array of 1..${MAX_ARGV} strings, e.g. ["sh", "-c", "test -f $PVJ_DRILL_DIR/data/db"]`,
    );
  }
  let timeoutMs: number | null = null;
  if (v.timeout !== undefined) {
    if (typeof v.timeout !== "string")
      throw bad('verify.timeout must be a duration string like "60s"');
    try {
      timeoutMs = parseDuration(v.timeout);
    } catch (err) {
      throw bad(`verify.timeout: ${(err as Error).message}`);
    }
    if (timeoutMs <= 0 || timeoutMs > MAX_TIMER_MS)
      throw bad("verify.timeout must be more than 0 and at most 24d");
  }
  return { point, keep, verify: { command: cmd as string[], timeoutMs } };
}
