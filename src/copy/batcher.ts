import type { EntryType, PackedCopies } from '../core/entries.js';
import { copyHandedBack, type Deferred } from './deferred.js';
import type { DirTable } from './dir-table.js';
import type { LayerTasks } from './dispatch.js';
import type { TaskResult } from './pool.js';
import type { Provisioning } from './provisioning.js';

/**
 * Batches grow only on big images: past this many entries batched by the
 * provision, while the workers are behind (the queue was full), each batch
 * doubles up to BATCH_GROWTH times the base size, and halves back when the
 * queue had room. Growing from the first batch cost mid-size images, whose
 * 256-entry batches keep the end of the walk balanced: images under the
 * threshold keep them (docs/benchmarks.md, "Figures behind the code: Batch growth").
 */
export const GROW_AFTER_ENTRIES = 16_384;
export const BATCH_GROWTH = 4;

/** The next batch's size, after one was handed over. */
export function nextBatchSize(size: number, base: number, batched: number, waited: boolean): number {
  if (batched < GROW_AFTER_ENTRIES) return base;
  return waited ? Math.min(size * 2, base * BATCH_GROWTH) : Math.max(base, size / 2);
}

/** Each packed name with `prefix/` in front. */
function prefixPacked(prefix: string, packed: string): string {
  return prefix === '' ? packed : `${prefix}/${packed.slice(0, -1).replaceAll('\0', `\0${prefix}/`)}\0`;
}

/** Where the count-th NUL of a packed string ends: the length of its first `count` names. */
function packedLength(packed: string, count: number): number {
  let at = -1;
  for (let i = 0; i < count; i++) at = packed.indexOf('\0', at + 1);
  return at + 1;
}

/**
 * Collects one source layer's entries into batches and submits them. A
 * batch names its entries' common directory once (base) and each entry
 * relative to it, so deep paths do not travel once per entry. Entries are
 * kept as runs of one directory, packed (one string a run, not one a name).
 */
export class Batcher {
  #p: Provisioning;
  #tasks: LayerTasks;
  #dirs: DirTable;
  #layer: number;
  /** Runs: the directory of each, and its names packed. */
  #runDirs: number[] = [];
  #runs: string[] = [];
  #types = '';
  /** Entries that fill a batch (opts.batchSize, or more: nextBatchSize). */
  #size: number;
  #deferred: Deferred;
  /** p.planned when the oldest entry waiting here came (see flushIfStale). */
  #since = 0;

  /** Entries the workers hand back go into `deferred` (see deferredPhase). */
  constructor(p: Provisioning, tasks: LayerTasks, dirs: DirTable, layer: number, deferred: Deferred) {
    this.#p = p;
    this.#tasks = tasks;
    this.#dirs = dirs;
    this.#layer = layer;
    this.#deferred = deferred;
    this.#size = p.opts.batchSize;
  }

  /**
   * Adds an entry; when the batch is full, submits it and returns the wait
   * for room in the queue (not counted as plan time), else undefined.
   * replace: a lower non-directory of that name is unlinked first (the type
   * letter goes upper-case; see native/copy.c).
   */
  add(dir: number, name: string, type: EntryType, replace = false): Promise<void> | undefined {
    this.#arrive(1);
    const last = this.#runs.length - 1;
    if (last >= 0 && this.#runDirs[last] === dir) this.#runs[last] += `${name}\0`;
    else {
      this.#runDirs.push(dir);
      this.#runs.push(`${name}\0`);
    }
    this.#types += replace ? type.toUpperCase() : type;
    return this.#types.length < this.#size ? undefined : this.#submitFull();
  }

  /** Adds a directory's packed entries (none replacing); returns a wait as add does. */
  addPacked(dir: number, packed: PackedCopies): Promise<void> | undefined {
    if (packed.types.length === 0) return undefined;
    this.#arrive(packed.types.length);
    if (this.#types.length + packed.types.length < this.#size) {
      this.#runDirs.push(dir);
      this.#runs.push(packed.names);
      this.#types += packed.types;
      return undefined;
    }
    return this.#addPackedFull(dir, packed.names, packed.types);
  }

  async #addPackedFull(dir: number, names: string, types: string): Promise<void> {
    while (types.length > 0 && !this.#tasks.stopped) {
      const room = this.#size - this.#types.length;
      const take = Math.min(room, types.length);
      const cut = take === types.length ? names.length : packedLength(names, take);
      this.#runDirs.push(dir);
      this.#runs.push(names.slice(0, cut));
      this.#types += types.slice(0, take);
      names = names.slice(cut);
      types = types.slice(take);
      if (this.#types.length >= this.#size) await this.#submitFull();
    }
  }

  async #submitFull(): Promise<void> {
    await this.flush();
  }

  #arrive(entries: number): void {
    if (this.#types.length === 0) this.#since = this.#p.planned;
    this.#p.planned += entries;
  }

  /**
   * Submits a batch that waited while the provision's other batches took
   * a batch's worth of entries, once the pool runs (on the pool: a big file
   * alone in it would hold up the walk on this thread). A layer with few
   * entries met early in the walk kept its batch until the end, and a big
   * file in it was copied there alone while the other workers idled
   * (docs/benchmarks.md, "Figures behind the code: Big files").
   */
  flushIfStale(): Promise<void> | undefined {
    if (this.#types.length === 0 || !this.#p.pool.started || this.#p.planned - this.#since < this.#size) return undefined;
    return this.flush(false);
  }

  /** mayInline: false, on the pool even within the inline budget. */
  async flush(mayInline = true): Promise<void> {
    if (this.#types.length === 0) return;
    const dirs = this.#dirs;
    const at = this.#runDirs;
    let base = at[0];
    for (let i = 1; i < at.length; i++) if (at[i] !== at[i - 1]) base = dirs.common(base, at[i]);
    let rels = '';
    for (let i = 0; i < at.length; i++) rels += prefixPacked(dirs.relFrom(at[i], base), this.#runs[i]);
    const layer = this.#layer;
    const task = this.#p.copyTask(layer, { base: dirs.rel(base), rels, count: this.#types.length, types: this.#types, defer: true });
    this.#runDirs = [];
    this.#runs = [];
    this.#types = '';
    const onResult = (r: TaskResult) => {
      this.#p.count(layer, r.done, r.bytes);
      copyHandedBack(this.#p, this.#tasks, this.#deferred, layer, r);
    };
    await this.#tasks.submit(task, 'copy', { onResult, ctx: this.#p.contexts[layer], mayInline });
    this.#p.batched += task.count;
    if (this.#p.opts.growBatches) this.#size = nextBatchSize(this.#size, this.#p.opts.batchSize, this.#p.batched, this.#tasks.waited);
  }
}
