// docker:// against a real registry (Debian's docker-registry, distribution
// 2.8) on 127.0.0.1: what is provisioned equals provision oci: of the same
// image, and each fault, auth flow and TLS setup a user meets.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pool } from '../../src/copy/pool.js';
import { pumpsHere } from '../../src/images/pumped.js';
import { provision } from '../../src/index.js';
import { provisionWith } from '../../src/provision.js';
import { hasRegistry, missingRegistryTools, pushImage, type Registry, startFaultProxy, startRegistry, testImage } from '../fixtures/registry.js';
import { diffSnapshots, scratch, snapshot } from '../helpers.js';
import { cli, isolated, pull } from './pull-helpers.js';

const why = hasRegistry ? '' : ` (skipped: ${missingRegistryTools.join(', ')} not on PATH; Debian: apt-get install docker-registry apache2-utils openssl skopeo)`;

/** A provisioned tree; the root's times left out: the test images' tars have no "./" entry, so it is made when provisioned. */
function tree(dir: string) {
  const t = snapshot(dir);
  const root = t.get('');
  if (root) t.set('', { ...root, atimeNs: 0n, mtimeNs: 0n } as typeof root);
  return t;
}

/** What a failed provision left beside ROOTFS: must be nothing. */
const leftovers = (dir: string) => fs.readdirSync(dir).filter((n) => n === 'root' || n.includes('layercopy'));

describe.skipIf(!hasRegistry)(`docker:// from a plain registry${why}`, () => {
  let registry: Registry;
  let gzip: string;
  let zstd: string;
  beforeAll(async () => {
    registry = await startRegistry();
    gzip = testImage(path.join(scratch(), 'gzip'), { layers: 3, sizeMb: 1, seed: 11 });
    zstd = testImage(path.join(scratch(), 'zstd'), { layers: 2, sizeMb: 1, seed: 12, compression: 'zstd' });
    await pushImage(gzip, registry, 'app/gzip:1');
    await pushImage(zstd, registry, 'app/zstd:1');
  });
  afterAll(() => registry?.stop());

  it.each([
    ['gzip', () => gzip, 'app/gzip:1'],
    ['zstd', () => zstd, 'app/zstd:1'],
  ])('%s layers: provision docker:// equals provision oci: of the same image', async (_kind, image, ref) => {
    const dir = scratch();
    await provision([image()], path.join(dir, 'local'));
    const r = await pull(['--tls-verify=false', `docker://${registry.host}/${ref}`, path.join(dir, 'pulled')]);
    expect(r.status, r.stderr).toBe(0);
    expect(diffSnapshots(tree(path.join(dir, 'local')), tree(path.join(dir, 'pulled')))).toEqual([]);
    // The manifest the registry served (skopeo pushed the layout's bytes): the one the local provision names.
    const localSummary = await provision([image()], path.join(dir, 'local2'));
    expect(r.json.images).toEqual([{ ...localSummary.images[0], reference: `docker://${registry.host}/${ref}`, from: registry.host }]);
    const perLayer = r.json.perLayer as { layer: string; digest: string; extractMs: number }[];
    expect(perLayer.every((l) => l.layer === `docker://${registry.host}/${ref}` && /^sha256:[0-9a-f]{64}$/.test(l.digest) && l.extractMs > 0)).toBe(true);
  });

  it('one layer: extracted on the main thread beside its download, no worker started; the tree of provision oci:', async () => {
    const dir = scratch();
    const one = testImage(path.join(dir, 'one'), { layers: 1, sizeMb: 1, seed: 13 });
    await pushImage(one, registry, 'app/one:1');
    await provision([one], path.join(dir, 'local'));
    const pool = new Pool(2);
    try {
      await provisionWith(pool, [`docker://${registry.host}/app/one:1`], path.join(dir, 'pulled'), { registry: { tlsVerify: false } });
      expect(pool.started).toBe(false);
    } finally {
      await pool.close();
    }
    expect(diffSnapshots(tree(path.join(dir, 'local')), tree(path.join(dir, 'pulled')))).toEqual([]);
  });

  it.runIf(pumpsHere())(
    'several gzip layers: pumped from the main thread as they download (their media type says gzip), no worker started; the tree of provision oci:',
    async () => {
      const dir = scratch();
      await provision([gzip], path.join(dir, 'local'));
      const pool = new Pool(2);
      try {
        await provisionWith(pool, [`docker://${registry.host}/app/gzip:1`], path.join(dir, 'pulled'), { registry: { tlsVerify: false } });
        expect(pool.started).toBe(false);
      } finally {
        await pool.close();
      }
      expect(diffSnapshots(tree(path.join(dir, 'local')), tree(path.join(dir, 'pulled')))).toEqual([]);
    },
  );

  it('a tag the registry does not have: ERR_IMAGE_NOT_FOUND naming the reference, exit 1, nothing left', async () => {
    const dir = scratch();
    const given = `docker://${registry.host}/app/gzip:nope`;
    const r = await pull(['--tls-verify=false', given, path.join(dir, 'root')]);
    expect(r.status).toBe(1);
    expect(r.json.error).toMatchObject({ code: 'ERR_IMAGE_NOT_FOUND', layer: given, layerIndex: 0 });
    expect(r.json.error?.message).toMatch(/app\/gzip:nope: no such image \(the registry has no tag 'nope' in app\/gzip; it has '1'\)$/);
    const repo = await pull(['--tls-verify=false', `docker://${registry.host}/app/none:1`, path.join(dir, 'root')]);
    expect(repo.json.error).toMatchObject({ code: 'ERR_IMAGE_NOT_FOUND' });
    expect(repo.json.error?.message).toMatch(/app\/none:1: no such image \(the registry has no repository app\/none\)$/);
    expect(leftovers(dir)).toEqual([]);
  });

  it('without --tls-verify=false a plain-HTTP registry is refused (no silent downgrade): ERR_REGISTRY', async () => {
    const dir = scratch();
    const r = await pull([`docker://${registry.host}/app/gzip:1`, path.join(dir, 'root')]);
    expect(r.status).toBe(1);
    expect(r.json.error?.code).toBe('ERR_REGISTRY');
    // Said as TLS meeting plain HTTP, with what to do, and not retried as a network failure.
    expect(r.json.error?.message).toMatch(/ERR_SSL_WRONG_VERSION_NUMBER \(the registry speaks plain HTTP\? --tls-verify=false allows it\)$/);
    expect(leftovers(dir)).toEqual([]);
  });

  it('--tls-verify false (two arguments) parses as --tls-verify=false', async () => {
    const dir = scratch();
    const r = await pull(['--tls-verify', 'false', `docker://${registry.host}/app/zstd:1`, path.join(dir, 'root')]);
    expect(r.status, r.stderr).toBe(0);
  });

  it('--tls-verify=0 and --tls-verify=FALSE (Go ParseBool words, as podman takes them) parse as --tls-verify=false', async () => {
    for (const flag of ['--tls-verify=0', '--tls-verify=FALSE']) {
      const r = await pull([flag, `docker://${registry.host}/app/zstd:1`, path.join(scratch(), 'root')]);
      expect(r.status, `${flag}: ${r.stderr}`).toBe(0);
    }
  });

  it('two 503s with Retry-After, then success: retried', async () => {
    const proxy = await startFaultProxy(registry.url, { status: { path: /\/blobs\/sha256:/, code: 503, times: 2, retryAfter: 0 } });
    try {
      const dir = scratch();
      const r = await pull(['--tls-verify=false', `docker://${proxy.host}/app/gzip:1`, path.join(dir, 'root')]);
      expect(r.status, r.stderr).toBe(0);
      expect(proxy.requests().filter((q) => q.status === 503)).toHaveLength(2);
    } finally {
      await proxy.stop();
    }
  });

  it('each layer blob asked for once, with --max-downloads 1 too: the answer to its early request is what its download reads', async () => {
    const proxy = await startFaultProxy(registry.url, {});
    try {
      for (const max of ['6', '1']) {
        const before = proxy.requests().length;
        const r = await pull(['--tls-verify=false', '--max-downloads', max, `docker://${proxy.host}/app/gzip:1`, path.join(scratch(), 'root')]);
        expect(r.status, r.stderr).toBe(0);
        const blobs = proxy
          .requests()
          .slice(before)
          .filter((q) => /\/blobs\/sha256:/.test(q.path))
          .map((q) => q.path);
        // The config and three layers, each once.
        expect(blobs, `--max-downloads ${max}`).toHaveLength(4);
        expect(new Set(blobs).size).toBe(4);
      }
    } finally {
      await proxy.stop();
    }
  });

  it('a connection cut at 50% of the largest blob is resumed with Range: at most 1.1x its size fetched, the same tree', async () => {
    const big = testImage(path.join(scratch(), 'big'), { layers: 1, sizeMb: 6, seed: 13 });
    await pushImage(big, registry, 'app/big:1');
    const blob = JSON.parse(fs.readFileSync(path.join(big.split(':')[1], 'index.json'), 'utf8')).manifests[0].digest as string;
    const manifest = JSON.parse(fs.readFileSync(path.join(big.split(':')[1], 'blobs/sha256', blob.slice(7)), 'utf8'));
    const layer = manifest.layers[0] as { digest: string; size: number };
    const proxy = await startFaultProxy(registry.url, { cutAfter: { path: new RegExp(layer.digest), bytes: Math.floor(layer.size / 2) } });
    try {
      const dir = scratch();
      await provision([big], path.join(dir, 'local'));
      const r = await pull(['--tls-verify=false', `docker://${proxy.host}/app/big:1`, path.join(dir, 'pulled')]);
      expect(r.status, r.stderr).toBe(0);
      const fetched = [...proxy.sent()].filter(([p]) => p.includes(layer.digest)).reduce((a, [, n]) => a + n, 0);
      // Resumed from what arrived before the cut (the bytes in flight when the socket was destroyed may be lost), never from zero.
      const resumed = proxy.requests().filter((q) => q.path.includes(layer.digest) && q.range !== undefined);
      expect(resumed).toHaveLength(1);
      const from = Number(/^bytes=(\d+)-$/.exec(resumed[0].range ?? '')?.[1]);
      expect(from).toBeGreaterThan(layer.size / 4);
      expect(from).toBeLessThanOrEqual(Math.floor(layer.size / 2));
      expect(fetched).toBeLessThanOrEqual(1.1 * layer.size);
      expect(diffSnapshots(tree(path.join(dir, 'local')), tree(path.join(dir, 'pulled')))).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });

  it('a connection cut inside the manifest: read again, the same tree', async () => {
    const proxy = await startFaultProxy(registry.url, { cutAfter: { path: /\/manifests\//, bytes: 100 } });
    try {
      const dir = scratch();
      await provision([gzip], path.join(dir, 'local'));
      const r = await pull(['--tls-verify=false', `docker://${proxy.host}/app/gzip:1`, path.join(dir, 'pulled')]);
      expect(r.status, r.stderr).toBe(0);
      expect(proxy.requests().filter((q) => q.path.includes('/manifests/'))).toHaveLength(2);
      expect(diffSnapshots(tree(path.join(dir, 'local')), tree(path.join(dir, 'pulled')))).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });

  it('the config cut every time: ERR_REGISTRY naming the config and the registry after 5 tries, nothing left', async () => {
    const layout = gzip.split(':')[1];
    const manifest = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8')).manifests[0].digest as string;
    const config = JSON.parse(fs.readFileSync(path.join(layout, 'blobs/sha256', manifest.slice(7)), 'utf8')).config.digest as string;
    const proxy = await startFaultProxy(registry.url, { cutAfter: { path: new RegExp(config), bytes: 10, times: 99 } });
    try {
      const dir = scratch();
      const r = await pull(['--tls-verify=false', `docker://${proxy.host}/app/gzip:1`, path.join(dir, 'root')]);
      expect(r.status).toBe(1);
      expect(r.json.error?.code).toBe('ERR_REGISTRY');
      expect(r.json.error?.message).toContain(`config ${config} from ${proxy.host}`);
      expect(r.json.error?.message).toMatch(/\(after 5 tries\)$/);
      expect(proxy.requests().filter((q) => q.path.includes(config))).toHaveLength(5);
      expect(leftovers(dir)).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });

  it('a flipped byte in a layer blob: ERR_DIGEST_MISMATCH, nothing left', async () => {
    const proxy = await startFaultProxy(registry.url, { flipByte: { path: /\/blobs\/sha256:/, at: 700 } });
    try {
      const dir = scratch();
      const r = await pull(['--tls-verify=false', `docker://${proxy.host}/app/gzip:1`, path.join(dir, 'root')]);
      expect(r.status).toBe(1);
      expect(r.json.error?.code).toBe('ERR_DIGEST_MISMATCH');
      // The spool file (/proc/self/fd/N/I.blob) is no path of the user's.
      expect(r.json.error).not.toHaveProperty('path');
      expect(leftovers(dir)).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });

  it('Ctrl-C while layers download: exit 130, the downloads stopped, nothing left', async () => {
    const proxy = await startFaultProxy(registry.url, { rateBytesPerSec: 256 << 10 });
    try {
      const dir = scratch();
      const child = execa('node', [cli, 'provision', '--tls-verify=false', `docker://${proxy.host}/app/gzip:1`, path.join(dir, 'root')], { reject: false, env: isolated() });
      // Once blob bytes flow, the spool files exist beside ROOTFS.
      while (!proxy.requests().some((q) => q.path.includes('/blobs/')) || [...proxy.sent().values()].reduce((a, b) => a + b, 0) < 100_000) {
        await new Promise((r) => setTimeout(r, 20));
      }
      child.kill('SIGINT');
      const r = await child;
      expect(r.exitCode).toBe(130);
      expect(leftovers(dir)).toEqual([]);
      const sent = [...proxy.sent().values()].reduce((a, b) => a + b, 0);
      await new Promise((r) => setTimeout(r, 300));
      expect([...proxy.sent().values()].reduce((a, b) => a + b, 0)).toBe(sent);
    } finally {
      await proxy.stop();
    }
  });
});
