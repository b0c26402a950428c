import { packRels } from '../core/paths.js';
import { type Deferred, deferredPhase, submitFirsts } from './deferred.js';
import type { DirTable } from './dir-table.js';
import type { LayerTasks } from './dispatch.js';
import type { Provisioning } from './provisioning.js';

/**
 * What follows a walk, for both strategies: the barrier, the hardlinks
 * (src/copy/deferred.ts), then directory metadata from the
 * layer `layerOf(i)` — last, after every write and removal inside the
 * directories, so their times are the layer's (the Mesos backend's marker
 * deletions bumped them). Directories are counted for that layer.
 */
export async function finishWalk(p: Provisioning, tasks: LayerTasks, deferred: Deferred, dirs: DirTable, layerOf: (i: number) => number): Promise<void> {
  // Hardlink groups' first names not yet submitted: before the barrier, beside the last batches.
  for (const [layer, f] of deferred.takeFirsts()) submitFirsts(p, tasks, deferred, layer, f);
  await tasks.barrier();
  p.clock.lap('copy');
  if (deferred.pending) await deferredPhase(p, tasks, deferred);
  await metadataPhase(p, tasks, dirs, layerOf);
  p.clock.lap('finish');
  const counts = new Map<number, number>();
  for (let i = 1; i < dirs.size; i++) counts.set(layerOf(i), (counts.get(layerOf(i)) ?? 0) + 1);
  for (const [layer, n] of counts) {
    p.perLayer[layer].directories += n;
    p.count(layer, n, 0);
  }
}

/**
 * Directory metadata (owner, mode, xattrs, times) for every directory of
 * `dirs`, from the layer `layerOf(i)`, in batches per layer: after every
 * write inside them, so their times are the layer's. The root keeps its
 * 0700 mode until the commit.
 */
async function metadataPhase(p: Provisioning, tasks: LayerTasks, dirs: DirTable, layerOf: (i: number) => number): Promise<void> {
  p.phase = 'metadata';
  const { batchSize } = p.opts;
  const buckets = new Map<number, number[]>();
  const submit = async (layer: number, indices: number[]) => {
    let base = indices[0];
    for (let j = 1; j < indices.length; j++) base = dirs.common(base, indices[j]);
    const rels = indices.map((j) => dirs.relFrom(j, base));
    const full = indices.map((j) => dirs.rel(j));
    await tasks.submit(
      {
        op: 'meta',
        src: p.layerFds[layer],
        dst: p.staging.fd,
        base: dirs.rel(base),
        rels: packRels(rels),
        count: rels.length,
        keepRootMode: true,
        cancel: p.cancel,
        policy: p.policyFor(layer),
      },
      'set directory metadata',
      { ctx: p.contexts[layer], onResult: (r) => p.laterModes(full, r.later) },
    );
  };
  for (let i = 0; i < dirs.size && !tasks.stopped; i++) {
    const layer = layerOf(i);
    const bucket = buckets.get(layer) ?? [];
    bucket.push(i);
    buckets.set(layer, bucket);
    if (bucket.length >= batchSize) {
      buckets.delete(layer);
      await submit(layer, bucket);
    }
  }
  for (const [layer, bucket] of buckets) if (!tasks.stopped) await submit(layer, bucket);
  await tasks.barrier();
}
