#!/usr/bin/env node
/** Entry point of the `pvjournal` command (package.json `bin`). */
import { endOnClosedStdout } from "./cli/closed-stdout.js";
import { main } from "./cli/main.js";

endOnClosedStdout();
// exitCode rather than process.exit(): lets pending log writes flush first.
process.exitCode = await main(process.argv.slice(2));
