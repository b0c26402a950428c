import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { provision } from '../../src/index.js';
import { buildLayer, lstat, scratch } from '../helpers.js';

// 9 MiB: over constants.largeFile (8 MiB), so each is copied by a task of its own (src/copy/big-files.ts).
const blob = (seed: number) => {
  const b = Buffer.alloc(9 * 1024 * 1024);
  for (let i = 0; i < b.length; i += 4096) b.writeUInt32LE((i * 2654435761 + seed) >>> 0, i);
  return b;
};
const read = (p: string) => fs.readFileSync(p);

describe('big files, copied first by tasks of their own', () => {
  it.each(['merged', 'layered'] as const)(
    '%s: a big hardlinked file of a lower layer replaced in a higher layer: the higher wins, the other names keep the lower content and their link',
    async (strategy) => {
      const dir = scratch();
      const l0 = buildLayer(path.join(dir, 'l0'), { 'd/a': blob(1), 'd/b': { link: 'd/a' }, 'd/c': { link: 'd/a' } });
      const l1 = buildLayer(path.join(dir, 'l1'), { 'd/a': blob(2) });
      const root = path.join(dir, 'root');
      const summary = await provision([l0, l1], root, { strategy, concurrency: 2, batchSize: 2 });
      expect(read(path.join(root, 'd/a')).equals(blob(2))).toBe(true);
      expect(read(path.join(root, 'd/b')).equals(blob(1))).toBe(true);
      const [a, b, c] = ['a', 'b', 'c'].map((n) => lstat(path.join(root, 'd', n)));
      expect(b.ino).toBe(c.ino);
      expect(b.nlink).toBe(2n);
      expect(a.ino).not.toBe(b.ino);
      expect(a.nlink).toBe(1n);
      expect(summary.hardlinks).toBe(strategy === 'merged' ? 1 : 2);
    },
  );

  it.each(['merged', 'layered'] as const)('%s: a big file and its hardlink across layers: the higher layer pair comes out as one inode with its content', async (strategy) => {
    const dir = scratch();
    const l0 = buildLayer(path.join(dir, 'l0'), { 'd/x': blob(3), 'd/keep': blob(4) });
    const l1 = buildLayer(path.join(dir, 'l1'), { 'd/x': blob(5), 'd/y': { link: 'd/x' }, 'e/z': { link: 'd/x' } });
    const root = path.join(dir, 'root');
    await provision([l0, l1], root, { strategy, concurrency: 2, batchSize: 2 });
    const [x, y, z] = ['d/x', 'd/y', 'e/z'].map((n) => lstat(path.join(root, n)));
    expect([y.ino, z.ino]).toEqual([x.ino, x.ino]);
    expect(x.nlink).toBe(3n);
    expect(read(path.join(root, 'e/z')).equals(blob(5))).toBe(true);
    expect(read(path.join(root, 'd/keep')).equals(blob(4))).toBe(true);
  });
});
