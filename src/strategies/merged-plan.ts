import type { DirTable } from '../copy/dir-table.js';
import { type EntryType, type Listing, type PackedCopies, unpack } from '../core/entries.js';
import type { LayerContext } from '../core/errors.js';
import { fromFailure } from '../core/errors.js';
import { native, type Root } from '../core/native.cjs';
import { isMarker, isOpaqueMarker, validateListing, whiteoutTarget } from './whiteouts.js';

/**
 * The merged plan (strategy 'merged', the default): the image is walked
 * once, top down, as go-containerregistry's mutate.Extract reads tars from
 * the top layer: for each directory of the final tree, the layers that
 * contribute to it are listed, highest first, and every name is decided by
 * the highest layer that has it. Hidden entries, and whole hidden subtrees,
 * are never opened, so nothing is ever written twice and nothing is ever
 * removed.
 */

export interface MergedCopy {
  name: string;
  type: EntryType;
  /** The layer the entry comes from (0 = lowest). */
  layer: number;
}

export interface MergedSubdir {
  name: string;
  /** Layers whose directory of that name contributes, highest first; the first gives the metadata. */
  layers: number[];
}

export interface MergedPlan {
  copies: MergedCopy[];
  /** More copies, packed, a run per layer: those of a directory several layers contribute to (decided in C), or of a directory one layer has without markers. */
  packed?: (PackedCopies & { layer: number })[];
  subdirs: MergedSubdir[];
  /** Per layer: markers that hid lower content, and lower entries an entry of that layer hid (kind change or non-directory). */
  whiteouts: ReadonlyMap<number, number>;
  replaced: ReadonlyMap<number, number>;
}

interface Decided {
  type: EntryType;
  layer: number;
  /** Directories: contributing layers so far, highest first. */
  layers?: number[];
  /** No lower layer can contribute any more (a non-directory, a whiteout or a non-directory below a directory). */
  sealed: boolean;
}

/** Counts of a directory that hid nothing (never written to). */
const NONE: ReadonlyMap<number, number> = new Map();

const bump = (m: Map<number, number>, layer: number) => m.set(layer, (m.get(layer) ?? 0) + 1);

/**
 * One directory of the final tree, fed the listings of its contributing
 * layers from the highest down. Pure: reads and writes nothing.
 *
 * The rules, as a layer-by-layer application would give them (OCI
 * layer.md): an entry hides every lower entry of the same name, except that
 * a directory over a directory merges — until a lower layer has a
 * non-directory there, which ends the merge; `.wh.NAME` hides NAME in lower
 * layers only (an entry of the same layer stays); an opaque marker hides
 * every lower entry of the directory.
 */
export class MergedDirectory {
  #decided = new Map<string, Decided>();
  /** Names a higher layer's marker hides, and that marker's layer. */
  #whiteouts = new Map<string, number>();
  #counted = new Set<string>();
  #plan: MergedPlan & { whiteouts: Map<number, number>; replaced: Map<number, number> } = { copies: [], subdirs: [], whiteouts: new Map(), replaced: new Map() };
  #closed = false;
  /** The layer whose opaque marker closed the directory, -1 if none did. */
  #opaqueLayer = -1;

  /** Whether lower layers can still contribute (false after an opaque marker). */
  get open(): boolean {
    return !this.#closed;
  }

  add(ctx: LayerContext, rel: string, layer: number, listing: Listing): void {
    validateListing(ctx, rel, listing);
    const { names, types } = listing;
    let opaque = false;
    for (let i = 0; i < names.length; i++) {
      const name = names[i];
      if (isMarker(name)) {
        if (isOpaqueMarker(name)) opaque = true;
        continue;
      }
      const type = types[i] as EntryType;
      const d = this.#decided.get(name);
      if (d) {
        if (d.type === 'd' && !d.sealed) {
          if (type === 'd') d.layers!.push(layer);
          else d.sealed = true; // a lower non-directory: what lies below it is gone too
        }
        if (!(d.type === 'd' && type === 'd')) bump(this.#plan.replaced, d.layer);
        continue;
      }
      const hiddenBy = this.#whiteouts.get(name);
      if (hiddenBy !== undefined) {
        // Count each marker once, however many layers below hold the name.
        if (!this.#counted.has(name)) {
          this.#counted.add(name);
          bump(this.#plan.whiteouts, hiddenBy);
        }
        continue;
      }
      this.#decided.set(name, type === 'd' ? { type, layer, layers: [layer], sealed: false } : { type, layer, sealed: true });
    }
    // This layer's markers hide lower layers only: applied after its entries.
    for (let i = 0; i < names.length; i++) {
      const target = whiteoutTarget(names[i]);
      if (target === null) continue;
      const d = this.#decided.get(target);
      if (d) d.sealed = true;
      else if (!this.#whiteouts.has(target)) this.#whiteouts.set(target, layer);
    }
    if (opaque) {
      this.#closed = true;
      this.#opaqueLayer = layer;
    }
  }

  /** Called with whether a lower contributing layer was left unread because of an opaque marker. */
  finish(hidLower: boolean): MergedPlan {
    if (hidLower && this.#opaqueLayer >= 0) bump(this.#plan.whiteouts, this.#opaqueLayer);
    for (const [name, d] of this.#decided) {
      if (d.type === 'd') this.#plan.subdirs.push({ name, layers: d.layers! });
      else this.#plan.copies.push({ name, type: d.type, layer: d.layer });
    }
    return this.#plan;
  }
}

export interface MergedStep {
  /** The directory's index in the DirTable, and its path. */
  index: number;
  rel: string;
  plan: MergedPlan;
}

/**
 * Walks the final tree directory by directory (depth first), listing each
 * directory in its contributing layers only. `layers` are the layer fds,
 * lowest first; `dirs` records the directories (index 0 is the root) and
 * `winner[i]` the layer whose metadata directory i takes, set as i is
 * walked: metaLayer of its contributing layers (by default the highest; a
 * tar layer's directory no header described passes,
 * src/copy/provisioning.ts).
 */
export function* walkMerged(
  contexts: LayerContext[],
  layers: Root[],
  dirs: DirTable,
  winner: number[],
  metaLayer: (layers: number[], rel: string) => number = (contributors) => contributors[0],
): Generator<MergedStep> {
  const all = layers.map((_, i) => layers.length - 1 - i);
  const pending: { index: number; layers: number[] }[] = [{ index: dirs.add(-1, ''), layers: all }];
  while (pending.length > 0) {
    const { index, layers: contributors } = pending.pop()!;
    const rel = index === 0 ? '' : dirs.rel(index);
    winner[index] = metaLayer(contributors, rel);
    const plan = contributors.length > 1 ? mergeInC(contexts, layers, rel, contributors) : planOne(contexts, layers, rel, contributors[0]);
    yield { index, rel, plan };
    for (let i = plan.subdirs.length - 1; i >= 0; i--) {
      const sub = plan.subdirs[i];
      pending.push({ index: dirs.add(index, sub.name), layers: sub.layers });
    }
  }
}

/** A directory one layer has: without markers its listing is the plan; with them, MergedDirectory validates and decides. */
function planOne(contexts: LayerContext[], layers: Root[], rel: string, layer: number): MergedPlan {
  const listing = native.listDir(layers[layer], rel, true, true);
  if (listing.failure) throw fromFailure(listing.failure, contexts[layer], 'read directory');
  if (listing.names === undefined) {
    const subdirs = unpack(listing.dirs).map((name) => ({ name, layers: [layer] }));
    return { copies: [], subdirs, packed: [{ layer, names: listing.files, types: listing.fileTypes }], whiteouts: NONE, replaced: NONE };
  }
  const dir = new MergedDirectory();
  dir.add(contexts[layer], rel, layer, listing);
  return dir.finish(false);
}

/** Per-position counts as the plan's per-layer maps (zeros left out). */
function byLayer(counts: number[], contributors: number[]): Map<number, number> {
  const m = new Map<number, number>();
  for (let i = 0; i < counts.length; i++) if (counts[i] > 0) m.set(contributors[i], counts[i]);
  return m;
}

/**
 * A directory several layers contribute to, decided by native/merge.c as
 * MergedDirectory decides it (test/strategies/merged-plan.test.ts holds the
 * two equal): no JS string or object per name, only a packed run per layer
 * (504 of the 827 directories walked on the overlapping Debian image are
 * such directories).
 */
function mergeInC(contexts: LayerContext[], layers: Root[], rel: string, contributors: number[]): MergedPlan {
  const r = native.mergeDir(
    contributors.map((layer) => layers[layer]),
    rel,
    true,
  );
  if (r.failure) throw fromFailure(r.failure, contexts[contributors[r.at]], 'read directory');
  if (r.invalid) {
    // The one place the messages live: validateListing, on the entry at fault.
    const type = r.invalid === 'unknown' ? '?' : r.invalid === 'type' ? 'd' : 'f';
    validateListing(contexts[contributors[r.at]], rel, { names: [r.name], types: type });
    throw new Error(`mergeDir refused ${rel}/${r.name} for a reason validateListing does not know`);
  }
  const packed: (PackedCopies & { layer: number })[] = [];
  for (let i = 0; i < contributors.length; i++) if (r.fileTypes[i] !== '') packed.push({ layer: contributors[i], names: r.files[i], types: r.fileTypes[i] });
  const names = unpack(r.dirs);
  const subdirs: MergedSubdir[] = [];
  let at = 0;
  for (const name of names) {
    const sub: number[] = [];
    for (let c = r.dirLayers.charCodeAt(at++); c !== 0; c = r.dirLayers.charCodeAt(at++)) sub.push(contributors[c - 1]);
    subdirs.push({ name, layers: sub });
  }
  return { copies: [], subdirs, packed, whiteouts: byLayer(r.whiteouts, contributors), replaced: byLayer(r.replaced, contributors) };
}
