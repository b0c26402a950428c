import fs from 'node:fs';
import type { Pool } from '../copy/pool.js';
import type { LayerSummary } from '../copy/provisioning.js';
import type { LayerSource } from '../core/errors.js';
import { type CancelFlag, type NativePolicy, native } from '../core/native.cjs';
import type { Progress, ResolvedProvisionOptions } from '../core/options.js';
import type { Changes } from '../core/rootless.js';
import type { PulledLayer } from '../registry/pull.js';
import { alongside, startDownloads } from '../registry/spool.js';
import { commit, nativeError, type Staging } from '../rootfs/staging.js';
import { RestartLayer } from './extract.js';
import { type ExtractedLayer, emptyDirectory, type TarLayer } from './layer.js';
import { extractOnPool } from './run.js';

/** What a provision's inputs tell the extraction (src/inputs.ts, TarInputs). */
export interface TarInputs {
  layers: readonly { tar?: TarLayer; source: LayerSource; download?: PulledLayer['download'] }[];
  rootfs: string;
  rootfsEmpty: boolean;
}

/**
 * Whether the image is one tar layer that can be extracted straight into
 * the staging directory: nothing to hide, nothing to merge, so the plan
 * would link every entry of its scratch directory into place and remove
 * the scratch directory (on a layer of 1M empty files, 5.8 of 10.7 s).
 * Not with an ID map (the copy out of a scratch directory applies it). A
 * layer being downloaded too (most base images are one layer): its spool
 * file stays in the scratch directory until the layer is extracted, so a
 * restart reads it again from there while the download goes on.
 */
export function extractsDirect(inputs: TarInputs, opts: ResolvedProvisionOptions): boolean {
  const [layer, ...rest] = inputs.layers;
  return rest.length === 0 && layer?.tar !== undefined && !opts.idMap;
}

/**
 * Extracts each tarball layer into its own directory of `scratch`, as tasks
 * of the pool (src/images/run.ts), and fills in its fd in layerFds. Its
 * root is 0755 unless the tar's "./" entry says more. With `direct`
 * (extractsDirect), the one layer goes into the staging directory itself
 * and comes back as `direct`; where that reader must stop (RestartLayer: a
 * directory of the layer replaced by another kind) the staging directory
 * is emptied and the layer extracted into scratch after all. Returns the
 * scratch directories' names, for their removal, and per layer the
 * directories no header described.
 */
export async function extractTars(run: {
  inputs: TarInputs;
  scratch: Staging;
  staging: Staging;
  direct: boolean;
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
  // Started once: a restart of the direct extraction reads the same spool files again.
  const downloads = run.inputs.layers.some((layer) => layer.download) ? startDownloads(run.inputs.layers, run.scratch.fd, run.maxDownloads) : undefined;
  try {
    await downloads?.ready;
  } catch (error) {
    await downloads?.close();
    throw error;
  }
  const stop = { cancel: run.cancel, abortPull: run.abortPull };
  if (run.direct) {
    try {
      const attempt = extractAll(run, true, downloads);
      const { implied, ms, extracted } = downloads ? await alongside(downloads.done, attempt, stop, (e) => e instanceof RestartLayer) : await attempt;
      return { names: [], implied, ms, direct: extracted[0] };
    } catch (error) {
      if (!(error instanceof RestartLayer)) throw error;
      try {
        emptyDirectory(run.staging.fd, run.inputs.layers[0].tar?.label ?? '');
      } catch (failure) {
        // The downloads a restart would have read stop with it: none outlives the provision.
        if (downloads) {
          run.abortPull();
          await downloads.done.catch(() => undefined);
        }
        throw failure;
      }
    }
  }
  const attempt = extractAll(run, false, downloads);
  return downloads ? alongside(downloads.done, attempt, stop) : attempt;
}

async function extractAll(run: Parameters<typeof extractTars>[0], direct: boolean, downloads: ReturnType<typeof startDownloads> | undefined) {
  const { inputs, scratch, layerFds } = run;
  const jobs: { tar: TarLayer; root: number; layerIndex: number; source: LayerSource; direct: boolean }[] = [];
  const names: string[] = [];
  inputs.layers.forEach(({ tar, source }, i) => {
    if (!tar) return;
    if (direct) {
      jobs.push({ tar, root: run.staging.fd, layerIndex: i, source, direct });
      return;
    }
    const name = String(i);
    names.push(name);
    const made = native.makeDir(scratch.fd, name);
    if (made) throw nativeError(made, inputs.rootfs, `extract ${tar.label}`);
    const opened = native.openDir(scratch.fd, name);
    if (!('fd' in opened)) throw nativeError(opened, inputs.rootfs, `extract ${tar.label}`);
    layerFds[i] = opened.fd;
    fs.fchmodSync(opened.fd, 0o755);
    jobs.push({ tar, root: opened.fd, layerIndex: i, source, direct });
  });
  const { implied, ms, extracted } = await extractOnPool(run.pool, jobs, {
    cancel: run.cancel,
    signal: run.signal,
    layers: inputs.layers.length,
    onProgress: run.onProgress,
    shareClaims: run.shareClaims,
    onDone: downloads?.discard,
    downloaded: downloads?.downloaded,
    ...run.rootless,
  });
  return { names, implied, ms, extracted };
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
