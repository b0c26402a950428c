import fs from 'node:fs';
import path from 'node:path';
import { type LayercopyCode, LayercopyError } from './errors.js';

export interface ResolvedInputs {
  layers: string[];
  rootfs: string;
}

function invalid(message: string, code: LayercopyCode = 'ERR_INVALID_ARGUMENT'): LayercopyError {
  return new LayercopyError(message, { code });
}

function inside(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent.endsWith('/') ? parent : `${parent}/`);
}

/**
 * Checks the layers and ROOTFS once, before anything is written. Relative
 * paths are resolved against the working directory (as cp does). The same
 * layer may appear twice: applying a layer again is well defined.
 */
export function resolveInputs(layers: readonly string[], rootfs: string): ResolvedInputs {
  if (!Array.isArray(layers)) throw invalid('layers must be an array of directory paths');
  if (layers.length === 0) throw invalid('No filesystem layers provided', 'ERR_NO_LAYERS');
  if (typeof rootfs !== 'string' || rootfs === '') throw invalid('rootfs must be a non-empty path');
  const resolvedRootfs = path.resolve(rootfs);
  if (resolvedRootfs === '/') throw invalid('rootfs must not be /');
  const parent = path.dirname(resolvedRootfs);
  let parentReal: string;
  try {
    parentReal = fs.realpathSync(parent);
    if (!fs.statSync(parentReal).isDirectory()) throw Object.assign(new Error(), { code: 'ENOTDIR' });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'ENOENT';
    throw new LayercopyError(`rootfs ${resolvedRootfs}: parent directory ${parent} does not exist (${code})`, {
      code: 'ERR_INVALID_ARGUMENT',
      path: parent,
      cause: error,
    });
  }
  if (fs.existsSync(resolvedRootfs) || isSymlink(resolvedRootfs)) {
    throw new LayercopyError(`Rootfs is already provisioned: ${resolvedRootfs} exists`, {
      code: 'ERR_ALREADY_PROVISIONED',
      path: resolvedRootfs,
    });
  }
  const rootfsReal = path.join(parentReal, path.basename(resolvedRootfs));
  const resolvedLayers = layers.map((layer, i) => {
    if (typeof layer !== 'string' || layer === '') throw invalid(`layer ${i + 1}: must be a non-empty path`);
    const abs = path.resolve(layer);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(abs);
    } catch (error) {
      throw new LayercopyError(`layer ${i + 1} (${abs}): does not exist`, { code: 'ERR_INVALID_ARGUMENT', path: abs, cause: error });
    }
    if (st.isSymbolicLink()) throw invalid(`layer ${i + 1} (${abs}): is a symbolic link; pass the directory it points to`);
    if (!st.isDirectory()) {
      // A layer as it comes from a registry is an archive: say what to do with it.
      const archive = /\.(tar|tar\.gz|tgz|tar\.zst|tar\.xz)$/.test(abs) ? `; layers are extracted directories: mkdir DIR && tar -xf ${path.basename(abs)} -C DIR` : '';
      throw invalid(`layer ${i + 1} (${abs}): is not a directory${archive}`);
    }
    const real = fs.realpathSync(abs);
    if (inside(rootfsReal, real)) throw invalid(`rootfs ${resolvedRootfs} lies inside layer ${i + 1} (${abs})`);
    return abs;
  });
  return { layers: resolvedLayers, rootfs: resolvedRootfs };
}

function isSymlink(p: string): boolean {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
