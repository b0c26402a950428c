// Tar layers as real images use them, and as hostile ones abuse them: each
// provisioned from a tarball, the result checked on the filesystem.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ProvisionOptions, provision } from '../../src/index.js';
import { acl, buildLayer, diffSnapshots, isRoot, lstat, native, owner, scratch, snapshot } from '../helpers.js';
import { rawTar, tarDir } from './fixtures.js';

/** Provisions one tar layer (written to a file) into dir/root; resolves to the summary or the error. */
async function fromTar(dir: string, tar: Buffer, lower?: string, options?: ProvisionOptions) {
  const file = path.join(dir, 'layer.tar');
  fs.writeFileSync(file, tar);
  return provision(lower ? [lower, file] : [file], path.join(dir, 'root'), options).catch((e) => e);
}

describe('a tar layer', () => {
  it('equals its source directory: modes, owners, ns times, xattrs (binary too), hardlinks, symlinks verbatim, FIFOs', async () => {
    const dir = scratch();
    const src = buildLayer(path.join(dir, 'src'), {
      'etc/motd': { file: 'hello', mode: 0o640, mtime: [1_000_000_000, 123_456_789], xattrs: { 'user.bin': Buffer.from([0, 255, 10, 1]) } },
      'etc/link': { link: 'etc/motd' },
      'usr/bin/tool': { file: '#!/bin/sh', mode: 0o4755 },
      'usr/lib/abs': { symlink: '/usr/lib/x86_64-linux-gnu/libc.so.6' },
      'usr/lib/dangling': { symlink: '../nowhere' },
      [`${'d'.repeat(120)}/${'n'.repeat(200)}`]: 'a long name (PAX path)',
      pipe: { fifo: true },
      'empty/': { dir: true, mode: 0o1777, mtime: [1_200_000_000, 5] },
    });
    const r = await fromTar(dir, tarDir(src));
    expect(r).not.toBeInstanceOf(Error);
    const diff = diffSnapshots(snapshot(src, { atime: false }), snapshot(path.join(dir, 'root'), { atime: false }));
    expect(diff).toEqual([]);
    expect(lstat(path.join(dir, 'root/etc/motd')).mtimeNs % 1_000_000_000n).toBe(123_456_789n);
    expect(native.lgetxattrs(path.join(dir, 'root/etc/motd'))['user.bin']).toEqual(Buffer.from([0, 255, 10, 1]));
  });

  it.runIf(isRoot)('device nodes keep their numbers [needs root: mknod]', async () => {
    const dir = scratch();
    const src = buildLayer(path.join(dir, 'src'), { 'dev/null': { chr: [1, 3] } });
    await fromTar(dir, tarDir(src));
    expect(Number(lstat(path.join(dir, 'root/dev/null')).rdev)).toBe(Number(lstat('/dev/null').rdev));
  });

  it('a default ACL on the directory ROOTFS is made in is not inherited by what the tar holds', async () => {
    const dir = scratch();
    const src = buildLayer(path.join(dir, 'src'), { 'd/secret': { file: 's', mode: 0o640 }, d: { dir: true, mode: 0o750 }, pipe: { fifo: true, mode: 0o600 } });
    const tar = tarDir(src);
    const parent = path.join(dir, 'shared');
    fs.mkdirSync(parent);
    // Grants uid 65534 rwx on everything created below.
    native.lsetxattr(
      parent,
      'system.posix_acl_default',
      acl([
        [0x01, 7],
        [0x02, 7, 65534],
        [0x04, 5],
        [0x10, 7],
        [0x20, 5],
      ]),
    );
    fs.writeFileSync(path.join(dir, 'layer.tar'), tar);
    await provision([path.join(dir, 'layer.tar')], path.join(parent, 'root'));
    const tree = snapshot(path.join(parent, 'root'));
    for (const [rel, mode] of [
      ['d', 0o750],
      ['d/secret', 0o640],
      ['pipe', 0o600],
    ] as const)
      expect(tree.get(rel), rel).toMatchObject({ mode, xattrs: '' });
  });

  it('the same name twice: the later entry wins (file over file, file over directory, directory over file), its metadata too', async () => {
    const dir = scratch();
    const r = await fromTar(
      dir,
      rawTar([
        { name: 'a', data: 'first' },
        { name: 'a', data: 'second' },
        { name: 'd/', type: '5' },
        { name: 'd/x', data: 'x' },
        { name: 'd', data: 'now a file' },
        { name: 'f', data: 'a file' },
        { name: 'f/', type: '5', mode: 0o711 },
        { name: 'g/', type: '5', mode: 0o700 },
        { name: 'g', data: 'a file for now', mode: 0o640 },
        { name: 'g/y', data: 'y' },
      ]),
    );
    expect(r).not.toBeInstanceOf(Error);
    expect(fs.readFileSync(path.join(dir, 'root/a'), 'utf8')).toBe('second');
    expect(fs.readFileSync(path.join(dir, 'root/d'), 'utf8')).toBe('now a file');
    expect(Number(lstat(path.join(dir, 'root/d')).mode & 0o7777n)).toBe(0o644);
    expect(Number(lstat(path.join(dir, 'root/f')).mode & 0o7777n)).toBe(0o711);
    // A directory, then a file, then a name under it: the parent is made a directory again (0755, implied).
    expect(fs.readFileSync(path.join(dir, 'root/g/y'), 'utf8')).toBe('y');
    expect(Number(lstat(path.join(dir, 'root/g')).mode & 0o7777n)).toBe(0o755);
  });

  it('implied parents are made 0755; a directory header after its children still sets its metadata', async () => {
    const dir = scratch();
    await fromTar(
      dir,
      rawTar([
        { name: 'implied/deep/file', data: 'x' },
        { name: 'late/child', data: 'c' },
        { name: 'late/', type: '5', mode: 0o700, mtime: 1_100_000_000 },
      ]),
    );
    expect(Number(lstat(path.join(dir, 'root/implied/deep')).mode & 0o7777n)).toBe(0o755);
    const late = lstat(path.join(dir, 'root/late'));
    expect([Number(late.mode & 0o7777n), late.mtimeNs]).toEqual([0o700, 1_100_000_000n * 1_000_000_000n]);
  });

  // umoci-built layers name only what changed: a package's files under
  // usr/bin come without a usr/ or usr/bin/ header. umoci restores a
  // parent's metadata after each entry written into it; taking the
  // directories' metadata from such a layer gave them its extraction time
  // (63 directories of a real 5-layer image differed from umoci unpack).
  it.each(['merged', 'layered'] as const)('%s: a directory no header describes keeps what the lower layer gave it; one it makes is 0755', async (strategy) => {
    const dir = scratch();
    const lower = buildLayer(path.join(dir, 'lower'), {
      'usr/': { dir: true, mode: 0o750, mtime: [1_000_000_000, 5], ...owner(5, 6) },
      'usr/bin/': { dir: true, mode: 0o711, mtime: [1_000_000_100, 7] },
      'usr/bin/old': 'old',
    });
    fs.utimesSync(lower, 1_000_000_200, 1_000_000_200);
    const r = await fromTar(
      dir,
      rawTar([
        { name: 'usr/bin/tool', data: 'x' },
        { name: 'usr/new/f', data: 'y' },
      ]),
      lower,
      { strategy },
    );
    expect(r).not.toBeInstanceOf(Error);
    const meta = (rel: string) => {
      const st = lstat(path.join(dir, 'root', rel));
      return [Number(st.mode & 0o7777n), st.mtimeNs, ...(isRoot ? [st.uid, st.gid] : [])];
    };
    expect(meta('usr')).toEqual([0o750, 1_000_000_000_000_000_005n, ...(isRoot ? [5n, 6n] : [])]);
    expect(meta('usr/bin')).toEqual([0o711, 1_000_000_100_000_000_007n, ...(isRoot ? [0n, 0n] : [])]);
    // The root too: the tar has no "./" entry.
    expect(lstat(path.join(dir, 'root')).mtimeNs).toBe(1_000_000_200_000_000_000n);
    expect(Number(lstat(path.join(dir, 'root/usr/new')).mode & 0o7777n)).toBe(0o755);
    expect(fs.readFileSync(path.join(dir, 'root/usr/bin/tool'), 'utf8')).toBe('x');
  });

  it.each(['merged', 'layered'] as const)('%s: an opaque marker in a directory no header describes hides the lower entries, not the lower metadata', async (strategy) => {
    const dir = scratch();
    const lower = buildLayer(path.join(dir, 'lower'), { 'etc/': { dir: true, mode: 0o750, mtime: [1_000_000_000, 5] }, 'etc/old': 'old' });
    const r = await fromTar(
      dir,
      rawTar([
        { name: 'etc/.wh..wh..opq', data: '' },
        { name: 'etc/new', data: 'n' },
      ]),
      lower,
      { strategy },
    );
    expect(r).not.toBeInstanceOf(Error);
    expect(fs.readdirSync(path.join(dir, 'root/etc'))).toEqual(['new']);
    const etc = lstat(path.join(dir, 'root/etc'));
    expect([Number(etc.mode & 0o7777n), etc.mtimeNs]).toEqual([0o750, 1_000_000_000_000_000_005n]);
  });

  it("a directory header after its children is no implied parent: its metadata wins over the lower layer's", async () => {
    const dir = scratch();
    const lower = buildLayer(path.join(dir, 'lower'), { 'usr/': { dir: true, mode: 0o750, mtime: [1_000_000_000, 5] }, 'usr/old': 'old' });
    const r = await fromTar(
      dir,
      rawTar([
        { name: 'usr/tool', data: 'x' },
        { name: 'usr/', type: '5', mode: 0o700, mtime: 1_100_000_000 },
      ]),
      lower,
    );
    expect(r).not.toBeInstanceOf(Error);
    const usr = lstat(path.join(dir, 'root/usr'));
    expect([Number(usr.mode & 0o7777n), usr.mtimeNs]).toEqual([0o700, 1_100_000_000n * 1_000_000_000n]);
  });

  it('PAX: ns times, owners, a path longer than 100 bytes and LIBARCHIVE.xattr', async () => {
    const dir = scratch();
    const long = `${'p'.repeat(150)}/file`;
    await fromTar(
      dir,
      rawTar([
        { name: 'short', data: 'x', pax: { path: long, mtime: '1234567890.5', atime: '1234567891.25', 'LIBARCHIVE.xattr.user.b64': Buffer.from('v\0w').toString('base64') } },
      ]),
    );
    const st = lstat(path.join(dir, 'root', long));
    expect([st.mtimeNs, st.atimeNs]).toEqual([1_234_567_890_500_000_000n, 1_234_567_891_250_000_000n]);
    expect(native.lgetxattrs(path.join(dir, 'root', long))['user.b64']).toEqual(Buffer.from('v\0w'));
  });

  it('a PAX path with bytes that are not UTF-8 keeps them (names are bytes)', async () => {
    const dir = scratch();
    await fromTar(dir, rawTar([{ name: 'short', data: 'x', pax: { path: 'caf\xe9-\xff.txt' } }]));
    const names = fs.readdirSync(path.join(dir, 'root'), { encoding: 'buffer' });
    expect(names).toEqual([Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2d, 0xff, 0x2e, 0x74, 0x78, 0x74])]);
  });

  it("overlayfs's own xattrs (trusted.overlay.*) are left out, as umoci leaves them; others kept", async () => {
    const dir = scratch();
    // Owned by root: as another user, the caller's own uid would be recorded in user.rootlesscontainers.
    await fromTar(dir, rawTar([{ name: 'd/', type: '5', uid: 0, gid: 0, pax: { 'SCHILY.xattr.trusted.overlay.opaque': 'y', 'SCHILY.xattr.user.k': 'v' } }]));
    expect(Object.keys(native.lgetxattrs(path.join(dir, 'root/d'))).sort()).toEqual(['user.k']);
  });

  it('leading / and ./ are dropped; whiteouts of the tar apply to the layer below', async () => {
    const dir = scratch();
    const lower = buildLayer(path.join(dir, 'lower'), { 'etc/old': 'o', 'etc/keep': 'k', 'var/cache/x': 'x' });
    const r = await fromTar(
      dir,
      rawTar([
        { name: '/etc/.wh.old', data: '' },
        { name: './var/cache/.wh..wh..opq', data: '' },
        { name: '/etc/new', data: 'n' },
      ]),
      lower,
    );
    expect(r).not.toBeInstanceOf(Error);
    expect(fs.readdirSync(path.join(dir, 'root/etc')).sort()).toEqual(['keep', 'new']);
    expect(fs.readdirSync(path.join(dir, 'root/var/cache'))).toEqual([]);
  });
});

describe('a hostile tar layer', () => {
  const leftovers = (dir: string) => fs.readdirSync(dir).filter((n) => n === 'root' || n.includes('layercopy'));

  it('a file under a symlink of the same layer is written into a real directory, never through the link', async () => {
    const dir = scratch();
    const outside = buildLayer(path.join(dir, 'outside'), { canary: 'safe' });
    const before = snapshot(outside);
    const r = await fromTar(
      dir,
      rawTar([
        { name: 'esc', type: '2', linkname: outside },
        { name: 'esc/canary', data: 'owned' },
        { name: 'up', type: '2', linkname: '../../..' },
        { name: 'up/evil', data: 'owned' },
      ]),
    );
    expect(r).not.toBeInstanceOf(Error);
    expect(diffSnapshots(before, snapshot(outside))).toEqual([]);
    expect(lstat(path.join(dir, 'root/esc')).isDirectory()).toBe(true);
    expect(fs.readFileSync(path.join(dir, 'root/esc/canary'), 'utf8')).toBe('owned');
    expect(fs.existsSync(path.join(dir, 'evil'))).toBe(false);
  });

  it.each([
    ['a .. component', [{ name: '../escape', data: 'x' }], /\.\.\/escape.*climb out|climb out/],
    ['a hardlink target with ..', [{ name: 'h', type: '1' as const, linkname: '../../etc/passwd' }], /hardlink target .* would climb out/],
    ['a hardlink to a name the layer does not hold', [{ name: 'h', type: '1' as const, linkname: 'etc/shadow' }], /hardlink target \/etc\/shadow is not in this layer/],
    ['a GNU sparse entry whose map does not hold its data', [{ name: 's', type: 'S' as const, data: 'x' }], /the sparse map does not match the data stored/],
    ['a volume header', [{ name: 'v', type: 'V' as const, data: '' }], /unsupported tar entry type volume header/],
  ])('%s: a clear error naming the layer and entry; nothing left', async (_name, entries, message) => {
    const dir = scratch();
    const r = await fromTar(dir, rawTar(entries as Parameters<typeof rawTar>[0]));
    expect(r).toBeInstanceOf(Error);
    expect(r.message).toMatch(/layer\.tar/);
    expect(r.message).toMatch(message);
    expect(leftovers(dir)).toEqual([]);
  });

  it('a bad header checksum is an error; nothing left', async () => {
    const dir = scratch();
    const tar = rawTar([{ name: 'a', data: 'x' }]);
    tar[0] ^= 0x20;
    const r = await fromTar(dir, tar);
    expect(r).toMatchObject({ code: 'ERR_INVALID_TAR' });
    expect(r.message).toMatch(/Invalid tar header/);
    expect(leftovers(dir)).toEqual([]);
  });
});

describe('a layer read on the main thread', () => {
  // One zstd frame: the tar as a raw block, then `blocks` RLE blocks of 128 KiB of zeros (16 GiB from 512 KB).
  const zstdBomb = (tar: Buffer, blocks: number) => {
    const header = (size: number, type: number, last: boolean) => Buffer.from([(size << 3) | (type << 1) | (last ? 1 : 0), (size << 3) >> 8, (size << 3) >> 16]);
    const parts = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38]), header(tar.length, 0, false), tar];
    for (let i = 0; i < blocks; i++) parts.push(header(131072, 1, i === blocks - 1), Buffer.from([0]));
    return Buffer.concat(parts);
  };

  it('a zstd layer that inflates for seconds still takes Ctrl-C: exit 130, nothing committed, nothing left', async () => {
    const { execa } = await import('execa');
    const dir = scratch();
    const layer = path.join(dir, 'bomb.tar.zst');
    fs.writeFileSync(layer, zstdBomb(rawTar([{ name: 'a', data: 'hello' }]), 131072));
    const cli = new URL('../../dist/src/cli.js', import.meta.url).pathname;
    const run = execa('node', [cli, 'provision', '--quiet', layer, path.join(dir, 'root')], { reject: false });
    // Sent once the extraction has begun: the staging directory is there.
    while (!fs.readdirSync(dir).some((n) => n.startsWith('.root.layercopy-'))) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    run.kill('SIGINT');
    const r = await run;
    expect([r.exitCode, r.stderr.trim()]).toEqual([130, 'layercopy: provision aborted']);
    expect(fs.readdirSync(dir)).toEqual(['bomb.tar.zst']);
  });
});
