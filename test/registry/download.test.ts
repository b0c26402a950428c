// A blob that cannot be written where it goes (src/registry/download.ts):
// the filesystem's failure, told with its errno and the file, never
// retried as a network failure — through the native receiver and through
// node:http's stream alike. A file size limit stands in for a full disk:
// both cut a write short, then fail it.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { scratch } from '../helpers.js';
import { rawTar, sha } from '../images/fixtures.js';
import { cli } from './pull-helpers.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
let stop: (() => void) | undefined;
afterEach(() => stop?.());

/**
 * An image of one plain-tar layer of 256 files of 4 KiB (a 1.1 MB blob, no
 * file of it over 4 KiB); the blob's GETs counted (and their Range
 * headers). `reset`: the first GET's connection reset after 64 KiB.
 */
async function registry({ reset = false } = {}) {
  const layer = rawTar(Array.from({ length: 256 }, (_, i) => ({ name: `f${i}`, data: crypto.randomBytes(4096), mode: 0o644 })));
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(layer)] } });
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(Buffer.from(config)), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.length }],
  });
  const gets = { blob: 0, ranges: [] as (string | undefined)[] };
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '').replace('/v2/app/x/', '');
    if (url === 'manifests/1') return res.writeHead(200, { 'content-type': OCI_MANIFEST }).end(manifest);
    if (url === `blobs/${sha(Buffer.from(config))}`) return res.writeHead(200, { 'content-length': config.length }).end(config);
    if (url === `blobs/${sha(layer)}`) {
      gets.blob++;
      gets.ranges.push(req.headers.range);
      const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
      if (from > 0) {
        res.writeHead(206, { 'content-length': layer.length - from, 'content-range': `bytes ${from}-${layer.length - 1}/${layer.length}` });
        return res.end(layer.subarray(from));
      }
      res.writeHead(200, { 'content-length': layer.length });
      if (!reset || gets.blob > 1) return res.end(layer);
      res.write(layer.subarray(0, 65536));
      res.socket?.resetAndDestroy();
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stop = () => {
    server.closeAllConnections();
    server.close();
  };
  return { host: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, gets };
}

describe.each([
  ['the native receiver', {}],
  ["node:http's stream", { LAYERCOPY_RECEIVE: '0' }],
])('a spool file that cannot grow (%s)', (_, env) => {
  it('EFBIG naming the spool file, the blob asked for once, nothing left', async () => {
    const r = await registry();
    const dir = scratch();
    const root = path.join(dir, 'root');
    const run = await execa('prlimit', ['--fsize=262144', process.execPath, cli, 'provision', '--json', '--tls-verify=false', `docker://${r.host}/app/x:1`, root], {
      reject: false,
      env,
    });
    expect(run.exitCode).toBe(1);
    const error = JSON.parse(run.stdout).error;
    expect(error).toMatchObject({ code: 'EFBIG', layerIndex: 0 });
    expect(error.message).toMatch(/: blob sha256:[0-9a-f]{64}: cannot be written to \/.*\/0\.blob: File too large \(EFBIG\)$/);
    expect(r.gets.blob).toBe(1);
    expect((await execa('ls', ['-A', dir])).stdout).toBe('');
  });
});

describe.each([
  ['the native receiver', {}],
  ["node:http's stream", { LAYERCOPY_RECEIVE: '0' }],
])('a connection the registry resets mid-blob (%s)', (_, env) => {
  it('asked again from the bytes received: the provision succeeds (was "provision aborted" through the native receiver)', async () => {
    const r = await registry({ reset: true });
    const root = path.join(scratch(), 'root');
    const run = await execa(process.execPath, [cli, 'provision', '--json', '--tls-verify=false', `docker://${r.host}/app/x:1`, root], { reject: false, env });
    expect(run.exitCode, run.stdout).toBe(0);
    expect(r.gets.blob).toBe(2);
    // Asked again from what was on file (the bytes the reset let through, none or some).
    expect(r.gets.ranges[0]).toBeUndefined();
    expect(fs.readdirSync(root)).toHaveLength(256);
  });
});
