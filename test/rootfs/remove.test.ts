import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { native } from '../../src/core/native.cjs';
import { removeInWorker } from '../../src/rootfs/remove.js';
import { hasCc, preloading, syscallShim } from '../fixtures/shim.js';
import { buildLayer, diffSnapshots, exists, scratch, snapshot } from '../helpers.js';

const opened: number[] = [];
afterEach(() => {
  for (const fd of opened.splice(0)) fs.closeSync(fd);
});
const openDir = (p: string) => {
  const fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  opened.push(fd);
  return fd;
};

describe('removeInWorker', () => {
  it('removes read-only directories and never follows symlinks', async () => {
    const dir = scratch();
    const host = buildLayer(path.join(dir, 'host'), { keep: 'k', sub: { dir: true, mode: 0o555 } });
    const before = snapshot(host);
    const tree = buildLayer(path.join(dir, 'tree'), {
      'ro/f': { file: 'x', mode: 0o444 },
      ro: { dir: true, mode: 0o555 },
      link: { symlink: host },
      'a/b': { symlink: `${host}/keep` },
      sub: { symlink: `${host}/sub` },
    });
    expect(await removeInWorker(openDir(dir), 'tree', true)).toBeNull();
    expect(exists(tree)).toBe(false);
    expect(diffSnapshots(before, snapshot(host))).toEqual([]);
  });

  it('removes a 30,000-level tree (an fd per level failed with EMFILE)', async () => {
    const dir = scratch();
    fs.mkdirSync(path.join(dir, 'deep'));
    // Paths this deep exceed PATH_MAX: a child process goes down 100 levels at a time.
    const chunk = Array.from({ length: 100 }, () => 'd').join('/');
    const script = `
      const fs = require('node:fs');
      process.chdir(${JSON.stringify(path.join(dir, 'deep'))});
      for (let i = 0; i < 300; i++) { fs.mkdirSync('${chunk}', { recursive: true }); process.chdir('${chunk}'); }
      fs.writeFileSync('leaf', 'x');`;
    execFileSync(process.execPath, ['-e', script]);
    expect(await removeInWorker(openDir(dir), 'deep', true)).toBeNull();
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('a directory with many subdirectories is removed (each listed once)', async () => {
    const dir = scratch();
    for (let i = 0; i < 2000; i++) fs.mkdirSync(path.join(dir, 'wide', `d${i}`, 'x'), { recursive: true });
    expect(await removeInWorker(openDir(dir), 'wide', true)).toBeNull();
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('stops at once when cancelled, reporting ECANCELED', async () => {
    const dir = scratch();
    for (let i = 0; i < 50; i++) fs.writeFileSync(path.join(dir, `f${i}`), 'x');
    fs.mkdirSync(path.join(dir, 't'));
    for (let i = 0; i < 50; i++) fs.renameSync(path.join(dir, `f${i}`), path.join(dir, 't', `f${i}`));
    const cancel = new Int32Array(new SharedArrayBuffer(4));
    Atomics.store(cancel, 0, 1);
    expect(await removeInWorker(openDir(dir), 't', true, cancel)).toMatchObject({ code: 'ECANCELED' });
    expect(fs.readdirSync(path.join(dir, 't')).length).toBe(50);
  });
});

describe('native.removeEntry where it starts', () => {
  it.runIf(process.getuid?.() === 0)('a directory that is a mount is not entered: its files stay, EMOUNTPOINT names it [needs root: mount namespace]', () => {
    const dir = scratch();
    fs.mkdirSync(path.join(dir, 'p', 'm'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'p', 'beside'), 'b');
    const native = new URL('../../dist/src/core/native.cjs', import.meta.url).pathname;
    // In a mount namespace of its own: the tmpfs goes with it.
    const remove = `const { native } = require(process.argv[1]); const fs = require('node:fs');
      const fd = fs.openSync(process.argv[2], 'r'); const f = native.removeEntry(fd, 'p/m', true);
      console.log(JSON.stringify({ code: f?.code, rel: f?.rel, left: fs.readdirSync(process.argv[2] + '/p/m') }));`;
    const script = 'mount -t tmpfs tmpfs "$3/p/m" && echo x > "$3/p/m/precious" && mkdir "$3/p/m/sub" && exec node -e "$1" "$2" "$3"';
    const out = execFileSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', remove, native, dir], { encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ code: 'EMOUNTPOINT', rel: 'p/m', left: ['precious', 'sub'] });
    expect(fs.readFileSync(path.join(dir, 'p', 'beside'), 'utf8')).toBe('b');
  });
  it.runIf(process.getuid?.() === 0)('as non-root, a mount it may not enter is not made writable to be looked into [needs root: mount namespace]', () => {
    const dir = scratch();
    fs.mkdirSync(path.join(dir, 'p', 'm'), { recursive: true });
    fs.chownSync(path.join(dir, 'p'), 65534, 65534);
    fs.chmodSync(dir, 0o755);
    const native = new URL('../../dist/src/core/native.cjs', import.meta.url).pathname;
    const remove = `const { native } = require(process.argv[1]); const fs = require('node:fs');
      const fd = fs.openSync(process.argv[2], 'r'); const f = native.removeEntry(fd, 'p/m', true);
      console.log(JSON.stringify({ code: f?.code }));`;
    // The tmpfs's root is nobody's, mode 0000: the removal as nobody would chmod it to get in.
    const script = 'mount -t tmpfs -o mode=0000,uid=65534 tmpfs "$3/p/m" && setpriv --reuid=65534 --regid=65534 --clear-groups node -e "$1" "$2" "$3" && stat -c %a "$3/p/m"';
    const out = execFileSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', remove, native, dir], { encoding: 'utf8' }).trim().split('\n');
    expect(JSON.parse(out[0])).toEqual({ code: 'EMOUNTPOINT' });
    expect(out[1]).toBe('0');
  });
  it.runIf(process.getuid?.() === 0 && hasCc())(
    'without statx (a kernel before 4.11): a tree is removed all the same, a tmpfs where it starts still refused [needs root and cc: mount namespace, a fault shim]',
    () => {
      const dir = scratch();
      buildLayer(path.join(dir, 'p', 'tree'), { 'a/b/c': 'x', 'a/d': { dir: true }, e: 'y' });
      fs.mkdirSync(path.join(dir, 'p', 'm'));
      const shim = syscallShim()!;
      const native = new URL('../../dist/src/core/native.cjs', import.meta.url).pathname;
      const remove = `const { native } = require(process.argv[1]); const fs = require('node:fs');
      const fd = fs.openSync(process.argv[2], 'r'); const tree = native.removeEntry(fd, 'p/tree', true); const m = native.removeEntry(fd, 'p/m', true);
      console.log(JSON.stringify({ tree: tree?.code ?? null, m: m?.code, left: fs.readdirSync(process.argv[2] + '/p').sort(), inM: fs.readdirSync(process.argv[2] + '/p/m') }));`;
      const script = 'mount -t tmpfs tmpfs "$3/p/m" && echo x > "$3/p/m/precious" && exec node -e "$1" "$2" "$3"';
      const out = execFileSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', remove, native, dir], {
        encoding: 'utf8',
        env: { ...process.env, LD_PRELOAD: preloading(shim), LAYERCOPY_SHIM_STATX: 'enosys' },
      });
      expect(JSON.parse(out)).toEqual({ tree: null, m: 'EMOUNTPOINT', left: ['m'], inM: ['precious'] });
    },
  );
});

describe('native.removeEntriesLater (trees removed on a libuv thread)', () => {
  it('removes a tree beneath the root, read-only directories too, never following a symlink', async () => {
    const dir = scratch();
    const host = buildLayer(path.join(dir, 'host'), { keep: 'k' });
    const before = snapshot(host);
    buildLayer(path.join(dir, 'tree'), { 'ro/f': { file: 'x', mode: 0o444 }, ro: { dir: true, mode: 0o555 }, link: { symlink: host }, 'a/b': { symlink: `${host}/keep` } });
    expect(await native.removeEntriesLater(openDir(dir), ['tree'], true)).toBeNull();
    expect(fs.readdirSync(dir)).toEqual(['host']);
    expect(diffSnapshots(before, snapshot(host))).toEqual([]);
  });

  it('several, in turn, in one call; a failure stops it there, naming its path', async () => {
    const dir = scratch();
    for (const name of ['a', 'b', 'c']) fs.mkdirSync(path.join(dir, name, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'file'), 'x');
    expect(await native.removeEntriesLater(openDir(dir), ['a', 'b'], false)).toBeNull();
    expect(fs.readdirSync(dir).sort()).toEqual(['c', 'file']);
    const failure = await native.removeEntriesLater(openDir(dir), ['file/x', 'c'], false);
    expect(failure).toMatchObject({ errno: 20 });
    expect(fs.readdirSync(dir).sort()).toEqual(['c', 'file']);
  });

  it('a name that is not there is removed already (null)', async () => {
    expect(await native.removeEntriesLater(openDir(scratch()), ['gone/x'], false)).toBeNull();
  });

  it('stops when cancelled, reporting ECANCELED', async () => {
    const dir = scratch();
    for (let i = 0; i < 50; i++) fs.mkdirSync(path.join(dir, 't', `d${i}`), { recursive: true });
    const cancel = new Int32Array(new SharedArrayBuffer(4));
    Atomics.store(cancel, 0, 1);
    expect(await native.removeEntriesLater(openDir(dir), ['t'], false, cancel)).toMatchObject({ code: 'ECANCELED' });
    expect(fs.readdirSync(path.join(dir, 't')).length).toBe(50);
  });

  it('a root that cannot be opened is a failure, not a rejection', async () => {
    const failure = await native.removeEntriesLater(path.join(scratch(), 'missing'), ['x'], false);
    expect(failure).toMatchObject({ errno: 2, syscall: 'open' });
  });
});
