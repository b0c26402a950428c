import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Progress, provision } from '../src/index.js';
import { buildLayer, diffSnapshots, exists, isRoot, listTree, lstat, native, owner, scratch, snapshot } from './helpers.js';

function stagingLeft(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => n.includes('.layercopy-'));
}

describe('inputs', () => {
  it('rejects an empty layer list', async () => {
    const dir = scratch();
    await expect(provision([], path.join(dir, 'root'))).rejects.toMatchObject({ code: 'ERR_NO_LAYERS' });
    expect(exists(path.join(dir, 'root'))).toBe(false);
  });

  it('refuses an existing ROOTFS and leaves it untouched', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { a: 'new' });
    const root = buildLayer(path.join(dir, 'root'), { a: 'old', keep: 'x' });
    const before = snapshot(root);
    await expect(provision([l1], root)).rejects.toMatchObject({
      code: 'ERR_ALREADY_PROVISIONED',
      message: `Rootfs is already provisioned: ${root} exists and is not empty; \`layercopy destroy ${root}\` first`,
    });
    expect(diffSnapshots(before, snapshot(root))).toEqual([]);
  });

  it("accepts an empty ROOTFS directory made beforehand and replaces it: the new root has the layer root's mode", async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { a: 'a' }, { mode: 0o751 });
    const root = path.join(dir, 'root');
    fs.mkdirSync(root, { mode: 0o700 });
    const old = fs.lstatSync(root);
    await provision([l1], root);
    const now = fs.lstatSync(root);
    expect(now.ino).not.toBe(old.ino);
    expect(now.mode & 0o7777).toBe(0o751);
    expect(fs.readFileSync(path.join(root, 'a'), 'utf8')).toBe('a');
    expect(fs.readdirSync(dir).sort()).toEqual(['l1', 'root']);
  });

  it('an empty ROOTFS that is written into while provisioning is not replaced: ERR_ALREADY_PROVISIONED, nothing of the provision left', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { a: 'a', b: 'b' });
    const root = path.join(dir, 'root');
    fs.mkdirSync(root);
    let wrote = false;
    const error = await provision([l1], root, {
      onProgress: () => {
        if (wrote) return;
        wrote = true;
        fs.writeFileSync(path.join(root, 'theirs'), 'x');
      },
    }).catch((e) => e);
    expect(error).toMatchObject({ code: 'ERR_ALREADY_PROVISIONED', message: expect.stringMatching(/is no longer empty/) });
    expect(fs.readdirSync(root)).toEqual(['theirs']);
    expect(fs.readdirSync(dir).sort()).toEqual(['l1', 'root']);
  });

  it('refuses a ROOTFS that is a regular file or a symbolic link to an empty directory', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { a: 'a' });
    fs.mkdirSync(path.join(dir, 'empty'));
    fs.symlinkSync('empty', path.join(dir, 'link'));
    fs.writeFileSync(path.join(dir, 'file'), '');
    await expect(provision([l1], path.join(dir, 'link'))).rejects.toMatchObject({ code: 'ERR_ALREADY_PROVISIONED', message: expect.stringMatching(/is a symbolic link/) });
    await expect(provision([l1], path.join(dir, 'file'))).rejects.toMatchObject({ code: 'ERR_ALREADY_PROVISIONED', message: expect.stringMatching(/is not a directory/) });
    expect(fs.readdirSync(path.join(dir, 'empty'))).toEqual([]);
  });
});

describe('the same layer twice', () => {
  it('is allowed and gives what one application gives', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { 'a/b': 'b', c: { symlink: 'a' }, 'd/e': { file: 'e', mode: 0o600 } });
    await provision([l1], path.join(dir, 'once'));
    await provision([l1, l1], path.join(dir, 'twice'));
    expect(diffSnapshots(snapshot(path.join(dir, 'once')), snapshot(path.join(dir, 'twice')))).toEqual([]);
  });
});

describe('whiteouts', () => {
  it('.wh.NAME removes a lower file, symlink and whole directory', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { 'etc/f': 'x', 'etc/s': { symlink: 'f' }, 'etc/d/deep/x': 'y', 'etc/keep': 'k' });
    const l2 = buildLayer(path.join(dir, 'l2'), { 'etc/.wh.f': '', 'etc/.wh.s': '', 'etc/.wh.d': '' });
    const root = path.join(dir, 'root');
    const summary = await provision([l1, l2], root);
    expect(listTree(root)).toEqual(['etc', 'etc/keep']);
    expect(summary.whiteouts).toBe(3);
  });

  it('an opaque marker hides every lower child, subdirectories included', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { 'opt/a': 'a', 'opt/sub/b': 'b', other: 'o' });
    const l2 = buildLayer(path.join(dir, 'l2'), { 'opt/.wh..wh..opq': '', 'opt/c': 'c' });
    const root = path.join(dir, 'root');
    await provision([l1, l2], root);
    expect(listTree(root)).toEqual(['opt', 'opt/c', 'other']);
  });

  it('never deletes content of the same layer, whatever the listing order', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { 'd/old': 'old', 'd/x': 'lower x' });
    // Names sorting before and after the markers, in the marker's own layer.
    const l2 = buildLayer(path.join(dir, 'l2'), {
      'd/.wh..wh..opq': '',
      'd/.wh.x': '',
      'd/x': 'upper x',
      'd/a': 'a',
      'd/zz/sub': 'z',
      '.wh.d2': '',
      d2: 'mine',
    });
    const root = path.join(dir, 'root');
    await provision([l1, l2], root);
    expect(listTree(root)).toEqual(['d', 'd/a', 'd/x', 'd/zz', 'd/zz/sub', 'd2']);
    expect(fs.readFileSync(path.join(root, 'd/x'), 'utf8')).toBe('upper x');
  });

  it('never copies whiteout markers', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { '.wh.nothing': '', 'a/.wh..wh..opq': '', 'a/.wh..wh.plnk': '', 'a/f': 'f' });
    const root = path.join(dir, 'root');
    await provision([l1], root);
    expect(listTree(root)).toEqual(['a', 'a/f']);
  });

  it('an opaque marker at the layer root empties the lower rootfs', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { bin: { dir: true }, 'etc/passwd': 'root' });
    const l2 = buildLayer(path.join(dir, 'l2'), { '.wh..wh..opq': '', fresh: 'yes' });
    const root = path.join(dir, 'root');
    await provision([l1, l2], root);
    expect(listTree(root)).toEqual(['fresh']);
  });

  it.each(['.wh.', '.wh..', '.wh...'])('rejects the invalid whiteout %j, naming layer and path, deleting nothing', async (name) => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { 'a/b/c': 'c', top: 't' });
    const l2 = buildLayer(path.join(dir, 'l2'), { [`a/b/${name}`]: '' });
    const root = path.join(dir, 'root');
    const error = await provision([l1, l2], root).catch((e) => e);
    expect(error).toMatchObject({ code: 'ERR_INVALID_WHITEOUT', layer: l2, layerIndex: 1 });
    expect(error.message).toContain('layer 2');
    expect(error.message).toContain(path.join(l2, 'a/b', name));
    expect(exists(root)).toBe(false);
    expect(listTree(l1)).toEqual(['a', 'a/b', 'a/b/c', 'top']);
  });
});

// Both strategies: 'layered' removes and replaces what lies below (some of it in the workers), 'merged' never writes it.
describe.each(['merged', 'layered'] as const)('conflicts (%s)', (strategy) => {
  it("merges directories and gives the merged directory the upper layer's mode, owner and times", async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { 'usr/a': 'a', usr: { dir: true, mode: 0o700, ...owner(5, 6) } });
    const l2 = buildLayer(path.join(dir, 'l2'), { 'usr/b': 'b', usr: { dir: true, mode: 0o751, ...owner(7, 8), mtime: [1500000000, 42] } });
    const root = path.join(dir, 'root');
    await provision([l1, l2], root, { strategy });
    expect(listTree(root)).toEqual(['usr', 'usr/a', 'usr/b']);
    const st = lstat(path.join(root, 'usr'));
    expect([Number(st.mode & 0o7777n), st.mtimeNs]).toEqual([0o751, 1500000000000000042n]);
    if (isRoot) expect([st.uid, st.gid]).toEqual([7n, 8n]);
  });

  it('replaces a lower directory with a file and a lower file with a directory', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { 'x/inner': 'i', y: 'file' });
    const l2 = buildLayer(path.join(dir, 'l2'), { x: 'now a file', 'y/inner': 'now a dir' });
    const root = path.join(dir, 'root');
    const summary = await provision([l1, l2], root, { strategy });
    expect(listTree(root)).toEqual(['x', 'y', 'y/inner']);
    expect(fs.readFileSync(path.join(root, 'x'), 'utf8')).toBe('now a file');
    expect(summary.replaced).toBe(2);
  });

  it('replaces a rootfs symlink to a host directory instead of writing through it (seed attack 1)', async () => {
    const dir = scratch();
    const host = buildLayer(path.join(dir, 'host-usr'), { 'bin/python': 'host python' });
    const hostBefore = snapshot(host);
    const l1 = buildLayer(path.join(dir, 'l1'), { bad: { symlink: host } });
    const l2 = buildLayer(path.join(dir, 'l2'), { 'bad/bin/python': 'evil', 'bad/bin/new': 'evil' });
    const root = path.join(dir, 'root');
    await provision([l1, l2], root, { strategy });
    expect(lstat(path.join(root, 'bad')).isDirectory()).toBe(true);
    expect(listTree(path.join(root, 'bad'))).toEqual(['bin', 'bin/new', 'bin/python']);
    expect(diffSnapshots(hostBefore, snapshot(host))).toEqual([]);
  });

  it('replaces a rootfs symlink to a host file instead of writing into it (seed attack 2)', async () => {
    const dir = scratch();
    const host = buildLayer(path.join(dir, 'host'), { python: 'host python' });
    const hostBefore = snapshot(host);
    const l1 = buildLayer(path.join(dir, 'l1'), { bad: { symlink: path.join(host, 'python') } });
    const l2 = buildLayer(path.join(dir, 'l2'), { bad: 'evil' });
    const root = path.join(dir, 'root');
    await provision([l1, l2], root, { strategy });
    expect(lstat(path.join(root, 'bad')).isFile()).toBe(true);
    expect(fs.readFileSync(path.join(root, 'bad'), 'utf8')).toBe('evil');
    expect(diffSnapshots(hostBefore, snapshot(host))).toEqual([]);
  });

  it('a whiteout under a rootfs symlink removes nothing through it', async () => {
    const dir = scratch();
    const host = buildLayer(path.join(dir, 'host'), { x: 'host x' });
    const hostBefore = snapshot(host);
    const l1 = buildLayer(path.join(dir, 'l1'), { usr: { symlink: host } });
    const l2 = buildLayer(path.join(dir, 'l2'), { 'usr/.wh.x': '', 'usr/.wh..wh..opq': '' });
    const root = path.join(dir, 'root');
    await provision([l1, l2], root, { strategy });
    expect(lstat(path.join(root, 'usr')).isDirectory()).toBe(true);
    expect(listTree(path.join(root, 'usr'))).toEqual([]);
    expect(diffSnapshots(hostBefore, snapshot(host))).toEqual([]);
  });

  it('replacing a file never writes into its old inode: other hardlinked names keep their content', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { a: 'original', b: { link: 'a' } });
    const l2 = buildLayer(path.join(dir, 'l2'), { a: 'replacement' });
    const root = path.join(dir, 'root');
    await provision([l1, l2], root, { strategy });
    expect(fs.readFileSync(path.join(root, 'a'), 'utf8')).toBe('replacement');
    expect(fs.readFileSync(path.join(root, 'b'), 'utf8')).toBe('original');
    expect(lstat(path.join(root, 'a')).ino).not.toBe(lstat(path.join(root, 'b')).ino);
    expect(lstat(path.join(root, 'b')).nlink).toBe(1n);
  });
});

describe('fidelity', () => {
  const big = Buffer.alloc(3 * 1024 * 1024 + 17);
  for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE((i * 2654435761) >>> 0, i);

  it.skipIf(!isRoot)('a single layer comes out identical to its source, entry by entry [needs root: owners, devices, trusted.* xattrs]', async () => {
    const dir = scratch();
    const l1 = buildLayer(
      path.join(dir, 'l1'),
      {
        'bin/su': { file: 'su', mode: 0o4755, uid: 0, gid: 0 },
        'bin/wall': { file: 'wall', mode: 0o2755, uid: 0, gid: 5 },
        'bin/ping': { file: 'ping', mode: 0o755, xattrs: { 'security.capability': Buffer.from('0100000200200000000000000000000000000000', 'hex') } },
        'home/user/.profile': { file: 'p', mode: 0o640, uid: 1000, gid: 1000, xattrs: { 'user.note': 'hello', 'trusted.t': 'x' } },
        'home/user': { dir: true, mode: 0o750, uid: 1000, gid: 1000, xattrs: { 'user.dir': 'd' } },
        tmp: { dir: true, mode: 0o1777 },
        'ro/dir': { dir: true, mode: 0o555 },
        'ro/dir/file': { file: 'f', mode: 0o444 },
        empty: '',
        'perm/0666': { file: 'w', mode: 0o666 },
        'perm/0777': { file: 'w', mode: 0o777 },
        'perm/0000': { file: 'w', mode: 0o000 },
        'perm/0444': { file: 'w', mode: 0o444 },
        big,
        'lib/libc.so.6': { symlink: 'libc-2.36.so' },
        'lib/abs': { symlink: '/usr/lib/x86_64-linux-gnu' },
        'lib/dangling': { symlink: '../nowhere/at/all' },
        'lib/weird': { symlink: '../../../../../etc/shadow' },
        'hard/a': { file: 'shared', mode: 0o600 },
        'hard/b': { link: 'hard/a' },
        'hard/sub/c': { link: 'hard/a' },
        'dev/null': { chr: [1, 3], mode: 0o666 },
        'dev/loop0': { blk: [7, 0], mode: 0o660, gid: 6 },
        'run/fifo': { fifo: true, mode: 0o600 },
        'run/sock': { sock: true, mode: 0o755 },
        'var/sparse': {
          sparse: {
            size: 64 * 1024 * 1024,
            data: [
              [0, 'head'],
              [32 * 1024 * 1024, 'middle'],
              [64 * 1024 * 1024 - 4, 'tail'],
            ],
          },
        },
      },
      { mode: 0o755, mtime: [1234567890, 999999999] },
    );
    const before = snapshot(l1);
    const root = path.join(dir, 'root');
    const summary = await provision([l1], root, { batchSize: 3 });
    expect(diffSnapshots(before, snapshot(root))).toEqual([]);
    expect(summary.hardlinks).toBe(2);
    expect(lstat(path.join(root, 'big')).size).toBe(BigInt(big.length));
    // Sparse: the holes stay holes.
    expect(lstat(path.join(root, 'var/sparse')).blocks).toBeLessThanOrEqual(lstat(path.join(l1, 'var/sparse')).blocks);
    expect(lstat(path.join(root, 'var/sparse')).blocks).toBeLessThan(1024n);
  });

  it.skipIf(!isRoot)('a root-owned file in a setgid directory keeps its own group, as in the layer [needs root: owners]', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { shared: { dir: true, mode: 0o2775, gid: 50 } });
    const l2 = buildLayer(path.join(dir, 'l2'), { 'shared/f': { file: 'x', mode: 0o644, uid: 0, gid: 0 }, shared: { dir: true, mode: 0o2775, gid: 50 } });
    const root = path.join(dir, 'root');
    await provision([l1, l2], root);
    expect(lstat(path.join(root, 'shared/f')).gid).toBe(0n);
    expect(lstat(path.join(root, 'shared')).gid).toBe(50n);
  });

  it.each(['merged', 'layered'] as const)('%s: batches cut through directories and span several give the exact tree', async (strategy) => {
    const dir = scratch();
    const spec: Record<string, string> = {};
    for (const d of ['a', 'a/b', 'a/b/c', 'e']) for (let i = 0; i < 7; i++) spec[`${d}/f${i}`] = `${d}${i}`;
    const l1 = buildLayer(path.join(dir, 'l1'), spec);
    const before = snapshot(l1);
    for (const batchSize of [1, 3, 5, 256]) {
      const root = path.join(dir, `root-${batchSize}`);
      const summary = await provision([l1], root, { batchSize, strategy });
      expect(diffSnapshots(before, snapshot(root))).toEqual([]);
      expect(summary.entries).toBe(28 + 4);
    }
  });

  it('copies big files (each as a task of its own) exactly, beside small ones and hardlinks', async () => {
    const dir = scratch();
    const blob = (seed: number) => {
      const b = Buffer.alloc(9 * 1024 * 1024);
      for (let i = 0; i < b.length; i += 4096) b.writeUInt32LE((i * 2654435761 + seed) >>> 0, i);
      return b;
    };
    const l1 = buildLayer(path.join(dir, 'l1'), {
      'data/big1': { file: blob(1), mode: 0o640, ...owner(7, 0) },
      'data/big2': blob(2),
      'data/big-linked': blob(3),
      'data/big-linked-2': { link: 'data/big-linked' },
      'data/small': 'small',
      'data/small2': 'small2',
    });
    const before = snapshot(l1);
    const root = path.join(dir, 'root');
    const summary = await provision([l1], root, { batchSize: 64 });
    expect(diffSnapshots(before, snapshot(root))).toEqual([]);
    expect(summary).toMatchObject({ hardlinks: 1, bytes: 3 * 9 * 1024 * 1024 + 11 });
  });

  it.each(['merged', 'layered'] as const)('%s: files of 64 MiB or more are copied whole by tasks of their own, exactly, holes kept', async (strategy) => {
    const dir = scratch();
    const MiB = 1024 * 1024;
    const dense = Buffer.alloc(70 * MiB);
    for (let i = 0; i < dense.length; i += 4096) dense.writeUInt32LE((i * 2654435761) >>> 0, i);
    const l1 = buildLayer(path.join(dir, 'l1'), {
      'data/sparse': {
        sparse: {
          size: 200 * MiB,
          data: [
            [0, 'head'],
            [65 * MiB - 2, 'across a 64 MiB boundary'],
            [150 * MiB, 'middle'],
            [200 * MiB - 4, 'tail'],
          ],
        },
        mode: 0o4750,
        ...owner(3, 4),
        xattrs: { 'user.k': 'v' },
      },
      'data/dense': { file: dense, mode: 0o600 },
      'data/small': 'small',
    });
    const before = snapshot(l1);
    const root = path.join(dir, 'root');
    const summary = await provision([l1], root, { batchSize: 64, concurrency: 2, strategy });
    expect(diffSnapshots(before, snapshot(root))).toEqual([]);
    expect(summary.bytes).toBe(270 * MiB + 5);
    const blocks = (p: string) => Number(lstat(p).blocks);
    expect(blocks(path.join(root, 'data/sparse'))).toBeLessThanOrEqual(blocks(path.join(l1, 'data/sparse')));
  });

  it('keeps nanosecond times of files, directories and symlinks', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), {
      f: { file: 'x', mtime: [1000000000, 1], atime: [2000000000, 999999999] },
      d: { dir: true, mtime: [1100000000, 123456789] },
      l: { symlink: 'f', mtime: [1200000000, 987654321] },
    });
    const root = path.join(dir, 'root');
    await provision([l1], root);
    expect(lstat(path.join(root, 'f')).mtimeNs).toBe(1000000000000000001n);
    expect(lstat(path.join(root, 'f')).atimeNs).toBe(2000000000999999999n);
    expect(lstat(path.join(root, 'd')).mtimeNs).toBe(1100000000123456789n);
    expect(lstat(path.join(root, 'l')).mtimeNs).toBe(1200000000987654321n);
  });

  it("sets a directory's times after everything the layer writes or removes in it", async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { 'etc/old': 'x', 'etc/keep': 'k' });
    const l2 = buildLayer(path.join(dir, 'l2'), { 'etc/.wh.old': '', 'etc/new': 'n', etc: { dir: true, mtime: [1300000000, 5] } });
    const root = path.join(dir, 'root');
    await provision([l1, l2], root);
    expect(lstat(path.join(root, 'etc')).mtimeNs).toBe(1300000000000000005n);
  });

  it("gives the rootfs root the last layer's mode and times", async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { a: 'a' }, { mode: 0o700 });
    const l2 = buildLayer(path.join(dir, 'l2'), { b: 'b' }, { mode: 0o755, mtime: [1400000000, 77] });
    const root = path.join(dir, 'root');
    await provision([l1, l2], root);
    const st = lstat(root);
    expect(Number(st.mode & 0o7777n)).toBe(0o755);
    expect(st.mtimeNs).toBe(1400000000000000077n);
  });

  it('never modifies a source layer, atimes included', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { 'a/b': 'b', c: { symlink: 'a' }, 'a/.wh.x': '' });
    const l2 = buildLayer(path.join(dir, 'l2'), { 'a/.wh..wh..opq': '', 'a/d': 'd', c: 'file' });
    const s1 = snapshot(l1);
    const s2 = snapshot(l2);
    await provision([l1, l2], path.join(dir, 'root'));
    expect(diffSnapshots(s1, snapshot(l1))).toEqual([]);
    expect(diffSnapshots(s2, snapshot(l2))).toEqual([]);
  });
});

describe('atomicity', () => {
  it('a failure in a later layer leaves neither ROOTFS nor a staging directory', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`f${i}`, `${i}`])));
    const l2 = buildLayer(path.join(dir, 'l2'), { 'deep/er/.wh..': '' });
    const root = path.join(dir, 'root');
    await expect(provision([l1, l2], root)).rejects.toMatchObject({ code: 'ERR_INVALID_WHITEOUT' });
    expect(exists(root)).toBe(false);
    expect(stagingLeft(dir)).toEqual([]);
  });

  it('an abort stops the copy, removes the staging directory and rejects with AbortError', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`d${i % 20}/f${i}`, 'x'])));
    const root = path.join(dir, 'root');
    const controller = new AbortController();
    let calls = 0;
    const error = await provision([l1], root, {
      batchSize: 4,
      signal: controller.signal,
      onProgress: () => {
        if (++calls === 2) controller.abort();
      },
    }).catch((e) => e);
    expect(error).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    expect(exists(root)).toBe(false);
    expect(stagingLeft(dir)).toEqual([]);
  });

  it('reports progress and a summary of what was done', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { 'a/1': '12345', 'a/2': '678', 'b/x': { symlink: '../a/1' } });
    const seen: number[] = [];
    const summary = await provision([l1], path.join(dir, 'root'), { batchSize: 1, onProgress: (p) => seen.push(p.entries) });
    expect(summary).toMatchObject({ layers: 1, entries: 5, bytes: 8, directories: 2, whiteouts: 0, replaced: 0 });
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(summary.timings.totalMs).toBeGreaterThan(0);
  });

  it.each(['merged', 'layered'] as const)('%s: progress names its phase and ends with one "done" event equal to the summary', async (strategy) => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { 'a/1': '12345', 'a/2': { link: 'a/1' }, 'b/x': { symlink: '../a/1' } });
    const l2 = buildLayer(path.join(dir, 'l2'), { 'c/y': 'y' });
    const events: Progress[] = [];
    const summary = await provision([l1, l2], path.join(dir, 'root'), { strategy, batchSize: 1, onProgress: (p) => events.push(p) });
    const phases = [...new Set(events.map((e) => e.phase))];
    // 'links' only where names were left to link after the copies (batchSize 1 links each as it comes).
    expect(phases).toEqual(expect.arrayContaining(['copy', 'metadata', 'done']));
    expect(phases.filter((phase) => !['copy', 'links', 'metadata', 'done'].includes(phase))).toEqual([]);
    const last = events[events.length - 1];
    expect(events.filter((e) => e.phase === 'done')).toEqual([last]);
    expect([last.entries, last.bytes]).toEqual([summary.entries, summary.bytes]);
  });

  it('an onProgress that throws fails the provision with that error as cause; nothing is left', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { a: 'a', b: 'b' });
    const oops = new Error('callback failed');
    const error = await provision([l1], path.join(dir, 'root'), {
      onProgress: () => {
        throw oops;
      },
    }).catch((e) => e);
    expect(error.cause).toBe(oops);
    expect(fs.readdirSync(dir)).toEqual(['l1']);
  });
});

describe('options', () => {
  it.each([
    [{ concurrency: 0 }, 'options.concurrency must be a positive integer'],
    [{ batchSize: 1.5 }, 'options.batchSize must be a positive integer'],
    [{ signal: 'no' }, 'options.signal must be an AbortSignal'],
  ])('rejects %j', async (options, message) => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { a: 'a' });
    await expect(provision([l1], path.join(dir, 'root'), options as never)).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining(message) });
    expect(exists(path.join(dir, 'root'))).toBe(false);
  });
});

void native;
