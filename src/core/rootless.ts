// How owners, special bits and device nodes are written: the options, their
// defaults (from this process's user namespace), the native policy they
// become, and the summary of what they changed. The policy itself is the
// native helper's (native/meta.h), one for tar and directory layers alike.
import fs from 'node:fs';
import { CHANGE_KINDS, type ChangeKind, type NativeChanges, type NativePolicy } from './native.cjs';
import { invalidOption, shown } from './option-errors.js';
import { displayPath } from './paths.js';

export type Owners = 'keep' | 'xattr' | 'drop';
export type Devices = 'error' | 'empty' | 'skip';
export const OWNERS: readonly Owners[] = ['keep', 'xattr', 'drop'];
export const DEVICES: readonly Devices[] = ['error', 'empty', 'skip'];

/** docs/design.md, "Owners and rootless", has the table of what each mode does to each kind of metadata. */
export interface RootlessOptions {
  /**
   * 'keep': owners exactly as the layers give them (through idMap); an
   * owner that cannot be set fails with ERR_UNMAPPED_ID. 'xattr': entries
   * owned by this user, each other owner recorded in the
   * `user.rootlesscontainers` xattr as `umoci unpack --rootless` writes it.
   * 'drop': entries owned by this user, owners forgotten, setuid/setgid
   * cleared. Default: 'keep' where the effective uid is 0 and this process's
   * uid_map and gid_map cover IDs 0-65535, or where idMap is given; else
   * 'xattr'.
   */
  owners?: Owners;
  /**
   * Device nodes: 'error' makes them (a refusal fails the provision),
   * 'empty' writes an empty regular file with the node's permission bits
   * (as umoci), 'skip' leaves them out. Default: 'error' as root of the
   * initial user namespace (where mknod works), else 'empty'.
   */
  devices?: Devices;
  /** Any change of the above (an owner recorded or dropped, a device emptied or skipped, an xattr skipped, setuid/setgid cleared) fails with ERR_UNSUPPORTED_ENTRY naming the first. Default false. */
  strict?: boolean;
}

export interface ResolvedRootless {
  owners: Owners;
  devices: Devices;
  strict: boolean;
}

/** This process's ID map (/proc/self/uid_map or gid_map): [inside, outside, count] ranges. */
export function readIdMap(side: 'uid' | 'gid'): [number, number, number][] {
  try {
    return fs
      .readFileSync(`/proc/self/${side}_map`, 'latin1')
      .split('\n')
      .map((line) => line.trim().split(/\s+/).map(Number))
      .filter((r) => r.length === 3 && r.every(Number.isSafeInteger)) as [number, number, number][];
  } catch {
    return [];
  }
}

/** Whether the ranges map every ID of 0-65535 (what images use). */
export function coversImageIds(ranges: readonly [number, number, number][]): boolean {
  let next = 0;
  for (const [inside, , count] of [...ranges].sort((a, b) => a[0] - b[0])) {
    if (inside > next) break;
    next = Math.max(next, inside + count);
  }
  return next >= 65536;
}

/** The initial user namespace's map: every ID to itself. */
export function isIdentityMap(ranges: readonly [number, number, number][]): boolean {
  return ranges.length === 1 && ranges[0][0] === 0 && ranges[0][1] === 0 && ranges[0][2] === 4294967295;
}

/** The defaults of owners and devices for this process. */
export function defaultRootless(idMapGiven: boolean): { owners: Owners; devices: Devices } {
  const root = process.geteuid?.() === 0;
  const uid = readIdMap('uid');
  const owners = idMapGiven || (root && coversImageIds(uid) && coversImageIds(readIdMap('gid'))) ? 'keep' : 'xattr';
  // Inside any user namespace mknod of a device fails, even for its root.
  return { owners, devices: root && isIdentityMap(uid) ? 'error' : 'empty' };
}

/** Validates owners, devices and strict (messages name the option) and fills in the defaults. */
export function resolveRootless(options: RootlessOptions, idMapGiven: boolean): ResolvedRootless {
  const { owners, devices, strict } = options;
  if (owners !== undefined && !OWNERS.includes(owners)) throw invalidOption(`options.owners must be one of ${OWNERS.map((o) => `'${o}'`).join(', ')} (got ${shown(owners)})`);
  if (devices !== undefined && !DEVICES.includes(devices)) throw invalidOption(`options.devices must be one of ${DEVICES.map((d) => `'${d}'`).join(', ')} (got ${shown(devices)})`);
  if (strict !== undefined && typeof strict !== 'boolean') throw invalidOption(`options.strict must be a boolean (got ${shown(strict)})`);
  if (idMapGiven && owners !== undefined && owners !== 'keep') {
    throw invalidOption(`options.owners '${owners}' cannot be combined with options.idMap: an ID map shifts owners that are kept ('keep')`);
  }
  const defaults = defaultRootless(idMapGiven);
  return { owners: owners ?? defaults.owners, devices: devices ?? defaults.devices, strict: strict ?? false };
}

/** The native policy of a resolved configuration, with the ID map (keep only). */
export function nativePolicy(r: ResolvedRootless, idMap?: { uid?: Uint32Array; gid?: Uint32Array }): NativePolicy {
  return { ...idMap, owners: OWNERS.indexOf(r.owners) as 0 | 1 | 2, devices: DEVICES.indexOf(r.devices) as 0 | 1 | 2, strict: r.strict };
}

/** How many entries a change touched, and the first few of them (paths in ROOTFS). */
export interface ChangeCount {
  count: number;
  paths: string[];
}

/** The summary's `rootless` (ProvisionSummary): the owners and devices modes in force, and what they changed. */
export type RootlessSummary = { owners: Owners; devices: Devices } & Record<ChangeKind, ChangeCount>;

/** Paths kept per kind of change. */
export const CHANGE_PATHS = 5;

/** What the policy changed over a provision: every native call's changes added up. */
export class Changes {
  readonly #counts = new Map<ChangeKind, ChangeCount>(CHANGE_KINDS.map((k) => [k, { count: 0, paths: [] }]));

  /** Adds a native call's changes (rels relative to ROOTFS). */
  add(changes: NativeChanges | undefined): void {
    if (!changes) return;
    for (const kind of CHANGE_KINDS) {
      const c = changes[kind];
      if (!c) continue;
      const total = this.#counts.get(kind)!;
      total.count += c.count;
      for (const rel of c.paths) if (total.paths.length < CHANGE_PATHS) total.paths.push(displayPath('/', rel));
    }
  }

  summary(r: ResolvedRootless): RootlessSummary {
    const out = { owners: r.owners, devices: r.devices } as RootlessSummary;
    for (const [kind, c] of this.#counts) out[kind] = { count: c.count, paths: [...c.paths].sort() };
    return out;
  }
}
