/**
 * POST /v1/drills, GET /v1/drills, GET /v1/drills/:id[?format=html]: failover
 * drills on a sidecar (full materialisation) or a replica (clone of the
 * mirror where the filesystem can). The plugin owns the drill runner, the
 * schedule (drills.schedule) and the drill metrics; all stop with the app.
 */
import type { FastifyPluginAsync } from "fastify";
import { MAX_TIMER_MS, parseDuration } from "../../config/duration.js";
import type { DrillsConfig } from "../../config/types.js";
import type { CloneFile } from "../../drill/clone.js";
import { mirrorView } from "../../drill/materialise.js";
import { registerDrillMetrics } from "../../drill/metrics.js";
import { type DrillReport, DrillState, renderHtml } from "../../drill/report.js";
import { DRILL_ID_PATTERN, type DrillRequest, DrillRunner } from "../../drill/runner.js";
import { startDrillSchedule } from "../../drill/schedule.js";
import { MAX_REPORTS } from "../../drill/store.js";
import { ErrorCode, RequestError } from "../../errors.js";
import type { Journal } from "../../journal/journal.js";
import { type Point, parseTime } from "../../journal/points.js";
import type { Logger } from "../../log/logger.js";
import type { Metrics } from "../../metrics/registry.js";
import type { Mirror } from "../../replica/mirror.js";
import type { BlockHasher } from "../../util/hash.js";
import { errorResponses } from "./error-responses.js";

/** What the drill routes need from a daemon. */
export interface DrillRoutesDeps {
  readonly role: "sidecar" | "replica";
  readonly journal: Journal;
  readonly hasher: BlockHasher;
  readonly config: DrillsConfig;
  /** Paths a sandbox may never overlap: sources, the journal, the mirror. */
  readonly forbidden: readonly string[];
  /** The replica's mirror (fast clone path); null on a sidecar. */
  readonly mirror: Mirror | null;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly clock?: () => number;
  /** Replaces the reflink call (tests). */
  readonly cloneFile?: CloneFile;
}

/** Longest verify argv accepted, in items and per item. */
const MAX_ARGV = 256;
const MAX_ARG_LENGTH = 8192;

const pointSchema = {
  type: "object",
  required: ["seq", "ts", "checkpoint"],
  properties: {
    seq: { type: "integer" },
    ts: { type: "string", format: "date-time" },
    checkpoint: { type: ["integer", "null"] },
  },
} as const;

/** JSON schema of a drill report. */
export const drillReportSchema = {
  type: "object",
  required: [
    "id",
    "state",
    "trigger",
    "createdAt",
    "point",
    "rpoSeconds",
    "rtoSeconds",
    "materialiseSeconds",
    "method",
    "verify",
    "passed",
  ],
  properties: {
    id: { type: "string", pattern: DRILL_ID_PATTERN },
    state: {
      type: "string",
      enum: Object.values(DrillState),
      description: "done = ran to the end (see passed); failed = could not run (see error)",
    },
    trigger: { type: "string", enum: ["api", "schedule"] },
    createdAt: { type: "string", format: "date-time" },
    startedAt: { type: ["string", "null"], format: "date-time" },
    finishedAt: { type: ["string", "null"], format: "date-time" },
    point: pointSchema,
    rpoSeconds: {
      type: ["number", "null"],
      description: "Age of the point when the drill started",
    },
    rtoSeconds: {
      type: ["number", "null"],
      description: "From the request to the verified copy",
    },
    materialiseSeconds: { type: ["number", "null"] },
    method: {
      type: ["string", "null"],
      enum: ["clone", "full", null],
      description: "clone: reflinked from the replica's mirror; full: written from the journal",
    },
    materialise: {
      type: ["object", "null"],
      properties: {
        files: { type: "integer" },
        filesCloned: { type: "integer" },
        bytesWritten: { type: "integer" },
        mirrorSeq: { type: ["integer", "null"] },
        fallback: { type: "string", description: "Why the clone path was not taken" },
      },
    },
    verify: {
      type: ["object", "null"],
      properties: {
        command: { type: "array", items: { type: "string" } },
        exitCode: { type: ["integer", "null"] },
        output: { type: "string", description: "Tail of stdout+stderr" },
        timedOut: { type: "boolean" },
        seconds: { type: "number" },
        error: { type: "string" },
      },
    },
    passed: { type: ["boolean", "null"], description: "null until the drill finished" },
    keep: { type: "boolean" },
    sandbox: { type: "string", description: "The sandbox, only when kept" },
    error: {
      type: "object",
      required: ["code", "message"],
      properties: { code: { type: "string" }, message: { type: "string" } },
    },
  },
} as const;

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
 * Parses `{checkpoint | at ?, verify?: {command: [argv...], timeout?: "60s"} | null, keep?}`
 * as sent (fastify's ajv would coerce types). Pure; throws BAD_REQUEST or INVALID_POINT.
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
  const v = b.verify;
  if (!isPlainObject(v)) throw bad("verify must be an object {command: [argv...], timeout?}");
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

const idParams = {
  type: "object",
  required: ["id"],
  additionalProperties: false,
  properties: { id: { type: "string", pattern: DRILL_ID_PATTERN } },
} as const;

/** The drill routes, for buildServer's `routes`. */
export function drillRoutes(deps: DrillRoutesDeps): FastifyPluginAsync {
  return async (app) => {
    let observe: ((r: DrillReport) => void) | null = null;
    const runner = new DrillRunner({
      journal: deps.journal,
      hasher: deps.hasher,
      config: deps.config,
      forbidden: deps.forbidden,
      mirror: deps.mirror ? mirrorView(deps.mirror) : null,
      logger: deps.logger,
      onFinished: (r) => observe?.(r),
      ...(deps.clock ? { clock: deps.clock } : {}),
      ...(deps.cloneFile ? { cloneFile: deps.cloneFile } : {}),
    });
    observe = registerDrillMetrics(deps.metrics.registry, runner.lastPassed());
    const stopSchedule = startDrillSchedule({
      runner,
      journal: deps.journal,
      config: deps.config,
      logger: deps.logger,
    });
    app.addHook("onClose", async () => {
      stopSchedule();
      await runner.close();
    });

    app.post<{ Body: unknown }>(
      "/drills",
      {
        schema: {
          summary:
            "Start a failover drill: materialise a point into a sandbox, run the verify command, record RPO/RTO",
          tags: ["drills"],
          body: {
            type: ["object", "null"],
            additionalProperties: false,
            description:
              "At most one of checkpoint, at (default: the latest checkpoint). verify absent = drills.verify; null = none.",
            properties: {
              checkpoint: { type: "integer", minimum: 0 },
              at: { type: "string", maxLength: 64, description: "ISO 8601 time with a zone" },
              verify: {
                type: ["object", "null"],
                additionalProperties: false,
                required: ["command"],
                properties: {
                  command: {
                    type: "array",
                    minItems: 1,
                    maxItems: MAX_ARGV,
                    items: { type: "string" },
                    description:
                      "argv, run without a shell in the sandbox with PVJ_DRILL_DIR, PVJ_DRILL_POINT_TS, PVJ_DRILL_POINT_SEQ",
                  },
                  timeout: {
                    type: "string",
                    description: 'Duration, e.g. "60s" (default drills.verifyTimeout)',
                  },
                },
              },
              keep: { type: "boolean", description: "Keep the sandbox after the drill" },
            },
          },
          response: {
            202: {
              type: "object",
              required: ["id", "state"],
              properties: { id: { type: "string" }, state: { type: "string" } },
            },
            ...errorResponses({
              400: ["BAD_REQUEST", "INVALID_POINT"],
              401: ["UNAUTHORIZED"],
              404: ["CHECKPOINT_NOT_FOUND (also: no checkpoint yet)"],
              409: ["DRILLS_DISABLED (drills.sandboxRoot is not set)"],
              422: ["POINT_OUT_OF_RANGE"],
              503: ["NOT_AVAILABLE (shutting down)"],
            }),
          },
        },
        preValidation: async (request) => {
          parseDrillBody(request.body);
        },
      },
      async (request, reply) => {
        const r = runner.submit(parseDrillBody(request.body));
        return reply
          .code(202)
          .header("location", `/v1/drills/${r.id}`)
          .send({ id: r.id, state: r.state });
      },
    );

    app.get<{ Querystring: { limit?: number } }>(
      "/drills",
      {
        schema: {
          summary: "Drill reports, newest first (kept in the journal's index across restarts)",
          tags: ["drills"],
          querystring: {
            type: "object",
            additionalProperties: false,
            properties: {
              limit: { type: "integer", minimum: 1, maximum: MAX_REPORTS, default: 100 },
            },
          },
          response: {
            200: {
              type: "object",
              required: ["drills"],
              properties: { drills: { type: "array", items: drillReportSchema } },
            },
            ...errorResponses({ 400: ["BAD_REQUEST"], 401: ["UNAUTHORIZED"] }),
          },
        },
      },
      async (request) => ({ drills: runner.list(request.query.limit ?? 100) }),
    );

    app.get<{ Params: { id: string }; Querystring: { format?: "json" | "html" } }>(
      "/drills/:id",
      {
        schema: {
          summary: "One drill report; ?format=html renders a page to attach to an audit",
          tags: ["drills"],
          params: idParams,
          querystring: {
            type: "object",
            additionalProperties: false,
            properties: { format: { type: "string", enum: ["json", "html"], default: "json" } },
          },
          response: {
            200: {
              description: "The report (JSON), or with format=html a text/html page",
              ...drillReportSchema,
            },
            ...errorResponses({
              400: ["BAD_REQUEST (malformed id or format)"],
              401: ["UNAUTHORIZED"],
              404: ["NOT_FOUND"],
            }),
          },
        },
      },
      async (request, reply) => {
        const r = runner.get(request.params.id);
        if (!r) throw new RequestError(ErrorCode.NOT_FOUND, `no drill ${request.params.id}`);
        if (request.query.format === "html") {
          // A string payload skips the JSON response schema; the page is complete on its own.
          return reply
            .type("text/html; charset=utf-8")
            .header("content-security-policy", "default-src 'none'; style-src 'unsafe-inline'")
            .send(renderHtml(r, { role: deps.role, generatedAt: new Date().toISOString() }));
        }
        return r;
      },
    );
  };
}
