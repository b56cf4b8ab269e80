import { defineConfig } from "vitest/config";

// Tests use real temp dirs, real SQLite and real child processes; daemons are
// spawned from dist/ (npm test builds first). Forks, not threads: better-sqlite3
// and process.chdir-free code are happier in separate processes.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // A leaked file handle fails the run (issue 13).
    setupFiles: ["test/setup/fd-leaks.ts"],
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ["default"],
  },
});
