/** Protected mode and drill verify commands in the config (issue 13). */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type LoadConfigOptions, loadConfig } from "../src/config/load.js";
import { isLoopbackHost } from "../src/config/protected.js";
import type { Role } from "../src/config/schema.js";
import type { Config } from "../src/config/types.js";
import { ConfigError } from "../src/errors.js";

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(path.join(tmpdir(), "pvj-config-sec-"));
  mkdirSync(path.join(tmp, "data"));
  writeFileSync(path.join(tmp, "token"), "secret\n");
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

const BASE = "sources:\n  - name: data\n    path: data\njournal:\n  dir: journal\n";

function load(
  yaml: string,
  options: Partial<LoadConfigOptions> = {},
  role: Role = "sidecar",
): Config {
  const file = path.join(tmp, "pvjournal.yaml");
  writeFileSync(file, BASE + yaml);
  return loadConfig({ file, role, cwd: tmp, ...options });
}

function failure(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

describe("protected mode", () => {
  it.each([
    ["127.0.0.1", true],
    ["127.9.8.7", true],
    ["localhost", true],
    ["::1", true],
    ["0.0.0.0", false],
    ["::", false],
    ["10.0.0.5", false],
    ["sidecar.example", false],
  ])("%s is loopback: %s", (host, loopback) => {
    expect(isLoopbackHost(host)).toBe(loopback);
  });

  it("refuses a non-loopback listen without a token, naming both keys and the opt-out", () => {
    const err = failure(() => load("api:\n  listen: 0.0.0.0:7070\n"));
    expect(err.context.key).toBe("api.listen");
    expect(err.message).toContain("api.tokenFile");
    expect(err.context.hint).toContain("api.insecureNoAuth: true");
    const v6 = failure(() => load("api:\n  listen: '[::]:7070'\n"));
    expect(v6.context.key).toBe("api.listen");
  });

  it("accepts a token, the explicit opt-out, loopback, and the tool role", () => {
    expect(load("api:\n  listen: 0.0.0.0:7070\n  tokenFile: token\n").api.tokenFile).toBe(
      path.join(tmp, "token"),
    );
    expect(load("api:\n  listen: 0.0.0.0:7070\n  insecureNoAuth: true\n").api.insecureNoAuth).toBe(
      true,
    );
    expect(
      load("", { env: { PVJ_API_LISTEN: "0.0.0.0:1", PVJ_API_INSECURE_NO_AUTH: "true" } }).api.port,
    ).toBe(1);
    expect(load("api:\n  listen: 127.0.0.1:7070\n").api.host).toBe("127.0.0.1");
    expect(load("api:\n  listen: 0.0.0.0:7070\n", {}, "tool").api.host).toBe("0.0.0.0");
  });

  it("role tokens need the operator token", () => {
    for (const key of ["readTokenFile", "replicaTokenFile"]) {
      const err = failure(() => load(`api:\n  ${key}: token\n`));
      expect(err.context.key).toBe("api.tokenFile");
      expect(err.message).toContain(`api.${key}`);
    }
    const c = load("api:\n  tokenFile: token\n  readTokenFile: token\n");
    expect(c.api.readTokenFile).toBe(path.join(tmp, "token"));
  });
});

describe("drill verify commands", () => {
  it("reads named commands and resolves drills.verify by name", () => {
    const c = load(
      "drills:\n  verifyCommands:\n    pg-check: [sh, -c, 'pg_verify']\n    files: [test, -d, data]\n  verify: files\n",
    );
    expect(c.drills.verifyCommands).toEqual({
      "pg-check": ["sh", "-c", "pg_verify"],
      files: ["test", "-d", "data"],
    });
    expect(c.drills.verify).toEqual(["test", "-d", "data"]);
    expect(c.drills.allowRequestCommands).toBe(false);
  });

  it("still takes an argv for drills.verify, and a JSON object from the environment", () => {
    expect(load("drills:\n  verify: [sh, -c, 'true']\n").drills.verify).toEqual([
      "sh",
      "-c",
      "true",
    ]);
    const c = load("", {
      env: { PVJ_DRILLS_VERIFY_COMMANDS: '{"ok":["true"]}', PVJ_DRILLS_VERIFY: "ok" },
    });
    expect(c.drills.verify).toEqual(["true"]);
  });

  it("rejects an unknown default name, bad names and bad commands, naming the key", () => {
    const unknown = failure(() => load("drills:\n  verify: nope\n"));
    expect(unknown.context.key).toBe("drills.verify");
    expect(unknown.message).toContain("drills.verifyCommands");
    expect(
      failure(() => load("drills:\n  verifyCommands:\n    'Bad Name': [true]\n")).context.key,
    ).toBe("drills.verifyCommands.Bad Name");
    expect(failure(() => load("drills:\n  verifyCommands:\n    ok: 'true'\n")).context.key).toBe(
      "drills.verifyCommands.ok",
    );
    expect(failure(() => load("drills:\n  verifyCommands: [true]\n")).context.key).toBe(
      "drills.verifyCommands",
    );
  });
});
