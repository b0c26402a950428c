// A store's pull from a registry (src/store/pull.ts): the blobs the store
// lacks are asked for as soon as the manifest is read, beside the config,
// and only those. A few lines of node:http stand in for the registry: the
// order of requests is the point.
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { images, pull } from '../../src/index.js';
import { scratch } from '../helpers.js';
import { rawTar, sha } from '../images/fixtures.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
let stop: (() => void) | undefined;
afterEach(() => stop?.());

/** An image of one layer per tar, its config answered only once a blob was asked for (or after 3 s); the paths asked, in order. */
async function registry(tars: Buffer[]) {
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: tars.map(sha) } });
  const configDigest = sha(Buffer.from(config));
  const layers = tars.map((t) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(t), size: t.length }));
  const manifests: Record<string, string> = {
    '1': JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers,
    }),
  };
  const seen: string[] = [];
  let blobAsked: () => void = () => undefined;
  const asked = new Promise<void>((resolve) => {
    blobAsked = resolve;
  });
  const server = http.createServer(async (req, res) => {
    const url = (req.url ?? '').replace('/v2/app/x/', '');
    if (url.startsWith('manifests/')) return res.writeHead(200, { 'content-type': OCI_MANIFEST }).end(manifests[url.slice('manifests/'.length)]);
    seen.push(url);
    const tar = tars.find((t) => url === `blobs/${sha(t)}`);
    if (tar) {
      blobAsked();
      return res.writeHead(200, { 'content-length': tar.length }).end(tar);
    }
    if (url === `blobs/${configDigest}`) {
      await Promise.race([asked, new Promise((resolve) => setTimeout(resolve, 3000))]);
      seen.push('config answered');
      return res.writeHead(200, { 'content-length': config.length }).end(config);
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stop = () => server.close();
  return { host: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, seen, configDigest, manifests };
}

it("a cold pull asks for the layers' blobs before the config has answered; a pull of an image sharing a layer asks only for the blob the store lacks", async () => {
  const base = rawTar([{ name: 'base', data: 'base\n', mode: 0o644 }]);
  const app = rawTar([{ name: 'app', data: 'app\n', mode: 0o644 }]);
  const r = await registry([base]);
  const store = path.join(scratch(), 'store');
  const options = { store, platform: 'linux/amd64', registry: { tlsVerify: false } };
  await pull(`docker://${r.host}/app/x:1`, options);
  expect(r.seen).toEqual([`blobs/${r.configDigest}`, `blobs/${sha(base)}`, 'config answered']);
  expect((await images({ store })).map((i) => i.reference)).toEqual([`docker://${r.host}/app/x:1`]);
  stop?.();

  const two = await registry([base, app]);
  await pull(`docker://${two.host}/app/x:1`, options);
  // base is in the store already: asked for neither ahead nor after.
  expect(two.seen).toEqual([`blobs/${two.configDigest}`, `blobs/${sha(app)}`, 'config answered']);
});
