import { describe, expect, it } from "vitest";
import { PvjError } from "../src/errors.js";
import { parseRestoreBody } from "../src/http/routes/restores.js";

const T = "/restore/x";

describe("parseRestoreBody (pure)", () => {
  it.each<[string, unknown, unknown]>([
    [
      "a checkpoint",
      { checkpoint: 3, target: T },
      { point: { checkpoint: 3 }, target: T, paths: null },
    ],
    ["a seq", { seq: 0, target: T }, { point: { seq: 0 }, target: T, paths: null }],
    [
      "a time",
      { at: "2026-01-02T03:04:05.678Z", target: T },
      { point: { at: Date.parse("2026-01-02T03:04:05.678Z") }, target: T, paths: null },
    ],
    [
      "a time with an offset",
      { at: "2026-01-02T04:04:05+01:00", target: T },
      { point: { at: Date.parse("2026-01-02T03:04:05Z") }, target: T, paths: null },
    ],
    [
      "paths",
      { checkpoint: 1, target: T, paths: ["data/db", "config"] },
      { point: { checkpoint: 1 }, target: T, paths: ["data/db", "config"] },
    ],
  ])("accepts %s", (_name, body, want) => {
    expect(parseRestoreBody(body)).toEqual(want);
  });

  it.each<[string, unknown, string, RegExp]>([
    ["a string body", "checkpoint=1", "BAD_REQUEST", /JSON object/],
    ["an array body", [{ checkpoint: 1, target: T }], "BAD_REQUEST", /JSON object/],
    ["null", null, "BAD_REQUEST", /JSON object/],
    ["no point", { target: T }, "BAD_REQUEST", /exactly one of checkpoint, at, seq$/],
    [
      "two points",
      { seq: 1, at: "2026-01-01T00:00:00Z", target: T },
      "BAD_REQUEST",
      /got at and seq/,
    ],
    ["a string checkpoint", { checkpoint: "1", target: T }, "BAD_REQUEST", /checkpoint must be/],
    ["a negative seq", { seq: -1, target: T }, "BAD_REQUEST", /seq must be/],
    ["an unsafe seq", { seq: 2 ** 60, target: T }, "BAD_REQUEST", /seq must be/],
    ["a numeric at", { at: 1, target: T }, "BAD_REQUEST", /at must be/],
    ["a zoneless at", { at: "2026-01-01T00:00:00", target: T }, "INVALID_POINT", /ISO 8601/],
    ["no target", { seq: 1 }, "BAD_REQUEST", /target must be/],
    ["a numeric target", { seq: 1, target: 1 }, "BAD_REQUEST", /target must be/],
    ["a relative target", { seq: 1, target: "x/y" }, "TARGET_NOT_ALLOWED", /absolute/],
    ["paths as a string", { seq: 1, target: T, paths: "data" }, "BAD_REQUEST", /paths must be/],
    ["an empty path", { seq: 1, target: T, paths: [""] }, "BAD_REQUEST", /paths must be/],
    ["an unknown field", { seq: 1, target: T, force: 1 }, "BAD_REQUEST", /unknown field.*"force"/],
  ])("rejects %s", (_name, body, code, message) => {
    let caught: unknown;
    try {
      parseRestoreBody(body);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(PvjError);
    expect((caught as PvjError).code).toBe(code);
    expect((caught as PvjError).message).toMatch(message);
  });
});
