import fs from 'node:fs';
import path from 'node:path';
import type { Pool } from '../copy/pool.js';
import type { LayerSummary } from '../copy/provisioning.js';
import type { LayerSource } from '../core/errors.js';
import { type CancelFlag, type NativeFailure, type NativePolicy, native } from '../core/native.cjs';
import type { Progress, ResolvedProvisionOptions } from '../core/options.js';
import type { Changes } from '../core/rootless.js';
import type { PulledLayer } from '../registry/pull.js';
import { alongside, startDownloads } from '../registry/spool.js';
import { commit, nativeError, type Staging } from '../rootfs/staging.js';
import { type ExtractedLayer, emptyDirectory, type TarLayer } from './layer.js';
import { extractOnPool, layerSize } from './run.js';

/** What a provision's inputs tell the extraction (src/inputs.ts, TarInputs). */
export interface TarInputs {
  layers: readonly { tar?: TarLayer; source: LayerSource; download?: PulledLayer['download'] }[];
  rootfs: string;
  rootfsEmpty: boolean;
}

/**
 * Whether the lowest layer is extracted straight into the staging
 * directory, and how: 'one', the image is that one tar layer: nothing to
 * hide, nothing to merge, so the plan would link every entry of its scratch
 * directory into place and remove the scratch directory (on a layer of 1M
 * empty files, 5.8 of 10.7 s). 'base', a tar layer under others: the
 * layers above are extracted into scratch as before and applied over it
 * one by one (applyLayered, src/strategies/layered.ts), so that only what they hold
 * is walked, linked and removed (a 3-file layer over a 700k-file one
 * took 5.7 s against 1.95 s for the big layer alone). Only where the base
 * holds at least as many bytes as the tar layers above together: applied
 * one by one, layers that rewrite much of the base cost more than the
 * merged plan saves (on a Debian image whose 130 MB second layer
 * reinstalls the base's packages: walk, copy and metadata 101 against
 * 87 ms). Neither with an ID
 * map (the copy out of a scratch directory applies it); 'base' only as
 * root, with 'merged' (root writes into the base's directories whatever
 * their modes; 'layered' copies each layer in full by design). A layer
 * being downloaded too: its spool file stays in the scratch directory
 * until the layer is extracted, so a restart reads it again from there
 * while the download goes on.
 */
export function extractsDirect(inputs: TarInputs, opts: ResolvedProvisionOptions): 'one' | 'base' | undefined {
  const [layer, ...rest] = inputs.layers;
  if (layer?.tar === undefined || opts.idMap) return undefined;
  if (rest.length === 0) return 'one';
  if (opts.strategy !== 'merged' || !native.isRoot()) return undefined;
  const force = process.env.LAYERCOPY_BASE_DIRECT;
  if (force === '0') return undefined;
  const above = rest.reduce((sum, l) => sum + (l.tar ? layerSize(l.tar) : 0), 0);
  return force === '1' || layerSize(layer.tar) >= above ? 'base' : undefined;
}

/**
 * Extracts each tarball layer into its own directory of `scratch`, as tasks
 * of the pool (src/images/run.ts), and fills in its fd in layerFds. Its
 * root is 0755 unless the tar's "./" entry says more. With `direct`
 * (extractsDirect), the lowest layer goes into the staging directory itself
 * and comes back as `direct`; where that reader must stop (RestartLayer: a
 * directory of the layer replaced by another kind) the staging directory
 * is emptied and that layer extracted into scratch after all, the others
 * going on meanwhile. Returns the scratch directories' names, for their
 * removal, and per layer the directories no header described.
 */
export async function extractTars(run: {
  inputs: TarInputs;
  scratch: Staging;
  staging: Staging;
  direct: 'one' | 'base' | undefined;
  layerFds: number[];
  pool: Pool;
  cancel: CancelFlag;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  /** Hidden files get no data (merged only: the layered method copies every layer in full, and says so in its byte counts). */
  shareClaims: boolean;
  maxDownloads: number;
  abortPull: () => void;
  rootless: { policy: NativePolicy; changes: Changes };
}): Promise<{ names: string[]; implied: (ReadonlySet<string> | undefined)[]; ms: (number | undefined)[]; direct?: ExtractedLayer }> {
  // A fallback of the direct extraction reads the same spool file again.
  const downloads = run.inputs.layers.some((layer) => layer.download) ? startDownloads(run.inputs.layers, run.scratch.fd, run.maxDownloads) : undefined;
  try {
    await downloads?.ready;
  } catch (error) {
    await downloads?.close();
    throw error;
  }
  // Two turns of the event loop: the blob requests' connections (on
  // loopback) are made and the requests sent before the pool's start holds
  // this thread (20-40 ms); a slower connection then opens while it does.
  // A download failing meanwhile is told by `alongside`, not as an unhandled rejection.
  downloads?.done.catch(() => undefined);
  if (downloads) for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
  const attempt = extractAll(run, downloads);
  return downloads ? alongside(downloads.done, attempt, { cancel: run.cancel, abortPull: run.abortPull }) : attempt;
}

async function extractAll(run: Parameters<typeof extractTars>[0], downloads: ReturnType<typeof startDownloads> | undefined) {
  const { inputs, scratch, layerFds } = run;
  const jobs: { tar: TarLayer; root: number; layerIndex: number; source: LayerSource; direct: boolean }[] = [];
  const names: string[] = [];
  const scratchDir = (i: number, label: string): number => {
    const name = String(i);
    names.push(name);
    const { source } = inputs.layers[i];
    // Named in the scratch directory (not beside the rootfs), with the argument the layer came from.
    const fail = (f: NativeFailure) =>
      Object.assign(nativeError(f, inputs.rootfs, `extract ${label}`, scratchPath(inputs.rootfs, scratch)), { layer: source.arg, layerIndex: source.argIndex });
    const made = native.makeDir(scratch.fd, name);
    if (made) throw fail(made);
    const opened = native.openDir(scratch.fd, name);
    if (!('fd' in opened)) throw fail(opened);
    layerFds[i] = opened.fd;
    fs.fchmodSync(opened.fd, 0o755);
    return opened.fd;
  };
  inputs.layers.forEach(({ tar, source }, i) => {
    if (!tar) return;
    const direct = run.direct !== undefined && i === 0;
    jobs.push({ tar, root: direct ? run.staging.fd : scratchDir(i, tar.label), layerIndex: i, source, direct });
  });
  const { implied, ms, extracted, direct } = await extractOnPool(run.pool, jobs, {
    cancel: run.cancel,
    signal: run.signal,
    layers: inputs.layers.length,
    onProgress: run.onProgress,
    shareClaims: run.shareClaims,
    here: run.direct === 'one' && process.env.LAYERCOPY_EXTRACT_HERE !== '0',
    onDone: downloads?.discard,
    downloaded: downloads?.downloaded,
    fallback: (i, label) => {
      emptyDirectory(run.staging.fd, label);
      return scratchDir(i, label);
    },
    ...run.rootless,
  });
  return { names, implied, ms, direct: direct.has(0) ? extracted[0] : undefined };
}

/**
 * The staging directory holds the one layer, extracted straight into it
 * (extractsDirect): the root takes the mode its "./" header gave (0755
 * without one, as a scratch directory's), and the tree is renamed into
 * place. Returns the layer's summary, counted as the plan counts a layer.
 */
export function commitDirect(run: { inputs: TarInputs; staging: Staging; extracted: ExtractedLayer; extractMs?: number }): LayerSummary {
  const { inputs, staging, extracted } = run;
  fs.fchmodSync(staging.fd, extracted.rootMode & 0o7777);
  commit(staging, inputs.rootfs, { overEmpty: inputs.rootfsEmpty });
  const { arg, digest, diffId } = inputs.layers[0].source;
  const { entries, bytes, directories, hardlinks } = extracted.tree;
  return {
    layer: arg,
    ...(digest ? { digest } : {}),
    ...(diffId ? { diffId } : {}),
    entries,
    bytes,
    directories,
    hardlinks,
    whiteouts: 0,
    replaced: 0,
    ...(run.extractMs === undefined ? {} : { extractMs: run.extractMs }),
  };
}

/**
 * The base layer is in the staging directory (extractsDirect 'base'), and
 * the layers above will write into its directories. Where a layer above
 * has a directory no header described (`implied`), the base's keeps its
 * metadata, as umoci restores each parent's after writing into it; but by
 * then its times are gone. So before anything is applied, each such
 * directory of the base gets an empty twin in the scratch directory
 * `base`, carrying its owner, mode, xattrs and times (the root's mode:
 * `rootMode`, the mode the tar's "./" gave): the directory the plan copies
 * the base's directory metadata from. Returns its fd. A name that is not
 * a directory of the base (a later layer makes it) gets none.
 */
export function shadowBase(run: {
  staging: Staging;
  scratch: Staging;
  rootfs: string;
  label: string;
  rootMode: number;
  implied: readonly (ReadonlySet<string> | undefined)[];
}): number {
  const { staging, scratch, rootfs, label } = run;
  const fail = (f: NativeFailure) => nativeError(f, rootfs, `extract ${label}`);
  const made = native.makeDir(scratch.fd, 'base');
  if (made) throw fail(made);
  const opened = native.openDir(scratch.fd, 'base');
  if (!('fd' in opened)) throw fail(opened);
  const fd = opened.fd;
  try {
    const wanted = new Set<string>(['']);
    for (const set of run.implied.slice(1)) for (const rel of set ?? []) wanted.add(rel);
    const depth = (rel: string) => (rel === '' ? 0 : rel.split('/').length);
    const there = new Set<string>(['']);
    const rels: string[] = [];
    for (const rel of [...wanted].sort((a, b) => depth(a) - depth(b))) {
      if (rel !== '') {
        const dir = native.openDir(staging.fd, rel);
        if (!('fd' in dir)) continue;
        fs.closeSync(dir.fd);
        const parts = rel.split('/');
        for (let k = 1; k <= parts.length; k++) {
          const prefix = parts.slice(0, k).join('/');
          if (there.has(prefix)) continue;
          const failed = native.makeDir(fd, prefix);
          if (failed) throw fail(failed);
          there.add(prefix);
        }
      }
      rels.push(rel);
    }
    // Every twin made first: making one inside another would move its times.
    const r = native.dirMeta(staging.fd, fd, '', rels, true);
    if (r.failure) throw fail(r.failure);
    fs.fchmodSync(fd, run.rootMode & 0o7777);
    return fd;
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
}

/** The scratch directory's path, for messages (its name is the rootfs's bytes, held as latin1). */
const scratchPath = (rootfs: string, scratch: Staging) => path.join(path.dirname(rootfs), Buffer.from(scratch.name, 'latin1').toString());
