import { invalidOption, shown } from './option-errors.js';

/** One range of an ID map, as in /proc/PID/uid_map and the OCI runtime spec's linux.uidMappings. */
export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

/**
 * Shifts owners from container IDs to host IDs while copying (a rootfs for a
 * user-namespaced container): every entry's owner, the root's, file
 * capabilities (written as v3 with the host ID of container root) and the
 * named entries of POSIX ACLs. A side left out is not shifted. An ID outside
 * every range of a given side fails the provision (ERR_UNMAPPED_ID).
 */
export interface IdMap {
  uid?: IdMapping[];
  gid?: IdMapping[];
}

/** An ID map as the native step takes it: each side's ranges as (container, host, count) triples. */
export type PackedIdMap = { uid?: Uint32Array; gid?: Uint32Array };

const U32 = 2 ** 32;

/** Validates an ID map (messages name the option) and packs each side as (container, host, count) triples. */
export function validateIdMap(idMap: IdMap | undefined): PackedIdMap | undefined {
  if (idMap === undefined) return undefined;
  if (idMap === null || typeof idMap !== 'object') throw invalidOption('options.idMap must be an object { uid?, gid? }');
  const out: PackedIdMap = {};
  for (const side of ['uid', 'gid'] as const) {
    const ranges = idMap[side];
    if (ranges === undefined) continue;
    const name = `options.idMap.${side}`;
    if (!Array.isArray(ranges) || ranges.length === 0) throw invalidOption(`${name} must be a non-empty array of { containerID, hostID, size }`);
    // The kernel takes at most 340 ranges (user_namespaces(7)).
    if (ranges.length > 340) throw invalidOption(`${name} has ${ranges.length} ranges; the kernel takes at most 340`);
    const flat = new Uint32Array(ranges.length * 3);
    ranges.forEach((r, i) => {
      const at = `${name}[${i}]`;
      if (r === null || typeof r !== 'object') throw invalidOption(`${at} must be { containerID, hostID, size }`);
      for (const key of ['containerID', 'hostID', 'size'] as const) {
        const v = r[key];
        if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v >= U32) throw invalidOption(`${at}.${key} must be an integer from 0 to 4294967295 (got ${shown(v)})`);
      }
      if (r.size < 1) throw invalidOption(`${at}.size must be at least 1`);
      if (r.containerID + r.size > U32 || r.hostID + r.size > U32) throw invalidOption(`${at} runs past ID 4294967295`);
      for (let j = 0; j < i; j++) {
        const q = ranges[j];
        if (r.containerID < q.containerID + q.size && q.containerID < r.containerID + r.size) throw invalidOption(`${at} overlaps ${name}[${j}] in container IDs`);
        if (r.hostID < q.hostID + q.size && q.hostID < r.hostID + r.size) throw invalidOption(`${at} overlaps ${name}[${j}] in host IDs`);
      }
      flat.set([r.containerID, r.hostID, r.size], i * 3);
    });
    out[side] = flat;
  }
  return out;
}

/** The host ID a container ID maps to on one side of a packed map (an absent side: itself); undefined where no range holds it. */
export function hostId(side: Uint32Array | undefined, id: number): number | undefined {
  if (!side) return id;
  for (let i = 0; i < side.length; i += 3) if (id >= side[i] && id - side[i] < side[i + 2]) return side[i + 1] + (id - side[i]);
  return undefined;
}
