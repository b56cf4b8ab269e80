/**
 * POST /v1/restores, GET /v1/restores[/:id], DELETE /v1/restores/:id: restore
 * jobs over HTTP. Shared by the sidecar and the replica, so the plugin is
 * built from plain dependencies rather than from a daemon.
 */
import type { FastifyPluginAsync } from "fastify";
import { ErrorCode, RequestError } from "../../errors.js";
import type { Journal } from "../../journal/journal.js";
import type { Logger } from "../../log/logger.js";
import type { JobQueue } from "../../restore/job-queue.js";
import {
  JOB_ID_PATTERN,
  JobPhase,
  JobState,
  RestoreJobs,
  type RestoreJobView,
  type RestoreRunner,
} from "../../restore/jobs.js";
import type { RestoreRequest } from "../../restore/restore.js";
import type { TargetPolicy } from "../../restore/target.js";
import type { BlockHasher } from "../../util/hash.js";
import {
  absoluteTarget,
  FIELD_MESSAGES,
  MAX_PATH_LENGTH,
  pointFields,
  pointOf,
  seqField,
  targetField,
} from "../request-fields.js";
import { failureSchema, idParamsSchema, pointSchema } from "../schemas.js";
import type { V1Routes } from "../server.js";
import { bodyErrors, checkedBody } from "../validation.js";
import { diffRoutes } from "./diff.js";
import { errorResponses } from "./error-responses.js";
import { restorePolicyRoutes } from "./restore-policy.js";
import { timelineRoutes } from "./timeline.js";

/** Most `paths` entries per request. */
export const MAX_RESTORE_PATHS = 1000;

/** A POST /v1/restores body as the schema lets it through. */
interface RestoreBody {
  readonly checkpoint?: number;
  readonly at?: string;
  readonly seq?: number;
  readonly target: string;
  readonly paths?: string[];
}

const restoreBodySchema = {
  type: "object",
  required: ["target"],
  additionalProperties: false,
  description: "Exactly one of checkpoint, at, seq.",
  properties: {
    ...pointFields,
    seq: seqField,
    target: {
      ...targetField,
      description:
        "Absolute path below restore.allowedRoots; must not exist or be an empty directory",
    },
    paths: {
      type: "array",
      maxItems: MAX_RESTORE_PATHS,
      items: { type: "string", minLength: 1, maxLength: MAX_PATH_LENGTH },
      description: "Restore only these journal paths (<source>/<path>), e.g. data/db",
    },
  },
} as const;

const RESTORE_MESSAGES = {
  ...FIELD_MESSAGES,
  paths: `paths must be an array of at most ${MAX_RESTORE_PATHS} non-empty strings`,
};

/**
 * The restore a schema-valid body asks for: exactly one point, an absolute
 * target. Throws BAD_REQUEST, INVALID_POINT or TARGET_NOT_ALLOWED. Pure.
 */
function restoreRequestOf(b: RestoreBody): RestoreRequest {
  const point = pointOf(b, ["checkpoint", "at", "seq"], true)!;
  return { point, target: absoluteTarget(b.target, "restore"), paths: b.paths ?? null };
}

/** Pure: checks a POST /v1/restores body as the route does (schema, then the point and target). */
export const parseRestoreBody = checkedBody(restoreBodySchema, RESTORE_MESSAGES, restoreRequestOf);

/** What the restore, diff and timeline routes need from a daemon. */
export interface RestoreApiDeps {
  readonly journal: Journal;
  readonly hasher: BlockHasher;
  /** restore.allowedRoots, and the paths no restore may touch (sources, journal, mirror, drill sandboxes). */
  readonly policy: TargetPolicy;
  /** restore.concurrency */
  readonly concurrency: number;
  readonly logger: Logger;
  /** ms since epoch (tests inject one). */
  readonly clock?: () => number;
  /** Replaces the default applier (tests slow it down; a replica may clone its mirror). */
  readonly runner?: RestoreRunner;
  /** The daemon's one queue of restores and drills (shared with the drill routes). */
  readonly queue?: JobQueue;
}

/** JSON schema of a restore job. */
export const restoreJobSchema = {
  type: "object",
  required: [
    "id",
    "state",
    "point",
    "target",
    "paths",
    "bytesDone",
    "bytesTotal",
    "files",
    "filesTotal",
    "createdAt",
    "startedAt",
    "finishedAt",
  ],
  properties: {
    id: { type: "string", pattern: JOB_ID_PATTERN },
    state: {
      type: "string",
      enum: Object.values(JobState),
      description: "A cancelled job is failed with error code CANCELLED",
    },
    phase: {
      type: ["string", "null"],
      enum: [...Object.values(JobPhase), null],
      description: "While running: planning (block lookups, off the event loop) or writing",
    },
    point: pointSchema,
    target: { type: "string", description: "Real absolute path of the target" },
    paths: { type: ["array", "null"], items: { type: "string" } },
    bytesDone: { type: "integer" },
    bytesTotal: { type: "integer" },
    files: { type: "integer", description: "Files restored so far" },
    filesTotal: { type: "integer" },
    createdAt: { type: "string", format: "date-time" },
    startedAt: { type: ["string", "null"], format: "date-time" },
    finishedAt: { type: ["string", "null"], format: "date-time" },
    error: failureSchema,
  },
} as const;

const idParams = idParamsSchema(JOB_ID_PATTERN);

/** What GET and DELETE /v1/restores/:id answer. */
const oneJobResponses = {
  200: restoreJobSchema,
  ...errorResponses({
    400: ["BAD_REQUEST (malformed id)"],
    401: ["UNAUTHORIZED"],
    404: ["NOT_FOUND"],
  }),
} as const;

/** The restore job routes, for buildServer's `routes`. Jobs still running are cancelled when the app closes. */
export function restoreRoutes(deps: RestoreApiDeps): FastifyPluginAsync {
  return async (app) => {
    const jobs = new RestoreJobs({
      journal: deps.journal,
      hasher: deps.hasher,
      policy: deps.policy,
      concurrency: deps.concurrency,
      logger: deps.logger,
      ...(deps.clock ? { clock: deps.clock } : {}),
      ...(deps.runner ? { runner: deps.runner } : {}),
      ...(deps.queue ? { queue: deps.queue } : {}),
    });
    app.addHook("onClose", async () => jobs.close());

    const notFound = (id: string) =>
      new RequestError(
        ErrorCode.NOT_FOUND,
        `no restore job ${id} (finished jobs are kept for a while, not forever)`,
      );

    app.post<{ Body: RestoreBody }>(
      "/restores",
      {
        schema: {
          summary:
            "Start a restore of a point into a target (checked before 202; then runs as a job)",
          tags: ["restores"],
          body: restoreBodySchema,
          response: {
            202: restoreJobSchema,
            ...errorResponses({
              400: ["BAD_REQUEST", "INVALID_POINT"],
              401: ["UNAUTHORIZED"],
              403: ["TARGET_NOT_ALLOWED"],
              404: ["CHECKPOINT_NOT_FOUND", "NOT_FOUND (none of paths existed at the point)"],
              409: ["TARGET_NOT_EMPTY (also: another restore writes there)"],
              413: ["PAYLOAD_TOO_LARGE"],
              415: ["UNSUPPORTED_MEDIA_TYPE"],
              422: ["POINT_OUT_OF_RANGE"],
              503: ["NOT_AVAILABLE (shutting down)"],
            }),
          },
        },
        schemaErrorFormatter: bodyErrors(RESTORE_MESSAGES),
      },
      async (request, reply) => {
        const view = await jobs.submit(restoreRequestOf(request.body));
        return reply.code(202).header("location", `/v1/restores/${view.id}`).send(view);
      },
    );

    app.get(
      "/restores",
      {
        schema: {
          summary: "Recent restore jobs, newest first",
          tags: ["restores"],
          response: {
            200: {
              type: "object",
              required: ["restores"],
              properties: { restores: { type: "array", items: restoreJobSchema } },
            },
            ...errorResponses({ 401: ["UNAUTHORIZED"] }),
          },
        },
      },
      async () => ({ restores: jobs.list() }),
    );

    app.get<{ Params: { id: string } }>(
      "/restores/:id",
      {
        schema: {
          summary: "A restore job: state, point, progress, error",
          tags: ["restores"],
          params: idParams,
          response: oneJobResponses,
        },
      },
      async (request): Promise<RestoreJobView> => {
        const view = jobs.get(request.params.id);
        if (!view) throw notFound(request.params.id);
        return view;
      },
    );

    app.delete<{ Params: { id: string } }>(
      "/restores/:id",
      {
        schema: {
          summary:
            "Cancel a queued or running restore; answers once its partial output is removed (a finished job is returned unchanged)",
          tags: ["restores"],
          params: idParams,
          response: oneJobResponses,
        },
      },
      async (request): Promise<RestoreJobView> => {
        const view = await jobs.cancel(request.params.id);
        if (!view) throw notFound(request.params.id);
        return view;
      },
    );
  };
}

/** Restores, diff and timeline: every route of this feature, for a daemon's `routes`. */
export function restoreApiRoutes(deps: RestoreApiDeps): V1Routes[] {
  return [
    restoreRoutes(deps),
    restorePolicyRoutes(deps.policy),
    diffRoutes(deps),
    timelineRoutes(deps),
  ];
}
