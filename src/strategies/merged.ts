import { Batcher } from '../copy/batcher.js';
import { Deferred } from '../copy/deferred.js';
import { DirTable } from '../copy/dir-table.js';
import { LayerTasks } from '../copy/dispatch.js';
import { finishWalk } from '../copy/finish.js';
import type { Provisioning } from '../copy/provisioning.js';
import { fromFailure } from '../core/errors.js';
import { native } from '../core/native.cjs';
import { packRels } from '../core/paths.js';
import { turns } from '../core/turns.js';
import { walkMerged } from './merged-plan.js';

/**
 * Strategy 'merged' (the default): one top-down walk of the final tree
 * (src/strategies/merged-plan.ts); every surviving entry is copied once, from the highest
 * layer that has it, and nothing is removed. Writes of different layers
 * never touch the same path, so there is no per-layer barrier to keep: one
 * barrier before the hardlinks and big files, one before directory
 * metadata (docs/design.md).
 */
export async function applyMerged(p: Provisioning): Promise<void> {
  // Errors name the layer of the entry at fault; the queue's own context is only a default.
  const tasks = new LayerTasks(p.pool, p.contexts[p.contexts.length - 1], p.opts.signal, p.inline, p.changes);
  const dirs = new DirTable();
  const winner: number[] = [];
  const deferred = new Deferred((layer) => p.isScratch(layer));
  const batches = p.layerFds.map((_, layer) => new Batcher(p, tasks, dirs, layer, deferred));
  const staging = p.staging.fd;

  const turn = turns();
  try {
    for (const { index, rel, plan } of walkMerged(p.contexts, p.layerFds, dirs, winner, (layers, rel) => p.metaLayer(layers, rel))) {
      const due = turn();
      if (due) await due;
      if (tasks.stopped) break;
      for (const [layer, n] of plan.whiteouts) p.perLayer[layer].whiteouts += n;
      for (const [layer, n] of plan.replaced) p.perLayer[layer].replaced += n;
      if (plan.subdirs.length > 0) {
        const failure = native.makeDirs(staging, rel, packRels(plan.subdirs.map((sub) => sub.name)));
        if (failure) throw fromFailure(failure, p.contexts[plan.subdirs[0].layers[0]], 'create directory');
      }
      for (const copy of plan.copies) {
        const waiting = batches[copy.layer].add(index, copy.name, copy.type);
        if (waiting) await waiting;
      }
      for (const run of plan.packed ?? []) {
        const waiting = batches[run.layer].addPacked(index, run);
        if (waiting) await waiting;
      }
      for (const batch of batches) {
        const waiting = batch.flushIfStale();
        if (waiting) await waiting;
      }
      if (tasks.stopped) break;
    }
    for (const batch of batches) if (!tasks.stopped) await batch.flush();
    p.clock.lap('walk');
  } catch (error) {
    tasks.fail(error);
  }
  await finishWalk(p, tasks, deferred, dirs, (i) => winner[i]);
  p.setLaterModes();
}
