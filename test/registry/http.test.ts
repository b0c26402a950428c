import http from 'node:http';
import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { isTransient, plainHttpMayAnswer, tlsHint } from '../../src/registry/http.js';
import { Transport } from '../../src/registry/transport.js';

const servers: http.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

describe('what a failure calls for', () => {
  it('a redirect whose Location is no URL: final (no retry, no plain-HTTP try), no TLS advice', async () => {
    const server = http.createServer((_req, res) => {
      res.writeHead(302, { location: 'http://[::1' });
      res.end();
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/v2/`;
    const error = (await new Transport(() => ({ verify: false, allowHttp: true, files: [] })).request(url).catch((e) => e)) as NodeJS.ErrnoException;
    expect(error.code).toBe('ERR_INVALID_URL');
    expect([isTransient(error), plainHttpMayAnswer(error), tlsHint(error)]).toEqual([false, false, '']);
  });
});
