import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseProxy, proxyFor, tunnelAgent } from '../../src/registry/tunnel.js';

const servers: net.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

describe('tunnelAgent', () => {
  it('a proxy that takes the connection and never answers CONNECT fails the request with ETIMEDOUT, naming the proxy', async () => {
    const held: net.Socket[] = [];
    const silent = net.createServer((socket) => held.push(socket));
    servers.push(silent);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    const agent = tunnelAgent(new URL(`http://127.0.0.1:${port}`), false, {}, 300);
    const error = await new Promise<NodeJS.ErrnoException>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: 9, path: '/v2/', agent }, () => resolve(new Error('answered') as NodeJS.ErrnoException));
      req.on('error', resolve);
    });
    for (const s of held) s.destroy();
    expect(error.code).toBe('ETIMEDOUT');
    expect(error.message).toMatch(new RegExp(`no answer from the proxy 127\\.0\\.0\\.1:${port} to CONNECT 127\\.0\\.0\\.1:9`));
  });

  it("a request's own timeout (a mirror's answer bound) holds for its tunnel too, below the agent's", async () => {
    const held: net.Socket[] = [];
    const silent = net.createServer((socket) => held.push(socket));
    servers.push(silent);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const agent = tunnelAgent(new URL(`http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`), false, {}, 300_000);
    const started = Date.now();
    const error = await new Promise<NodeJS.ErrnoException>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: 9, path: '/v2/', agent, timeout: 300 }, () => resolve(new Error('answered') as NodeJS.ErrnoException));
      req.on('error', resolve);
      // The request's own 'timeout' event, where the tunnel's bound did not end it first.
      req.on('timeout', () => req.destroy(Object.assign(new Error('request timeout'), { code: 'REQUEST_TIMEOUT' })));
    });
    for (const s of held) s.destroy();
    expect([error.code, error.message.startsWith('no answer from the proxy')]).toEqual(['ETIMEDOUT', true]);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('an IPv6 host is named in brackets in CONNECT ([::1]:PORT)', async () => {
    const asked: string[] = [];
    const proxy = http.createServer();
    proxy.on('connect', (req, socket) => {
      asked.push(req.url ?? '');
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
    });
    servers.push(proxy);
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const agent = tunnelAgent(new URL(`http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`), false, {}, 5000);
    const error = await new Promise<NodeJS.ErrnoException>((resolve) => {
      const req = http.get({ host: '::1', port: 9, path: '/v2/', agent }, () => resolve(new Error('answered') as NodeJS.ErrnoException));
      req.on('error', resolve);
    });
    expect(error.code).toBe('ERR_PROXY_REFUSED');
    expect(asked).toEqual(['[::1]:9']);
  });
});

describe('parseProxy', () => {
  it.each([
    ['http://p:3128', 'http://p:3128/'],
    ['https://p', 'https://p/'],
    // No scheme: http, as Go and curl read it.
    ['localhost:3128', 'http://localhost:3128/'],
    ['127.0.0.1:3128', 'http://127.0.0.1:3128/'],
    ['[::1]:3128', 'http://[::1]:3128/'],
    ['proxy.corp', 'http://proxy.corp/'],
    ['u:p%40w@proxy.corp:3128', 'http://u:p%40w@proxy.corp:3128/'],
  ])('%s is %s', (value, want) => {
    expect(parseProxy({ variable: 'HTTPS_PROXY', value }).url.href).toBe(want);
  });
  it.each([
    ['socks5://127.0.0.1:1080', /^HTTPS_PROXY=socks5:\/\/127\.0\.0\.1:1080: unsupported proxy scheme socks5: /],
    ['socks5h://u:secret@p:1080', /^HTTPS_PROXY=socks5h:\/\/\*\*\*@p:1080: unsupported proxy scheme socks5h: /],
    // A raw '/' or '@' in the password: nothing of it is shown.
    ['http://user:pa/ss@host:3128', /^HTTPS_PROXY=http:\/\/\*\*\*@host:3128 is not a proxy URL/],
    ['user:se/cr@t@h:3128', /^HTTPS_PROXY=\*\*\*@h:3128 is not a proxy URL/],
    [':3128', /^HTTPS_PROXY=:3128 is not a proxy URL/],
    ['http://p:99999', /^HTTPS_PROXY=http:\/\/p:99999 is not a proxy URL/],
  ])('%s is refused: ERR_PROXY_URL naming the variable', (value, message) => {
    let error: (Error & { code?: string }) | undefined;
    try {
      parseProxy({ variable: 'HTTPS_PROXY', value });
    } catch (e) {
      error = e as Error & { code?: string };
    }
    expect(error?.code).toBe('ERR_PROXY_URL');
    expect(error?.message).toMatch(message);
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
    // Loopback is never proxied, as in Go's httpproxy (NO_PROXY or not).
    ['127.0.0.1:5000', '', undefined],
    ['127.9.8.7', '', undefined],
    ['localhost:5000', '', undefined],
    ['[::1]:5000', '', undefined],
    ['[::ffff:127.0.0.1]:5000', '', undefined],
    ['localhost.corp:5000', '', 'http://p:3128'],
    ['128.0.0.1:5000', '', 'http://p:3128'],
    // CIDRs and IPs, against IP literals only.
    ['10.1.2.3:5000', '10.0.0.0/8', undefined],
    ['10.1.2.3:5000', '10.0.0.0/16', 'http://p:3128'],
    ['10.1.2.3:5000', 'corp, 192.168.0.0/16 10.1.0.0/16', undefined],
    ['[fd00::5]:5000', 'fd00::/8', undefined],
    ['[fd00::5]:5000', '10.0.0.0/8', 'http://p:3128'],
    ['10.1.2.3:5000', '10.1.2.3', undefined],
    ['10.1.2.3:5000', '10.1.2.3:5001', 'http://p:3128'],
    ['[fd00::5]:5000', '[fd00::5]:5000', undefined],
    ['[fd00::5]:5000', 'fd00::5', undefined],
    ['10.0.0.1:5000', '0.1', 'http://p:3128'],
    ['registry.corp:5000', '10.0.0.0/8', 'http://p:3128'],
    // A leading dot (or *.) is subdomains only; the port is the scheme's default where none is given.
    ['corp:5000', '.corp', 'http://p:3128'],
    ['corp:5000', 'corp', undefined],
    ['registry.corp', 'registry.corp:443', undefined],
    ['a.registry.corp', '*.registry.corp', undefined],
    ['registry.corp', '*.registry.corp', 'http://p:3128'],
    ['registry.corp', 'REGISTRY.Corp', undefined],
  ])('%s with NO_PROXY=%j: %s', (host, noProxy, want) => {
    expect(proxyFor(host, false, { ...env, NO_PROXY: noProxy })).toBe(want);
  });
  it('HTTP_PROXY only where plain HTTP may be tried', () => {
    expect(proxyFor('r:1', false, { HTTP_PROXY: 'http://h:1' })).toBeUndefined();
    expect(proxyFor('r:1', true, { HTTP_PROXY: 'http://h:1' })).toBe('http://h:1');
  });
  it('plain HTTP goes through HTTP_PROXY only, https through HTTPS_PROXY only (as Go and curl)', () => {
    expect(proxyFor('r:1', true, { HTTPS_PROXY: 'http://p:1' })).toBeUndefined();
    expect(proxyFor('r:1', false, { HTTPS_PROXY: 'http://p:1', HTTP_PROXY: 'http://h:1' })).toBe('http://p:1');
    expect(proxyFor('r', true, { HTTP_PROXY: 'http://h:1', NO_PROXY: 'r:80' })).toBeUndefined();
  });
});
