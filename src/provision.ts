import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { LayerTasks } from './dispatch.js';
import { abortError, fromFailure, LayercopyError, type LayerContext } from './errors.js';
import { resolveInputs } from './inputs.js';
import { native, type CancelFlag, type CopyResult } from './native.cjs';
import { validateProvisionOptions, type ProvisionOptions, type ResolvedProvisionOptions } from './options.js';
import { joinRel } from './paths.js';
import { DirTable, walkLayer } from './plan.js';
import type { Pool, Task } from './pool.js';
import { removeInWorker } from './remove.js';
import { commit, createStaging, openParent, staleStagings, type Staging } from './staging.js';

export interface LayerSummary {
  layer: string;
  /** Entries written: files, symlinks, special files, hardlinks and directories (the root excluded). */
  entries: number;
  bytes: number;
  directories: number;
  hardlinks: number;
  /** Whiteout and opaque markers that removed lower content. */
  whiteouts: number;
  /** Lower entries replaced by an entry of another kind or by a non-directory. */
  replaced: number;
  ms: number;
}

export interface ProvisionSummary {
  rootfs: string;
  layers: number;
  entries: number;
  bytes: number;
  directories: number;
  hardlinks: number;
  whiteouts: number;
  replaced: number;
  /**
   * Milliseconds per phase. plan: main-thread walking, planning and removals;
   * copy: from a layer's first task to its barrier (overlaps plan); metadata:
   * hardlinks and directory metadata after each barrier; commit: the rename.
   */
  timings: { planMs: number; copyMs: number; metadataMs: number; commitMs: number; totalMs: number };
  perLayer: LayerSummary[];
}

type Totals = { entries: number; bytes: number };

/** What one layer's application needs: where to read, where to write, how to stop. */
interface LayerRun {
  pool: Pool;
  ctx: LayerContext;
  layerCount: number;
  /** The layer directory, opened once (O_NOFOLLOW): never re-resolved by path. */
  layerFd: number;
  staging: Staging;
  hasLower: boolean;
  opts: ResolvedProvisionOptions;
  cancel: CancelFlag;
  totals: Totals;
  timings: ProvisionSummary['timings'];
}

/** Opens each layer once; a layer swapped for a symlink after the checks fails here (ELOOP), not later. */
function openLayers(layers: string[]): number[] {
  const fds: number[] = [];
  try {
    for (let i = 0; i < layers.length; i++) {
      try {
        fds.push(fs.openSync(layers[i], fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW));
      } catch (error) {
        const e = error as NodeJS.ErrnoException;
        throw new LayercopyError(`layer ${i + 1} (${layers[i]}): cannot open: ${e.code}${e.code === 'ELOOP' ? ' (it became a symbolic link)' : ''}`, {
          code: e.code ?? 'ERR_INVALID_ARGUMENT',
          layer: layers[i],
          layerIndex: i,
          path: layers[i],
          syscall: 'open',
          errno: e.errno,
          cause: error,
        });
      }
    }
    return fds;
  } catch (error) {
    for (const fd of fds) fs.closeSync(fd);
    throw error;
  }
}

/** Provisions ROOTFS from LAYERS using an existing pool (see CopyBackend). */
export async function provisionWith(
  pool: Pool,
  layers: readonly string[],
  rootfs: string,
  options: ProvisionOptions = {},
): Promise<ProvisionSummary> {
  const started = performance.now();
  const opts = validateProvisionOptions(options);
  if (!native.hasOpenat2()) {
    // Without openat2 a symlinked parent could redirect writes out of the
    // rootfs; the old O_NOFOLLOW-on-the-last-component fallback was removed.
    throw new LayercopyError('layercopy needs Linux 5.6 or later (openat2 with RESOLVE_BENEATH); this kernel lacks it', {
      code: 'ERR_UNSUPPORTED_KERNEL',
      syscall: 'openat2',
    });
  }
  const inputs = resolveInputs(layers, rootfs);
  if (opts.signal?.aborted) throw abortError(opts.signal.reason);
  const cancel: CancelFlag = new Int32Array(new SharedArrayBuffer(4));
  const onAbort = () => Atomics.store(cancel, 0, 1);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const layerFds = openLayers(inputs.layers);
  let parentFd = -1;
  let staging: Staging | undefined;
  try {
    parentFd = openParent(inputs.rootfs);
    for (const stale of staleStagings(parentFd, inputs.rootfs)) await removeInWorker(parentFd, stale, true);
    staging = createStaging(parentFd, inputs.rootfs);
    const summary = await build({ pool, inputs, layerFds, staging, opts, cancel });
    summary.timings.totalMs = performance.now() - started;
    return summary;
  } catch (error) {
    // The provision's own cancel flag may be set (an abort): the removal
    // gets none, the staging directory must go all the same; a second
    // Ctrl-C stops it through native.shutdown(). A failure here is reported
    // through the original error: a later provision or destroy removes the
    // stale staging directory (its pid will be gone).
    if (staging) await removeInWorker(parentFd, staging.name, true).catch(() => null);
    throw error;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    if (staging) fs.closeSync(staging.fd);
    if (parentFd >= 0) fs.closeSync(parentFd);
    for (const fd of layerFds) fs.closeSync(fd);
  }
}

async function build(run: {
  pool: Pool;
  inputs: { layers: string[]; rootfs: string };
  layerFds: number[];
  staging: Staging;
  opts: ResolvedProvisionOptions;
  cancel: CancelFlag;
}): Promise<ProvisionSummary> {
  const { inputs, staging, opts } = run;
  const summary: ProvisionSummary = {
    rootfs: inputs.rootfs,
    layers: inputs.layers.length,
    entries: 0,
    bytes: 0,
    directories: 0,
    hardlinks: 0,
    whiteouts: 0,
    replaced: 0,
    timings: { planMs: 0, copyMs: 0, metadataMs: 0, commitMs: 0, totalMs: 0 },
    perLayer: [],
  };
  const totals: Totals = { entries: 0, bytes: 0 };
  for (let i = 0; i < inputs.layers.length; i++) {
    const layer = await applyLayer({
      pool: run.pool,
      ctx: { layer: inputs.layers[i], layerIndex: i, rootfs: inputs.rootfs },
      layerCount: inputs.layers.length,
      layerFd: run.layerFds[i],
      staging,
      hasLower: i > 0,
      opts,
      cancel: run.cancel,
      totals,
      timings: summary.timings,
    });
    summary.perLayer.push(layer);
    for (const key of ['entries', 'bytes', 'directories', 'hardlinks', 'whiteouts', 'replaced'] as const) {
      summary[key] += layer[key];
    }
  }
  if (opts.signal?.aborted) throw abortError(opts.signal.reason);
  const commitStart = performance.now();
  // The root stays 0700 while it is built; it takes the last layer's mode
  // (as cp -aT gives it) only now, just before it becomes visible. Read from
  // the layer's fd: a layer path swapped for a symlink cannot lend its mode.
  const last = fs.fstatSync(run.layerFds[run.layerFds.length - 1]);
  let mode = last.mode & 0o7777;
  if (!native.isRoot() && last.uid !== process.geteuid?.()) mode &= ~0o6000;
  fs.fchmodSync(staging.fd, mode);
  commit(staging, inputs.rootfs);
  summary.timings.commitMs = performance.now() - commitStart;
  return summary;
}

async function applyLayer(run: LayerRun): Promise<LayerSummary> {
  const { ctx, opts, totals, timings } = run;
  const layerStart = performance.now();
  const summary: LayerSummary = {
    layer: ctx.layer, entries: 0, bytes: 0, directories: 0, hardlinks: 0, whiteouts: 0, replaced: 0, ms: 0,
  };
  const count = (entries: number, bytes: number) => {
    summary.entries += entries;
    summary.bytes += bytes;
    totals.entries += entries;
    totals.bytes += bytes;
    opts.onProgress?.({ layerIndex: ctx.layerIndex, layers: run.layerCount, layer: ctx.layer, entries: totals.entries, bytes: totals.bytes });
  };
  const tasks = new LayerTasks(run.pool, ctx, opts.signal);

  const copyStart = performance.now();
  const { dirs, deferred } = await copyPhase(run, tasks, summary, count);
  await tasks.barrier();
  timings.copyMs += performance.now() - copyStart;

  const metaStart = performance.now();
  if (deferred.size > 0) summary.hardlinks = await deferredPhase(run, tasks, deferred, count);
  // Directory metadata last: after every write and removal of this layer,
  // so the times are the layer's (the Mesos backend's marker deletions
  // bumped them).
  const src = run.layerFd;
  const dst = run.staging.fd;
  for (let i = 0; i < dirs.size && !tasks.stopped; i += opts.batchSize) {
    const end = Math.min(dirs.size, i + opts.batchSize);
    let base = i;
    for (let j = i + 1; j < end; j++) base = dirs.common(base, j);
    const rels: string[] = [];
    for (let j = i; j < end; j++) rels.push(dirs.relFrom(j, base));
    await tasks.submit({ op: 'meta', src, dst, base: dirs.rel(base), rels, keepRootMode: true, cancel: run.cancel }, 'set directory metadata');
  }
  await tasks.barrier();
  summary.directories = dirs.size - 1;
  count(summary.directories, 0);
  timings.metadataMs += performance.now() - metaStart;
  summary.ms = performance.now() - layerStart;
  return summary;
}

/**
 * Walks the layer, applies each directory's removals and creates its
 * subdirectories on this thread, and submits the other entries in batches.
 * Returns the layer's directories (for their metadata) and the entries the
 * workers handed back (by "T:dev:ino" for names of hardlink groups, under
 * "large" for big files), which wait for the barrier.
 */
async function copyPhase(
  run: LayerRun,
  tasks: LayerTasks,
  summary: LayerSummary,
  count: (entries: number, bytes: number) => void,
): Promise<{ dirs: DirTable; deferred: Map<string, string[]> }> {
  const { ctx, timings } = run;
  const dirs = new DirTable();
  const deferred = new Map<string, string[]>();
  const staging = run.staging.fd;
  const onCopied = (r: CopyResult) => {
    count(r.done, r.bytes);
    for (let i = 0; i < r.deferred.length; i += 2) {
      const group = deferred.get(r.deferred[i + 1]);
      if (group) group.push(r.deferred[i]);
      else deferred.set(r.deferred[i + 1], [r.deferred[i]]);
    }
  };
  // The batch being filled: each entry's directory (DirTable index) and name.
  let batchDirs: number[] = [];
  let batchNames: string[] = [];
  let types = '';
  const flush = async () => {
    if (batchNames.length === 0) return;
    let base = batchDirs[0];
    for (let i = 1; i < batchDirs.length; i++) if (batchDirs[i] !== batchDirs[i - 1]) base = dirs.common(base, batchDirs[i]);
    const rels = batchNames.map((name, i) => joinRel(dirs.relFrom(batchDirs[i], base), name));
    const task: Task = { op: 'copy', src: run.layerFd, dst: staging, base: dirs.rel(base), rels, types, defer: true, cancel: run.cancel };
    batchDirs = [];
    batchNames = [];
    types = '';
    await tasks.submit(task, 'copy', onCopied);
  };
  try {
    let t = performance.now();
    for (const { index, rel, plan } of walkLayer(ctx, run.layerFd, staging, run.hasLower, dirs)) {
      for (const name of plan.removals) {
        const failure = native.removeEntry(staging, joinRel(rel, name), false, run.cancel);
        if (failure) throw fromFailure(failure, ctx, 'remove');
      }
      summary.whiteouts += plan.whiteouts;
      summary.replaced += plan.replaced;
      for (const sub of plan.subdirs) {
        if (sub.merge) continue;
        const failure = native.makeDir(staging, joinRel(rel, sub.name));
        if (failure) throw fromFailure(failure, ctx, 'create directory');
      }
      for (const copy of plan.copies) {
        batchDirs.push(index);
        batchNames.push(copy.name);
        types += copy.type;
        if (batchNames.length >= run.opts.batchSize) {
          timings.planMs += performance.now() - t;
          await flush();
          t = performance.now();
        }
      }
      if (tasks.stopped) break;
    }
    timings.planMs += performance.now() - t;
    if (!tasks.stopped) await flush();
  } catch (error) {
    tasks.fail(error);
  }
  return { dirs, deferred };
}

/**
 * Copies the entries the workers handed back: each big file as a task of
 * its own (so several copy at once) and one name of each hardlink group
 * (files, symlinks, FIFOs, devices alike); then links the other names to it
 * (cp -a keeps hardlinks). Returns the number of links made.
 */
async function deferredPhase(
  run: LayerRun,
  tasks: LayerTasks,
  deferred: Map<string, string[]>,
  count: (entries: number, bytes: number) => void,
): Promise<number> {
  const { batchSize } = run.opts;
  const large = deferred.get('large') ?? [];
  deferred.delete('large');
  const firsts: string[] = [];
  let firstTypes = '';
  const pairs: string[] = [];
  for (const [key, group] of deferred) {
    firsts.push(group[0]);
    firstTypes += key[0];
    for (let i = 1; i < group.length; i++) pairs.push(group[0], group[i]);
  }
  const copy = (rels: string[], types: string): Task => ({ op: 'copy', src: run.layerFd, dst: run.staging.fd, base: '', rels, types, defer: false, cancel: run.cancel });
  const onCopied = (r: CopyResult) => count(r.done, r.bytes);
  for (let i = 0; i < large.length && !tasks.stopped; i++) await tasks.submit(copy([large[i]], 'f'), 'copy', onCopied);
  for (let i = 0; i < firsts.length && !tasks.stopped; i += batchSize) {
    await tasks.submit(copy(firsts.slice(i, i + batchSize), firstTypes.slice(i, i + batchSize)), 'copy', onCopied);
  }
  await tasks.barrier();
  for (let i = 0; i < pairs.length && !tasks.stopped; i += batchSize * 2) {
    await tasks.submit({ op: 'link', dst: run.staging.fd, rels: pairs.slice(i, i + batchSize * 2) }, 'hardlink', (r) => count(r.done, 0));
  }
  await tasks.barrier();
  return pairs.length / 2;
}
