/**
 * Ignore globs of a source (`sources[].ignore`), gitignore-flavoured: a
 * pattern without `/` matches a name at any depth (`*.tmp`, `lost+found`); a
 * pattern with `/` is anchored at the source root (`cache/**`, `db/*.lock`).
 * `*` and `?` never cross `/`; `**` spans any number of path segments. A
 * matched directory hides its whole subtree. Pure.
 */

/** Tests a path relative to the source root (`/`-separated, no leading `/`). */
export type IgnoreMatcher = (relPath: string) => boolean;

/** Compiles a list of globs into one matcher; an empty list ignores nothing. */
export function compileIgnore(globs: readonly string[]): IgnoreMatcher {
  const anchored: RegExp[] = [];
  const anywhere: RegExp[] = [];
  for (const raw of globs) {
    const g = raw.replace(/^\/+/, "").replace(/\/+$/, "");
    if (g === "") continue;
    if (raw.startsWith("/") || g.includes("/")) anchored.push(globToRegExp(g));
    else anywhere.push(globToRegExp(g));
  }
  if (anchored.length === 0 && anywhere.length === 0) return () => false;
  return (relPath: string) => {
    if (relPath === "") return false;
    const parts = relPath.split("/");
    // A path is ignored when it or any ancestor matches.
    for (let i = 1; i <= parts.length; i++) {
      const prefix = parts.slice(0, i).join("/");
      const name = parts[i - 1]!;
      if (anywhere.some((re) => re.test(name))) return true;
      if (anchored.some((re) => re.test(prefix))) return true;
    }
    return false;
  };
}

/** Translates one glob to an anchored regular expression. */
export function globToRegExp(glob: string): RegExp {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") {
      if (glob[i + 1] === "*") {
        const slashAfter = glob[i + 2] === "/";
        out += slashAfter ? "(?:.*/)?" : ".*";
        i += slashAfter ? 2 : 1;
      } else out += "[^/]*";
    } else if (c === "?") out += "[^/]";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 1);
      if (end < 0) out += "\\[";
      else {
        let cls = glob.slice(i + 1, end).replace(/\\/g, "\\\\");
        if (cls.startsWith("!")) cls = `^${cls.slice(1)}`;
        out += `[${cls}]`;
        i = end;
      }
    } else out += c.replace(/[.+^${}()|\\\]]/g, "\\$&");
  }
  return new RegExp(`^${out}$`);
}
