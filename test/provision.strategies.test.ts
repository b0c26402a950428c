// Differential: the merged plan (default) and the layered method must give
// identical trees wherever both succeed; and the merged plan must never
// write what a higher layer hides.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { provision } from '../src/index.js';
import { buildLayer, diffSnapshots, generateImage, isRoot, type LayerSpec, lstat, native, nobodyCanRun, owner, scratch, snapshot } from './helpers.js';

async function both(specs: LayerSpec[], options: { batchSize?: number } = {}) {
  const dir = scratch();
  const layers = specs.map((spec, i) => buildLayer(path.join(dir, `l${i}`), spec));
  const merged = await provision(layers, path.join(dir, 'merged'), { ...options, strategy: 'merged' });
  const layered = await provision(layers, path.join(dir, 'layered'), { ...options, strategy: 'layered' });
  return { dir, layers, merged, layered, diff: diffSnapshots(snapshot(path.join(dir, 'layered')), snapshot(path.join(dir, 'merged'))) };
}

const fixtures: [string, LayerSpec[]][] = [
  [
    'whiteouts of a file, a symlink and a directory',
    [
      { a: 'a', l: { symlink: 'a' }, 'd/x': 'x', keep: 'k' },
      { '.wh.a': '', '.wh.l': '', '.wh.d': '' },
    ],
  ],
  ['an opaque directory with same-layer entries', [{ 'd/a': 'a', 'd/sub/b': 'b' }, { 'd/.wh..wh..opq': '', 'd/c': 'c' }, { 'd/e': 'e' }]],
  [
    'a whiteout and a same-layer entry of the same name',
    [
      { x: 'lower', 'y/z': 'lz' },
      { '.wh.x': '', x: 'upper', '.wh.y': '', 'y/w': 'uw' },
    ],
  ],
  ['directory, file, directory at one path', [{ 'p/a': 'a' }, { p: 'file' }, { 'p/b': 'b' }]],
  ['a middle whiteout between two directories', [{ 'p/a': 'a' }, { '.wh.p': '' }, { 'p/b': 'b' }]],
  ['file over directory over file', [{ p: 'f' }, { 'p/x': 'x' }, { p: { symlink: 'elsewhere' } }]],
  [
    'merged directories take the top layer metadata',
    [
      { d: { dir: true, mode: 0o700, ...owner(1, 2), xattrs: { 'user.low': 'l', 'user.both': 'low' }, mtime: [1000, 1] }, 'd/a': 'a' },
      { d: { dir: true, mode: 0o750, ...owner(3, 4), xattrs: { 'user.both': 'mid' }, mtime: [2000, 2] }, 'd/b': 'b' },
      { d: { dir: true, mode: 0o755, ...owner(5, 6), xattrs: { 'user.top': 't' }, mtime: [3000, 3] }, 'd/c': 'c' },
    ],
  ],
  ['hardlinks whose first name a higher layer hides', [{ a: 'group', b: { link: 'a' }, c: { link: 'a' } }, { a: 'replaced' }]],
  ['hardlinks across a whiteout', [{ 'x/a': 'group', 'y/b': { link: 'x/a' } }, { '.wh.x': '' }]],
  [
    'a hardlink group over lower files and symlinks of its names',
    [
      { a: 'lower a', b: { symlink: 'a' }, c: 'lower c', d: { link: 'c' } },
      { a: 'group', b: { link: 'a' }, c: 'new c' },
    ],
  ],
  [
    'the same layer twice',
    [
      { a: 'a', 'd/b': 'b', '.wh.none': '' },
      { a: 'a', 'd/b': 'b', '.wh.none': '' },
    ],
  ],
  ['lib symlink replaced by a directory', [{ lib: { symlink: 'usr/lib' }, 'usr/lib/x': 'x' }, { 'lib/y': 'y' }]],
  ['a whiteout naming a directory of the same layer', [{ 'etc/ssl/old': 'o' }, { 'etc/.wh.ssl': '', 'etc/ssl/new': 'n' }]],
  [
    'opaque at the root',
    [
      { a: 'a', 'b/c': 'c' },
      { '.wh..wh..opq': '', d: 'd' },
    ],
  ],
];

describe('merged and layered give identical trees', () => {
  it.each(fixtures)('%s', async (_name, specs) => {
    const { diff } = await both(specs, { batchSize: 2 });
    expect(diff).toEqual([]);
  });

  it.each([1, 2, 3, 4, 5])('a generated three-layer image (seed %i)', async (seed) => {
    const { diff } = await both(generateImage(seed), { batchSize: 7 });
    expect(diff).toEqual([]);
  });
});

describe('the merged plan never writes what a higher layer hides', () => {
  it('counts only surviving entries: a hidden file, symlink, subtree and replaced file are never written', async () => {
    const { merged, layered, diff } = await both([
      { gone: 'g', link: { symlink: 'x' }, 'tree/a': 'a', 'tree/b/c': 'c', f: 'lower', keep: 'k' },
      { '.wh.gone': '', '.wh.link': '', '.wh.tree': '', f: 'upper' },
    ]);
    expect(diff).toEqual([]);
    // keep, f: two entries; layered wrote all six lower entries (and two dirs) first.
    expect(merged.entries).toBe(2);
    expect(layered.entries).toBeGreaterThan(merged.entries);
    expect(merged.perLayer.map((l) => l.entries)).toEqual([1, 1]);
  });

  it('a hidden FIFO (whited out) is never opened; a hidden unreadable file (below an opaque marker) never read', async () => {
    const dir = scratch();
    // As root nothing is unreadable: the "unreadable" lower file is a FIFO too, which
    // would block a reader; the layered method copies FIFOs with mknod, so both pass.
    const l0 = buildLayer(path.join(dir, 'l0'), { 'd/secret': { file: 'x', mode: 0o000 }, keep: 'k' });
    execFileSync('mkfifo', [path.join(dir, 'l0', 'pipe')]);
    const l1 = buildLayer(path.join(dir, 'l1'), { '.wh.pipe': '', 'd/.wh..wh..opq': '', 'd/new': 'n' });
    fs.chmodSync(path.join(l0, 'd'), 0o000);
    try {
      const summary = await provision([l0, l1], path.join(dir, 'root'));
      expect(summary.entries).toBe(3); // keep, d, d/new
      expect(fs.readdirSync(path.join(dir, 'root')).sort()).toEqual(['d', 'keep']);
      expect(fs.readdirSync(path.join(dir, 'root', 'd'))).toEqual(['new']);
    } finally {
      fs.chmodSync(path.join(l0, 'd'), 0o755);
    }
  });

  it.runIf(nobodyCanRun)(
    'a hidden entry that cannot be read fails the layered method but not the merged plan [needs root, and a checkout user nobody can read: not under a 0700 directory]',
    async () => {
      const dir = scratch();
      const l0 = buildLayer(path.join(dir, 'l0'), { keep: 'k', 'priv/x': 'x' });
      fs.chmodSync(path.join(l0, 'priv'), 0o000);
      const l1 = buildLayer(path.join(dir, 'l1'), { '.wh.priv': '' });
      fs.chmodSync(dir, 0o777);
      try {
        const asNobody = (strategy: string) =>
          execFileSync('setpriv', [
            '--reuid=nobody',
            '--regid=nogroup',
            '--clear-groups',
            process.execPath,
            '-e',
            `
          import(${JSON.stringify(new URL('../dist/src/index.js', import.meta.url).href)}).then((m) => m.provision(${JSON.stringify([l0, l1])}, ${JSON.stringify(path.join(dir, strategy))}, { strategy: '${strategy}' }))
            .then(() => process.stdout.write('ok'), (e) => process.stdout.write(e.code));`,
          ]).toString();
        expect(asNobody('layered')).toBe('EACCES');
        expect(asNobody('merged')).toBe('ok');
      } finally {
        fs.chmodSync(path.join(l0, 'priv'), 0o755);
      }
    },
  );

  it("a merged directory gets the topmost layer's mode, owner, xattrs and ns times", async () => {
    const { dir, layers } = await both(fixtures.find(([n]) => n.startsWith('merged directories'))![1]);
    const d = lstat(path.join(dir, 'merged', 'd'));
    const top = lstat(path.join(layers[2], 'd'));
    expect(Number(d.mode & 0o7777n)).toBe(0o755);
    if (isRoot) expect([d.uid, d.gid]).toEqual([5n, 6n]);
    expect(d.mtimeNs).toBe(top.mtimeNs);
    expect(d.atimeNs).toBe(top.atimeNs);
    expect(Object.keys(native.lgetxattrs(path.join(dir, 'merged', 'd'))).sort()).toEqual(['user.top']);
    expect(fs.readdirSync(path.join(dir, 'merged', 'd')).sort()).toEqual(['a', 'b', 'c']);
  });

  it('a surviving hardlink name keeps its link when the name copied first is hidden', async () => {
    const { dir, diff } = await both(fixtures.find(([n]) => n.startsWith('hardlinks whose first'))![1]);
    expect(diff).toEqual([]);
    expect(lstat(path.join(dir, 'merged', 'b')).ino).toBe(lstat(path.join(dir, 'merged', 'c')).ino);
    expect(lstat(path.join(dir, 'merged', 'a')).ino).not.toBe(lstat(path.join(dir, 'merged', 'b')).ino);
  });
});
