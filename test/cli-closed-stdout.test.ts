/**
 * `pvjournal --help | head -3`: a reader that closes its end of the stdout
 * pipe early ends the CLI quietly, killed by SIGPIPE like `git log | head`
 * (status 141 in a shell), never with an EPIPE stack trace. Real child
 * processes; run `npm run build` first.
 */
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { CLI_PATH } from "./helpers/cli.js";

/** Runs the CLI with `args` and closes the read end of its stdout before it writes. */
function runWithClosedStdout(
  args: readonly string[],
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI_PATH, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  // The reader goes away at once; the CLI starts in >100 ms, so its first write finds no reader.
  child.stdout.destroy();
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (s: string) => {
    stderr += s;
  });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) => resolve({ code, signal, stderr }));
  });
}

/** Runs `sh -c script` and resolves with its stdout (the script reports the CLI's status). */
function shell(script: string): Promise<string> {
  const child = spawn("sh", ["-c", script], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => {
    out += s;
  });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", () => resolve(out));
  });
}

describe("stdout closed by its reader", () => {
  it.each([[["--help"]], [["--version"]], [["restore", "--help"]]])(
    "%j ends by SIGPIPE with nothing on stderr",
    async (args) => {
      const r = await runWithClosedStdout(args);
      expect(r.stderr).toBe("");
      expect(r.signal === "SIGPIPE" || r.code === 141).toBe(true);
    },
  );

  it("in a shell pipeline into head -3: head's three lines and nothing on stderr", async () => {
    const out = await shell(
      `"${process.execPath}" "${CLI_PATH}" --help 2>/tmp/pvj-epipe-$$ | head -3; echo "status=$?"; ` +
        `cat /tmp/pvj-epipe-$$; rm -f /tmp/pvj-epipe-$$`,
    );
    const lines = out.split("\n");
    expect(lines[0]).toMatch(/^Usage: pvjournal/);
    expect(lines.slice(3).join("\n")).toMatch(/^status=0\n?$/);
  });

  it("a reader that reads everything still gets exit 0", async () => {
    const out = await shell(
      `"${process.execPath}" "${CLI_PATH}" --version | cat >/dev/null; echo "$?"`,
    );
    expect(out.trim()).toBe("0");
  });
});
