/**
 * Pure: protected mode (a daemon reachable from the network needs a token
 * unless the operator opts out) and the drill verify commands (named in the
 * config; drills.verify may name one). Part of the validator (validate.ts).
 */
import type { Converted, ListenAddress } from "./convert.js";
import type { Origin, Reporter } from "./report.js";
import type { Role } from "./schema.js";

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return h === "localhost" || h === "::1" || /^127(\.\d{1,3}){3}$/.test(h);
}

/**
 * Protected mode: a daemon reachable from the network never serves /v1
 * (restores, drills, failover) without a token unless the operator opted out
 * with api.insecureNoAuth. Role tokens need the operator token beside them.
 */
export function checkProtectedMode(
  role: Role,
  values: ReadonlyMap<string, Converted>,
  origin: (id: string) => Origin,
  report: Reporter,
): void {
  const tokenFile = values.get("api.tokenFile") ?? null;
  for (const id of ["api.readTokenFile", "api.replicaTokenFile"]) {
    if ((values.get(id) ?? null) !== null && tokenFile === null) {
      report.fail("api.tokenFile", null, `is required because ${id} is set (the operator token)`);
    }
  }
  if (role === "tool" || tokenFile !== null || values.get("api.insecureNoAuth") === true) return;
  const listen = values.get("api.listen") as ListenAddress;
  if (isLoopbackHost(listen.host)) return;
  report.fail(
    "api.listen",
    origin("api.listen"),
    `${listen.listen} is not a loopback address and api.tokenFile is not set: anyone who can reach the port could restore, drill and fail over`,
    "set api.tokenFile (a file holding the bearer token), listen on 127.0.0.1, or set api.insecureNoAuth: true to accept an open API",
  );
}

/** drills.verifyCommands, and drills.verify with a name resolved to its argv. */
export function drillCommands(
  values: ReadonlyMap<string, Converted>,
  origin: (id: string) => Origin,
  report: Reporter,
): {
  verifyCommands: Readonly<Record<string, readonly string[]>>;
  verify: readonly string[] | null;
} {
  const verifyCommands = (values.get("drills.verifyCommands") ?? {}) as Readonly<
    Record<string, readonly string[]>
  >;
  const given = (values.get("drills.verify") ?? null) as string | readonly string[] | null;
  if (typeof given !== "string") return { verifyCommands, verify: given };
  const named = Object.hasOwn(verifyCommands, given) ? verifyCommands[given] : undefined;
  if (named === undefined) {
    report.fail(
      "drills.verify",
      origin("drills.verify"),
      `names ${JSON.stringify(given)}, which is not in drills.verifyCommands`,
      `define it: drills.verifyCommands: {${given}: [sh, -c, "..."]}`,
    );
  }
  return { verifyCommands, verify: named ?? null };
}
