// `layercopy bench docker://…` against a real registry (test/fixtures/registry.ts):
// layercopy's pull beside skopeo copy then layercopy provision oci:, skopeo
// copy then umoci unpack, the download floor, and layercopy on the image
// copied beforehand; every method really fetched the image, and the bench
// leaves no scratch behind.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadFloorArgv, pullBench } from '../../src/cli/bench-pull.js';
import type { BenchReport } from '../../src/cli/bench-report.js';
import { hasRegistry, missingRegistryTools, pushImage, type Registry, startRegistry, startTokenServer, type TokenServer, testImage } from '../fixtures/registry.js';
import { freePort } from '../fixtures/registry-process.js';
import { startFaultProxy } from '../fixtures/registry-proxy.js';
import { scratch } from '../helpers.js';
import { hasUmoci } from '../images/fixtures.js';
import { isolated } from '../registry/pull-helpers.js';

const cli = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));
const why = hasRegistry ? '' : ` (skipped: ${missingRegistryTools.join(', ')} not on PATH; Debian: apt-get install docker-registry apache2-utils openssl skopeo)`;

/** The digests of an OCI layout's layers (its one manifest). */
function layerDigests(layout: string): string[] {
  const blob = (digest: string) => JSON.parse(fs.readFileSync(path.join(layout, 'blobs/sha256', digest.slice('sha256:'.length)), 'utf8'));
  const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8'));
  return blob(index.manifests[0].digest).layers.map((l: { digest: string }) => l.digest);
}

describe.skipIf(!hasRegistry)(`bench docker://${why}`, () => {
  let registry: Registry;
  let layers: string[];
  beforeAll(async () => {
    registry = await startRegistry();
    const layout = path.join(scratch(), 'image');
    await pushImage(testImage(layout, { layers: 2, sizeMb: 1, seed: 31 }), registry, 'bench/tiny:1');
    layers = layerDigests(layout);
  });
  afterAll(() => registry?.stop());

  it('times the pull beside skopeo copy then provision oci: (and umoci unpack), the download floor and the local copy; prints JSON, cleans up', async () => {
    const work = scratch();
    const image = `docker://${registry.host}/bench/tiny:1`;
    const args = ['bench', '--runs', '1', '--strategy', 'merged', '--concurrency', '1', '--batch-size', 'auto', '--tls-verify=false', '--scratch', work, '--json', image];
    const r = await execa('node', [cli, ...args], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as BenchReport;
    const methods = report.rows.map((row) => `${row.method}${row.local ? ' (local)' : ''}`);
    expect(methods.sort()).toEqual(['download-floor', 'layercopy', 'layercopy (local)', 'skopeo-then-layercopy', ...(hasUmoci ? ['skopeo-then-umoci'] : [])].sort());
    const pulled = report.rows.find((row) => row.method === 'layercopy' && !row.local)!;
    const local = report.rows.find((row) => row.local)!;
    expect(report.best).toEqual(pulled);
    for (const ratio of ['ratioToSkopeoLayercopy', 'ratioToDownloadFloor', 'ratioToLocal', 'ratioToPullFloor'] as const) expect(pulled[ratio]).toBeGreaterThan(0);
    expect(pulled.ratioToSkopeoUmoci === undefined).toBe(!hasUmoci);
    expect(pulled.ratioToLocal).toBeCloseTo(pulled.processMedianMs / local.processMedianMs, 6);
    const floor = report.rows.find((row) => row.method === 'download-floor')!;
    expect(pulled.ratioToPullFloor).toBeCloseTo(pulled.processMedianMs / Math.max(floor.medianMs, local.processMedianMs), 6);
    // Two layers, each 1 MiB out (30 entries or so: see testImage), and peak RSS from GNU time for every process timed.
    expect(report.entries).toBeGreaterThan(4);
    if (fs.existsSync('/usr/bin/time')) for (const row of report.rows) expect(row.peakRssMb, row.method).toBeGreaterThan(1);
    // Every layer blob fetched once by each method that pulls, and once more for the local copy: none by the local row.
    const pulls = 1 + 1 + (hasUmoci ? 1 : 0) + 1 + 1;
    const gets = registry.requests().filter((q) => q.method === 'GET' && q.status === 200);
    for (const digest of layers) expect(gets.filter((q) => q.path === `/v2/bench/tiny/blobs/${digest}`).length, digest).toBe(pulls);
    expect(fs.readdirSync(work)).toEqual([]);
  });

  it('a tag the registry lacks: ERR_IMAGE_NOT_FOUND, exit 1 as provision exits (not a usage error), nothing left', async () => {
    const work = scratch();
    const image = `docker://${registry.host}/bench/tiny:nope`;
    const r = await execa('node', [cli, 'bench', '--runs', '1', '--tls-verify=false', '--scratch', work, '--json', image], { reject: false });
    expect([r.exitCode, JSON.parse(r.stdout).error.code]).toEqual([1, 'ERR_IMAGE_NOT_FOUND']);
    expect(r.stderr).toBe(`layercopy: ${image}: no such image (the registry has no tag 'nope' in bench/tiny; it has '1')`);
    expect(fs.readdirSync(work)).toEqual([]);
  });

  it('refuses a docker:// image beside other LAYERs, and registry flags without one (exit 2)', async () => {
    const work = scratch();
    const image = `docker://${registry.host}/bench/tiny:1`;
    const both = await execa('node', [cli, 'bench', '--tls-verify=false', '--scratch', work, image, work], { reject: false });
    expect([both.exitCode, both.stderr.split('\n')[0]]).toEqual([2, 'layercopy: bench pulls one docker:// image, alone']);
    const flags = await execa('node', [cli, 'bench', '--creds', 'u:p', '--scratch', work, work], { reject: false });
    expect([flags.exitCode, flags.stderr.split('\n')[0]]).toEqual([2, 'layercopy: --creds applies to a docker:// bench only']);
  });
});

describe.skipIf(!hasRegistry)(`the download floor${why}`, () => {
  let token: TokenServer;
  let registry: Registry;
  let layers: string[];
  beforeAll(async () => {
    token = await startTokenServer({ users: { alice: 'secret' } });
    registry = await startRegistry({ clientAuth: true, token });
    const layout = path.join(scratch(), 'image');
    await pushImage(testImage(layout, { layers: 2, sizeMb: 0.5, seed: 33 }), registry, 'floor/app:1', { creds: 'alice:secret' });
    layers = layerDigests(layout);
  });
  afterAll(async () => {
    await registry?.stop();
    await token?.stop();
  });

  const floorFor = (dir: string) => {
    const values = { creds: 'alice:secret', 'cert-dir': registry.certDir! };
    return downloadFloorArgv(pullBench(`docker://${registry.host}/floor/app:1`, values, undefined, { umoci: false, floor: true }), dir);
  };

  it("curl fetches every blob with the token, the registry's CA and the client certificate layercopy's client used; openssl checks each digest", async () => {
    const dir = path.join(scratch(), 'floor');
    const argv = await floorFor(dir);
    // The token is in a config only its owner reads, not in argv (ps shows argv to every user).
    expect(argv.join(' ')).not.toMatch(/Bearer|secret/);
    expect(fs.statSync(path.join(dir, 'curlrc.0')).mode & 0o777).toBe(0o600);
    const before = registry.requests().length;
    const r = await execa(argv[0], argv.slice(1), { reject: false });
    expect([r.exitCode, r.stderr]).toEqual([0, '']);
    const gets = registry.requests().slice(before);
    for (const digest of layers) {
      expect(
        gets.filter((q) => q.path === `/v2/floor/app/blobs/${digest}`),
        digest,
      ).toEqual([{ method: 'GET', path: `/v2/floor/app/blobs/${digest}`, query: '', status: 200, authorization: true }]);
    }
  });

  it('curl reads no ~/.curlrc and takes no proxy the client would not (none for a loopback registry)', async () => {
    const argv = await floorFor(path.join(scratch(), 'floor'));
    const home = scratch();
    // `include` puts the response headers into the body hashed.
    fs.writeFileSync(path.join(home, '.curlrc'), 'include\n');
    const dead = `http://127.0.0.1:${await freePort()}`;
    const env = { HOME: home, HTTPS_PROXY: dead, https_proxy: dead, HTTP_PROXY: dead, http_proxy: dead };
    const r = await execa(argv[0], argv.slice(1), { reject: false, env });
    expect([r.exitCode, r.stderr]).toEqual([0, '']);
  });

  it('a blob whose bytes do not hash to its digest fails the floor, naming the blob and both digests', async () => {
    const argv = await floorFor(path.join(scratch(), 'floor'));
    const wrong = '0'.repeat(64);
    const i = argv.indexOf(layers[1].slice('sha256:'.length));
    argv[i] = wrong;
    const r = await execa(argv[0], argv.slice(1), { reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe(`download floor: ${argv[i - 1]}: ${layers[1]}, expected sha256:${wrong}`);
  });
});

describe.skipIf(!hasRegistry)(`the download floor, plain HTTP${why}`, () => {
  let registry: Registry;
  let layers: string[];
  const image = () => `docker://${registry.host}/floor/plain:1`;
  beforeAll(async () => {
    registry = await startRegistry();
    const layout = path.join(scratch(), 'image');
    await pushImage(testImage(layout, { layers: 2, sizeMb: 0.5, seed: 34 }), registry, 'floor/plain:1');
    layers = layerDigests(layout);
  });
  afterAll(() => registry?.stop());

  const floorFor = (arg: string) => downloadFloorArgv(pullBench(arg, { 'tls-verify': 'false' }, undefined, { umoci: false, floor: true }), path.join(scratch(), 'floor'));

  it("a 503 is tried again, as layercopy's client tries it", async () => {
    const proxy = await startFaultProxy(registry.url, { status: { path: /\/blobs\//, code: 503, times: 1 } });
    try {
      const argv = (await floorFor(image())).map((a) => a.replace(`//${registry.host}/`, `//${proxy.host}/`));
      const r = await execa(argv[0], argv.slice(1), { reject: false });
      expect(r.exitCode, r.stderr).toBe(0); // curl tells the 503 it tried again
      expect(
        proxy
          .requests()
          .map((q) => q.status)
          .sort(),
      ).toEqual([200, 200, 503]);
    } finally {
      await proxy.stop();
    }
  });

  it("curl's own failure is told with its exit status, not as a digest that does not match", async () => {
    const argv = await floorFor(image());
    const i = argv.findIndex((a) => a.includes(layers[0]));
    argv[i] = argv[i].replace(registry.host, `127.0.0.1:${await freePort()}`);
    const r = await execa(argv[0], argv.slice(1), { reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stderr.split('\n').filter((line) => line.startsWith('download floor'))).toEqual([`download floor: ${argv[i]}: curl exited 7`]);
  });

  it('a mirror that lacks a blob: that blob is fetched from the registry, as a pull fetches it', async () => {
    const mirror = await startRegistry();
    try {
      const layout = path.join(scratch(), 'image');
      await pushImage(testImage(layout, { layers: 2, sizeMb: 0.5, seed: 34 }), mirror, 'floor/plain:1');
      const gone = await fetch(`${mirror.url}/v2/floor/plain/blobs/${layers[1]}`, { method: 'DELETE' });
      expect(gone.status).toBe(202);
      const env = isolated();
      const conf = ['[[registry]]', `location = "${registry.host}"`, 'insecure = true', '[[registry.mirror]]', `location = "${mirror.host}"`, 'insecure = true'];
      fs.writeFileSync(env.CONTAINERS_REGISTRIES_CONF, `${conf.join('\n')}\n`);
      const before = process.env.CONTAINERS_REGISTRIES_CONF;
      process.env.CONTAINERS_REGISTRIES_CONF = env.CONTAINERS_REGISTRIES_CONF;
      let argv: string[];
      try {
        argv = await floorFor(image());
      } finally {
        if (before === undefined) delete process.env.CONTAINERS_REGISTRIES_CONF;
        else process.env.CONTAINERS_REGISTRIES_CONF = before;
      }
      const urls = argv.filter((a) => a.startsWith('http://'));
      expect(urls).toEqual([
        `http://${mirror.host}/v2/floor/plain/blobs/${layers[0]}?ns=${encodeURIComponent(registry.host)}`,
        `http://${registry.host}/v2/floor/plain/blobs/${layers[1]}`,
      ]);
      const r = await execa(argv[0], argv.slice(1), { reject: false });
      expect([r.exitCode, r.stderr]).toEqual([0, '']);
    } finally {
      await mirror.stop();
    }
  });
});
