/** Shared test helpers: temp dirs, waitFor, free ports, the built CLI. */
export {
  CLI_PATH,
  type CliOptions,
  type CliProcess,
  type CliResult,
  runCli,
  spawnCli,
} from "./cli.js";
export { freePort } from "./net.js";
export { selfSignedCert, type TestCert } from "./tls.js";
export { makeTmpDir, tmpDir } from "./tmp.js";
export { StopWaiting, type WaitForOptions, waitFor } from "./wait.js";
