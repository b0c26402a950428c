import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DirTable } from '../../src/copy/dir-table.js';
import { unpack } from '../../src/core/entries.js';
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
    expect(a.packed?.layer).toBe(0);
    const names = unpack(a.packed!.names);
    expect(names.map((name, i) => `${name}:${a.packed!.types[i]}`).sort()).toEqual(['x:f', 'y:l']);
    expect(a.subdirs).toEqual([{ name: 'sub', layers: [0] }]);
    // The root has two contributing layers: planned name by name.
    expect(steps.get('')!.packed).toBeUndefined();
    expect(steps.get('')!.copies.map((c) => `${c.name}@${c.layer}`)).toEqual(['b@1']);
  });

  it('a one-layer directory holding a marker is planned name by name, and its markers validated', () => {
    const steps = walk([{ 'a/.wh.gone': '', 'a/x': 'x' }]);
    expect(steps.get('a')!.packed).toBeUndefined();
    expect(steps.get('a')!.copies.map((c) => c.name)).toEqual(['x']);
    expect(() => walk([{ 'a/.wh.': '' }])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_WHITEOUT' }));
  });
});
