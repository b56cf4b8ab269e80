/**
 * POST /v1/drills, GET /v1/drills, GET /v1/drills/:id[?format=html]: failover
 * drills on a sidecar (full materialisation) or a replica (clone of the
 * mirror where the filesystem can). The daemon assembly owns the runner, its
 * schedule and metrics (daemon/drills.ts); these routes only call it.
 */
import type { FastifyPluginAsync } from "fastify";
import { COMMAND_NAME_RE } from "../../config/convert.js";
import { DrillState, renderHtml } from "../../drill/report.js";
import { DRILL_ID_PATTERN, type DrillRequest, type DrillRunner } from "../../drill/runner.js";
import { MAX_REPORTS } from "../../drill/store.js";
import { ErrorCode, RequestError } from "../../errors.js";
import { MAX_TIMER_MS, parseDuration } from "../../util/duration.js";
import { FIELD_MESSAGES, pointFields, pointOf } from "../request-fields.js";
import { failureSchema, idParamsSchema, pointSchema } from "../schemas.js";
import { bodyErrors } from "../validation.js";
import { errorResponses } from "./error-responses.js";

/** What the drill routes call: the daemon's drill runner. */
export interface DrillRoutesDeps {
  readonly role: "sidecar" | "replica";
  readonly runner: DrillRunner;
}

/** Longest verify argv accepted, in items and per item. */
const MAX_ARGV = 256;
const MAX_ARG_LENGTH = 8192;

/** A POST /v1/drills body as the schema lets it through (null or absent: all defaults). */
type DrillBody = {
  readonly checkpoint?: number;
  readonly at?: string;
  readonly verify?: string | null | { readonly command: string[]; readonly timeout?: string };
  readonly keep?: boolean;
} | null;

const drillBodySchema = {
  type: ["object", "null"],
  additionalProperties: false,
  description:
    "At most one of checkpoint, at (default: the latest checkpoint). verify absent = drills.verify; null = none.",
  properties: {
    ...pointFields,
    verify: {
      description:
        'A name from drills.verifyCommands (e.g. "pg-check"); null = none; or {command: [argv]}, accepted only when drills.allowRequestCommands is true',
      anyOf: [
        { type: "string", pattern: COMMAND_NAME_RE.source },
        { type: "null" },
        {
          type: "object",
          additionalProperties: false,
          required: ["command"],
          properties: {
            command: {
              type: "array",
              minItems: 1,
              maxItems: MAX_ARGV,
              items: { type: "string", maxLength: MAX_ARG_LENGTH },
              description:
                "argv, run without a shell in the sandbox with PVJ_DRILL_DIR, PVJ_DRILL_POINT_TS, PVJ_DRILL_POINT_SEQ",
            },
            timeout: {
              type: "string",
              maxLength: 64,
              description: 'Duration, e.g. "60s" (default drills.verifyTimeout)',
            },
          },
        },
      ],
    },
    keep: { type: "boolean", description: "Keep the sandbox after the drill" },
  },
} as const;

const ARGV_MESSAGE = `verify.command must be an argv array of 1..${MAX_ARGV} strings, e.g. ["sh", "-c", "test -f $PVJ_DRILL_DIR/data/db"]`;

const DRILL_MESSAGES = {
  ...FIELD_MESSAGES,
  verify:
    'verify must name a command of drills.verifyCommands ([a-z0-9_-]+), be null, or be {command: [argv...], timeout?: "60s"}',
  keep: "keep must be true or false",
};

function bad(message: string): RequestError {
  return new RequestError(ErrorCode.BAD_REQUEST, message);
}

/** The drill a schema-valid body asks for. Throws BAD_REQUEST or INVALID_POINT. Pure. */
function drillRequestOf(body: DrillBody): DrillRequest {
  const b = body ?? {};
  const point = pointOf(b, ["checkpoint", "at"], false);
  const keep = b.keep === true;
  const v = b.verify;
  if (v === undefined) return { point, keep };
  if (v === null) return { point, keep, verify: null };
  if (typeof v === "string") return { point, keep, verify: { name: v } };
  if (v.command[0] === "") throw bad(ARGV_MESSAGE);
  let timeoutMs: number | null = null;
  if (v.timeout !== undefined) {
    try {
      timeoutMs = parseDuration(v.timeout);
    } catch (err) {
      throw bad(`verify.timeout: ${(err as Error).message}`);
    }
    if (timeoutMs <= 0 || timeoutMs > MAX_TIMER_MS)
      throw bad("verify.timeout must be more than 0 and at most 24d");
  }
  return { point, keep, verify: { command: v.command, timeoutMs } };
}

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
      enum: ["clone", "copy", "full", null],
      description:
        "clone: reflinked from the replica's mirror; copy: copied from the mirror where it cannot be reflinked; full: written from the journal",
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
    error: failureSchema,
  },
} as const;

const idParams = idParamsSchema(DRILL_ID_PATTERN);

/** The drill routes, for buildServer's `routes`. */
export function drillRoutes(deps: DrillRoutesDeps): FastifyPluginAsync {
  return async (app) => {
    const { runner } = deps;

    app.post<{ Body: DrillBody }>(
      "/drills",
      {
        schema: {
          summary:
            "Start a failover drill: materialise a point into a sandbox, run the verify command, record RPO/RTO",
          tags: ["drills"],
          body: drillBodySchema,
          response: {
            202: {
              type: "object",
              required: ["id", "state"],
              properties: { id: { type: "string" }, state: { type: "string" } },
            },
            ...errorResponses({
              400: ["BAD_REQUEST", "INVALID_POINT"],
              401: ["UNAUTHORIZED"],
              403: ["FORBIDDEN (read-only token)", "COMMAND_NOT_ALLOWED (request argv is off)"],
              404: ["CHECKPOINT_NOT_FOUND (also: no checkpoint yet)"],
              409: ["DRILLS_DISABLED (drills.sandboxRoot is not set)"],
              422: ["POINT_OUT_OF_RANGE"],
              503: ["NOT_AVAILABLE (shutting down)"],
            }),
          },
        },
        schemaErrorFormatter: bodyErrors(DRILL_MESSAGES),
      },
      async (request, reply) => {
        const r = runner.submit(drillRequestOf(request.body));
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
