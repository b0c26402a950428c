// Reflinks: on one XFS made with `-m reflink=1`, copy_file_range clones a
// file's extents instead of writing its data, so a rootfs provisioned from
// layers (or from a store) on the same filesystem costs metadata only
// (docs/benchmarks.md, "The store": 4 MiB for a 158 MiB rootfs). Checked
// with FIEMAP's shared flag on every extent (`xfs_io -c 'fiemap -v'`).
// Needs root (mount), mkfs.xfs and xfs_io (xfsprogs) and a loop device:
// skipped, saying which is missing, elsewhere.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { provision, pull } from '../../src/index.js';
import { testImage } from '../fixtures/registry-image.js';
import { buildLayer, isRoot, scratch } from '../helpers.js';

const has = (tool: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/** A fresh XFS with reflinks, loop-mounted on a sparse file, or what is missing for one. */
function mountXfs(): { mnt: string; dir: string } | { missing: string } {
  if (!isRoot) return { missing: 'root (to mount)' };
  const tool = ['mkfs.xfs', 'xfs_io', 'mount'].find((t) => !has(t));
  if (tool) return { missing: tool };
  const dir = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : '/tmp', 'layercopy-xfs-'));
  const image = path.join(dir, 'xfs.img');
  const mnt = path.join(dir, 'mnt');
  fs.mkdirSync(mnt);
  // 300 MiB: mkfs.xfs's smallest filesystem; sparse, so it takes only what is written.
  fs.writeFileSync(image, '');
  fs.truncateSync(image, 300 << 20);
  try {
    execFileSync('mkfs.xfs', ['-q', '-m', 'reflink=1', image], { stdio: 'pipe' });
    execFileSync('mount', ['-o', 'loop', image, mnt], { stdio: 'pipe' });
  } catch (error) {
    fs.rmSync(dir, { recursive: true, force: true });
    return { missing: `a loop-mounted XFS (${String((error as { stderr?: Buffer }).stderr ?? error).split('\n')[0]})` };
  }
  return { mnt, dir };
}

const xfs = mountXfs();
afterAll(() => {
  if ('missing' in xfs) return;
  // mount -o loop detaches the loop device at umount.
  execFileSync('umount', [xfs.mnt]);
  fs.rmSync(xfs.dir, { recursive: true, force: true });
});

const FIEMAP_EXTENT_SHARED = 0x2000;

/** A file's data extents (holes left out): [how many, how many not shared]. */
function extents(file: string): [number, number] {
  // Rows: "0: [0..15]: 664..679 16 0x2001"; a hole's: "1: [16..63]: hole 48".
  const flags = execFileSync('xfs_io', ['-r', '-c', 'fiemap -v', file])
    .toString()
    .split('\n')
    .map((l) => /^\s*\d+:\s+\[\d+\.\.\d+\]:\s+\d+\.\.\d+\s+\d+\s+(0x[0-9a-f]+)/.exec(l))
    .filter((m) => m !== null)
    .map((m) => Number(m[1]));
  return [flags.length, flags.filter((f) => (f & FIEMAP_EXTENT_SHARED) === 0).length];
}

/** Every non-empty regular file under root, relative. */
function files(root: string): string[] {
  return (fs.readdirSync(root, { recursive: true }) as string[]).filter((rel) => {
    const st = fs.lstatSync(path.join(root, rel));
    return st.isFile() && st.size > 0;
  });
}

const pattern = (n: number, seed: number) => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i += 4) b.writeUInt32LE((i * 2654435761 + seed) >>> 0, i);
  return b;
};

const skipped = 'missing' in xfs ? ` [skipped: no ${xfs.missing}]` : '';
describe.skipIf('missing' in xfs)(`reflinks on one XFS${skipped}`, () => {
  const mnt = 'missing' in xfs ? '' : xfs.mnt;

  it('directory layers: every extent of every file, tiny, big (a task of its own) or sparse, is shared with its layer file', async () => {
    const dir = fs.mkdtempSync(path.join(mnt, 'dirs-'));
    const layer = buildLayer(path.join(dir, 'layer'), { 'd/tiny': pattern(100, 1), 'd/page': pattern(5000, 2), 'd/big': pattern(9 << 20, 3) });
    // 1 MiB of data, a 4 MiB hole, 1 MiB of data: copied extent by extent.
    const fd = fs.openSync(path.join(layer, 'd/sparse'), 'w');
    fs.writeSync(fd, pattern(1 << 20, 4), 0, 1 << 20, 0);
    fs.writeSync(fd, pattern(1 << 20, 5), 0, 1 << 20, 5 << 20);
    fs.closeSync(fd);
    const root = path.join(dir, 'root');
    await provision([layer], root);
    const names = files(root).sort();
    expect(names).toEqual(['d/big', 'd/page', 'd/sparse', 'd/tiny']);
    for (const rel of names) {
      expect(fs.readFileSync(path.join(root, rel)).equals(fs.readFileSync(path.join(layer, rel))), rel).toBe(true);
      const [rows, unshared] = extents(path.join(root, rel));
      expect(rows, rel).toBeGreaterThan(0);
      expect(unshared, rel).toBe(0);
    }
  });

  it('a warm provision from a store on it: every extent of every file is shared with the store', async () => {
    const image = testImage(path.join(scratch(), 'img'), { layers: 2, sizeMb: 1, seed: 26 });
    const dir = fs.mkdtempSync(path.join(mnt, 'store-'));
    const store = path.join(dir, 'store');
    await pull(image, { store });
    const root = path.join(dir, 'root');
    const summary = await provision([image], root, { store });
    expect(summary.store).toMatchObject({ layersExtracted: 0, layersReused: 2 });
    const names = files(root);
    expect(names.length).toBeGreaterThan(4);
    for (const rel of names) {
      const [rows, unshared] = extents(path.join(root, rel));
      expect(rows, rel).toBeGreaterThan(0);
      expect(unshared, rel).toBe(0);
    }
  });
});
