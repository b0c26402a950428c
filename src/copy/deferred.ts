import type { CopyResult } from '../core/native.cjs';
import { packRels } from '../core/paths.js';
import type { LayerTasks } from './dispatch.js';
import type { Task } from './pool.js';
import type { Provisioning } from './provisioning.js';

/**
 * A file at least this big is copied in ranges by several workers at once
 * (where the pool has several): one copy_file_range stream runs at ~2 GB/s
 * on tmpfs and a 2 GiB file would keep one worker busy for a second while
 * the others idle. Ranges are this size or more (64 MiB keeps reflinks
 * whole-extent on XFS and btrfs).
 */
export const RANGE_MIN = 64 * 1024 * 1024;

/** Ranges for one big file: about 4 per worker, each at least RANGE_MIN, 1 MiB aligned. */
export function splitRanges(size: number, concurrency: number): [number, number][] {
  const MiB = 1024 * 1024;
  const chunk = Math.max(RANGE_MIN, Math.ceil(size / (4 * concurrency) / MiB) * MiB);
  const out: [number, number][] = [];
  for (let off = 0; off < size; off += chunk) out.push([off, Math.min(chunk, size - off)]);
  return out;
}

/**
 * Copies the entries the workers handed back, after a barrier: files of
 * RANGE_MIN or more (in ranges by several workers; smaller big files were
 * submitted as tasks of their own as soon as a batch handed them back) and
 * one name of each hardlink group (files, symlinks, FIFOs, devices alike);
 * then links the other names to it (cp -a keeps hardlinks). Keys are
 * "LAYER|large:SIZE" or "LAYER|T:dev:ino". Links are counted per layer.
 */
export async function deferredPhase(p: Provisioning, tasks: LayerTasks, deferred: Map<string, string[]>): Promise<void> {
  const { batchSize } = p.opts;
  p.phase = 'links';
  const firsts = new Map<number, { rels: string[]; types: string }>();
  const pairs: { layer: number; existing: string; name: string }[] = [];
  const ranged: { layer: number; rel: string; size: number }[] = [];
  const onCopied = (layer: number) => (r: CopyResult) => p.count(layer, r.done, r.bytes);
  for (const [key, group] of deferred) {
    const bar = key.indexOf('|');
    const layer = Number(key.slice(0, bar));
    const what = key.slice(bar + 1);
    if (what.startsWith('large:')) {
      const size = Number(what.slice('large:'.length));
      // Only files for ranges come here (smaller ones were submitted at once: Batcher).
      for (const rel of group) ranged.push({ layer, rel, size });
      continue;
    }
    const f = firsts.get(layer) ?? { rels: [], types: '' };
    f.rels.push(group[0]);
    f.types += what[0];
    firsts.set(layer, f);
    for (let i = 1; i < group.length; i++) pairs.push({ layer, existing: group[0], name: group[i] });
  }
  for (const [layer, f] of firsts) {
    for (let i = 0; i < f.rels.length && !tasks.stopped; i += batchSize) {
      const rels = f.rels.slice(i, i + batchSize);
      await tasks.submit(p.copyTask(layer, '', packRels(rels), rels.length, f.types.slice(i, i + batchSize), false), 'copy', onCopied(layer), p.contexts[layer]);
    }
  }
  if (ranged.length > 0) await rangedCopies(p, tasks, ranged);
  await tasks.barrier();
  for (let i = 0; i < pairs.length && !tasks.stopped; i += batchSize) {
    const chunk = pairs.slice(i, i + batchSize);
    const rels = chunk.flatMap((x) => [x.existing, x.name]);
    await tasks.submit(
      { op: 'link', dst: p.staging.fd, rels },
      'hardlink',
      (r) => {
        // Links are counted for the layer of each pair; a chunk failing part way counts what was done.
        for (let j = 0; j < r.done; j++) {
          p.count(chunk[j].layer, 1, 0);
          p.perLayer[chunk[j].layer].hardlinks++;
        }
      },
      p.contexts[chunk[0].layer],
    );
  }
  await tasks.barrier();
}

/** Big files in ranges: create each (barrier), copy every range on any worker (barrier), then its metadata. */
async function rangedCopies(p: Provisioning, tasks: LayerTasks, files: { layer: number; rel: string; size: number }[]): Promise<void> {
  const task = (f: { layer: number; rel: string; size: number }, phase: 0 | 1 | 2, offset = 0, length = 0): Task => ({
    op: 'range',
    src: p.layerFds[f.layer],
    dst: p.staging.fd,
    rel: f.rel,
    phase,
    offset,
    length,
    size: f.size,
    cancel: p.cancel,
    idmap: p.opts.idMap,
  });
  for (const f of files) if (!tasks.stopped) await tasks.submit(task(f, 0), 'copy', undefined, p.contexts[f.layer]);
  await tasks.barrier();
  for (const f of files) {
    for (const [offset, length] of splitRanges(f.size, p.pool.concurrency)) {
      if (!tasks.stopped) await tasks.submit(task(f, 1, offset, length), 'copy', (r) => p.count(f.layer, 0, r.bytes), p.contexts[f.layer]);
    }
  }
  await tasks.barrier();
  for (const f of files) if (!tasks.stopped) await tasks.submit(task(f, 2), 'copy', (r) => p.count(f.layer, r.done, 0), p.contexts[f.layer]);
}
