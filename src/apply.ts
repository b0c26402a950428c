import { type InlineBudget, inlineBudget, type LayerTasks } from './dispatch.js';
import type { LayerContext } from './errors.js';
import type { CancelFlag, CopyResult } from './native.cjs';
import type { Progress, ResolvedProvisionOptions } from './options.js';
import { packRels } from './paths.js';
import type { DirTable, EntryType, PackedCopies } from './plan.js';
import type { Pool, Task } from './pool.js';
import type { Staging } from './staging.js';

/** What a provision (or one layer of it) wrote. */
export interface Counts {
  /** Entries written: files, symlinks, special files, hardlinks and directories (the root excluded). */
  entries: number;
  bytes: number;
  directories: number;
  hardlinks: number;
  /** Whiteout and opaque markers that hid (or removed) lower content. */
  whiteouts: number;
  /** Lower entries replaced (hidden) by an entry of another kind or by a non-directory. */
  replaced: number;
}

export const COUNT_KEYS = ['entries', 'bytes', 'directories', 'hardlinks', 'whiteouts', 'replaced'] as const satisfies readonly (keyof Counts)[];

/** A layer's part of the summary: what it contributed. */
export interface LayerSummary extends Counts {
  layer: string;
  /** layered: time to apply the layer; merged: 0 (layers are not applied one by one). */
  ms: number;
}

export type Timings = { planMs: number; copyMs: number; metadataMs: number; commitMs: number; totalMs: number };

/** One provision's writing context, shared by both strategies. */
export class Provisioning {
  readonly pool: Pool;
  readonly contexts: LayerContext[];
  /** Layer directories, opened once (O_NOFOLLOW): never re-resolved by path. Lowest first. */
  readonly layerFds: number[];
  readonly staging: Staging;
  readonly opts: ResolvedProvisionOptions;
  readonly cancel: CancelFlag;
  readonly perLayer: LayerSummary[];
  readonly timings: Timings = { planMs: 0, copyMs: 0, metadataMs: 0, commitMs: 0, totalMs: 0 };
  /** Entries still allowed to run on the main thread before the pool starts (src/dispatch.ts). */
  readonly inline: InlineBudget;
  #entries = 0;
  #bytes = 0;
  /** Set by the strategies as they go; reported with every progress event. */
  phase: Progress['phase'] = 'copy';
  /** Start of the current stretch of planning (timings.planMs excludes waits for a full queue). */
  planMark = 0;

  /** Starts counting plan time. */
  planStart(): void {
    this.planMark = performance.now();
  }

  /** Adds the stretch since planStart (or the last wait) to timings.planMs. */
  planStop(): void {
    this.timings.planMs += performance.now() - this.planMark;
  }

  constructor(init: { pool: Pool; contexts: LayerContext[]; layerFds: number[]; staging: Staging; opts: ResolvedProvisionOptions; cancel: CancelFlag }) {
    this.pool = init.pool;
    this.contexts = init.contexts;
    this.layerFds = init.layerFds;
    this.staging = init.staging;
    this.opts = init.opts;
    this.cancel = init.cancel;
    this.inline = inlineBudget(init.pool);
    this.perLayer = init.contexts.map((ctx) => ({ layer: ctx.layer, entries: 0, bytes: 0, directories: 0, hardlinks: 0, whiteouts: 0, replaced: 0, ms: 0 }));
  }

  /** Entries handed to copy batches so far (the batch size grows with it: nextBatchSize). */
  batched = 0;

  /** Counts what a finished task wrote for `layer` and reports progress. */
  count(layer: number, entries: number, bytes: number): void {
    const summary = this.perLayer[layer];
    summary.entries += entries;
    summary.bytes += bytes;
    this.#entries += entries;
    this.#bytes += bytes;
    const ctx = this.contexts[layer];
    this.opts.onProgress?.({ phase: this.phase, layerIndex: ctx.layerIndex, layers: this.contexts.length, layer: ctx.layer, entries: this.#entries, bytes: this.#bytes });
  }

  /** The last progress event: totals equal the summary's. */
  done(): void {
    this.phase = 'done';
    this.count(this.contexts.length - 1, 0, 0);
  }

  /** A copy task of `layer`: rels packed (packRels), relative to base. */
  copyTask(layer: number, base: string, rels: string, count: number, types: string, defer: boolean): Extract<Task, { op: 'copy' }> {
    return {
      op: 'copy',
      src: this.layerFds[layer],
      dst: this.staging.fd,
      base,
      rels,
      count,
      types,
      defer,
      cancel: this.cancel,
      idmap: this.opts.idMap,
    };
  }
}

/**
 * Batches grow only on big images: past this many entries batched by the
 * provision, while the workers are behind (the queue was full), each batch
 * doubles up to BATCH_GROWTH times the base size, and halves back when the
 * queue had room. 100k small files, tmpfs, 9 alternating runs: 1.237
 * against 1.175 s (0.52x -> 0.50x `cp -a`); growing from the first batch
 * gave 0.52x -> 0.47x and 0.50x -> 0.48x there but cost 2–4% on Debian
 * minbase and the overlapping image, whose 256-entry batches keep the end
 * of the walk balanced: images under the threshold keep them.
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
  #deferred: Map<string, string[]>;

  /** Entries the workers hand back go into `deferred`, keyed "LAYER|KEY" (see deferredPhase). */
  constructor(p: Provisioning, tasks: LayerTasks, dirs: DirTable, layer: number, deferred: Map<string, string[]>) {
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
    this.#p.planStop();
    await this.flush();
    this.#p.planStart();
  }

  async flush(): Promise<void> {
    if (this.#types.length === 0) return;
    const dirs = this.#dirs;
    const at = this.#runDirs;
    let base = at[0];
    for (let i = 1; i < at.length; i++) if (at[i] !== at[i - 1]) base = dirs.common(base, at[i]);
    let rels = '';
    for (let i = 0; i < at.length; i++) rels += prefixPacked(dirs.relFrom(at[i], base), this.#runs[i]);
    const layer = this.#layer;
    const task = this.#p.copyTask(layer, dirs.rel(base), rels, this.#types.length, this.#types, true);
    this.#runDirs = [];
    this.#runs = [];
    this.#types = '';
    await this.#tasks.submit(
      task,
      'copy',
      (r: CopyResult) => {
        this.#p.count(layer, r.done, r.bytes);
        for (let i = 0; i < r.deferred.length; i += 2) {
          const what = r.deferred[i + 1];
          if (what.startsWith('large:') && (Number(what.slice('large:'.length)) < RANGE_MIN || this.#p.pool.concurrency === 1)) {
            // A big file a batch handed back (8 MiB up to RANGE_MIN): a task
            // of its own now, not after the barrier, where one 50 MB file
            // (Debian minbase) kept one worker busy while the other idled.
            this.#tasks.submitSoon(
              this.#p.copyTask(layer, '', packRels([r.deferred[i]]), 1, 'f', false),
              'copy',
              (done) => this.#p.count(layer, done.done, done.bytes),
              this.#p.contexts[layer],
            );
            continue;
          }
          const key = `${layer}|${what}`;
          const group = this.#deferred.get(key);
          if (group) group.push(r.deferred[i]);
          else this.#deferred.set(key, [r.deferred[i]]);
        }
      },
      this.#p.contexts[layer],
    );
    this.#p.batched += task.count;
    if (this.#p.opts.growBatches) this.#size = nextBatchSize(this.#size, this.#p.opts.batchSize, this.#p.batched, this.#tasks.waited);
  }
}

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
async function deferredPhase(p: Provisioning, tasks: LayerTasks, deferred: Map<string, string[]>): Promise<void> {
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

/**
 * What follows a walk, for both strategies: the barrier, the handed-back
 * entries (hardlink groups, big files), then directory metadata from the
 * layer `layerOf(i)` — last, after every write and removal inside the
 * directories, so their times are the layer's (the Mesos backend's marker
 * deletions bumped them). Directories are counted for that layer.
 */
export async function finishWalk(
  p: Provisioning,
  tasks: LayerTasks,
  copyStart: number,
  deferred: Map<string, string[]>,
  dirs: DirTable,
  layerOf: (i: number) => number,
): Promise<void> {
  await tasks.barrier();
  p.timings.copyMs += performance.now() - copyStart;
  const start = performance.now();
  if (deferred.size > 0) await deferredPhase(p, tasks, deferred);
  p.timings.metadataMs += performance.now() - start;
  await metadataPhase(p, tasks, dirs, layerOf);
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
  const start = performance.now();
  p.phase = 'metadata';
  const { batchSize } = p.opts;
  const buckets = new Map<number, number[]>();
  const submit = async (layer: number, indices: number[]) => {
    let base = indices[0];
    for (let j = 1; j < indices.length; j++) base = dirs.common(base, indices[j]);
    const rels = indices.map((j) => dirs.relFrom(j, base));
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
        idmap: p.opts.idMap,
      },
      'set directory metadata',
      undefined,
      p.contexts[layer],
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
  p.timings.metadataMs += performance.now() - start;
}
