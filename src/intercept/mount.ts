/**
 * Mounting without libfuse: open /dev/fuse, then `mount -i -t fuse.pvjournal
 * -o fd=3,...` with that descriptor as the child's fd 3 (without -i, mount(8)
 * runs the fuse3 helper, which fails). Also finds and lazily unmounts a stale
 * mount left by a killed sidecar (its files answer ENOTCONN).
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { ConfigError, ErrorCode, PvjError } from "../errors.js";
import { runCommand } from "../util/run-command.js";

/** Filesystem type as mount(8) and /proc/self/mountinfo show it. */
export const FS_TYPE = "fuse.pvjournal";
/** Largest WRITE the kernel sends (FUSE_MAX_PAGES with 256 pages of 4 KiB). */
export const MAX_WRITE = 1024 * 1024;

/** Opens /dev/fuse; exit-2 errors that say what to grant when it is missing or not permitted. */
export function openFuseDevice(device = "/dev/fuse"): number {
  try {
    return openSync(device, "r+");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const hint =
      code === "ENOENT"
        ? "the sidecar container needs the FUSE device: mount /dev/fuse into it (hostPath /dev/fuse, type CharDevice) and run it privileged, or use capture.mode: watch"
        : "the sidecar needs CAP_SYS_ADMIN and access to /dev/fuse: securityContext.privileged: true (or capabilities.add: [SYS_ADMIN] with a device plugin), or use capture.mode: watch";
    throw new ConfigError(
      `capture.mode intercept: cannot open ${device}: ${(err as Error).message}`,
      { key: "capture.mode", hint },
      err,
    );
  }
}

/** Mount options: the kernel enforces permissions from our attributes (default_permissions). */
function mountOptions(): string {
  return [
    "fd=3",
    "rootmode=40000",
    "user_id=0",
    "group_id=0",
    "allow_other",
    "default_permissions",
  ].join(",");
}

/** mount(8) and umount(8) get this long (ms) before they are killed: a stuck mount must not hang the start. */
const MOUNT_TIMEOUT_MS = 30_000;

async function run(argv: string[], fd3: number | null): Promise<{ code: number; output: string }> {
  const r = await runCommand(argv, {
    timeoutMs: MOUNT_TIMEOUT_MS,
    tailBytes: 4096,
    ...(fd3 !== null ? { fd3 } : {}),
  });
  return { code: r.exitCode ?? 1, output: [r.output.trim(), r.error].filter(Boolean).join("; ") };
}

/** Mounts the FUSE connection on `fd` at `mountPoint` (created if missing). */
export async function mountFuse(fd: number, mountPoint: string): Promise<void> {
  mkdirSync(mountPoint, { recursive: true });
  const r = await run(
    ["mount", "-i", "-t", FS_TYPE, "-o", mountOptions(), "pvjournal", mountPoint],
    fd,
  );
  if (r.code !== 0) {
    throw new ConfigError(
      `capture.mode intercept: mount at ${mountPoint} failed: ${r.output || `exit ${r.code}`}`,
      {
        key: "capture.mode",
        hint: "the sidecar needs CAP_SYS_ADMIN (securityContext.privileged: true) to mount FUSE",
      },
    );
  }
}

/** One FUSE mount of ours as /proc/self/mountinfo lists it. */
interface MountEntry {
  readonly mountPoint: string;
  /** Minor device number: the FUSE connection id (fusectl's directory name). */
  readonly minor: number;
}

/**
 * pvjournal's FUSE mounts in this mount namespace, oldest first, read from
 * /proc/self/mountinfo (octal escapes decoded). Never stat a mount point of
 * ours instead: that asks this very process for an answer.
 */
function ourMounts(): MountEntry[] {
  let text: string;
  try {
    text = readFileSync("/proc/self/mountinfo", "utf8");
  } catch {
    return [];
  }
  const out: MountEntry[] = [];
  for (const line of text.split("\n")) {
    const [left, right] = line.split(" - ");
    if (!left || !right || right.split(" ")[0] !== FS_TYPE) continue;
    const fields = left.split(" ");
    const mp = fields[4];
    if (mp)
      out.push({ mountPoint: unescapeMount(mp), minor: Number((fields[2] ?? "").split(":")[1]) });
  }
  return out;
}

/** True when a pvjournal FUSE mount sits at `mountPoint`. */
export function isMounted(mountPoint: string): boolean {
  return ourMounts().some((m) => m.mountPoint === mountPoint);
}

/**
 * Detaches the mount at `mountPoint` at once (`umount -l`): plain umount
 * fails with EBUSY while the app still holds files open on a dead mount.
 */
export async function unmountLazy(mountPoint: string): Promise<void> {
  const r = await run(["umount", "-l", mountPoint], null);
  if (r.code !== 0 && isMounted(mountPoint)) {
    throw new PvjError(
      ErrorCode.IO_ERROR,
      `cannot unmount ${mountPoint}: ${r.output || `exit ${r.code}`}`,
      { path: mountPoint },
    );
  }
}

/** Closes the device fd, ignoring errors (the kernel aborts the connection). */
export function closeDevice(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

/** The FUSE connection id of our mount at `mountPoint` (the newest one there), or null. */
export function connectionId(mountPoint: string): number | null {
  const m = ourMounts()
    .filter((e) => e.mountPoint === mountPoint && Number.isInteger(e.minor))
    .at(-1);
  return m?.minor ?? null;
}

function unescapeMount(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * Aborts a connection through fusectl (/sys/fs/fuse/connections/N/abort):
 * requests of apps that still hold files open get ENOTCONN instead of
 * waiting for a daemon that stopped. A no-op where fusectl is not mounted.
 */
export function abortConnection(id: number | null): void {
  if (id === null) return;
  const f = `/sys/fs/fuse/connections/${id}/abort`;
  try {
    if (existsSync(f)) writeFileSync(f, "1");
  } catch {
    // already gone
  }
}
