import http from 'node:http';
import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/client.js';
import type { PullSource } from '../../src/registry/config.js';

// A registry's answers as a hostile one gives them, from a node:http server on loopback.
const servers: http.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function serve(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

const source = (host: string, mirror = false): PullSource => ({ host, repository: 'r', insecure: true, mirror, ...(mirror ? { ns: 'reg' } : {}) });

function client(sources: PullSource[], creds?: { username: string; password: string }) {
  return new RegistryClient(sources, {
    credentials: async (s) => (creds && !s.mirror ? creds : undefined),
    tls: () => ({ verify: false, allowHttp: true, files: [] }),
    retry: { attempts: 3, budgetMs: 5_000, baseMs: 10 },
    label: 'docker://x/r:t',
    fields: { layer: 'docker://x/r:t', layerIndex: 0 },
  });
}

/** A token server: a token for the credentials it is given, none without. */
async function tokenServer(): Promise<string> {
  return serve((req, res) => {
    const basic = req.headers.authorization === `Basic ${Buffer.from('user:secret').toString('base64')}`;
    res.end(JSON.stringify(basic ? { token: 'REGISTRY-TOKEN', expires_in: 300 } : { token: 'ANONYMOUS' }));
  });
}

describe('RegistryClient', () => {
  it("a token got with the registry's credentials is not sent to a mirror that asks with the registry's realm, service and scope", async () => {
    const realm = `http://${await tokenServer()}/token`;
    const challenge = `Bearer realm="${realm}",service="reg",scope="repository:r:pull"`;
    let tokenGiven: () => void = () => undefined;
    const given = new Promise<void>((resolve) => {
      tokenGiven = resolve;
    });
    const registry = await serve((req, res) => {
      if (req.headers.authorization !== 'Bearer REGISTRY-TOKEN') return res.writeHead(401, { 'www-authenticate': challenge }).end();
      tokenGiven();
      res.end('{}');
    });
    const mirrorSaw: (string | undefined)[] = [];
    const mirror = await serve(async (req, res) => {
      mirrorSaw.push(req.headers.authorization);
      // Blob a: not here, passed over to the registry, which gives its token. Blob b, asked at the same time: the
      // registry's challenge, once that token is held.
      if (req.url?.includes('blobs/a')) return res.writeHead(404).end();
      if (!req.headers.authorization) await given;
      if (!req.headers.authorization) return res.writeHead(401, { 'www-authenticate': challenge }).end();
      res.end('{}');
    });
    const c = client([source(mirror, true), source(registry)], { username: 'user', password: 'secret' });
    const answers = await Promise.allSettled([c.get('blobs/a', { what: 'blob a' }), c.get('blobs/b', { what: 'blob b' })]);
    for (const a of answers) if (a.status === 'fulfilled') await a.value.cancel();
    expect(mirrorSaw).not.toContain('Bearer REGISTRY-TOKEN');
  });

  it('a token server whose body has no end: refused at 4 MiB, memory bounded (it held 5.7 GB after 15 s)', async () => {
    const realm = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"token":"');
      const chunk = 'a'.repeat(1 << 16);
      const more = () => {
        while (res.write(chunk));
      };
      res.on('drain', more);
      more();
    });
    const registry = await serve((_req, res) => res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${realm}/token",service="reg"` }).end());
    const error = await client([source(registry)])
      .get('manifests/t', { what: 'the manifest' })
      .catch((e) => e);
    expect(error).toMatchObject({ code: 'ERR_AUTH' });
    expect(error.message).toContain('answered without a token (its body is larger than 4194304 bytes)');
  });

  it('a realm that is no http(s) URL is named, not retried as a network failure', async () => {
    let asked = 0;
    const registry = await serve((_req, res) => {
      asked++;
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="file:///etc/passwd"' }).end();
    });
    const error = await client([source(registry)])
      .get('manifests/t', { what: 'the manifest' })
      .catch((e) => e);
    expect(error).toMatchObject({ code: 'ERR_AUTH', message: expect.stringContaining(`the registry's token realm "file:///etc/passwd" is not an http or https URL`) });
    expect(asked).toBe(1);
  });

  it('"(after N tries)" counts the tries made: a token server answering 500 once says none', async () => {
    const realm = await serve((_req, res) => res.writeHead(500).end());
    const registry = await serve((_req, res) => res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${realm}/token"` }).end());
    const error = await client([source(registry)])
      .get('manifests/t', { what: 'the manifest' })
      .catch((e) => e);
    expect(error.message).toMatch(/a token from http:\/\/127\.0\.0\.1:\d+ from 127\.0\.0\.1:\d+\/r: HTTP 500 Internal Server Error$/);
    const busy = await serve((_req, res) => res.writeHead(503).end());
    const tried = await client([source(busy)])
      .get('manifests/t', { what: 'the manifest' })
      .catch((e) => e);
    expect(tried.message).toMatch(/HTTP 503 Service Unavailable \(after 3 tries\)$/);
  });
});
