/**
 * POST /v1/drills, GET /v1/drills, GET /v1/drills/:id[?format=html]: failover
 * drills on a sidecar (full materialisation) or a replica (clone of the
 * mirror where the filesystem can). The plugin owns the drill runner, the
 * schedule (drills.schedule) and the drill metrics; all stop with the app.
 */
import type { FastifyPluginAsync } from "fastify";
import type { DrillsConfig } from "../../config/types.js";
import type { CloneFile } from "../../drill/clone.js";
import { mirrorView } from "../../drill/materialise.js";
import { registerDrillMetrics } from "../../drill/metrics.js";
import { type DrillReport, DrillState, renderHtml } from "../../drill/report.js";
import { DRILL_ID_PATTERN, DrillRunner } from "../../drill/runner.js";
import { startDrillSchedule } from "../../drill/schedule.js";
import { MAX_REPORTS } from "../../drill/store.js";
import { ErrorCode, RequestError } from "../../errors.js";
import type { Journal } from "../../journal/journal.js";
import type { Logger } from "../../log/logger.js";
import type { Metrics } from "../../metrics/registry.js";
import type { Mirror } from "../../replica/mirror.js";
import type { JobQueue } from "../../restore/job-queue.js";
import type { BlockHasher } from "../../util/hash.js";
import { pointSchema } from "../schemas.js";
import { MAX_ARGV, parseDrillBody } from "./drill-body.js";
import { errorResponses } from "./error-responses.js";

export { parseDrillBody, parseOptionalPoint } from "./drill-body.js";

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
  /** The daemon's one queue of restores and drills (shared with the restore routes). */
  readonly queue?: JobQueue;
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
      ...(deps.queue ? { queue: deps.queue } : {}),
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
                description:
                  'A name from drills.verifyCommands (e.g. "pg-check"); null = none; or {command: [argv]}, accepted only when drills.allowRequestCommands is true',
                anyOf: [
                  { type: "string", maxLength: 64 },
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
                ],
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
              403: ["FORBIDDEN (read-only token)", "COMMAND_NOT_ALLOWED (request argv is off)"],
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
