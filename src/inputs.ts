import fs from 'node:fs';
import path from 'node:path';
import type { Pool } from './copy/pool.js';
import { errnoError, fromNodeError, type LayercopyCode, LayercopyError, type LayerSource } from './core/errors.js';
import type { NativeChanges } from './core/native.cjs';
import type { Platform, ResolvedProvisionOptions } from './core/options.js';
import { dotEnding, inside, workingDirectory } from './core/paths.js';
import type { Stopwatch } from './core/stopwatch.js';
import { storeAbove } from './core/store-marker.js';
import { directoryShape } from './images/directory-shape.js';
import type { TarLayer } from './images/layer.js';
import type { ImageSummary } from './images/oci.js';
import { type LayerArgument, parseLayerArgument, TRANSPORTS } from './images/reference.js';
import { checkAgainstInputs, checkRootfs } from './images/rootfs-place.js';
import type { PulledLayer, PullOptions } from './registry/pull.js';
import { looksLikeRegistryImage } from './registry/reference.js';
import type { StoreCounts } from './store/fill.js';

/** One layer to apply, lowest first: an image reference stands for its layers. */
export interface InputLayer {
  /** What is opened: the layer's directory, or the file holding its tarball (symlinks resolved once, here). */
  path: string;
  /** For a tarball (a file given, or an image's blob): what it is and must hash to; undefined for a directory. */
  tar?: TarLayer;
  /** What messages call it: the path given (made absolute), or an image layer's "oci:PATH:REF layer 2/5 (sha256:…)". */
  label: string;
  source: LayerSource;
  /** A registry's layer (docker://): fetches its blob into the spool file `tar.file` will name. */
  download?: PulledLayer['download'];
  /** Sends the download's request ahead of it (src/registry/download-order.ts, requestEarly). */
  request?: PulledLayer['request'];
  /** A layer extracted in a store: its directories no tar header described (Provisioning.implied). */
  implied?: ReadonlySet<string>;
  /** A layer extracted in a store: what the metadata policy changed then (src/store/changes.ts), for the summary. */
  changes?: NativeChanges;
}

/** An image reference resolved through a store (src/store/): its layers as extracted directories, held until close(). */
export type ImageHook = (
  given: string,
  argIndex: number,
  arg: Exclude<LayerArgument, { kind: 'path' }>,
) => Promise<{
  layers: (Required<Pick<InputLayer, 'path' | 'label' | 'source' | 'implied'>> & Pick<InputLayer, 'changes'>)[];
  image: Omit<ImageSummary, 'reference'>;
  close(): Promise<void>;
}>;

/** A provision's store (opts.store, where set): its session is opened once ROOTFS is checked (src/store/provide.ts). */
export interface StoreInput {
  opts: ResolvedProvisionOptions;
  pool: Pool;
  clock: Stopwatch;
}

export type { StoreSummary } from './store/fill.js';

export interface ResolvedInputs {
  layers: InputLayer[];
  rootfs: string;
  /** ROOTFS's parent directory, symlinks resolved: where the staging directory is made. */
  parent: string;
  /** ROOTFS exists as an empty directory (not a mount point): the commit renames over it. */
  rootfsEmpty: boolean;
  /** With a store: what it fetched, extracted and reused (the summary's `store`). */
  store?: StoreCounts;
  /** Each image argument's manifest and platform, in order (the summary's `images`). */
  images: ImageSummary[];
  /** Ends what resolving opened (a registry's connections); called once the provision is done with the inputs. */
  close(): Promise<void>;
}

function invalid(
  message: string,
  fields: { layer?: string; layerIndex?: number; path?: string; cause?: unknown } = {},
  code: LayercopyCode = 'ERR_INVALID_ARGUMENT',
): LayercopyError {
  return new LayercopyError(message, { code, ...fields });
}

/** A path with symlinks resolved, or as given where it does not exist (yet). */
function realOrResolved(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return p;
  }
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
 * is well defined. Inputs fail by one rule (docs/errors.md): missing or of
 * the wrong kind, ERR_INVALID_ARGUMENT; the right kind but malformed,
 * ERR_INVALID_IMAGE; unreadable, the system's code; each error names the
 * argument as given and its position.
 */
export async function resolveInputs(
  layers: readonly string[],
  rootfs: string,
  options: { platform?: Platform; pull?: PullOptions; store?: StoreInput } = {},
): Promise<ResolvedInputs> {
  if (!Array.isArray(layers)) throw invalid('layers must be an array of directory paths');
  if (layers.length === 0) throw invalid('No filesystem layers provided', {}, 'ERR_NO_LAYERS');
  if (typeof rootfs !== 'string' || rootfs === '') throw invalid('rootfs must be a non-empty path');
  const resolvedRootfs = path.resolve(rootfs);
  if (resolvedRootfs === '/') throw invalid('rootfs must not be /');
  // The commit replaces an empty ROOTFS: never the directory the caller stands in (as destroy refuses it).
  if (dotEnding(rootfs) || resolvedRootfs === workingDirectory())
    throw invalid(`rootfs ${rootfs}: name the rootfs directory itself, not . or .. or the working directory`, { path: resolvedRootfs });
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
  const rootfsReal = path.join(parentReal, path.basename(resolvedRootfs));
  // With or without --store: only rmi and prune change a store (destroy refuses it too).
  // --store's own directory too: a new store has no marker until it is opened, below.
  const given = options.store?.opts.store;
  const named = given === undefined ? undefined : realOrResolved(path.resolve(given));
  const holder = storeAbove(rootfsReal) ?? (named !== undefined && inside(rootfsReal, named) ? named : undefined);
  if (holder !== undefined) throw invalid(`rootfs ${resolvedRootfs} lies inside the layercopy store ${holder}; provision it elsewhere`, { path: resolvedRootfs });
  checkAgainstInputs(layers, resolvedRootfs, rootfsReal);
  const rootfsEmpty = checkRootfs(resolvedRootfs, parentReal);
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    await Promise.all(closers.splice(0).map((c) => c()));
  };
  const out: ResolvedInputs = { layers: [], rootfs: resolvedRootfs, parent: parentReal, rootfsEmpty, images: [], close };
  let store: ReturnType<typeof import('./store/provide.js').storeSession> | undefined;
  if (options.store?.opts.store !== undefined) {
    // Every argument checked before the store is opened: a mistyped reference is a usage error that makes no store.
    const { parseDockerReference } = await import('./registry/reference.js');
    for (const [argIndex, layer] of layers.entries()) {
      const arg = typeof layer === 'string' && layer !== '' ? parseLayerArgument(layer, argIndex) : undefined;
      if (arg?.kind === 'docker') parseDockerReference(layer, argIndex);
    }
    const { opts, pool, clock } = options.store;
    store = (await import('./store/provide.js')).storeSession(opts.store!, opts, { rootfs, pool, signal: options.pull?.signal, clock });
    out.store = store.session.counts;
  }
  try {
    await resolveEach(layers, out, closers, { ...options, image: store?.image });
    if (store) closers.push(await store.hold());
  } catch (error) {
    await close();
    throw error;
  }
  return out;
}

async function resolveEach(
  layers: readonly string[],
  out: ResolvedInputs,
  closers: (() => Promise<void>)[],
  options: { platform?: Platform; pull?: PullOptions; image?: ImageHook },
): Promise<void> {
  for (const [argIndex, layer] of layers.entries()) {
    const label = `layer ${argIndex + 1}`;
    if (typeof layer !== 'string' || layer === '') throw invalid(`${label}: must be a non-empty path`, { layerIndex: argIndex });
    const arg = parseLayerArgument(layer, argIndex);
    if (arg.kind !== 'path' && options.image) {
      const image = await options.image(layer, argIndex, arg);
      closers.push(image.close);
      out.layers.push(...image.layers);
      out.images.push({ reference: layer, ...image.image });
      continue;
    }
    if (arg.kind === 'docker') {
      const [{ resolveDocker }, { hostPlatform, imageSummary }] = await Promise.all([import('./registry/pull.js'), import('./images/oci.js')]);
      const pulled = await resolveDocker(layer, argIndex, options.platform ?? hostPlatform(), options.pull);
      closers.push(pulled.close);
      for (const { tar, source, download, request } of pulled.layers) out.layers.push({ path: '', tar, label: tar.label, source, download, request });
      const image = imageSummary(layer, pulled.image);
      if (image) out.images.push(image);
      continue;
    }
    if (arg.kind !== 'path') {
      const [{ resolveImage }, { hostPlatform, imageSummary }] = await Promise.all([import('./images/resolve.js'), import('./images/oci.js')]);
      const seen = {};
      for (const { tar, source } of resolveImage(layer, argIndex, arg, options.platform ?? hostPlatform(), seen))
        out.layers.push({ path: tar.file, tar, label: tar.label, source });
      const image = imageSummary(layer, seen);
      if (image) out.images.push(image);
      continue;
    }
    const abs = path.resolve(arg.path);
    const fields = { layer: abs, layerIndex: argIndex, path: abs };
    const source = { arg: abs, argIndex };
    let real: string;
    try {
      real = fs.realpathSync(abs);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // Unreadable, as a tarball or image there is: the system's code (docs/errors.md, Inputs).
      if (code === 'EACCES' || code === 'EPERM' || code === 'EIO')
        throw errnoError(fromNodeError(error, 'realpath', abs), (name, description) => `${label} (${abs}): cannot read: ${name} (${description})`, { ...fields, cause: error });
      const why = code === 'ENOENT' ? 'does not exist' : code === 'ELOOP' ? 'is a symbolic link loop' : `cannot be resolved (${code})`;
      const word = code === 'ENOENT' ? arg.unknownTransport : undefined;
      const registry = code === 'ENOENT' && looksLikeRegistryImage(layer);
      const unknown = registry
        ? `; did you mean docker://${layer}?`
        : word
          ? `, and ${word}: is not a transport layercopy reads (${TRANSPORTS.map((t) => `${t}:`).join(', ')})`
          : '';
      const what = isSymlink(abs) ? `is a symbolic link to ${fs.readlinkSync(abs)}, which ${why}` : `${why}${unknown}`;
      throw invalid(`${label} (${abs}): ${what}`, { ...fields, cause: error });
    }
    const st = fs.statSync(real);
    if (st.isFile()) {
      // A layer tarball: tar, gzip or zstd, told by its magic bytes. The
      // tar code loads here, on first need: directory layers never run it.
      const [{ readHead, sniffCompression }, { archiveShapes, references }] = await Promise.all([import('./images/decompress.js'), import('./images/shape.js')]);
      let head: Buffer;
      try {
        head = readHead(real);
      } catch (error) {
        // EACCES, EIO: the system's word, naming the layer (never ROOTFS).
        throw errnoError(fromNodeError(error, 'open', real), (name, description) => `${label} (${layerName(abs, real)}): cannot read: ${name} (${description})`, {
          layer: abs,
          layerIndex: argIndex,
          cause: error,
        });
      }
      const kind = sniffCompression(head);
      if (kind === 'unknown') throw invalid(`${label} (${layerName(abs, real)}): is neither a directory nor a tar layer (tar, gzip or zstd)`, fields);
      const shapes = kind === 'none' ? archiveShapes(real) : [];
      if (shapes.length > 0) {
        const what = shapes.length > 1 ? 'an image archive (docker save of Docker 25 or later)' : `an image archive (${shapes[0]})`;
        throw invalid(`${label} (${layer}): is ${what}, not a layer tarball; did you mean ${references(shapes, layer)}?`, fields);
      }
      out.layers.push({ path: real, tar: { file: real, label: layerName(abs, real) }, label: abs, source });
      continue;
    }
    if (!st.isDirectory()) throw invalid(`${label} (${layerName(abs, real)}): is not a directory or a tar layer`, fields);
    const shape = directoryShape(real);
    if (shape === 'oci') throw invalid(`${label} (${layer}): is an OCI image layout, not a layer directory; did you mean oci:${layer}?`, fields);
    if (shape === 'dir') {
      throw invalid(
        `${label} (${layer}): is an image in skopeo's dir: format, not a layer directory; layercopy does not read dir: images: copy it to an OCI layout first (skopeo copy dir:${layer} oci:DIR:TAG)`,
        fields,
      );
    }
    out.layers.push({ path: real, label: abs, source });
  }
}

function isSymlink(p: string): boolean {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
