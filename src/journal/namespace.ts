import { type EntryKind, isAtOrBelow } from "./records.js";

/** What lives at one journal path at some point in time. */
export interface NsEntry {
  readonly fileId: number;
  readonly kind: EntryKind;
  readonly target?: string;
}

/** A namespace event as replayed (the index's ns rows have this shape). */
export interface NsEvent {
  readonly op: "link" | "unlink" | "rename";
  readonly file_id: number | null;
  readonly path: string;
  readonly path2: string | null;
  readonly kind: string | null;
  readonly target: string | null;
}

/** Removes `path` and every path below it. */
function removeTree(tree: Map<string, NsEntry>, path: string): void {
  for (const key of [...tree.keys()]) if (isAtOrBelow(key, path)) tree.delete(key);
}

/**
 * Replays namespace events in seq order into a path -> entry map. Pure. A
 * rename moves the whole subtree and replaces whatever was at the destination,
 * as rename(2) does; a link over a directory replaces the directory's subtree.
 */
export function replayNamespace(
  events: Iterable<NsEvent>,
  tree = new Map<string, NsEntry>(),
): Map<string, NsEntry> {
  for (const ev of events) {
    if (ev.op === "link") {
      const prev = tree.get(ev.path);
      if (prev && prev.kind === "dir" && ev.kind !== "dir") removeTree(tree, ev.path);
      const entry: NsEntry =
        ev.target !== null
          ? { fileId: ev.file_id ?? 0, kind: ev.kind as EntryKind, target: ev.target }
          : { fileId: ev.file_id ?? 0, kind: ev.kind as EntryKind };
      tree.set(ev.path, entry);
    } else if (ev.op === "unlink") {
      removeTree(tree, ev.path);
    } else {
      const from = ev.path;
      const to = ev.path2 ?? "";
      if (from === to) continue;
      const moved: [string, NsEntry][] = [];
      for (const [key, entry] of tree)
        if (isAtOrBelow(key, from)) moved.push([to + key.slice(from.length), entry]);
      removeTree(tree, from);
      removeTree(tree, to);
      for (const [key, entry] of moved) tree.set(key, entry);
    }
  }
  return tree;
}
