import fs from 'node:fs';
import { fromFailure, type LayerContext } from '../core/errors.js';
import { type CancelFlag, type LaterMode, type NativePolicy, native } from '../core/native.cjs';
import type { Progress, ResolvedProvisionOptions } from '../core/options.js';
import { Changes } from '../core/rootless.js';
import { Stopwatch } from '../core/stopwatch.js';
import type { Staging } from '../rootfs/staging.js';
import { type InlineBudget, inlineBudget } from './dispatch.js';
import type { Pool, Task } from './pool.js';

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
  /** The LAYER argument it came from, as given (an image's layers share it). */
  layer: string;
  /** An image layer's blob digest and diff_id, in full. */
  digest?: string;
  diffId?: string;
  /** A tarball layer: the time its extraction ran on the pool (layers are extracted at once: these overlap). */
  extractMs?: number;
  /** 'layered' only: the time to apply the layer over the lower ones ('merged' applies no layer by itself). */
  applyMs?: number;
}

/**
 * Closes a provision's layer fds (-1: none), once every task is done: the
 * directories its listings unlocked get their modes back first. Best
 * effort: a directory replaced meanwhile keeps what it has.
 */
export function closeLayers(fds: readonly number[]): void {
  for (const fd of fds) {
    if (fd < 0) continue;
    native.relockDirs(fd);
    fs.closeSync(fd);
  }
}

/** One provision's writing context, shared by both strategies. */
export class Provisioning {
  readonly pool: Pool;
  readonly contexts: LayerContext[];
  /** Layer directories, opened once (O_NOFOLLOW): never re-resolved by path. Lowest first. */
  readonly layerFds: number[];
  /**
   * Layers whose directory is a tar layer's private scratch extraction
   * beside the staging directory: their entries are hardlinked into place,
   * not copied (they already carry their metadata), unless an ID map must
   * change their owners.
   */
  readonly movable: readonly boolean[];
  /** Layers that are a tar layer's scratch extraction, which already holds what the metadata policy made of it. */
  readonly #scratch: readonly boolean[];
  /** What the metadata policy changed, from every task's result (src/core/rootless.ts). */
  readonly changes: Changes;
  /**
   * Per tar layer, its directories no header described (made for entries
   * below them; "" the root unless "./" had one). Such a directory leaves a
   * lower layer's as it was: umoci restores each parent's metadata after
   * writing into it.
   */
  readonly implied: readonly (ReadonlySet<string> | undefined)[];
  /** The layer the root's metadata comes from (metaLayer over all layers). */
  readonly rootLayer: number;
  readonly staging: Staging;
  readonly opts: ResolvedProvisionOptions;
  readonly cancel: CancelFlag;
  readonly perLayer: LayerSummary[];
  /** The provision's wall time, lapped by phase (src/core/stopwatch.ts). */
  readonly clock: Stopwatch;
  /** Entries still allowed to run on the main thread before the pool starts (src/copy/dispatch.ts). */
  readonly inline: InlineBudget;
  #entries = 0;
  #bytes = 0;
  /** Set by the strategies as they go; reported with every progress event. */
  phase: Progress['phase'] = 'copy';
  constructor(init: {
    pool: Pool;
    contexts: LayerContext[];
    layerFds: number[];
    movable?: readonly boolean[];
    implied?: readonly (ReadonlySet<string> | undefined)[];
    staging: Staging;
    opts: ResolvedProvisionOptions;
    cancel: CancelFlag;
    clock?: Stopwatch;
    /** Where what the metadata policy changes is counted (the tar layers' extractions add theirs). */
    changes?: Changes;
  }) {
    this.clock = init.clock ?? new Stopwatch();
    this.pool = init.pool;
    this.contexts = init.contexts;
    this.layerFds = init.layerFds;
    this.movable = init.opts.idMap ? [] : (init.movable ?? []);
    this.#scratch = init.movable ?? [];
    this.changes = init.changes ?? new Changes();
    this.implied = init.implied ?? [];
    this.rootLayer = this.metaLayer(
      init.layerFds.map((_, i) => init.layerFds.length - 1 - i),
      '',
    );
    this.staging = init.staging;
    this.opts = init.opts;
    this.cancel = init.cancel;
    this.inline = inlineBudget(init.pool);
    this.perLayer = init.contexts.map((ctx) => {
      const { arg, digest, diffId } = ctx.source ?? { arg: ctx.layer };
      return { layer: arg, ...(digest ? { digest } : {}), ...(diffId ? { diffId } : {}), entries: 0, bytes: 0, directories: 0, hardlinks: 0, whiteouts: 0, replaced: 0 };
    });
  }

  /**
   * The layer a directory takes its metadata from, of `layers` (highest
   * first: the layers that hold it as a directory, one over the other with
   * nothing else between): the highest whose directory a header described;
   * where none did, the lowest, which made it.
   */
  metaLayer(layers: readonly number[], rel: string): number {
    for (const layer of layers) if (!this.implied[layer]?.has(rel)) return layer;
    return layers[layers.length - 1];
  }

  /**
   * The metadata policy for entries of `layer`: the provision's, or for a
   * tar layer's scratch extraction, whose entries got it as they were
   * extracted, their metadata as it is (only the ID map applied).
   */
  policyFor(layer: number): NativePolicy | undefined {
    return this.#scratch[layer] ? this.opts.idMap : this.opts.policy;
  }

  /** Whether `layer` is a tar layer's scratch extraction: a tree the provision made, walked as it was written. */
  isScratch(layer: number): boolean {
    return this.#scratch[layer] === true;
  }

  /** Directories whose modes are due at the end, as non-root (LaterMode), by rel. */
  readonly #later = new Map<string, number>();

  /** A metadata batch of `rels` is done: the modes it left for later replace theirs (a layer's directory over a lower one's). */
  laterModes(rels: readonly string[], later: readonly LaterMode[] | undefined): void {
    if (this.#later.size === 0 && !later) return;
    for (const rel of rels) this.#later.delete(rel);
    for (const dir of later ?? []) this.#later.set(dir.rel, dir.mode);
  }

  /** The modes left for later, set once everything is written: deepest first, so that each is still open to its children until set. */
  setLaterModes(): void {
    if (this.#later.size === 0) return;
    const depth = (rel: string) => rel.split('/').length;
    const rels = [...this.#later.keys()].sort((a, b) => depth(b) - depth(a));
    const failure = native.setModes(
      this.staging.fd,
      rels,
      Uint32Array.from(rels, (rel) => this.#later.get(rel)!),
    );
    if (failure) throw fromFailure(failure, this.contexts[this.contexts.length - 1], 'set directory modes');
  }

  /** Entries handed to copy batches so far (the batch size grows with it: nextBatchSize). */
  batched = 0;
  /** Entries added to copy batches so far, submitted or not (Batcher.flushIfStale). */
  planned = 0;

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

  /**
   * A copy task of `layer`: rels packed (packRels), relative to base ('' by
   * default); defer: hardlink names and big files come back uncopied
   * (links, large) instead of being copied one by one.
   */
  copyTask(layer: number, batch: { base?: string; rels: string; count: number; types: string; defer: boolean }): Extract<Task, { op: 'copy' }> {
    return {
      op: 'copy',
      src: this.layerFds[layer],
      dst: this.staging.fd,
      base: batch.base ?? '',
      rels: batch.rels,
      count: batch.count,
      types: batch.types,
      defer: batch.defer,
      cancel: this.cancel,
      policy: this.policyFor(layer),
      move: this.movable[layer] === true,
    };
  }
}
