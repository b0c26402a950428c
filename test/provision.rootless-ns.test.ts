// Rootless provisioning inside user namespaces: one ID mapped (unshare -U
// -r, what a user without subuids gets) and a subuid range (what newuidmap,
// podman unshare and unshare --map-auto give), with tar layers.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { diffSnapshots, nobodyCanRun, snapshot } from './helpers.js';
import { asNobody, inUserNamespace, layerPair, openScratch, xattrsHex } from './rootless-fixtures.js';

const SPEC = {
  'usr/bin/passwd': { file: 'p', mode: 0o4755 },
  'etc/shadow': { file: 's', mode: 0o640, gid: 42 },
  'home/u': { dir: true as const, mode: 0o750, uid: 1000, gid: 1000 },
  'home/u/f': { file: 'f', mode: 0o600, uid: 1000, gid: 1000 },
  'dev/null': { chr: [1, 3] as [number, number], mode: 0o666 },
};
const st = (p: string) => fs.lstatSync(p);

describe.runIf(nobodyCanRun)('user namespaces [needs root, and a checkout user nobody can read]', () => {
  it('inside unshare -U -r (one ID): owners recorded, devices made empty files, the same tree as nobody outside it', async () => {
    const dir = openScratch();
    const l = layerPair(dir, 'l', SPEC);
    // Only the namespace's root is mapped: every other owner goes through user.rootlesscontainers.
    const inside = await asNobody(['provision', '--json', l.tar, path.join(dir, 'ns')], ['unshare', '-U', '-r']);
    expect(inside.exitCode, inside.stderr).toBe(0);
    expect([inside.json.rootless?.owners, inside.json.rootless?.devices]).toEqual(['xattr', 'empty']);
    const outside = await asNobody(['provision', '--json', l.tar, path.join(dir, 'plain')]);
    expect(outside.exitCode, outside.stderr).toBe(0);
    expect(diffSnapshots(snapshot(path.join(dir, 'plain'), { atime: false }), snapshot(path.join(dir, 'ns'), { atime: false }))).toEqual([]);
    expect(xattrsHex(path.join(dir, 'ns/home/u/f'))['user.rootlesscontainers']).toBe('08e80710e807');
    expect(st(path.join(dir, 'ns/home/u/f')).uid).toBe(65534);
  });

  it('inside unshare -U -r, a directory layer owned by IDs the namespace does not map: owners dropped as unknown, never recorded as 65534', async () => {
    const dir = openScratch();
    // Owned by root and 1000 on the host: inside, stat shows both as the overflow ID 65534.
    const l = layerPair(dir, 'l', { 'etc/passwd': { file: 'p', mode: 0o644 }, 'home/u': { dir: true as const, mode: 0o755, uid: 1000, gid: 1000 } });
    const r = await asNobody(['provision', '--json', l.dir, path.join(dir, 'ns')], ['unshare', '-U', '-r']);
    expect(r.exitCode, r.stderr).toBe(0);
    for (const rel of ['etc/passwd', 'home/u', 'etc']) expect(xattrsHex(path.join(dir, 'ns', rel)), rel).toEqual({});
    expect(r.json.rootless?.ownersRecorded.count).toBe(0);
    expect(r.json.rootless?.ownersDropped.paths).toEqual(expect.arrayContaining(['/etc', '/etc/passwd', '/home/u']));
    const strict = await asNobody(['provision', '--json', '--strict', l.dir, path.join(dir, 'ns2')], ['unshare', '-U', '-r']);
    expect(strict.exitCode).toBe(1);
    expect(strict.stderr).toMatch(/owner 65534:65534 not kept \(its uid and gid\): it is how this user namespace shows an owner it does not map/);
  });

  it('inside a namespace with a subuid range (0 100000 65536): owners kept exactly, devices made empty files', async () => {
    const dir = openScratch();
    const l = layerPair(dir, 'l', SPEC);
    const r = await inUserNamespace('0 100000 65536', ['provision', '--json', l.tar, path.join(dir, 'root')]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect([r.json.rootless?.owners, r.json.rootless?.devices]).toEqual(['keep', 'empty']);
    const owner = (rel: string) => [st(path.join(dir, 'root', rel)).uid, st(path.join(dir, 'root', rel)).gid];
    expect([owner('home/u/f'), owner('etc/shadow'), owner('usr/bin/passwd')]).toEqual([
      [101000, 101000],
      [100000, 100042],
      [100000, 100000],
    ]);
    expect(st(path.join(dir, 'root/usr/bin/passwd')).mode & 0o7777).toBe(0o4755);
    expect(st(path.join(dir, 'root/dev/null')).isFile()).toBe(true);
    expect(xattrsHex(path.join(dir, 'root/home/u/f'))).toEqual({});
  });

  it('there, an owner beyond the range is ERR_UNMAPPED_ID naming the file, the ID and the mapping', async () => {
    const dir = openScratch();
    const l = layerPair(dir, 'l', { 'opt/big': { file: 'b', uid: 70000, gid: 0 } });
    const r = await inUserNamespace('0 100000 65536', ['provision', '--json', l.tar, path.join(dir, 'root')]);
    expect(r.exitCode).toBe(1);
    expect(r.json.error?.code).toBe('ERR_UNMAPPED_ID');
    expect(r.stderr).toMatch(/opt\/big: uid 70000 is not mapped in this user namespace \(\/proc\/self\/uid_map: 0 100000 65536\)/);
    expect(fs.readdirSync(dir).filter((n) => n.includes('root'))).toEqual([]);
  });
});

describe.runIf(nobodyCanRun)('directory layers as nobody [needs root, and a checkout user nobody can read]', () => {
  it('a tree nobody extracted rootless (records, a 0000 file, 0000 and 0300 directories) gives the same tree, and keeps its own modes', async () => {
    const dir = openScratch();
    const l = layerPair(dir, 'l', { 'etc/shadow': { file: 's', mode: 0o640, gid: 42 }, 'home/u/f': { file: 'f', uid: 1000, gid: 1000 }, secret: 'x', 'locked/in/f': 'y' });
    const first = await asNobody(['provision', '--json', l.tar, path.join(dir, 'first')]);
    expect(first.exitCode, first.stderr).toBe(0);
    const lock = await execa('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', 'chmod', '0', `${dir}/first/secret`, `${dir}/first/locked`]);
    await execa('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', 'chmod', '0300', `${dir}/first/home`]);
    expect(lock.exitCode).toBe(0);
    const before = snapshot(path.join(dir, 'first'), { atime: false });
    for (const strategy of ['merged', 'layered']) {
      const r = await asNobody(['provision', '--json', '--strategy', strategy, path.join(dir, 'first'), path.join(dir, strategy)]);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(diffSnapshots(before, snapshot(path.join(dir, strategy), { atime: false }))).toEqual([]);
    }
    expect(diffSnapshots(before, snapshot(path.join(dir, 'first'), { atime: false }))).toEqual([]);
    expect([st(path.join(dir, 'first/secret')).mode & 0o7777, st(path.join(dir, 'first/home')).mode & 0o7777]).toEqual([0, 0o300]);
  });

  it('a 0555 directory of a lower layer takes the upper layer entries, then keeps its mode (layered)', async () => {
    const dir = openScratch();
    const lower = layerPair(dir, 'lower', { 'ro/a': 'a', ro: { dir: true, mode: 0o555 } });
    const upper = layerPair(dir, 'upper', { 'ro/b': 'b', ro: { dir: true, mode: 0o555 } });
    const r = await asNobody(['provision', '--json', '--strategy', 'layered', lower.tar, upper.tar, path.join(dir, 'root')]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(fs.readdirSync(path.join(dir, 'root/ro')).sort()).toEqual(['a', 'b']);
    expect(st(path.join(dir, 'root/ro')).mode & 0o7777).toBe(0o555);
  });
});
