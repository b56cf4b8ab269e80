import { get as httpsGet } from "node:https";
import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { PvjError, RequestError } from "../src/errors.js";
import { mapError, STATUS_BY_CODE } from "../src/http/errors.js";
import { errorResponseSchema } from "../src/http/schemas.js";
import { buildServer, type ServerDeps, type V1Routes } from "../src/http/server.js";
import { silentLogger } from "../src/log/logger.js";
import { createMetrics } from "../src/metrics/registry.js";
import { selfSignedCert, tmpDir } from "./helpers/index.js";

const TOKEN = "s3cret-token";

// A stand-in feature plugin: one route with a body schema, one that throws.
const testRoutes: V1Routes = async (v1) => {
  v1.post(
    "/echo",
    {
      schema: {
        body: {
          type: "object",
          required: ["label"],
          additionalProperties: false,
          properties: { label: { type: "string" } },
        },
        response: {
          200: { type: "object", properties: { label: { type: "string" } } },
          400: errorResponseSchema,
        },
      },
    },
    async (request) => request.body,
  );
  v1.get("/missing", async () => {
    throw new RequestError("CHECKPOINT_NOT_FOUND", "no checkpoint 42");
  });
  v1.get("/boom", async () => {
    throw new Error("secret internals /var/lib/x");
  });
};

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function server(overrides: Partial<ServerDeps> = {}): Promise<FastifyInstance> {
  const app = await buildServer({
    logger: silentLogger(),
    token: TOKEN,
    bodyLimit: 1024,
    role: "sidecar",
    readiness: () => ({ ready: true }),
    metrics: createMetrics(),
    routes: [testRoutes],
    ...overrides,
  });
  apps.push(app);
  return app;
}

const auth = { authorization: `Bearer ${TOKEN}` };
const json = { ...auth, "content-type": "application/json" };

describe("auth", () => {
  it("rejects a missing token with 401, the error shape and WWW-Authenticate", async () => {
    const app = await server();
    const res = await app.inject({ method: "POST", url: "/v1/echo", payload: { label: "x" } });
    expect(res.statusCode).toBe(401);
    expect(res.headers["www-authenticate"]).toMatch(/^Bearer/);
    expect(res.json()).toEqual({ error: { code: "UNAUTHORIZED", message: expect.any(String) } });
  });

  it("rejects a wrong token, a token of another length and a non-bearer scheme", async () => {
    const app = await server();
    for (const authorization of [`Bearer ${TOKEN}x`, "Bearer short", `Basic ${TOKEN}`, "Bearer"]) {
      const res = await app.inject({
        method: "GET",
        url: "/v1/missing",
        headers: { authorization },
      });
      expect(res.statusCode, authorization).toBe(401);
      expect(res.json().error.code).toBe("UNAUTHORIZED");
      expect(res.body).not.toContain(TOKEN);
    }
  });

  it("accepts the right token", async () => {
    const app = await server();
    const res = await app.inject({
      method: "POST",
      url: "/v1/echo",
      headers: json,
      payload: { label: "x" },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ label: "x" });
  });

  it("checks the token before revealing whether a /v1 route exists", async () => {
    const app = await server();
    expect((await app.inject({ method: "GET", url: "/v1/nope" })).statusCode).toBe(401);
    const res = await app.inject({ method: "GET", url: "/v1/nope", headers: auth });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe("NOT_FOUND");
  });

  it("needs no token when none is configured", async () => {
    const app = await server({ token: null });
    const res = await app.inject({ method: "POST", url: "/v1/echo", payload: { label: "y" } });
    expect(res.statusCode).toBe(200);
  });

  it("leaves /healthz, /readyz, /metrics and /docs open", async () => {
    const app = await server();
    for (const url of ["/healthz", "/readyz", "/metrics", "/docs", "/docs/json"]) {
      const res = await app.inject({ method: "GET", url });
      expect(res.statusCode, url).toBe(200);
    }
  });
});

describe("error shape", () => {
  it("answers an unknown route with 404 NOT_FOUND", async () => {
    const app = await server();
    const res = await app.inject({ method: "GET", url: "/nope?x=1" });
    expect(res.statusCode).toBe(404);
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    expect(res.json()).toEqual({
      error: { code: "NOT_FOUND", message: "route GET /nope not found" },
    });
  });

  it("answers malformed JSON with 400 BAD_REQUEST", async () => {
    const app = await server();
    const res = await app.inject({
      method: "POST",
      url: "/v1/echo",
      headers: json,
      payload: "{bad",
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: { code: "BAD_REQUEST", message: expect.any(String) } });
  });

  it("answers a schema failure with 400 BAD_REQUEST naming the field", async () => {
    const app = await server();
    const missing = await app.inject({
      method: "POST",
      url: "/v1/echo",
      headers: json,
      payload: {},
    });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error).toEqual({
      code: "BAD_REQUEST",
      message: expect.stringContaining("label"),
    });
    // Unknown fields are rejected, not silently dropped.
    const extra = await app.inject({
      method: "POST",
      url: "/v1/echo",
      headers: json,
      payload: { label: "x", lable: "y" },
    });
    expect(extra.statusCode).toBe(400);
    expect(extra.json().error.code).toBe("BAD_REQUEST");
  });

  it("answers an oversized body with 413 PAYLOAD_TOO_LARGE", async () => {
    const app = await server({ bodyLimit: 64 });
    const res = await app.inject({
      method: "POST",
      url: "/v1/echo",
      headers: json,
      payload: { label: "x".repeat(200) },
    });
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe("PAYLOAD_TOO_LARGE");
  });

  it("answers an unsupported content type with 415", async () => {
    const app = await server();
    const res = await app.inject({
      method: "POST",
      url: "/v1/echo",
      headers: { ...auth, "content-type": "application/xml" },
      payload: "<label/>",
    });
    expect(res.statusCode).toBe(415);
    expect(res.json().error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
  });

  it("maps a PvjError's code to its status and keeps its message", async () => {
    const app = await server();
    const res = await app.inject({ method: "GET", url: "/v1/missing", headers: auth });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({
      error: { code: "CHECKPOINT_NOT_FOUND", message: "no checkpoint 42" },
    });
  });

  it("hides the message of an unexpected error behind 500 INTERNAL", async () => {
    const app = await server();
    const res = await app.inject({ method: "GET", url: "/v1/boom", headers: auth });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ error: { code: "INTERNAL", message: "internal error" } });
  });

  it("has a 4xx/5xx status for every code", () => {
    for (const [code, status] of Object.entries(STATUS_BY_CODE)) {
      expect(status, code).toBeGreaterThanOrEqual(400);
      expect(status, code).toBeLessThan(600);
    }
    expect(mapError(new PvjError("POINT_OUT_OF_RANGE", "too old")).status).toBe(422);
    expect(mapError(new PvjError("TARGET_NOT_ALLOWED", "no")).status).toBe(403);
  });
});

describe("probes and docs", () => {
  it("/healthz answers 200 ok", async () => {
    const app = await server();
    const res = await app.inject({ method: "GET", url: "/healthz" });
    expect(res.json()).toEqual({ status: "ok" });
  });

  it("/readyz answers 503 NOT_READY with the reason, then 200 once ready", async () => {
    let ready = false;
    const app = await server({
      readiness: () => (ready ? { ready: true } : { ready: false, reason: "initial scan running" }),
    });
    const before = await app.inject({ method: "GET", url: "/readyz" });
    expect(before.statusCode).toBe(503);
    expect(before.json()).toEqual({
      error: { code: "NOT_READY", message: "initial scan running" },
    });
    ready = true;
    const after = await app.inject({ method: "GET", url: "/readyz" });
    expect(after.statusCode).toBe(200);
    expect(after.json()).toEqual({ ready: true });
  });

  it("/metrics serves Prometheus text with pvjournal_ process metrics", async () => {
    const app = await server();
    const res = await app.inject({ method: "GET", url: "/metrics" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/plain/);
    expect(res.body).toMatch(/^pvjournal_process_cpu_user_seconds_total /m);
    expect(res.body).toContain("pvjournal_nodejs_heap_size_used_bytes");
  });

  it("/docs/json is an OpenAPI 3 document describing the routes and the bearer scheme", async () => {
    const app = await server();
    const res = await app.inject({ method: "GET", url: "/docs/json" });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.info.title).toBe("pvjournal");
    expect(doc.components.securitySchemes.bearerAuth).toEqual({ type: "http", scheme: "bearer" });
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(["/healthz", "/readyz", "/metrics", "/v1/echo"]),
    );
    expect(doc.paths["/v1/echo"].post.security).toEqual([{ bearerAuth: [] }]);
    expect(doc.paths["/healthz"].get.security).toBeUndefined();
    expect(doc.paths["/readyz"].get.responses["503"]).toBeDefined();
  });

  it("/docs serves the UI", async () => {
    const app = await server();
    const res = await app.inject({ method: "GET", url: "/docs" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/html/);
  });
});

describe("https", () => {
  it("builds an HTTPS instance that serves over TLS once listened", async () => {
    const tls = selfSignedCert(await tmpDir());
    const app = await server({ https: { cert: tls.cert, key: tls.key } });
    // Listening here only to prove TLS works; in production only the CLI listens.
    await app.listen({ host: "127.0.0.1", port: 0 });
    const { port } = app.server.address() as AddressInfo;
    const body = await new Promise<string>((resolve, reject) => {
      httpsGet({ host: "127.0.0.1", port, path: "/healthz", ca: tls.cert }, (res) => {
        let text = "";
        res.setEncoding("utf8").on("data", (chunk: string) => {
          text += chunk;
        });
        res.on("end", () => resolve(text));
      }).on("error", reject);
    });
    expect(JSON.parse(body)).toEqual({ status: "ok" });
  });

  it("rejects a bad certificate as a config error naming api.tlsCert", async () => {
    await expect(
      server({ https: { cert: Buffer.from("x"), key: Buffer.from("y") } }),
    ).rejects.toMatchObject({
      code: "CONFIG_INVALID",
      context: { key: "api.tlsCert" },
    });
  });
});

describe("feature plugins", () => {
  it("rejects buildServer when a plugin fails to load", async () => {
    const broken: V1Routes = async () => {
      throw new Error("plugin failed");
    };
    await expect(server({ routes: [broken] })).rejects.toThrow("plugin failed");
  });

  it("does not mark /v1 routes as secured in /docs when no token is configured", async () => {
    const app = await server({ token: null });
    const doc = (await app.inject({ method: "GET", url: "/docs/json" })).json();
    expect(doc.paths["/v1/echo"].post.security).toBeUndefined();
  });
});
