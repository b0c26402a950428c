import fs from 'node:fs';
import path from 'node:path';
import { LayercopyError } from '../core/errors.js';
import { CHANGE_KINDS, type ChangeKind, type NativeChanges } from '../core/native.cjs';
import { displayPath } from '../core/paths.js';
import { Changes } from '../core/rootless.js';

// What the metadata policy changed as a layer was extracted into the store
// (a device written as an empty file, an xattr skipped, an owner recorded),
// kept beside the entry: a later provision copies the entry as it is and
// sees none of it, so a --strict provision would otherwise take a layer
// whose devices were emptied for it. Strict, such an entry fails the
// provision as extracting the layer itself would.

export const CHANGES = 'changes';

/** The changes of each extraction as it ends: extractOnPool adds them, then calls onDone for that layer, at once. */
export class LastChanges extends Changes {
  last?: NativeChanges;
  override add(changes: NativeChanges | undefined): void {
    this.last = changes;
    super.add(changes);
  }
}

/** Writes the entry's changes beside it, where there were any. */
export function writeChanges(dir: string, changes: NativeChanges | undefined): void {
  if (changes && CHANGE_KINDS.some((k) => (changes[k]?.count ?? 0) > 0)) fs.writeFileSync(path.join(dir, CHANGES), JSON.stringify(changes));
}

/**
 * What a provision served by the entry reports of its extraction: all but
 * the owners recorded, which the copy out of an xattr-mode entry counts
 * itself as it records each owner again from the entry's own
 * user.rootlesscontainers. A device emptied or skipped, an xattr skipped,
 * an owner dropped or a special bit cleared leaves nothing it could see.
 */
export function carriedChanges(changes: NativeChanges | undefined): NativeChanges | undefined {
  if (!changes) return undefined;
  const { ownersRecorded: _counted, ...rest } = changes;
  return rest;
}

export function readChanges(dir: string): NativeChanges | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, CHANGES), 'utf8')) as NativeChanges;
  } catch {
    return undefined;
  }
}

const WHAT: Record<ChangeKind, string> = {
  ownersRecorded: 'owner recorded in user.rootlesscontainers, not set',
  ownersDropped: 'owner not kept',
  devicesEmptied: 'device node written as an empty file',
  devicesSkipped: 'device node left out',
  xattrsSkipped: 'xattr not set',
  specialBitsCleared: 'setuid/setgid cleared',
};

/** --strict: the first change an entry holds, as an error naming the layer and the path. */
export function strictError(label: string, changes: NativeChanges, source: { layer: string; layerIndex: number }): LayercopyError {
  const kind = CHANGE_KINDS.find((k) => (changes[k]?.count ?? 0) > 0)!;
  const rel = changes[kind]!.paths[0];
  const where = rel === undefined ? '' : `${displayPath('/', rel)}: `;
  return new LayercopyError(`${label}: ${where}${WHAT[kind]} when the layer was extracted into the store (--strict)`, {
    code: 'ERR_UNSUPPORTED_ENTRY',
    ...source,
    path: rel === undefined ? undefined : displayPath('/', rel),
  });
}
