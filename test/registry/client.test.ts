import crypto from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/client.js';
import type { PullSource } from '../../src/registry/config.js';
import { downloadBlob } from '../../src/registry/download.js';
import { getWhole } from '../../src/registry/whole.js';
import { loopbackServers } from '../fixtures/http-servers.js';
import { scratch } from '../helpers.js';

// A registry's answers as a hostile one gives them, from node:http servers on loopback.
const serve = loopbackServers();

const source = (host: string, mirror = false): PullSource => ({ host, repository: 'r', insecure: true, mirror, ...(mirror ? { ns: 'reg' } : {}) });

function client(sources: PullSource[], creds?: { username: string; password: string }, mirrorTimeoutMs?: number) {
  return new RegistryClient(sources, {
    mirrorTimeoutMs,
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

  it.each(['cut', 'silent'] as const)('a mirror whose body is %s after its headers is passed over for the registry (a manifest, read whole)', async (mode) => {
    const data = Buffer.from(JSON.stringify({ schemaVersion: 2, padding: 'x'.repeat(5000) }));
    let registryAsked = 0;
    const registry = await serve((_req, res) => {
      registryAsked++;
      res.end(data);
    });
    const mirror = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': String(data.length) });
      res.write(data.subarray(0, 100));
      if (mode === 'cut') setTimeout(() => res.destroy(), 20);
    });
    const c = client([source(mirror, true), source(registry)], undefined, 300);
    const { data: got } = await getWhole(c, 'manifests/t', { what: 'the manifest' }, 1 << 20, () => new Error('too large') as never);
    // Before: a cut mirror asked 5 times then the pull failed; a silent one held it 300 s; the registry never asked.
    expect([got?.equals(data), registryAsked]).toEqual([true, 1]);
    expect(c.servedBy()).toMatchObject({ host: registry, mirror: false, passedOver: [{ host: mirror, why: expect.stringContaining('while sending a body') }] });
  });

  it('a blob a mirror cuts halfway: the rest from the registry, asked from where the mirror stopped', async () => {
    const blob = crypto.randomBytes(1 << 20);
    const ranges: (string | undefined)[] = [];
    const registry = await serve((req, res) => {
      ranges.push(req.headers.range);
      const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
      if (from > 0) res.writeHead(206, { 'content-range': `bytes ${from}-${blob.length - 1}/${blob.length}`, 'content-length': String(blob.length - from) });
      res.end(blob.subarray(from));
    });
    const mirror = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': String(blob.length) });
      res.write(blob.subarray(0, blob.length / 2), () => setTimeout(() => res.destroy(), 50));
    });
    const c = client([source(mirror, true), source(registry)], undefined, 300);
    const file = path.join(scratch(), 'spool');
    const out = await fs.promises.open(file, 'w+');
    try {
      const digest = `sha256:${crypto.createHash('sha256').update(blob).digest('hex')}`;
      const progress = new BigInt64Array(new SharedArrayBuffer(16));
      await downloadBlob(c, { file: '', digest, size: blob.length, label: 'L' }, out, progress, { label: 'L', fields: { layer: 'L', layerIndex: 0 } });
    } finally {
      await out.close();
    }
    expect(fs.readFileSync(file).equals(blob)).toBe(true);
    expect(ranges).toHaveLength(1);
    expect(Number(/^bytes=(\d+)-$/.exec(ranges[0] ?? '')?.[1])).toBeGreaterThan(0);
  });

  it('two downloads at once both cut by the first of two mirrors: the second mirror serves the rest, and only the first is passed over', async () => {
    const blobs = [crypto.randomBytes(1 << 20), crypto.randomBytes(1 << 20)];
    const digests = blobs.map((b) => `sha256:${crypto.createHash('sha256').update(b).digest('hex')}`);
    const pick = (url = '') => blobs[digests.findIndex((d) => url.includes(d))];
    const asked: Record<string, number> = { a: 0, b: 0, registry: 0 };
    const good = (name: string) => (req: http.IncomingMessage, res: http.ServerResponse) => {
      asked[name]++;
      const blob = pick(req.url);
      const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
      if (from > 0) res.writeHead(206, { 'content-range': `bytes ${from}-${blob.length - 1}/${blob.length}`, 'content-length': String(blob.length - from) });
      res.end(blob.subarray(from));
    };
    const registry = await serve(good('registry'));
    const mirrorB = await serve(good('b'));
    const cuts: (() => void)[] = [];
    const mirrorA = await serve((req, res) => {
      asked.a++;
      const blob = pick(req.url);
      res.writeHead(200, { 'content-length': String(blob.length) });
      res.write(blob.subarray(0, blob.length / 2));
      cuts.push(() => {
        res.destroy();
      });
      // Both answered before either is cut.
      if (cuts.length === 2)
        setTimeout(() => {
          for (const cut of cuts) cut();
        }, 100);
    });
    const c = client([source(mirrorA, true), source(mirrorB, true), source(registry)], undefined, 2000);
    const files = await Promise.all(
      blobs.map(async (blob, i) => {
        const file = path.join(scratch(), `spool${i}`);
        const out = await fs.promises.open(file, 'w+');
        try {
          const progress = new BigInt64Array(new SharedArrayBuffer(16));
          await downloadBlob(c, { file: '', digest: digests[i], size: blob.length, label: `L${i}` }, out, progress, { label: `L${i}`, fields: { layer: `L${i}`, layerIndex: i } });
        } finally {
          await out.close();
        }
        return file;
      }),
    );
    expect(files.map((file, i) => fs.readFileSync(file).equals(blobs[i]))).toEqual([true, true]);
    // Before: the second cut, told against the source answering then (B), passed B over too and went to the registry.
    expect(c.servedBy().passedOver.map((p) => p.host)).toEqual([mirrorA]);
    expect([asked.b, asked.registry]).toEqual([2, 0]);
  });
});
