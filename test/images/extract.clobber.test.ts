// A layer that replaces one of its own directories by a non-directory and
// then makes it a directory again. umoci, containerd and moby apply a layer
// entry by entry, removing a name's old entry with all beneath it unless
// both are directories: the non-directory took what the layers below had
// there, and the directory made again is opaque (native/tar.c, clobbered).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { provision } from '../../src/index.js';
import { diffSnapshots, isRoot, listTree, scratch, snapshot } from '../helpers.js';
import { hasUmoci, ociImage, type RawEntry, rawTar } from './fixtures.js';

const T = 1_600_000_000;
const dir = (name: string): RawEntry => ({ name, type: '5', mode: 0o755, mtime: T });
const file = (name: string, data: string): RawEntry => ({ name, data, mtime: T });
const symlink = (name: string, linkname: string): RawEntry => ({ name, type: '2', linkname, mode: 0o777, mtime: T });

const lower = rawTar([
  ...['./', 'a/', 'a/x/', 'b/', 'c/', 'd/', 'e/'].map(dir),
  file('a/x/f', 'lowdata'),
  file('b/y', 'lowy'),
  file('c/z', 'lowz'),
  file('d/w', 'loww'),
  file('e/v', 'lowv'),
]);

const upper = rawTar([
  // a whiteout beneath, the directory replaced by a file, made again
  dir('a/'),
  file('a/.wh.x', ''),
  file('a', 'upa'),
  dir('a/'),
  // an opaque marker, the directory replaced by a symlink, made again
  dir('b/'),
  file('b/.wh..wh..opq', ''),
  symlink('b', 't'),
  dir('b/'),
  // a file first, then the directory
  file('c', 'upc'),
  dir('c/'),
  // a file of its own beneath, replaced, made again with another file
  dir('d/'),
  file('d/n', 'upn'),
  symlink('d', 't'),
  dir('d/'),
  file('d/m', 'upm'),
  // a directory given twice: merged with the one below
  dir('e/'),
  dir('e/'),
  file('e/u', 'upu'),
]);

const ways = [
  { name: 'merged', env: '0', options: {} },
  { name: 'merged, the base straight into the rootfs', env: '1', options: {} },
  { name: 'layered', env: '0', options: { strategy: 'layered' as const } },
];

const saved = process.env.LAYERCOPY_BASE_DIRECT;
afterEach(() => {
  if (saved === undefined) delete process.env.LAYERCOPY_BASE_DIRECT;
  else process.env.LAYERCOPY_BASE_DIRECT = saved;
});

describe('a directory a layer makes again where it had a non-directory', () => {
  it.each(ways)('hides what the layers below have beneath it ($name)', async ({ env, options }) => {
    process.env.LAYERCOPY_BASE_DIRECT = env;
    const work = scratch();
    const layout = ociImage(path.join(work, 'img'), { layers: [lower, upper], compression: 'none' });
    const root = path.join(work, 'root');
    // Three times: what a lower layer's reader learns from the claims set depends on timing.
    for (let run = 0; run < 3; run++) {
      fs.rmSync(root, { recursive: true, force: true });
      await provision([`oci:${layout}:latest`], root, options);
      expect(listTree(root)).toEqual(['a', 'b', 'c', 'd', 'd/m', 'e', 'e/u', 'e/v']);
      expect(fs.readFileSync(path.join(root, 'e/v'), 'utf8')).toBe('lowv');
    }
  });

  it.runIf(isRoot && hasUmoci)('equals umoci unpack of the same image, entry by entry [needs root and umoci]', async () => {
    const work = scratch();
    const layout = ociImage(path.join(work, 'img'), { layers: [lower, upper], compression: 'gzip' });
    execFileSync('umoci', ['unpack', '--image', `${layout}:latest`, path.join(work, 'bundle')], { stdio: 'pipe' });
    const theirs = snapshot(path.join(work, 'bundle', 'rootfs'), { atime: false });
    for (const { env, options } of ways) {
      process.env.LAYERCOPY_BASE_DIRECT = env;
      const root = path.join(work, `root-${env}-${options.strategy ?? 'merged'}`);
      await provision([`oci:${layout}:latest`], root, options);
      expect(diffSnapshots(theirs, snapshot(root, { atime: false }))).toEqual([]);
    }
  });

  it('a parent the layer implies where it had a file hides the same (no header for the directory)', async () => {
    process.env.LAYERCOPY_BASE_DIRECT = '0';
    const work = scratch();
    const layout = ociImage(path.join(work, 'img'), {
      layers: [rawTar([dir('g/'), file('g/old', 'low')]), rawTar([file('g', 'upg'), file('g/h', 'uph')])],
      compression: 'none',
    });
    const root = path.join(work, 'root');
    await provision([`oci:${layout}:latest`], root);
    expect(listTree(root)).toEqual(['g', 'g/h']);
  });

  it.runIf(isRoot)('a device node left out (devices: skip) stood for a non-directory: the directory made after it hides the same', async () => {
    process.env.LAYERCOPY_BASE_DIRECT = '0';
    const work = scratch();
    const node: RawEntry = { name: 'k', type: '3', mode: 0o600, mtime: T };
    const layout = ociImage(path.join(work, 'img'), {
      layers: [rawTar([dir('k/'), file('k/old', 'low')]), rawTar([node, dir('k/'), file('k/new', 'up')])],
      compression: 'none',
    });
    const root = path.join(work, 'root');
    await provision([`oci:${layout}:latest`], root, { devices: 'skip' });
    expect(listTree(root)).toEqual(['k', 'k/new']);
  });

  it.runIf(isRoot).each([
    { name: 'merged', options: {} },
    { name: 'layered', options: { strategy: 'layered' as const } },
  ])('a device node left out, then a file beneath it (the parent implied): the same ($name)', async ({ options }) => {
    process.env.LAYERCOPY_BASE_DIRECT = '0';
    const work = scratch();
    const node: RawEntry = { name: 'k', type: '3', mode: 0o600, mtime: T };
    const big = 'L'.repeat(1 << 20);
    const layout = ociImage(path.join(work, 'img'), {
      layers: [rawTar([dir('k/'), file('k/old', big)]), rawTar([dir('k/'), file('k/old', big), node, file('k/new', 'up'), dir('k/')])],
      compression: 'none',
    });
    const root = path.join(work, 'root');
    for (let run = 0; run < 3; run++) {
      fs.rmSync(root, { recursive: true, force: true });
      await provision([`oci:${layout}:latest`], root, { devices: 'skip', ...options });
      expect(listTree(root)).toEqual(['k', 'k/new']);
    }
  });
});
