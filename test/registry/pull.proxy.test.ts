// docker:// through an HTTP proxy named by HTTP_PROXY/HTTPS_PROXY (Node's
// own fetch ignores them), and past it for hosts in NO_PROXY.

import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasRegistry, missingRegistryTools, pushImage, type Registry, startRegistry, testImage } from '../fixtures/registry.js';
import { testCerts } from '../fixtures/registry-certs.js';
import { scratch } from '../helpers.js';
import { isolated, pull } from './pull-helpers.js';

const why = hasRegistry ? '' : ` (skipped: ${missingRegistryTools.join(', ')} not on PATH)`;

// A loopback registry is never proxied (src/registry/tunnel.ts): the tests
// name it by a made-up host that only the test proxy resolves (to 127.0.0.1),
// as a real proxy resolves the names its clients send. A client that went
// direct would look the name up itself, and fail (.test is reserved).
const NAME = 'registry.layercopy.test';
const named = (r: Registry) => `${NAME}:${r.host.split(':')[1]}`;
/** Where the test proxy connects: the made-up name on 127.0.0.1, and nothing off loopback. */
const lookup = (host: string) => (host === NAME ? '127.0.0.1' : net.isIP(host) && /^(127\.|::1$)/.test(host) ? host : undefined);

/** A forward proxy on loopback: absolute-URI requests forwarded, CONNECT tunnelled; what it was asked, recorded (and the Proxy-Authorization of each CONNECT). */
async function startProxy(tlsFiles?: { cert: string; key: string }) {
  const seen: string[] = [];
  const auth: (string | undefined)[] = [];
  // Tunnels are closed on stop: server.close() does not wait for them then.
  const tunnels = new Set<net.Socket>();
  const handler: http.RequestListener = (req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const target = new URL(req.url ?? '');
    const host = lookup(target.hostname.replace(/^\[(.*)\]$/, '$1'));
    if (!host) {
      res.writeHead(502).end();
      return;
    }
    const up = http.request({ host, port: target.port, path: target.pathname + target.search, method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  };
  const server = tlsFiles ? https.createServer({ cert: fs.readFileSync(tlsFiles.cert), key: fs.readFileSync(tlsFiles.key) }, handler) : http.createServer(handler);
  server.on('connect', (req, socket, head) => {
    seen.push(`CONNECT ${req.url}`);
    auth.push(req.headers['proxy-authorization']);
    // host:port, or [v6]:port
    const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(req.url ?? '') ?? [];
    const host = lookup(m[1] ?? '');
    if (!host) {
      socket.end('HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const up = net.connect(Number(m[2]), host, () => {
      tunnels.add(up).add(socket as net.Socket);
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
  return {
    url: `${tlsFiles ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    seen,
    auth,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const t of tunnels) t.destroy();
        server.close(() => resolve());
      }),
  };
}

describe.skipIf(!hasRegistry)(`proxies${why}`, () => {
  let registry: Registry;
  let tls: Registry;
  beforeAll(async () => {
    const image = testImage(path.join(scratch(), 'img'), { layers: 1, sizeMb: 0.5, seed: 41 });
    registry = await startRegistry();
    tls = await startRegistry({ tls: true });
    await pushImage(image, registry, 'app:1');
    await pushImage(image, tls, 'app:1');
  });
  afterAll(async () => {
    await registry?.stop();
    await tls?.stop();
  });

  it('HTTP_PROXY and HTTPS_PROXY carry every request; NO_PROXY naming the registry goes around them', async () => {
    const proxy = await startProxy();
    try {
      const env = isolated({ HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url, NO_PROXY: '' });
      const r = await pull(['--tls-verify=false', `docker://${named(registry)}/app:1`, path.join(scratch(), 'root')], env);
      expect(r.status, r.stderr).toBe(0);
      // Plain HTTP is tunnelled too (src/registry/tunnel.ts): the proxy sees CONNECT to the registry.
      expect(proxy.seen).toContain(`CONNECT ${named(registry)}`);
      expect(r.stderr).toBe('');
      const before = proxy.seen.length;
      // Past the proxy, the client looks the made-up name up itself: not found, and the proxy asked nothing.
      const direct = await pull(['--tls-verify=false', `docker://${named(registry)}/app:1`, path.join(scratch(), 'root')], { ...env, NO_PROXY: 'layercopy.test' });
      expect(direct.status).toBe(1);
      expect(direct.json.error?.message).toMatch(/ENOTFOUND/);
      expect(proxy.seen.length).toBe(before);
    } finally {
      await proxy.stop();
    }
  });

  it("an https registry through HTTPS_PROXY: a CONNECT tunnel, TLS inside it checked against the registry's CA", async () => {
    const proxy = await startProxy();
    try {
      const env = isolated({ HTTPS_PROXY: proxy.url, NO_PROXY: '' });
      const r = await pull(['--cert-dir', tls.certDir!, `docker://${named(tls)}/app:1`, path.join(scratch(), 'root')], env);
      expect(r.status, r.stderr).toBe(0);
      expect(proxy.seen.filter((s) => !s.startsWith('CONNECT '))).toEqual([]);
      expect(proxy.seen).toContain(`CONNECT ${named(tls)}`);
      // Without the CA the same tunnel fails on the certificate: TLS is the registry's, end to end.
      const untrusted = await pull([`docker://${named(tls)}/app:1`, path.join(scratch(), 'root')], env);
      expect(untrusted.status).toBe(1);
      expect(untrusted.json.error?.message).toMatch(/--cert-dir/);
    } finally {
      await proxy.stop();
    }
  });

  it('keep-alive: the manifest, the config and the blob of a one-layer pull go over two connections (the config and the blob asked at once)', async () => {
    const proxy = await startProxy();
    try {
      const r = await pull(['--cert-dir', tls.certDir!, `docker://${named(tls)}/app:1`, path.join(scratch(), 'root')], isolated({ HTTPS_PROXY: proxy.url, NO_PROXY: '' }));
      expect(r.status, r.stderr).toBe(0);
      expect(proxy.seen).toEqual([`CONNECT ${named(tls)}`, `CONNECT ${named(tls)}`]);
    } finally {
      await proxy.stop();
    }
  });

  it('an https:// proxy is reached over TLS, its certificate checked against the CAs Node trusts (NODE_EXTRA_CA_CERTS)', async () => {
    const certs = testCerts();
    const proxy = await startProxy({ cert: certs.serverCert, key: certs.serverKey });
    try {
      const env = isolated({ HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url, NO_PROXY: '', NODE_EXTRA_CA_CERTS: certs.caCert });
      const r = await pull(['--tls-verify=false', `docker://${named(registry)}/app:1`, path.join(scratch(), 'root')], env);
      expect(r.status, r.stderr).toBe(0);
      // https is tried first, then plain HTTP (--tls-verify=false): a tunnel each, to the registry.
      expect(new Set(proxy.seen)).toEqual(new Set([`CONNECT ${named(registry)}`]));
      // The same through the layercopy command, which hands the file to the CLI to read as it connects (core/command-env.ts).
      const viaCommand = await pull(['--tls-verify=false', `docker://${named(registry)}/app:1`, path.join(scratch(), 'root')], env, { viaCommand: true });
      expect(viaCommand.status, viaCommand.stderr).toBe(0);
      const tunnels = proxy.seen.length;
      // The proxy's own certificate is checked: without its CA the CONNECT fails on TLS, and nothing reaches the registry.
      const untrusted = await pull(['--tls-verify=false', `docker://${named(registry)}/app:1`, path.join(scratch(), 'root')], { ...env, NODE_EXTRA_CA_CERTS: '' });
      expect(untrusted.status).toBe(1);
      expect(untrusted.json.error?.message).toMatch(
        new RegExp(`TLS to the proxy 127\\.0\\.0\\.1:${proxy.port} failed: UNABLE_TO_VERIFY_LEAF_SIGNATURE: .*NODE_EXTRA_CA_CERTS\\)$`),
      );
      expect(proxy.seen.length).toBe(tunnels);
    } finally {
      await proxy.stop();
    }
  });

  it('a loopback registry (127.0.0.1, [::1]) goes direct whatever HTTPS_PROXY and HTTP_PROXY say, as Go clients (skopeo) do', async () => {
    // A forwarder on [::1] to the registry (which listens on 127.0.0.1).
    const forward = net.createServer((c) => {
      const up = net.connect(Number(registry.host.split(':')[1]), '127.0.0.1');
      c.pipe(up).pipe(c);
      up.on('error', () => c.destroy());
      c.on('error', () => up.destroy());
    });
    await new Promise<void>((resolve) => forward.listen(0, '::1', resolve));
    const v6 = `[::1]:${(forward.address() as net.AddressInfo).port}`;
    const proxy = await startProxy();
    try {
      const env = isolated({ HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url, NO_PROXY: '' });
      for (const host of [registry.host, v6]) {
        const root = path.join(scratch(), 'root');
        const r = await pull(['--tls-verify=false', `docker://${host}/app:1`, root], env);
        expect(r.status, r.stderr).toBe(0);
        expect(fs.readdirSync(root).length).toBeGreaterThan(0);
      }
      expect(proxy.seen).toEqual([]);
    } finally {
      await proxy.stop();
      forward.close();
    }
  });

  it('a proxy given as HOST:PORT, no scheme, is http://HOST:PORT (as Go and curl read it)', async () => {
    const proxy = await startProxy();
    try {
      const env = isolated({ HTTPS_PROXY: `127.0.0.1:${proxy.port}`, NO_PROXY: '' });
      const r = await pull(['--cert-dir', tls.certDir!, `docker://${named(tls)}/app:1`, path.join(scratch(), 'root')], env);
      expect(r.status, r.stderr).toBe(0);
      expect(new Set(proxy.seen)).toEqual(new Set([`CONNECT ${named(tls)}`]));
    } finally {
      await proxy.stop();
    }
  });

  it('a socks5:// proxy is refused at once, naming the variable (never used as an HTTP proxy)', async () => {
    const proxy = await startProxy();
    try {
      const env = isolated({ HTTPS_PROXY: `socks5://127.0.0.1:${proxy.port}`, NO_PROXY: '' });
      const r = await pull(['--cert-dir', tls.certDir!, `docker://${named(tls)}/app:1`, path.join(scratch(), 'root')], env);
      expect(r.status).toBe(1);
      expect(r.json.error?.code).toBe('ERR_REGISTRY');
      expect(r.json.error?.message).toMatch(/HTTPS_PROXY=socks5:\/\/127\.0\.0\.1:\d+: unsupported proxy scheme socks5: .*http:\/\/ or https:\/\/.*$/);
      expect(r.json.error?.message).not.toMatch(/tries|cert-dir/);
      // Where plain HTTP may follow https (no HTTP_PROXY: direct), the refusal is what the pull fails with, not whatever plain HTTP meets.
      const plain = await pull(['--tls-verify=false', `docker://${named(registry)}/app:1`, path.join(scratch(), 'root')], env);
      expect(plain.json.error?.message).toMatch(/HTTPS_PROXY=socks5:\/\/127\.0\.0\.1:\d+: unsupported proxy scheme socks5: /);
      expect(proxy.seen).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });

  it("the proxy URL's user and password go as Basic Proxy-Authorization on every CONNECT", async () => {
    const proxy = await startProxy();
    try {
      const env = isolated({ HTTPS_PROXY: `http://us%40er:p%3Aw@127.0.0.1:${proxy.port}`, NO_PROXY: '' });
      const r = await pull(['--cert-dir', tls.certDir!, `docker://${named(tls)}/app:1`, path.join(scratch(), 'root')], env);
      expect(r.status, r.stderr).toBe(0);
      expect(proxy.auth.length).toBeGreaterThan(0);
      expect(new Set(proxy.auth)).toEqual(new Set([`Basic ${Buffer.from('us@er:p:w').toString('base64')}`]));
    } finally {
      await proxy.stop();
    }
  });
});

describe('a proxy that fails', () => {
  it.each([[[]], [['--tls-verify=false']]])('407 (%j): ERR_REGISTRY naming the proxy and its answer, at once (no retry, no plain-HTTP try around the proxy)', async (flags) => {
    let connects = 0;
    const server = http.createServer();
    server.on('connect', (_req, socket) => {
      connects++;
      socket.end('HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 0\r\n\r\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    try {
      const dir = scratch();
      const r = await pull([...flags, 'docker://registry.invalid:5000/app:1', path.join(dir, 'root')], isolated({ HTTPS_PROXY: `http://127.0.0.1:${port}`, NO_PROXY: '' }));
      expect(r.status).toBe(1);
      expect(r.json.error?.code).toBe('ERR_REGISTRY');
      expect(r.json.error?.message).toMatch(/the proxy 127\.0\.0\.1:\d+ answered CONNECT registry\.invalid:5000 with 407/);
      expect(connects).toBe(1);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('nothing listening: ERR_REGISTRY naming the proxy and its variable, retried as a network failure', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as net.AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const r = await pull(['docker://registry.invalid:5000/app:1', path.join(scratch(), 'root')], isolated({ HTTPS_PROXY: `http://127.0.0.1:${port}`, NO_PROXY: '' }));
    expect(r.status).toBe(1);
    expect(r.json.error?.code).toBe('ERR_REGISTRY');
    const proxy = `the proxy 127\\.0\\.0\\.1:${port} \\(HTTPS_PROXY\\)`;
    expect(r.json.error?.message).toMatch(
      new RegExp(`from registry\\.invalid:5000/app: CONNECT registry\\.invalid:5000 through ${proxy} failed: .*ECONNREFUSED.* \\(after 5 tries\\)$`),
    );
  });

  it('a proxy value that is no URL: ERR_REGISTRY naming the variable, at once, with no TLS hint', async () => {
    const r = await pull(['docker://registry.invalid:5000/app:1', path.join(scratch(), 'root')], isolated({ HTTPS_PROXY: ':3128', NO_PROXY: '' }));
    expect(r.status).toBe(1);
    expect(r.json.error?.code).toBe('ERR_REGISTRY');
    expect(r.json.error?.message).toMatch(/: HTTPS_PROXY=:3128 is not a proxy URL \(http:\/\/HOST:PORT, https:\/\/HOST:PORT or HOST:PORT\)$/);
  });
});
