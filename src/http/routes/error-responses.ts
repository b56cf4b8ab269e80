/**
 * OpenAPI response entries for errors: the contract's error shape with a
 * description naming the codes a route can answer with at each status, so
 * /docs tells a client what to expect without reading the source.
 */
import { errorResponseSchema } from "../schemas.js";

/** Maps statuses to the codes a route may send with them, e.g. {400: ["BAD_REQUEST"]}. */
export function errorResponses(
  codes: Readonly<Record<number, readonly string[]>>,
): Record<number, Record<string, unknown>> {
  const out: Record<number, Record<string, unknown>> = {};
  for (const [status, list] of Object.entries(codes)) {
    out[Number(status)] = {
      ...errorResponseSchema,
      description: `Error codes: ${list.join(", ")}`,
    };
  }
  return out;
}
