import http from 'node:http';
import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { isTransient, networkHint, plainHttpMayAnswer } from '../../src/registry/http.js';
import { Transport } from '../../src/registry/transport.js';
import { scratch } from '../helpers.js';
import { pull } from './pull-helpers.js';

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
    expect([isTransient(error), plainHttpMayAnswer(error), networkHint(error)]).toEqual([false, false, '']);
  });
});

describe('a registry that is not running', () => {
  it('connection refused: ERR_REGISTRY, exit 1, naming the address where nothing listens and what to check', async () => {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise((resolve) => server.close(resolve));
    const dir = scratch();
    const r = await pull(['--tls-verify=false', `docker://127.0.0.1:${port}/app:1`, `${dir}/root`]);
    expect([r.status, r.json.error?.code]).toEqual([1, 'ERR_REGISTRY']);
    expect(r.json.error?.message).toBe(
      `docker://127.0.0.1:${port}/app:1: the manifest of tag '1' from 127.0.0.1:${port}/app: ECONNREFUSED (nothing listens at 127.0.0.1:${port}: is the registry running, at that host and port?) (after 5 tries)`,
    );
  });
});
