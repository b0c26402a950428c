import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DirTable } from '../../src/copy/dir-table.js';
import { unpack } from '../../src/core/entries.js';
import { native } from '../../src/core/native.cjs';
import { MergedDirectory, type MergedStep, walkMerged } from '../../src/strategies/merged-plan.js';
import { buildLayer, scratch } from '../helpers.js';

const ctx = (layer: number) => ({ layer: `/layers/l${layer}`, dir: `/layers/l${layer}`, layerIndex: layer, rootfs: '/rootfs' });
const listing = (entries: Record<string, string>) => ({ names: Object.keys(entries), types: Object.values(entries).join('') });

/** Feeds listings highest layer first (index = layer number) and returns the plan. */
function merge(byLayer: Record<number, Record<string, string>>) {
  const dir = new MergedDirectory();
  const layers = Object.keys(byLayer)
    .map(Number)
    .sort((a, b) => b - a);
  let k = 0;
  for (; k < layers.length && dir.open; k++) dir.add(ctx(layers[k]), 'd', layers[k], listing(byLayer[layers[k]]));
  const plan = dir.finish(k < layers.length);
  return { ...plan, copies: plan.copies.map((c) => `${c.name}@${c.layer}`).sort(), subdirs: plan.subdirs.map((s) => `${s.name}@${s.layers.join(',')}`).sort() };
}

describe('MergedDirectory', () => {
  it('the highest layer with a name wins; lower entries of that name are never copied', () => {
    expect(merge({ 2: { a: 'f' }, 1: { a: 'f', b: 'l' }, 0: { a: 'p', b: 'f', c: 'c' } }).copies).toEqual(['a@2', 'b@1', 'c@0']);
  });

  it('directories over directories merge, highest first', () => {
    expect(merge({ 2: { x: 'd' }, 1: { x: 'd' }, 0: { x: 'd' } }).subdirs).toEqual(['x@2,1,0']);
  });

  it('a non-directory between two directories ends the merge', () => {
    expect(merge({ 2: { x: 'd' }, 1: { x: 'f' }, 0: { x: 'd' } }).subdirs).toEqual(['x@2']);
  });

  it('a whiteout hides lower layers only, not an entry of its own layer', () => {
    const plan = merge({ 1: { '.wh.a': 'f', a: 'f', '.wh.b': 'f' }, 0: { a: 'f', b: 'f', c: 'f' } });
    expect(plan.copies).toEqual(['a@1', 'c@0']);
    expect(plan.whiteouts.get(1)).toBe(1);
  });

  it('a whiteout in a middle layer ends a directory merge from above', () => {
    expect(merge({ 2: { x: 'd' }, 1: { '.wh.x': 'f' }, 0: { x: 'd' } }).subdirs).toEqual(['x@2']);
  });

  it('an opaque marker hides every lower entry, and lower layers are not even read', () => {
    const dir = new MergedDirectory();
    dir.add(ctx(1), 'd', 1, listing({ '.wh..wh..opq': 'f', new: 'f' }));
    expect(dir.open).toBe(false);
    const plan = dir.finish(true);
    expect(plan.copies.map((c) => c.name)).toEqual(['new']);
    expect(plan.whiteouts.get(1)).toBe(1);
  });

  it('replacements are counted for the layer that hides', () => {
    expect(merge({ 1: { a: 'f', x: 'd' }, 0: { a: 'd', x: 'f' } }).replaced.get(1)).toBe(2);
  });

  it('validates markers of every layer it reads', () => {
    const dir = new MergedDirectory();
    expect(() => dir.add(ctx(0), 'd', 0, listing({ '.wh..': 'f' }))).toThrow(/invalid whiteout/);
  });
});

describe('walkMerged', () => {
  /** The steps of a walk over real layer directories (lowest first), by path. */
  function walk(specs: Parameters<typeof buildLayer>[1][]): Map<string, MergedStep['plan']> {
    const dir = scratch();
    const layers = specs.map((spec, i) => buildLayer(path.join(dir, `l${i}`), spec));
    const fds = layers.map((l) => fs.openSync(l, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY));
    try {
      const steps = new Map<string, MergedStep['plan']>();
      for (const step of walkMerged(
        layers.map((layer, layerIndex) => ({ layer, dir: layer, layerIndex, rootfs: '/rootfs' })),
        fds,
        new DirTable(),
        [],
      ))
        steps.set(step.rel, step.plan);
      return steps;
    } finally {
      for (const fd of fds) fs.closeSync(fd);
    }
  }

  it('a directory only one layer has is planned from its packed listing, not name by name', () => {
    const steps = walk([{ 'a/x': 'x', 'a/y': { symlink: 'x' }, 'a/sub/z': 'z' }, { b: 'b' }]);
    const a = steps.get('a')!;
    expect(a.copies).toEqual([]);
    expect(a.packed?.map((run) => run.layer)).toEqual([0]);
    const names = unpack(a.packed![0].names);
    expect(names.map((name, i) => `${name}:${a.packed![0].types[i]}`).sort()).toEqual(['x:f', 'y:l']);
    expect(a.subdirs).toEqual([{ name: 'sub', layers: [0] }]);
    // The root has two contributing layers: decided in C, a packed run per layer.
    expect(steps.get('')!.copies).toEqual([]);
    expect(steps.get('')!.packed).toEqual([{ layer: 1, names: 'b\0', types: 'f' }]);
  });

  it('a one-layer directory holding a marker is planned name by name, and its markers validated', () => {
    const steps = walk([{ 'a/.wh.gone': '', 'a/x': 'x' }]);
    expect(steps.get('a')!.packed).toBeUndefined();
    expect(steps.get('a')!.copies.map((c) => c.name)).toEqual(['x']);
    expect(() => walk([{ 'a/.wh.': '' }])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_WHITEOUT' }));
  });
});

describe('native mergeDir', () => {
  /** A seeded stack of 2–4 layer directories holding a few of the same names as files, directories, symlinks and markers. */
  function randomStack(dir: string, seed: number): string[] {
    let s = seed;
    const next = (n: number) => {
      s = (s * 1664525 + 1013904223) >>> 0;
      return s % n;
    };
    const names = ['a', 'b', 'c', 'd', 'e'];
    const layers: string[] = [];
    for (let l = 0, n = 2 + next(3); l < n; l++) {
      const root = path.join(dir, `s${seed}-l${l}`);
      fs.mkdirSync(root, { recursive: true });
      for (const name of names) {
        const kind = next(6);
        if (kind === 0) fs.writeFileSync(path.join(root, name), '');
        else if (kind === 1) fs.mkdirSync(path.join(root, name));
        else if (kind === 2) fs.symlinkSync('x', path.join(root, name));
        if (next(4) === 0) fs.writeFileSync(path.join(root, `.wh.${name}`), '');
      }
      if (next(6) === 0) fs.writeFileSync(path.join(root, '.wh..wh..opq'), '');
      layers.push(root);
    }
    return layers;
  }

  /** A plan as sorted strings: copies by name@layer, subdirectories with their layers, the counts. */
  function shape(plan: {
    copies: { name: string; layer: number; type: string }[];
    subdirs: { name: string; layers: number[] }[];
    whiteouts: ReadonlyMap<number, number>;
    replaced: ReadonlyMap<number, number>;
  }) {
    return {
      copies: plan.copies.map((c) => `${c.name}@${c.layer}:${c.type}`).sort(),
      subdirs: plan.subdirs.map((d) => `${d.name}@${d.layers.join(',')}`),
      whiteouts: [...plan.whiteouts].sort(),
      replaced: [...plan.replaced].sort(),
    };
  }

  it('decides every name of a directory several layers share as MergedDirectory does (300 seeded stacks)', () => {
    const dir = scratch();
    for (let seed = 1; seed <= 300; seed++) {
      const layers = randomStack(dir, seed);
      const contributors = layers.map((_, i) => layers.length - 1 - i);
      const reference = new MergedDirectory();
      let k = 0;
      for (; k < contributors.length && reference.open; k++) {
        const listing = native.listDir(layers[contributors[k]], '', false);
        if (listing.failure) throw new Error('listing failed');
        reference.add(ctx(contributors[k]), '', contributors[k], listing);
      }
      const r = native.mergeDir(
        contributors.map((l) => layers[l]),
        '',
      );
      if (r.failure || r.invalid) throw new Error(`mergeDir: ${JSON.stringify(r)}`);
      const copies = contributors.flatMap((layer, i) => unpack(r.files[i]).map((name, j) => ({ name, layer, type: r.fileTypes[i][j] })));
      const subdirs = unpack(r.dirs).map((name, i) => ({
        name,
        layers: r.dirLayers
          .split('\0')
          [i].split('')
          .map((c) => contributors[c.charCodeAt(0) - 1]),
      }));
      const counts = (a: number[]) => new Map(a.flatMap((n, i) => (n > 0 ? [[contributors[i], n] as [number, number]] : [])));
      expect({ seed, ...shape({ copies, subdirs, whiteouts: counts(r.whiteouts), replaced: counts(r.replaced) }) }).toEqual({
        seed,
        ...shape(reference.finish(k < contributors.length)),
      });
    }
  });

  it('refuses what validateListing refuses, naming the layer and the entry', () => {
    const dir = scratch();
    const layers = [buildLayer(path.join(dir, 'l0'), { a: 'a' }), buildLayer(path.join(dir, 'l1'), { '.wh.x': { dir: true } })];
    const r = native.mergeDir([layers[1], layers[0]], '');
    expect(r).toEqual({ invalid: 'type', at: 0, name: '.wh.x' });
  });
});
