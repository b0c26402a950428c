// A store's filesystem checked at its first use in an owners mode: ramfs
// holds no xattrs at all, so a store there fails at once for --owners xattr
// (user.* for the records) and keep (xattrs set as the tar says), naming
// the store, even for an image that needs none of it; --owners drop works.
// And --owners xattr without a store, on ramfs, fails naming the entry.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LayercopyError, pull } from '../../src/index.js';
import { nobodyCanRun } from '../helpers.js';
import { ociImage, rawTar } from '../images/fixtures.js';
import { asNobody, layerPair, openScratch } from '../rootless-fixtures.js';

describe.runIf(nobodyCanRun)('a store on ramfs [needs root: mount, and a checkout nobody can read]', () => {
  let dir: string;
  let ramfs: string;
  /** An image of root-owned files alone: extracting it needs no xattr, no chown, no device. */
  let plainRef: string;
  beforeAll(() => {
    dir = openScratch();
    ramfs = path.join(dir, 'ramfs');
    fs.mkdirSync(ramfs);
    execFileSync('mount', ['-t', 'ramfs', '-o', 'mode=0777', 'none', ramfs]);
    ociImage(path.join(dir, 'img'), { layers: [rawTar([{ name: 'etc/os-release', data: 'x' }])], ref: 't' });
    plainRef = `oci:${dir}/img:t`;
  });
  afterAll(() => {
    if (ramfs) execFileSync('umount', [ramfs]);
  });

  it('--owners xattr (a user): pull and provision fail with ERR_STORE naming the store and user.* xattrs; nothing is extracted; --owners drop goes through', async () => {
    const store = path.join(ramfs, 'user');
    for (const args of [
      ['pull', '--json', '--store', store, plainRef],
      ['provision', '--json', '--store', store, plainRef, path.join(dir, 'root')],
    ]) {
      const r = await asNobody(args);
      expect(r.exitCode).toBe(1);
      expect(r.json.error?.code).toBe('ERR_STORE');
      expect(r.json.error?.message).toMatch(
        new RegExp(`^store ${store}: its filesystem cannot hold what --owners xattr .*this filesystem \\(ramfs\\) cannot hold user\\.\\* xattrs.*use --owners drop`),
      );
      expect([fs.readdirSync(path.join(store, 'layers')), fs.readdirSync(path.join(store, 'tmp'))]).toEqual([[], []]);
    }
    expect(fs.existsSync(path.join(dir, 'root'))).toBe(false);
    const drop = await asNobody(['provision', '--json', '--owners', 'drop', '--store', store, plainRef, path.join(dir, 'root')]);
    expect(drop.exitCode, drop.stderr).toBe(0);
    expect(fs.readdirSync(path.join(store, 'layers'))).toEqual(['drop-devices-empty']);
  });

  it('--owners keep (root): ERR_STORE naming the store, before any layer is extracted', async () => {
    const store = path.join(ramfs, 'root');
    const e = (await pull(plainRef, { store }).catch((error: unknown) => error)) as LayercopyError;
    expect(e.code).toBe('ERR_STORE');
    expect(e.message).toMatch(
      new RegExp(
        `^store ${store}: its filesystem cannot hold what --owners keep --devices error writes \\(.*cannot be set.*\\); name a store on a filesystem that can \\(--store DIR\\), or use --owners xattr$`,
      ),
    );
    expect([fs.readdirSync(path.join(store, 'layers')), fs.readdirSync(path.join(store, 'tmp'))]).toEqual([[], []]);
  });

  it('without a store, --owners xattr onto ramfs fails naming the entry whose owner it must record and the filesystem; no rootfs is left', async () => {
    const l = layerPair(dir, 'owned', { 'home/u/f': { file: 'f', uid: 1000, gid: 1000 } });
    const rootfs = path.join(ramfs, 'plain');
    const r = await asNobody(['provision', '--json', l.tar, rootfs]);
    expect(r.exitCode).toBe(1);
    expect(r.json.error?.code).toBe('ENOTSUP');
    expect(r.json.error?.path).toBe(`${l.tar}:/home/u/f`);
    expect(r.json.error?.message).toMatch(/home\/u\/f: .*this filesystem \(ramfs\) cannot hold user\.\* xattrs \(setting user\.rootlesscontainers: .*\).*use --owners drop/);
    expect(fs.readdirSync(ramfs).filter((n) => n.includes('plain'))).toEqual([]);
  });
});

describe.runIf(nobodyCanRun)('--owners keep through a store, as a user [needs root, and a checkout nobody can read]', () => {
  it('fails with ERR_STORE saying the user may not set owners (not blaming the filesystem), and what to use instead', async () => {
    const dir = openScratch();
    ociImage(path.join(dir, 'img'), { layers: [rawTar([{ name: 'etc/os-release', data: 'x' }])], ref: 't' });
    const r = await asNobody(['provision', '--json', '--owners', 'keep', '--store', path.join(dir, 'store'), `oci:${dir}/img:t`, path.join(dir, 'root')]);
    expect([r.exitCode, r.json.error?.code]).toEqual([1, 'ERR_STORE']);
    expect(r.json.error?.message).toMatch(/--owners keep sets every owner, which this user may not .*; use --owners xattr, or run as root or in a user namespace/);
    expect(r.json.error?.message).not.toMatch(/filesystem/);
    expect(fs.existsSync(path.join(dir, 'root'))).toBe(false);
  });
});
