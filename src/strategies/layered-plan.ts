import type { DirTable } from '../copy/dir-table.js';
import { type EntryType, type Listing, type PackedCopies, unpack } from '../core/entries.js';
import { fromFailure, type LayerContext } from '../core/errors.js';
import { native, type Root } from '../core/native.cjs';
import { isMarker, isOpaqueMarker, validateListing, whiteoutTarget } from './whiteouts.js';

export interface SubdirPlan {
  name: string;
  /** The rootfs already holds a real directory here (from lower layers): merge into it. */
  merge: boolean;
}

/**
 * What one layer directory does to the rootfs directory at the same path.
 * Lower entries are removed three ways, so that the main thread removes as
 * little as it can: removing them all itself was a large share of a
 * layered provision (docs/benchmarks.md, "Figures behind the code: Main-thread removals").
 */
export interface DirectoryPlan {
  /**
   * Names this layer puts back where a directory is (or becomes) involved:
   * a directory over a non-directory or the reverse, a directory over a
   * hidden one. Removed (recursively) on the main thread before this layer
   * writes here.
   */
  removals: string[];
  /** Of removals, those where a directory stands: whole trees, removed off the main thread (layered.ts). */
  trees: string[];
  /**
   * Names hidden by a marker that this layer does not put back: removed
   * (recursively) by the workers beside the copies; nothing of this layer
   * is written there, and the layer's barrier waits for them.
   */
  deletions: string[];
  /** Whiteout markers (including an opaque marker) that removed something. */
  whiteouts: number;
  /** Lower entries replaced by an entry of a different kind or by a non-directory. */
  replaced: number;
  /**
   * Non-directory entries to copy. replace: a lower non-directory has the
   * name; the worker unlinks it just before the copy.
   */
  copies: { name: string; type: EntryType; replace: boolean }[];
  subdirs: SubdirPlan[];
  /** More copies (never replacing), packed: a directory with nothing below and no markers. */
  packed?: PackedCopies;
}

/**
 * Plans one directory of a layer against the rootfs directory at the same
 * path (`lower`: name -> type, or null when nothing lies below). Pure: reads
 * and writes nothing, so the rules are testable on their own.
 *
 * Whiteouts only hide lower content: all removals run before any entry of
 * this layer is written into the directory, so a same-layer entry is never
 * deleted by its own layer's markers, whatever order readdir returns them in
 * (moby#17766 deleted entries met before the opaque marker).
 */
export function planDirectory(ctx: LayerContext, rel: string, layer: Listing, lower: Map<string, string> | null): DirectoryPlan {
  const plan: DirectoryPlan = { removals: [], trees: [], deletions: [], whiteouts: 0, replaced: 0, copies: [], subdirs: [] };
  const below = lower ?? new Map<string, string>();
  const { names, types } = layer;
  validateListing(ctx, rel, layer);
  // Lower entries hidden by a marker: name -> type.
  const hidden = new Map<string, string>();
  if (below.size > 0 && names.some(isOpaqueMarker)) {
    // A loop, not push(...keys): a spread of 125,000 names overflowed the stack.
    for (const [name, type] of below) hidden.set(name, type);
    plan.whiteouts++;
    below.clear();
  }
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    const target = whiteoutTarget(name);
    if (target === null) continue;
    const type = below.get(target);
    if (type !== undefined) {
      hidden.set(target, type);
      plan.whiteouts++;
      below.delete(target);
    }
  }
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    if (isMarker(name)) continue;
    const type = types[i] as EntryType;
    const visible = below.get(name);
    const merge = type === 'd' && visible === 'd';
    if (visible !== undefined && !merge) plan.replaced++;
    // What lies there, visible or hidden (a hidden directory is not merged into).
    const there = visible ?? hidden.get(name);
    hidden.delete(name);
    // Unlink and recreate, never write into the old inode: its other
    // hardlinked names must keep their content; a lower symlink is never
    // followed. Non-directory over non-directory: the worker unlinks.
    const replace = there !== undefined && there !== 'd' && type !== 'd';
    if (there !== undefined && !merge && !replace) {
      plan.removals.push(name);
      if (there === 'd') plan.trees.push(name);
    }
    if (type === 'd') plan.subdirs.push({ name, merge });
    else plan.copies.push({ name, type, replace });
  }
  for (const name of hidden.keys()) plan.deletions.push(name);
  return plan;
}

export interface WalkStep {
  /** The directory's index in the DirTable, and its path. */
  index: number;
  rel: string;
  /** Whether the rootfs already held it (from lower layers): the layer merges into it. */
  merge: boolean;
  plan: DirectoryPlan;
}

/**
 * Streams a layer directory by directory (depth first), yielding each
 * directory's plan and recording the directories in `dirs` (index 0 is the
 * root). The consumer applies a plan (removals, mkdir) before asking for the
 * next one; the walk only descends real directories and never follows a
 * symlink. Roots are the layer's and the staging directory's fds.
 */
export function* walkLayer(ctx: LayerContext, layer: Root, staging: Root, hasLower: boolean, dirs: DirTable): Generator<WalkStep> {
  // Pending directories: their index in dirs, and whether a lower one is there (merge).
  const stack: number[] = [dirs.add(-1, ''), hasLower ? 1 : 0];
  while (stack.length > 0) {
    const merge = stack.pop() === 1;
    const index = stack.pop()!;
    const rel = index === 0 ? '' : dirs.rel(index);
    let plan: DirectoryPlan;
    if (merge) {
      const listing = native.listDir(layer, rel, false, true);
      if (listing.failure) throw fromFailure(listing.failure, ctx, 'read directory');
      const below = native.listDir(staging, rel);
      if (below.failure) throw fromFailure({ ...below.failure, side: 'rootfs' }, ctx, 'read directory');
      const lower = new Map<string, string>();
      for (let i = 0; i < below.names.length; i++) lower.set(below.names[i], below.types[i]);
      plan = planDirectory(ctx, rel, listing, lower);
    } else {
      // Nothing below: a listing without markers is copied as it is.
      const listing = native.listDir(layer, rel, true, true);
      if (listing.failure) throw fromFailure(listing.failure, ctx, 'read directory');
      plan =
        listing.names === undefined
          ? {
              removals: [],
              trees: [],
              deletions: [],
              whiteouts: 0,
              replaced: 0,
              copies: [],
              subdirs: unpack(listing.dirs).map((name) => ({ name, merge: false })),
              packed: { names: listing.files, types: listing.fileTypes },
            }
          : planDirectory(ctx, rel, listing, null);
    }
    yield { index, rel, merge, plan };
    for (let i = plan.subdirs.length - 1; i >= 0; i--) {
      const sub = plan.subdirs[i];
      stack.push(dirs.add(index, sub.name), sub.merge ? 1 : 0);
    }
  }
}
