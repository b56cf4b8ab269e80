/**
 * The console's static routes through buildServer and inject(): every file
 * bundled in src/ui/static is served with the strict headers, without the
 * token even when one is configured, while /v1 still requires it; unknown or
 * traversing paths are 404 and never reach the file system.
 */
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { restorePolicyRoutes } from "../src/http/routes/restore-policy.js";
import { UI_CSP, UI_STATIC_DIR } from "../src/http/routes/ui.js";
import { buildServer } from "../src/http/server.js";
import { silentLogger } from "../src/log/logger.js";
import { createMetrics } from "../src/metrics/registry.js";

const TOKEN = "ui-routes-token";
const apps: FastifyInstance[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
});

async function app(): Promise<FastifyInstance> {
  const a = await buildServer({
    logger: silentLogger(),
    token: TOKEN,
    bodyLimit: 1 << 20,
    role: "sidecar",
    readiness: () => ({ ready: true }),
    metrics: createMetrics(),
    routes: [restorePolicyRoutes({ allowedRoots: ["/restore"], forbidden: [] })],
  });
  apps.push(a);
  return a;
}

function bundled(dir = UI_STATIC_DIR): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? bundled(join(dir, e.name))
      : [relative(UI_STATIC_DIR, join(dir, e.name)).split("\\").join("/")],
  );
}

describe("console routes", () => {
  it("serves every bundled file with the strict headers and no token", async () => {
    const a = await app();
    const files = bundled();
    expect(files).toEqual(expect.arrayContaining(["index.html", "style.css", "js/main.js"]));
    for (const f of ["", ...files.filter((x) => x !== "index.html")]) {
      const res = await a.inject({ url: `/ui/${f}` });
      expect(res.statusCode, f).toBe(200);
      expect(res.headers["content-security-policy"], f).toBe(UI_CSP);
      expect(res.headers["x-content-type-options"], f).toBe("nosniff");
      expect(res.headers["x-frame-options"], f).toBe("DENY");
      expect(res.headers["referrer-policy"], f).toBe("no-referrer");
      const type = String(res.headers["content-type"]);
      if (f === "") expect(type).toMatch(/^text\/html/);
      else if (f.endsWith(".js")) expect(type).toMatch(/^text\/javascript/);
      else if (f.endsWith(".css")) expect(type).toMatch(/^text\/css/);
    }
    expect(UI_CSP).toContain("frame-ancestors 'none'");
    expect(UI_CSP).not.toContain("unsafe");
  });

  it("redirects /ui to /ui/, answers 404 for unknown or traversing paths, keeps /v1 behind the token", async () => {
    const a = await app();
    const redirect = await a.inject({ url: "/ui" });
    expect(redirect.statusCode).toBe(302);
    expect(redirect.headers.location).toBe("/ui/");
    for (const url of ["/ui/nope.js", "/ui/..%2fpackage.json", "/ui/js/../../package.json"]) {
      const res = await a.inject({ url });
      expect(res.statusCode, url).toBe(404);
      expect(res.json().error.code, url).toBe("NOT_FOUND");
    }
    expect((await a.inject({ url: "/v1/restore-policy" })).statusCode).toBe(401);
    const policy = await a.inject({
      url: "/v1/restore-policy",
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(policy.statusCode).toBe(200);
    expect(policy.json()).toEqual({ allowedRoots: ["/restore"] });
  });
});
