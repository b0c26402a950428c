// Findings of the security review (docs/reliability.md, "Hardening"): each
// test failed on the code before the fix.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { provision } from '../src/index.js';
import { acl, buildLayer, diffSnapshots, exists, listTree, lstat, native, provisionWhileChanging, scratch, snapshot } from './helpers.js';

const cli = fileURLToPath(new URL('../dist/src/cli.js', import.meta.url));
const isRoot = process.getuid?.() === 0;
const leftovers = (dir: string) => fs.readdirSync(dir).filter((n) => n.includes('layercopy') || n === 'root');

const USER_OBJ = 0x01,
  USER = 0x02,
  GROUP_OBJ = 0x04,
  MASK = 0x10,
  OTHER = 0x20;
// Grants uid 65534 rwx on everything created below.
const leakyDefault = acl([
  [USER_OBJ, 7],
  [USER, 7, 65534],
  [GROUP_OBJ, 5],
  [MASK, 7],
  [OTHER, 5],
]);

describe('a source swapped for a FIFO', () => {
  it('fails with ERR_SOURCE_CHANGED instead of blocking in open(); no staging left', async () => {
    const dir = scratch();
    // Hardlinked files are copied after the barrier: swap them in between.
    const l1 = buildLayer(path.join(dir, 'l1'), { a: 'a', b: { link: 'a' }, ...Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i}`, 'x'])) });
    let swapped = false;
    const error = await provisionWhileChanging(l1, path.join(dir, 'root'), () => {
      swapped = true;
      for (const name of ['a', 'b']) {
        fs.rmSync(path.join(l1, name));
        execFileSync('mkfifo', [path.join(l1, name)]);
      }
    });
    expect(swapped).toBe(true);
    expect(error).toMatchObject({ code: 'ERR_SOURCE_CHANGED', layer: l1 });
    expect(error.path).toMatch(/\/l1\/[ab]$/);
    expect(leftovers(dir)).toEqual([]);
  });
});

describe('a layer path swapped for a symlink mid-provision', () => {
  it('is never re-resolved: the rootfs holds the original layer, not the symlink target, and its root mode', async () => {
    const dir = scratch();
    const spec: Record<string, string> = {};
    for (let i = 0; i < 30; i++) spec[`d${i}/f`] = `layer ${i}`;
    const l1 = buildLayer(path.join(dir, 'l1'), spec, { mode: 0o755 });
    const host = buildLayer(path.join(dir, 'host'), { ...Object.fromEntries(Object.keys(spec).map((k) => [k, 'HOST SECRET'])), 'd0/secret': 'HOST SECRET' }, { mode: 0o777 });
    let swapped = false;
    const result = await provisionWhileChanging(l1, path.join(dir, 'root'), () => {
      swapped = true;
      fs.renameSync(l1, path.join(dir, 'l1.moved'));
      fs.symlinkSync(host, l1);
    });
    expect(result).not.toBeInstanceOf(Error);
    expect(swapped).toBe(true);
    const tree = snapshot(path.join(dir, 'root'));
    expect(tree.has('d0/secret')).toBe(false);
    expect([...tree.values()].filter((e) => e.type === 'file').length).toBe(30);
    for (let i = 0; i < 30; i++) expect(fs.readFileSync(path.join(dir, 'root', `d${i}/f`), 'utf8')).toBe(`layer ${i}`);
    expect(Number(lstat(path.join(dir, 'root')).mode & 0o7777n)).toBe(0o755);
  });
});

describe('a layer given through a symlink', () => {
  it('is resolved once: re-pointing the link mid-provision changes nothing', async () => {
    const dir = scratch();
    const spec: Record<string, string> = {};
    for (let i = 0; i < 30; i++) spec[`d${i}/f`] = `layer ${i}`;
    buildLayer(path.join(dir, 'store/sha256-a'), spec, { mode: 0o750 });
    const other = buildLayer(path.join(dir, 'store/sha256-b'), { ...Object.fromEntries(Object.keys(spec).map((k) => [k, 'OTHER'])), 'd0/extra': 'OTHER' });
    const link = path.join(dir, 'current');
    fs.symlinkSync('store/sha256-a', link);
    let swapped = false;
    const result = await provisionWhileChanging(link, path.join(dir, 'root'), () => {
      swapped = true;
      fs.unlinkSync(link);
      fs.symlinkSync(other, link);
    });
    expect(result).not.toBeInstanceOf(Error);
    expect(swapped).toBe(true);
    expect(result.perLayer[0].layer).toBe(link);
    const tree = snapshot(path.join(dir, 'root'));
    expect(tree.has('d0/extra')).toBe(false);
    for (let i = 0; i < 30; i++) expect(fs.readFileSync(path.join(dir, 'root', `d${i}/f`), 'utf8')).toBe(`layer ${i}`);
    expect(Number(lstat(path.join(dir, 'root')).mode & 0o7777n)).toBe(0o750);
  });

  it('errors name the path given and the directory it resolved to', async () => {
    const dir = scratch();
    const real = buildLayer(path.join(dir, 'store/sha256-a'), { 'etc/.wh.': '' });
    const link = path.join(dir, 'current');
    fs.symlinkSync('store/sha256-a', link);
    const error = await provision([link], path.join(dir, 'root')).catch((e) => e);
    expect(error).toMatchObject({ code: 'ERR_INVALID_WHITEOUT', layer: link, layerIndex: 0, path: path.join(real, 'etc/.wh.') });
    expect(error.message).toContain(`layer 1 (${link} -> ${real}): `);
    expect(leftovers(dir)).toEqual([]);
  });
});

describe('inherited ACLs', () => {
  it('an upper file and directory under a lower default ACL end with no ACL and their own modes', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { shared: { dir: true, mode: 0o755 } });
    native.lsetxattr(path.join(l1, 'shared'), 'system.posix_acl_default', leakyDefault);
    const l2 = buildLayer(path.join(dir, 'l2'), {
      shared: { dir: true, mode: 0o755 },
      'shared/secret': { file: 'root only', mode: 0o640 },
      'shared/private': { dir: true, mode: 0o750 },
      'shared/private/key': { file: 'k', mode: 0o600 },
      'shared/wide': { file: 'w', mode: 0o666 },
      'shared/pipe': { fifo: true, mode: 0o600 },
    });
    await provision([l1, l2], path.join(dir, 'root'));
    const tree = snapshot(path.join(dir, 'root'));
    for (const [rel, mode] of [
      ['shared/secret', 0o640],
      ['shared/private', 0o750],
      ['shared/private/key', 0o600],
      ['shared/wide', 0o666],
      ['shared/pipe', 0o600],
      ['shared', 0o755],
    ] as const) {
      expect(tree.get(rel), rel).toMatchObject({ mode, xattrs: '' });
    }
  });

  it('a source ACL is kept exactly, on files and directories', async () => {
    const dir = scratch();
    const access = acl([
      [USER_OBJ, 6],
      [USER, 4, 1000],
      [GROUP_OBJ, 4],
      [MASK, 4],
      [OTHER, 0],
    ]);
    const l1 = buildLayer(path.join(dir, 'l1'), { d: { dir: true, mode: 0o750 }, 'd/f': { file: 'f', mode: 0o640 } });
    native.lsetxattr(path.join(l1, 'd/f'), 'system.posix_acl_access', access);
    native.lsetxattr(path.join(l1, 'd'), 'system.posix_acl_default', leakyDefault);
    await provision([l1], path.join(dir, 'root'));
    expect(diffSnapshots(snapshot(l1), snapshot(path.join(dir, 'root'))).filter((d) => !d.startsWith('differs: \n'))).toEqual([]);
  });
});

describe('big opaque directories and AUFS metadata', () => {
  it('AUFS .wh..wh.plnk / .wh..wh.orph directories are skipped, not copied, not errors', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { keep: 'k' });
    const l2 = buildLayer(path.join(dir, 'l2'), {
      '.wh..wh.plnk/1234.5678': 'aufs pseudo-link',
      '.wh..wh.orph': { dir: true },
      'sub/.wh..wh.aufs': '',
      'sub/x': 'x',
    });
    await provision([l1, l2], path.join(dir, 'root'));
    expect(listTree(path.join(dir, 'root'))).toEqual(['keep', 'sub', 'sub/x']);
  });

  it('other non-regular .wh. entries are still rejected', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { '.wh.x': { dir: true } });
    await expect(provision([l1], path.join(dir, 'root'))).rejects.toMatchObject({ code: 'ERR_INVALID_WHITEOUT' });
  });
});

describe('hardlink groups of every type', () => {
  it.runIf(isRoot)('symlinks, FIFOs and device nodes keep their links, as cp -a keeps them [needs root: device nodes]', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), {
      s1: { symlink: 'target' },
      s2: { link: 's1' },
      p1: { fifo: true },
      'sub/p2': { link: 'p1' },
      c1: { chr: [1, 3] },
      c2: { link: 'c1' },
      f1: 'f',
      f2: { link: 'f1' },
    });
    await provision([l1], path.join(dir, 'root'));
    const ino = (rel: string) => lstat(path.join(dir, 'root', rel)).ino;
    expect(ino('s1')).toBe(ino('s2'));
    expect(ino('p1')).toBe(ino('sub/p2'));
    expect(ino('c1')).toBe(ino('c2'));
    expect(ino('f1')).toBe(ino('f2'));
    expect(lstat(path.join(dir, 'root', 's2')).isSymbolicLink()).toBe(true);
    expect(fs.readlinkSync(path.join(dir, 'root', 's2'))).toBe('target');
    await execa('cp', ['-a', l1, path.join(dir, 'cp')]);
    expect(diffSnapshots(snapshot(path.join(dir, 'cp')), snapshot(path.join(dir, 'root')))).toEqual([]);
  });
});

describe('raw names in human output', () => {
  it('newlines and escape sequences in an entry name are escaped on stderr; --json keeps them', async () => {
    const dir = scratch();
    const evil = '.wh.\x1b[2J\nlayercopy: forged line';
    const l1 = buildLayer(path.join(dir, 'l1'), { [evil]: { dir: true } });
    const human = await execa('node', [cli, 'provision', '--quiet', l1, path.join(dir, 'root')], { reject: false });
    expect(human.exitCode).toBe(1);
    expect(human.stderr.includes('\u001b')).toBe(false);
    expect(human.stderr.trim().split('\n')).toHaveLength(1);
    expect(human.stderr).toContain('.wh.\\e[2J\\nlayercopy: forged line');
    const json = await execa('node', [cli, 'provision', '--json', l1, path.join(dir, 'root')], { reject: false });
    expect(JSON.parse(json.stdout).error.path).toContain(evil);
  });
});

describe('kernels without openat2', () => {
  it('refuse to run with a clear error instead of silently weakening the checks [needs cc, for an LD_PRELOAD shim]', async (ctx) => {
    const dir = scratch();
    // An LD_PRELOAD shim makes syscall(SYS_openat2) fail with ENOSYS, as on Linux < 5.6.
    const shim = path.join(dir, 'no-openat2.c');
    fs.writeFileSync(
      shim,
      `
      #define _GNU_SOURCE
      #include <dlfcn.h>
      #include <errno.h>
      #include <stdarg.h>
      #include <sys/syscall.h>
      long syscall(long n, ...) {
        va_list ap; va_start(ap, n);
        long a[6]; for (int i = 0; i < 6; i++) a[i] = va_arg(ap, long);
        va_end(ap);
        if (n == SYS_openat2) { errno = ENOSYS; return -1; }
        long (*real)(long, ...) = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
        return real(n, a[0], a[1], a[2], a[3], a[4], a[5]);
      }`,
    );
    const so = path.join(dir, 'no-openat2.so');
    const cc = await execa('cc', ['-shared', '-fPIC', '-o', so, shim, '-ldl'], { reject: false });
    if (cc.exitCode !== 0) ctx.skip();
    const l1 = buildLayer(path.join(dir, 'l1'), { a: 'a' });
    const r = await execa('node', [cli, 'provision', l1, path.join(dir, 'root')], { reject: false, env: { LD_PRELOAD: [process.env.LD_PRELOAD, so].filter(Boolean).join(' ') } });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/needs Linux 5\.6 or later \(openat2/);
    expect(leftovers(dir)).toEqual([]);
  });
});

describe('a layer directory swapped for a symlink before its metadata is set', () => {
  it('fails cleanly with ELOOP naming the directory (the native failure path had undefined behaviour)', async () => {
    const dir = scratch();
    const spec: Record<string, string> = { 'sub/deeper/x': 'x' };
    for (let i = 0; i < 20; i++) spec[`sub/f${i}`] = 'f';
    const l1 = buildLayer(path.join(dir, 'l1'), spec);
    let swapped = false;
    const error = await provisionWhileChanging(l1, path.join(dir, 'root'), () => {
      swapped = true;
      fs.renameSync(path.join(l1, 'sub', 'deeper'), path.join(dir, 'deeper.moved'));
      fs.symlinkSync('/etc', path.join(l1, 'sub', 'deeper'));
    });
    expect(swapped).toBe(true);
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toMatch(/^(ELOOP|ENOTDIR|ERR_SOURCE_CHANGED)$/);
    expect(error.message).toMatch(/sub\/deeper/);
    expect(leftovers(dir)).toEqual([]);
    expect(exists(path.join(dir, 'root'))).toBe(false);
  });
});
