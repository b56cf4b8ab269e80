/**
 * GET /v1/stream?from=SEQ&replica=ID (the change stream) and
 * POST /v1/replicas/:id/ack (a replica's durable position), on the sidecar.
 */
import { once } from "node:events";
import type { FastifyPluginAsync } from "fastify";
import { errorResponseSchema } from "../http/schemas.js";
import type { Journal } from "../journal/journal.js";
import type { JournalRecord, RecordBody } from "../journal/records.js";
import { baseBodies } from "../journal/retention.js";
import type { Logger } from "../log/logger.js";
import type { BlockHasher } from "../util/hash.js";
import type { ReplicaTracker } from "./replica-tracker.js";
import { encodeMessage, type StreamMessage } from "./wire.js";

/** Content type of the framed binary stream. */
export const STREAM_CONTENT_TYPE = "application/x-pvjournal-stream";
/** A records message is cut at this many bytes (bounded memory per stream). */
const BATCH_BYTES = 4 * 1024 * 1024;
/** Idle heartbeat interval: how quickly a replica learns it is caught up (and its lag). */
const HEARTBEAT_MS = 1000;

/** What the stream routes need. */
export interface StreamRoutesDeps {
  readonly journal: Journal;
  readonly hasher: BlockHasher;
  readonly tracker: ReplicaTracker;
  readonly logger: Logger;
}

function recordBytes(r: JournalRecord | RecordBody): number {
  return r.type === "blob" ? r.data.length + 64 : 128;
}

/** The stream plugin, for buildServer's `routes`. */
export function streamRoutes(deps: StreamRoutesDeps): FastifyPluginAsync {
  const { journal, tracker } = deps;
  return async (app) => {
    app.get<{ Querystring: { from: number; replica: string } }>(
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
            },
          },
          response: { 400: errorResponseSchema, 401: errorResponseSchema },
        },
      },
      async (request, reply) => {
        const { from, replica } = request.query;
        const log = deps.logger.child({ replica });
        const raw = reply.raw;
        reply.hijack();
        raw.writeHead(200, { "content-type": STREAM_CONTENT_TYPE, "cache-control": "no-store" });
        let closed = false;
        raw.on("close", () => {
          closed = true;
        });
        // Backpressure: never queue more than the socket's buffer in memory.
        const send = async (msg: StreamMessage) => {
          if (closed) return;
          if (!raw.write(encodeMessage(msg))) {
            await Promise.race([once(raw, "drain"), once(raw, "close")]);
          }
        };
        tracker.connected(replica, from);
        log.info({ from }, "replica connected to the stream");
        try {
          await send({
            t: "hello",
            journalId: journal.id,
            lastSeq: journal.lastSeq,
            baseSeq: journal.baseSeq,
            blockSize: journal.blockSize,
          });
          let next = from;
          const base = journal.baseSeq;
          if (base > 0 && from <= base) {
            // The replica needs history retention folded: send the state at the base.
            log.info({ from, base }, "replica is behind the retention window: sending a base");
            // Pinned (before the first await): retention must not fold past the base while it is sent.
            const release = journal.pin(base);
            try {
              await send({
                t: "base",
                seq: base,
                ts: journal.index.tsAtSeq(base) ?? journal.lastTs,
              });
              let bodies: RecordBody[] = [];
              let bytes = 0;
              for await (const body of baseBodies(journal, base, deps.hasher, () => true)) {
                bodies.push(body);
                bytes += recordBytes(body);
                if (bytes >= BATCH_BYTES) {
                  await send({ t: "base-records", bodies });
                  bodies = [];
                  bytes = 0;
                }
                if (closed) return;
              }
              if (bodies.length > 0) await send({ t: "base-records", bodies });
              await send({ t: "base-end", seq: base });
            } finally {
              release();
            }
            next = base + 1;
          }
          let lastBeat = 0;
          while (!closed) {
            let batch: JournalRecord[] = [];
            let bytes = 0;
            for await (const rec of journal.records(next)) {
              batch.push(rec);
              bytes += recordBytes(rec);
              next = rec.seq + 1;
              if (bytes >= BATCH_BYTES) {
                await send({ t: "records", records: batch });
                batch = [];
                bytes = 0;
                if (closed) break;
              }
            }
            if (batch.length > 0) await send({ t: "records", records: batch });
            if (Date.now() - lastBeat >= HEARTBEAT_MS || journal.lastSeq < next) {
              const acked = tracker.list().find((r) => r.id === replica);
              await send({
                t: "heartbeat",
                lastSeq: journal.lastSeq,
                lastTs: journal.lastTs,
                pendingSinceTs: acked?.pendingSince ? Date.parse(acked.pendingSince) : null,
              });
              lastBeat = Date.now();
            }
            await journal.waitForAppend(next - 1, HEARTBEAT_MS);
          }
        } catch (err) {
          log.warn({ err }, "stream ended with an error");
        } finally {
          tracker.disconnected(replica);
          raw.end();
          log.info("replica disconnected from the stream");
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
      async (request) => {
        tracker.ack(request.params.id, request.body.seq);
        return { ackedSeq: tracker.list().find((r) => r.id === request.params.id)?.ackedSeq ?? 0 };
      },
    );
  };
}
