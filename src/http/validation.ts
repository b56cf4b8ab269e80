/**
 * The one request-validation path: every route's JSON schema, compiled by
 * ajv. Bodies are checked as sent: no type coercion ("3" stays a string and
 * fails `type: integer`, "data" does not become ["data"]), unknown fields
 * refused, because a restore must not guess what a malformed request meant.
 * Query strings and path parameters are strings on the wire, so they keep
 * ajv's coercion (`?limit=5` is the integer 5). What a schema cannot say (a
 * time string that parses, an absolute target) is checked by the route's
 * handler right after, with the same error shape.
 */
import { Ajv, type ErrorObject, type Options, type ValidateFunction } from "ajv";
import ajvFormats from "ajv-formats";
import type { FastifySchemaCompiler, FastifyServerOptions } from "fastify";
import { ErrorCode, RequestError } from "../errors.js";

/** Turns ajv's errors for one request part into the error fastify throws. */
type SchemaErrorFormatter = NonNullable<FastifyServerOptions["schemaErrorFormatter"]>;

/** As fastify's own defaults, except that unknown fields are refused, not dropped. */
const COMMON: Options = {
  useDefaults: true,
  removeAdditional: false,
  // One error at a time: allErrors lets a crafted body make ajv do a lot of work.
  allErrors: false,
  addUsedSchema: false,
};

function newAjv(coerceTypes: Options["coerceTypes"]): Ajv {
  const ajv = new Ajv({ ...COMMON, coerceTypes });
  // `default` is the plugin under NodeNext's view of this CommonJS module.
  (ajvFormats as unknown as { default: (a: Ajv) => void }).default(ajv);
  return ajv;
}

/** A validator compiler for one server: bodies without coercion, everything else with. */
export function validatorCompiler(): FastifySchemaCompiler<unknown> {
  const body = newAjv(false);
  const rest = newAjv("array");
  return ({ schema, httpPart }) =>
    (httpPart === "body" ? body : rest).compile(schema as object) as ReturnType<
      FastifySchemaCompiler<unknown>
    >;
}

/** The body field an ajv error is about ("" for the body itself). */
function fieldOf(e: ErrorObject): string {
  if (e.keyword === "required" && e.instancePath === "")
    return String((e.params as { missingProperty: string }).missingProperty);
  return e.instancePath.split("/")[1] ?? "";
}

/**
 * The message of a refused body, in the words of the route (`messages`: one
 * per field, saying what the field must be); fastify's wording for query
 * strings and parameters. Always BAD_REQUEST (400).
 */
export function bodyErrors(messages: Readonly<Record<string, string>>): SchemaErrorFormatter {
  return (errors, dataVar) => {
    const e = errors[0] as ErrorObject | undefined;
    if (!e) return new RequestError(ErrorCode.BAD_REQUEST, `${dataVar} is not valid`);
    if (dataVar !== "body")
      return new RequestError(ErrorCode.BAD_REQUEST, `${dataVar}${e.instancePath} ${e.message}`);
    if (e.keyword === "additionalProperties" && e.instancePath === "") {
      const name = (e.params as { additionalProperty: string }).additionalProperty;
      return new RequestError(ErrorCode.BAD_REQUEST, `unknown field(s) ${JSON.stringify(name)}`);
    }
    const field = fieldOf(e);
    if (field === "")
      return new RequestError(ErrorCode.BAD_REQUEST, "the body must be a JSON object");
    return new RequestError(
      ErrorCode.BAD_REQUEST,
      messages[field] ?? `${field}${e.instancePath.slice(field.length + 1)} ${e.message}`,
    );
  };
}

let standalone: Ajv | null = null;

/**
 * A pure parser that validates a body exactly as a route does (the same
 * schema, body options and messages), then hands it to `then` for what the
 * schema cannot say. For tests and callers outside a request.
 */
export function checkedBody<T, R>(
  schema: object,
  messages: Readonly<Record<string, string>>,
  then: (body: T) => R,
): (body: unknown) => R {
  const format = bodyErrors(messages);
  let validate: ValidateFunction | null = null;
  return (body) => {
    standalone ??= newAjv(false);
    validate ??= standalone.compile(schema);
    // As fastify: an absent body is validated as null.
    const data = body === undefined ? null : body;
    if (!validate(data)) throw format(validate.errors ?? [], "body");
    return then(data as T);
  };
}
