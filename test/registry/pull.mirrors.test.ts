// docker:// through mirrors (registries.conf), and images of several
// platforms: an OCI index and a Docker manifest list.
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostPlatform } from '../../src/images/oci.js';
import { provision } from '../../src/index.js';
import { hasRegistry, missingRegistryTools, pushImage, type Registry, startFaultProxy, startRegistry, testImage } from '../fixtures/registry.js';
import { freePort } from '../fixtures/registry-process.js';
import { diffSnapshots, scratch, snapshot } from '../helpers.js';
import { addImage, rawTar, writeIndex } from '../images/fixtures.js';
import { cli, isolated, pull } from './pull-helpers.js';

const why = hasRegistry ? '' : ` (skipped: ${missingRegistryTools.join(', ')} not on PATH)`;

/** An environment whose registries.conf puts `mirrors` (host:port, plain HTTP) before the registry. */
function withMirrors(registry: Registry, mirrors: string[]): Record<string, string> {
  const env = isolated();
  const conf = ['[[registry]]', `location = "${registry.host}"`, 'insecure = true', ...mirrors.flatMap((m) => ['[[registry.mirror]]', `location = "${m}"`, 'insecure = true'])];
  fs.writeFileSync(env.CONTAINERS_REGISTRIES_CONF, `${conf.join('\n')}\n`);
  return env;
}

describe.skipIf(!hasRegistry)(`mirrors${why}`, () => {
  let registry: Registry;
  beforeAll(async () => {
    registry = await startRegistry();
    await pushImage(testImage(path.join(scratch(), 'img'), { layers: 2, sizeMb: 0.5, seed: 31 }), registry, 'app:1');
  });
  afterAll(() => registry?.stop());

  it('a dead mirror is passed over for the registry itself', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const r = await pull([`docker://${registry.host}/app:1`, path.join(scratch(), 'root')], withMirrors(registry, [dead]));
    expect(r.status, r.stderr).toBe(0);
  });

  it('a mirror answers every request, each with ?ns= naming the registry it mirrors (Spegel, Dragonfly)', async () => {
    const mirror = await startFaultProxy(registry.url);
    try {
      const r = await pull([`docker://${registry.host}/app:1`, path.join(scratch(), 'root')], withMirrors(registry, [mirror.host]));
      expect(r.status, r.stderr).toBe(0);
      const asked = mirror.requests().filter((q) => q.path.startsWith('/v2/app/'));
      expect(asked.length).toBeGreaterThanOrEqual(4); // manifest, config, two layers
      expect(asked.every((q) => new URLSearchParams(q.query).get('ns') === registry.host)).toBe(true);
      // The summary says who served the image: a mirror may hold another image under the same tag.
      expect(r.json.images).toEqual([expect.objectContaining({ from: mirror.host, mirror: true })]);
    } finally {
      await mirror.stop();
    }
  });

  it('a mirror that takes connections and never answers is passed over after options.registry.mirrorTimeoutMs, not asked again over plain HTTP', async () => {
    const held: net.Socket[] = [];
    const hung = net.createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    const env = withMirrors(registry, [`127.0.0.1:${(hung.address() as net.AddressInfo).port}`]);
    const before = process.env.CONTAINERS_REGISTRIES_CONF;
    process.env.CONTAINERS_REGISTRIES_CONF = env.CONTAINERS_REGISTRIES_CONF;
    try {
      const started = Date.now();
      const summary = await provision([`docker://${registry.host}/app:1`], path.join(scratch(), 'root'), { registry: { mirrorTimeoutMs: 300 } });
      expect(summary.layers).toBe(2);
      // One try of the mirror (https; no plain-HTTP try after a timeout), then the registry for the manifest, the config and both layers.
      expect(held).toHaveLength(1);
      expect(Date.now() - started).toBeLessThan(30_000);
    } finally {
      if (before === undefined) delete process.env.CONTAINERS_REGISTRIES_CONF;
      else process.env.CONTAINERS_REGISTRIES_CONF = before;
      for (const s of held) s.destroy();
      hung.close();
    }
  });

  it('a plain-HTTP mirror written without insecure = true is passed over, and the summary says so and why (text and JSON)', async () => {
    const mirror = await startFaultProxy(registry.url);
    try {
      const env = isolated();
      const conf = ['[[registry]]', `location = "${registry.host}"`, 'insecure = true', '[[registry.mirror]]', `location = "${mirror.host}"`];
      fs.writeFileSync(env.CONTAINERS_REGISTRIES_CONF, `${conf.join('\n')}\n`);
      const why = 'ERR_SSL_WRONG_VERSION_NUMBER (the mirror speaks plain HTTP? insecure = true in its [[registry.mirror]] table allows it)';
      const r = await pull([`docker://${registry.host}/app:1`, path.join(scratch(), 'root')], env);
      expect(r.status, r.stderr).toBe(0);
      expect(r.json.images).toEqual([expect.objectContaining({ from: registry.host, passedOver: [{ host: mirror.host, why }] })]);
      const text = await execa('node', [cli, 'provision', `docker://${registry.host}/app:1`, path.join(scratch(), 'root')], { env, reject: false });
      expect(text.stdout.split('\n')).toContain(`  mirror    ${mirror.host} passed over: ${why}`);
    } finally {
      await mirror.stop();
    }
  });

  it('through a store too: provision names the registry and the mirror passed over, pull tells it on stderr and in --json', async () => {
    const mirror = await startFaultProxy(registry.url);
    try {
      const env = isolated();
      const conf = ['[[registry]]', `location = "${registry.host}"`, 'insecure = true', '[[registry.mirror]]', `location = "${mirror.host}"`];
      fs.writeFileSync(env.CONTAINERS_REGISTRIES_CONF, `${conf.join('\n')}\n`);
      const passed = { host: mirror.host, why: expect.stringMatching(/^ERR_SSL_WRONG_VERSION_NUMBER/) };
      const store = path.join(scratch(), 'store');
      const r = await pull(['--store', store, `docker://${registry.host}/app:1`, path.join(scratch(), 'root')], env);
      expect(r.status, r.stderr).toBe(0);
      expect(r.json.images).toEqual([expect.objectContaining({ from: registry.host, passedOver: [passed] })]);
      const pulled = await execa('node', [cli, 'pull', '--json', '--pull', 'always', '--store', store, `docker://${registry.host}/app:1`], { env, reject: false });
      expect(JSON.parse(pulled.stdout)).toMatchObject({ from: registry.host, passedOver: [passed] });
      const text = await execa('node', [cli, 'pull', '--pull', 'always', '--store', store, `docker://${registry.host}/app:1`], { env, reject: false });
      expect(text.stderr).toContain(`layercopy: mirror ${mirror.host} passed over: ERR_SSL_WRONG_VERSION_NUMBER`);
      // Held and not asked again (--pull missing): nothing served it.
      const warm = await pull(['--store', store, `docker://${registry.host}/app:1`, path.join(scratch(), 'root')], env);
      expect((warm.json.images as { from?: string }[])[0].from).toBeUndefined();
    } finally {
      await mirror.stop();
    }
  });

  it('a mirror that lacks the image (404) is passed over', async () => {
    const empty = await startRegistry();
    try {
      const r = await pull([`docker://${registry.host}/app:1`, path.join(scratch(), 'root')], withMirrors(registry, [empty.host]));
      expect(r.status, r.stderr).toBe(0);
    } finally {
      await empty.stop();
    }
  });

  it('the registry down after a mirror that lacks the image (404): the error tells both', async () => {
    const empty = await startRegistry();
    try {
      const dead = `127.0.0.1:${await freePort()}`;
      const r = await pull([`docker://${dead}/app:1`, path.join(scratch(), 'root')], withMirrors({ host: dead } as Registry, [empty.host]));
      expect(r.status, r.stderr).toBe(1);
      expect(r.json.error).toMatchObject({ code: 'ERR_REGISTRY' });
      expect(r.json.error?.message).toContain(`nothing listens at ${dead}`);
      expect(r.json.error?.message).toContain(`; passed over before it: ${empty.host} (HTTP 404 for `);
    } finally {
      await empty.stop();
    }
  });
});

describe('mirrors passed over when the registry fails too', () => {
  it("the registry's failure names the mirror passed over before it, and why (a plain-HTTP mirror without insecure = true)", async () => {
    const server = http.createServer((_q, res) => res.writeHead(404).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const mirror = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
      const dead = `127.0.0.1:${await freePort()}`;
      const env = isolated();
      fs.writeFileSync(env.CONTAINERS_REGISTRIES_CONF, ['[[registry]]', `location = "${dead}"`, 'insecure = true', '[[registry.mirror]]', `location = "${mirror}"`, ''].join('\n'));
      const r = await pull([`docker://${dead}/app:1`, path.join(scratch(), 'root')], env);
      expect(r.status).toBe(1);
      expect(r.json.error?.message).toContain(`nothing listens at ${dead}`);
      expect(r.json.error?.message).toContain(
        `; passed over before it: ${mirror} (ERR_SSL_WRONG_VERSION_NUMBER (the mirror speaks plain HTTP? insecure = true in its [[registry.mirror]] table allows it))`,
      );
    } finally {
      server.close();
    }
  }, 30_000);
});

describe.skipIf(!hasRegistry)(`images of several platforms${why}`, () => {
  let registry: Registry;
  let layout: string;
  const other = { os: 'linux', architecture: hostPlatform().architecture === 's390x' ? 'ppc64le' : 's390x' };
  beforeAll(async () => {
    registry = await startRegistry();
    layout = path.join(scratch(), 'multi');
    const here = addImage(layout, { layers: [rawTar([{ name: 'here', data: 'host' }])], platform: hostPlatform() });
    const there = addImage(layout, { layers: [rawTar([{ name: 'there', data: other.architecture }])], platform: other });
    const { indexOf } = await import('../images/fixtures.js');
    writeIndex(layout, [{ ...indexOf(layout, [here, there]), ref: 'latest' }]);
    await pushImage(`oci:${layout}:latest`, registry, 'multi:oci', { all: true });
    await pushImage(`oci:${layout}:latest`, registry, 'multi:docker', { all: true, format: 'v2s2' });
  });
  afterAll(() => registry?.stop());

  it('the pushed images are an OCI index and a Docker manifest list', async () => {
    const type = async (tag: string) => {
      const accept = 'application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json';
      const r = await fetch(`${registry.url}/v2/multi/manifests/${tag}`, { headers: { accept } });
      return r.headers.get('content-type');
    };
    expect(await type('oci')).toBe('application/vnd.oci.image.index.v1+json');
    expect(await type('docker')).toBe('application/vnd.docker.distribution.manifest.list.v2+json');
  });

  it.each(['oci', 'docker'])('%s index: the host platform by default, --platform for another; each equals provision oci: of it', async (tag) => {
    const dir = scratch();
    const mine = await pull(['--tls-verify=false', `docker://${registry.host}/multi:${tag}`, path.join(dir, 'mine')]);
    expect(mine.status, mine.stderr).toBe(0);
    expect(fs.readdirSync(path.join(dir, 'mine'))).toEqual(['here']);
    const theirs = await pull(['--tls-verify=false', '--platform', `linux/${other.architecture}`, `docker://${registry.host}/multi:${tag}`, path.join(dir, 'theirs')]);
    expect(theirs.status, theirs.stderr).toBe(0);
    await provision([`oci:${layout}:latest`], path.join(dir, 'local'), { platform: `linux/${other.architecture}` });
    const t = (d: string) => {
      const s = snapshot(path.join(dir, d));
      s.delete('');
      return s;
    };
    expect(diffSnapshots(t('local'), t('theirs'))).toEqual([]);
  });

  it('a platform the index lacks: ERR_IMAGE_NOT_FOUND listing the ones there are', async () => {
    const r = await pull(['--tls-verify=false', '--platform', 'linux/mips64', `docker://${registry.host}/multi:oci`, path.join(scratch(), 'root')]);
    expect(r.json.error).toMatchObject({ code: 'ERR_IMAGE_NOT_FOUND', message: expect.stringContaining(`linux/${other.architecture}`) });
  });
});
