/**
 * Builds the HTTP API as a fastify instance that never listens: tests drive it
 * with `inject()`, and only the CLI entry commands call `listen()`.
 */
import type { Server as HttpsServer } from "node:https";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyPluginAsync,
  fastify,
} from "fastify";
import { ConfigError } from "../errors.js";
import { childLogger, type Logger } from "../log/logger.js";
import type { Metrics } from "../metrics/registry.js";
import { type ApiTokens, bearerAuth } from "./auth.js";
import { installErrorHandlers, notFoundHandler } from "./errors.js";
import { QuietRequestLog } from "./request-log.js";
import { healthRoutes, type Readiness } from "./routes/health.js";
import { metricsRoutes } from "./routes/metrics.js";
import { uiRoutes } from "./routes/ui.js";
import { bodyErrors, validatorCompiler } from "./validation.js";

/** A feature's routes: a fastify plugin mounted under /v1, behind the bearer token when set. */
export type V1Routes = FastifyPluginAsync;

/** Everything the server needs; built by the CLI from the config and the running components. */
export interface ServerDeps {
  /** Root logger; the server logs through a child with component "http". */
  readonly logger: Logger;
  /**
   * Tokens every /v1 route requires (a string = the operator token; see
   * auth.ts for the roles); null = no auth (loopback or api.insecureNoAuth).
   */
  readonly token: string | ApiTokens | null;
  /** Maximum request body in bytes (api.bodyLimit). */
  readonly bodyLimit: number;
  readonly role: "sidecar" | "replica";
  /** Asked on every /readyz. */
  readonly readiness: () => Readiness;
  readonly metrics: Metrics;
  /** Feature plugins (status, checkpoints, restores, stream...), each registered under /v1. */
  readonly routes: readonly V1Routes[];
  /** TLS certificate and key (PEM); null or absent = plain HTTP. */
  readonly https?: { readonly cert: Buffer; readonly key: Buffer } | null;
}

/** Where the OpenAPI UI lives; the JSON document is at `${DOCS_PREFIX}/json`. */
export const DOCS_PREFIX = "/docs";

/** The app's version, shown in the OpenAPI document. */
const API_VERSION = "1";

// Return type left inferred: it must fit both the HTTP and the HTTPS factory overloads.
function factoryOptions(deps: ServerDeps) {
  // Typed as fastify's logger so the instance is a plain FastifyInstance.
  const loggerInstance: FastifyBaseLogger = childLogger(deps.logger, "http");
  return {
    loggerInstance,
    logController: new QuietRequestLog(),
    bodyLimit: deps.bodyLimit,
    // Every refused request part in the contract's words (routes add their fields' messages).
    schemaErrorFormatter: bodyErrors({}),
  };
}

/**
 * An HTTPS fastify instance. The node server parses the PEM at creation, so a
 * bad certificate or key fails here, as a config error (exit 2), not at listen.
 */
function httpsInstance(
  options: ReturnType<typeof factoryOptions>,
  tls: { readonly cert: Buffer; readonly key: Buffer },
): FastifyInstance {
  try {
    // Same routes and hooks either way; only the underlying node server differs,
    // so the HTTPS instance is used through the plain FastifyInstance type.
    return fastify<HttpsServer>({
      ...options,
      https: { cert: tls.cert, key: tls.key },
    }) as unknown as FastifyInstance;
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ConfigError(
      `invalid TLS certificate or key (${reason})`,
      { key: "api.tlsCert" },
      err,
    );
  }
}

/**
 * Builds the app: error handlers, OpenAPI (/docs), probes (/healthz, /readyz),
 * /metrics, and every feature plugin under /v1 behind the token. Resolves once
 * the app is ready (plugins loaded), so `inject()` and `listen()` can follow.
 */
export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const options = factoryOptions(deps);
  const app: FastifyInstance = deps.https ? httpsInstance(options, deps.https) : fastify(options);
  try {
    await setUp(app, deps);
  } catch (err) {
    // A plugin that failed to load must not leave half a server (and its timers) behind.
    await app.close().catch(() => {});
    throw err;
  }
  return app;
}

async function setUp(app: FastifyInstance, deps: ServerDeps): Promise<void> {
  installErrorHandlers(app);
  // Bodies validated as sent (no coercion, unknown fields refused); see validation.ts.
  app.setValidatorCompiler(validatorCompiler());

  await app.register(swagger, {
    openapi: {
      openapi: "3.0.3",
      info: {
        title: "pvjournal",
        description: `pvjournal ${deps.role} API: continuous data protection for Kubernetes volumes.`,
        version: API_VERSION,
      },
      components: {
        securitySchemes: { bearerAuth: { type: "http", scheme: "bearer" } },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: DOCS_PREFIX });

  await app.register(healthRoutes, { readiness: deps.readiness });
  await app.register(metricsRoutes, { metrics: deps.metrics });
  // The web console (/ui/): static files, no token; its data comes from /v1.
  await app.register(uiRoutes());

  const token = deps.token;
  await app.register(
    async (v1) => {
      if (token !== null) {
        v1.addHook("onRequest", bearerAuth(token));
        // Mark every /v1 route as needing the token in the OpenAPI document.
        v1.addHook("onRoute", (route) => {
          route.schema = { ...route.schema, security: [{ bearerAuth: [] }] };
        });
      }
      // Unknown /v1 paths go through the token check too, so they do not
      // reveal which routes exist to a caller without a token.
      v1.setNotFoundHandler(notFoundHandler);
      for (const routes of deps.routes) await v1.register(routes);
    },
    { prefix: "/v1" },
  );

  await app.ready();
}
