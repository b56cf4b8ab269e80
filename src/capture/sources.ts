/**
 * Maps between filesystem paths and journal paths (`<source>/<relative>`, the
 * source root being `<source>`), and applies each source's ignore globs. Pure.
 */
import { isAbsolute, join, relative, sep } from "node:path";
import type { SourceConfig } from "../config/types.js";
import { compileIgnore, type IgnoreMatcher } from "./ignore.js";

interface CompiledSource {
  readonly name: string;
  readonly root: string;
  readonly ignored: IgnoreMatcher;
}

/** The sources of one consistency group, with their ignore matchers. */
export class SourceMap {
  private readonly byName = new Map<string, CompiledSource>();

  constructor(sources: readonly SourceConfig[]) {
    for (const s of sources)
      this.byName.set(s.name, { name: s.name, root: s.path, ignored: compileIgnore(s.ignore) });
  }

  /** Journal paths of the source roots. */
  roots(): string[] {
    return [...this.byName.keys()];
  }

  /** Absolute root directories, for the watcher. */
  rootDirs(): string[] {
    return [...this.byName.values()].map((s) => s.root);
  }

  /** The journal path of an absolute path, or null when outside every source or ignored. */
  toJournal(abs: string): string | null {
    let best: CompiledSource | null = null;
    for (const s of this.byName.values()) {
      if (
        (abs === s.root || abs.startsWith(s.root.endsWith(sep) ? s.root : s.root + sep)) &&
        (!best || s.root.length > best.root.length)
      ) {
        best = s;
      }
    }
    if (!best) return null;
    const rel = relative(best.root, abs);
    if (rel === "") return best.name;
    // "..data" (a ConfigMap's symlink) is inside; only ".." itself or "../x" is outside.
    if (rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return null;
    const posix = sep === "/" ? rel : rel.split(sep).join("/");
    if (best.ignored(posix)) return null;
    return `${best.name}/${posix}`;
  }

  /** The absolute path of a journal path. */
  toAbs(jpath: string): string {
    const i = jpath.indexOf("/");
    const name = i < 0 ? jpath : jpath.slice(0, i);
    const s = this.byName.get(name);
    if (!s) throw new Error(`journal path ${jpath} names no configured source`);
    return i < 0 ? s.root : join(s.root, ...jpath.slice(i + 1).split("/"));
  }

  /** True when a journal path is ignored by its source's globs (roots never are). */
  isIgnored(jpath: string): boolean {
    const i = jpath.indexOf("/");
    if (i < 0) return false;
    const s = this.byName.get(jpath.slice(0, i));
    return s ? s.ignored(jpath.slice(i + 1)) : true;
  }

  /** The source name of a journal path. */
  sourceOf(jpath: string): string {
    const i = jpath.indexOf("/");
    return i < 0 ? jpath : jpath.slice(0, i);
  }

  /** True when a journal path belongs to a configured source. */
  knows(jpath: string): boolean {
    return this.byName.has(this.sourceOf(jpath));
  }
}
