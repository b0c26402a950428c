import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DirTable } from '../../src/copy/dir-table.js';
import { unpack } from '../../src/core/entries.js';
import { planDirectory, walkLayer } from '../../src/strategies/layered-plan.js';
import { buildLayer, scratch } from '../helpers.js';

const ctx = { layer: '/layers/l2', dir: '/layers/l2', layerIndex: 1, rootfs: '/rootfs' };
const listing = (entries: Record<string, string>) => ({ names: Object.keys(entries), types: Object.values(entries).join('') });
const lower = (entries: Record<string, string>) => new Map(Object.entries(entries));

describe('planDirectory', () => {
  it('leaves whiteout targets that exist below to the workers (deletions) and counts them', () => {
    const plan = planDirectory(ctx, 'etc', listing({ '.wh.a': 'f', '.wh.b': 'f', '.wh.missing': 'f' }), lower({ a: 'f', b: 'd', c: 'f' }));
    expect(plan).toMatchObject({ removals: [], deletions: ['a', 'b'], whiteouts: 2, copies: [], subdirs: [] });
  });

  it('an opaque marker hides every lower child: put back as a directory, removed here first; as a file, replaced by the worker; else deleted by the workers', () => {
    const plan = planDirectory(ctx, '', listing({ x: 'f', '.wh..wh..opq': 'f', d: 'd' }), lower({ x: 'f', d: 'd', y: 'l', z: 'd' }));
    expect(plan.removals).toEqual(['d']);
    expect(plan.trees).toEqual(['d']);
    expect(plan.deletions.sort()).toEqual(['y', 'z']);
    expect(plan.subdirs).toEqual([{ name: 'd', merge: false }]);
    expect(plan.copies).toEqual([{ name: 'x', type: 'f', replace: true }]);
    expect(plan.whiteouts).toBe(1);
  });

  it('a whiteout and an entry of the same name in one layer: the entry replaces what was below', () => {
    const plan = planDirectory(ctx, '', listing({ '.wh.f': 'f', f: 'l', '.wh.d': 'f', d: 'f' }), lower({ f: 'f', d: 'd' }));
    expect(plan.deletions).toEqual([]);
    expect(plan.removals).toEqual(['d']);
    expect(plan.copies).toEqual([
      { name: 'f', type: 'l', replace: true },
      { name: 'd', type: 'f', replace: false },
    ]);
  });

  it('merges directory over directory, replaces non-directory over non-directory in the worker and removes every pairing with one directory here', () => {
    const plan = planDirectory(ctx, '', listing({ dd: 'd', df: 'd', fd: 'f', ff: 'f', lf: 'l', sl: 'd' }), lower({ dd: 'd', df: 'f', fd: 'd', ff: 'f', lf: 'l', sl: 'l' }));
    expect(plan.removals.sort()).toEqual(['df', 'fd', 'sl']);
    // Only where a directory stands below is a whole tree removed (off the main thread).
    expect(plan.trees).toEqual(['fd']);
    expect(plan.copies).toEqual([
      { name: 'fd', type: 'f', replace: false },
      { name: 'ff', type: 'f', replace: true },
      { name: 'lf', type: 'l', replace: true },
    ]);
    expect(plan.replaced).toBe(5);
    expect(plan.subdirs).toEqual([
      { name: 'dd', merge: true },
      { name: 'df', merge: false },
      { name: 'sl', merge: false },
    ]);
  });

  it('plans nothing against an empty rootfs', () => {
    const plan = planDirectory(ctx, 'a', listing({ '.wh.x': 'f', y: 'f' }), null);
    expect(plan).toMatchObject({ removals: [], deletions: [], whiteouts: 0, copies: [{ name: 'y', type: 'f', replace: false }] });
  });

  it('skips other AUFS metadata markers without copying them', () => {
    const plan = planDirectory(ctx, '', listing({ '.wh..wh.plnk': 'f', '.wh..wh.aufs': 'f' }), lower({}));
    expect(plan.copies).toEqual([]);
    expect(plan.removals).toEqual([]);
    expect(plan.deletions).toEqual([]);
  });

  it.each(['.wh.', '.wh..', '.wh...'])('rejects %j as an invalid whiteout', (name) => {
    expect(() => planDirectory(ctx, 'a/b', listing({ [name]: 'f' }), lower({ c: 'f' }))).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_WHITEOUT', path: `/layers/l2/a/b/${name}`, layerIndex: 1 }),
    );
  });

  it.each(['d', 'l', 'p'])('rejects a .wh. entry of type %s: a marker must be a regular file', (type) => {
    expect(() => planDirectory(ctx, '', listing({ '.wh.x': type }), lower({ x: 'f' }))).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_WHITEOUT', message: expect.stringContaining('must be a regular file') }),
    );
  });

  it('validates every marker before planning any removal', () => {
    expect(() => planDirectory(ctx, '', listing({ '.wh.a': 'f', '.wh..': 'f' }), lower({ a: 'f' }))).toThrow(/invalid whiteout/);
  });
});

describe('big directories', () => {
  it('an opaque marker over 200,000 lower entries plans their deletion (a spread overflowed the stack)', () => {
    const lower = new Map<string, string>();
    for (let i = 0; i < 200_000; i++) lower.set(`f${i}`, 'f');
    const plan = planDirectory(ctx, 'big', { names: ['.wh..wh..opq', 'new'], types: 'ff' }, lower);
    expect(plan.deletions.length).toBe(200_000);
    expect(plan.whiteouts).toBe(1);
    expect(plan.copies).toEqual([{ name: 'new', type: 'f', replace: false }]);
  });
});

describe('DirTable', () => {
  it('keeps parent index + name and rebuilds paths on demand', () => {
    const dirs = new DirTable();
    const root = dirs.add(-1, '');
    const a = dirs.add(root, 'a');
    const b = dirs.add(a, 'b');
    const c = dirs.add(root, 'c');
    expect([dirs.rel(root), dirs.rel(a), dirs.rel(b), dirs.rel(c)]).toEqual(['', 'a', 'a/b', 'c']);
    expect(dirs.size).toBe(4);
  });
});

describe('walkLayer', () => {
  it('a directory with nothing below and no marker is planned from its packed listing; one with a marker name by name', () => {
    const dir = scratch();
    const layer = buildLayer(path.join(dir, 'l'), { 'a/x': 'x', 'a/sub/y': 'y', 'b/.wh.q': '', 'b/z': 'z' });
    const fd = fs.openSync(layer, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      const plans = new Map([...walkLayer({ layer, dir: layer, layerIndex: 0, rootfs: '/rootfs' }, fd, fd, false, new DirTable())].map((s) => [s.rel, s.plan]));
      expect(plans.get('a')).toMatchObject({ copies: [], subdirs: [{ name: 'sub', merge: false }], packed: { types: 'f' } });
      expect(unpack(plans.get('a')!.packed!.names)).toEqual(['x']);
      expect(plans.get('b')!.packed).toBeUndefined();
      expect(plans.get('b')!.copies).toEqual([{ name: 'z', type: 'f', replace: false }]);
    } finally {
      fs.closeSync(fd);
    }
  });
});
