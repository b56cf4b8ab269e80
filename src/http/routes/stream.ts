/**
 * GET /v1/stream?from=SEQ&replica=ID (the change stream) and
 * POST /v1/replicas/:id/ack (a replica's durable position), on the sidecar:
 * the HTTP transport for stream/producer.ts.
 */
import { once } from "node:events";
import type { FastifyPluginAsync } from "fastify";
import {
  acknowledge,
  produceStream,
  type StreamProducerDeps,
  type StreamSink,
} from "../../stream/producer.js";
import { encodeMessage } from "../../stream/wire.js";
import { errorResponseSchema } from "../schemas.js";

/** Content type of the framed binary stream. */
export const STREAM_CONTENT_TYPE = "application/x-pvjournal-stream";

/** What the stream routes need. */
export type StreamRoutesDeps = StreamProducerDeps;

/** The stream plugin, for buildServer's `routes`. */
export function streamRoutes(deps: StreamRoutesDeps): FastifyPluginAsync {
  const { tracker } = deps;
  return async (app) => {
    app.get<{ Querystring: { from: number; replica: string; codecs?: string } }>(
      "/stream",
      {
        schema: {
          summary:
            "The change stream for replicas: framed msgpack messages (u32 length, u32 crc32, payload)",
          tags: ["replication"],
          querystring: {
            type: "object",
            required: ["from", "replica"],
            additionalProperties: false,
            properties: {
              from: {
                type: "integer",
                minimum: 1,
                description: "First seq the replica lacks (its durable seq + 1)",
              },
              replica: {
                type: "string",
                pattern: "^[A-Za-z0-9-]{1,64}$",
                description: "The replica's stable id",
              },
              codecs: {
                type: "string",
                pattern: "^[a-z0-9,]{0,64}$",
                description:
                  "Block codecs the replica reads, comma-separated (zstd); without it compressed blocks are sent decompressed",
              },
            },
          },
          response: { 400: errorResponseSchema, 401: errorResponseSchema },
        },
      },
      async (request, reply) => {
        const raw = reply.raw;
        reply.hijack();
        raw.writeHead(200, { "content-type": STREAM_CONTENT_TYPE, "cache-control": "no-store" });
        let closed = false;
        raw.on("close", () => {
          closed = true;
        });
        const sink: StreamSink = {
          get closed() {
            return closed;
          },
          // Backpressure: never queue more than the socket's buffer in memory.
          async send(msg) {
            if (!raw.write(encodeMessage(msg))) {
              await Promise.race([once(raw, "drain"), once(raw, "close")]);
            }
          },
        };
        try {
          await produceStream(deps, request.query, sink);
        } finally {
          raw.end();
        }
      },
    );

    app.post<{ Params: { id: string }; Body: { seq: number } }>(
      "/replicas/:id/ack",
      {
        schema: {
          summary: "A replica acknowledges that everything up to seq is durable in its journal",
          tags: ["replication"],
          params: {
            type: "object",
            properties: { id: { type: "string", pattern: "^[A-Za-z0-9-]{1,64}$" } },
          },
          body: {
            type: "object",
            required: ["seq"],
            additionalProperties: false,
            properties: { seq: { type: "integer", minimum: 0 } },
          },
          response: {
            200: { type: "object", properties: { ackedSeq: { type: "integer" } } },
            400: errorResponseSchema,
            401: errorResponseSchema,
            403: errorResponseSchema,
          },
        },
        // Runs for answers from the auth hook too: a refused ack must show on the sidecar.
        onResponse: (request, reply, done) => {
          if (reply.statusCode >= 400) tracker.ackRefused(request.params.id, reply.statusCode);
          done();
        },
      },
      async (request) => ({
        ackedSeq: acknowledge(tracker, request.params.id, request.body.seq),
      }),
    );
  };
}
