import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { envName, FIELDS, FIELDS_BY_ENV } from "../src/config/schema.js";
import { formatDuration, parseDuration } from "../src/util/duration.js";
import { formatBytes, parseSize } from "../src/util/size.js";

describe("parseDuration", () => {
  it.each([
    ["0", 0],
    ["250ms", 250],
    ["5s", 5_000],
    ["1.5s", 1_500],
    ["1.1s", 1_100],
    ["10m", 600_000],
    ["24h", 86_400_000],
    ["30d", 2_592_000_000],
    [" 5s ", 5_000],
    ["5 s", 5_000],
    ["0s", 0],
  ])("%j -> %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    "",
    "-5s",
    "5",
    "5x",
    "s",
    "abc",
    "NaN",
    "Infinitys",
    "1.5ms",
    "1e3s",
    "5S",
    "1h30m",
    "+5s",
  ])("rejects %j with a message quoting it", (text) => {
    expect(() => parseDuration(text)).toThrow(RangeError);
    expect(() => parseDuration(text)).toThrow(`${JSON.stringify(text)} is not a valid duration`);
  });

  it("says a bare number needs a unit", () => {
    expect(() => parseDuration("5")).toThrow("a unit is required");
  });

  it("round-trips whole values written in any unit (seeded)", () => {
    fc.assert(
      fc.property(fc.nat(100_000), fc.constantFrom("ms", "s", "m", "h", "d"), (n, unit) => {
        const factor = { ms: 1, s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7 }[unit];
        expect(parseDuration(`${n}${unit}`)).toBe(n * factor);
      }),
      { seed: 42 },
    );
  });
});

describe("formatDuration", () => {
  it.each([
    [0, "0ms"],
    [250, "250ms"],
    [1_500, "1.5s"],
    [5_000, "5s"],
    [605_000, "10m 5s"],
    [93_600_000, "1d 2h"],
    [86_400_000, "1d"],
  ])("%d -> %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe("parseSize", () => {
  it.each([
    ["0", 0],
    ["4096", 4096],
    ["512B", 512],
    ["64KiB", 65_536],
    ["64MiB", 67_108_864],
    ["1GiB", 1_073_741_824],
    ["1.5GiB", 1_610_612_736],
    ["64KB", 64_000],
    ["1MB", 1_000_000],
    ["1GB", 1_000_000_000],
    ["64 KiB", 65_536],
  ])("%j -> %d bytes", (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it.each(["", "-1", "-64KiB", "64XB", "KiB", "NaN", "1.5B", "0.1KiB", "64kib", "1e3"])(
    "rejects %j with a message quoting it",
    (text) => {
      expect(() => parseSize(text)).toThrow(RangeError);
      expect(() => parseSize(text)).toThrow(`${JSON.stringify(text)} is not a valid size`);
    },
  );
});

describe("formatBytes", () => {
  it.each([
    [0, "0 B"],
    [512, "512 B"],
    [65_536, "64 KiB"],
    [1_572_864, "1.5 MiB"],
    [1_073_741_824, "1 GiB"],
  ])("%d -> %s", (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });

  it("parses back exact binary multiples (seeded)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.constantFrom(1, 1024, 1024 ** 2),
        (n, unit) => {
          const bytes = n * unit;
          // formatBytes only rounds when the value is not a whole number of its unit.
          if (Number.isInteger(bytes / 1024 ** Math.floor(Math.log(bytes) / Math.log(1024)))) {
            expect(parseSize(formatBytes(bytes))).toBe(bytes);
          }
        },
      ),
      { seed: 7 },
    );
  });
});

describe("env var names", () => {
  it("follow PVJ_<SECTION>_<KEY> in upper snake case", () => {
    const names = FIELDS.map(envName);
    expect(names).toContain("PVJ_API_LISTEN");
    expect(names).toContain("PVJ_JOURNAL_DIR");
    expect(names).toContain("PVJ_JOURNAL_BLOCK_SIZE");
    expect(names).toContain("PVJ_CHECKPOINTS_INTERVAL");
    expect(names).toContain("PVJ_CHECKPOINTS_HOOKS_TIMEOUT");
    expect(names).toContain("PVJ_REPLICA_MIRROR_DIR");
    expect(names).toContain("PVJ_RESTORE_ALLOWED_ROOTS");
    expect(names).toContain("PVJ_LOG_LEVEL");
  });

  it("are unique", () => {
    expect(FIELDS_BY_ENV.size).toBe(FIELDS.length);
  });
});
