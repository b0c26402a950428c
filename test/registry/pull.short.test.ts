// A registry (or what stands in front of it) that serves a blob shorter
// than its manifest says: a 200 whose length says so fails at once as the
// wrong blob; a response that ends early without saying so is tried again
// as a cut connection is, a bounded number of times, never forever.
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasRegistry, missingRegistryTools, pushImage, type Registry, startRegistry, testImage } from '../fixtures/registry.js';
import { scratch } from '../helpers.js';
import { pull } from './pull-helpers.js';

const why = hasRegistry ? '' : ` (skipped: ${missingRegistryTools.join(', ')} not on PATH)`;
const BLOB = /\/blobs\/(sha256:[0-9a-f]{64})$/;

/** In front of the registry: the blob `digest` answered 200 with its first half only (Range ignored); `chunked`: no Content-Length. */
async function halfBlobs(registry: Registry, digest: string, chunked: boolean) {
  let blobGets = 0;
  const server = http.createServer((req, res) => {
    const m = BLOB.exec(req.url ?? '');
    http.get(`${registry.url}${req.url}`, { headers: { accept: req.headers.accept ?? '*/*' } }, (up) => {
      if (m?.[1] !== digest) {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
        return;
      }
      blobGets++;
      const parts: Buffer[] = [];
      up.on('data', (c: Buffer) => parts.push(c));
      up.on('end', () => {
        const half = Buffer.concat(parts).subarray(0, Math.floor(Buffer.concat(parts).length / 2));
        res.writeHead(200, chunked ? { 'content-type': 'application/octet-stream' } : { 'content-length': String(half.length) });
        res.end(half);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { host: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, blobGets: () => blobGets, stop: () => new Promise((r) => server.close(r)) };
}

describe.skipIf(!hasRegistry)(`a blob served short${why}`, () => {
  let registry: Registry;
  let layer: string;
  beforeAll(async () => {
    registry = await startRegistry();
    const image = testImage(path.join(scratch(), 'img'), { layers: 1, sizeMb: 0.5, seed: 31 });
    await pushImage(image, registry, 'app/short:1');
    const fs = await import('node:fs');
    const layout = image.split(':')[1];
    const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8'));
    const manifest = JSON.parse(fs.readFileSync(path.join(layout, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
    layer = manifest.layers[0].digest;
  });
  afterAll(() => registry?.stop());

  it('its Content-Length says so: ERR_DIGEST_MISMATCH at once, the blob asked for once', async () => {
    const front = await halfBlobs(registry, layer, false);
    try {
      const r = await pull(['--tls-verify=false', `docker://${front.host}/app/short:1`, path.join(scratch(), 'root')]);
      expect(r.status).toBe(1);
      expect(r.json.error?.code).toBe('ERR_DIGEST_MISMATCH');
      expect(r.json.error?.message).toMatch(new RegExp(`blob ${layer}: the registry serves \\d+ bytes, the manifest says \\d+$`));
      expect(front.blobGets()).toBe(1);
    } finally {
      await front.stop();
    }
  });

  it('without a length (chunked), ending early every time: ERR_REGISTRY after 5 tries without progress, not a loop', async () => {
    const front = await halfBlobs(registry, layer, true);
    try {
      const r = await pull(['--tls-verify=false', `docker://${front.host}/app/short:1`, path.join(scratch(), 'root')]);
      expect(r.status).toBe(1);
      expect(r.json.error?.code).toBe('ERR_REGISTRY');
      expect(r.json.error?.message).toMatch(/the connection failed at byte \d+ of \d+: the registry ended the response there$/);
      // The first try, then 5 without progress.
      expect(front.blobGets()).toBe(6);
    } finally {
      await front.stop();
    }
  });
});
