/**
 * The one place where error codes become HTTP statuses and the contract's
 * error shape: `{"error": {"code": "SNAKE_CASE", "message": "..."}}`.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ErrorCode, isNoSpace, PvjError } from "../errors.js";
import type { ErrorBody } from "./schemas.js";

/**
 * Codes only the HTTP layer produces (transport problems no domain module
 * throws). Kept here rather than in src/errors.ts because nothing else needs them.
 */
export const HttpErrorCode = {
  UNSUPPORTED_MEDIA_TYPE: "UNSUPPORTED_MEDIA_TYPE",
  METHOD_NOT_ALLOWED: "METHOD_NOT_ALLOWED",
} as const;

/** Any code that can appear in an HTTP error body. */
export type HttpCode = ErrorCode | (typeof HttpErrorCode)[keyof typeof HttpErrorCode];

/**
 * Status per code. A `Record` over every ErrorCode, so adding a code to
 * src/errors.ts without choosing its status here is a compile error.
 * POINT_OUT_OF_RANGE is 422, not 400: the request parsed and the point is
 * well-formed (that would be INVALID_POINT, 400), it just lies outside the
 * restore window, which a client may want to tell apart and retry differently.
 */
export const STATUS_BY_CODE: Readonly<Record<HttpCode, number>> = Object.freeze({
  CONFIG_INVALID: 500,
  USAGE: 400,
  BAD_REQUEST: 400,
  INVALID_POINT: 400,
  UNAUTHORIZED: 401,
  TARGET_NOT_ALLOWED: 403,
  FORBIDDEN: 403,
  COMMAND_NOT_ALLOWED: 403,
  NOT_FOUND: 404,
  CHECKPOINT_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  TARGET_NOT_EMPTY: 409,
  // Another process holds the journal: a conflict with the state of the server, not a bad request.
  JOURNAL_LOCKED: 409,
  // Conflicts with how this daemon is configured or what it already did, not a malformed request.
  DRILLS_DISABLED: 409,
  NOT_A_REPLICA: 409,
  ALREADY_PROMOTED: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  POINT_OUT_OF_RANGE: 422,
  JOURNAL_CORRUPT: 500,
  HASH_MISMATCH: 500,
  IO_ERROR: 500,
  INTERNAL: 500,
  // 507 Insufficient Storage: the server cannot store what the request needs; retry once space is freed.
  JOURNAL_FULL: 507,
  NOT_READY: 503,
  NOT_AVAILABLE: 503,
  // Closed while shutting down: retry elsewhere or later.
  JOURNAL_CLOSED: 503,
});

/** Builds the contract's error body. */
export function errorBody(code: HttpCode, message: string): ErrorBody {
  return { error: { code, message } };
}

/** What the handler decided to answer for one thrown value. */
export interface MappedError {
  readonly status: number;
  readonly code: HttpCode;
  readonly message: string;
}

// Fastify's own error codes (FST_ERR_*) that a client caused.
const FASTIFY_CODES: Readonly<Record<string, HttpCode>> = {
  FST_ERR_CTP_INVALID_JSON_BODY: ErrorCode.BAD_REQUEST,
  FST_ERR_CTP_EMPTY_JSON_BODY: ErrorCode.BAD_REQUEST,
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ErrorCode.BAD_REQUEST,
  FST_ERR_CTP_BODY_TOO_LARGE: ErrorCode.PAYLOAD_TOO_LARGE,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: HttpErrorCode.UNSUPPORTED_MEDIA_TYPE,
  FST_ERR_CTP_INVALID_TYPE: HttpErrorCode.UNSUPPORTED_MEDIA_TYPE,
};

// Fallback for other client errors that carry only a status.
const CODE_BY_STATUS: Readonly<Record<number, HttpCode>> = {
  401: ErrorCode.UNAUTHORIZED,
  404: ErrorCode.NOT_FOUND,
  405: HttpErrorCode.METHOD_NOT_ALLOWED,
  413: ErrorCode.PAYLOAD_TOO_LARGE,
  415: HttpErrorCode.UNSUPPORTED_MEDIA_TYPE,
};

function isFastifyError(err: unknown): err is FastifyError {
  return err instanceof Error && typeof (err as FastifyError).code === "string";
}

/**
 * Maps anything thrown by a route or by fastify itself to a status, code and
 * message. Unknown 5xx errors get a generic message: their text may name
 * internal paths or values, and the log line keeps the details.
 */
export function mapError(err: unknown): MappedError {
  if (err instanceof PvjError) {
    return { status: STATUS_BY_CODE[err.code], code: err.code, message: err.message };
  }
  if (isFastifyError(err)) {
    if (err.validation !== undefined) {
      return { status: 400, code: ErrorCode.BAD_REQUEST, message: err.message };
    }
    const known = FASTIFY_CODES[err.code];
    if (known !== undefined) {
      return { status: STATUS_BY_CODE[known], code: known, message: err.message };
    }
  }
  if (isNoSpace(err)) {
    // A full index (SQLITE_FULL) or segment write that no module wrapped: the journal's disk.
    return {
      status: STATUS_BY_CODE.JOURNAL_FULL,
      code: ErrorCode.JOURNAL_FULL,
      message:
        "the journal's filesystem is full: nothing was acknowledged; free space under journal.dir",
    };
  }
  const status = err instanceof Error ? (err as FastifyError).statusCode : undefined;
  if (typeof status === "number" && status >= 400 && status < 500 && err instanceof Error) {
    // SyntaxError from the JSON parser and other client-caused errors carry a 4xx status.
    return { status, code: CODE_BY_STATUS[status] ?? ErrorCode.BAD_REQUEST, message: err.message };
  }
  return { status: 500, code: ErrorCode.INTERNAL, message: "internal error" };
}

/** Sends one error in the contract's shape; for hooks that answer without throwing. */
export function sendError(reply: FastifyReply, status: number, code: HttpCode, message: string) {
  return reply.code(status).type("application/json; charset=utf-8").send(errorBody(code, message));
}

/**
 * Installs the error handler and the not-found handler on `app`. 5xx are
 * logged at error level with the stack (something is wrong with us); 4xx at
 * debug (the client's problem, and a scanner could flood the log).
 */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const mapped = mapError(err);
    if (mapped.status >= 500) {
      request.log.error({ err, code: mapped.code }, "request failed");
    } else {
      request.log.debug({ code: mapped.code, msg: mapped.message }, "request rejected");
    }
    return sendError(reply, mapped.status, mapped.code, mapped.message);
  });
  app.setNotFoundHandler(notFoundHandler);
}

/** Answers 404 NOT_FOUND naming the method and path (not the query string). */
export function notFoundHandler(request: FastifyRequest, reply: FastifyReply) {
  const path = request.url.split("?")[0] ?? request.url;
  return sendError(reply, 404, ErrorCode.NOT_FOUND, `route ${request.method} ${path} not found`);
}
