import { type DeferredLarge, type DeferredLink, native } from '../core/native.cjs';
import { packRels } from '../core/paths.js';
import type { LayerTasks } from './dispatch.js';
import type { Task, TaskResult } from './pool.js';
import type { Provisioning } from './provisioning.js';

/**
 * A file of constants.rangeFile (64 MiB) or more is copied in ranges by
 * several workers at once (where the pool has several): one
 * copy_file_range stream would keep one worker busy while the others idle
 * (docs/design.md, "Big files"). Ranges are this size or more (whole
 * extents stay reflinked on XFS and btrfs).
 */
export function rangeMin(): number {
  return native.constants.rangeFile;
}

/** Ranges for one big file: about 4 per worker, each at least rangeMin(), 1 MiB aligned. */
export function splitRanges(size: number, concurrency: number): [number, number][] {
  const MiB = 1024 * 1024;
  const chunk = Math.max(rangeMin(), Math.ceil(size / (4 * concurrency) / MiB) * MiB);
  const out: [number, number][] = [];
  for (let off = 0; off < size; off += chunk) out.push([off, Math.min(chunk, size - off)]);
  return out;
}

interface RangedFile {
  layer: number;
  rel: string;
  size: number;
}

/**
 * What the workers handed back uncopied during a walk, for the phase after
 * its barrier: hardlink groups, per layer (links never join two layers),
 * and files to copy in ranges.
 */
export class Deferred {
  /** One group per inode of a layer: the names, the first copied and the rest linked to it. */
  readonly #groups = new Map<string, { layer: number; type: string; rels: string[] }>();
  readonly #ranged: RangedFile[] = [];

  get size(): number {
    return this.#groups.size + this.#ranged.length;
  }

  addLink(layer: number, link: DeferredLink): void {
    const key = `${layer}:${link.dev}:${link.ino}`;
    const group = this.#groups.get(key);
    if (group) group.rels.push(link.rel);
    else this.#groups.set(key, { layer, type: link.type, rels: [link.rel] });
  }

  addRanged(layer: number, file: DeferredLarge): void {
    this.#ranged.push({ layer, rel: file.rel, size: file.size });
  }

  groups(): Iterable<{ layer: number; type: string; rels: string[] }> {
    return this.#groups.values();
  }

  get ranged(): readonly RangedFile[] {
    return this.#ranged;
  }
}

/**
 * Copies the entries the workers handed back, after a barrier: files of
 * rangeMin() or more (in ranges by several workers; smaller big files were
 * submitted as tasks of their own as soon as a batch handed them back) and
 * one name of each hardlink group (files, symlinks, FIFOs, devices alike);
 * then links the other names to it (cp -a keeps hardlinks). Links are
 * counted per layer.
 */
export async function deferredPhase(p: Provisioning, tasks: LayerTasks, deferred: Deferred): Promise<void> {
  const { batchSize } = p.opts;
  p.phase = 'links';
  const firsts = new Map<number, { rels: string[]; types: string }>();
  const pairs: { layer: number; existing: string; name: string }[] = [];
  const onCopied = (layer: number) => (r: TaskResult) => p.count(layer, r.done, r.bytes);
  for (const { layer, type, rels } of deferred.groups()) {
    const f = firsts.get(layer) ?? { rels: [], types: '' };
    f.rels.push(rels[0]);
    f.types += type;
    firsts.set(layer, f);
    for (let i = 1; i < rels.length; i++) pairs.push({ layer, existing: rels[0], name: rels[i] });
  }
  for (const [layer, f] of firsts) {
    for (let i = 0; i < f.rels.length && !tasks.stopped; i += batchSize) {
      const rels = f.rels.slice(i, i + batchSize);
      const task = p.copyTask(layer, { rels: packRels(rels), count: rels.length, types: f.types.slice(i, i + batchSize), defer: false });
      await tasks.submit(task, 'copy', { onResult: onCopied(layer), ctx: p.contexts[layer] });
    }
  }
  if (deferred.ranged.length > 0) await rangedCopies(p, tasks, deferred.ranged);
  await tasks.barrier();
  for (let i = 0; i < pairs.length && !tasks.stopped; i += batchSize) {
    const chunk = pairs.slice(i, i + batchSize);
    const rels = chunk.flatMap((x) => [x.existing, x.name]);
    await tasks.submit({ op: 'link', dst: p.staging.fd, rels }, 'hardlink', {
      // Links are counted for the layer of each pair; a chunk failing part way counts what was done.
      onResult: (r) => {
        for (let j = 0; j < r.done; j++) {
          p.count(chunk[j].layer, 1, 0);
          p.perLayer[chunk[j].layer].hardlinks++;
        }
      },
      ctx: p.contexts[chunk[0].layer],
    });
  }
  await tasks.barrier();
}

/** Big files in ranges: create each (barrier), copy every range on any worker (barrier), then its metadata. */
async function rangedCopies(p: Provisioning, tasks: LayerTasks, files: readonly RangedFile[]): Promise<void> {
  const task = (f: RangedFile, phase: 0 | 1 | 2, offset = 0, length = 0): Task => ({
    op: 'range',
    src: p.layerFds[f.layer],
    dst: p.staging.fd,
    rel: f.rel,
    phase,
    offset,
    length,
    size: f.size,
    cancel: p.cancel,
    policy: p.policyFor(f.layer),
  });
  for (const f of files) if (!tasks.stopped) await tasks.submit(task(f, 0), 'copy', { ctx: p.contexts[f.layer] });
  await tasks.barrier();
  for (const f of files) {
    for (const [offset, length] of splitRanges(f.size, p.pool.concurrency)) {
      if (!tasks.stopped) await tasks.submit(task(f, 1, offset, length), 'copy', { onResult: (r) => p.count(f.layer, 0, r.bytes), ctx: p.contexts[f.layer] });
    }
  }
  await tasks.barrier();
  for (const f of files) if (!tasks.stopped) await tasks.submit(task(f, 2), 'copy', { onResult: (r) => p.count(f.layer, r.done, 0), ctx: p.contexts[f.layer] });
}
