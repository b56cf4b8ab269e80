/**
 * How fastify logs requests. Probes and scrapers hit the server every few
 * seconds, so per-request lines go to debug (one line per response, none on
 * arrival) instead of fastify's two info lines per request.
 */
import { type FastifyReply, type FastifyRequest, LogController } from "fastify";

/** Fastify's LogController with request lines moved down to debug. */
export class QuietRequestLog extends LogController {
  override incomingRequest(): void {
    // Nothing on arrival: the completion line carries method, url and timing.
  }

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    const line = {
      method: request.method,
      url: request.routeOptions.url ?? request.url.split("?")[0],
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
    };
    // An error here is a failure while writing the response (client gone): not
    // a route error, which the error handler already logged.
    if (error) reply.log.warn({ ...line, err: error }, "response failed");
    else reply.log.debug(line, "request done");
  }

  override routeNotFound(request: FastifyRequest): void {
    request.log.debug({ method: request.method }, "route not found");
  }
}
