/**
 * The web console at /ui/: static files bundled with the package (src/ui/static,
 * copied to dist/ui/static by the build), served by both daemons without a
 * token. The page holds no data: everything it shows comes from /v1 with the
 * bearer token the operator enters, so it can load before the token is given.
 */
import { readdirSync, readFileSync } from "node:fs";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyPluginAsync, FastifyReply } from "fastify";
import { ErrorCode } from "../../errors.js";
import { sendError } from "../errors.js";

/** Where the console is mounted. */
export const UI_PREFIX = "/ui";

/** The static files: next to this module in src/ (tests) and in dist/ (built). */
export const UI_STATIC_DIR = fileURLToPath(new URL("../../ui/static/", import.meta.url));

const TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

/**
 * Strict by design: scripts and styles only from this origin (no inline code,
 * so no 'unsafe-inline'), fetches only to this origin, never framed, no
 * plugins, no forms posting elsewhere. `blob:` downloads the HTML drill
 * report the page fetched with the token.
 */
export const UI_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** Headers on every /ui answer. */
export const UI_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": UI_CSP,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "permissions-policy": "camera=(), microphone=(), geolocation=()",
  // The files change only with the package; revalidating keeps an upgrade visible at once.
  "cache-control": "no-cache",
};

interface StaticFile {
  readonly body: Buffer;
  readonly type: string;
}

/** Reads every file below `dir` (relative POSIX paths) once; the set is fixed for the process. */
export function loadStaticFiles(dir: string = UI_STATIC_DIR): ReadonlyMap<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  const walk = (sub: string): void => {
    for (const e of readdirSync(join(dir, sub), { withFileTypes: true })) {
      const rel = sub === "" ? e.name : `${sub}/${e.name}`;
      if (e.isDirectory()) walk(rel);
      else {
        const type = TYPES[extname(e.name)];
        if (type) files.set(rel, { body: readFileSync(join(dir, rel)), type });
      }
    }
  };
  walk("");
  return files;
}

function send(reply: FastifyReply, file: StaticFile): FastifyReply {
  return reply.headers(UI_HEADERS).type(file.type).send(file.body);
}

/**
 * Registers GET /ui (redirect), /ui/ (the page) and /ui/<file>. Only files
 * found at start are served (a map lookup, so no path ever reaches the file
 * system from a request).
 */
export function uiRoutes(
  files: ReadonlyMap<string, StaticFile> = loadStaticFiles(),
): FastifyPluginAsync {
  return async (app) => {
    const index = files.get("index.html");
    if (!index) throw new Error(`console files missing: no index.html in ${UI_STATIC_DIR}`);
    const hide = { schema: { hide: true } };
    app.get(UI_PREFIX, hide, async (_request, reply) =>
      reply.headers(UI_HEADERS).redirect(`${UI_PREFIX}/`),
    );
    app.get(`${UI_PREFIX}/`, hide, async (_request, reply) => send(reply, index));
    app.get<{ Params: { "*": string } }>(`${UI_PREFIX}/*`, hide, async (request, reply) => {
      const file = files.get(request.params["*"]);
      if (!file) {
        reply.headers(UI_HEADERS);
        return sendError(reply, 404, ErrorCode.NOT_FOUND, `no console file ${request.params["*"]}`);
      }
      return send(reply, file);
    });
  };
}
