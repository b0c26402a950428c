import fs from 'node:fs';
import path from 'node:path';
import { LayercopyError } from '../core/errors.js';
import { isMountPoint, mountPoints } from '../core/mounts.js';
import { inside } from '../core/paths.js';
import { directoryShape } from './directory-shape.js';
import { parseLayerArgument } from './reference.js';

// Where ROOTFS may be: absent or an empty directory, never one of the
// inputs nor a directory that holds one. The inputs are compared first: an
// input given as ROOTFS (the arguments swapped, the folder of the layers) is
// not empty, and was told to be destroyed (`destroy` would remove it).

const invalid = (message: string, fields: { layer?: string; layerIndex?: number; path?: string }) => new LayercopyError(message, { code: 'ERR_INVALID_ARGUMENT', ...fields });

/** The local path an argument reads (a directory, a tarball, an OCI layout, an archive), symlinks resolved; undefined for a registry's image or a path that is not there. */
function inputPath(layer: unknown, argIndex: number): string | undefined {
  if (typeof layer !== 'string' || layer === '') return undefined;
  let arg: ReturnType<typeof parseLayerArgument>;
  try {
    arg = parseLayerArgument(layer, argIndex);
  } catch {
    // A malformed reference: resolving the layers says so.
    return undefined;
  }
  const given = arg.kind === 'path' ? arg.path : arg.kind === 'oci' ? arg.layout : arg.kind === 'docker' ? undefined : arg.file;
  if (given === undefined) return undefined;
  try {
    return fs.realpathSync(path.resolve(given));
  } catch {
    return undefined;
  }
}

/**
 * Refuses a ROOTFS that is one of the inputs, holds one, or lies inside a
 * layer directory (what the provision writes would be read as the layer).
 * rootfsReal: ROOTFS with its parent's symlinks resolved.
 */
export function checkAgainstInputs(layers: readonly unknown[], rootfs: string, rootfsReal: string): void {
  let above: Set<string> | undefined;
  let mounts: string[] | undefined;
  for (const [argIndex, layer] of layers.entries()) {
    const real = inputPath(layer, argIndex);
    if (real === undefined) continue;
    const label = `layer ${argIndex + 1} (${layer})`;
    const fields = { layer: String(layer), layerIndex: argIndex, path: rootfs };
    if (inside(real, rootfsReal)) {
      const what = real === rootfsReal ? 'is' : 'holds';
      throw invalid(`rootfs ${rootfs} ${what} ${label}: name a new directory (or an empty one) for the rootfs, beside its layers`, fields);
    }
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(real);
    } catch {}
    if (!st?.isDirectory() || directoryShape(real) !== undefined) continue;
    if (inside(rootfsReal, real)) throw invalid(`rootfs ${rootfs} lies inside ${label}`, fields);
    // The same directory by another path (a bind mount of ROOTFS's parent or above): the walk would copy the
    // staging directory into itself without end. By device and inode, as no path comparison sees it.
    above ??= directoriesAbove(rootfsReal);
    if (above.has(`${st.dev}:${st.ino}`)) throw invalid(`rootfs ${rootfs} lies inside ${label}: the layer is a directory above ROOTFS, mounted at another path`, fields);
    // The walk crosses mounts inside a layer: one of a directory above ROOTFS is the same loop.
    mounts ??= mountPoints();
    for (const mount of mounts.filter((point) => point !== real && inside(point, real))) {
      let at: fs.Stats;
      try {
        at = fs.statSync(mount);
      } catch {
        continue;
      }
      if (above.has(`${at.dev}:${at.ino}`)) throw invalid(`rootfs ${rootfs} lies inside ${label}: ${mount} is a directory above ROOTFS mounted inside the layer`, fields);
    }
  }
}

/** "dev:ino" of each directory from ROOTFS's parent up to /. */
function directoriesAbove(rootfsReal: string): Set<string> {
  const out = new Set<string>();
  for (let dir = path.dirname(rootfsReal); ; dir = path.dirname(dir)) {
    try {
      const st = fs.statSync(dir);
      out.add(`${st.dev}:${st.ino}`);
    } catch {}
    if (dir === path.dirname(dir)) return out;
  }
}

/**
 * Whether ROOTFS is an empty directory the commit may rename over (runc
 * bundles and scripts make it first); absent: false. Anything else there
 * is refused: a non-empty directory, a file, a symlink (never followed), a
 * mount point (rename(2) cannot replace one, and what is mounted there
 * would be hidden).
 */
export function checkRootfs(rootfs: string, parentReal: string): boolean {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(rootfs);
  } catch {
    return false;
  }
  // Apache Mesos's words, kept: scripts written for its provisioner match them.
  const already = (why: string) => new LayercopyError(`Rootfs is already provisioned: ${rootfs} ${why}`, { code: 'ERR_ALREADY_PROVISIONED', path: rootfs });
  if (!st.isDirectory()) throw already(`exists and is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}; remove it first`);
  if (isMountPoint(path.join(parentReal, path.basename(rootfs)))) {
    throw invalid(`rootfs ${rootfs} is a mount point; layercopy replaces ROOTFS by a rename, which cannot replace a mount point: unmount it, or name a directory inside it`, {
      path: rootfs,
    });
  }
  if (fs.readdirSync(rootfs).length === 0) return true;
  const shape = directoryShape(rootfs);
  if (shape !== undefined) {
    const what = shape === 'oci' ? 'an OCI image layout' : "an image in skopeo's dir: format";
    throw invalid(`rootfs ${rootfs} is ${what}, not a rootfs: name a new directory for the rootfs`, { path: rootfs });
  }
  throw already(`exists and is not empty; \`layercopy destroy ${rootfs}\` first`);
}
