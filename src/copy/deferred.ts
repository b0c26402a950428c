import { type DeferredLink, native } from '../core/native.cjs';
import { packRels } from '../core/paths.js';
import type { LayerTasks } from './dispatch.js';
import { COPYING, LinkGroups, QUEUED, READY } from './link-groups.js';
import type { TaskResult } from './pool.js';
import type { Provisioning } from './provisioning.js';

/** A file of constants.largeFile (8 MiB) or more is copied by a task of its own, ahead of the batches (docs/design.md, "Big files"). */
export function largeMin(): number {
  return native.constants.largeFile;
}

/** First names of small groups not submitted yet, with their groups' keys, and how many names wait behind them. */
interface Firsts {
  rels: string[];
  types: string;
  /** Their groups' slots (LinkGroups). */
  keys: number[];
  held: number;
}

/**
 * Hardlink groups the workers handed back during a walk, per layer (links
 * never join two layers): the first name of each is copied as soon as it
 * is known, and every other name is linked to it once that copy is done —
 * during the walk, not after its barrier — so that a layer of millions of
 * names never holds them all: a group of a scratch extraction is dropped
 * once its first is copied and all its names were met (docs/benchmarks.md,
 * "Figures behind the code: Hardlink groups"). Holds the first names still
 * to submit (small groups go in batches), the names that came before their
 * first was copied, and the names ready to link.
 */
export class Deferred {
  /** The groups still open, one per inode of a layer. */
  readonly #groups = new LinkGroups();
  /** Per layer, first names of small groups not submitted yet. */
  readonly #firsts = new Map<number, Firsts>();
  /** Per layer, pairs (first, name) of groups whose first is copied, not submitted yet. */
  readonly #ready = new Map<number, string[]>();
  /**
   * Whether a layer's groups may be dropped once their link count is met:
   * only a tree the provision extracted itself. In a layer directory the
   * walk may meet more names of an inode than its link count (a bind mount
   * inside it shows a directory twice), and a name after the drop would
   * start a second inode (cp -a keeps one).
   */
  readonly #drops: (layer: number) => boolean;

  constructor(drops: (layer: number) => boolean = () => false) {
    this.#drops = drops;
  }

  /** Groups still open. */
  get size(): number {
    return this.#groups.size;
  }

  /** Whether anything is left for the phase after the barrier (deferredPhase). */
  get pending(): boolean {
    return this.#groups.size > 0 || this.#ready.size > 0 || this.#firsts.size > 0;
  }

  /**
   * Records a name: 'first' when it is the first of its group (the one to
   * copy; queue it with addFirst or copy it with copying), 'ready' when its
   * first is copied (the name waits in takeReady's pairs), else 'held'.
   */
  addLink(layer: number, link: DeferredLink): 'first' | 'held' | 'ready' {
    const groups = this.#groups;
    const slot = groups.find(layer, link.dev, link.ino);
    if (slot < 0) {
      groups.open(layer, link.dev, link.ino, link.rel, link.nlink - 1);
      return 'first';
    }
    groups.met(slot);
    const state = groups.state(slot);
    if (state === READY) {
      this.#pairs(layer).push(groups.first(slot), link.rel);
      this.#dropIfDone(slot);
      return 'ready';
    }
    if (state === QUEUED) {
      const f = this.#firsts.get(layer);
      if (f) f.held++;
    }
    groups.hold(slot, link.rel);
    return 'held';
  }

  /** The slot that names a link's group (for copying and copied), -1 for none. */
  key(layer: number, link: DeferredLink): number {
    return this.#groups.find(layer, link.dev, link.ino);
  }

  /**
   * Queues a small group's first name; returns the layer's pending names
   * once `batchSize` are queued, or once `batchSize` names wait behind them
   * (a group of millions of names of one small file would otherwise hold
   * them all until the end of the walk), taken out and marked copying.
   */
  addFirst(layer: number, link: DeferredLink, batchSize: number): Firsts | undefined {
    const f = this.#firsts.get(layer) ?? { rels: [], types: '', keys: [], held: 0 };
    f.rels.push(link.rel);
    f.types += link.type;
    f.keys.push(this.key(layer, link));
    this.#firsts.set(layer, f);
    return this.dueFirsts(layer, batchSize);
  }

  /** The layer's pending first names, taken out and marked copying, when `batchSize` of them are queued or `batchSize` names wait behind them. */
  dueFirsts(layer: number, batchSize: number): Firsts | undefined {
    const f = this.#firsts.get(layer);
    if (!f || (f.rels.length < batchSize && f.held < batchSize)) return undefined;
    this.#firsts.delete(layer);
    this.copying(f.keys);
    return f;
  }

  /** The first names still queued, per layer (taken out and marked copying). */
  takeFirsts(): [number, Firsts][] {
    const all = [...this.#firsts];
    this.#firsts.clear();
    for (const [, f] of all) this.copying(f.keys);
    return all;
  }

  /** These groups' first names are being copied. */
  copying(keys: number[]): void {
    for (const slot of keys) {
      if (this.#groups.state(slot) === QUEUED) this.#groups.setState(slot, COPYING);
    }
  }

  /**
   * These groups' first names are copied: the names held for them join the
   * layer's pairs ready to link (first, name), as do their names still to come.
   */
  copied(keys: number[]): void {
    const groups = this.#groups;
    for (const slot of keys) {
      const state = groups.state(slot);
      if (state !== QUEUED && state !== COPYING) continue;
      groups.setState(slot, READY);
      const layer = groups.layer(slot);
      const first = groups.first(slot);
      const held = groups.takeHeld(slot);
      this.#dropIfDone(slot);
      if (held.length === 0) continue;
      const pairs = this.#pairs(layer);
      for (const name of held) pairs.push(first, name);
    }
  }

  /** The layer's pairs ready to link, made on first need. */
  #pairs(layer: number): string[] {
    let pairs = this.#ready.get(layer);
    if (!pairs) {
      pairs = [];
      this.#ready.set(layer, pairs);
    }
    return pairs;
  }

  /** A copied group whose names were all met goes, where its layer allows (see #drops). */
  #dropIfDone(slot: number): void {
    if (this.#groups.left(slot) <= 0 && this.#drops(this.#groups.layer(slot))) this.#groups.drop(slot);
  }

  /**
   * The layer's pairs ready to link (existing, name, ...) in chunks of `size`
   * pairs, taken out; the rest stays for later unless `all`. Each chunk is of
   * one layer: a link that fails is told as its chunk's layer's.
   */
  takeReady(layer: number, size: number, all = false): string[][] {
    const pairs = this.#ready.get(layer);
    if (!pairs) return [];
    const chunks: string[][] = [];
    let at = 0;
    for (; pairs.length - at >= 2 * size; at += 2 * size) chunks.push(pairs.slice(at, at + 2 * size));
    if (all && at < pairs.length) chunks.push(pairs.slice(at));
    if (all || at === pairs.length) this.#ready.delete(layer);
    else if (at > 0) this.#ready.set(layer, pairs.slice(at));
    return chunks;
  }

  /** Layers with pairs ready to link. */
  readyLayers(): number[] {
    return [...this.#ready.keys()];
  }
}

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
  const { batchSize } = p.opts;
  const big = (rel: string, type: string, size: number, keys: number[] = []) => {
    const task = p.copyTask(layer, { rels: packRels([rel]), count: 1, types: type, defer: false });
    tasks.submitSoon(task, 'copy', { onResult: copiedThen(p, tasks, deferred, layer, keys), ctx, priority: size });
  };
  for (const file of r.large ?? []) big(file.rel, 'f', file.size);
  for (const link of r.links ?? []) {
    if (deferred.addLink(layer, link) !== 'first') continue;
    if (link.size >= largeMin()) {
      const keys = [deferred.key(layer, link)];
      deferred.copying(keys);
      big(link.rel, link.type, link.size, keys);
    } else {
      const firsts = deferred.addFirst(layer, link, batchSize);
      if (firsts) submitFirsts(p, tasks, deferred, layer, firsts);
    }
  }
  const firsts = deferred.dueFirsts(layer, batchSize);
  if (firsts) submitFirsts(p, tasks, deferred, layer, firsts);
  submitLinks(p, tasks, layer, deferred.takeReady(layer, batchSize));
}

/**
 * Copies first names of hardlink groups of `layer`, one batch, beside the
 * walk's batches: inline as they are while the inline budget lasts (on the
 * pool only, a layer of two files and a hardlink booted the workers: 109 ms
 * of copy against 0.2 ms without the hardlink).
 */
export function submitFirsts(p: Provisioning, tasks: LayerTasks, deferred: Deferred, layer: number, f: { rels: string[]; types: string; keys: number[] }): void {
  const task = p.copyTask(layer, { rels: packRels(f.rels), count: f.rels.length, types: f.types, defer: false });
  tasks.soon(() => tasks.submit(task, 'copy', { onResult: copiedThen(p, tasks, deferred, layer, f.keys), ctx: p.contexts[layer] }));
}

/** A copy's result: counted; once it is whole, its groups' other names are linked as they come (their held names at once). */
function copiedThen(p: Provisioning, tasks: LayerTasks, deferred: Deferred, layer: number, keys: number[]): (r: TaskResult) => void {
  return (r) => {
    p.count(layer, r.done, r.bytes);
    if (r.failure || keys.length === 0) return;
    deferred.copied(keys);
    submitLinks(p, tasks, layer, deferred.takeReady(layer, p.opts.batchSize));
  };
}

/** Links chunks of pairs (existing, name, ...) of `layer`, beside the walk's batches; links are counted per layer. */
function submitLinks(p: Provisioning, tasks: LayerTasks, layer: number, chunks: string[][]): void {
  if (chunks.length === 0) return;
  const ctx = p.contexts[layer];
  // Chunks wait their turn in the queue one after another, not all at once.
  tasks.soon(async () => {
    for (const rels of chunks) {
      if (tasks.stopped) return;
      await tasks.submit({ op: 'link', dst: p.staging.fd, rels }, 'hardlink', {
        // A chunk failing part way counts what was done.
        onResult: (r) => {
          if (r.done === 0) return;
          p.count(layer, r.done, 0);
          p.perLayer[layer].hardlinks += r.done;
        },
        ctx,
        mayInline: false,
      });
    }
  });
}

/**
 * After the walk's barrier: the first names still queued, a barrier (their
 * copies link the names held for them), then the last names ready to link,
 * and a barrier (cp -a keeps hardlinks, of files, symlinks, FIFOs and
 * devices alike).
 */
export async function deferredPhase(p: Provisioning, tasks: LayerTasks, deferred: Deferred): Promise<void> {
  p.phase = 'links';
  for (const [layer, f] of deferred.takeFirsts()) submitFirsts(p, tasks, deferred, layer, f);
  await tasks.barrier();
  for (const layer of deferred.readyLayers()) submitLinks(p, tasks, layer, deferred.takeReady(layer, p.opts.batchSize, true));
  await tasks.barrier();
}
