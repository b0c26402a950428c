// docker:// through an HTTP proxy named by HTTP_PROXY/HTTPS_PROXY (Node's
// own fetch ignores them), and past it for hosts in NO_PROXY.

import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { proxyFor } from '../../src/registry/tunnel.js';
import { hasRegistry, missingRegistryTools, pushImage, type Registry, startRegistry, testImage } from '../fixtures/registry.js';
import { scratch } from '../helpers.js';
import { isolated, pull } from './pull-helpers.js';

const why = hasRegistry ? '' : ` (skipped: ${missingRegistryTools.join(', ')} not on PATH)`;

/** A forward proxy on loopback: absolute-URI requests forwarded, CONNECT tunnelled; what it was asked, recorded. */
async function startProxy() {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const target = new URL(req.url ?? '');
    const up = http.request({ host: target.hostname, port: target.port, path: target.pathname + target.search, method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('connect', (req, socket, head) => {
    seen.push(`CONNECT ${req.url}`);
    const [host, port] = (req.url ?? '').split(':');
    const up = net.connect(Number(port), host, () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return { url: `http://127.0.0.1:${port}`, seen, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe.skipIf(!hasRegistry)(`proxies${why}`, () => {
  let registry: Registry;
  beforeAll(async () => {
    registry = await startRegistry();
    await pushImage(testImage(path.join(scratch(), 'img'), { layers: 1, sizeMb: 0.5, seed: 41 }), registry, 'app:1');
  });
  afterAll(() => registry?.stop());

  it('HTTP_PROXY and HTTPS_PROXY carry every request; NO_PROXY naming the registry goes around them', async () => {
    const proxy = await startProxy();
    try {
      const env = isolated({ HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url, NO_PROXY: '' });
      const r = await pull(['--tls-verify=false', `docker://${registry.host}/app:1`, path.join(scratch(), 'root')], env);
      expect(r.status, r.stderr).toBe(0);
      // Plain HTTP is tunnelled too (src/registry/tunnel.ts): the proxy sees CONNECT to the registry.
      expect(proxy.seen).toContain(`CONNECT ${registry.host}`);
      expect(r.stderr).toBe('');
      const before = proxy.seen.length;
      const direct = await pull(['--tls-verify=false', `docker://${registry.host}/app:1`, path.join(scratch(), 'root')], { ...env, NO_PROXY: '127.0.0.1' });
      expect(direct.status, direct.stderr).toBe(0);
      expect(proxy.seen.length).toBe(before);
    } finally {
      await proxy.stop();
    }
  });
});

describe('proxyFor', () => {
  const env = { HTTPS_PROXY: 'http://p:3128', HTTP_PROXY: 'http://h:3128' };
  it.each([
    ['registry.corp:5000', '', 'http://p:3128'],
    ['registry.corp:5000', '*', undefined],
    ['registry.corp:5000', 'corp', undefined],
    ['registry.corp:5000', '.corp', undefined],
    ['registry.corp:5000', 'registry.corp:5001', 'http://p:3128'],
    ['registry.corp:5000', 'registry.corp:5000', undefined],
    ['notcorp:5000', 'corp', 'http://p:3128'],
    ['[::1]:5000', '[::1]', undefined],
  ])('%s with NO_PROXY=%j: %s', (host, noProxy, want) => {
    expect(proxyFor(host, false, { ...env, NO_PROXY: noProxy })).toBe(want);
  });
  it('HTTP_PROXY only where plain HTTP may be tried', () => {
    expect(proxyFor('r:1', false, { HTTP_PROXY: 'http://h:1' })).toBeUndefined();
    expect(proxyFor('r:1', true, { HTTP_PROXY: 'http://h:1' })).toBe('http://h:1');
  });
});
