import fs from 'node:fs';
import type { Pool } from './copy/pool.js';
import { COUNT_KEYS, type Counts, type LayerSummary, Provisioning } from './copy/provisioning.js';
import { abortError, asLayercopyError, LayercopyError } from './core/errors.js';
import { hostId } from './core/id-map.js';
import { type CancelFlag, native } from './core/native.cjs';
import { type ProvisionOptions, type ResolvedProvisionOptions, type Strategy, validateProvisionOptions } from './core/options.js';
import { ProgressGuard } from './core/progress-guard.js';
import { Changes, type RootlessSummary } from './core/rootless.js';
import { Stopwatch, type Timings } from './core/stopwatch.js';
import type { ExtractedLayer } from './images/layer.js';
import type { ImageSummary } from './images/oci.js';
import { type ResolvedInputs, resolveInputs, type StoreSummary } from './inputs.js';
import { Layers, type PreparedLayer } from './layers.js';
import { removeInWorker } from './rootfs/remove.js';
import { commit, createStaging, openParent, removeStale, type Staging } from './rootfs/staging.js';
import { applyLayered } from './strategies/layered.js';
import { applyMerged } from './strategies/merged.js';

export type { LayerSummary } from './copy/provisioning.js';

export interface ProvisionSummary extends Counts, Partial<StoreSummary> {
  rootfs: string;
  layers: number;
  /** How the layers were applied (options.strategy). */
  strategy: Strategy;
  /** Milliseconds per phase, disjoint: they add up to totalMs (src/core/stopwatch.ts). */
  timings: Timings;
  perLayer: LayerSummary[];
  /**
   * Staging directories of this ROOTFS left by provisions that were killed
   * (SIGKILL, a second Ctrl-C, power loss), removed before building: paths.
   */
  staleRemoved: string[];
  rootless: RootlessSummary;
  /** Each image argument read through a manifest (oci:, oci-archive:, docker://; a docker-archive has none, and no entry): the reference as given, the manifest provisioned (its platform's, for an index) and that platform. */
  images: ImageSummary[];
}

/** Provisions ROOTFS from LAYERS using an existing pool (see CopyBackend). */
export async function provisionWith(pool: Pool, layers: readonly string[], rootfs: string, options: ProvisionOptions = {}): Promise<ProvisionSummary> {
  const guard = new ProgressGuard(options);
  let summary: ProvisionSummary;
  try {
    summary = await provisionChecked(pool, layers, rootfs, guard.options);
  } catch (error) {
    // Every failure is a LayercopyError with a code (docs/errors.md), a raw fs error from this side too.
    throw asLayercopyError(guard.told(error, `provision ${rootfs}`), `provision ${rootfs}`);
  }
  const failed = guard.failure(`provision ${rootfs}`, true);
  if (failed) throw failed;
  return summary;
}

async function provisionChecked(pool: Pool, layers: readonly string[], rootfs: string, options: ProvisionOptions): Promise<ProvisionSummary> {
  const clock = new Stopwatch();
  const opts = validateProvisionOptions(options);
  if (!native.hasOpenat2()) {
    // Without openat2 a symlinked parent could redirect writes out of the
    // rootfs; the old O_NOFOLLOW-on-the-last-component fallback was removed.
    throw new LayercopyError('layercopy needs Linux 5.6 or later (openat2 with RESOLVE_BENEATH); this kernel lacks it', {
      code: 'ERR_UNSUPPORTED_KERNEL',
      syscall: 'openat2',
    });
  }
  // Stops a pull's requests: the caller's abort, or a failure of the provision.
  const pullAbort = new AbortController();
  const pullSignal = opts.signal ? AbortSignal.any([opts.signal, pullAbort.signal]) : pullAbort.signal;
  // One registry image among the LAYERs: its first blobs are asked for as its manifest is read (src/registry/pull.ts);
  // with several, each would ask for --max-downloads at once.
  const oneImage = Array.isArray(layers) && layers.filter((l) => typeof l === 'string' && l.startsWith('docker://')).length === 1;
  const inputs = await resolveInputs(layers, rootfs, {
    platform: opts.platform,
    pull: { ...opts.registry, signal: pullSignal, requestAhead: oneImage ? opts.maxDownloads : 0 },
    store: { opts, pool, clock },
  });
  try {
    return { ...(await provisionResolved(pool, inputs, opts, clock, pullAbort)), ...(inputs.store ? { store: inputs.store } : {}) };
  } finally {
    pullAbort.abort();
    await inputs.close();
  }
}

async function provisionResolved(pool: Pool, inputs: ResolvedInputs, opts: ResolvedProvisionOptions, clock: Stopwatch, pullAbort: AbortController): Promise<ProvisionSummary> {
  if (opts.signal?.aborted) throw abortError(opts.signal.reason);
  const cancel: CancelFlag = new Int32Array(new SharedArrayBuffer(4));
  const onAbort = () => Atomics.store(cancel, 0, 1);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const layers = new Layers(inputs);
  let parentFd = -1;
  let staging: Staging | undefined;
  const changes = new Changes();
  // A store's layer was extracted before: what the policy changed then is
  // counted as if it were extracted now (a user would otherwise not be told
  // that the devices of a warm store's layer are empty files).
  for (const layer of inputs.layers) changes.add(layer.changes);
  try {
    // A pull's first blob requests go out now, answered while the directories are made and the extraction's code loads.
    if (inputs.layers.some((layer) => layer.request)) (await import('./registry/download-order.js')).requestEarly(inputs.layers, opts.maxDownloads);
    parentFd = openParent(inputs.rootfs, inputs.parent);
    const staleRemoved = await removeStale(parentFd, inputs.rootfs, { strict: false });
    staging = createStaging(parentFd, inputs.rootfs);
    clock.lap('resolve');
    if (await layers.extract(inputs, { parentFd, staging, pool, cancel, opts, changes, abortPull: () => pullAbort.abort() })) clock.lap('extract');
    let summary: ProvisionSummary;
    if (inputs.layers.length === 0) {
      // Images of no layers (a scratch image): an empty rootfs, 0755 and root's (mapped), as umoci unpacks one (the walk failed in the native helper).
      if (opts.signal?.aborted) throw abortError(opts.signal.reason);
      fs.fchmodSync(staging.fd, 0o755);
      chownToRoot(staging.fd, opts);
      commit(staging, inputs.rootfs, { overEmpty: inputs.rootfsEmpty });
      clock.lap('commit');
      summary = summarize(inputs, opts, [], { timings: clock.timings, staleRemoved, rootless: changes.summary(opts.rootless) });
      opts.onProgress?.({ phase: 'done', layerIndex: 0, layers: 0, layer: '', entries: 0, bytes: 0 });
    } else if (layers.direct) {
      const { commitDirect } = await import('./images/extract-all.js');
      // As build() does before its commit: an abort asked meanwhile (a progress callback's exception) commits nothing.
      if (opts.signal?.aborted) throw abortError(opts.signal.reason);
      const layer = commitDirect({ inputs, staging, extracted: layers.direct, extractMs: layers.layers[0].extractMs });
      clock.lap('commit');
      summary = summarize(inputs, opts, [layer], { timings: clock.timings, staleRemoved, rootless: changes.summary(opts.rootless) });
      // No copy ran to count it: the "done" event every provision ends with
      // (the CLI ignores signals from it on, the rootfs being committed).
      opts.onProgress?.({ phase: 'done', layerIndex: 0, layers: 1, layer: layers.layers[0].label, entries: summary.entries, bytes: summary.bytes });
    } else {
      summary = await build({ pool, inputs, layers: layers.layers, base: layers.base, staging, opts, cancel, staleRemoved, clock, changes });
      layers.layers.forEach((layer, i) => {
        if (layer.extractMs !== undefined) summary.perLayer[i].extractMs = layer.extractMs;
      });
    }
    await layers.cleanup(pool, parentFd);
    clock.lap('cleanup');
    summary.timings = clock.stop();
    return summary;
  } catch (error) {
    // The provision's own cancel flag may be set (an abort): the removal
    // gets none, the staging directory must go all the same; a second
    // Ctrl-C stops it through native.shutdown(). A failure here is reported
    // through the original error: a later provision or destroy removes the
    // stale staging directory (its pid will be gone). The layers are
    // released first: their directories closed, fds free for the removal.
    await layers.release(parentFd);
    if (staging) await removeInWorker(parentFd, staging.name, true).catch(() => null);
    throw error;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    // A failure: the scratch extractions go with the staging directory.
    await layers.release(parentFd);
    if (staging) fs.closeSync(staging.fd);
    if (parentFd >= 0) fs.closeSync(parentFd);
  }
}

async function build(run: {
  pool: Pool;
  inputs: ResolvedInputs;
  layers: readonly PreparedLayer[];
  /** The lowest layer, already in the staging directory (Layers.base). */
  base?: ExtractedLayer;
  staging: Staging;
  opts: ResolvedProvisionOptions;
  cancel: CancelFlag;
  staleRemoved: string[];
  clock: Stopwatch;
  changes: Changes;
}): Promise<ProvisionSummary> {
  const { inputs, staging, opts } = run;
  const p = new Provisioning({
    pool: run.pool,
    contexts: run.layers.map((layer, layerIndex) => ({ layer: layer.label, dir: layer.dir, layerIndex, rootfs: inputs.rootfs, source: layer.source })),
    layerFds: run.layers.map((layer) => layer.fd),
    movable: run.layers.map((layer) => layer.movable),
    implied: run.layers.map((layer) => layer.implied),
    staging,
    opts,
    cancel: run.cancel,
    clock: run.clock,
    changes: run.changes,
  });
  if (run.base) {
    // What the base wrote, as a one-layer image counts it; the layers above
    // count as 'layered' counts. Counted through the totals progress reports:
    // the "done" event's equal the summary's.
    const { entries, bytes, directories, hardlinks } = run.base.tree;
    Object.assign(p.perLayer[0], { directories, hardlinks });
    p.count(0, entries, bytes);
    await applyLayered(p, 1);
  } else if (opts.strategy === 'layered') await applyLayered(p);
  else await applyMerged(p);
  // The layers may have been applied on this thread from start to end (no
  // worker started: src/copy/dispatch.ts), the event loop never turning: a
  // signal that came meanwhile is handled now, before the commit, not after
  // it (a Ctrl-C then ignored, exit 0). Two turns: the second passes
  // through the poll phase, where a signal is seen.
  for (let turn = 0; turn < 2; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
  if (opts.signal?.aborted) throw abortError(opts.signal.reason);
  // The root stays 0700 while it is built; it takes the mode of the layer
  // its metadata comes from (the last, as cp -aT gives it, unless that is a
  // tar without a "./" entry) only now, just before it becomes visible. Read
  // from the layer's fd: a layer path swapped for a symlink cannot lend its mode.
  fs.fchmodSync(staging.fd, native.metaMode(p.policyFor(p.rootLayer), fs.fstatSync(run.layers[p.rootLayer].fd).mode & 0o7777));
  commit(staging, inputs.rootfs, { overEmpty: inputs.rootfsEmpty });
  run.clock.lap('commit');
  const summary = summarize(inputs, opts, p.perLayer, { timings: p.clock.timings, staleRemoved: run.staleRemoved, rootless: p.changes.summary(opts.rootless) });
  p.done();
  return summary;
}

/** An empty rootfs's root, container root's: through the ID map (root:root outside every range fails, as a layer's root would). */
function chownToRoot(fd: number, opts: ResolvedProvisionOptions): void {
  if (!opts.idMap) return;
  const [uid, gid] = [hostId(opts.idMap.uid, 0), hostId(opts.idMap.gid, 0)];
  if (uid === undefined || gid === undefined) {
    throw new LayercopyError(`the rootfs's root (owner 0:0) is outside every --${uid === undefined ? 'uid' : 'gid'}-map range`, { code: 'ERR_UNMAPPED_ID' });
  }
  fs.fchownSync(fd, uid, gid);
}

/** The summary of a provision whose layers' counts are `perLayer`. */
function summarize(
  inputs: ResolvedInputs,
  opts: ResolvedProvisionOptions,
  perLayer: LayerSummary[],
  rest: Pick<ProvisionSummary, 'timings' | 'staleRemoved' | 'rootless'>,
): ProvisionSummary {
  const counts = { entries: 0, bytes: 0, directories: 0, hardlinks: 0, whiteouts: 0, replaced: 0 };
  const summary: ProvisionSummary = {
    rootfs: inputs.rootfs,
    layers: inputs.layers.length,
    strategy: opts.strategy,
    ...counts,
    timings: rest.timings,
    perLayer,
    staleRemoved: rest.staleRemoved,
    rootless: rest.rootless,
    images: inputs.images,
  };
  for (const layer of perLayer) for (const key of COUNT_KEYS) summary[key] += layer[key];
  return summary;
}
