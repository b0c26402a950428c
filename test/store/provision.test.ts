// provision through a store: the same tree as straight from the image for
// every local image form, each layer extracted once and then reused; rmi
// and prune leave nothing of an image; verify finds damage; destroy and a
// provision refuse paths inside a store; prune racing provisions.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { destroy, images, provision, prune, pull, rmi, verify } from '../../src/index.js';
import { skopeoPolicy, testImage } from '../fixtures/registry.js';
import { diffSnapshots, isRoot, scratch, snapshot } from '../helpers.js';
import { ociImage, rawTar } from '../images/fixtures.js';
import { cli } from '../registry/pull-helpers.js';
import { held, MODE, tree } from './helpers.js';

describe('provision with a store', () => {
  it('a layer that fails to extract into the store names its entry as without the store: /path after the layer', async () => {
    const dir = scratch();
    const layout = ociImage(path.join(dir, 'img'), { layers: [rawTar([{ name: 'etc/link', type: '1', linkname: 'etc/nope' }])], ref: 't' });
    const errors = [];
    for (const store of [undefined, path.join(dir, 'store')]) {
      const e = await provision([`oci:${layout}:t`], path.join(dir, 'root'), store ? { store } : {}).catch((error) => error);
      errors.push([e.code, e.path, e.message.replace(/^.*?\): /, '')]);
    }
    expect(errors[0]).toEqual(['ERR_INVALID_TAR', '/etc/link', '/etc/link: hardlink target /etc/nope is not in this layer (above it in the tar)']);
    expect(errors[1]).toEqual(errors[0]);
    expect(fs.existsSync(path.join(dir, 'store/.layercopy-store'))).toBe(true);
  });

  it('equals a provision straight from the image (gzip OCI layout); a second one reuses every layer', async () => {
    const dir = scratch();
    const image = testImage(path.join(dir, 'img'), { layers: 3, sizeMb: 1, seed: 21 });
    const store = path.join(dir, 'store');
    await provision([image], path.join(dir, 'plain'));
    // Once: reading a file moves its atime (relatime), and a snapshot reads every file.
    const plain = tree(path.join(dir, 'plain'));
    const cold = await provision([image], path.join(dir, 'cold'), { store });
    expect(cold.store).toMatchObject({ blobsFetched: 3, layersExtracted: 3, layersReused: 0 });
    expect(diffSnapshots(plain, tree(path.join(dir, 'cold')))).toEqual([]);
    const warm = await provision([image], path.join(dir, 'warm'), { store });
    expect(warm.store).toMatchObject({ blobsFetched: 0, layersExtracted: 0, layersReused: 3 });
    expect(diffSnapshots(plain, tree(path.join(dir, 'warm')))).toEqual([]);
    const h = held(store);
    expect(h.layers).toHaveLength(3);
    expect(h.blobs).toHaveLength(5); // 3 layers, the manifest, the config
    expect(h.tmp).toEqual([]);
    for (const name of ['oci-layout', 'index.json', 'refs.json', '.layercopy-store']) expect(fs.existsSync(path.join(store, name))).toBe(true);
    for (const layer of h.layers) {
      for (const name of ['rootfs', 'implied', 'listing']) expect(fs.existsSync(path.join(store, `layers/${MODE}`, layer, name))).toBe(true);
    }
    // Copies, not links: no file of the rootfs shares an inode with the store.
    const inStore = new Set<bigint>();
    for (const layer of h.layers) {
      for (const f of fs.readdirSync(path.join(store, `layers/${MODE}`, layer, 'rootfs'), { recursive: true }) as string[]) {
        inStore.add(fs.lstatSync(path.join(store, `layers/${MODE}`, layer, 'rootfs', f), { bigint: true }).ino);
      }
    }
    for (const f of fs.readdirSync(path.join(dir, 'warm'), { recursive: true }) as string[]) {
      const st = fs.lstatSync(path.join(dir, 'warm', f), { bigint: true });
      if (st.isFile()) expect(inStore.has(st.ino)).toBe(false);
    }
    // skopeo reads the store as an OCI layout, by the name index.json gives the reference.
    const name = `oci${image.slice(4)}`;
    const raw = execFileSync('skopeo', ['--policy', skopeoPolicy(), 'inspect', '--raw', `oci:${store}:${name}`], { encoding: 'utf8' });
    expect(JSON.parse(raw).layers).toHaveLength(3);
  });

  it('directories a tar never described take the metadata of a lower layer (the implied sets kept beside each layer); markers and hardlinks as straight from the image', async () => {
    const dir = scratch();
    const lower = rawTar([
      { name: './', type: '5', mode: 0o750, mtime: 1_000_000_005 },
      { name: 'usr/', type: '5', mode: 0o700, mtime: 1_000_000_100 },
      { name: 'usr/a', data: 'a' },
      { name: 'opt/', type: '5', mode: 0o755 },
      { name: 'opt/old', data: 'old' },
      { name: 'opt/link', type: '1', linkname: 'usr/a' },
    ]);
    // usr/ and usr/bin/ and the root: implied; opt/ made opaque.
    const upper = rawTar([
      { name: 'usr/bin/b', data: 'b' },
      { name: 'opt/.wh..wh..opq', data: '' },
      { name: 'opt/new', data: 'new' },
    ]);
    const layout = ociImage(path.join(dir, 'img'), { layers: [lower, upper] });
    const image = `oci:${layout}:latest`;
    const store = path.join(dir, 'store');
    await provision([image], path.join(dir, 'plain'));
    await provision([image], path.join(dir, 'cold'), { store });
    await provision([image], path.join(dir, 'warm'), { store });
    // usr/bin/ is in no layer's headers: made when its layer was extracted, it has that moment's times, whichever they are.
    const shot = (root: string) => {
      const t = snapshot(path.join(dir, root));
      t.set('usr/bin', { ...t.get('usr/bin')!, atimeNs: 0n, mtimeNs: 0n });
      return t;
    };
    const plain = shot('plain');
    expect(plain.get('')?.mode).toBe(0o750);
    expect(plain.get('usr')).toMatchObject({ mode: 0o700, mtimeNs: 1_000_000_100_000_000_000n });
    expect([...plain.keys()].filter((k) => k.startsWith('opt/'))).toEqual(['opt/new']);
    for (const root of ['cold', 'warm']) expect(diffSnapshots(plain, shot(root))).toEqual([]);
  });

  it.runIf(isRoot)('with an ID map: owners shifted as they are copied out of the store, the store keeping them as the tar says [needs root: chown to the mapped IDs]', async () => {
    const dir = scratch();
    const image = testImage(path.join(dir, 'img'), { layers: 2, sizeMb: 1, seed: 27 });
    const store = path.join(dir, 'store');
    const idMap = { uid: [{ containerID: 0, hostID: 100000, size: 65536 }], gid: [{ containerID: 0, hostID: 100000, size: 65536 }] };
    await provision([image], path.join(dir, 'plain'), { idMap });
    await provision([image], path.join(dir, 'stored'), { idMap, store });
    const plain = tree(path.join(dir, 'plain'));
    expect(plain.get('etc/layer')).toMatchObject({ uid: 100000, gid: 100000 });
    expect(diffSnapshots(plain, tree(path.join(dir, 'stored')))).toEqual([]);
    const layer = held(store).layers[0];
    expect(fs.lstatSync(path.join(store, 'layers/keep', layer, 'rootfs/etc/layer')).uid).toBe(0);
  });

  it('oci-archive and docker-archive: the same tree through the store as straight from the archive', async () => {
    const dir = scratch();
    const image = testImage(path.join(dir, 'img'), { layers: 2, sizeMb: 1, seed: 22 });
    const archive = path.join(dir, 'img.tar');
    execFileSync('tar', ['-C', path.join(dir, 'img'), '-cf', archive, '.']);
    const docker = path.join(dir, 'docker.tar');
    execFileSync('skopeo', ['--policy', skopeoPolicy(), 'copy', '--quiet', image, `docker-archive:${docker}:app:1`]);
    const store = path.join(dir, 'store');
    for (const ref of [`oci-archive:${archive}:latest`, `docker-archive:${docker}`]) {
      const name = ref.split(':')[0];
      await provision([ref], path.join(dir, `${name}-plain`));
      const s = await provision([ref], path.join(dir, `${name}-store`), { store });
      expect(s.store?.layersExtracted).toBe(name === 'oci-archive' ? 2 : 0);
      expect(diffSnapshots(tree(path.join(dir, `${name}-plain`)), tree(path.join(dir, `${name}-store`)))).toEqual([]);
    }
    // Both archives hold the same layers (by diff_id): the second reuses what the first extracted.
    expect(held(store).layers).toHaveLength(2);
    expect((await images({ store })).map((i) => i.reference).sort()).toEqual([`docker-archive:${docker}`, `oci-archive:${archive}:latest`]);
  });

  it('rmi then prune leaves nothing of the image; prune says what it freed', async () => {
    const dir = scratch();
    const image = testImage(path.join(dir, 'img'), { layers: 2, sizeMb: 1, seed: 23 });
    const store = path.join(dir, 'store');
    const r = await pull(image, { store });
    expect(r.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await prune({ store })).toMatchObject({ blobs: 0, layers: 0 });
    expect(await rmi([image], { store })).toEqual([image.replace(/^oci:/, `oci:`)]);
    const freed = await prune({ store });
    expect(freed).toMatchObject({ blobs: 4, layers: 2, skipped: 0 });
    expect(freed.bytes).toBeGreaterThan(2 << 20);
    expect(held(store)).toEqual({ blobs: [], layers: [], locks: [], tmp: [] });
    expect(JSON.parse(fs.readFileSync(path.join(store, 'index.json'), 'utf8')).manifests).toEqual([]);
    expect(await images({ store })).toEqual([]);
    await expect(rmi([image], { store })).rejects.toMatchObject({ code: 'ERR_IMAGE_NOT_FOUND' });
  });

  it('verify finds a damaged blob and a damaged layer file', async () => {
    const dir = scratch();
    const image = testImage(path.join(dir, 'img'), { layers: 2, sizeMb: 1, seed: 24 });
    const store = path.join(dir, 'store');
    await pull(image, { store });
    expect((await verify({ store })).damaged).toEqual([]);
    const h = held(store);
    const layerBlob = h.blobs.find((b) => fs.statSync(path.join(store, 'blobs/sha256', b)).size > 100_000)!;
    const blobFile = path.join(store, 'blobs/sha256', layerBlob);
    const bytes = fs.readFileSync(blobFile);
    bytes[1000] ^= 0xff;
    fs.writeFileSync(blobFile, bytes);
    const file = path.join(store, `layers/${MODE}`, h.layers[0], 'rootfs/etc/layer');
    fs.appendFileSync(file, 'changed in place\n');
    const r = await verify({ store });
    expect(r.damaged.map((d) => [d.kind, d.id]).sort()).toEqual(
      [
        ['blob', `sha256:${layerBlob}`],
        ['layer', `sha256:${h.layers[0]}`],
      ].sort(),
    );
    expect(r.damaged.find((d) => d.kind === 'layer')?.problems[0]).toMatch(/^etc\/layer: size \d+, listed \d+$/);
  });

  it('destroy refuses a path inside a store; a provision refuses a ROOTFS inside one', async () => {
    const dir = scratch();
    const image = testImage(path.join(dir, 'img'), { layers: 1, sizeMb: 1, seed: 25 });
    const store = path.join(dir, 'store');
    await pull(image, { store });
    const layer = path.join(store, `layers/${MODE}`, held(store).layers[0]);
    for (const target of [store, layer, path.join(layer, 'rootfs/etc')]) {
      const r = await destroy(target);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.message).toMatch(/inside the layercopy store/);
    }
    expect(fs.existsSync(path.join(layer, 'rootfs/etc/layer'))).toBe(true);
    await expect(provision([image], path.join(store, 'root'), { store })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });

  it('prune racing provisions (with rmi) in a loop: every provision succeeds and is whole; nothing it used was removed under it', async () => {
    const dir = scratch();
    const image = testImage(path.join(dir, 'img'), { layers: 3, sizeMb: 4, seed: 26 });
    const store = path.join(dir, 'store');
    // There from the start, empty (prune refuses a store that does not exist): the provisions fill it cold.
    fs.mkdirSync(store);
    await provision([image], path.join(dir, 'plain'));
    const plain = tree(path.join(dir, 'plain'));
    let pruned = 0;
    let skipped = 0;
    for (let i = 0; i < 6; i++) {
      // Two provisions as processes of their own, and rmi + prune over and over in this one until both end.
      const runs = ['a', 'b'].map((n) => execa('node', [cli, 'provision', '--json', '--concurrency', '1', '--store', store, image, path.join(dir, `${n}${i}`)], { reject: false }));
      let done = false;
      void Promise.all(runs).then(() => {
        done = true;
      });
      while (!done) {
        await rmi([image], { store }).catch(() => undefined);
        const r = await prune({ store });
        pruned += r.layers;
        skipped += r.skipped;
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      for (const [n, r] of ['a', 'b'].map((n, k) => [n, runs[k]] as const)) {
        const result = await r;
        expect(result.exitCode, result.stderr).toBe(0);
        expect(diffSnapshots(plain, tree(path.join(dir, `${n}${i}`)))).toEqual([]);
      }
    }
    // The race did remove layers between provisions, and passed over pinned ones (else it tested nothing).
    expect(pruned).toBeGreaterThan(0);
    expect(skipped).toBeGreaterThan(0);
    expect((await verify({ store })).damaged.filter((d) => d.kind !== 'ref')).toEqual([]);
  });
});
