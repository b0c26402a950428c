import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { tunnelAgent } from '../../src/registry/tunnel.js';

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
});
