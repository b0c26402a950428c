import fs from 'node:fs';
import path from 'node:path';
import { type LayercopyCode, LayercopyError } from './core/errors.js';

export interface ResolvedInputs {
  /** Each layer's directory, symlinks resolved once here: what is opened (and then held by fd). */
  layers: string[];
  /** Each layer as given (made absolute): what messages and summaries call it. */
  given: string[];
  rootfs: string;
  /** ROOTFS's parent directory, symlinks resolved: where the staging directory is made. */
  parent: string;
}

function invalid(
  message: string,
  fields: { layer?: string; layerIndex?: number; path?: string; cause?: unknown } = {},
  code: LayercopyCode = 'ERR_INVALID_ARGUMENT',
): LayercopyError {
  return new LayercopyError(message, { code, ...fields });
}

function inside(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent.endsWith('/') ? parent : `${parent}/`);
}

/** "/given" or, when symlinks lead elsewhere, "/given -> /resolved". */
export function layerName(given: string, dir: string): string {
  return given === dir ? given : `${given} -> ${dir}`;
}

/**
 * Checks the layers and ROOTFS once, before anything is written. Relative
 * paths are resolved against the working directory (as cp does); symlinks
 * (a layer store's `current -> sha256/...`) are resolved here, once: the
 * provision opens the directories they led to, so a link swapped later
 * changes nothing. The same layer may appear twice: applying a layer again
 * is well defined.
 */
export function resolveInputs(layers: readonly string[], rootfs: string): ResolvedInputs {
  if (!Array.isArray(layers)) throw invalid('layers must be an array of directory paths');
  if (layers.length === 0) throw invalid('No filesystem layers provided', {}, 'ERR_NO_LAYERS');
  if (typeof rootfs !== 'string' || rootfs === '') throw invalid('rootfs must be a non-empty path');
  const resolvedRootfs = path.resolve(rootfs);
  if (resolvedRootfs === '/') throw invalid('rootfs must not be /');
  const parent = path.dirname(resolvedRootfs);
  let parentReal: string;
  try {
    parentReal = fs.realpathSync(parent);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const what = code === 'ENOTDIR' ? 'a path component of it is not a directory' : code === 'ENOENT' ? 'does not exist' : `cannot be resolved (${code})`;
    throw invalid(`rootfs ${resolvedRootfs}: parent directory ${parent} ${what}`, { path: parent, cause: error });
  }
  if (!fs.statSync(parentReal).isDirectory()) {
    throw invalid(`rootfs ${resolvedRootfs}: parent ${layerName(parent, parentReal)} is not a directory`, { path: parent });
  }
  if (fs.existsSync(resolvedRootfs) || isSymlink(resolvedRootfs)) {
    throw new LayercopyError(`Rootfs is already provisioned: ${resolvedRootfs} exists`, {
      code: 'ERR_ALREADY_PROVISIONED',
      path: resolvedRootfs,
    });
  }
  const rootfsReal = path.join(parentReal, path.basename(resolvedRootfs));
  const given: string[] = [];
  const resolvedLayers = layers.map((layer, layerIndex) => {
    const label = `layer ${layerIndex + 1}`;
    if (typeof layer !== 'string' || layer === '') throw invalid(`${label}: must be a non-empty path`, { layerIndex });
    const abs = path.resolve(layer);
    const fields = { layer: abs, layerIndex, path: abs };
    let real: string;
    try {
      real = fs.realpathSync(abs);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'does not exist' : code === 'ELOOP' ? 'is a symbolic link loop' : `cannot be resolved (${code})`;
      const what = isSymlink(abs) ? `is a symbolic link to ${fs.readlinkSync(abs)}, which ${why}` : why;
      throw invalid(`${label} (${abs}): ${what}`, { ...fields, cause: error });
    }
    if (!fs.statSync(real).isDirectory()) {
      // A layer as it comes from a registry is an archive: say what to do with it.
      const archive = /\.(tar|tar\.gz|tgz|tar\.zst|tar\.xz)$/.test(real) ? `; layers are extracted directories: mkdir DIR && tar -xf ${path.basename(real)} -C DIR` : '';
      throw invalid(`${label} (${layerName(abs, real)}): is not a directory${archive}`, fields);
    }
    if (inside(rootfsReal, real)) throw invalid(`rootfs ${resolvedRootfs} lies inside ${label} (${layerName(abs, real)})`, fields);
    given.push(abs);
    return real;
  });
  return { layers: resolvedLayers, given, rootfs: resolvedRootfs, parent: parentReal };
}

function isSymlink(p: string): boolean {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
