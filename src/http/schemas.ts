/**
 * JSON schemas shared by every route plugin: the contract's error shape, so
 * /docs describes each route's failures the same way.
 */

/**
 * `{"error": {"code": "SNAKE_CASE", "message": "..."}}`: the body of every 4xx/5xx answer.
 * No `$id`: plugins embed it inline in many routes' `response` maps, and a
 * repeated `$id` would make ajv refuse the second copy.
 */
export const errorResponseSchema = {
  type: "object",
  description: "Every 4xx/5xx answer has this shape.",
  required: ["error"],
  additionalProperties: false,
  properties: {
    error: {
      type: "object",
      required: ["code", "message"],
      additionalProperties: false,
      properties: {
        code: {
          type: "string",
          pattern: "^[A-Z][A-Z0-9_]*$",
          description: "Stable SNAKE_CASE code",
        },
        message: { type: "string" },
      },
    },
  },
} as const;

/**
 * A resolved point as every route answers it (restore jobs, drills, failover,
 * diff): seq, its time and the checkpoint it names, if any. No `$id` (see above).
 */
export const pointSchema = {
  type: "object",
  required: ["seq", "ts", "checkpoint"],
  properties: {
    seq: { type: "integer" },
    ts: { type: "string", format: "date-time" },
    checkpoint: { type: ["integer", "null"] },
  },
} as const;

/** The `{code, message}` a failed job or drill carries in its report. */
export const failureSchema = {
  type: "object",
  required: ["code", "message"],
  properties: { code: { type: "string" }, message: { type: "string" } },
} as const;

/** Path parameters of the routes that name one job or drill: `{id}` matching `pattern`. */
export function idParamsSchema<P extends string>(pattern: P) {
  return {
    type: "object",
    required: ["id"],
    additionalProperties: false,
    properties: { id: { type: "string", pattern } },
  } as const;
}

/** The error body as a TypeScript type. */
export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string };
}
