import http from 'node:http';
import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Transport } from '../../src/registry/transport.js';

const servers: http.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function serve(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

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
});
