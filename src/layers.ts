import fs from 'node:fs';
import type { Pool, Task } from './copy/pool.js';
import { closeLayers } from './copy/provisioning.js';
import { errnoError, fromNodeError, type LayerSource } from './core/errors.js';
import { type CancelFlag, native } from './core/native.cjs';
import type { ResolvedProvisionOptions } from './core/options.js';
import { packRels } from './core/paths.js';
import type { Changes } from './core/rootless.js';
import type { ExtractedLayer } from './images/layer.js';
import { layerName, type ResolvedInputs } from './inputs.js';
import { removeInWorker } from './rootfs/remove.js';
import { createStaging, type Staging } from './rootfs/staging.js';

/** A layer as the copy reads it: one object per layer, lowest first. */
export interface PreparedLayer {
  /** What messages call it (src/inputs.ts). */
  label: string;
  /** What messages call its directory: the path given, or `LABEL:` for a tarball's extraction. */
  dir: string;
  source: LayerSource;
  /** The directory to copy from, open: the layer as given, or its tarball's extraction in scratch (-1 until extracted; for the one layer extracted straight into staging). */
  fd: number;
  /** A tarball's extraction, the provision's own: its entries may be linked into the rootfs rather than copied. */
  movable: boolean;
  /** Directories no tar header described: a tarball's, or a store's layer's. */
  implied?: ReadonlySet<string>;
  /** A tarball's own extraction, in ms (it overlaps the others'). */
  extractMs?: number;
}

/** What extracting the tarballs needs of the provision. */
export interface ExtractRun {
  parentFd: number;
  staging: Staging;
  pool: Pool;
  cancel: CancelFlag;
  opts: ResolvedProvisionOptions;
  changes: Changes;
  abortPull: () => void;
}

/**
 * The preparing step of a provision: every layer made a directory to copy
 * from. Directory layers are opened at once, as resolved (a directory
 * swapped for a symlink after the checks fails here: ELOOP); tarballs and
 * images are extracted (`extract`) into a scratch directory beside the
 * staging directory — private, on the same filesystem, of the same name
 * pattern, so a crash leaves it to be found as stale — which this owns:
 * `cleanup` removes it once ROOTFS is committed, `release` after a failure.
 */
export class Layers {
  readonly layers: PreparedLayer[];
  /** The one tarball layer extracted straight into the staging directory (extractsDirect 'one'), if it was. */
  direct: ExtractedLayer | undefined;
  /**
   * The lowest layer, extracted straight into the staging directory under
   * the others (extractsDirect 'base'), if it was: the layers above are
   * applied over it, and its fd is the twin of its directories' metadata
   * (shadowBase).
   */
  base: ExtractedLayer | undefined;
  #scratch: Staging | undefined;
  #names: string[] = [];

  constructor(inputs: ResolvedInputs) {
    const fds = openLayers(inputs);
    this.layers = inputs.layers.map((layer, i) => ({
      label: layer.label,
      dir: layer.tar ? `${layer.label}:` : layer.path,
      source: layer.source,
      fd: fds[i],
      movable: layer.tar !== undefined,
      implied: layer.implied,
    }));
  }

  /** Extracts the tarball layers, if any (the pool's tasks, downloads alongside: src/images/extract-all.ts). */
  async extract(inputs: ResolvedInputs, run: ExtractRun): Promise<boolean> {
    if (!inputs.layers.some((layer) => layer.tar !== undefined)) return false;
    this.#scratch = createStaging(run.parentFd, inputs.rootfs);
    // Loaded on first need: a provision of directories never extracts.
    const extractAll = await import('./images/extract-all.js');
    const fds = this.layers.map((layer) => layer.fd);
    const mode = extractAll.extractsDirect(inputs, run.opts);
    try {
      const { opts } = run;
      const extracted = await extractAll.extractTars({
        inputs,
        scratch: this.#scratch,
        staging: run.staging,
        direct: mode,
        layerFds: fds,
        pool: run.pool,
        cancel: run.cancel,
        signal: opts.signal,
        onProgress: opts.onProgress,
        shareClaims: opts.strategy === 'merged',
        maxDownloads: opts.maxDownloads,
        abortPull: run.abortPull,
        rootless: { policy: opts.policy, changes: run.changes },
      });
      // The readers' tables and the claims are freed now, in arenas that keep them: given back before the walk grows.
      native.trimHeap();
      this.#names = extracted.names;
      this.layers.forEach((layer, i) => {
        layer.implied = extracted.implied[i] ?? layer.implied;
        if (extracted.ms[i] !== undefined) layer.extractMs = extracted.ms[i];
      });
      if (mode === 'one') this.direct = extracted.direct;
      else if (extracted.direct) {
        this.#names.push('base');
        fds[0] = extractAll.shadowBase({
          staging: run.staging,
          scratch: this.#scratch,
          rootfs: inputs.rootfs,
          label: this.layers[0].label,
          rootMode: extracted.direct.rootMode,
          implied: this.layers.map((layer) => layer.implied),
        });
        this.base = extracted.direct;
      }
    } finally {
      // Opened as they were extracted: closed with the others, whatever happened.
      this.layers.forEach((layer, i) => {
        layer.fd = fds[i];
      });
    }
    return true;
  }

  /**
   * ROOTFS is committed: each scratch extraction removed, all at once (a
   * thread of its own cost a thread's start, and one thread removed them
   * one after the other). A failed or lost removal is no failure of the
   * provision: what it left, the removal after it takes.
   */
  async cleanup(pool: Pool, parentFd: number): Promise<void> {
    const scratch = this.#scratch;
    if (!scratch) return;
    // On libuv's threads, all at once, rather than booting two workers for
    // it (the layers pumped and their plan run inline) or posting a task per
    // piece to them: removed one after the other on this thread, the 13.8k
    // entries of a 4-layer Debian image were the provision's last 110-150 ms
    // with the other core idle; at once, 67-90 ms. In pieces: one a layer
    // left one thread removing the largest layer's (241 ms on a 1 GB
    // toolchain image) after the others' had ended; in 64 pieces the
    // removal took 158-182 ms against 211-244 (docs/benchmarks.md).
    let pieces: string[][];
    try {
      pieces = removalPieces(scratch.fd, this.#names);
    } catch {
      // The rootfs is committed: a listing that throws costs the split, not the provision.
      pieces = this.#names.map((name) => [name]);
    }
    const removals = pool.inlinable
      ? pieces.map(async (rels) => (await native.removeEntriesLater(scratch.fd, rels, true)) === null)
      : pieces.map((rels) => pool.run(task(scratch.fd, rels)).then((r) => !r.failure));
    const emptied = (await Promise.all(removals.map((removal) => removal.catch(() => false)))).every(Boolean);
    this.#scratch = undefined;
    fs.closeSync(scratch.fd);
    if (emptied) native.removeEntry(parentFd, scratch.name, true);
    else await removeInWorker(parentFd, scratch.name, true).catch(() => null);
  }

  /**
   * Closes every layer's directory; after a failure, the scratch
   * extractions go too, once those are closed: a provision that failed for
   * want of file descriptors (EMFILE: an image of more layers than it may
   * hold open) had none left to start the removal's thread with.
   */
  async release(parentFd: number): Promise<void> {
    closeLayers(this.layers.map((layer) => layer.fd));
    for (const layer of this.layers) layer.fd = -1;
    const scratch = this.#scratch;
    this.#scratch = undefined;
    if (scratch) {
      fs.closeSync(scratch.fd);
      await removeInWorker(parentFd, scratch.name, true).catch(() => null);
    }
  }
}

/** How many pieces the scratch extractions are removed in, at least, where they have that many directories; a directory that would make it twice that many is not split. */
const REMOVAL_PIECES = 64;
/** How many directories are listed for it at most (on this thread, before the removal starts). */
const REMOVAL_LISTINGS = 64;

const task = (dst: number, rels: string[]): Task => ({ op: 'remove', dst, rels: packRels(rels), count: rels.length, forceWritable: true });

/**
 * The scratch extractions (`names`, beneath fd) as pieces to remove at
 * once: directories are split breadth first into their subdirectories (a
 * piece each) and their other entries (one piece), until there are
 * REMOVAL_PIECES; the directories not split come first. The directories
 * split stay, empty, for the scratch directory's own removal. As non-root,
 * each layer's is one piece: the removal makes a directory it enters
 * writable, but not the one a piece starts in (a layer's read-only `usr`,
 * or a root of mode 0555: its pieces failed, and the whole scratch was
 * removed again by a worker).
 */
function removalPieces(fd: number, names: readonly string[]): string[][] {
  if (!native.isRoot()) return names.map((name) => [name]);
  const whole: string[][] = [];
  const entries: string[][] = [];
  const dirs = [...names];
  const count = () => whole.length + dirs.length + entries.length;
  for (let listed = 0; dirs.length > 0 && count() < REMOVAL_PIECES && listed < REMOVAL_LISTINGS; listed++) {
    const dir = dirs.shift()!;
    const listing = native.listDir(fd, dir);
    const subdirs = listing.failure ? 0 : [...listing.types].filter((type) => type === 'd').length;
    if (listing.failure || count() + subdirs + 1 > 2 * REMOVAL_PIECES) {
      whole.push([dir]);
      continue;
    }
    const others: string[] = [];
    for (let k = 0; k < listing.names.length; k++) (listing.types[k] === 'd' ? dirs : others).push(`${dir}/${listing.names[k]}`);
    if (others.length > 0) entries.push(others);
  }
  return [...whole, ...dirs.map((dir) => [dir]), ...entries];
}

/** Each directory layer opened once, as resolved; a tarball's place -1 (extracted later). */
function openLayers(inputs: ResolvedInputs): number[] {
  const fds: number[] = [];
  try {
    for (const layer of inputs.layers) {
      if (layer.tar) {
        fds.push(-1);
        continue;
      }
      try {
        fds.push(fs.openSync(layer.path, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW));
      } catch (error) {
        const why = (name: string) =>
          `layer ${layer.source.argIndex + 1} (${layerName(layer.label, layer.path)}): cannot open: ${name}${name === 'ELOOP' ? ' (it became a symbolic link)' : ''}`;
        throw errnoError(fromNodeError(error, 'open', layer.path), why, { layer: layer.source.arg, layerIndex: layer.source.argIndex, cause: error });
      }
    }
    return fds;
  } catch (error) {
    for (const fd of fds) if (fd >= 0) fs.closeSync(fd);
    throw error;
  }
}
