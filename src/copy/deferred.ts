import { type DeferredLink, native } from '../core/native.cjs';
import { packRels } from '../core/paths.js';
import type { LayerTasks } from './dispatch.js';
import type { TaskResult } from './pool.js';
import type { Provisioning } from './provisioning.js';

/** A file of constants.largeFile (8 MiB) or more is copied by a task of its own, ahead of the batches (docs/design.md, "Big files"). */
export function largeMin(): number {
  return native.constants.largeFile;
}

/**
 * Hardlink groups the workers handed back during a walk, per layer (links
 * never join two layers): the first name of each is copied as soon as it
 * is known, the others are linked to it after the barrier. Holds the first
 * names still to submit (small groups go in batches).
 */
export class Deferred {
  /**
   * One group per inode of a layer: its first name (copied) and the
   * others (linked to it), packed NUL-terminated into buffers (names are
   * latin1 strings: one byte a character) of doubling sizes up to 1 MiB,
   * nothing copied as they grow. A string per name and an object per link
   * held ~160 bytes a name (a layer of 10M hardlinks of one file: 1.6 GB
   * of RSS); one buffer doubling to the end, 410 MB (the old and the new
   * at once).
   */
  readonly #groups = new Map<string, { layer: number; first: string; rest: Buffer[]; used: number }>();
  /** Per layer, first names of small groups not submitted yet, and their type letters. */
  readonly #firsts = new Map<number, { rels: string[]; types: string }>();

  get size(): number {
    return this.#groups.size;
  }

  /** Records a name; true when it is the first of its group (the one to copy). */
  addLink(layer: number, link: DeferredLink): boolean {
    const key = `${layer}:${link.dev}:${link.ino}`;
    const group = this.#groups.get(key);
    if (!group) {
      this.#groups.set(key, { layer, first: link.rel, rest: [], used: 0 });
      return true;
    }
    const need = link.rel.length + 1;
    let last = group.rest[group.rest.length - 1];
    if (!last || group.used + need > last.length) {
      // Each new buffer twice the last, from 64 bytes up to CHUNK (a group of
      // two names holds a few bytes), never smaller than the name; the full
      // one kept to what it holds.
      const size = Math.max(need, last ? Math.min(CHUNK, 2 * last.length) : 64);
      if (last) group.rest[group.rest.length - 1] = last.subarray(0, group.used);
      last = Buffer.allocUnsafe(size);
      group.rest.push(last);
      group.used = 0;
    }
    group.used += last.write(link.rel, group.used, 'latin1');
    last[group.used++] = 0;
    return false;
  }

  /** Queues a small group's first name; returns the layer's pending names once `batchSize` are queued (taken out). */
  addFirst(layer: number, link: DeferredLink, batchSize: number): { rels: string[]; types: string } | undefined {
    const f = this.#firsts.get(layer) ?? { rels: [], types: '' };
    f.rels.push(link.rel);
    f.types += link.type;
    this.#firsts.set(layer, f);
    if (f.rels.length < batchSize) return undefined;
    this.#firsts.delete(layer);
    return f;
  }

  /** The first names still queued, per layer (taken out). */
  takeFirsts(): [number, { rels: string[]; types: string }][] {
    const all = [...this.#firsts];
    this.#firsts.clear();
    return all;
  }

  /**
   * Every name linked to the first of its group, at most `size` pairs at a
   * time (existing, name, ...), each chunk of one layer: a link that fails
   * is told as its chunk's layer's (a chunk that ran on from one layer's
   * groups into another's named the first layer for every name in it).
   */
  *pairs(size: number): Generator<{ layer: number; rels: string[] }> {
    let rels: string[] = [];
    let current = -1;
    for (const { layer, first, rest, used } of this.#groups.values()) {
      if (layer !== current && rels.length > 0) {
        yield { layer: current, rels };
        rels = [];
      }
      current = layer;
      for (let b = 0; b < rest.length; b++) {
        const buf = rest[b];
        const end = b === rest.length - 1 ? used : buf.length;
        for (let at = 0; at < end; ) {
          const stop = buf.indexOf(0, at);
          rels.push(first, buf.toString('latin1', at, stop));
          at = stop + 1;
          if (rels.length === 2 * size) {
            yield { layer, rels };
            rels = [];
          }
        }
      }
    }
    if (rels.length > 0) yield { layer: current, rels };
  }
}

const CHUNK = 1 << 20;

/**
 * What a batch handed back, copied at once: each big file (constants.largeFile
 * or more, alone in a batch of several) and each big hardlinked file's first
 * name as a task of its own, longest first and ahead of the batches waiting
 * (the longest copy starts first and the other workers share the rest); the
 * first names of small hardlink groups in batches. Hardlinked or big files
 * kept for the end of a walk ran there alone while the other workers idled
 * behind a barrier (docs/benchmarks.md, "Figures behind the code: Big
 * files").
 */
export function copyHandedBack(p: Provisioning, tasks: LayerTasks, deferred: Deferred, layer: number, r: TaskResult): void {
  const ctx = p.contexts[layer];
  const onResult = (done: TaskResult) => p.count(layer, done.done, done.bytes);
  const big = (rel: string, type: string, size: number) => {
    const task = p.copyTask(layer, { rels: packRels([rel]), count: 1, types: type, defer: false });
    tasks.submitSoon(task, 'copy', { onResult, ctx, priority: size });
  };
  for (const file of r.large ?? []) big(file.rel, 'f', file.size);
  for (const link of r.links ?? []) {
    if (!deferred.addLink(layer, link)) continue;
    if (link.size >= largeMin()) big(link.rel, link.type, link.size);
    else {
      const firsts = deferred.addFirst(layer, link, p.opts.batchSize);
      if (firsts) submitFirsts(p, tasks, layer, firsts);
    }
  }
}

/** Copies first names of hardlink groups of `layer`, one batch, beside the walk's batches. */
export function submitFirsts(p: Provisioning, tasks: LayerTasks, layer: number, f: { rels: string[]; types: string }): void {
  const task = p.copyTask(layer, { rels: packRels(f.rels), count: f.rels.length, types: f.types, defer: false });
  tasks.submitSoon(task, 'copy', { onResult: (r) => p.count(layer, r.done, r.bytes), ctx: p.contexts[layer] });
}

/**
 * After the walk's barrier: the first names still queued, a barrier, then
 * every other name of each group linked to its first (cp -a keeps
 * hardlinks, of files, symlinks, FIFOs and devices alike). Links are
 * counted per layer.
 */
export async function deferredPhase(p: Provisioning, tasks: LayerTasks, deferred: Deferred): Promise<void> {
  const { batchSize } = p.opts;
  p.phase = 'links';
  for (const [layer, f] of deferred.takeFirsts()) submitFirsts(p, tasks, layer, f);
  await tasks.barrier();
  for (const chunk of deferred.pairs(batchSize)) {
    if (tasks.stopped) break;
    await tasks.submit({ op: 'link', dst: p.staging.fd, rels: chunk.rels }, 'hardlink', {
      // A chunk failing part way counts what was done.
      onResult: (r) => {
        if (r.done === 0) return;
        p.count(chunk.layer, r.done, 0);
        p.perLayer[chunk.layer].hardlinks += r.done;
      },
      ctx: p.contexts[chunk.layer],
    });
  }
  await tasks.barrier();
}
