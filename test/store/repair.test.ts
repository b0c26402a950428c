// verify --repair: a damaged blob, a damaged layer and a reference whose
// manifest is gone are removed, and the next provision fetches and
// extracts only those, giving the exact tree again; an entry in use is
// left. And an image whose layers another image's blobs (same tars,
// compressed otherwise) extracted gets its own blobs stored too.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { provision, pull, verify } from '../../src/index.js';
import { StoreLock } from '../../src/store/lock.js';
import { testImage } from '../fixtures/registry.js';
import { diffSnapshots, scratch } from '../helpers.js';
import { cli } from '../registry/pull-helpers.js';
import { held, MODE, tree } from './helpers.js';

/** An OCI layout's layer digests, lowest first. */
function layerDigests(image: string): string[] {
  const layout = image.slice(4, image.lastIndexOf(':'));
  const blob = (digest: string) => JSON.parse(fs.readFileSync(path.join(layout, 'blobs/sha256', digest.slice(7)), 'utf8'));
  const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8'));
  const manifest = blob(index.manifests[0].digest);
  const config = blob(manifest.config.digest);
  return manifest.layers.map((l: { digest: string }, i: number) => ({ digest: l.digest, diffId: config.rootfs.diff_ids[i] }));
}

describe('verify --repair', () => {
  it('removes a damaged blob, a changed layer and a reference without its manifest; the next provision fetches one blob, extracts one layer, and gives the same tree', async () => {
    const dir = scratch();
    const image = testImage(path.join(dir, 'img'), { layers: 3, sizeMb: 1, seed: 61 });
    const other = testImage(path.join(dir, 'other'), { layers: 1, sizeMb: 1, seed: 62 });
    const store = path.join(dir, 'store');
    await provision([image], path.join(dir, 'plain'));
    const plain = tree(path.join(dir, 'plain'));
    await pull(image, { store });
    const otherDigest = (await pull(other, { store })).digest;
    const [l1, l2] = layerDigests(image) as unknown as { digest: string; diffId: string }[];
    const blob = path.join(store, 'blobs/sha256', l1.digest.slice(7));
    const bytes = fs.readFileSync(blob);
    bytes[bytes.length >> 1] ^= 0xff;
    fs.writeFileSync(blob, bytes);
    const layer = path.join(store, `layers/${MODE}`, l2.diffId.slice(7));
    const file = fs
      .readdirSync(path.join(layer, 'rootfs'), { recursive: true })
      .map(String)
      .find((f) => fs.lstatSync(path.join(layer, 'rootfs', f)).isFile())!;
    fs.appendFileSync(path.join(layer, 'rootfs', file), 'x');
    fs.rmSync(path.join(store, 'blobs/sha256', otherDigest.slice(7)));
    const r = await execa('node', [cli, 'verify', '--repair', '--json', '--store', store], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.damaged.map((d: { kind: string; id: string }) => [d.kind, d.id]).sort()).toEqual(
      [
        ['blob', l1.digest],
        ['layer', l2.diffId],
        ['ref', other],
      ].sort(),
    );
    expect(result.removed).toEqual([
      { kind: 'blob', id: l1.digest, path: blob },
      { kind: 'layer', id: l2.diffId, path: layer },
      { kind: 'ref', id: other, path: path.join(store, 'refs.json') },
    ]);
    expect(result.inUse).toEqual([]);
    expect([fs.existsSync(blob), fs.existsSync(layer), held(store).tmp]).toEqual([false, false, []]);
    const again = await provision([image], path.join(dir, 'again'), { store });
    expect(again.store).toMatchObject({ blobsFetched: 1, layersExtracted: 1, layersReused: 2 });
    expect(diffSnapshots(plain, tree(path.join(dir, 'again')))).toEqual([]);
    expect(fs.readFileSync(blob).equals(bytes)).toBe(false);
    // The reference dropped: only the image is left, whole.
    const after = await verify({ store });
    expect([after.refs, after.damaged]).toEqual([1, []]);
  });

  it('leaves a damaged layer a running provision holds (its shared lock), saying so', async () => {
    const dir = scratch();
    const image = testImage(path.join(dir, 'img'), { layers: 1, sizeMb: 1, seed: 63 });
    const store = path.join(dir, 'store');
    await pull(image, { store });
    const hex = held(store).layers[0];
    fs.chmodSync(path.join(store, `layers/${MODE}`, hex, 'rootfs/etc'), 0o700);
    const pin = (await StoreLock.acquire(path.join(store, 'locks', `layer-${MODE}-${hex}`), 'sh', { wait: false }))!;
    try {
      const r = await verify({ store, repair: true });
      expect([r.removed, r.inUse?.map((d) => d.id)]).toEqual([[], [`sha256:${hex}`]]);
      expect(fs.existsSync(path.join(store, `layers/${MODE}`, hex))).toBe(true);
    } finally {
      pin.release();
    }
    const r = await verify({ store, repair: true });
    expect([r.removed?.map((d) => d.id), r.inUse]).toEqual([[`sha256:${hex}`], []]);
  });
});

describe('layers of the same tars compressed otherwise', () => {
  it('a zstd image whose layers a gzip image extracted: reused, its own blobs stored, verify finds nothing missing', async () => {
    const dir = scratch();
    const gzip = testImage(path.join(dir, 'gzip'), { layers: 2, sizeMb: 1, seed: 64 });
    const zstd = testImage(path.join(dir, 'zstd'), { layers: 2, sizeMb: 1, seed: 64, compression: 'zstd' });
    const store = path.join(dir, 'store');
    await provision([zstd], path.join(dir, 'plain'));
    await pull(gzip, { store });
    const r = await provision([zstd], path.join(dir, 'root'), { store });
    expect(r.store).toMatchObject({ blobsFetched: 2, layersExtracted: 0, layersReused: 2 });
    expect(diffSnapshots(tree(path.join(dir, 'plain')), tree(path.join(dir, 'root')))).toEqual([]);
    for (const { digest } of layerDigests(zstd) as unknown as { digest: string }[]) expect(fs.existsSync(path.join(store, 'blobs/sha256', digest.slice(7)))).toBe(true);
    expect((await verify({ store })).damaged).toEqual([]);
    // Warm now: nothing fetched, nothing asked.
    expect((await provision([zstd], path.join(dir, 'warm'), { store })).store).toMatchObject({ blobsFetched: 0, layersReused: 2 });
  });
});
