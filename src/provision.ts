import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { LayerTasks } from './dispatch.js';
import { abortError, fromFailure, type LayerContext } from './errors.js';
import { resolveInputs } from './inputs.js';
import { native, type CopyResult } from './native.cjs';
import { validateProvisionOptions, type ProvisionOptions, type ResolvedProvisionOptions } from './options.js';
import { joinRel } from './paths.js';
import { walkLayer } from './plan.js';
import type { Pool, Task } from './pool.js';
import { commit, createStaging, removeTree, staleStagings } from './staging.js';

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

/** Provisions ROOTFS from LAYERS using an existing pool (see CopyBackend). */
export async function provisionWith(
  pool: Pool,
  layers: readonly string[],
  rootfs: string,
  options: ProvisionOptions = {},
): Promise<ProvisionSummary> {
  const started = performance.now();
  const opts = validateProvisionOptions(options);
  const inputs = resolveInputs(layers, rootfs);
  if (opts.signal?.aborted) throw abortError(opts.signal.reason);
  for (const stale of staleStagings(inputs.rootfs)) removeTree(stale);
  const staging = createStaging(inputs.rootfs);
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
  try {
    for (let i = 0; i < inputs.layers.length; i++) {
      const ctx: LayerContext = { layer: inputs.layers[i], layerIndex: i, rootfs: inputs.rootfs };
      const layer = await applyLayer(pool, ctx, inputs.layers.length, staging, i > 0, opts, totals, summary.timings);
      summary.perLayer.push(layer);
      for (const key of ['entries', 'bytes', 'directories', 'hardlinks', 'whiteouts', 'replaced'] as const) {
        summary[key] += layer[key];
      }
    }
    if (opts.signal?.aborted) throw abortError(opts.signal.reason);
    const commitStart = performance.now();
    // The root stays 0700 while it is built; it takes the last layer's mode
    // (as cp -aT gives it) only now, just before it becomes visible.
    const last = fs.lstatSync(inputs.layers[inputs.layers.length - 1]);
    let mode = last.mode & 0o7777;
    if (!native.isRoot() && last.uid !== process.geteuid?.()) mode &= ~0o6000;
    fs.chmodSync(staging, mode);
    commit(staging, inputs.rootfs);
    summary.timings.commitMs = performance.now() - commitStart;
  } catch (error) {
    try {
      removeTree(staging);
    } catch {
      // Reported through the original error; a later provision or destroy
      // removes the stale staging directory (its pid will be gone).
    }
    throw error;
  }
  summary.timings.totalMs = performance.now() - started;
  return summary;
}

async function applyLayer(
  pool: Pool,
  ctx: LayerContext,
  layerCount: number,
  staging: string,
  hasLower: boolean,
  opts: ResolvedProvisionOptions,
  totals: Totals,
  timings: ProvisionSummary['timings'],
): Promise<LayerSummary> {
  const layerStart = performance.now();
  const summary: LayerSummary = {
    layer: ctx.layer, entries: 0, bytes: 0, directories: 0, hardlinks: 0, whiteouts: 0, replaced: 0, ms: 0,
  };
  const tasks = new LayerTasks(pool, ctx, opts.signal, (r) => {
    summary.bytes += r.bytes;
    summary.entries += r.done;
    totals.bytes += r.bytes;
    totals.entries += r.done;
    opts.onProgress?.({ layerIndex: ctx.layerIndex, layers: layerCount, layer: ctx.layer, entries: totals.entries, bytes: totals.bytes });
  });

  const copyStart = performance.now();
  const { dirs, deferred } = await copyPhase(tasks, ctx, staging, hasLower, opts.batchSize, summary, timings);
  await tasks.barrier();
  timings.copyMs += performance.now() - copyStart;

  const metaStart = performance.now();
  if (deferred.size > 0) summary.hardlinks = await deferredPhase(tasks, ctx, staging, opts.batchSize, deferred);
  // Directory metadata last: after every write and removal of this layer,
  // so the times are the layer's (the seed's marker deletions bumped them).
  summary.directories = dirs.length - 1;
  const noCount = (r: CopyResult) => {
    r.done = 0;
  };
  await tasks.submitAll(dirs, opts.batchSize, (r) => ({ op: 'meta', src: ctx.layer, dst: staging, rels: r, keepRootMode: true }), 'set directory metadata', noCount);
  await tasks.barrier();
  summary.entries += summary.directories;
  totals.entries += summary.directories;
  timings.metadataMs += performance.now() - metaStart;
  summary.ms = performance.now() - layerStart;
  return summary;
}

/**
 * Walks the layer, applies each directory's removals and creates its
 * subdirectories on this thread, and submits the other entries in batches.
 * Returns the layer's directories (for their metadata) and the regular files
 * the workers handed back (by "dev:ino" for multiply-linked files, under
 * "large" for big ones), which wait for the barrier.
 */
async function copyPhase(
  tasks: LayerTasks,
  ctx: LayerContext,
  staging: string,
  hasLower: boolean,
  batchSize: number,
  summary: LayerSummary,
  timings: ProvisionSummary['timings'],
): Promise<{ dirs: string[]; deferred: Map<string, string[]> }> {
  const dirs: string[] = [];
  const deferred = new Map<string, string[]>();
  const onCopied = (r: CopyResult) => {
    for (let i = 0; i < r.deferred.length; i += 2) {
      const group = deferred.get(r.deferred[i + 1]);
      if (group) group.push(r.deferred[i]);
      else deferred.set(r.deferred[i + 1], [r.deferred[i]]);
    }
  };
  let rels: string[] = [];
  let types = '';
  const flush = async () => {
    if (rels.length === 0) return;
    const task: Task = { op: 'copy', src: ctx.layer, dst: staging, rels, types, defer: true };
    rels = [];
    types = '';
    await tasks.submit(task, 'copy', onCopied);
  };
  try {
    let t = performance.now();
    for (const { rel, plan } of walkLayer(ctx, staging, hasLower)) {
      for (const name of plan.removals) {
        const failure = native.removeEntry(staging, joinRel(rel, name), false);
        if (failure) throw fromFailure(failure, ctx, 'remove');
      }
      summary.whiteouts += plan.whiteouts;
      summary.replaced += plan.replaced;
      dirs.push(rel);
      for (const sub of plan.subdirs) {
        if (sub.merge) continue;
        const failure = native.makeDir(staging, joinRel(rel, sub.name));
        if (failure) throw fromFailure(failure, ctx, 'create directory');
      }
      for (const copy of plan.copies) {
        rels.push(joinRel(rel, copy.name));
        types += copy.type;
        if (rels.length >= batchSize) {
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
 * Copies the files the workers handed back: each big file as a task of its
 * own (so several copy at once) and one name of each multiply-linked file;
 * then links the other names to it (cp -a keeps hardlinks). Returns the
 * number of links made.
 */
async function deferredPhase(tasks: LayerTasks, ctx: LayerContext, staging: string, batchSize: number, deferred: Map<string, string[]>): Promise<number> {
  const large = deferred.get('large') ?? [];
  deferred.delete('large');
  const firsts: string[] = [];
  const pairs: string[] = [];
  for (const group of deferred.values()) {
    firsts.push(group[0]);
    for (let i = 1; i < group.length; i++) pairs.push(group[0], group[i]);
  }
  const copy = (r: string[]): Task => ({ op: 'copy', src: ctx.layer, dst: staging, rels: r, types: 'f'.repeat(r.length), defer: false });
  await tasks.submitAll(large, 1, copy, 'copy');
  await tasks.submitAll(firsts, batchSize, copy, 'copy');
  await tasks.barrier();
  for (let i = 0; i < pairs.length && !tasks.stopped; i += batchSize * 2) {
    await tasks.submit({ op: 'link', dst: staging, rels: pairs.slice(i, i + batchSize * 2) }, 'hardlink', (r) => {
      r.bytes = 0;
    });
  }
  await tasks.barrier();
  return pairs.length / 2;
}
