// A registry whose manifests and configs are JSON of the wrong shape (null, a
// string for a list): ERR_INVALID_IMAGE naming the reference and the part,
// as for an OCI layout, not a TypeError reported against the rootfs; the
// blobs asked for beside the config. A few lines of node:http stand in for
// the registry: only the JSON and the order of requests matter here.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { heldConfigRegistry } from '../fixtures/held-config.js';
import { scratch } from '../helpers.js';
import { rawTar, sha } from '../images/fixtures.js';
import { isolated, pull } from './pull-helpers.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
let stop: (() => void) | undefined;
afterEach(() => stop?.());

/** Serves `bodies` by path below /v2/app/x/ (each with its media type), 404 for anything else; its host:port. */
async function registry(bodies: Record<string, { type: string; body: string; headers?: Record<string, string> }>) {
  const server = http.createServer((req, res) => {
    if (req.url === '/v2/') return res.writeHead(200).end('{}');
    const hit = bodies[(req.url ?? '').replace('/v2/app/x/', '')];
    if (!hit) return res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
    res.writeHead(200, { 'content-type': hit.type, 'content-length': Buffer.byteLength(hit.body), ...hit.headers }).end(hit.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stop = () => server.close();
  return `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

const provision = (host: string) => pull(['--tls-verify=false', `docker://${host}/app/x:1`, path.join(scratch(), 'root')]);

it("a tag's manifest that is null: ERR_INVALID_IMAGE naming it", async () => {
  const r = await provision(await registry({ 'manifests/1': { type: OCI_MANIFEST, body: 'null' } }));
  expect(r.status).toBe(1);
  expect(r.json.error).toMatchObject({ code: 'ERR_INVALID_IMAGE', layerIndex: 0 });
  expect(r.json.error?.message).toMatch(/: the manifest of tag '1' is null, not a JSON object$/);
});

it('an index whose manifests are a string, a manifest whose layers hold null, a config whose diff_ids are a number', async () => {
  const index = { type: 'application/vnd.oci.image.index.v1+json', body: JSON.stringify({ schemaVersion: 2, manifests: 'x' }) };
  expect((await provision(await registry({ 'manifests/1': index }))).json.error?.message).toMatch(/: the manifest of tag '1': manifests is a string, not a list$/);
  stop?.();
  const config = JSON.stringify({ rootfs: { diff_ids: 5 } });
  const configDescriptor = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(Buffer.from(config)), size: config.length };
  const layers = (list: unknown[]) => ({ type: OCI_MANIFEST, body: JSON.stringify({ schemaVersion: 2, config: configDescriptor, layers: list }) });
  const blob = { type: 'application/octet-stream', body: config };
  let r = await provision(await registry({ 'manifests/1': layers([null]), [`blobs/${configDescriptor.digest}`]: blob }));
  expect(r.json.error).toMatchObject({ code: 'ERR_INVALID_IMAGE' });
  expect(r.json.error?.message).toMatch(/: the manifest of tag '1': layers\[0\] is null, not a JSON object$/);
  stop?.();
  r = await provision(await registry({ 'manifests/1': layers([]), [`blobs/${configDescriptor.digest}`]: blob }));
  expect(r.json.error).toMatchObject({ code: 'ERR_INVALID_IMAGE' });
  expect(r.json.error?.message).toMatch(new RegExp(`: config ${configDescriptor.digest}: rootfs: diff_ids is a number, not a list$`));
});

it("a tag's Docker-Content-Digest in sha512 is checked in sha512 (as containers/image checks it), a wrong one refused", async () => {
  const config = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(Buffer.from('{}')), size: 2 };
  const body = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [] });
  const sha512 = `sha512:${crypto.createHash('sha512').update(body).digest('hex')}`;
  const right = await provision(await registry({ 'manifests/1': { type: OCI_MANIFEST, body, headers: { 'docker-content-digest': sha512 } } }));
  // Past the manifest: the config is what this registry lacks (before: "does not match its digest: expected sha512:…").
  expect(right.json.error).toMatchObject({ code: 'ERR_IMAGE_NOT_FOUND', message: expect.stringContaining(`config ${config.digest}: blob not found`) });
  const wrong = await provision(await registry({ 'manifests/1': { type: OCI_MANIFEST, body, headers: { 'docker-content-digest': `sha512:${'0'.repeat(128)}` } } }));
  expect(wrong.json.error).toMatchObject({ code: 'ERR_DIGEST_MISMATCH', message: expect.stringContaining(`got ${sha512}`) });
});

it("a layer's blob is asked for before the config has answered (one round trip less), and the provision ends as one that waited", async () => {
  const layer = rawTar([{ name: 'hello', data: 'hi\n', mode: 0o644 }]);
  const r = await heldConfigRegistry([layer]);
  stop = r.stop;
  const root = path.join(scratch(), 'root');
  const pulled = await pull(['--tls-verify=false', '--platform', 'linux/amd64', `docker://${r.host}/app/x:1`, root]);
  expect(pulled.json.error).toBeUndefined();
  expect(pulled.status).toBe(0);
  expect(r.seen).toEqual([`blobs/${r.configDigest}`, `blobs/${sha(layer)}`, 'config answered']);
  expect(fs.readFileSync(path.join(root, 'hello'), 'utf8')).toBe('hi\n');
});

it('the image above a directory layer: its blob asked for before the config has answered too (one registry image among the LAYERs)', async () => {
  const layer = rawTar([{ name: 'hello', data: 'hi\n', mode: 0o644 }]);
  const r = await heldConfigRegistry([layer]);
  stop = r.stop;
  const dir = scratch();
  fs.mkdirSync(path.join(dir, 'base'));
  fs.writeFileSync(path.join(dir, 'base', 'below'), 'below\n');
  const root = path.join(dir, 'root');
  const pulled = await pull(['--tls-verify=false', '--platform', 'linux/amd64', path.join(dir, 'base'), `docker://${r.host}/app/x:1`, root]);
  expect(pulled.status, JSON.stringify(pulled.json.error)).toBe(0);
  expect(r.seen).toEqual([`blobs/${r.configDigest}`, `blobs/${sha(layer)}`, 'config answered']);
  expect(fs.readFileSync(path.join(root, 'below'), 'utf8')).toBe('below\n');
});

it("a mirror that serves the manifest and config but lacks the blob: the image is told as the mirror's, though the blob, asked beside the config, passed it over first", async () => {
  const layer = rawTar([{ name: 'hello', data: 'hi\n', mode: 0o644 }]);
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(layer)] } });
  const configDigest = sha(Buffer.from(config));
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.length }],
  });
  const servers: http.Server[] = [];
  const serve = async (hasBlob: boolean) => {
    const server = http.createServer((req, res) => {
      const url = (req.url ?? '').replace(/\?.*/, '').replace('/v2/app/x/', '');
      if (url === 'manifests/1') return res.writeHead(200, { 'content-type': OCI_MANIFEST }).end(manifest);
      // The config comes back after the blob's 404 has passed the mirror over.
      if (url === `blobs/${configDigest}`) return void setTimeout(() => res.writeHead(200, { 'content-length': config.length }).end(config), 200);
      if (url === `blobs/${sha(layer)}` && hasBlob) return res.writeHead(200, { 'content-length': layer.length }).end(layer);
      res.writeHead(404, { 'content-length': 0 }).end();
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  };
  stop = () => {
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
  };
  const registryHost = await serve(true);
  const mirrorHost = await serve(false);
  const env = isolated();
  fs.writeFileSync(
    env.CONTAINERS_REGISTRIES_CONF,
    `[[registry]]\nlocation = "${registryHost}"\ninsecure = true\n[[registry.mirror]]\nlocation = "${mirrorHost}"\ninsecure = true\n`,
  );
  const root = path.join(scratch(), 'root');
  const r = await pull(['--platform', 'linux/amd64', `docker://${registryHost}/app/x:1`, root], env);
  expect(r.status, r.stderr).toBe(0);
  expect((r.json.images as unknown[])[0]).toMatchObject({ from: mirrorHost, mirror: true });
  expect((r.json.images as { passedOver?: unknown }[])[0].passedOver).toBeUndefined();
  expect(fs.readFileSync(path.join(root, 'hello'), 'utf8')).toBe('hi\n');
});
