import { Batcher } from '../copy/batcher.js';
import { Deferred } from '../copy/deferred.js';
import { DirTable } from '../copy/dir-table.js';
import { LayerTasks } from '../copy/dispatch.js';
import { finishWalk } from '../copy/finish.js';
import type { Provisioning } from '../copy/provisioning.js';
import { fromFailure } from '../core/errors.js';
import { native } from '../core/native.cjs';
import { joinRel, packRels } from '../core/paths.js';
import { nowMs } from '../core/stopwatch.js';
import { turns } from '../core/turns.js';
import { walkLayer } from './layered-plan.js';

/**
 * Strategy 'layered': what the Mesos copy backend does (cp -aT per layer,
 * whiteouts applied to what lower layers left), one layer after another:
 * layer N+1 starts only when layer N is completely written. Kept for the
 * differential tests and for comparison; 'merged' writes each surviving
 * entry once instead. `from`: the layers below it are in the staging
 * directory already (a base extracted straight into it, whose directories'
 * metadata layerFds[0] holds: src/images/extract-all.ts, shadowBase).
 */
export async function applyLayered(p: Provisioning, from = 0): Promise<void> {
  // Per directory of the rootfs, the layer its metadata came from (none: the base's, layer 0).
  const source = new Map<string, number>();
  for (let layer = from; layer < p.layerFds.length; layer++) {
    const start = nowMs();
    await applyLayer(p, layer, source);
    p.perLayer[layer].applyMs = nowMs() - start;
  }
  p.setLaterModes();
}

async function applyLayer(p: Provisioning, layer: number, source: Map<string, number>): Promise<void> {
  p.phase = 'copy';
  const ctx = p.contexts[layer];
  const summary = p.perLayer[layer];
  const tasks = new LayerTasks(p.pool, ctx, p.opts.signal, p.inline, p.changes);
  const dirs = new DirTable();
  const deferred = new Deferred((layer) => p.isScratch(layer));
  const batch = new Batcher(p, tasks, dirs, layer, deferred);
  const staging = p.staging.fd;
  // A tar layer's directory no header described keeps the metadata of the
  // one it merges into (p.metaLayer); any other takes this layer's.
  const meta: number[] = [];

  // Entries hidden by whiteouts, removed by the workers (DirectoryPlan.deletions).
  let deletions: string[] = [];
  const flushDeletions = async () => {
    const rels = deletions;
    deletions = [];
    if (rels.length > 0) await tasks.submit({ op: 'remove', dst: staging, rels: packRels(rels), count: rels.length, cancel: p.cancel }, 'remove');
  };

  const turn = turns();
  try {
    for (const { index, rel, merge, plan } of walkLayer(ctx, p.layerFds[layer], staging, layer > 0, dirs)) {
      const due = turn();
      if (due) await due;
      if (tasks.stopped) break;
      meta[index] = merge && p.implied[layer]?.has(rel) ? (source.get(rel) ?? 0) : layer;
      source.set(rel, meta[index]);
      const trees = plan.trees.length > 0 ? new Set(plan.trees) : undefined;
      for (const name of plan.removals) {
        if (trees?.has(name)) continue;
        const failure = native.removeEntry(staging, joinRel(rel, name), false, p.cancel);
        if (failure) throw fromFailure(failure, ctx, 'remove');
      }
      // The trees (0.1-0.6 s for a big one) on a libuv thread, all of this directory's in one call: on this thread they held Ctrl-C as long.
      if (trees) {
        const failure = await native.removeEntriesLater(
          staging,
          plan.trees.map((name) => joinRel(rel, name)),
          false,
          p.cancel,
        );
        if (failure) throw fromFailure(failure, ctx, 'remove');
      }
      for (const name of plan.deletions) deletions.push(joinRel(rel, name));
      if (deletions.length >= p.opts.batchSize) {
        await flushDeletions();
      }
      summary.whiteouts += plan.whiteouts;
      summary.replaced += plan.replaced;
      const made = plan.subdirs.filter((sub) => !sub.merge).map((sub) => sub.name);
      if (made.length > 0) {
        const failure = native.makeDirs(staging, rel, packRels(made));
        if (failure) throw fromFailure(failure, ctx, 'create directory');
      }
      for (const copy of plan.copies) {
        const waiting = batch.add(index, copy.name, copy.type, copy.replace);
        if (waiting) await waiting;
      }
      if (plan.packed) {
        const waiting = batch.addPacked(index, plan.packed);
        if (waiting) await waiting;
      }
      if (tasks.stopped) break;
    }
    if (!tasks.stopped) await batch.flush();
    if (!tasks.stopped) await flushDeletions();
    p.clock.lap('walk');
  } catch (error) {
    tasks.fail(error);
  }
  await finishWalk(p, tasks, deferred, dirs, (i) => meta[i] ?? layer);
}
