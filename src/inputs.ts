import fs from 'node:fs';
import path from 'node:path';
import { type LayercopyCode, LayercopyError } from './core/errors.js';
import type { Platform } from './core/options.js';
import { resolveDockerArchive } from './images/archive.js';
import { sniffCompression } from './images/decompress.js';
import { readHead, type TarLayer } from './images/layer.js';
import { archiveSource, directorySource, hostPlatform, resolveOciLayout } from './images/oci.js';
import { parseLayerArgument, TRANSPORTS } from './images/reference.js';

export interface ResolvedInputs {
  /**
   * Each layer's directory, or its tarball, symlinks resolved once here:
   * what is opened (directories then held by fd). An image reference
   * stands for its layers, lowest first.
   */
  layers: string[];
  /** For a layer that is a tarball (a file given, or an image's blob): what it is and must hash to; undefined for a directory. */
  tars: (TarLayer | undefined)[];
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
export function resolveInputs(layers: readonly string[], rootfs: string, options: { platform?: Platform } = {}): ResolvedInputs {
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
  const out: ResolvedInputs = { layers: [], tars: [], given: [], rootfs: resolvedRootfs, parent: parentReal };
  layers.forEach((layer) => {
    const layerIndex = out.layers.length;
    const label = `layer ${layerIndex + 1}`;
    if (typeof layer !== 'string' || layer === '') throw invalid(`${label}: must be a non-empty path`, { layerIndex });
    const arg = parseLayerArgument(layer, layerIndex);
    if (arg.kind !== 'path') {
      // An image reference stands for its layers, each a tarball (a blob, or an archive's member).
      const platform = options.platform ?? hostPlatform();
      const images =
        arg.kind === 'docker-archive'
          ? resolveDockerArchive(layer, arg, platform)
          : resolveOciLayout(layer, arg.kind === 'oci' ? directorySource(arg.layout) : archiveSource(arg.file, layer), arg, platform);
      for (const tar of images) {
        out.layers.push(tar.file);
        out.tars.push(tar);
        out.given.push(tar.label);
      }
      return;
    }
    const abs = path.resolve(arg.path);
    const fields = { layer: abs, layerIndex, path: abs };
    let real: string;
    try {
      real = fs.realpathSync(abs);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'does not exist' : code === 'ELOOP' ? 'is a symbolic link loop' : `cannot be resolved (${code})`;
      const word = code === 'ENOENT' ? arg.unknownTransport : undefined;
      const unknown = word ? `, and ${word}: is not a transport layercopy reads (${TRANSPORTS.map((t) => `${t}:`).join(', ')})` : '';
      const what = isSymlink(abs) ? `is a symbolic link to ${fs.readlinkSync(abs)}, which ${why}` : `${why}${unknown}`;
      throw invalid(`${label} (${abs}): ${what}`, { ...fields, cause: error });
    }
    const st = fs.statSync(real);
    if (st.isFile()) {
      // A layer tarball: tar, gzip or zstd, told by its magic bytes.
      const kind = sniffCompression(readHead(real));
      if (kind === 'unknown') throw invalid(`${label} (${layerName(abs, real)}): is neither a directory nor a tar layer (tar, gzip or zstd)`, fields);
      out.layers.push(real);
      out.tars.push({ file: real, label: layerName(abs, real) });
      out.given.push(abs);
      return;
    }
    if (!st.isDirectory()) throw invalid(`${label} (${layerName(abs, real)}): is not a directory or a tar layer`, fields);
    if (inside(rootfsReal, real)) throw invalid(`rootfs ${resolvedRootfs} lies inside ${label} (${layerName(abs, real)})`, fields);
    out.layers.push(real);
    out.tars.push(undefined);
    out.given.push(abs);
  });
  return out;
}

function isSymlink(p: string): boolean {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
