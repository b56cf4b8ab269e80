/**
 * The drill materialiser as a failover uses it: durable (the tree becomes the
 * volume an application mounts), cloning from the replica's mirror where the
 * filesystem can.
 */
import type { Journal } from "../journal/journal.js";
import type { Logger } from "../log/logger.js";
import type { FailoverMaterialiser } from "../replica/failover.js";
import type { Mirror } from "../replica/mirror.js";
import type { BlockHasher } from "../util/hash.js";
import type { CloneFile } from "./clone.js";
import { heldMirrorView, materialise, mirrorView } from "./materialise.js";

/** Wires materialise() for replica/failover.ts. */
export function failoverMaterialiser(deps: {
  readonly journal: Journal;
  readonly hasher: BlockHasher;
  readonly mirror: Mirror;
  readonly logger: Logger;
  readonly cloneFile?: CloneFile;
}): FailoverMaterialiser {
  const common = {
    journal: deps.journal,
    hasher: deps.hasher,
    durable: true,
    logger: deps.logger,
    ...(deps.cloneFile ? { cloneFile: deps.cloneFile } : {}),
  };
  return {
    intoTarget: (point, target) =>
      materialise({ ...common, point, target, mirror: mirrorView(deps.mirror) }),
    rebuild: (point, dir, baseSeq) =>
      materialise({
        ...common,
        point,
        target: dir,
        mirror: baseSeq === null ? null : heldMirrorView(deps.mirror.dir, baseSeq),
      }),
  };
}
