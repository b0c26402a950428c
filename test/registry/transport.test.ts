import type http from 'node:http';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { Transport } from '../../src/registry/transport.js';
import { loopbackServers } from '../fixtures/http-servers.js';

const listen = loopbackServers();
const serve = async (handler: http.RequestListener) => `http://${await listen(handler)}`;

const plain = () => ({ verify: false, allowHttp: true, files: [] });

describe('Transport', () => {
  it('a POST of a form (a token request) redirected to another origin is not followed: the other origin receives nothing', async () => {
    const received: string[] = [];
    const other = await serve((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        received.push(`${req.method} ${body}`);
        res.end('{}');
      });
    });
    const origin = await serve((_req, res) => {
      res.writeHead(307, { location: `${other}/token` });
      res.end();
    });
    const transport = new Transport(plain);
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'SECRET' });
    const error = await transport.request(`${origin}/token`, { method: 'POST', form }).catch((e: NodeJS.ErrnoException) => e);
    expect((error as NodeJS.ErrnoException).code).toBe('ERR_REDIRECT_REFUSED');
    expect((error as Error).message).toContain(`redirected a POST of credentials to another origin (${other})`);
    expect(received).toEqual([]);
  });

  it('after close(), a request (a retry after its backoff, a redirect followed, the next source) is refused as an abort: no connection is opened', async () => {
    let connections = 0;
    const counter = net.createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => counter.listen(0, '127.0.0.1', resolve));
    const transport = new Transport(plain);
    await transport.close();
    const later = await transport.request(`http://127.0.0.1:${(counter.address() as net.AddressInfo).port}/v2/x/blobs/sha256:0`).catch((e: { code?: string }) => e);
    expect(later).toMatchObject({ code: 'ABORT_ERR' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(connections).toBe(0);
    counter.close();
  });

  it('a redirect to another scheme (file:) is refused naming its Location, a permanent failure', async () => {
    const origin = await serve((_req, res) => {
      res.writeHead(302, { location: 'file:///etc/passwd' });
      res.end();
    });
    const error = (await new Transport(plain).request(`${origin}/v2/x/manifests/t`).catch((e) => e)) as NodeJS.ErrnoException;
    expect([error.code, error.message]).toEqual(['ERR_REDIRECT_REFUSED', `${origin} redirected to "file:///etc/passwd": only http and https are followed`]);
  });

  it('json(limit): a body past the limit fails ERR_BODY_TOO_LARGE, its connection closed, no more of it read', async () => {
    let written = 0;
    const origin = await serve((_req, res) => {
      const chunk = Buffer.alloc(1 << 16, 0x20);
      const more = () => {
        while (!res.destroyed && written < 64 << 20 && res.write(chunk)) written += chunk.length;
      };
      res.on('drain', more);
      more();
    });
    const response = await new Transport(plain).request(`${origin}/v2/x/tags/list`);
    await expect(response.json(1 << 20)).rejects.toMatchObject({ code: 'ERR_BODY_TOO_LARGE' });
    expect(written).toBeLessThan(32 << 20);
  });

  it('a GET redirected to another origin is followed, without the Authorization header', async () => {
    const seen: (string | undefined)[] = [];
    const other = await serve((req, res) => {
      seen.push(req.headers.authorization);
      res.end('blob');
    });
    const origin = await serve((_req, res) => {
      res.writeHead(307, { location: `${other}/blob` });
      res.end();
    });
    const response = await new Transport(plain).request(`${origin}/v2/x/blobs/sha256:0`, { headers: { authorization: 'Bearer T' } });
    expect([response.status, seen]).toEqual([200, [undefined]]);
    await response.cancel();
  });

  it('a request on a kept-alive connection that the server closes as it arrives is sent again on a new one', async () => {
    // Each connection answers one request and keeps alive; the first is then closed under the next request, as a server's idle timeout does.
    let connections = 0;
    const server = net.createServer((socket) => {
      const n = ++connections;
      let requests = 0;
      socket.on('data', () => {
        if (++requests === 2 && n === 1) return socket.destroy();
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\n{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/v2/`;
    const transport = new Transport(plain);
    try {
      const first = await transport.request(url);
      expect(await first.json(1024)).toEqual({});
      const second = await transport.request(url);
      expect([second.status, connections]).toEqual([200, 2]);
      await second.cancel();
    } finally {
      await transport.close();
      server.close();
    }
  });

  it('a 303 to a POST is followed with a GET, without the form', async () => {
    const seen: string[] = [];
    const url = await serve((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        seen.push(`${req.method} ${req.url} ${body}`);
        if (req.url === '/token') res.writeHead(303, { location: '/answer' });
        res.end('{}');
      });
    });
    const response = await new Transport(plain).request(`${url}/token`, { method: 'POST', form: new URLSearchParams({ grant_type: 'password' }) });
    expect([response.status, await response.json(1024), seen]).toEqual([200, {}, ['POST /token grant_type=password', 'GET /answer ']]);
  });

  it('a redirect loop ends after 20 redirects with ERR_TOO_MANY_REDIRECTS', async () => {
    let requests = 0;
    const url = await serve((_req, res) => {
      requests++;
      res.writeHead(302, { location: '/again' });
      res.end();
    });
    const error = (await new Transport(plain).request(`${url}/v2/`).catch((e) => e)) as NodeJS.ErrnoException;
    expect([error.code, error.message, requests]).toEqual(['ERR_TOO_MANY_REDIRECTS', `more than 20 redirects from ${url}/v2/`, 21]);
  });
});
