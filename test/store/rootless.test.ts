// The store for a user without root: layers extracted with owners recorded
// (xattr) or dropped, kept under layers/<mode>/, and a provision through the
// store equal to one straight from the image, as nobody and inside
// unshare -U -r; an entry of one owners mode never serves another.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type LayercopyError, provision, verify } from '../../src/index.js';
import { diffSnapshots, isRoot, nobodyCanRun, snapshot } from '../helpers.js';
import { ociImage, rawTar } from '../images/fixtures.js';
import { asNobody, layerPair, openScratch, xattrsHex } from '../rootless-fixtures.js';

const LOWER = {
  'usr/bin/passwd': { file: 'p', mode: 0o4755 },
  'etc/shadow': { file: 's', mode: 0o640, gid: 42 },
  'etc/gshadow': { file: 'g', mode: 0o000 },
  'home/u': { dir: true as const, mode: 0o750, uid: 1000, gid: 1000 },
  'home/u/f': { file: 'f', mode: 0o600, uid: 1000, gid: 1000 },
  'dev/null': { chr: [1, 3] as [number, number], mode: 0o666 },
  'var/mail': { dir: true as const, mode: 0o2775, gid: 8 },
  bin: { symlink: 'usr/bin' },
};
const UPPER = { 'home/u/g': { file: 'g', uid: 1000, gid: 1000 }, 'etc/shadow': { file: 's2', mode: 0o640, gid: 42 }, 'etc/.wh.gshadow': '' };

/** A two-layer gzip OCI layout nobody can read, in a scratch directory nobody can write into. */
function image(): { dir: string; ref: string } {
  const dir = openScratch();
  const tars = [layerPair(dir, 'lower', LOWER), layerPair(dir, 'upper', UPPER)].map((l) => fs.readFileSync(l.tar));
  ociImage(path.join(dir, 'img'), { layers: tars, ref: 't' });
  return { dir, ref: `oci:${dir}/img:t` };
}

const shot = (root: string) => snapshot(root, { atime: false });

describe.runIf(nobodyCanRun)('the store as nobody [needs root, and a checkout nobody can read]', () => {
  it('pull, then provisions through the store: the tree a storeless provision gives (owners recorded, devices empty files), layers reused', async () => {
    const { dir, ref } = image();
    const store = path.join(dir, 'store');
    const plain = await asNobody(['provision', '--json', ref, path.join(dir, 'plain')]);
    expect(plain.exitCode, plain.stderr).toBe(0);
    const pulled = await asNobody(['pull', '--json', '--store', store, ref]);
    expect(pulled.exitCode, pulled.stderr).toBe(0);
    expect(JSON.parse(pulled.stdout).store).toMatchObject({ blobsFetched: 2, layersExtracted: 2 });
    expect(fs.readdirSync(path.join(store, 'layers'))).toEqual(['xattr-devices-empty']);
    for (const name of ['cold', 'warm']) {
      const r = await asNobody(['provision', '--json', '--store', store, ref, path.join(dir, name)]);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.json.store).toMatchObject({ blobsFetched: 0, layersExtracted: 0, layersReused: 2 });
      expect(r.json.rootless).toMatchObject({ owners: 'xattr', devices: 'empty' });
      // Devices from the entry, as without the store; owners recorded as the copy out records them again: never counted
      // twice (a directory whose record comes from a lower entry goes uncounted: docs/cli.md).
      expect(r.json.rootless?.devicesEmptied).toEqual(plain.json.rootless?.devicesEmptied);
      expect(r.json.rootless?.ownersRecorded.count).toBeGreaterThan(0);
      expect(r.json.rootless?.ownersRecorded.count).toBeLessThanOrEqual(plain.json.rootless?.ownersRecorded.count ?? 0);
      expect(diffSnapshots(shot(path.join(dir, 'plain')), shot(path.join(dir, name)))).toEqual([]);
    }
    const warm = (rel: string) => path.join(dir, 'warm', rel);
    expect(xattrsHex(warm('home/u/f'))['user.rootlesscontainers']).toBe('08e80710e807');
    expect(xattrsHex(warm('etc/shadow'))['user.rootlesscontainers']).toBe('08ffffffff0f102a');
    expect([fs.lstatSync(warm('dev/null')).isFile(), fs.lstatSync(warm('home/u/f')).uid, fs.lstatSync(warm('usr/bin/passwd')).mode & 0o7777]).toEqual([true, 65534, 0o4755]);
    expect(fs.existsSync(warm('etc/gshadow'))).toBe(false);
  });

  it('--owners drop through the store: the storeless tree (setuid cleared, no records), in layers/drop-devices-empty', async () => {
    const { dir, ref } = image();
    const store = path.join(dir, 'store');
    const plain = await asNobody(['provision', '--owners', 'drop', ref, path.join(dir, 'plain')]);
    expect(plain.exitCode, plain.stderr).toBe(0);
    const r = await asNobody(['provision', '--json', '--owners', 'drop', '--store', store, ref, path.join(dir, 'root')]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json.store).toMatchObject({ layersExtracted: 2 });
    expect(fs.readdirSync(path.join(store, 'layers'))).toEqual(['drop-devices-empty']);
    expect(diffSnapshots(shot(path.join(dir, 'plain')), shot(path.join(dir, 'root')))).toEqual([]);
    expect(fs.lstatSync(path.join(dir, 'root/usr/bin/passwd')).mode & 0o7777).toBe(0o755);
  });

  it('inside unshare -U -r: the store nobody filled serves it (reused), and a cold one there gives the same tree', async () => {
    const { dir, ref } = image();
    const store = path.join(dir, 'store');
    const plain = await asNobody(['provision', ref, path.join(dir, 'plain')]);
    expect(plain.exitCode, plain.stderr).toBe(0);
    expect((await asNobody(['pull', '--store', store, ref])).exitCode).toBe(0);
    const ns = ['unshare', '-U', '-r'];
    const warm = await asNobody(['provision', '--json', '--store', store, ref, path.join(dir, 'warm')], ns);
    expect(warm.exitCode, warm.stderr).toBe(0);
    expect(warm.json.store).toMatchObject({ blobsFetched: 0, layersExtracted: 0, layersReused: 2 });
    const cold = await asNobody(['provision', '--json', '--store', path.join(dir, 'ns-store'), ref, path.join(dir, 'cold')], ns);
    expect(cold.exitCode, cold.stderr).toBe(0);
    expect(cold.json.store).toMatchObject({ layersExtracted: 2 });
    for (const name of ['warm', 'cold']) expect(diffSnapshots(shot(path.join(dir, 'plain')), shot(path.join(dir, name)))).toEqual([]);
  });

  it('4 provisions at once from a warm store of 2000 files mode 0000: each rootfs has every file 0000 (one at a time copies such a layer)', async () => {
    const dir = openScratch();
    const files = Array.from({ length: 2000 }, (_, i) => ({ name: `etc/f${i}`, data: 'x', mode: 0o000 }));
    ociImage(path.join(dir, 'img'), { layers: [rawTar(files)], ref: 't' });
    const ref = `oci:${dir}/img:t`;
    const store = path.join(dir, 'store');
    expect((await asNobody(['pull', '--store', store, ref])).exitCode).toBe(0);
    const runs = await Promise.all([0, 1, 2, 3].map((i) => asNobody(['provision', '--json', '--store', store, ref, path.join(dir, `r${i}`)])));
    for (const [i, r] of runs.entries()) {
      expect(r.exitCode, r.stderr).toBe(0);
      const opened = fs.readdirSync(path.join(dir, `r${i}/etc`)).filter((n) => (fs.lstatSync(path.join(dir, `r${i}/etc`, n)).mode & 0o7777) !== 0);
      expect(opened).toEqual([]);
    }
    expect(runs.some((r) => (r.json.store?.waitedMs ?? 0) > 0)).toBe(true);
  });

  it('directories a user may not enter (0000, 0300, 0500): the storeless tree through the store, and rmi then prune removes everything', async () => {
    const dir = openScratch();
    const tar = rawTar([
      { name: 'locked/', type: '5', mode: 0o000 },
      { name: 'locked/in/', type: '5', mode: 0o300 },
      { name: 'locked/in/f', data: 'secret', mode: 0o000 },
      { name: 'ro/', type: '5', mode: 0o500 },
      { name: 'ro/g', data: 'g', mode: 0o400 },
    ]);
    ociImage(path.join(dir, 'img'), { layers: [tar], ref: 't' });
    const ref = `oci:${dir}/img:t`;
    const store = path.join(dir, 'store');
    expect((await asNobody(['provision', ref, path.join(dir, 'plain')])).exitCode).toBe(0);
    for (const name of ['cold', 'warm']) {
      const r = await asNobody(['provision', '--store', store, ref, path.join(dir, name)]);
      expect(r.exitCode, r.stderr).toBe(0);
      // The tar has no "./": the root is made as it is extracted, with that moment's times.
      const [a, b] = [shot(path.join(dir, 'plain')), shot(path.join(dir, name))];
      for (const t of [a, b]) t.delete('');
      expect(diffSnapshots(a, b)).toEqual([]);
    }
    // Whoever verifies — the user, root of unshare -U -r or root, who can list the 0000 directory — finds no damage, and repair removes nothing.
    expect((await asNobody(['verify', '--store', store])).exitCode).toBe(0);
    const ns = await asNobody(['verify', '--repair', '--json', '--store', store], ['unshare', '-U', '-r']);
    expect([ns.exitCode, JSON.parse(ns.stdout).damaged, JSON.parse(ns.stdout).removed]).toEqual([0, [], []]);
    expect((await verify({ store })).damaged).toEqual([]);
    expect((await asNobody(['rmi', '--store', store, ref])).exitCode).toBe(0);
    const pruned = await asNobody(['prune', '--json', '--store', store]);
    expect(pruned.exitCode, pruned.stderr).toBe(0);
    expect(JSON.parse(pruned.stdout)).toMatchObject({ layers: 1, blobs: 3 });
    expect([fs.readdirSync(path.join(store, 'layers/xattr-devices-empty')), fs.readdirSync(path.join(store, 'tmp'))]).toEqual([[], []]);
  });

  it('the default store of a user: $XDG_DATA_HOME/layercopy, else ~/.local/share/layercopy', async () => {
    const { dir, ref } = image();
    const xdg = await asNobody(['pull', ref], ['env', `XDG_DATA_HOME=${dir}/xdg`, 'LAYERCOPY_STORE=']);
    expect(xdg.exitCode, xdg.stderr).toBe(0);
    expect(fs.existsSync(path.join(dir, 'xdg/layercopy/.layercopy-store'))).toBe(true);
    const home = await asNobody(['pull', ref], ['env', '-u', 'XDG_DATA_HOME', `HOME=${dir}/home`, 'LAYERCOPY_STORE=']);
    expect(home.exitCode, home.stderr).toBe(0);
    expect(fs.existsSync(path.join(dir, 'home/.local/share/layercopy/.layercopy-store'))).toBe(true);
    const ns = await asNobody(['pull', ref], ['env', `XDG_DATA_HOME=${dir}/ns`, 'LAYERCOPY_STORE=', 'unshare', '-U', '-r']);
    expect(ns.exitCode, ns.stderr).toBe(0);
    expect(fs.existsSync(path.join(dir, 'ns/layercopy/.layercopy-store'))).toBe(true);
  });

  it('images, rmi, prune and verify before anything made the default store: it holds nothing (exit 0; rmi: not in the store), nothing made', async () => {
    const { dir } = image();
    const env = ['env', `XDG_DATA_HOME=${dir}/xdg`, 'LAYERCOPY_STORE='];
    const images = await asNobody(['images', '--json'], env);
    expect([images.exitCode, JSON.parse(images.stdout)]).toEqual([0, []]);
    const pruned = await asNobody(['prune', '--json'], env);
    expect([pruned.exitCode, JSON.parse(pruned.stdout)]).toEqual([0, { blobs: 0, layers: 0, bytes: 0, skipped: 0, tmpRemoved: 0 }]);
    const verified = await asNobody(['verify', '--json'], env);
    expect([verified.exitCode, JSON.parse(verified.stdout)]).toEqual([0, { blobs: 0, layers: 0, refs: 0, damaged: [], incomplete: [] }]);
    // As for a store that holds other images (was ERR_STORE: the store does not exist).
    const removed = await asNobody(['rmi', '--json', 'docker://127.0.0.1:1/app:1'], env);
    expect([removed.exitCode, JSON.parse(removed.stdout).error]).toEqual([
      1,
      { code: 'ERR_IMAGE_NOT_FOUND', message: 'not in the store: docker://127.0.0.1:1/app:1', layer: 'docker://127.0.0.1:1/app:1' },
    ]);
    expect((await asNobody(['rmi', 'sha256:ab'], env)).exitCode).toBe(2);
    expect(fs.existsSync(path.join(dir, 'xdg'))).toBe(false);
  });
});

describe.runIf(isRoot)('owner modes side by side [needs root]', () => {
  it('an entry of one owners mode never serves another: keep and xattr each extracted, each the storeless tree', async () => {
    const { dir, ref } = image();
    const store = path.join(dir, 'store');
    const steps = [
      ['keep', { layersExtracted: 2, layersReused: 0 }],
      ['xattr', { layersExtracted: 2, layersReused: 0 }],
      ['keep', { layersExtracted: 0, layersReused: 2 }],
    ] as const;
    for (const [i, [owners, counts]] of steps.entries()) {
      await provision([ref], path.join(dir, `plain-${i}`), { owners });
      const r = await provision([ref], path.join(dir, `store-${i}`), { owners, store });
      expect(r.store).toMatchObject(counts);
      expect(diffSnapshots(shot(path.join(dir, `plain-${i}`)), shot(path.join(dir, `store-${i}`)))).toEqual([]);
    }
    expect(fs.readdirSync(path.join(store, 'layers')).sort()).toEqual(['keep', 'xattr']);
  });

  it('--strict: an entry whose devices were emptied as it was extracted fails a strict provision, as extracting the layer would; one without changes serves it', async () => {
    const { dir, ref } = image();
    const store = path.join(dir, 'store');
    await provision([ref], path.join(dir, 'loose'), { devices: 'empty', store });
    expect(fs.existsSync(path.join(store, 'layers/keep-devices-empty'))).toBe(true);
    const plain = await provision([ref], path.join(dir, 'plain'), { devices: 'empty', strict: true }).catch((e: LayercopyError) => e);
    const stored = await provision([ref], path.join(dir, 'strict'), { devices: 'empty', strict: true, store }).catch((e: LayercopyError) => e);
    expect([(plain as LayercopyError).code, (stored as LayercopyError).code]).toEqual(['ERR_UNSUPPORTED_ENTRY', 'ERR_UNSUPPORTED_ENTRY']);
    expect((stored as LayercopyError).message).toMatch(
      /layer 1\/2 .*: \/dev\/null: device node written as an empty file when the layer was extracted into the store \(--strict\)$/,
    );
    expect((stored as LayercopyError).path).toBe('/dev/null');
    expect(fs.existsSync(path.join(dir, 'strict'))).toBe(false);
    // Devices made (keep, as real root): nothing changed, strict goes through the store.
    const made = await provision([ref], path.join(dir, 'made'), { strict: true, store });
    expect(made.store).toMatchObject({ layersExtracted: 2 });
    expect(fs.lstatSync(path.join(dir, 'made/dev/null')).isCharacterDevice()).toBe(true);
  });
});

describe.runIf(isRoot)('the store and the summary [needs root]', () => {
  it('what the policy changed as a layer was extracted into the store is in the summary of every provision it serves, as without the store', async () => {
    const { dir, ref } = image();
    const store = path.join(dir, 'store');
    const plain = await provision([ref], path.join(dir, 'plain'), { devices: 'empty' });
    const cold = await provision([ref], path.join(dir, 'cold'), { devices: 'empty', store });
    const warm = await provision([ref], path.join(dir, 'warm'), { devices: 'empty', store });
    expect([cold.store?.layersExtracted, warm.store?.layersReused]).toEqual([2, 2]);
    expect(plain.rootless.devicesEmptied).toEqual({ count: 1, paths: ['/dev/null'] });
    for (const s of [cold, warm]) expect(s.rootless).toEqual(plain.rootless);
  });

  it("another user's store: every command says whose it is and how to name one's own", async () => {
    const dir = openScratch();
    const store = path.join(dir, 'roots');
    fs.mkdirSync(store, { mode: 0o700 });
    for (const args of [['images'], ['prune'], ['verify']]) {
      const r = await asNobody([...args, '--store', store]);
      expect([r.exitCode, r.stderr.trim()], args[0]).toEqual([
        1,
        `layercopy: store ${store}: cannot scandir '${store}': Permission denied (EACCES); it belongs to another user (uid 0): name a store of your own with --store DIR or $LAYERCOPY_STORE`,
      ]);
    }
  });
});
