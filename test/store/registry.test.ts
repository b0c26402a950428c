// docker:// through a store, against a real registry behind a FaultProxy
// that counts requests: the same tree as straight from the registry, a warm
// provision that asks the registry nothing, eight cold provisions at once
// that fetch each blob once, and pulls killed at several points.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasRegistry, missingRegistryTools, pushImage, type Registry, startFaultProxy, startRegistry, testImage } from '../fixtures/registry.js';
import { diffSnapshots, scratch } from '../helpers.js';
import { cli, isolated, pull } from '../registry/pull-helpers.js';
import { held, tree } from './helpers.js';

const why = hasRegistry ? '' : ` (skipped: ${missingRegistryTools.join(', ')} not on PATH)`;

/** Bytes in the spool files of builds under way in tmp/. */
function spooled(store: string): number {
  let n = 0;
  for (const name of held(store).tmp) {
    const dir = path.join(store, 'tmp', name);
    if (!name.endsWith('-build')) continue;
    for (const f of fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.name.endsWith('.blob'))) n += fs.statSync(path.join(dir, f.name)).size;
  }
  return n;
}

type StoreJson = { store?: { blobsFetched: number; layersExtracted: number; layersReused: number; waitedMs: number } };

describe.skipIf(!hasRegistry)(`docker:// through a store${why}`, () => {
  let registry: Registry;
  beforeAll(async () => {
    registry = await startRegistry();
    await pushImage(testImage(path.join(scratch(), 'gzip'), { layers: 3, sizeMb: 1, seed: 31 }), registry, 'app/gzip:1');
    await pushImage(testImage(path.join(scratch(), 'zstd'), { layers: 2, sizeMb: 1, seed: 32, compression: 'zstd' }), registry, 'app/zstd:1');
    // app/gzip:1's tars, compressed with zstd: the same diff_ids, other blobs.
    await pushImage(testImage(path.join(scratch(), 'same'), { layers: 3, sizeMb: 1, seed: 31, compression: 'zstd' }), registry, 'app/same:1');
  });
  afterAll(() => registry?.stop());

  it.each([
    ['gzip', 'app/gzip:1', 3],
    ['zstd', 'app/zstd:1', 2],
  ])('%s: equals a provision straight from the registry; a warm one makes no request at all', async (_kind, repo, layers) => {
    const proxy = await startFaultProxy(registry.url);
    try {
      const dir = scratch();
      const store = path.join(dir, 'store');
      const ref = `docker://${proxy.host}/${repo}`;
      const straight = await pull(['--tls-verify=false', ref, path.join(dir, 'straight')]);
      expect(straight.status, straight.stderr).toBe(0);
      const plain = tree(path.join(dir, 'straight'));
      const cold = await pull(['--tls-verify=false', '--store', store, ref, path.join(dir, 'cold')]);
      expect(cold.status, cold.stderr).toBe(0);
      expect((cold.json as StoreJson).store).toMatchObject({ blobsFetched: layers, layersExtracted: layers, layersReused: 0 });
      const before = proxy.requests().length;
      // $LAYERCOPY_STORE names the store as --store does.
      const warm = await pull(['--tls-verify=false', ref, path.join(dir, 'warm')], isolated({ LAYERCOPY_STORE: store }));
      expect(warm.status, warm.stderr).toBe(0);
      expect(proxy.requests().slice(before)).toEqual([]);
      expect((warm.json as StoreJson).store).toMatchObject({ blobsFetched: 0, layersExtracted: 0, layersReused: layers });
      expect(diffSnapshots(plain, tree(path.join(dir, 'cold')))).toEqual([]);
      expect(diffSnapshots(plain, tree(path.join(dir, 'warm')))).toEqual([]);
      // --pull always asks the registry again (its manifest), and still reuses every layer.
      const again = await pull(['--tls-verify=false', '--store', store, '--pull', 'always', ref, path.join(dir, 'again')]);
      expect(again.status, again.stderr).toBe(0);
      expect(proxy.requests().length).toBeGreaterThan(before);
      expect((again.json as StoreJson).store).toMatchObject({ blobsFetched: 0, layersExtracted: 0, layersReused: layers });
    } finally {
      await proxy.stop();
    }
  });

  it('app/gzip:1 then its tars as zstd: layers reused, the zstd blobs fetched alone, each once; verify finds every blob', async () => {
    const proxy = await startFaultProxy(registry.url);
    try {
      const dir = scratch();
      const store = path.join(dir, 'store');
      expect((await pull(['--tls-verify=false', '--store', store, `docker://${proxy.host}/app/gzip:1`, path.join(dir, 'gzip')])).status).toBe(0);
      const before = proxy.requests().length;
      const same = await pull(['--tls-verify=false', '--store', store, `docker://${proxy.host}/app/same:1`, path.join(dir, 'same')]);
      expect(same.status, same.stderr).toBe(0);
      expect((same.json as StoreJson).store).toMatchObject({ blobsFetched: 3, layersExtracted: 0, layersReused: 3 });
      const layerGets = proxy
        .requests()
        .slice(before)
        .filter((r) => r.method === 'GET' && /\/blobs\/sha256:/.test(r.path));
      expect(layerGets).toHaveLength(4); // 3 layers and the config
      expect(diffSnapshots(tree(path.join(dir, 'gzip')), tree(path.join(dir, 'same')))).toEqual([]);
      const verified = await execa('node', [cli, 'verify', '--store', store], { reject: false });
      // 6 layer blobs, 2 manifests, and one config: the same diff_ids make the same config.
      expect([verified.exitCode, verified.stdout]).toEqual([0, 'checked 9 blobs, 3 layers, 2 references: no damage']);
    } finally {
      await proxy.stop();
    }
  });

  it('8 cold CLI provisions of one image through one store at once: each blob fetched once, each layer extracted once, 8 identical trees', async () => {
    // Paced, so that the eight overlap for the whole pull.
    const proxy = await startFaultProxy(registry.url, { rateBytesPerSec: 3 << 20 });
    try {
      const dir = scratch();
      const store = path.join(dir, 'store');
      const ref = `docker://${proxy.host}/app/gzip:1`;
      const runs = await Promise.all(Array.from({ length: 8 }, (_, i) => pull(['--tls-verify=false', '--store', store, '--concurrency', '1', ref, path.join(dir, `r${i}`)])));
      for (const r of runs) expect(r.status, r.stderr).toBe(0);
      const blobGets = proxy.requests().filter((r) => r.method === 'GET' && /\/blobs\/sha256:/.test(r.path));
      const perBlob = new Map<string, number>();
      for (const r of blobGets) perBlob.set(r.path, (perBlob.get(r.path) ?? 0) + 1);
      expect(perBlob.size).toBe(4); // 3 layers and the config
      expect([...perBlob.values()]).toEqual([1, 1, 1, 1]);
      expect(proxy.requests().filter((r) => r.method === 'GET' && /\/manifests\//.test(r.path))).toHaveLength(1);
      const stores = runs.map((r) => (r.json as StoreJson).store!);
      expect(stores.reduce((n, s) => n + s.layersExtracted, 0)).toBe(3);
      expect(stores.reduce((n, s) => n + s.blobsFetched, 0)).toBe(3);
      expect(stores.every((s) => s.layersExtracted + s.layersReused === 3)).toBe(true);
      const first = tree(path.join(dir, 'r0'));
      for (let i = 1; i < 8; i++) expect(diffSnapshots(first, tree(path.join(dir, `r${i}`)))).toEqual([]);
      expect(held(store).tmp).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });

  it.each([
    ['while a blob downloads', (store: string) => spooled(store) > 0 && held(store).layers.length === 0],
    ['after the first layer is in place, the others still extracting', (store: string) => held(store).layers.length === 1],
  ])('kill -9 of a pull %s: no partial entry; the next provision is whole and removes the leftovers', async (_when, ready) => {
    const faults: { rateBytesPerSec?: number } = { rateBytesPerSec: 1 << 20 };
    const proxy = await startFaultProxy(registry.url, faults);
    try {
      const dir = scratch();
      const store = path.join(dir, 'store');
      const ref = `docker://${proxy.host}/app/gzip:1`;
      const child = execa('node', [cli, 'pull', '--tls-verify=false', '--store', store, '--max-downloads', '1', ref], { reject: false, env: isolated(), extendEnv: true });
      const deadline = Date.now() + 20_000;
      while (!ready(store) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      child.kill('SIGKILL');
      await child;
      expect(ready(store)).toBe(true);
      const leftovers = held(store).tmp;
      expect(leftovers.length).toBeGreaterThan(0);
      // Every entry in layers/ is whole: verify finds nothing wrong with what is there.
      const check = await execa('node', [cli, 'verify', '--json', '--store', store], { reject: false });
      const damaged = (JSON.parse(check.stdout) as { damaged: { kind: string }[] }).damaged;
      expect(damaged.filter((d) => d.kind !== 'ref')).toEqual([]);
      faults.rateBytesPerSec = undefined;
      const after = await pull(['--tls-verify=false', '--store', store, ref, path.join(dir, 'after')]);
      expect(after.status, after.stderr).toBe(0);
      const counts = (after.json as StoreJson).store!;
      expect(counts.layersReused + counts.layersExtracted).toBe(3);
      const straight = await pull(['--tls-verify=false', ref, path.join(dir, 'straight')]);
      expect(diffSnapshots(tree(path.join(dir, 'straight')), tree(path.join(dir, 'after')))).toEqual([]);
      expect(held(store).tmp).toEqual([]);
      expect(straight.status).toBe(0);
    } finally {
      await proxy.stop();
    }
  });
});
