/**
 * Intercept mode mounts a filesystem: that needs CAP_SYS_ADMIN. Checked up
 * front so that a missing privilege is exit 2 with what to grant, not a
 * mount failure after the initial reconcile.
 */
import { readFileSync } from "node:fs";
import { ConfigError } from "../errors.js";

/** Bit of CAP_SYS_ADMIN in the capability sets (linux/capability.h). */
const CAP_SYS_ADMIN = 21n;

/** The effective capability set of this process, or null where /proc cannot tell. */
export function effectiveCaps(status = "/proc/self/status"): bigint | null {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync(status, "utf8"));
    return m ? BigInt(`0x${m[1]}`) : null;
  } catch {
    return null;
  }
}

/** Throws a ConfigError (exit 2) when the process cannot mount. */
export function checkPrivilege(caps: bigint | null = effectiveCaps()): void {
  if (caps !== null && ((caps >> CAP_SYS_ADMIN) & 1n) === 0n) {
    throw new ConfigError("capture.mode intercept needs CAP_SYS_ADMIN to mount FUSE", {
      key: "capture.mode",
      hint: "run the sidecar container with securityContext.privileged: true (and /dev/fuse), or use capture.mode: watch",
    });
  }
}
